"""The console's access rules, without a browser (tests/test_console.py drives one)."""

from __future__ import annotations

import socket
from datetime import UTC, datetime

import pytest

from agentic.console.app import _iso, _start_arguments
from agentic.console.security import Guard, is_loopback
from agentic.console.views import answer_form, answer_text, answer_value
from agentic.core.messages import Question
from agentic.mcp_server import check_free


def test_a_token_is_made_only_for_another_address_without_ui_token():
    assert Guard.for_bind("127.0.0.1", None)[0].token is None
    assert Guard.for_bind("::1", None)[0].token is None
    made, was_made = Guard.for_bind("0.0.0.0", None)
    assert was_made and made.token and len(made.token) >= 24
    given, was_made = Guard.for_bind("0.0.0.0", "chosen")
    assert given.token == "chosen" and not was_made
    assert is_loopback("localhost") and not is_loopback("10.0.0.5")


def test_a_questions_form_follows_its_schema():
    def kind(**fields):
        fields = {"answer_schema": {}, **fields}
        return answer_form(Question(task_id="q", question="?", timeout_seconds=1, **fields)).kind

    assert kind(choices=["eu", "us"]) == "choice"
    assert kind(answer_schema={"type": "integer"}) == "integer"
    assert kind(answer_schema={"type": "boolean"}) == "boolean"
    assert kind(answer_schema={"type": "object"}) == "json"
    assert kind() == "string"
    assert answer_value("integer", "3") == 3 and answer_value("json", '"eu"') == "eu"
    assert answer_value("boolean", "false") is False


def test_a_start_forms_plan_must_be_a_json_object():
    with pytest.raises(ValueError, match=r"the plan is JSON but not an object"):
        _start_arguments({"plan": "[1, 2]"})
    with pytest.raises(ValueError, match=r"the plan is not JSON \(Expecting value at line 1\)"):
        _start_arguments({"plan": '{"tasks": ['})
    assert _start_arguments({"goal": "count"})["goal"] == "count"


def test_an_answer_in_words_shows_as_words_and_times_carry_their_zone():
    assert answer_text("2 adult users") == "2 adult users"
    assert answer_text({"adults": 2}) == '{\n  "adults": 2\n}'
    assert answer_text(None) == ""
    assert _iso(datetime(2026, 1, 2, 3, 4, 5)) == "2026-01-02T03:04:05+00:00"
    assert _iso(datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)) == "2026-01-02T03:04:05+00:00"


async def test_a_run_whose_memo_cannot_be_read_is_listed_without_its_cost():
    """A run started with PAYLOAD_ENCRYPTION_KEYS, listed by a console without them."""
    from temporalio.common import TypedSearchAttributes

    from agentic.client import _summary_with_memo

    class EncryptedRun:
        id, status, start_time, close_time = "sealed", None, None, None
        typed_search_attributes = TypedSearchAttributes([])

        async def memo(self):
            raise RuntimeError("payload encoding is binary/encrypted")

    summary = await _summary_with_memo(EncryptedRun())  # type: ignore[arg-type]

    assert summary.workflow_id == "sealed" and summary.cost_usd is None


def test_a_port_in_use_is_one_line_naming_it():
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with pytest.raises(ValueError) as refused:
            check_free("127.0.0.1", port, f"127.0.0.1:{port}")
    assert str(refused.value) == (
        f"cannot listen on 127.0.0.1:{port}: Address already in use; choose another port"
    ), "one line naming the address; no hint of the sample API on another port than its own"
