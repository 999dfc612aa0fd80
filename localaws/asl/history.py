"""Execution history: AWS's event types, their detail members, and the in-memory buffer.

Event type names and detail member names are those of the ``HistoryEvent`` shape in
botocore's ``stepfunctions`` service model (checked by the tests).  Events are buffered in
memory per execution and written to SQLite in batches by :meth:`EventBuffer.drain`; the
engine drains before a Task starts, when an execution ends, and on a short timer.
"""

from __future__ import annotations

import itertools
import json
import threading
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any


class EventType(StrEnum):
    EXECUTION_STARTED = "ExecutionStarted"
    EXECUTION_SUCCEEDED = "ExecutionSucceeded"
    EXECUTION_FAILED = "ExecutionFailed"
    EXECUTION_ABORTED = "ExecutionAborted"
    EXECUTION_TIMED_OUT = "ExecutionTimedOut"
    EXECUTION_REDRIVEN = "ExecutionRedriven"
    PASS_STATE_ENTERED = "PassStateEntered"
    PASS_STATE_EXITED = "PassStateExited"
    TASK_STATE_ENTERED = "TaskStateEntered"
    TASK_STATE_EXITED = "TaskStateExited"
    TASK_STATE_ABORTED = "TaskStateAborted"
    TASK_SCHEDULED = "TaskScheduled"
    TASK_STARTED = "TaskStarted"
    TASK_SUBMITTED = "TaskSubmitted"
    TASK_SUCCEEDED = "TaskSucceeded"
    TASK_FAILED = "TaskFailed"
    TASK_TIMED_OUT = "TaskTimedOut"
    CHOICE_STATE_ENTERED = "ChoiceStateEntered"
    CHOICE_STATE_EXITED = "ChoiceStateExited"
    WAIT_STATE_ENTERED = "WaitStateEntered"
    WAIT_STATE_EXITED = "WaitStateExited"
    WAIT_STATE_ABORTED = "WaitStateAborted"
    SUCCEED_STATE_ENTERED = "SucceedStateEntered"
    SUCCEED_STATE_EXITED = "SucceedStateExited"
    FAIL_STATE_ENTERED = "FailStateEntered"
    MAP_STATE_ENTERED = "MapStateEntered"
    MAP_STATE_STARTED = "MapStateStarted"
    MAP_STATE_SUCCEEDED = "MapStateSucceeded"
    MAP_STATE_FAILED = "MapStateFailed"
    MAP_STATE_ABORTED = "MapStateAborted"
    MAP_STATE_EXITED = "MapStateExited"
    MAP_ITERATION_STARTED = "MapIterationStarted"
    MAP_ITERATION_SUCCEEDED = "MapIterationSucceeded"
    MAP_ITERATION_FAILED = "MapIterationFailed"
    MAP_ITERATION_ABORTED = "MapIterationAborted"
    PARALLEL_STATE_ENTERED = "ParallelStateEntered"
    PARALLEL_STATE_STARTED = "ParallelStateStarted"
    PARALLEL_STATE_SUCCEEDED = "ParallelStateSucceeded"
    PARALLEL_STATE_FAILED = "ParallelStateFailed"
    PARALLEL_STATE_ABORTED = "ParallelStateAborted"
    PARALLEL_STATE_EXITED = "ParallelStateExited"
    EVALUATION_FAILED = "EvaluationFailed"
    MAP_RUN_STARTED = "MapRunStarted"
    MAP_RUN_SUCCEEDED = "MapRunSucceeded"
    MAP_RUN_FAILED = "MapRunFailed"
    MAP_RUN_ABORTED = "MapRunAborted"
    MAP_RUN_REDRIVEN = "MapRunRedriven"
    ACTIVITY_SCHEDULED = "ActivityScheduled"
    ACTIVITY_STARTED = "ActivityStarted"
    ACTIVITY_SUCCEEDED = "ActivitySucceeded"
    ACTIVITY_FAILED = "ActivityFailed"
    ACTIVITY_TIMED_OUT = "ActivityTimedOut"


E = EventType

