"""The planner's prompt and output schema: a goal in, a `Plan` out.

The prompt is generated from the action registry, so a new action type reaches the planner with
its description and config schema and no change here.
"""

from __future__ import annotations

import json
from typing import Any

from pydantic import BaseModel, ValidationError

from agentic.agents.client import JSONRequest, LLMClient, LLMReply
from agentic.agents.replies import extract_json
from agentic.core.messages import PlanDraft, PlanRequest
from agentic.core.plan import TASK_ID_PATTERN, Plan, format_validation_error
from agentic.core.registry import ACTIONS


# The plan's outline: what the prompt describes when decoding does not follow a schema (the
# action sections of the prompt give each action_config's schema).
def offered(action_types: list[str] | None = None) -> list[str]:
    """The registered action types the planner may use: `action_types` (all when empty)."""
    return [name for name in ACTIONS if not action_types or name in action_types]


def plan_outline_schema(action_types: list[str] | None = None) -> dict[str, Any]:
    """The plan's outline, for the registered action types: what the prompt describes when
    decoding does not follow a schema (the action sections of the prompt give each
    action_config's schema)."""
    task_id = {"type": "string", "pattern": TASK_ID_PATTERN}
    task = {
        "type": "object",
        "properties": {
            "id": task_id,
            "name": {"type": "string"},
            "description": {"type": "string"},
            "action_type": {"type": "string", "enum": offered(action_types)},
            "action_config": {"type": "object"},
            "depends_on": {
                "type": "array",
                "items": {"type": "string", "pattern": TASK_ID_PATTERN},
            },
            "critical": {"type": "boolean"},
            "requires_approval": {"type": "boolean"},
            "when": {"type": "string"},
            "for_each": {"type": "string"},
            "max_failures": {"type": "number"},
            "repeat": {
                "type": "object",
                "properties": {"until": {"type": "string"}, "max": {"type": "integer"}},
                "required": ["until", "max"],
                "additionalProperties": False,
            },
        },
        "required": ["id", "name", "action_type", "action_config", "depends_on"],
        "additionalProperties": False,
    }
    return {
        "type": "object",
        "properties": {
            "goal": {"type": "string"},
            "tasks": {"type": "array", "minItems": 1, "items": task},
        },
        "required": ["goal", "tasks"],
        "additionalProperties": False,
    }


# Keywords a decoder needs; titles, descriptions and defaults only cost tokens and grammar.
SCHEMA_NOISE = {"title", "description", "default", "examples"}


def plan_decoding_schema(action_types: list[str] | None = None) -> dict[str, Any]:
    """The full plan schema for constrained decoding: each task is one of the registered
    action types with that action's own config schema, so even a small model can only write
    configs that validate (the outline leaves action_config open)."""
    plan = plan_outline_schema(action_types)
    outline = plan["properties"]["tasks"]["items"]
    task_variants = [
        {
            **outline,
            "properties": {
                **outline["properties"],
                "action_type": {"type": "string", "enum": [action_type]},
                "action_config": decoding_schema(ACTIONS[action_type].config_model),
            },
        }
        for action_type in offered(action_types)
    ]
    tasks = {**plan["properties"]["tasks"], "items": {"anyOf": task_variants}}
    return {**plan, "properties": {**plan["properties"], "tasks": tasks}}


def decoding_schema(model: type[BaseModel]) -> dict[str, Any]:
    """A model's JSON schema with its $refs inlined and without the keywords decoding ignores."""
    schema = model.model_json_schema(by_alias=True)
    return _inlined(schema, schema.get("$defs", {}))


def _inlined(schema: Any, definitions: dict[str, Any]) -> Any:
    if isinstance(schema, list):
        return [_inlined(item, definitions) for item in schema]
    if not isinstance(schema, dict):
        return schema
    if "$ref" in schema:
        return _inlined(definitions[schema["$ref"].rsplit("/", 1)[-1]], definitions)
    # `"items": {}` says nothing, and llama-cpp-python's grammar builder fails on it.
    return {
        key: _inlined_value(key, value, definitions)
        for key, value in schema.items()
        if key not in SCHEMA_NOISE and key != "$defs" and not (key == "items" and value == {})
    }


def _inlined_value(key: str, value: Any, definitions: dict[str, Any]) -> Any:
    if key == "properties":
        return {name: _inlined(item, definitions) for name, item in value.items()}
    return _inlined(value, definitions)


