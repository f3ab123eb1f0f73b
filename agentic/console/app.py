"""The web console (`cli.py ui`): the runs of the namespace, and each run's plan as a live
graph with the controls a person in the loop needs (approve, reject, answer, edit a waiting
task, pause, resume, cancel). Server-rendered pages (Starlette, Jinja2) with a little
JavaScript: Server-Sent Events of the run's event stream tell the page when to redraw."""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote

from sse_starlette import EventSourceResponse
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.base import BaseHTTPMiddleware
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.templating import Jinja2Templates
from temporalio.service import RPCError

from agentic.cli.output import usd
from agentic.client import AgentClient, RunHandle
from agentic.console import views
from agentic.console.security import COOKIE, CSRF_FIELD, CSRF_HEADER, Guard
from agentic.core.messages import RunOptions, RunState
from agentic.errors import AgenticError, RunNotFound
from agentic.settings import Settings
from agentic.workflows.visibility import AgentStatus

HERE = Path(__file__).parent
PAGE_SIZE = 20
OPEN_PATHS = ("/login", "/static/")


def build_app(settings: Settings, guard: Guard, client: AgentClient | None = None) -> Starlette:
    """The console's ASGI app; it connects to Temporal at start unless given a client."""
    templates = Jinja2Templates(directory=HERE / "templates")
    templates.env.filters["usd"] = _usd
    templates.env.filters["iso"] = _iso
    state: dict[str, AgentClient] = {}

    @asynccontextmanager
    async def lifespan(_: Starlette) -> AsyncIterator[None]:
        state["client"] = client or await AgentClient.connect(settings)
        yield

    def agent() -> AgentClient:
        return state["client"]

    def render(request: Request, name: str, context: dict[str, Any], status: int = 200) -> Response:
        context = {"csrf": guard.csrf_token(request), "settings": settings, **context}
        return templates.TemplateResponse(request, name, context, status_code=status)

    async def runs_page(request: Request) -> Response:
        status = request.query_params.get("status") or None
        goal = request.query_params.get("goal") or None
        token = _page_token(request.query_params.get("page"))
        problem = ""
        try:
            if status is not None:
                AgentStatus(status)
            runs, next_token = await agent().list_page(
                status=status, goal=goal, page_size=PAGE_SIZE, page_token=token
            )
        except (ValueError, AgenticError, RPCError) as error:
            runs, next_token, problem = [], None, str(error)
        next_page = base64.urlsafe_b64encode(next_token).decode() if next_token else None
        return render(request, "runs.html", {
            "runs": runs, "status": status or "", "goal": goal or "", "next_page": next_page,
            "statuses": [value.value for value in AgentStatus], "problem": problem,
        })  # fmt: skip

    async def run_page(request: Request) -> Response:
        handle, state = await _run(request)
        return render(request, "run.html", await _run_context(handle, state))

    async def run_live(request: Request) -> Response:
        handle, state = await _run(request)
        return render(request, "live.html", await _run_context(handle, state))

    async def _run_context(handle: RunHandle, state: RunState) -> dict[str, Any]:
        return {
            "run": state,
            "graph": views.graph_of(state),
            "timeline": views.timeline(state),
            "waiting": views.waiting_tasks(state),
            "configs": views.waiting_configs(state),
            "questions": [views.answer_form(question) for question in state.questions],
            "answer": views.answer_text(state.answer),
            "web_ui": handle.web_ui_link,
            "running": state.status is None,
            "plan_waits": state.phase == "awaiting_approval"
            or any(record.status == "awaiting_approval" for record in state.replans),
        }

    async def task_details(request: Request) -> Response:
        _, state = await _run(request)
        task_id = request.path_params["task_id"]
        found = next((task for task in state.tasks if task.task_id == task_id), None)
        if found is None:
            return Response(f"run {state.workflow_id} has no task {task_id!r}", 404)
        return render(request, "task.html", {"run": state, **views.task_view(found, state)})

    async def task_output(request: Request) -> Response:
        handle = await agent().get(request.path_params["run_id"])
        output = await handle.output(request.path_params["task_id"])
        return Response(json.dumps(output, indent=2, default=str), media_type="application/json")

    async def events(request: Request) -> Response:
        handle = await agent().get(request.path_params["run_id"])
        last = request.headers.get("last-event-id") or request.query_params.get("from")
        start = int(last) + 1 if last and last.lstrip("-").isdigit() else 0

        async def stream() -> AsyncIterator[dict[str, str]]:
            async for event in handle.events(max(start, 0)):
                told = {**event.model_dump(mode="json"), "line": event.line()}
                yield {"id": str(event.offset), "event": "run", "data": json.dumps(told)}
            yield {"event": "end", "data": "{}"}  # the page closes its source: no reconnect

        return EventSourceResponse(stream(), ping=15)

    async def start_run(request: Request) -> Response:
        form = await request.form()
        if not guard.csrf_ok(request, str(form.get(CSRF_FIELD) or "")):
            return JSONResponse({"error": "refused: the request has no valid CSRF token "
                                 "(reload the page)"}, status_code=403)  # fmt: skip
        try:
            handle = await agent().start(**_start_arguments(form))
        except (AgenticError, ValueError) as error:
            return JSONResponse({"error": str(error)}, status_code=400)
        return JSONResponse({"ok": True, "run": f"/runs/{quote(handle.workflow_id)}"})

    async def act(request: Request) -> Response:
        form = await request.form()
        given = str(form.get(CSRF_FIELD) or request.headers.get(CSRF_HEADER) or "")
        if not guard.csrf_ok(request, given):
            return JSONResponse({"error": "refused: the request has no valid CSRF token "
                                 "(reload the page)"}, status_code=403)  # fmt: skip
        fields = {key: str(value) for key, value in form.items() if isinstance(value, str)}
        handle = await agent().get(request.path_params["run_id"])
        try:
            message = await _control(handle, request.path_params["action"], fields)
        except (AgenticError, ValueError) as error:
            return JSONResponse({"error": str(error)}, status_code=400)
        return JSONResponse({"ok": True, "message": message})

    async def login_form(request: Request) -> Response:
        problem = "wrong token (the link's)" if request.query_params.get("wrong") else ""
        return render(request, "login.html", {"next": request.query_params.get("next", "/"),
                                              "problem": problem})  # fmt: skip

    async def login(request: Request) -> Response:
        form = await request.form()
        given, target = str(form.get("token") or ""), _local_path(str(form.get("next") or "/"))
        if not guard.matches(given):
            return render(request, "login.html", {"next": target, "problem": "wrong token"}, 403)
        return _with_cookie(RedirectResponse(target, status_code=303), given)

    async def not_found(request: Request, error: Exception) -> Response:
        return render(request, "error.html", {"message": str(error)}, 404)

    async def refused(request: Request, error: Exception) -> Response:
        return render(request, "error.html", {"message": str(error)}, 400)

    async def _run(request: Request) -> tuple[RunHandle, RunState]:
        handle = await agent().get(request.path_params["run_id"])
        return handle, await handle.status()

    routes = [
        Route("/", runs_page),
        Route("/login", login_form, methods=["GET"]),
        Route("/login", login, methods=["POST"]),
        Route("/runs", start_run, methods=["POST"]),
        Route("/runs/{run_id}", run_page),
        Route("/runs/{run_id}/live", run_live),
        Route("/runs/{run_id}/events", events),
        Route("/runs/{run_id}/tasks/{task_id}", task_details),
        Route("/runs/{run_id}/tasks/{task_id}/output", task_output),
        Route("/runs/{run_id}/{action}", act, methods=["POST"]),
        Mount("/static", StaticFiles(directory=HERE / "static"), name="static"),
    ]
    return Starlette(
        routes=routes,
        middleware=[Middleware(BaseHTTPMiddleware, dispatch=_guarded(guard))],
        lifespan=lifespan,
        exception_handlers={RunNotFound: not_found, AgenticError: refused},
    )


