"""Questions to people (`ask` tasks): which wait, whether an answer is accepted, and a
question's round, which waits in the workflow for the `answer` Update. A refused answer is
refused by the Update's validator: it never reaches the history."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from agentic.core.actions.ask import AskConfig, accepted_answers, answer_problem
    from agentic.core.errors import ErrorType
    from agentic.core.messages import AnswerRequest, Question, RunOptions, TaskResult, TaskStatus
    from agentic.core.plan import Task
    from agentic.workflows.execution import Parent, TaskFailed, failure


class Questions:
    """The questions waiting for an answer, by task id (`pick`, `orders[3]`), and the answers
    given to them that their rounds have not taken yet; `asked` counts the questions asked
    (a for-each starts another item when one of its items asks)."""

    def __init__(self) -> None:
        self.waiting: dict[str, Question] = {}
        self.asked = 0
        self._answers: dict[str, AnswerRequest] = {}

    def refusal(self, request: AnswerRequest) -> str:
        """Why the answer is refused ("" when it is accepted): its task asks nothing now, it
        was answered already, or the value is not an accepted answer (the schema's error)."""
        question = self.waiting.get(request.task)
        if question is None:
            asking = ", ".join(self.waiting) or "none"
            return f"task {request.task!r} waits for no answer (tasks asking now: {asking})"
        if request.task in self._answers:
            return f"task {request.task!r} was answered already"
        schema = accepted_answers(question.answer_schema, question.choices)
        problem = answer_problem(schema, request.value)
        return f"the answer does not fit the question's schema: {problem}" if problem else ""

    def give(self, request: AnswerRequest) -> None:
        """Keep an accepted answer for its task's round."""
        self._answers[request.task] = request

    async def ask(
        self,
        result: TaskResult,
        config: AskConfig,
        options: RunOptions,
        publish: Callable[[], None],
    ) -> Any:
        """Ask, and wait for the answer (the task waits holding no execution slot); at the
        timeout, the default, or TaskFailed (NoAnswer) when there is none."""
        timeout = config.timeout or options.approval_timeout_seconds
        self.waiting[result.task_id] = Question(
            task_id=result.task_id, question=config.question, answer_schema=config.answer_schema,
            choices=config.choices, timeout_seconds=timeout, default=config.default,
        )  # fmt: skip
        result.question, result.status = config.question, TaskStatus.WAITING_ANSWER
        self.asked += 1
        publish()
        try:
            await workflow.wait_condition(
                lambda: result.task_id in self._answers, timeout=timedelta(seconds=timeout)
            )
            answer = self._answers[result.task_id]
        except TimeoutError:
            if config.default is None:
                message = f"no answer within {timeout:g}s, and the question has no default"
                raise TaskFailed(failure(message, ErrorType.NO_ANSWER)) from None
            answer = AnswerRequest(task=result.task_id, value=config.default, by="timeout")
        finally:
            self.waiting.pop(result.task_id, None)
            self._answers.pop(result.task_id, None)
            result.status = TaskStatus.RUNNING
        result.answered_by = answer.by or "someone"
        return answer.value


async def run_question(
    task: Task,
    config: AskConfig,
    activity_id: str,
    options: RunOptions,
    outputs: dict[str, Any],
    parent: Parent,
) -> tuple[Any, int]:
    """A question's round: the answer (the run's Questions, through `parent.ask`)."""
    if outputs:
        message = (
            "the question refers to outputs kept in the blob store: refer to a smaller part "
            "of them (a path into the output)"
        )
        raise TaskFailed(failure(message, ErrorType.INVALID_INPUT))
    assert parent.ask is not None, "a question's round needs the run's questions"
    return await parent.ask(config), 1
