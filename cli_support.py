"""What the CLI commands share: error handling, loading plans, reaching runs, launching and
watching them. The commands themselves are in cli.py."""

from __future__ import annotations

import asyncio
import json
import os
import sys
from collections.abc import Callable, Coroutine
from datetime import UTC, datetime, timedelta
from functools import wraps
from pathlib import Path
from typing import Any, NoReturn

import structlog
import typer
from pydantic import ValidationError
from rich.live import Live
from rich.text import Text
from temporalio.client import (
    Client,
    WorkflowExecution,
    WorkflowExecutionStatus,
    WorkflowHandle,
)
from temporalio.service import RPCError, RPCStatusCode

from agents.client import LLMClient, LLMReply
from agents.endpoints import LLMEndpoint
from agents.errors import LLMError
from agents.planner import parse_plan, planning_request
from cli_output import console, print_json, print_result, render_state
from demo import DemoRun
from devstack import port_open, split_address
from examples import EXAMPLES, example_options
from examples.sample_api import DEFAULT_URL as SAMPLE_API_URL
from examples.sample_api import SampleAPI
from logging_setup import configure_logging
from runtime import (
    RunResultUnavailable,
    ServerUnreachable,
    connect,
    exit_now,
    run_result,
    start_run,
    web_ui_link,
)
from settings import Settings, get_settings
from workflows.agent_run import WORKFLOW_NAME
from workflows.plan import Plan, format_validation_error
from workflows.results import (
    ApprovalMode,
    ApprovalSignal,
    EditRequest,
    Phase,
    PlanRequest,
    RunInput,
    RunOptions,
    RunResult,
    RunState,
    RunStatus,
    TaskStatus,
)
from workflows.risk import describe_risks
from workflows.visibility import GOAL, STATUS, TASK_COUNT, AgentStatus

logger = structlog.get_logger("cli")
QUERY_TIMEOUT_SECONDS = 10
WATCH_INTERVAL_SECONDS = 0.5
LLM_HELP = (
    "no LLM is configured, so a goal cannot be planned. Set OPENAI_API_KEY (OpenAI) or "
    "OPENAI_BASE_URL (an OpenAI-compatible server: vLLM, llama.cpp, Ollama) and OPENAI_MODEL. "
    "Runs of a ready plan need no LLM: python cli.py start --plan FILE"
)


class CliError(Exception):
    """An error for the person at the terminal: one line, no traceback."""


def fail(message: str) -> NoReturn:
    """Stop the command with one line on stderr."""
    raise CliError(message)


def run_command(coroutine: Coroutine[Any, Any, int | None]) -> int:
    """Run an async command: its exit code, or 1 with one line on stderr for known errors."""
    try:
        return asyncio.run(coroutine) or 0
    except Exception as error:
        print(f"error: {error_line(error)}", file=sys.stderr)
        logger.debug("command_failed", exc_info=True)
        return 1


def error_line(error: Exception) -> str:
    """What went wrong, in one line for people (the traceback goes to the debug log)."""
    if isinstance(error, CliError | ServerUnreachable | RunResultUnavailable):
        return str(error)
    if isinstance(error, RPCError):
        return f"the Temporal server refused the request: {error}"
    first_line = f"{type(error).__name__}: {error}".splitlines()[0]
    return f"unexpected failure ({first_line}); LOG_LEVEL=DEBUG shows more"


def command(function: Callable[..., Coroutine[Any, Any, int | None]]) -> Callable[..., None]:
    """Make an async function a CLI command; turn known errors into one line on stderr."""

    @wraps(function)
    def wrapper(*args: Any, **kwargs: Any) -> None:
        try:
            settings = get_settings()
        except ValidationError as error:
            print(f"error: invalid setting: {format_validation_error(error)}", file=sys.stderr)
            exit_now(1)
        configure_logging(os.environ.get("LOG_LEVEL", "WARNING"), settings.log_format)
        exit_now(run_command(function(*args, **kwargs)))

    return wrapper


def run_cli(app: typer.Typer) -> None:
    """Run the command line; a usage error (unknown option, bad choice, missing argument)
    is one line on stderr, like every other error."""
    try:
        app(args=sys.argv[1:] or ["--help"], standalone_mode=False)
    except typer.TyperException as error:
        print(f"error: {usage_error_line(error)}", file=sys.stderr)
        sys.exit(error.exit_code)
    except typer.Abort:
        sys.exit(130)


def usage_error_line(error: typer.TyperException) -> str:
    """A parser error as one line, with where to find help."""
    message = " ".join(error.format_message().replace("Value error, ", "").split())
    context = getattr(error, "ctx", None)
    hint = f" (see: {context.command_path} --help)" if context is not None else ""
    return f"{message}{hint}"


