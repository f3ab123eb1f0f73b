"""The plan: tasks, their typed action configs, and every check made before anything runs.

Pure data and pure functions, shared by the workflow, the activities and the CLI.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from functools import cached_property
from typing import Any

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SerializeAsAny,
    ValidationError,
    model_validator,
)

from agentic.core import params
from agentic.core.actions.base import ActionConfig
from agentic.core.actions.transform import JMESPathExpression
from agentic.core.conditions import condition_tasks
from agentic.core.foreach import bad_item_references, item_references, source_reference
from agentic.core.loops import Repeat, bad_loop_references, loop_references
from agentic.core.references import INPUT_REFERENCE, referenced_tasks
from agentic.core.registry import ACTIONS, DECODING_STORED, not_here_spec

TASK_ID_PATTERN = r"^[A-Za-z0-9_-]{1,64}$"
TASK_PROBLEM = re.compile(r"task '([A-Za-z0-9_-]*)': (.*)", re.DOTALL)


def format_validation_error(error: ValidationError, prefix: str = "") -> str:
    """One readable line per problem: `where: what`; a problem several tasks share (a tool
    whose server is down) is said once for them all: `tasks 'a', 'b': what`."""
    lines: list[tuple[str, tuple[str, str] | None, str]] = []  # line, shared by, task id
    for problem in error.errors():
        where = ".".join(str(part) for part in problem["loc"])
        message = problem["msg"].removeprefix("Value error, ")
        of_task = TASK_PROBLEM.fullmatch(message)
        parent, _, index = where.rpartition(".")
        if where:
            line = f"{prefix}{where}: {message}"
        else:
            line = f"{prefix.rstrip('.')}: {message}" if prefix else message
        if of_task is not None and index.isdigit():  # tasks.3, plan.tasks.3, ...
            lines.append((line, (f"{prefix}{parent}", of_task[2]), of_task[1]))
        else:
            lines.append((line, None, ""))
    return "; ".join(_shared_said_once(lines))


def _shared_said_once(lines: list[tuple[str, tuple[str, str] | None, str]]) -> list[str]:
    tasks_of: dict[tuple[str, str], list[str]] = {}
    for _, shared, task_id in lines:
        if shared is not None:
            tasks_of.setdefault(shared, []).append(repr(task_id))
    said: dict[str, None] = {}
    for line, shared, _ in lines:
        if shared is None or len(tasks_of[shared]) == 1:
            said[line] = None
        else:
            said[f"{shared[0]} {', '.join(tasks_of[shared])}: {shared[1]}"] = None
    return list(said)


def unknown_action(action_type: Any) -> str:
    """Why `action_type` is unknown: for a tool of an MCP server (`mcp.<server>.<tool>`) or an
    operation of an OpenAPI service (`<service>.<operation>`), whether the server or service is
    configured at all; else the action types there are."""
    if isinstance(action_type, str) and "." in action_type:
        head, _, rest = action_type.partition(".")
        is_mcp = head == "mcp"
        source = rest.partition(".")[0] if is_mcp else head
        prefix = f"mcp.{source}." if is_mcp else f"{source}."
        offered = [name for name in ACTIONS.found() if name.startswith(prefix)]
        kind = "MCP server" if is_mcp else "OpenAPI service"
        setting = "MCP_SERVERS" if is_mcp else "OPENAPI_SERVICES"
        if offered:
            return (
                f"unknown action_type {action_type!r}: {kind} {source!r} offers "
                f"{', '.join(offered)}"
            )
        unreachable = ACTIONS.unavailable_reason(prefix)
        if unreachable is not None:
            return (
                f"unknown action_type {action_type!r}: {kind} {source!r} could not be reached "
                f"to list its tools ({unreachable}); check its entry in {setting}"
            )
        return (
            f"unknown action_type {action_type!r}: no {kind} {source!r} is configured here "
            f"(set it in {setting}, the same for the worker and the CLI)"
        )
    known = ", ".join(name for name in ACTIONS.found() if "." not in name)
    return f"unknown action_type {action_type!r}; use one of {known}"


def validate_action_config(action_type: str, config: Any, task_id: str = "?") -> ActionConfig:
    """The config as its action's typed model, or a ValueError naming the task and the fields."""
    stored = DECODING_STORED.get()
    spec = ACTIONS.get(action_type, load=not stored) if isinstance(action_type, str) else None
    if spec is None and stored and isinstance(action_type, str) and "." in action_type:
        spec = not_here_spec(action_type)  # a stored plan's tool, not known here
    if spec is None:
        raise ValueError(f"task {task_id!r}: {unknown_action(action_type)}")
    if isinstance(config, spec.config_model):
        return config
    if isinstance(config, BaseModel):
        config = config.model_dump(by_alias=True)
    try:
        return spec.config_model.model_validate(config or {})
    except ValidationError as error:
        details = format_validation_error(error, prefix="action_config.")
        raise ValueError(f"task {task_id!r} ({action_type}): {details}") from None