EXAMPLE_PLAN: dict[str, Any] = {
    "goal": "Save the names of the users of https://api.example.com to users.json",
    "tasks": [
        {
            "id": "fetch_users",
            "name": "Fetch the users",
            "action_type": "api_call",
            "action_config": {"method": "GET", "url": "https://api.example.com/users"},
            "depends_on": [],
            "critical": True,
        },
        {
            "id": "user_names",
            "name": "Keep the names",
            "action_type": "data_transform",
            "action_config": {
                "input": "{{ tasks.fetch_users.output.body }}",
                "expression": "[].name",
            },
            "depends_on": ["fetch_users"],
            "critical": True,
        },
        {
            "id": "save_names",
            "name": "Write users.json",
            "action_type": "file_operation",
            "action_config": {
                "operation": "write",
                "path": "users.json",
                "content": "{{ tasks.user_names.output }}",
            },
            "depends_on": ["user_names"],
            "critical": True,
        },
    ],
}

PLAN_FORMAT = """\
You are the planner of a workflow engine. Turn the user's goal into a plan that the engine runs.

Answer with one JSON object: {"goal": "<the goal>", "tasks": [<task>, ...]}. Each task has:
- "id": a short unique id (letters, digits, "_" or "-", at most 64 characters)
- "name": a few words saying what the task does
- "action_type": one of the action types below
- "action_config": an object following that action type's config schema (no other fields)
- "depends_on": ids of the tasks that must complete before this one ([] if none)
- "critical": true if the goal fails without this task; false if the run may go on without it
- "requires_approval": true if a person should approve this task before it runs (anything
  irreversible or costly that the engine would not see as risky by itself); default false
- "when" (optional): a condition, a JMESPath expression over the outputs of tasks in its
  depends_on, e.g. "tasks.check.output.body.changed". When it is false (false, null, empty)
  the task is skipped, which is no error: tasks depending on it still run and see null for
  its output. For if/else, give two tasks opposite conditions ("tasks.x.output.ok" and
  "!(tasks.x.output.ok)": "!" needs the parentheses) and let a third depend on both.
- "for_each" (optional): a reference to an upstream output that is a list, e.g.
  "{{ tasks.fetch_users.output.body }}": the action runs once per item, in parallel. In its
  action_config, "{{ item }}" is the item, "{{ item.<key> }}" a field of it and "{{ index }}"
  its position, e.g. "url": "https://api.example.com/users/{{ item.id }}/orders". Its output
  is the list of the items' outputs, in order. "max_failures" (optional, default 0): how many
  items may fail (or a fraction, like 0.1) with the task still completing.
- "repeat" (optional): {"until": "<JMESPath>", "max": N} runs the task again, round after
  round, until "until" holds over {"output": this round's output, "index": 0, 1, ...,
  "previous": the last round's output}, at most N rounds. In its action_config,
  "{{ loop.index }}" is the round's index and "{{ loop.previous.output... }}" the last round's
  output (null in the first round; a null query parameter or header is not sent). Its output
  is the list of every round's output. Cursor pagination: "params": {"cursor":
  "{{ loop.previous.output.body.next }}"} with "until": "output.body.next == null".
- A "sub_plan" task runs steps of their own as a child run: its action_config "plan" is a
  plan in this same format, and "inputs" ({"region": "{{ item }}"}) are "{{ inputs.region }}"
  inside it. With "for_each", it runs those steps once per item ("do these steps for each
  region"). Its output is the child's task outputs by task id.

Tasks run as soon as every task in their depends_on has completed: tasks that do not depend on
each other run in parallel, so list a dependency only where one task needs another."""

REFERENCE_RULES = """\
Using the output of an earlier task: a string in an action_config may hold a reference
"{{ tasks.<id>.output }}", optionally followed by a path of ".key" steps (object keys) and
"[index]" steps (list items, from 0), e.g. "{{ tasks.fetch_users.output.body.items[0].id }}".
- A string that is exactly one reference becomes that JSON value (object, list, number, ...).
- A reference inside a longer string is replaced by the value as text,
  e.g. "https://api.example.com/users/{{ tasks.find_user.output.body.id }}".
- A task may refer only to tasks in its depends_on, directly or through their own depends_on.
- Follow each action's output shape as described above (an api_call's JSON body is at
  ".output.body")."""

FINAL_RULES = """\
Rules:
- Use only the action types listed above, with only the config fields their schemas define.
- File paths are relative to the workspace directory: never absolute, never leading out of it.
- Keep the plan as small as the goal allows.
- Answer with the JSON object only: no prose, no Markdown fences."""