# ----- helpers --------------------------------------------------------------------------------


def load_plan(path: Path) -> Plan:
    """Read and validate a plan file, or fail with what is wrong in it."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as error:
        fail(f"cannot read plan file {path}: {error.strerror or error}")
    except UnicodeDecodeError as error:
        fail(f"plan file {path} is not UTF-8 text: {error.reason} at byte {error.start}")
    try:
        data = json.loads(text)
    except json.JSONDecodeError as error:
        fail(
            f"plan file {path} is not valid JSON: "
            f"line {error.lineno}, column {error.colno}: {error.msg}"
        )
    try:
        return Plan.model_validate(data)
    except ValidationError as error:
        fail(f"invalid plan in {path}: {format_validation_error(error)}")


async def existing_handle(client: Client, workflow_id: str) -> WorkflowHandle[Any, Any]:
    """A handle on a run that exists, or a clear error when it does not."""
    handle = client.get_workflow_handle(workflow_id, result_type=RunResult)
    try:
        await handle.describe()
    except RPCError as error:
        if error.status == RPCStatusCode.NOT_FOUND:
            fail(f"no run with id {workflow_id!r} (see 'python cli.py list')")
        raise
    return handle


async def query_state(handle: WorkflowHandle[Any, Any]) -> RunState:
    """The run's live state through the `status` query."""
    try:
        return await handle.query(
            "status", result_type=RunState, rpc_timeout=timedelta(seconds=QUERY_TIMEOUT_SECONDS)
        )
    except RPCError as error:
        if error.status == RPCStatusCode.NOT_FOUND:
            fail(f"no run with id {handle.id!r} (see 'python cli.py list')")
        fail(
            f"the run {handle.id!r} did not answer the status query ({error}); is a worker running?"
        )


def exit_code_for(status: RunStatus) -> int:
    """0 for a completed run, 1 otherwise (scripts can branch on it)."""
    return 0 if status == RunStatus.COMPLETED else 1


async def result_of(handle: WorkflowHandle[Any, Any]) -> RunResult:
    """The run's result, waiting for it to end."""
    return await run_result(handle)


def build_run_input(goal: str | None, plan_file: Path | None, options: RunOptions) -> RunInput:
    """Check the command's inputs and build the workflow's input."""
    if bool(goal) == bool(plan_file):
        fail("give exactly one of --goal TEXT or --plan FILE")
    if goal and not get_settings().llm_configured:
        fail(LLM_HELP)
    plan = load_plan(plan_file) if plan_file else None
    return RunInput(goal=goal, plan=plan, options=options)


# ----- commands -------------------------------------------------------------------------------


def run_options(approval: ApprovalMode, **limits: Any) -> RunOptions:
    """Run options from the command's flags."""
    timeout = get_settings().llm_timeout_seconds
    try:
        return RunOptions(approval=approval, llm_timeout_seconds=timeout, **limits)
    except ValidationError as error:
        fail(f"invalid run option: {format_validation_error(error)}")


def print_approval_plan(run_input: RunInput) -> None:
    """In approval mode risky, which tasks will wait for a person, and why."""
    if run_input.options.approval != "risky":
        return
    if run_input.plan is None:
        console.print("risky tasks of the planned goal will wait for approval (see status)")
        return
    risks = describe_risks(run_input.plan.tasks)
    if not risks:
        console.print("no task of this plan needs approval")
    for task_id, reason in risks.items():
        console.print(f"waits for approval: {task_id} ({reason})")


async def still_running(handle: WorkflowHandle[Any, Any]) -> bool:
    """False once the workflow closed, even if it never reached its own last phase
    (terminated or timed out from outside)."""
    description = await handle.describe()
    return description.status == WorkflowExecutionStatus.RUNNING


async def watch_run(handle: WorkflowHandle[Any, Any], settings: Settings) -> int:
    """A live view of the run until it ends, then its result."""
    state = await query_state(handle)
    # Transient: the live view gives way to the result once the run ends.
    with Live(render_state(state), console=console, refresh_per_second=4, transient=True) as live:
        while state.phase != Phase.FINISHED and await still_running(handle):
            await asyncio.sleep(WATCH_INTERVAL_SECONDS)
            state = await query_state(handle)
            live.update(render_state(state, datetime.now(UTC)))
    result = await result_of(handle)
    print_result(result, settings)
    return exit_code_for(result.status)