def _unset(value: Any) -> bool:
    # The constructs' fields stay out of the JSON when unused, so plans in histories keep
    # their size.
    return value is None or value == 0


class Task(BaseModel):
    """One step of a plan: an action with its config, run once its dependencies completed."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str = Field(pattern=TASK_ID_PATTERN)
    name: str = ""
    description: str = ""
    action_type: str
    action_config: SerializeAsAny[ActionConfig]
    depends_on: list[str] = Field(default_factory=list)
    critical: bool = True
    requires_approval: bool = False
    for_each: str | list[Any] | None = Field(
        None,
        exclude_if=_unset,
        description="a for-each: a reference that yields a list at run time "
        "({{ tasks.users.output.body }}) or a literal list; the action runs once per item, "
        "with {{ item }}, {{ item.<path> }} and {{ index }} in its config; the output is the "
        "list of the items' outputs, in order",
    )
    max_failures: float = Field(
        0,
        exclude_if=_unset,
        ge=0,
        description="for a for-each: how many items may fail (a count, or a fraction of the "
        "items between 0 and 1) with the task still completing, null for those items",
    )
    repeat: Repeat | None = Field(
        None,
        exclude_if=_unset,
        description="a loop: run the action again, round after round, until `until` holds "
        "(at most `max` rounds); the config may use {{ loop.index }} and "
        "{{ loop.previous.output... }}; the output is the list of every round's output",
    )
    when: JMESPathExpression | None = Field(
        None,
        exclude_if=_unset,
        description="a condition: JMESPath over the upstream tasks' outputs "
        "(`tasks.check.output.body.changed`); when false (false, null, empty), the task is "
        "skipped with reason 'condition false', which is no error: tasks downstream of it "
        "still run, and references to its output are null",
    )
    local: bool = Field(
        True,
        exclude_if=lambda value: value is True,
        description="false: run the action as a regular activity even when it only reads "
        "(a read runs as a local activity otherwise, in the workflow's worker)",
    )

    @model_validator(mode="before")
    @classmethod
    def _typed_config(cls, data: Any) -> Any:
        if not isinstance(data, dict) or "action_type" not in data:
            return data
        task_id = str(data.get("id", "?"))
        config = validate_action_config(data["action_type"], data.get("action_config"), task_id)
        return {**data, "action_config": config, "name": data.get("name") or task_id}

    def with_config(self, config: Any) -> Task:
        """This task with another config, validated for the same action type."""
        typed = validate_action_config(self.action_type, config, self.id)
        return self.model_copy(update={"action_config": typed})

    @property
    def label(self) -> str:
        """`id: name`, for activity summaries and logs."""
        return self.id if self.name == self.id else f"{self.id}: {self.name}"


class Plan(BaseModel):
    """A goal and its tasks, forming a directed acyclic graph through `depends_on`."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    goal: str = ""
    params: dict[str, Any] | None = Field(
        None,
        exclude_if=lambda value: value is None,
        description="a template's parameters: a JSON Schema object (names, types, defaults, "
        "descriptions), used as {{ params.NAME }} in the tasks; given when a run starts",
    )
    tasks: list[Task] = Field(min_length=1)

    @model_validator(mode="after")
    def _check_graph(self) -> Plan:
        problems = graph_problems(self.tasks) or self._param_problems()
        if problems:
            raise ValueError("; ".join(problems))
        return self

    def _param_problems(self) -> list[str]:
        if self.params is not None and (problem := params.schema_problem(self.params)):
            return [problem]
        declared = params.declared_names(self.params)
        problems = []
        for task in self.tasks:
            used = params.referenced_params([task.action_config.open_part(), task.for_each])
            for name in sorted(used - declared):
                problems.append(
                    f"task {task.id!r} uses {{{{ params.{name} }}}}, which the plan does not "
                    f'declare: add it to "params"'
                )
        return problems

    def with_params(self, given: Mapping[str, Any] | None = None) -> Plan:
        """The plan with its params' values in place of `{{ params.NAME }}` (the given ones,
        else their defaults), checked against its params schema, and no params left; ValueError
        says which param is wrong and why. A plan without params takes none."""
        if self.params is None:
            if given:
                raise ValueError(f"unknown param {sorted(given)[0]!r}: the plan takes none")
            return self
        values = params.checked_values(self.params, given or {})
        tasks = filled_tasks(self.tasks, lambda value: params.filled(value, values))
        # The plan that runs holds the values, not the params (binding it again is a no-op).
        return Plan.model_validate({"goal": params.filled(self.goal, values), "tasks": tasks})

    @cached_property
    def by_id(self) -> dict[str, Task]:
        """Tasks by id."""
        return {task.id: task for task in self.tasks}

    def ancestors(self, task_id: str) -> set[str]:
        """Every task that `task_id` depends on, directly or not."""
        return _ancestors(self.by_id, task_id)

    def replace_task(self, task: Task) -> Plan:
        """A new plan with `task` in place of the task of the same id, validated again; a
        ValueError says what is wrong with it."""
        tasks = [task if existing.id == task.id else existing for existing in self.tasks]
        try:
            return Plan.model_validate({"goal": self.goal, "tasks": tasks})
        except ValidationError as error:
            raise ValueError(format_validation_error(error)) from None