def _start_arguments(form: Any) -> dict[str, Any]:
    """What the start form asks for: a goal (planned by the LLM) or a plan (JSON), an approval
    mode, and a run id if one is given; ValueError says what is wrong."""
    goal = str(form.get("goal") or "").strip()
    plan_text = str(form.get("plan") or "").strip()
    if bool(goal) == bool(plan_text):
        raise ValueError("give a goal, or a plan as JSON (not both)")
    plan = None
    if plan_text:
        try:
            plan = json.loads(plan_text)
        except json.JSONDecodeError as error:
            raise ValueError(f"the plan is not JSON ({error.msg} at line {error.lineno})") from None
        if not isinstance(plan, dict):
            raise ValueError('the plan is JSON but not an object: give {"tasks": [...]}')
    approval = str(form.get("approval") or "risky")
    options = RunOptions.model_validate({"approval": approval})
    run_id = str(form.get("run_id") or "").strip() or None
    return {"goal": goal or None, "plan": plan, "options": options, "workflow_id": run_id}


async def _control(handle: RunHandle, action: str, fields: dict[str, str]) -> str:
    """Carry out one control of the run page; the line that says what was done."""
    by = fields.get("by", "").strip() or "someone (console)"
    reason = fields.get("reason", "").strip()
    task = fields.get("task", "").strip() or None
    if action == "approve":
        await handle.approve(task=task, by=by, reason=reason)
        return f"{task or 'the plan'} approved by {by}"
    if action == "reject":
        if not reason:
            raise ValueError("give a reason for the rejection")
        await handle.reject(task=task, by=by, reason=reason)
        return f"{task or 'the plan'} rejected by {by}"
    if action == "answer":
        if task is None:
            raise ValueError("no question named")
        value = views.answer_value(fields.get("kind", "string"), fields.get("value", ""))
        record = await handle.answer(task, value, by=by)
        return f"{record.task} answered by {record.by}"
    if action == "edit":
        if task is None:
            raise ValueError("no task named")
        try:
            config = json.loads(fields.get("config", ""))
        except json.JSONDecodeError as error:
            where = f"line {error.lineno} column {error.colno}"
            raise ValueError(f"the config is not JSON ({error.msg} at {where})") from None
        await handle.edit(task=task, config=config, by=by)
        return f"{task}'s config edited by {by}"
    if action in ("pause", "resume", "cancel"):
        await getattr(handle, action)(reason=reason, by=by)
        return f"run {action}{'d' if action != 'cancel' else 'led'} by {by}"
    raise ValueError(f"unknown control {action!r}")