async def launch_run(
    run_input: RunInput, run_id: str | None, wait: bool, as_json: bool, watch: bool = False
) -> int:
    """Start the run, print its id and link; with `wait`, print its result too."""
    settings = get_settings()
    client = await connect(settings)
    handle = await start_run(client, settings, run_input, run_id)
    workflow_id = handle.id
    if not as_json:
        console.print(f"started {workflow_id}")
        console.print(f"web ui: {web_ui_link(settings, workflow_id)}")
        if run_input.options.approval == "plan":
            console.print(f"the plan waits for approval: python cli.py approve {workflow_id}")
        print_approval_plan(run_input)
    if watch and not as_json:
        return await watch_run(handle, settings)
    if not wait:
        if as_json:
            sys.stdout.write(json.dumps({"workflow_id": workflow_id}) + "\n")
        return 0
    result = await result_of(handle)
    print_json(result) if as_json else print_result(result, settings)
    return exit_code_for(result.status)


def parse_example_options(pairs: list[str]) -> dict[str, Any]:
    """`key=value` pairs; a value that parses as JSON is taken as JSON (numbers, objects)."""
    options: dict[str, Any] = {}
    for pair in pairs:
        key, separator, value = pair.partition("=")
        if not separator or not key:
            fail(f"--option takes key=value, got {pair!r}")
        try:
            options[key] = json.loads(value)
        except json.JSONDecodeError:
            options[key] = value
    return options


def print_examples() -> None:
    """Each example with its options and their defaults."""
    for name, function in EXAMPLES.items():
        line = Text(name, style="bold")
        line.append(f": {(function.__doc__ or '').strip()}")
        console.print(line)
        for option, default in example_options(name).items():
            console.print(f"    -o {option}={json.dumps(default)}")


def start_sample_api_if_needed(plan: Plan) -> SampleAPI | None:
    """The sample API, started here when the plan calls it and nothing serves it yet."""
    host, port = split_address(SAMPLE_API_URL.removeprefix("http://"))
    if SAMPLE_API_URL not in plan.model_dump_json() or port_open(host, port):
        return None
    return SampleAPI(port).start()


def show_demo_run(demo_run: DemoRun, keep: bool) -> None:
    """What the demo did, and what to try next."""
    settings = demo_run.settings
    link_stays_up = keep or not demo_run.started_temporal
    print_result(demo_run.result, settings, link=link_stays_up)
    report = settings.workspace_dir / "demo" / "report.md"
    if report.exists():
        console.print(f"\n{report}:\n{report.read_text()}")
    console.print(f"Rows are in table demo_users of {demo_run.database_url}.")
    if keep:
        target = f"--address {settings.temporal_address} --task-queue {settings.task_queue}"
        console.print(DEMO_KEPT.format(target=target))
        return
    if not link_stays_up:
        console.print(
            "The demo's Temporal server and Web UI stop with it: 'python cli.py demo --keep' "
            "keeps them up, to look at the run in the Web UI."
        )
    console.print(DEMO_NEXT_STEPS)


DEMO_KEPT = """Temporal, the worker and the Web UI stay up until Ctrl-C. Meanwhile, elsewhere:
  python cli.py {target} list
  python cli.py {target} start --plan examples/hello.json --watch
  python cli.py {target} example --list"""

DEMO_NEXT_STEPS = """Next:
  python cli.py server                 # Temporal dev server + Web UI (http://localhost:8233)
  python worker.py                     # a worker (another terminal)
  python cli.py example --list         # the other examples
  export OPENAI_API_KEY=...            # or OPENAI_BASE_URL for vLLM, llama.cpp, Ollama
  python cli.py start --goal "fetch ..., keep ..., write a report" --wait"""


def check_verdict_target(state: RunState, task_id: str | None) -> None:
    """Fail unless the plan (no task) or the task can take a verdict now."""
    waiting = [t.task_id for t in state.tasks if t.status == TaskStatus.WAITING_APPROVAL]
    if task_id is None:
        if state.phase == Phase.AWAITING_APPROVAL:
            return
        hint = f"; tasks waiting: {', '.join(waiting)} (use --task)" if waiting else ""
        fail(f"run {state.workflow_id} is not waiting for plan approval "
             f"(phase: {state.phase.value}){hint}")  # fmt: skip
    task = next((t for t in state.tasks if t.task_id == task_id), None)
    if task is None:
        fail(f"run {state.workflow_id} has no task {task_id!r}")
    if task.status != TaskStatus.WAITING_APPROVAL:
        fail(f"task {task_id!r} is {task.status.value}, not waiting for approval")


async def send_verdict(run_id: str, signal_name: str, payload: ApprovalSignal) -> None:
    client = await connect(get_settings())
    handle = await existing_handle(client, run_id)
    check_verdict_target(await query_state(handle), payload.task)
    await handle.signal(signal_name, payload)
    target = f"task {payload.task} of {run_id}" if payload.task else f"the plan of {run_id}"
    console.print(f"{signal_name} sent for {target}")


