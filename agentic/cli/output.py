"""How the CLI shows runs to people: tables of tasks, decisions, results.

Everything that comes from a run (ids, goals, errors, outputs) is printed as plain text, never
as rich markup: a `[` in an error message must not change how the line renders.
"""

from __future__ import annotations

import json
import re
import sys
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rich.console import Console, Group
from rich.table import Table
from rich.text import Text

if TYPE_CHECKING:
    from agentic.client import RunSummary
    from agentic.demo import DemoRun

from agentic.core.actions.base import ActionSpec, counted, preview
from agentic.core.blobs import holds_blobs
from agentic.core.diffs import RunDiff
from agentic.core.foreach import describe_items
from agentic.core.messages import (
    FINISHED_TASK_STATUSES,
    DecisionRecord,
    Phase,
    ReplanRecord,
    RunResult,
    RunState,
    RunStatus,
    TaskResult,
    TaskStatus,
)
from agentic.core.metrics import DecisionMetrics, LLMMetrics, ModelUsage, RunReport
from agentic.runtime import web_ui_link
from agentic.settings import Settings, SettingSource
from agentic.workflows.replans import describe_replan

STATUS_STYLES = {
    TaskStatus.COMPLETED: "green",
    TaskStatus.FAILED: "red",
    TaskStatus.SKIPPED: "yellow",
    TaskStatus.CANCELLED: "yellow",
    TaskStatus.WAITING_APPROVAL: "bold magenta",
    TaskStatus.WAITING_ANSWER: "bold magenta",
    TaskStatus.RUNNING: "cyan",
    TaskStatus.ANALYZING: "cyan",
}
RUN_STATUS_STYLES = {
    RunStatus.COMPLETED: "bold green",
    RunStatus.FAILED: "bold red",
    RunStatus.REJECTED: "bold red",
    RunStatus.CANCELLED: "bold yellow",
}
DETAIL_MAX_CHARS = 200

# Piped output (scripts, CI) gets a fixed width instead of whatever the environment reports.
console = Console(
    highlight=False, markup=False, soft_wrap=True, width=None if sys.stdout.isatty() else 160
)


ITEM_NAME = re.compile(r"^(?P<task>.+)\[\d+\]$")


def names_line(names: list[str], most_items: int = 3) -> str:
    """Task names on one line, a for-each's items past `most_items` counted instead
    (`fan, 997 items of fan, count`); 'nothing' for none."""
    items: dict[str, list[str]] = {}
    for name in names:
        match = ITEM_NAME.match(name)
        if match:
            items.setdefault(match["task"], []).append(name)
    shown: list[str] = []
    for name in names:
        match = ITEM_NAME.match(name)
        if match is None or len(items[match["task"]]) <= most_items:
            shown.append(name)
        elif items[match["task"]][0] == name:
            shown.append(f"{len(items[match['task']])} items of {match['task']}")
    return ", ".join(shown) or "nothing"


def print_json(model: Any) -> None:
    """A model as JSON on stdout, nothing else."""
    sys.stdout.write(model.model_dump_json(indent=2) + "\n")


def task_detail(task: TaskResult) -> str:
    """What matters most about a task now: what it waits for, its error, or its output."""
    if task.status == TaskStatus.WAITING_APPROVAL:
        return f"needs approval: {task.risk}"
    if task.status == TaskStatus.WAITING_ANSWER:
        return f"asks: {task.question}"
    if task.items and task.status == TaskStatus.RUNNING:
        return describe_items(task.items, sum(task.items.values()))
    if task.child_run_id and task.status == TaskStatus.RUNNING:
        return f"child run {task.child_run_id}"
    if task.reused_from:
        return f"reused from {task.reused_from}: {task.output_summary}"
    if task.error is not None and task.status != TaskStatus.COMPLETED:
        return task.error.message
    if task.reason:
        return task.reason
    if task.output_summary:
        return task.output_summary
    if task.output is not None:
        return preview(task.output)
    return f"approved by {task.approved_by}" if task.approved_by else ""