def _guarded(guard: Guard) -> Callable[[Request, Callable[..., Awaitable[Response]]], Any]:
    async def dispatch(request: Request, call_next: Callable[..., Awaitable[Response]]) -> Response:
        if request.url.path.startswith(OPEN_PATHS):
            return await call_next(request)
        given = request.query_params.get("token")
        if given and guard.matches(given):  # a link with the token, as Jupyter prints it
            return _with_cookie(RedirectResponse(request.url.path, status_code=303), given)
        if not guard.allowed(request):
            if guard.token is None:
                return Response("refused: this console answers only to localhost names "
                                "(open http://127.0.0.1:PORT/)", status_code=403)  # fmt: skip
            if "text/html" in request.headers.get("accept", ""):
                target = quote(request.url.path)
                wrong = "&wrong=1" if given else ""  # a link with a wrong token says so
                return RedirectResponse(f"/login?next={target}{wrong}", status_code=303)
            return JSONResponse({"error": "refused: give the console's token"}, status_code=401)
        return await call_next(request)

    return dispatch


def _with_cookie(response: Response, token: str) -> Response:
    response.set_cookie(COOKIE, token, httponly=True, samesite="strict")
    return response


def _local_path(target: str) -> str:
    """`next` only within the console (no redirect elsewhere)."""
    return target if target.startswith("/") and not target.startswith("//") else "/"


def _page_token(text: str | None) -> bytes | None:
    if not text:
        return None
    try:
        return base64.urlsafe_b64decode(text.encode())
    except (binascii.Error, ValueError):
        return None


def _usd(amount: float | None) -> str:
    return "" if amount is None else usd(amount)


def _iso(moment: datetime) -> str:
    """A moment as ISO 8601 with its offset (UTC when it has none), for the page to show in
    the browser's time."""
    return (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).isoformat()
