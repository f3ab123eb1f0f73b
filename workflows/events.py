"""The run's event stream: Temporal's workflow streams (an offset-addressed log in the workflow,
read by long-poll Updates, carried across continue-as-new), fed with the events between the
run's marks (core/events.py). The events are the workflow's memory only: publishing them adds
nothing to the history, so a replay rebuilds the same log."""

from __future__ import annotations

from collections.abc import Callable, Collection

from temporalio import workflow
from temporalio.contrib.workflow_streams import WorkflowStream, WorkflowStreamState

with workflow.unsafe.imports_passed_through():
    from agentic.core import events

# Events a run carries into its next history when it continues as new (about 250 bytes each in
# the new run's input, which Temporal limits); a reader further behind starts from the oldest
# one kept.
EVENTS_KEPT = 1000


class EventTeller:
    """Tells the run's events on its stream; built in the workflow's __init__ (the stream's
    handlers are registered there)."""

    def __init__(self, stream: WorkflowStream) -> None:
        self._stream = stream
        self._topic = stream.topic(events.TOPIC)
        self._mark = events.Mark()
        self._progress = events.Progress()
        self._table: events.TaskTable | None = None  # the tasks the mark is of

    def start_from(self, view: events.RunView, running: Collection[str] = ()) -> None:
        """Tell nothing of what the view holds already (a run taken up after continue-as-new,
        whose events the carried stream has), nor the start of the tasks `running` then."""
        self._mark = events.mark(view, running)
        self._follow_table(view)

    async def follow(self, view: Callable[[], events.RunView]) -> None:
        """Tell the events after every step of the run that changed what the events say."""
        while True:
            await workflow.wait_condition(lambda: self._due(view()))
            self.tell(view())

    def tell(self, view: events.RunView) -> None:
        """Publish the events since the last mark."""
        touched = self._table.take_touched() if view.tasks is self._table else None
        now = workflow.now()
        for event in events.changes(self._mark, view, now, self._progress, touched):
            self._topic.publish(event)
        self._mark = events.advance(self._mark, view, touched)
        self._follow_table(view)

    def _due(self, view: events.RunView) -> bool:
        table = self._table
        if table is None or view.tasks is not table or table.touched:
            return True
        return not events.run_unchanged(self._mark, view)

    def _follow_table(self, view: events.RunView) -> None:
        """From now on, look only at the tasks the view's table says were touched (a table the
        run puts in its place, on a new plan, is looked at whole)."""
        assert isinstance(view.tasks, events.TaskTable), "the run's tasks are a TaskTable"
        self._table = view.tasks
        self._table.take_touched()

    def close(self) -> None:
        """Release the readers waiting for more (the run ends, or continues as new): their
        next read finds the run ended, or its next history."""
        self._stream.detach_pollers()

    def state(self) -> WorkflowStreamState:
        """The stream to carry into the next history: the last EVENTS_KEPT events."""
        state = self._stream.get_state()
        if len(state.log) > EVENTS_KEPT:
            self._stream.truncate(state.base_offset + len(state.log) - EVENTS_KEPT)
            state = self._stream.get_state()
        return state