def _task_seconds(task: TaskResult, now: datetime | None) -> str:
    if task.duration_seconds is not None:
        return f"{task.duration_seconds:.2f}"
    if task.started_at is not None and now is not None:
        return f"{(now - task.started_at).total_seconds():.1f}"
    return ""


DETAIL_MIN_WIDTH = 12


def tasks_table(tasks: list[TaskResult], now: datetime | None = None) -> Table:
    """A table of tasks: status, attempts, duration (so far), and what matters most now."""
    table = Table(show_header=True, header_style="bold")
    # On a narrow terminal the detail gives way first (then the action): the id, the status,
    # the attempts and the time stay whole.
    widths = {
        "task": min(max((len(task.task_id) for task in tasks), default=4), 24),
        "action": min(max((len(task.action_type) for task in tasks), default=6), 16),
        "status": max((len(task.status.value) for task in tasks), default=6),
        "attempts": 8,
        "seconds": 7,
    }
    widths = {column: max(width, len(column)) for column, width in widths.items()}
    room = console.width - sum(widths.values()) - 3 * (len(widths) + 1) - 1
    if room < DETAIL_MIN_WIDTH:
        widths["action"] = max(6, widths["action"] - (DETAIL_MIN_WIDTH - room))
        room = DETAIL_MIN_WIDTH
    for column, width in widths.items():
        table.add_column(column, no_wrap=True, overflow="ellipsis", width=width)
    table.add_column("detail", overflow="ellipsis", no_wrap=True, max_width=min(room, 70))
    for task in tasks:
        table.add_row(
            Text(task.task_id),
            Text(task.action_type),
            Text(task.status.value, style=STATUS_STYLES.get(task.status, "")),
            str(task.attempts),
            _task_seconds(task, now),
            Text(task_detail(task)[:DETAIL_MAX_CHARS]),
        )
    return table


def decision_lines(
    decisions: list[DecisionRecord], not_kept: dict[str, int] | None = None
) -> list[str]:
    """One line per failure decision, and one per for-each with decisions not kept."""
    lines = []
    for record in decisions:
        applied = str(record.applied)
        if record.applied != record.decision.action:
            applied = f"{record.decision.action} -> {record.applied}"
        note = f" ({record.note})" if record.note else ""
        lines.append(
            f"  decision for {record.task_id}: {applied} [{record.source}] "
            f"{record.decision.reason}{note}"
        )
    for task_id, count in (not_kept or {}).items():
        lines.append(
            f"  ... and {counted(count, 'more decision')} on items of {task_id} (each item's "
            f"error: status ID --task {task_id})"
        )
    return lines


def replan_lines(replans: list[ReplanRecord]) -> list[str]:
    """One line per plan patch: who asked, what it changes, what became of it."""
    return [f"  {describe_replan(record)}" for record in replans]


def answer_lines(answer: Any, note: str) -> list[Text]:
    """The joiner's answer (JSON indented), or why there is none."""
    if answer is None:
        return [Text(f"answer: none ({note})", style="yellow")] if note else []
    text = answer if isinstance(answer, str) else json.dumps(answer, indent=2, default=str)
    return [Text("answer:", style="bold"), Text(text)]


def state_header(state: RunState) -> str:
    """`run ID: phase[, status][, paused]` and the approval mode."""
    parts = [state.phase.value]
    if state.status:
        parts.append(state.status.value)
    if state.paused:
        parts.append(f"paused by {state.paused_by}" if state.paused_by else "paused")
    if state.cancel_requested and not state.status:
        parts.append("cancelling")
    return f"run {state.workflow_id}: {', '.join(parts)} (approval: {state.approval})"