def filled_tasks(tasks: list[Task], fill: Callable[[Any], Any]) -> list[Task]:
    """The tasks with `fill` applied to their configs (the open part) and for_each, each
    config validated again."""
    filled = []
    for task in tasks:
        planned = task.action_config
        bound = task.with_config(planned.with_sealed(fill(planned.open_part())))
        if task.for_each is not None:
            bound = bound.model_copy(update={"for_each": fill(task.for_each)})
        filled.append(bound)
    return filled


def _ancestors(tasks_by_id: dict[str, Task], task_id: str) -> set[str]:
    seen: set[str] = set()
    stack = list(tasks_by_id[task_id].depends_on)
    while stack:
        current = stack.pop()
        if current not in seen and current in tasks_by_id:
            seen.add(current)
            stack.extend(tasks_by_id[current].depends_on)
    return seen


def graph_problems(tasks: list[Task]) -> list[str]:
    """Duplicate ids, unknown dependencies, cycles and references to tasks not upstream."""
    seen: set[str] = set()
    problems = []
    for task in tasks:
        if task.id in seen:
            problems.append(f"task id {task.id!r} is used twice; task ids must be unique")
        seen.add(task.id)
    for task in tasks:
        for dependency in task.depends_on:
            if dependency not in seen:
                problems.append(f"task {task.id!r} depends on unknown task {dependency!r}")
            if dependency == task.id:
                problems.append(f"task {task.id!r} depends on itself")
    if problems:
        return problems
    tasks_by_id = {task.id: task for task in tasks}
    cycle = find_cycle(tasks_by_id)
    if cycle:
        return [
            f"dependency cycle: {' -> '.join(cycle)} (each depends on the next); "
            "remove one of these depends_on links"
        ]
    return _reference_problems(tasks_by_id)


def _reference_problems(tasks_by_id: dict[str, Task]) -> list[str]:
    problems = []
    for task in tasks_by_id.values():
        upstream = _ancestors(tasks_by_id, task.id)
        config = task.action_config.open_part()
        for referenced in sorted(referenced_tasks(config)):
            problems += _not_upstream(task.id, referenced, "refers to", tasks_by_id, upstream)
        for named in sorted(condition_tasks(task.when) if task.when else ()):
            problems += _not_upstream(task.id, named, "has a when over", tasks_by_id, upstream)
        problems += _loop_problems(task, config)
        problems += _for_each_problems(task, config, tasks_by_id, upstream)
    return problems


