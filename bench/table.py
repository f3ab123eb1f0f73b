"""The one table `bench/run.py` prints: a row per figure, the engine's next to what it is
compared with, their ratio, the issue's target for it and whether this run met it, and the
history events each spends per task."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace

HEADER = (
    "#", "measure", "engine", "vs", "comparison", "ratio", "target",
    "events/task (engine | other)",
)  # fmt: skip


@dataclass(frozen=True)
class Target:
    """What a row should show (issue 25's targets), and whether this run showed it: None where
    the target is only to report the figure, or the figure is not there to check."""

    text: str
    met: bool | None = None

    def cell(self) -> str:
        if self.met is None:
            return self.text
        return f"{self.text}: {'met' if self.met else 'MISSED'}"


def at_most(limit: float, value: float | None, text: str) -> Target:
    """`value` <= `limit` (a ratio, or a figure in the row's unit), shown as `<= text`."""
    return Target(f"<= {text}", None if value is None else value <= limit)


def at_least(limit: float, value: float | None, text: str) -> Target:
    """`value` >= `limit`, shown as `>= text`."""
    return Target(f">= {text}", None if value is None else value >= limit)


@dataclass
class Row:
    """One figure of the engine against one comparison; `ratio` is engine / comparison."""

    shape: str
    measure: str
    engine: str
    versus: str = ""
    comparison: str = ""
    ratio: float | None = None
    events: str = ""
    target: Target | None = None

    def cells(self) -> tuple[str, ...]:
        ratio = "" if self.ratio is None else f"{self.ratio:.2f}x"
        target = "" if self.target is None else self.target.cell()
        return (
            self.shape,
            self.measure,
            self.engine,
            self.versus,
            self.comparison,
            ratio,
            target,
            self.events,
        )

    def aiming(self, target: Target) -> Row:
        """This row with `target`."""
        return replace(self, target=target)


def compared(
    shape: str,
    measure: str,
    engine: float,
    versus: str,
    other: float,
    show: Callable[[float], str],
    events: str = "",
) -> Row:
    """A row of two figures in the same unit, shown by `show`, and their ratio."""
    return Row(shape, measure, show(engine), versus, show(other), engine / other, events)


def seconds(value: float) -> str:
    return f"{value:.2f} s"


def milliseconds(value: float) -> str:
    return f"{value * 1000:.1f} ms"


def per_second(value: float) -> str:
    return f"{value:.1f}"


def megabytes(value: float) -> str:
    return f"{value:.0f} MB"


def per_task(engine: float, other: float | None = None, unit: str = "") -> str:
    """The events-per-task cell: the engine's, then the other's (with its unit), if any."""
    if other is None:
        return f"{engine:.1f}"
    return f"{engine:.1f} | {other:.1f}{unit}"


def render(rows: list[Row]) -> str:
    """The rows as a plain text table, columns padded to their widest cell."""
    lines = [HEADER, *(row.cells() for row in rows)]
    widths = [max(len(line[column]) for line in lines) for column in range(len(HEADER))]
    return "\n".join(
        "  ".join(cell.ljust(width) for cell, width in zip(line, widths, strict=True)).rstrip()
        for line in lines
    )