def render_state(
    state: RunState, now: datetime | None = None, command: str = "python cli.py"
) -> Group:
    """The whole live view of a run: header, goal, tasks, decisions, how to approve (with
    `command`, the CLI as it was called: its global options included)."""
    lines: list[Any] = [Text(state_header(state), style="bold"), Text(f"goal: {state.goal}")]
    if state.rerun_of:
        lines.append(Text(f"rerun of {state.rerun_of}"))
    if state.error:
        lines.append(Text(f"error: {state.error}", style="red"))
    lines.append(tasks_table(state.tasks, now))
    lines += [Text(line) for line in decision_lines(state.decisions, state.decisions_not_kept)]
    lines += [Text(line) for line in replan_lines(state.replans)]
    waiting = [t.task_id for t in state.tasks if t.status == TaskStatus.WAITING_APPROVAL]
    for task_id in [*waiting, *state.sub_plans_waiting]:
        lines.append(Text(f"approve: {command} approve {state.workflow_id} --task {task_id}"))
    patch_waits = any(record.status == "awaiting_approval" for record in state.replans)
    if state.phase == Phase.AWAITING_APPROVAL or patch_waits:
        what = " (the replan above)" if patch_waits else ""
        lines.append(Text(f"approve: {command} approve {state.workflow_id}{what}"))
    lines += [Text(line) for line in question_lines(state, command)]
    lines += answer_lines(state.answer, state.answer_note)
    return Group(*lines)


def question_lines(state: RunState, command: str = "python cli.py") -> list[str]:
    """Each question waiting for an answer, what answers it takes, and the command to answer."""
    lines = []
    for question in state.questions:
        takes = (
            "one of " + ", ".join(json.dumps(choice) for choice in question.choices)
            if question.choices
            else "JSON matching " + json.dumps(question.answer_schema)
        )
        lines.append(f"question: {question.task_id}: {question.question} ({takes})")
        lines.append(
            f"answer: {command} answer {state.workflow_id} {question.task_id} --value JSON"
        )
    return lines


def render_result(
    result: RunResult, settings: Settings, link: bool = True, command: str = "python cli.py"
) -> Group:
    """A finished run for people: outcome, error, tasks, decisions, totals, where the stored
    outputs are, link."""
    metrics, usage = result.metrics, result.usage
    header = Text(f"run {result.workflow_id}: ")
    header.append(result.status.value, style=RUN_STATUS_STYLES[result.status])
    lines: list[Any] = [header]
    if result.rerun_of:
        lines.append(Text(f"rerun of {result.rerun_of}"))
    if result.error:
        lines.append(Text(f"error: {result.error}"))
    lines.append(tasks_table(result.tasks))
    lines += [Text(line) for line in decision_lines(result.decisions, result.decisions_not_kept)]
    lines += [Text(line) for line in replan_lines(result.replans)]
    lines += answer_lines(result.answer, result.answer_note)
    lines.append(
        Text(
            f"tasks: {metrics.completed}/{metrics.total_tasks} completed, {metrics.failed} "
            f"failed, {metrics.skipped} skipped, {metrics.cancelled} cancelled; attempts: "
            f"{metrics.total_attempts}; duration: {result.duration_seconds or 0:.2f}s; "
            f"LLM tokens: {usage.total_tokens} in {usage.calls} calls"
            + (f" ({usd(usage.cost_usd)})" if usage.cost_usd else "")
        )
    )
    stored = [task.task_id for task in result.tasks if holds_blobs(task.output)]
    if stored:
        lines.append(
            Text(
                f"outputs in the blob store: {', '.join(stored)}; the whole of one: "
                f"{command} output {result.workflow_id} {stored[0]} [--out FILE]"
            )
        )
    if link:
        lines.append(Text(f"web ui: {web_ui_link(settings, result.workflow_id)}"))
    return Group(*lines)


def print_result(
    result: RunResult, settings: Settings, link: bool = True, command: str = "python cli.py"
) -> None:
    """A run's result for people (with its Web UI link unless `link` is False); `command`
    calls the CLI in the commands it suggests."""
    console.print(render_result(result, settings, link, command))


