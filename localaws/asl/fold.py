"""An execution history folded into state visits: the one reading of a history.

``fold(events)`` takes a ``GetExecutionHistory`` event list (AWS's shapes, from the local
backend, a local server or AWS itself) and returns one :class:`Visit` per state entry, in
tree order: each visit is followed by the visits made inside it (a Map's iterations, a
Parallel's branches).  The graph, the console, the CLI, the notebook and the AWS follow loop
render this and nothing else, so they agree.

How events are attributed:

* ``previousEventId`` chains the events of one sequential thread (the execution, one Map
  iteration, one Parallel branch); an event belongs to the thread of its previous event.
  ``MapIterationStarted`` opens an iteration (its index is in the event); an entry whose
  previous event is a ``ParallelStateStarted`` opens a branch (AWS's history does not number
  branches: they are numbered in the order their first event appears).  Events without ids
  (hand-made lists) are read as one thread.
* A visit fails on a failure event (``TaskFailed``, ``TaskTimedOut``, ``MapStateFailed``...);
  a later attempt (``TaskScheduled``, ``MapStateStarted``...) makes it ``running`` again
  with one more attempt; leaving it (its ``...StateExited``, or entering the next state of
  the same thread) after a failure means a ``Catch`` took it: ``caught``.
* ``ExecutionFailed`` / ``ExecutionTimedOut`` / ``ExecutionAborted`` end every open visit:
  the execution's error lands on the top-level visit it ended in.  ``ExecutionRedriven``
  starts a new generation: visits before it keep their status (a failed first attempt
  stays ``failed`` in generation 0).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any


class Status(StrEnum):
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"  # the state failed and nothing caught it (or not yet: see Visit.pending)
    CAUGHT = "caught"  # the state failed and a Catch moved on
    RETRYING = "retrying"  # an attempt failed; the next attempt is running
    CANCELLED = "cancelled"  # stopped: StopExecution, a failed sibling, a timeout around it


TERMINAL_STATUSES = frozenset({Status.SUCCEEDED, Status.FAILED, Status.CAUGHT, Status.CANCELLED})

# One step of a visit's path: (Map or Parallel state name, iteration or branch index).
Step = tuple[str, int]


@dataclass
class Visit:
    """One entry into a state, and what became of it."""

    name: str
    type: str  # Task, Pass, Choice, Wait, Succeed, Fail, Map, Parallel
    path: tuple[Step, ...] = ()  # () top level; (("Map", 2),) = in iteration 2 of Map
    status: Status = Status.RUNNING
    generation: int = 0  # 0 = the first run; n = the n-th redrive
    attempts: int = 1
    error: str | None = None
    cause: str | None = None
    input: str | None = None  # JSON text, as in the history
    output: str | None = None
    entered: Any = None  # the event timestamp (datetime from boto3 and the backends)
    exited: Any = None
    resource: str | None = None  # "<resourceType>:<resource>" of the last task scheduled
    children: list[Visit] = field(default_factory=list, repr=False, compare=False)
    # What the console's state inspector shows: the request as sent (a task's resolved
    # Parameters), the result before ResultSelector/ResultPath/OutputPath, the variables the
    # state assigned, and (error, cause) of each failed attempt that was retried.
    parameters: str | None = field(default=None, repr=False, compare=False)
    result: str | None = field(default=None, repr=False, compare=False)
    assigned: dict[str, str] | None = field(default=None, repr=False, compare=False)
    retries: list[tuple[str | None, str | None]] = field(
        default_factory=list, repr=False, compare=False
    )
    pending: bool = field(default=False, repr=False, compare=False)  # failed, not yet decided

    @property
    def depth(self) -> int:
        return len(self.path)

    @property
    def seconds(self) -> float | None:
        if self.entered is None or self.exited is None:
            return None
        try:
            return float((self.exited - self.entered).total_seconds())
        except (TypeError, AttributeError):
            return float(self.exited - self.entered)

    @property
    def input_value(self) -> Any:
        return _parse(self.input)

    @property
    def output_value(self) -> Any:
        return _parse(self.output)


def _parse(text: str | None) -> Any:
    if text is None:
        return None
    try:
        return json.loads(text)
    except (TypeError, json.JSONDecodeError):
        return text


# -- the fold ------------------------------------------------------------------------


class _Thread:
    """One sequential thread of the history: where its visits go and its current visit."""

    __slots__ = ("branches", "current", "owner", "path", "visits")

    def __init__(self, path: tuple[Step, ...], visits: list[Visit], owner: Visit | None):
        self.path = path
        self.visits = visits  # the list new visits are appended to (the owner's children)
        self.owner = owner  # the Map / Parallel visit this thread runs inside
        self.current: Visit | None = None
        self.branches = 0  # Parallel: branches opened from this thread's ParallelStateStarted


class _Folder:
    def __init__(self) -> None:
        self.top: list[Visit] = []
        self.root = _Thread((), self.top, None)
        self.thread_of: dict[int, _Thread] = {}
        self.type_of: dict[int, str] = {}
        self.generation = 0
        self.threads: list[_Thread] = [self.root]

    # -- attribution -----------------------------------------------------------------

    def thread(self, event: Mapping[str, Any], previous: int | None) -> _Thread:
        prev = event.get("previousEventId") if "id" in event else previous
        parent = self.thread_of.get(prev or 0, self.root) if prev else self.root
        kind = event["type"]
        if kind == "MapIterationStarted" and parent.current is not None:
            details = event.get("mapIterationStartedEventDetails") or {}
            return self._open(parent, int(details.get("index", 0)))
        if (
            kind.endswith("StateEntered")
            and prev
            and self.type_of.get(prev) == "ParallelStateStarted"
            and parent.current is not None
        ):
            index = parent.branches
            parent.branches += 1
            return self._open(parent, index)
        return parent

    def _open(self, parent: _Thread, index: int) -> _Thread:
        owner = parent.current
        assert owner is not None
        thread = _Thread((*owner.path, (owner.name, index)), owner.children, owner)
        self.threads.append(thread)
        return thread

    # -- the events ------------------------------------------------------------------

    def add(self, event: Mapping[str, Any], previous: int | None) -> int | None:
        thread = self.thread(event, previous)
        kind: str = event["type"]
        if kind == "ParallelStateStarted":
            thread.branches = 0  # a retry's branches are numbered again
        event_id = event.get("id", (previous or 0) + 1)
        self.thread_of[event_id] = thread
        self.type_of[event_id] = kind
        handler = HANDLERS.get(kind)
        if handler is not None:
            handler(self, thread, event)
        return int(event_id)

    def enter(self, thread: _Thread, event: Mapping[str, Any]) -> None:
        details = event.get("stateEnteredEventDetails") or {}
        self._leave(thread, event)
        kind = event["type"].removesuffix("StateEntered")
        visit = Visit(
            name=details.get("name", "?"),
            type=kind,
            path=thread.path,
            generation=self.generation,
            input=details.get("input"),
            entered=event.get("timestamp"),
        )
        if kind == "Fail":
            visit.status, visit.exited = Status.FAILED, event.get("timestamp")
        thread.visits.append(visit)
        thread.current = visit

    def exit(self, thread: _Thread, event: Mapping[str, Any]) -> None:
        visit = thread.current
        if visit is None:
            return
        exited = event.get("stateExitedEventDetails") or {}
        visit.output = exited.get("output")
        if exited.get("assignedVariables"):
            visit.assigned = dict(exited["assignedVariables"])
        visit.exited = event.get("timestamp")
        visit.status = Status.CAUGHT if visit.pending else Status.SUCCEEDED
        visit.pending = False
        if visit.status is Status.SUCCEEDED:
            visit.error = visit.cause = None

    def _leave(self, thread: _Thread, event: Mapping[str, Any]) -> None:
        """A new entry in ``thread``: a failed current visit was caught (no exit event)."""
        visit = thread.current
        if visit is not None and visit.pending:
            visit.status, visit.pending = Status.CAUGHT, False
            visit.exited = visit.exited or event.get("timestamp")

    def attempt(self, thread: _Thread, event: Mapping[str, Any]) -> None:
        """A task scheduled, a Map / Parallel started: a first attempt or a retry."""
        visit = thread.current
        if visit is None:
            return
        if visit.pending:  # the previous attempt failed: this one is a retry
            visit.retries.append((visit.error, visit.cause))
            visit.attempts += 1
            visit.pending = False
            visit.status = Status.RETRYING
            visit.exited = None
        elif visit.status is not Status.RETRYING:
            visit.status = Status.RUNNING
        details = event.get("taskScheduledEventDetails")
        if details:
            visit.resource = f"{details.get('resourceType')}:{details.get('resource')}"
            visit.parameters = details.get("parameters")

    def progress(self, thread: _Thread, event: Mapping[str, Any]) -> None:
        """A task started or submitted: nothing changes but the status stays live."""

    def task_succeeded(self, thread: _Thread, event: Mapping[str, Any]) -> None:
        visit = thread.current
        if visit is not None:
            visit.status = Status.RUNNING
            visit.error = visit.cause = None
            visit.result = (event.get("taskSucceededEventDetails") or {}).get("output")

    def failed(self, thread: _Thread, event: Mapping[str, Any]) -> None:
        """A failure of the current visit (a task, an activity, a Map run, an evaluation)."""
        visit = thread.current
        if visit is None:
            return
        details = _details(event)
        visit.status, visit.pending = Status.FAILED, True
        visit.exited = event.get("timestamp")
        if details.get("error") is not None or details.get("cause") is not None:
            visit.error, visit.cause = details.get("error"), details.get("cause")

    def container_failed(self, thread: _Thread, event: Mapping[str, Any]) -> None:
        """MapStateFailed / ParallelStateFailed: no details; the error is the inner one."""
        visit = thread.current
        if visit is None:
            return
        self.failed(thread, event)
        for nested in _walk(visit.children, ordered=False):
            nested.pending = False  # a branch / iteration failed for good
        inner = _failed_inside(visit)
        if inner is not None:
            visit.error, visit.cause = inner.error, inner.cause

    def aborted(self, thread: _Thread, event: Mapping[str, Any]) -> None:
        visit = thread.current
        if visit is not None and visit.status not in (Status.SUCCEEDED, Status.CAUGHT):
            visit.status, visit.pending = Status.CANCELLED, False
            visit.exited = visit.exited or event.get("timestamp")

    def iteration_ended(self, thread: _Thread, event: Mapping[str, Any]) -> None:
        if event["type"] == "MapIterationAborted":
            for visit in thread.visits:
                if visit.path == thread.path and visit.status in (
                    Status.RUNNING,
                    Status.RETRYING,
                ):
                    visit.status = Status.CANCELLED
                    visit.exited = visit.exited or event.get("timestamp")
        elif event["type"] == "MapIterationFailed":
            for visit in thread.visits:
                if visit.path == thread.path and visit.pending:
                    visit.pending = False  # failed for good: the iteration failed

    def execution_started(self, thread: _Thread, event: Mapping[str, Any]) -> None:
        self.root.current = None

    def redriven(self, thread: _Thread, event: Mapping[str, Any]) -> None:
        self.generation += 1
        self.root.current = None

    def execution_succeeded(self, thread: _Thread, event: Mapping[str, Any]) -> None:
        for visit in self._open_visits():
            if visit.pending:  # failed inside a branch that did not matter in the end
                visit.pending = False
                continue
            visit.status = Status.SUCCEEDED
            visit.exited = visit.exited or event.get("timestamp")

    def execution_ended(self, thread: _Thread, event: Mapping[str, Any]) -> None:
        """ExecutionFailed / ExecutionTimedOut / ExecutionAborted: close every open visit."""
        kind = event["type"]
        details = _details(event)
        ts = event.get("timestamp")
        last = self.top[-1] if self.top and self.top[-1].generation == self.generation else None
        for visit in self._open_visits():
            if visit.pending:
                visit.pending = False  # failed, and nothing caught it
            elif visit.status in (Status.RUNNING, Status.RETRYING):
                visit.status = (
                    Status.FAILED
                    if kind == "ExecutionFailed" and visit is last
                    else Status.CANCELLED
                )
                visit.exited = visit.exited or ts
        if last is None:
            return
        error = details.get("error")
        cause = details.get("cause")
        if kind == "ExecutionTimedOut":
            last.status = Status.FAILED
            last.error, last.cause = error or "States.Timeout", cause or last.cause
            last.exited = last.exited or ts
        elif kind == "ExecutionAborted":
            if last.status is Status.CANCELLED:
                last.error = error if error is not None else last.error
                last.cause = cause if cause is not None else last.cause
        elif last.status is Status.FAILED and (error is not None or cause is not None):
            # The execution failed in this state: its error is the one the user sees (a Fail
            # state's Error, a Map's tolerated-failure threshold).
            last.error = error if error is not None else last.error
            last.cause = cause if cause is not None else last.cause

    def _open_visits(self) -> list[Visit]:
        out: list[Visit] = []
        for visit in _walk(self.top, ordered=False):
            if visit.generation == self.generation and (
                visit.pending or visit.status in (Status.RUNNING, Status.RETRYING)
            ):
                out.append(visit)
        return out


def _details(event: Mapping[str, Any]) -> dict[str, Any]:
    for key, value in event.items():
        if key.endswith("EventDetails") and isinstance(value, dict):
            return value
    return {}


def _walk(visits: Iterable[Visit], *, ordered: bool = True) -> Iterable[Visit]:
    """Depth first; ``ordered``: a container's visits by iteration / branch index, each
    iteration's in event order (else all in event order)."""
    for visit in visits:
        yield visit
        inner = visit.children
        if ordered:
            inner = sorted(inner, key=lambda v: v.path[-1][1])
        yield from _walk(inner, ordered=ordered)