def _for_each_problems(
    task: Task, config: Any, tasks_by_id: dict[str, Task], upstream: set[str]
) -> list[str]:
    """A for_each that cannot be a list, or item references that are misspelt."""
    if task.for_each is None:
        return []
    problems = [
        f"task {task.id!r}: {reference} is not an item reference; use {{{{ item }}}}, "
        "{{ item.<path> }} or {{ index }}"
        for reference in bad_item_references(config)
    ]
    if isinstance(task.for_each, str):
        source = source_reference(task.for_each)
        if INPUT_REFERENCE.fullmatch(task.for_each.strip()):
            pass  # a sub-plan's input: a list once the child run fills it in
        elif source is None:
            problems.append(
                f"task {task.id!r}: for_each {task.for_each!r} cannot be a list; give a "
                "reference to an upstream output ({{ tasks.ID.output... }}) or a JSON list"
            )
        else:
            problems += _not_upstream(task.id, source["task"], "has a for_each over",
                                      tasks_by_id, upstream)  # fmt: skip
    return problems


def _loop_problems(task: Task, config: Any) -> list[str]:
    """In a loop: references that are not loop.index / loop.previous.output. (Loop references
    in a task without a loop are refused when a plan is submitted: see misplaced_references.)"""
    if task.repeat is None:
        return []
    problems = [
        f"task {task.id!r}: {reference} is not a loop reference; use {{{{ loop.index }}}} or "
        "{{ loop.previous.output... }}"
        for reference in bad_loop_references(config)
    ]
    if task.for_each is not None:
        problems.append(
            f"task {task.id!r} has both for_each and repeat; put the loop in a task of its own "
            "that depends on the for-each"
        )
    return problems


def misplaced_references(task: Task) -> list[str]:
    """`{{ item }}`, `{{ index }}` or `{{ loop... }}` in a task that has no for-each or loop,
    and max_failures without a for-each: refused when a plan is submitted (checking them in
    the model would refuse runs already recorded whose configs hold such text)."""
    config = task.action_config.open_part()
    problems = []
    used_item = item_references(config)
    if used_item and task.for_each is None:
        problems.append(
            f'task {task.id!r} uses {used_item[0]} outside a for-each; add "for_each" or remove it'
        )
    used_loop = next(loop_references(config), None)
    if used_loop and task.repeat is None:
        problems.append(
            f"task {task.id!r} uses {used_loop} but has no repeat; add "
            '"repeat": {"until": "...", "max": N} or remove it'
        )
    if task.max_failures and task.for_each is None:
        problems.append(f"task {task.id!r} has max_failures but no for_each; remove it")
    return problems


def _not_upstream(
    task_id: str, other: str, relation: str, tasks_by_id: dict[str, Task], upstream: set[str]
) -> list[str]:
    if other not in tasks_by_id:
        return [f"task {task_id!r} {relation} the output of unknown task {other!r}"]
    if other not in upstream:
        return [
            f"task {task_id!r} {relation} the output of {other!r}, which is not upstream of "
            f"it; add {other!r} to its depends_on"
        ]
    return []


def find_cycle(tasks_by_id: dict[str, Task]) -> list[str] | None:
    """One dependency cycle as a path that ends where it starts, or None."""
    state: dict[str, str] = {}

    def visit(task_id: str, path: list[str]) -> list[str] | None:
        state[task_id] = "visiting"
        for dependency in tasks_by_id[task_id].depends_on:
            if state.get(dependency) == "visiting":
                return [*path[path.index(dependency) :], dependency]
            if dependency not in state:
                cycle = visit(dependency, [*path, dependency])
                if cycle:
                    return cycle
        state[task_id] = "done"
        return None

    for task_id in tasks_by_id:
        if task_id not in state:
            cycle = visit(task_id, [task_id])
            if cycle:
                return cycle
    return None