def print_runs(runs: list[RunSummary]) -> None:
    """A table of runs (from `list`)."""
    table = Table("run", "status", "tasks", "started", "closed", "goal")
    for run in runs:
        goal = run.goal if len(run.goal) <= 60 else run.goal[:57] + "..."
        table.add_row(
            Text(run.workflow_id),
            Text(run.status, style=_list_status_style(run.status)),
            "" if run.tasks is None else str(run.tasks),
            _timestamp(run.started),
            _timestamp(run.closed),
            Text(goal),
        )
    console.print(table)


def _timestamp(moment: datetime | None) -> str:
    return moment.strftime("%Y-%m-%d %H:%M:%S") if moment else ""


def _list_status_style(status: str) -> str:
    try:
        return RUN_STATUS_STYLES[RunStatus(status)]
    except ValueError:
        return ""


def print_endpoint_checks(rows: list[dict[str, Any]]) -> None:
    """What `llm check` found at each endpoint."""
    table = Table("endpoint", "model", "mode", "seconds", "tokens", "reply")
    for row in rows:
        if not row["answered"]:
            table.add_row(Text(row["endpoint"]), Text(row["model"]), "", "", "",
                          Text(f"no answer: {row['error']}", style="red"))  # fmt: skip
            continue
        tokens = f"{row['prompt_tokens']} + {row['completion_tokens']}"
        style = "green" if row["plan"].startswith("valid") else "yellow"
        table.add_row(Text(row["endpoint"]), Text(row["model"]), row["mode"],
                      f"{row['seconds']:.2f}", tokens, Text(row["plan"], style=style))  # fmt: skip
    console.print(table)


def print_actions(specs: list[ActionSpec]) -> None:
    """The action types a plan may use, with how they run and what they do."""
    table = Table("action_type", "runs as", "config fields", "description")
    for spec in specs:
        fields = ", ".join(spec.config_schema().get("properties", {}))
        table.add_row(Text(spec.action_type, style="bold"), spec.execution.value, Text(fields),
                      Text(spec.description))  # fmt: skip
    console.print(table)


def show_demo_run(demo_run: DemoRun, keep: bool) -> None:
    """What the demo did, and what to try next."""
    settings = demo_run.settings
    link_stays_up = keep or not demo_run.started_temporal
    print_result(demo_run.result, settings, link=link_stays_up)
    report = settings.workspace_dir / "demo" / "report.md"
    if report.exists():
        console.print(f"\n{report}:\n{report.read_text()}")
    console.print(f"Rows are in table demo_users of {demo_run.database_url}.")
    program = cli_program()
    if keep:
        target = f"--address {settings.temporal_address} --task-queue {settings.task_queue}"
        console.print(DEMO_KEPT.format(program=program, target=target))
        return
    if not link_stays_up:
        console.print(
            f"The demo's Temporal server and Web UI stop with it: '{program} demo --keep' "
            "keeps them up, to look at the run in the Web UI."
        )
    console.print(demo_next_steps(program))


DEMO_KEPT = """Temporal, the worker and the Web UI stay up until Ctrl-C. Meanwhile, elsewhere:
  {program} {target} list
  {program} {target} example job_execution --watch
  {program} {target} example --list"""


def demo_next_steps(program: str) -> str:
    """What to try after the demo, in the words of the command that ran it."""
    worker = "agentic worker" if program == "agentic" else "python worker.py"
    steps = [
        (f"{program} server", "Temporal dev server + Web UI (http://localhost:8233)"),
        (worker, "a worker (another terminal)"),
        (f"{program} example --list", "the other examples"),
        ("export OPENAI_API_KEY=...", "or OPENAI_BASE_URL for vLLM, llama.cpp, Ollama"),
    ]
    lines = [f"  {command:<36} # {comment}" for command, comment in steps]
    lines.append(f'  {program} start --goal "fetch ..., keep ..., write a report" --wait')
    return "\n".join(["Next:", *lines])


