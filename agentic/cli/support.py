"""What the CLI commands share: one-line errors, reading plans and options, launching and
watching runs through the Python API. The commands themselves are in app.py."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import sys
from collections import deque
from collections.abc import Awaitable, Callable, Coroutine
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from functools import partial, wraps
from pathlib import Path
from typing import Any, NoReturn

import structlog
import typer
from pydantic import ValidationError
from rich.console import Group
from rich.live import Live
from rich.text import Text

from agentic.cli.output import cli_program, console, print_json, print_result, render_state
from agentic.client import WATCH_INTERVAL_SECONDS, AgentClient, RunHandle
from agentic.core.actions.base import ActionSpec
from agentic.core.mcp import McpServerSetting, action_type
from agentic.core.messages import ApprovalMode, RunOptions, RunResult, RunStatus
from agentic.core.openapi import OpenApiServiceSetting
from agentic.core.plan import Plan, format_validation_error
from agentic.core.policy import plan_refusals
from agentic.core.registry import ACTIONS
from agentic.core.risk import describe_risks
from agentic.devstack import BackgroundHTTPServer
from agentic.errors import AgenticError
from agentic.examples import EXAMPLES, example_options
from agentic.examples.sample_api import DEFAULT_URL as SAMPLE_API_URL
from agentic.logging import configure_logging
from agentic.plugins import load_plugins
from agentic.runtime import exit_now
from agentic.settings import Settings, get_settings, overridden_settings
from agentic.tracing import flush_tracing, setup_tracing

logger = structlog.get_logger("cli")
LLM_HELP = (
    "no LLM is configured, so a goal cannot be planned. Set OPENAI_API_KEY (OpenAI) or "
    "OPENAI_BASE_URL (an OpenAI-compatible server: vLLM, llama.cpp, Ollama) and OPENAI_MODEL, "
    "or LLM_ENDPOINTS. Runs of a ready plan need no LLM: python cli.py start --plan FILE"
)


class CliError(Exception):
    """An error for the person at the terminal: one line, no traceback."""


def fail(message: str) -> NoReturn:
    """Stop the command with one line on stderr."""
    raise CliError(message)


def save_text(path: Path, text: str) -> int:
    """Write `text` to `path` (UTF-8); its size in bytes. A path that cannot be written stops
    the command with one line."""
    data = text.encode()
    try:
        path.write_bytes(data)
    except OSError as error:
        fail(f"cannot write {path}: {error.strerror or error}")
    return len(data)


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
    if isinstance(error, CliError | AgenticError):
        return one_line(str(error))
    first_line = f"{type(error).__name__}: {error}".splitlines()[0]
    return f"unexpected failure ({first_line}); LOG_LEVEL=DEBUG shows more"


def one_line(message: str) -> str:
    """A message that may quote multi-line text (a parser's caret display), on one line."""
    return " ".join(line.strip() for line in message.splitlines() if line.strip())


def command(function: Callable[..., Coroutine[Any, Any, int | None]]) -> Callable[..., None]:
    """Make an async function a CLI command: settings checked, plug-ins loaded, known errors
    turned into one line on stderr."""

    @wraps(function)
    def wrapper(*args: Any, **kwargs: Any) -> None:
        try:
            settings = get_settings()
        except ValidationError as error:
            print(f"error: invalid setting: {format_validation_error(error)}", file=sys.stderr)
            exit_now(1)
        # The CLI speaks to people: its few warnings stay lines unless JSON is asked for.
        log_format = "json" if settings.log_format == "json" else "console"
        configure_logging(os.environ.get("LOG_LEVEL", "WARNING"), log_format)
        if os.environ.get("LOG_LEVEL", "").upper() != "DEBUG":
            # The Temporal core's warnings (a large payload) are for the worker's log; a
            # refused request already gets its one `error:` line here.
            logging.getLogger("temporalio.core").setLevel(logging.ERROR)
        try:
            load_plugins(settings)
            add_tool_loaders(settings)
        except AgenticError as error:
            print(f"error: {error}", file=sys.stderr)
            exit_now(1)
        code = run_command(function(*args, **kwargs))
        flush_tracing()  # os._exit skips the SDK's own exit hook
        exit_now(code)

    return wrapper


def add_tool_loaders(settings: Settings) -> None:
    """Plans may use MCP tools and OpenAPI operations: the registry finds a server's tools (a
    service's operations) when a command first meets one of them, or lists every action; not
    for every command. The settings themselves are checked now."""
    if settings.mcp_servers or settings.mcp_servers_file:
        from agentic.worker import mcp_server_settings

        servers = mcp_server_settings(settings)  # a bad MCP_SERVERS_FILE is one line now
        by_prefix = {action_type(name, ""): name for name in servers}

        def find_tools(prefixes: list[str]) -> list[ActionSpec]:
            named = {by_prefix[prefix]: servers[by_prefix[prefix]] for prefix in prefixes}
            return found_in_thread(partial(mcp_tools, settings, named))

        ACTIONS.add_loader(list(by_prefix), find_tools)
    services = settings.openapi_services or {}

    def find_operations(prefixes: list[str]) -> list[ActionSpec]:
        named = {prefix[:-1]: services[prefix[:-1]] for prefix in prefixes}
        return found_in_thread(partial(openapi_service_actions, settings, named))

    ACTIONS.add_loader([f"{name}." for name in services], find_operations)


def found_in_thread(find: Callable[[], Coroutine[Any, Any, list[Any]]]) -> list[ActionSpec]:
    """The specs of the actions `find` finds, run on a thread of its own: the registry asks
    from synchronous code (a plan's validation), often inside the command's event loop."""
    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(lambda: asyncio.run(find())).result()


async def mcp_tools(settings: Settings, servers: dict[str, McpServerSetting]) -> list[Any]:
    """The actions of these MCP servers' tools, found as the worker finds them (connections
    closed again): plans that use them validate here, and `actions` lists them."""
    # Imported here: the MCP SDK loads only when servers are set.
    from agentic.activities.mcp import discover_tools
    from agentic.activities.network import NetworkPolicy
    from agentic.worker import load_secrets

    secrets = load_secrets(settings)
    return await discover_tools(servers, secrets, NetworkPolicy(settings.allow_rules))


async def openapi_service_actions(
    settings: Settings, services: dict[str, OpenApiServiceSetting]
) -> list[Any]:
    """The actions of these OpenAPI services' operations, read as the worker reads them."""
    from agentic.worker import openapi_service_actions as read_services

    return await read_services(settings.model_copy(update={"openapi_services": services}))


def run_cli(app: typer.Typer) -> None:
    """Run the command line; a usage error (unknown option, bad choice, missing argument)
    is one line on stderr, like every other error."""
    try:
        # Without standalone mode, typer returns the code of a typer.Exit instead of exiting.
        code = app(args=sys.argv[1:] or ["--help"], standalone_mode=False)
    except typer.TyperException as error:
        print(f"error: {usage_error_line(error)}", file=sys.stderr)
        sys.exit(error.exit_code)
    except typer.Abort:
        sys.exit(130)
    sys.exit(code if isinstance(code, int) else 0)


def usage_error_line(error: typer.TyperException) -> str:
    """A parser error as one line, with where to find help."""
    message = " ".join(error.format_message().replace("Value error, ", "").split())
    context = getattr(error, "ctx", None)
    hint = f" (see: {context.command_path} --help)" if context is not None else ""
    return f"{message}{hint}"


# ----- inputs ---------------------------------------------------------------------------------


def params_given(pairs: list[str], path: Path | None) -> dict[str, Any]:
    """The params of `--params-file` and `--param NAME=VALUE` (each value JSON, else text);
    a bad one is one line."""
    given: dict[str, Any] = {}
    if path is not None:
        try:
            loaded = json.loads(path.read_text())
        except (OSError, json.JSONDecodeError) as error:
            fail(f"--params-file {path}: {getattr(error, 'strerror', None) or error}")
        if not isinstance(loaded, dict):
            fail(f"--params-file {path}: give a JSON object of name -> value")
        given.update(loaded)
    for pair in pairs:
        name, sep, text = pair.partition("=")
        if not sep or not name.strip():
            fail(f"--param {pair!r}: give NAME=VALUE (the value as JSON, else as text)")
        try:
            given[name.strip()] = json.loads(text)
        except json.JSONDecodeError:
            given[name.strip()] = text
    return given


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
        plan = Plan.model_validate(data)
    except ValidationError as error:
        fail(f"invalid plan in {path}: {format_validation_error(error)}")
    refused = plan_refusals(plan, get_settings().run_max_depth)
    if refused:
        fail(f"invalid plan in {path}: {'; '.join(refused)}")
    return plan


def run_options(approval: ApprovalMode, **limits: Any) -> RunOptions:
    """Run options from the command's flags."""
    defaults = get_settings().run_option_defaults()
    given = {name: value for name, value in limits.items() if value is not None}
    try:
        return RunOptions(approval=approval, **{**defaults, **given})
    except ValidationError as error:
        fail(f"invalid run option: {format_validation_error(error)}")


def goal_or_plan(goal: str | None, plan_file: Path | None) -> tuple[str | None, Plan | None]:
    """Check the command's inputs: exactly one of a goal (with an LLM) or a plan file."""
    if bool(goal) == bool(plan_file):
        fail("give exactly one of --goal TEXT, --plan FILE or --template NAME")
    if goal and not get_settings().llm_configured:
        fail(LLM_HELP)
    return goal, (load_plan(plan_file) if plan_file else None)


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


def parse_config(config: str) -> dict[str, Any]:
    """`edit --config JSON`: an action_config object."""
    try:
        parsed = json.loads(config)
    except json.JSONDecodeError as error:
        fail(f"--config is not valid JSON: {error.msg} at column {error.colno}")
    if not isinstance(parsed, dict):
        fail("--config must be a JSON object (the task's action_config)")
    return parsed


# The global options that reach another run's server, for the commands the CLI suggests.
SERVER_OPTIONS = {"temporal_address": "--address", "temporal_namespace": "--namespace"}


def cli_command() -> str:
    """How to call the CLI again, as it was called: `python cli.py` and the global options
    that chose the server, so that a suggested command works when pasted."""
    given = overridden_settings()
    options = [f"{flag} {given[name]}" for name, flag in SERVER_OPTIONS.items() if name in given]
    return " ".join([cli_program(), *options])


def current_user() -> str:
    """Who is at the terminal ($USER), for `--by`."""
    return os.environ.get("USER", "")


# ----- runs -----------------------------------------------------------------------------------


async def connect_client() -> AgentClient:
    """The API client for the configured Temporal server (traced as `agentic-cli` when
    OTEL_EXPORTER_OTLP_ENDPOINT is set)."""
    setup_tracing("agentic-cli")
    return await AgentClient.connect(get_settings())


async def steer(
    run_id: str, by: str, act: Callable[[RunHandle, str], Awaitable[None]], done: str
) -> None:
    """Apply a signal or a Temporal request to an existing run on behalf of `by` (default:
    the current user), then say `done` (errors say what was wrong)."""
    handle = await (await connect_client()).get(run_id)
    await act(handle, by or current_user())
    console.print(done)


def exit_code_for(status: RunStatus) -> int:
    """0 for a completed run, 1 otherwise (scripts can branch on it)."""
    return 0 if status == RunStatus.COMPLETED else 1


def print_approval_plan(plan: Plan | None, options: RunOptions) -> None:
    """In approval mode risky, which tasks will wait for a person, and why."""
    if options.approval != "risky":
        return
    if plan is None:
        console.print("risky tasks of the planned goal will wait for approval (see status)")
        return
    risks = describe_risks(plan.tasks)
    if not risks:
        console.print("no task of this plan needs approval")
    for task_id, reason in risks.items():
        console.print(f"waits for approval: {task_id} ({reason})")


async def launch_run(
    goal: str | None,
    plan: Plan | None,
    options: RunOptions,
    run_id: str | None,
    *,
    wait: bool,
    as_json: bool,
    watch: bool = False,
) -> int:
    """Start the run, print its id and link; with `wait`, print its result too."""
    client = await connect_client()
    handle = await client.start(goal=goal, plan=plan, options=options, workflow_id=run_id)
    if not as_json:
        console.print(f"started {handle.workflow_id}")
        console.print(f"web ui: {handle.web_ui_link}")
        if options.approval == "plan":
            console.print(
                f"the plan waits for approval: {cli_command()} approve {handle.workflow_id}"
            )
        print_approval_plan(plan, options)
    if watch and not as_json:
        return await watch_run(handle, client.settings)
    if not wait:
        if as_json:
            sys.stdout.write(json.dumps({"workflow_id": handle.workflow_id}) + "\n")
        return 0
    return print_outcome(await handle.result(), client.settings, as_json)


def print_outcome(result: RunResult, settings: Settings, as_json: bool) -> int:
    """The result, for people or as JSON; the exit code that goes with it."""
    print_json(result) if as_json else print_result(result, settings, command=cli_command())
    return exit_code_for(result.status)


WATCH_EVENTS_SHOWN = 8


async def watch_run(handle: RunHandle, settings: Settings) -> int:
    """A live view of the run until it ends (its tasks, and its latest events as `events`
    and the console tell them), then its result. One reading of the run's events drives it:
    each batch of them brings the state again; the clock of what runs ticks in between."""
    state = await handle.status()
    latest: deque[str] = deque(maxlen=WATCH_EVENTS_SHOWN)
    cli = cli_command()
    changed = asyncio.Event()

    async def follow_events() -> None:
        async for event in handle.events():
            at = event.at.astimezone().strftime("%H:%M:%S")
            latest.append(f"{event.offset:>4}  {at}  {event.line()}")
            changed.set()

    def view() -> Group:
        shown = [Text("events:", style="bold"), *(Text(line) for line in latest)] if latest else []
        return Group(render_state(state, datetime.now(UTC), cli), *shown)

    events = asyncio.create_task(follow_events())
    try:
        # Transient: the live view gives way to the result once the run ends.
        with Live(view(), console=console, refresh_per_second=4, transient=True) as live:
            while not events.done():
                try:
                    await asyncio.wait_for(changed.wait(), timeout=1.0)
                except TimeoutError:
                    pass
                else:
                    await asyncio.sleep(WATCH_INTERVAL_SECONDS)  # the events that come together
                    changed.clear()
                    state = await handle.status()
                live.update(view())
        await events  # what reading the events raised, if anything
    finally:
        events.cancel()
        await asyncio.gather(events, return_exceptions=True)
    return print_outcome(await handle.result(), settings, as_json=False)


# ----- examples -------------------------------------------------------------------------------


def print_examples() -> None:
    """Each example with its options and their defaults."""
    for name, function in EXAMPLES.items():
        line = Text(name, style="bold")
        line.append(f": {(function.__doc__ or '').strip()}")
        console.print(line)
        for option, default in example_options(name).items():
            console.print(f"    -o {option}={json.dumps(default)}")


async def serve_until_interrupted(server: BackgroundHTTPServer, name: str, note: str = "") -> None:
    """Serve in the background until Ctrl-C."""
    from agentic.demo import wait_for_interrupt

    server.start()
    console.print(f"{name} on {server.url}{note} (Ctrl-C to stop)")
    try:
        await wait_for_interrupt()
    finally:
        server.stop()


def calls_sample_api(plan: Plan) -> bool:
    """True when the plan sends requests to the sample API's default address."""
    return SAMPLE_API_URL in plan.model_dump_json()
