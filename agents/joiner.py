"""The joiner's prompt and reply: a run whose tasks all ended in, an answer or a patch out.

LLMCompiler's joiner (Kim et al., 2024): once the plan ran, the LLM reads what the tasks did
and either answers the goal or asks for more work. The reply is one JSON object, a contract
that scripted servers and fine-tuned models rely on:
`{"action": "answer", "answer": <text or JSON>}` or
`{"action": "replan", "reason": "...", "add": [<tasks>], "remove": [<task ids>]}`.
"""

from __future__ import annotations

from typing import Any

from agentic.agents.analyst import DATA_NOTICE, data_block
from agentic.agents.client import JSONRequest, LLMClient
from agentic.agents.planner import planner_system_prompt
from agentic.agents.replans import PATCH_RULES, TaskCheck, parse_patch, patch_schema, task_table
from agentic.agents.replies import reply_object, reply_with_repair
from agentic.core.errors import ErrorType
from agentic.core.messages import JoinerReply, JoinerRequest

JOIN_MARKER = "Join the run of: "

JOINER_PROMPT = """\
You are the joiner of a workflow engine. A plan of tasks ran for a user's goal and every task
has ended. Read what the tasks did, then either answer the goal or ask for more work.

Answer with one JSON object, one of:
- {"action": "answer", "answer": <the answer>}: the goal is reached, or as reached as it can
  be. The answer is what the user asked for, from the tasks' outputs: text (a few sentences,
  saying what was done and what was found), or JSON (an object or a list) when the goal asks
  for data. Never invent what the outputs do not show; say what failed, if something did.
- {"action": "replan", "reason": "<why>", "add": [<task>, ...], "remove": ["<task id>", ...]}:
  the outputs show that more work is needed to reach the goal (a next step that depends on
  what was found, or another way round a failure). "add" and "remove" form a patch, as
  described below; the engine runs it, then asks you again."""

ANSWER_ONLY = """\
No more replanning is allowed for this run: answer with {"action": "answer", "answer": ...},
saying what was reached and what was not."""


def joiner_system_prompt(request: JoinerRequest) -> str:
    """The joiner's instructions; with replanning allowed, the plan format and patch rules."""
    if not request.may_replan:
        return JOINER_PROMPT + "\n\n" + ANSWER_ONLY
    plan_format = planner_system_prompt(request.action_types)
    return "\n\n".join([JOINER_PROMPT, "# The plan format", plan_format, PATCH_RULES])


def joiner_messages(request: JoinerRequest) -> list[dict]:
    """The user message: the goal and every task with its status and output."""
    allowed = '"answer" or "replan"' if request.may_replan else '"answer"'
    content = "\n".join(
        [
            f"{JOIN_MARKER}{request.goal}",
            "",
            DATA_NOTICE,
            "",
            "The plan's tasks, in order, each with its status and output:",
            data_block("tasks", task_table(request.tasks)),
            "",
            f"Allowed actions: {allowed}. Answer with one JSON object.",
        ]
    )
    return [{"role": "user", "content": content}]


def joiner_schema(may_replan: bool, action_types: list[str]) -> dict[str, Any]:
    """The reply's JSON schema: the answer is any JSON value."""
    actions = ["answer", "replan"] if may_replan else ["answer"]
    properties: dict[str, Any] = {"action": {"type": "string", "enum": actions}, "answer": {}}
    if may_replan:
        patch = patch_schema(action_types)["properties"]
        properties |= {"reason": {"type": "string"}, **patch}
    return {"type": "object", "properties": properties, "required": ["action"]}


async def parse_joiner_reply(
    text: str, request: JoinerRequest, check: TaskCheck | None = None
) -> tuple[JoinerReply | None, list[str]]:
    """The joiner's answer or patch; None and readable errors for a reply that is neither."""
    data, problems = reply_object(text)
    if data is None:
        return None, problems
    action = data.get("action")
    if action == "answer":
        if data.get("answer") in (None, ""):
            return None, ['action "answer" needs "answer": the answer to the goal']
        return JoinerReply(action="answer", answer=data["answer"]), []
    if action == "replan" and request.may_replan:
        patch, problems = await parse_patch(
            data, request.goal, request.tasks, request.action_types, check
        )
        if patch is None:
            return None, problems
        return JoinerReply(action="replan", patch=patch), []
    allowed = '"answer" or "replan"' if request.may_replan else '"answer" (no replans left)'
    return None, [f'"action" is {action!r}; it must be {allowed}']


async def join(
    client: LLMClient,
    request: JoinerRequest,
    max_tokens: int,
    attempt: int = 1,
    check: TaskCheck | None = None,
) -> JoinerReply:
    """The joiner's reply: one call and one repair call. Raises `LLMError` when neither gives
    an answer or a valid patch."""
    llm_request = JSONRequest(
        purpose="join",
        system=joiner_system_prompt(request),
        messages=joiner_messages(request),
        schema_name="joiner_reply",
        schema=joiner_schema(request.may_replan, request.action_types),
        max_tokens=max_tokens,
    )
    reply, usage, calls = await reply_with_repair(
        client,
        llm_request,
        lambda text: parse_joiner_reply(text, request, check),
        lambda errors: (
            "the joiner's reply is neither an answer nor a valid patch after a "
            "repair round: " + "; ".join(errors)
        ),
        ErrorType.INVALID_JOINER_REPLY,
        attempt,
    )
    return reply.model_copy(update={"usage": usage, "calls": calls})