# The HistoryEvent member that carries each event type's details (None: no details).
DETAILS_MEMBER: dict[str, str | None] = {
    E.EXECUTION_STARTED: "executionStartedEventDetails",
    E.EXECUTION_SUCCEEDED: "executionSucceededEventDetails",
    E.EXECUTION_FAILED: "executionFailedEventDetails",
    E.EXECUTION_ABORTED: "executionAbortedEventDetails",
    E.EXECUTION_TIMED_OUT: "executionTimedOutEventDetails",
    E.EXECUTION_REDRIVEN: "executionRedrivenEventDetails",
    E.TASK_SCHEDULED: "taskScheduledEventDetails",
    E.TASK_STARTED: "taskStartedEventDetails",
    E.TASK_SUBMITTED: "taskSubmittedEventDetails",
    E.TASK_SUCCEEDED: "taskSucceededEventDetails",
    E.TASK_FAILED: "taskFailedEventDetails",
    E.TASK_TIMED_OUT: "taskTimedOutEventDetails",
    E.MAP_STATE_STARTED: "mapStateStartedEventDetails",
    E.MAP_ITERATION_STARTED: "mapIterationStartedEventDetails",
    E.MAP_ITERATION_SUCCEEDED: "mapIterationSucceededEventDetails",
    E.MAP_ITERATION_FAILED: "mapIterationFailedEventDetails",
    E.MAP_ITERATION_ABORTED: "mapIterationAbortedEventDetails",
    E.FAIL_STATE_ENTERED: "stateEnteredEventDetails",
    E.EVALUATION_FAILED: "evaluationFailedEventDetails",
    E.MAP_RUN_STARTED: "mapRunStartedEventDetails",
    E.MAP_RUN_FAILED: "mapRunFailedEventDetails",
    E.MAP_RUN_REDRIVEN: "mapRunRedrivenEventDetails",
    E.ACTIVITY_SCHEDULED: "activityScheduledEventDetails",
    E.ACTIVITY_STARTED: "activityStartedEventDetails",
    E.ACTIVITY_SUCCEEDED: "activitySucceededEventDetails",
    E.ACTIVITY_FAILED: "activityFailedEventDetails",
    E.ACTIVITY_TIMED_OUT: "activityTimedOutEventDetails",
}
for _t in EventType:
    if _t.value.endswith("StateEntered"):
        DETAILS_MEMBER[_t] = "stateEnteredEventDetails"
    elif _t.value.endswith("StateExited"):
        DETAILS_MEMBER.setdefault(_t, "stateExitedEventDetails")
    else:
        DETAILS_MEMBER.setdefault(_t, None)

# Detail members that carry execution data (dropped when includeExecutionData is False).
DATA_MEMBERS = ("input", "output", "parameters", "assignedVariables")

_NOT_TRUNCATED = {"truncated": False}


def to_json(value: Any) -> str:
    """The JSON text AWS puts in history events and describe responses."""
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def state_entered(name: str, data: Any) -> dict[str, Any]:
    return {"name": name, "input": to_json(data), "inputDetails": _NOT_TRUNCATED}


def state_exited(name: str, data: Any, assigned: dict[str, str] | None = None) -> dict[str, Any]:
    """StateExited details; ``assigned`` maps each variable the state set to its JSON text."""
    details = {"name": name, "output": to_json(data), "outputDetails": _NOT_TRUNCATED}
    if assigned:
        details["assignedVariables"] = assigned
        details["assignedVariablesDetails"] = _NOT_TRUNCATED
    return details


def error_details(error: str, cause: str) -> dict[str, Any]:
    return {"error": error, "cause": cause}


# One buffered event: (id, previousEventId, timestamp, type, details or None).
Event = tuple[int, int, float, str, dict[str, Any] | None]


def _replay_key(
    previous_id: int, event_type: str, details: dict[str, Any] | None
) -> tuple[int, str, Any, Any]:
    """What identifies an event in its thread of control: the event it follows, its type
    and, for state and iteration events, the state's name and the iteration's index."""
    if not details:
        return previous_id, event_type, None, None
    return previous_id, event_type, details.get("name"), details.get("index")