def cli_program() -> str:
    """`agentic` when the installed command runs, else `python cli.py` (a checkout)."""
    return "agentic" if Path(sys.argv[0]).name == "agentic" else "python cli.py"


# ----- metrics --------------------------------------------------------------------------------


def render_metrics(report: RunReport) -> Group:
    """A run's metrics for people: tasks by status, success rate, durations, retries,
    decisions, a table of tasks, LLM calls and tokens, and the estimated cost."""
    lines: list[Any] = [Text(metrics_header(report), style="bold")]
    lines += [Text(line) for line in metrics_summary_lines(report)]
    if report.tasks:
        lines.append(task_metrics_table(report))
    lines += [Text(line) for line in llm_metrics_lines(report.llm)]
    if report.llm.by_model:
        lines.append(model_usage_table(report.llm.by_model))
    return Group(*lines)


def metrics_header(report: RunReport) -> str:
    """`run ID: phase[, status]`, with the run's duration or the moment it was measured at."""
    parts = [report.phase.value] + ([report.status.value] if report.status else [])
    header = f"run {report.workflow_id}: {', '.join(parts)}"
    if report.duration_seconds is not None:
        return f"{header} in {report.duration_seconds:.2f}s"
    return f"{header} (as of {_timestamp(report.as_of)})" if report.as_of else header


def metrics_summary_lines(report: RunReport) -> list[str]:
    """Tasks by status, success rate, duration percentiles, retries, failure decisions."""
    counts = [f"{status} {count}" for status, count in report.tasks_by_status.items() if count]
    finished = sum(report.tasks_by_status.get(status.value, 0) for status in FINISHED_TASK_STATUSES)
    completed = report.tasks_by_status.get(TaskStatus.COMPLETED.value, 0)
    durations = report.task_durations
    decisions = report.decisions
    lines = [f"tasks: {report.total_tasks}" + (f" ({', '.join(counts)})" if counts else "")]
    if report.success_rate is None:
        lines.append("success rate: - (no task has finished)")
    else:
        lines.append(f"success rate: {report.success_rate:.1%} ({completed} of {finished} "
                     "finished tasks completed)")  # fmt: skip
    if durations.count:
        lines.append(
            f"task duration: p50 {durations.p50_seconds:.2f}s, p95 {durations.p95_seconds:.2f}s, "
            f"mean {durations.mean_seconds:.2f}s, max {durations.max_seconds:.2f}s "
            f"({durations.count} finished tasks, nearest rank)"
        )
    lines.append(f"attempts: {report.total_attempts}, retries: {report.total_retries}")
    lines.append(f"failure decisions: {decisions.count}" + _decision_breakdown(decisions))
    if report.replans:
        applied = sum(record.status == "applied" for record in report.replans)
        lines.append(f"replans: {len(report.replans)} ({applied} applied)")
        lines += replan_lines(report.replans)
    if report.answered is not None:
        lines.append("answer: " + ("given" if report.answered else "none"))
    return lines


def _decision_breakdown(decisions: DecisionMetrics) -> str:
    if not decisions.count:
        return ""
    actions = ", ".join(f"{name} {count}" for name, count in decisions.by_action.items() if count)
    sources = ", ".join(f"{name} {count}" for name, count in decisions.by_source.items() if count)
    return f" ({actions}; by {sources})"