def _failed_inside(visit: Visit) -> Visit | None:
    """The last visit inside ``visit`` that failed and was not caught (a Map's cause)."""
    found = None
    for inner in _walk(visit.children, ordered=False):
        if inner.status is Status.FAILED:
            found = inner
    return found


Handler = Callable[[_Folder, _Thread, Mapping[str, Any]], None]

# Every event type of botocore's HistoryEvent -> what it does to the visits (a test checks
# that the keys are exactly botocore's list).
HANDLERS: dict[str, Handler] = {
    "ExecutionStarted": _Folder.execution_started,
    "ExecutionSucceeded": _Folder.execution_succeeded,
    "ExecutionFailed": _Folder.execution_ended,
    "ExecutionAborted": _Folder.execution_ended,
    "ExecutionTimedOut": _Folder.execution_ended,
    "ExecutionRedriven": _Folder.redriven,
    "EvaluationFailed": _Folder.failed,
    # tasks: service integrations, activities, legacy Lambda resources
    "TaskScheduled": _Folder.attempt,
    "TaskStarted": _Folder.progress,
    "TaskSubmitted": _Folder.progress,
    "TaskSucceeded": _Folder.task_succeeded,
    "TaskFailed": _Folder.failed,
    "TaskTimedOut": _Folder.failed,
    "TaskStartFailed": _Folder.failed,
    "TaskSubmitFailed": _Folder.failed,
    "ActivityScheduled": _Folder.attempt,
    "ActivityStarted": _Folder.progress,
    "ActivitySucceeded": _Folder.task_succeeded,
    "ActivityFailed": _Folder.failed,
    "ActivityTimedOut": _Folder.failed,
    "ActivityScheduleFailed": _Folder.failed,
    "LambdaFunctionScheduled": _Folder.attempt,
    "LambdaFunctionStarted": _Folder.progress,
    "LambdaFunctionSucceeded": _Folder.task_succeeded,
    "LambdaFunctionFailed": _Folder.failed,
    "LambdaFunctionTimedOut": _Folder.failed,
    "LambdaFunctionScheduleFailed": _Folder.failed,
    "LambdaFunctionStartFailed": _Folder.failed,
    # Map and Parallel
    "MapStateStarted": _Folder.attempt,
    "MapStateSucceeded": _Folder.progress,
    "MapStateFailed": _Folder.container_failed,
    "MapStateAborted": _Folder.aborted,
    "MapIterationStarted": _Folder.progress,
    "MapIterationSucceeded": _Folder.progress,
    "MapIterationFailed": _Folder.iteration_ended,
    "MapIterationAborted": _Folder.iteration_ended,
    "MapRunStarted": _Folder.progress,
    "MapRunSucceeded": _Folder.progress,
    "MapRunFailed": _Folder.failed,
    "MapRunAborted": _Folder.aborted,
    "MapRunRedriven": _Folder.attempt,
    "ParallelStateStarted": _Folder.attempt,
    "ParallelStateSucceeded": _Folder.progress,
    "ParallelStateFailed": _Folder.container_failed,
    "ParallelStateAborted": _Folder.aborted,
    "TaskStateAborted": _Folder.aborted,
    "WaitStateAborted": _Folder.aborted,
}
for _kind in ("Pass", "Task", "Choice", "Wait", "Succeed", "Fail", "Map", "Parallel"):
    HANDLERS[f"{_kind}StateEntered"] = _Folder.enter
    if _kind != "Fail":
        HANDLERS[f"{_kind}StateExited"] = _Folder.exit


def fold(events: Iterable[Mapping[str, Any]]) -> list[Visit]:
    """Every state visit of a history, in tree order (each visit, then the visits inside it)."""
    folder = _Folder()
    previous: int | None = None
    for event in events:
        previous = folder.add(event, previous)
    return list(_walk(folder.top))


def top_level(visits: Iterable[Visit]) -> list[Visit]:
    return [v for v in visits if not v.path]


def statuses(visits: Iterable[Visit]) -> dict[str, str]:
    """Top-level state name -> the status of its last visit (what the graph colours)."""
    return {v.name: v.status.value for v in visits if not v.path}


def last_visit(visits: Iterable[Visit], name: str) -> Visit | None:
    """The last top-level visit of ``name``."""
    found = None
    for visit in visits:
        if visit.name == name and not visit.path:
            found = visit
    return found