def _without_titles(schema: Any, in_properties: bool = False) -> Any:
    """The schema minus pydantic's "title" entries, which cost tokens and say nothing new."""
    if isinstance(schema, dict):
        return {
            key: _without_titles(value, in_properties=key == "properties" and not in_properties)
            for key, value in schema.items()
            if in_properties or key != "title"
        }
    if isinstance(schema, list):
        return [_without_titles(item) for item in schema]
    return schema


def config_schema_json(action_type: str) -> str:
    """The action's config JSON schema as compact text, for prompts."""
    schema = ACTIONS[action_type].config_model.model_json_schema(by_alias=True)
    return json.dumps(_without_titles(schema), separators=(",", ":"))


def _action_section(action_type: str) -> str:
    spec = ACTIONS[action_type]
    return (
        f'### "{action_type}"\n{spec.description}\n'
        f"action_config schema: {config_schema_json(action_type)}"
    )


def _example_section() -> str:
    """The example plan, left out if it uses an action type that is no longer registered."""
    if any(task["action_type"] not in ACTIONS for task in EXAMPLE_PLAN["tasks"]):
        return ""
    tasks = ",\n".join(f"  {json.dumps(task)}" for task in EXAMPLE_PLAN["tasks"])
    goal = json.dumps(EXAMPLE_PLAN["goal"])
    return "Example plan:\n" + '{"goal": ' + goal + ', "tasks": [\n' + tasks + "\n]}"


def planner_system_prompt(action_types: list[str] | None = None) -> str:
    """The planner's instructions: the plan format, the action types it may use, references
    and rules."""
    actions = "\n\n".join(_action_section(name) for name in offered(action_types))
    sections = [PLAN_FORMAT, f"## Action types\n\n{actions}", REFERENCE_RULES, _example_section()]
    return "\n\n".join(section for section in [*sections, FINAL_RULES] if section)


def planner_messages(goal: str, previous_reply: str | None, errors: list[str]) -> list[dict]:
    """The conversation for one planning call; a repair round adds the rejected reply and why."""
    messages: list[dict] = [{"role": "user", "content": f"Goal: {goal}"}]
    if previous_reply is None and not errors:
        return messages
    if previous_reply is not None:
        messages.append({"role": "assistant", "content": previous_reply})
    problems = "\n".join(f"- {error}" for error in errors) or "- (no details)"
    messages.append(
        {
            "role": "user",
            "content": (
                f"That plan is not valid:\n{problems}\n\nAnswer with the complete corrected "
                "plan as one JSON object: every task, not only the ones you changed."
            ),
        }
    )
    return messages


def parse_plan(text: str, goal: str) -> tuple[Plan | None, list[str]]:
    """The plan in an LLM reply, or None and readable errors; never raises for a bad reply."""
    try:
        data = extract_json(text)
    except ValueError as error:
        return None, [str(error)]
    if isinstance(data, dict) and "tasks" not in data and isinstance(data.get("plan"), dict):
        data = data["plan"]
    if not isinstance(data, dict):
        kind = type(data).__name__
        return None, [f'the reply is a JSON {kind}, not an object with "goal" and "tasks"']
    if not data.get("goal"):
        data = {**data, "goal": goal}
    try:
        return Plan.model_validate(data), []
    except ValidationError as error:
        return None, [format_validation_error(error)]
    except (TypeError, ValueError) as error:
        return None, [f"the plan is not valid: {error}"]


def planning_request(request: PlanRequest, max_tokens: int) -> JSONRequest:
    """The LLM request for one planning round (a repair round carries the rejected reply)."""
    return JSONRequest(
        purpose="plan",
        system=planner_system_prompt(request.action_types),
        messages=planner_messages(request.goal, request.previous_reply, request.errors),
        schema_name="plan",
        schema=plan_decoding_schema(request.action_types),
        prompt_schema=plan_outline_schema(request.action_types),
        max_tokens=max_tokens,
    )


async def draft_plan(
    client: LLMClient, request: PlanRequest, max_tokens: int, attempt: int = 1
) -> PlanDraft:
    """One planning call: a valid plan, or the reply and why it is not one (for a repair
    round). Raises `LLMError` when no endpoint answers."""
    reply = await client.complete_json(planning_request(request, max_tokens), attempt)
    return plan_draft(reply, request.goal)


def plan_draft(reply: LLMReply, goal: str) -> PlanDraft:
    """What a planning reply makes: its plan, or the reply and why it is not one, with what
    the call cost."""
    plan, errors = parse_plan(reply.text, goal)
    return PlanDraft(
        plan=plan, reply=reply.text, errors=errors, usage=reply.usage, calls=[reply.call]
    )