class EventBuffer:
    """Events of one execution not yet written to the database.

    ``add`` is safe to call from the threads of Map iterations and Parallel branches.

    ``recorded``: the events an execution continued after a crash had already recorded for
    the state it continues from.  Running that state again emits them again; each one that
    follows the same event, with the same type (and state name, iteration index), is the
    event already recorded: ``add`` returns its id and records nothing, so the history reads
    as one uninterrupted run.  The first event that differs ends the replay in its thread
    (it chains from a new id, which no recorded event follows).
    """

    __slots__ = ("_ids", "_lock", "_pending", "_recorded")

    def __init__(self, next_id: int = 1, recorded: list[Event] | None = None):
        self._ids = itertools.count(next_id)
        self._pending: list[Event] = []
        self._lock = threading.Lock()
        self._recorded = {_replay_key(e[1], e[3], e[4]): e[0] for e in recorded or ()}

    def add(
        self, event_type: str, previous_id: int, details: dict[str, Any] | None, ts: float
    ) -> int:
        with self._lock:
            if self._recorded:
                replayed = self._recorded.pop(_replay_key(previous_id, event_type, details), None)
                if replayed is not None:
                    return replayed
            event_id = next(self._ids)
            self._pending.append((event_id, previous_id, ts, event_type, details))
        return event_id

    def drain(self) -> list[Event]:
        """Take the pending events (the caller writes them)."""
        with self._lock:
            events, self._pending = self._pending, []
        return events


def row_to_event(
    event_id: int,
    previous_id: int,
    ts: float,
    event_type: str,
    details_json: str | None,
    include_data: bool = True,
) -> dict[str, Any]:
    """A stored event as GetExecutionHistory returns it."""
    event: dict[str, Any] = {
        "timestamp": datetime.fromtimestamp(ts, UTC),
        "type": event_type,
        "id": event_id,
        "previousEventId": previous_id,
    }
    member = DETAILS_MEMBER.get(event_type)
    if member is not None and details_json is not None:
        details = json.loads(details_json)
        if not include_data:
            for key in DATA_MEMBERS:
                details.pop(key, None)
        event[member] = details
    return event


_TASK_ENDS = frozenset({EventType.TASK_SUCCEEDED, EventType.TASK_FAILED, EventType.TASK_TIMED_OUT})


def in_flight_tasks(events: list[Event], state: str | None) -> dict[str, int]:
    """Of a history cut short (its process died), the Task states whose task was scheduled
    and never ended, counted by state name; only those after the last entry into ``state``
    (the top-level state the execution continues from), so earlier interruptions do not count.

    Events of one thread of control chain by ``previousEventId``: a task's end leads back
    to its TaskScheduled, a TaskScheduled to its state's TaskStateEntered."""
    by_id = {e[0]: e for e in events}
    entry = last_entry(events, state)
    since = entry[0] if entry is not None else 0
    ended: set[int] = set()
    for e in events:
        if e[3] in _TASK_ENDS:
            prev = by_id.get(e[1])
            while prev is not None and prev[3] != EventType.TASK_SCHEDULED:
                prev = by_id.get(prev[1])
            if prev is not None:
                ended.add(prev[0])
    counts: dict[str, int] = {}
    for e in events:
        if e[3] != EventType.TASK_SCHEDULED or e[0] in ended or e[0] < since:
            continue
        prev = by_id.get(e[1])
        while prev is not None and prev[3] != EventType.TASK_STATE_ENTERED:
            prev = by_id.get(prev[1])
        if prev is not None:
            name = (prev[4] or {}).get("name")
            if isinstance(name, str):
                counts[name] = counts.get(name, 0) + 1
    return counts


def last_entry(events: list[Event], state: str | None) -> Event | None:
    """The last StateEntered event of ``state`` in a history (None: never entered)."""
    found = None
    if state is not None:
        for e in events:
            if e[3].endswith("StateEntered") and (e[4] or {}).get("name") == state:
                found = e
    return found
