"""The run's event stream: Temporal's workflow streams (an offset-addressed log in the workflow,
read by long-poll Updates, carried across continue-as-new), fed with the events between the
run's marks (core/events.py). The events are the workflow's memory only: publishing them adds
nothing to the history, so a replay rebuilds the same log."""

from __future__ import annotations

from collections.abc import Callable

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

    def start_from(self, view: events.RunView) -> None:
        """Tell nothing of what the view holds already (a run taken up after continue-as-new,
        whose events the carried stream has)."""
        self._mark = events.mark(view)

    async def follow(self, view: Callable[[], events.RunView]) -> None:
        """Tell the events after every step of the run that changed what the events say."""
        while True:
            await workflow.wait_condition(lambda: events.mark(view()) != self._mark)
            self.tell(view())

    def tell(self, view: events.RunView) -> None:
        """Publish the events since the last mark."""
        for event in events.changes(self._mark, view, workflow.now(), self._progress):
            self._topic.publish(event)
        self._mark = events.mark(view)

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