async def running_handle(run_id: str) -> WorkflowHandle[Any, Any]:
    """A handle on a run that has not ended, or a clear error."""
    client = await connect(get_settings())
    handle = await existing_handle(client, run_id)
    description = await handle.describe()
    if description.status != WorkflowExecutionStatus.RUNNING:
        ended = description.status.name.lower() if description.status else "closed"
        fail(f"run {run_id} has already ended ({ended})")
    return handle


def stop_reason(reason: str, by: str) -> str:
    """The reason recorded with a cancellation or a termination: why, and who asked."""
    who = f"by {by}" if by else ""
    return f"{reason} ({who})" if reason and who else reason or who


def build_edit_request(
    plan: Path | None, task: str | None, config: str | None, by: str
) -> EditRequest:
    """The `edit` update's input from the command's options."""
    if bool(plan) == bool(task):
        fail("give --plan FILE, or --task TASK with --config JSON")
    if plan is not None:
        return EditRequest(plan=load_plan(plan).model_dump(mode="json", by_alias=True), by=by)
    if config is None:
        fail("--task needs --config JSON (the task's whole new action_config)")
    try:
        parsed = json.loads(config)
    except json.JSONDecodeError as error:
        fail(f"--config is not valid JSON: {error.msg} at column {error.colno}")
    if not isinstance(parsed, dict):
        fail("--config must be a JSON object (the task's action_config)")
    return EditRequest(task=task, config=parsed, by=by)


def list_query(status: AgentStatus | None, goal_words: str | None, list_filter: str | None) -> str:
    """The List Filter for `list`: our workflow type, a status, goal words, the user's filter."""
    clauses = [f"WorkflowType = '{WORKFLOW_NAME}'"]
    if status:
        clauses.append(f"{STATUS.name} = '{status.value}'")
    if goal_words:
        clauses.append(f"{GOAL.name} = '{goal_words.replace(chr(39), ' ')}'")
    if list_filter:
        clauses.append(f"({list_filter})")
    return " AND ".join(clauses)


def list_row(execution: WorkflowExecution) -> dict[str, Any]:
    """One run as `list` shows it. A run stopped from outside (terminated, timed out) never
    set its own final status: Temporal's status says what happened."""
    attributes = execution.typed_search_attributes
    status = attributes.get(STATUS) or ""
    closed_from_outside = execution.status not in (
        WorkflowExecutionStatus.RUNNING,
        WorkflowExecutionStatus.COMPLETED,
        WorkflowExecutionStatus.FAILED,
        WorkflowExecutionStatus.CANCELED,
    )
    if closed_from_outside or not status:
        status = execution.status.name.lower() if execution.status else status
    return {
        "workflow_id": execution.id,
        "status": status,
        "goal": attributes.get(GOAL) or "",
        "tasks": attributes.get(TASK_COUNT),
        "started": timestamp(execution.start_time),
        "closed": timestamp(execution.close_time),
    }


def timestamp(moment: Any) -> str:
    return moment.strftime("%Y-%m-%d %H:%M:%S") if moment else ""


def current_user() -> str:
    return os.environ.get("USER", "")


CHECK_GOAL = "Wait one second, then write the word done to check.txt."
CHECK_MAX_TOKENS = 1024


async def check_endpoints(settings: Settings) -> list[dict[str, Any]]:
    """One tiny planning request to each configured endpoint, and what came of it."""
    client = LLMClient.from_settings(settings)
    assert client is not None
    request = planning_request(
        PlanRequest(goal=CHECK_GOAL), min(settings.llm_planner_max_tokens, CHECK_MAX_TOKENS)
    )
    try:
        answers = await client.check(request)
    finally:
        await client.close()
    return [_check_row(endpoint, answer) for endpoint, answer in answers]


def _check_row(endpoint: LLMEndpoint, answer: LLMReply | LLMError) -> dict[str, Any]:
    row: dict[str, Any] = {"endpoint": endpoint.name, "base_url": endpoint.base_url,
                           "model": endpoint.model}  # fmt: skip
    if isinstance(answer, LLMError):
        return {**row, "answered": False, "error": answer.message}
    plan, errors = parse_plan(answer.text, CHECK_GOAL)
    verdict = f"valid plan of {len(plan.tasks)} tasks" if plan else f"not a valid plan: {errors[0]}"
    return {
        **row,
        "answered": True,
        "mode": answer.call.mode,
        "seconds": answer.call.seconds,
        "prompt_tokens": answer.usage.prompt_tokens,
        "completion_tokens": answer.usage.completion_tokens,
        "plan": verdict,
    }
