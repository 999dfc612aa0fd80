"""EventBridge: buses, rules, targets, events; and EventBridge Scheduler.

moto's implementation, mounted in-process and made durable by :mod:`localaws.motobridge`;
the methods are AWS's operations (:class:`~localaws.motobridge.backend.MotoBackend`).
What runs: :mod:`.dispatcher` (rules' targets get the events that match) and
:mod:`.scheduler` (``rate``/``cron`` rules) and :mod:`.aws_sources` (SageMaker and Step
Functions state-change events), all started with the services bridge.
"""

from __future__ import annotations

from functools import cached_property
from typing import TYPE_CHECKING

from localaws.motobridge.backend import MotoBackend

if TYPE_CHECKING:
    from localaws.events.aws_sources import StateChangeEvents
    from localaws.events.dispatcher import EventsDispatcher
    from localaws.events.scheduler import Scheduler
    from localaws.motobridge.bridge import MotoBridge


class EventsBackend(MotoBackend):
    service = "events"
    _scheduler: Scheduler | None = None
    _state_changes: StateChangeEvents | None = None

    @cached_property
    def dispatcher(self) -> EventsDispatcher:
        from localaws.events.dispatcher import EventsDispatcher

        return EventsDispatcher(self.runtime)

    def attach(self, bridge: MotoBridge) -> None:
        """Called when the services bridge opens: observe PutEvents, run the schedules."""
        from localaws.events.aws_sources import StateChangeEvents
        from localaws.events.scheduler import Scheduler

        bridge.observe(self.dispatcher.observe)
        self.dispatcher.outbox.start()
        self._scheduler = Scheduler(self.runtime, self.dispatcher)
        self._scheduler.start()
        self._state_changes = StateChangeEvents(self.runtime)
        self._state_changes.prime()
        self._state_changes.start()

    def close(self) -> None:
        if self._state_changes is not None:
            self._state_changes.stop()
            self._state_changes.join(timeout=10)
            self._state_changes = None
        if self._scheduler is not None:
            self._scheduler.stop()
            self._scheduler.join(timeout=10)
            self._scheduler = None
        if "dispatcher" in self.__dict__:
            self.dispatcher.outbox.stop()


class SchedulerBackend(MotoBackend):
    service = "scheduler"