def task_metrics_table(report: RunReport) -> Table:
    """Each task's status, attempts, retries and duration (so far, when running)."""
    table = Table(show_header=True, header_style="bold")
    costs = any(task.llm_cost_usd for task in report.tasks)  # the analyst's calls, by task
    columns = ("task", "action", "status", "attempts", "retries", "seconds", "items")
    for column in (*columns, "LLM cost") if costs else columns:
        table.add_column(column, no_wrap=True)
    for task in report.tasks:
        seconds = "" if task.duration_seconds is None else f"{task.duration_seconds:.2f}"
        row: list[Text | str] = [
            Text(task.task_id),
            Text(task.action_type),
            Text(task.status.value, style=STATUS_STYLES.get(task.status, "")),
            str(task.attempts),
            str(task.retries),
            f"{seconds} (running)" if task.running else seconds,
            describe_items(task.items, sum(task.items.values())) if task.items else "",
        ]
        if costs:
            row.append(usd(task.llm_cost_usd) if task.llm_cost_usd else "")
        table.add_row(*row)
    return table


def llm_metrics_lines(llm: LLMMetrics) -> list[str]:
    """LLM calls by purpose, tokens, and the estimated cost (or what to set to get one)."""
    purposes = ", ".join(f"{purpose} {count}" for purpose, count in llm.by_purpose.items())
    lines = [f"LLM calls: {llm.calls}" + (f" ({purposes})" if purposes else "")]
    if llm.calls or llm.total_tokens:
        lines.append(f"LLM tokens: {llm.prompt_tokens} prompt + {llm.completion_tokens} "
                     f"completion = {llm.total_tokens}")  # fmt: skip
        if llm.estimated_cost_usd is not None:
            lines.append(f"estimated cost: {usd(llm.estimated_cost_usd)}")
        else:
            lines.append(f"estimated cost: unknown ({llm.cost_note})")
    return lines


def model_usage_table(models: list[ModelUsage]) -> Table:
    """Calls, tokens and cost per model."""
    table = Table("model", "calls", "prompt tokens", "completion tokens", "cost")
    for entry in models:
        cost = "" if entry.cost_usd is None else usd(entry.cost_usd)
        table.add_row(Text(entry.model), str(entry.calls), str(entry.prompt_tokens),
                      str(entry.completion_tokens), cost)  # fmt: skip
    return table


def usd(amount: float) -> str:
    """An amount of US dollars: cents, or six decimals when it is less than a cent."""
    return f"${amount:,.2f}" if amount >= 0.01 or amount == 0 else f"${amount:.6f}"


def print_settings(sources: list[SettingSource]) -> None:
    """A table of the settings in effect (from `config`)."""
    table = Table("variable", "value", "from")
    for source in sources:
        style = "dim" if source.source == "default" else ""
        table.add_row(Text(source.variable), Text(source.value), Text(source.source, style=style))
    console.print(table)


def print_diff(compared: RunDiff) -> None:
    """Two runs compared, for people: a line for the runs, then the tasks that differ."""
    a, b = compared.duration_seconds
    took = f"; {_seconds(a)} -> {_seconds(b)}" if a is not None or b is not None else ""
    console.print(Text(f"diff {compared.run_a} -> {compared.run_b}: {compared.status[0]} -> "
                       f"{compared.status[1]}{took}", style="bold"))  # fmt: skip
    if compared.added:
        console.print(f"added: {', '.join(compared.added)}")
    if compared.removed:
        console.print(f"removed: {', '.join(compared.removed)}")
    table = Table("task", "status", "config", "output", "seconds", header_style="bold")
    for task in compared.tasks:
        status = f"{task.status[0]} -> {task.status[1]}" if task.status else "same"
        seconds = f"{_seconds(task.seconds[0])} -> {_seconds(task.seconds[1])}"
        table.add_row(Text(task.task_id), status, "changed" if task.config else "same",
                      "changed" if task.output else "same", seconds)  # fmt: skip
    console.print(table)
    for task in compared.tasks:
        for line in task.config:
            console.print(Text(f"  {task.task_id} config: {line}"))
        for line in task.output:
            console.print(Text(f"  {task.task_id} output: {line}"))
    if not (compared.added or compared.removed or any(t.changed for t in compared.tasks)):
        console.print("the same tasks, configs, statuses and outputs")


def _seconds(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}s"
