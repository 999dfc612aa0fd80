"""EventBridge: buses, rules, targets, events; and EventBridge Scheduler.

moto's implementation, mounted in-process and made durable by :mod:`localaws.motobridge`;
the methods are AWS's operations (:class:`~localaws.motobridge.backend.MotoBackend`).
"""

from __future__ import annotations

from localaws.motobridge.backend import MotoBackend


class EventsBackend(MotoBackend):
    service = "events"


class SchedulerBackend(MotoBackend):
    service = "scheduler"
