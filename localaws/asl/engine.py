"""The run loop of one execution: states, Retry/Catch/timeouts, task dispatch, callbacks.

* :meth:`ExecutionRun.run_states` walks a :class:`~localaws.asl.states.Machine` (the whole
  state machine, a Parallel branch or a Map iteration); values flow through return values.
* :meth:`ExecutionRun.step` is the one Retry/Catch loop around a state's ``execute``.
* :meth:`ExecutionRun.failure` is the one place an exception becomes an (error, cause,
  history event) triple.
* :meth:`ExecutionRun.invoke_task` dispatches a Task: the integration's ``run`` in a worker
  thread, waited on with TimeoutSeconds, HeartbeatSeconds and cancellation; then, for
  ``.waitForTaskToken``, the wait for SendTaskSuccess/Failure/Heartbeat on the token.

History events are buffered (:class:`~localaws.asl.history.EventBuffer`); ``flush`` (the
backend's writer) is called before each Task starts and at the end, and by the backend's
timer.  What redrive needs is kept here too: the top-level state being run and its input
(the checkpoint), and the outputs of finished Map iterations and Parallel branches.
"""

from __future__ import annotations

import json
import logging
import random
import secrets
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from localaws.asl.errors import (
    ENGINE_ERRORS,
    NOT_MATCHED_BY_ALL,
    UNCATCHABLE,
    StateFailure,
    StatesError,
)
from localaws.asl.history import EventBuffer, EventType, state_entered, state_exited, to_json
from localaws.asl.integrations import Pattern, TaskRequest
from localaws.asl.jsonata import QueryEvaluationError
from localaws.asl.mock_config import MockSession
from localaws.asl.states import Cancelled, Frame, Machine, Retrier, Scope, State, TaskState
from localaws.asl.variables import Variables
from localaws.errors import ServiceError

log = logging.getLogger(__name__)

E = EventType

# Reasons a scope is cancelled for (Cancelled.reason at the top of an execution).
STOPPED = "stopped"
TIMED_OUT = "timed out"
SHUTDOWN = "shutdown"

INTERRUPTED_CAUSE = (
    "The local runtime stopped while this execution was running; its history up to then is "
    "kept. Redrive it (redrive_execution) to resume from the unfinished state."
)

# The resource type of an activity Task (its events are Activity*, not Task*).
ACTIVITY = "activity"
# Progress-memo keys of task tokens (``token:<frame prefix><state name>``).
TOKEN_MEMO = "token:"

_NOT_MATCHED_BY_TASK_FAILED = NOT_MATCHED_BY_ALL | {StatesError.TIMEOUT.value}


def error_matches(error_equals: tuple[str, ...], error: str, is_task: bool) -> bool:
    """Whether a Retrier's or Catcher's ErrorEquals matches ``error``.

    ``States.ALL`` matches every error except States.Runtime and States.DataLimitExceeded;
    on a Task, ``States.TaskFailed`` matches every error except those and States.Timeout.
    States.Runtime is never matched, even by name.
    """
    if error in UNCATCHABLE:
        return False
    for name in error_equals:
        if name == error:
            return True
        if name == StatesError.ALL and error not in NOT_MATCHED_BY_ALL:
            return True
        if name == StatesError.TASK_FAILED and is_task and error not in _NOT_MATCHED_BY_TASK_FAILED:
            return True
    return False


def retry_delay(retrier: Retrier, attempt: int) -> float:
    """Seconds before retry number ``attempt + 1`` (attempt counts from 0)."""
    delay = retrier.interval_seconds * retrier.backoff_rate**attempt
    if retrier.max_delay_seconds is not None:
        delay = min(delay, retrier.max_delay_seconds)
    if retrier.jitter == "FULL":
        delay = random.uniform(0, delay)
    return delay


def iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


class TaskFailure(StateFailure):
    """A dispatched task failed or timed out (recorded as TaskFailed / TaskTimedOut)."""

    def __init__(
        self, error: str, cause: str, resource_type: str, resource: str, timed_out: bool = False
    ):
        super().__init__(error, cause)
        self.resource_type = resource_type
        self.resource = resource
        self.timed_out = timed_out


# ------------------------------------------------------------------ task tokens


class _TokenSlot:
    __slots__ = ("beat", "cause", "error", "finished", "output", "wake")

    def __init__(self, wake: threading.Event | None, beat: Callable[[], None] | None):
        self.wake = wake
        self.beat = beat
        self.finished = False
        self.output: Any = None
        self.error: str | None = None
        self.cause: str | None = None


class TaskTokens:
    """Open task tokens of every execution, for SendTaskSuccess/Failure/Heartbeat."""

    def __init__(self, remember_closed: int = 10_000):
        self._open: dict[str, _TokenSlot] = {}
        self._closed: OrderedDict[str, bool] = OrderedDict()  # token -> timed out
        self._remember = remember_closed
        self._lock = threading.Lock()

    def reserve(self, token: str) -> None:
        """A token handed out (in the task's parameters) before its task waits on it: an
        answer that comes first is kept for :meth:`open`."""
        with self._lock:
            self._open.setdefault(token, _TokenSlot(None, None))

    def open(self, token: str, wake: threading.Event, beat: Callable[[], None]) -> _TokenSlot:
        with self._lock:
            slot = self._open.get(token)
            if slot is None:
                slot = self._open[token] = _TokenSlot(wake, beat)
            else:
                slot.wake, slot.beat = wake, beat
            finished = slot.finished
        if finished:
            wake.set()
        return slot

    def close(self, token: str, timed_out: bool) -> None:
        with self._lock:
            self._open.pop(token, None)
            self._closed[token] = timed_out
            while len(self._closed) > self._remember:
                self._closed.popitem(last=False)

    def _slot(self, token: str) -> _TokenSlot:
        slot = self._open.get(token)
        if slot is not None and not slot.finished:
            return slot
        if slot is not None or token in self._closed:
            raise ServiceError(
                "TaskTimedOut", "Task Timed Out: the task of this token is already closed"
            )
        raise ServiceError("TaskDoesNotExist", "Task does not exist: no open task has this token")

    def succeed(self, token: str, output: Any) -> None:
        with self._lock:
            slot = self._slot(token)
            slot.output, slot.finished = output, True
            wake = slot.wake
        if wake is not None:
            wake.set()

    def fail(self, token: str, error: str, cause: str) -> None:
        with self._lock:
            slot = self._slot(token)
            slot.error, slot.cause, slot.finished = error, cause, True
            wake = slot.wake
        if wake is not None:
            wake.set()

    def is_open(self, token: str) -> bool:
        """Whether a task still waits for this token."""
        with self._lock:
            slot = self._open.get(token)
        return slot is not None and not slot.finished

    def heartbeat(self, token: str) -> None:
        with self._lock:
            slot = self._slot(token)
            beat = slot.beat
        if beat is not None:
            beat()


# ------------------------------------------------------------------ the run


@dataclass
class Outcome:
    status: str  # SUCCEEDED, FAILED, ABORTED, TIMED_OUT
    output: str | None = None
    error: str | None = None
    cause: str | None = None


class ExecutionRun:
    """One run (the first, or a redrive) of one execution."""

    def __init__(
        self,
        *,
        arn: str,
        name: str,
        state_machine_arn: str,
        state_machine_name: str,
        role_arn: str,
        machine: Machine,
        input_text: str,
        start_time: float,
        region: str,
        buffer: EventBuffer,
        tokens: TaskTokens,
        flush: Callable[[ExecutionRun, Outcome | None], None],
        mocks: MockSession | None = None,
        redrive_count: int = 0,
        redrive_time: float | None = None,
        resume: dict[str, Any] | None = None,
        memo: dict[str, Any] | None = None,
        last_event_id: int = 0,
        continued: bool = False,
        in_flight: dict[str, int] | None = None,
        chain_from: int | None = None,
    ):
        """``resume`` is a checkpoint from :meth:`take_progress` (``state``, ``input`` and,
        when any were set, the top-level ``variables``) to redrive from.

        ``continued``: the run continues an execution a dead process left RUNNING from
        ``resume`` (no ExecutionRedriven event, the redrive count unchanged); ``in_flight``
        counts, by state name, the Task states whose task was in flight then: the first
        tasks of those states run with ``TaskRequest.resumed``; ``chain_from``: the event the
        continued state's entry follows (default ``last_event_id``), so that the events the
        buffer replays chain as they did."""
        self.arn = arn
        self.machine = machine
        self.input_text = input_text
        self.start_time = start_time
        self.region = region
        self.buffer = buffer
        self.tokens = tokens
        self.mocks = mocks
        self.role_arn = role_arn
        self.redrive_count = redrive_count
        self.resume = resume
        self.last_event_id = last_event_id
        self.chain_from = last_event_id if chain_from is None else chain_from
        self.continued = continued
        self._in_flight = dict(in_flight or {})
        self._flush = flush
        self.root = Scope()
        self.stop_error: str | None = None
        self.stop_cause: str | None = None
        self.done = threading.Event()
        self.outcome: Outcome | None = None
        execution_ctx: dict[str, Any] = {
            "Id": arn,
            "Input": _loads(input_text),
            "Name": name,
            "RoleArn": role_arn,
            "StartTime": iso(start_time),
            "RedriveCount": redrive_count,
        }
        if redrive_time is not None:
            execution_ctx["RedriveTime"] = iso(redrive_time)
        self._execution_ctx = execution_ctx
        self._machine_ctx = {"Id": state_machine_arn, "Name": state_machine_name}
        # redrive bookkeeping, read by take_progress() under _progress_lock
        self._progress_lock = threading.Lock()
        self.checkpoint: dict[str, Any] | None = None
        self._checkpoint_dirty = False
        self._checkpoints = 0
        self._redrive_memo = dict(memo or {})
        self._memo_new: dict[str, Any] = {}
        self._memo_clear = False
        self._memo_dirty = bool(memo)  # memo entries exist (stored or pending)
        self._flush_lock = threading.Lock()
        # Tokens of interrupted tasks whose message went out before the crash (TaskSubmitted
        # recorded): the resumed task only waits.  They are open again from now on, so an
        # answer sent while the execution gets back to its task is kept.
        self._submitted_tokens: set[str] = set()
        if continued:
            for key, kept in self._redrive_memo.items():
                if (
                    key.startswith(TOKEN_MEMO)
                    and isinstance(kept, dict)
                    and self._in_flight.get(kept.get("state", ""), 0) > 0
                ):
                    tokens.reserve(str(kept["token"]))
        # Runs a Distributed Map state (set by the Step Functions service, which owns child
        # executions and S3): (state, frame, effective input, retry count) -> the Map's result.
        self.map_runner: Callable[..., Any] | None = None

    # -- helpers the states call ---------------------------------------------------

    def context(
        self, state_name: str, frame: Frame, retry_count: int, token: str | None = None
    ) -> dict[str, Any]:
        ctx: dict[str, Any] = {
            "Execution": self._execution_ctx,
            "StateMachine": self._machine_ctx,
            "State": {
                "EnteredTime": iso(frame.entered),
                "Name": state_name,
                "RetryCount": retry_count,
            },
        }
        if token is not None:
            ctx["Task"] = {"Token": token}
        return ctx

    def distributed_map(self, state: Any, frame: Frame, effective: Any, retry_count: int) -> Any:
        """Run a Distributed Map state through the service's map runner."""
        if self.map_runner is None:
            raise StateFailure(
                StatesError.RUNTIME,
                f"State '{state.name}': a Distributed Map runs child executions, which needs the "
                "Step Functions service (StepFunctionsBackend), not the bare engine",
            )
        return self.map_runner(self, state, frame, effective, retry_count)

    def _resumed_task(self, state_name: str) -> bool:
        """Whether this Task state's task was in flight when the execution was interrupted
        (counted down: each interrupted task is resumed once)."""
        if not self._in_flight:
            return False
        with self._progress_lock:
            left = self._in_flight.get(state_name, 0)
            if left <= 0:
                return False
            self._in_flight[state_name] = left - 1
            return True

    def new_task_token(self, frame: Frame, state_name: str) -> str:
        """The task token of a ``.waitForTaskToken`` task, kept in the progress memo so that
        a task in flight when the execution was interrupted gets its original token back
        (a worker holding it can still answer after the restart)."""
        key = f"{TOKEN_MEMO}{frame.prefix}{state_name}"
        with self._progress_lock:
            in_flight = self._in_flight.get(state_name, 0) > 0
        if in_flight:
            found, kept = self.memo_take(key)
            if found and isinstance(kept, dict) and isinstance(kept.get("token"), str):
                token = str(kept["token"])
                self.tokens.reserve(token)
                if kept.get("submitted"):
                    self._submitted_tokens.add(token)
                return token
        token = secrets.token_urlsafe(48)
        self.tokens.reserve(token)
        self.memo_put(key, {"token": token, "state": state_name, "submitted": False})
        return token

    def memo_take(self, key: str) -> tuple[bool, Any]:
        """On a redrive: the output of a Map iteration / Parallel branch that already finished."""
        if not self._redrive_memo:
            return False, None
        with self._progress_lock:
            if key in self._redrive_memo:
                value = self._redrive_memo.pop(key)
                self._memo_new[key] = value  # still finished if this run fails too
                return True, value
        return False, None

    def memo_put(self, key: str, value: Any) -> None:
        with self._progress_lock:
            self._memo_new[key] = value
            self._memo_dirty = True

    def _checkpoint(self, name: str, data: Any, variables: Variables) -> None:
        checkpoint = {"state": name, "input": data}
        if variables.values:
            checkpoint["variables"] = variables.values  # replaced, never mutated, on assign
        self.checkpoint = checkpoint
        self._checkpoint_dirty = True
        self._checkpoints += 1
        if self._memo_dirty and self._checkpoints > 1:
            # A new top-level state: finished iterations of the previous one no longer count.
            with self._progress_lock:
                self._redrive_memo = {}
                self._memo_new = {}
                self._memo_clear = True
                self._memo_dirty = False

    def take_progress(self) -> tuple[list[Any], dict[str, Any] | None, dict[str, Any], bool]:
        """(events, checkpoint if changed, new memo entries, memo cleared) since the last call."""
        with self._progress_lock:
            checkpoint = self.checkpoint if self._checkpoint_dirty else None
            self._checkpoint_dirty = False
            memo, self._memo_new = self._memo_new, {}
            cleared, self._memo_clear = self._memo_clear, False
        return self.buffer.drain(), checkpoint, memo, cleared

    def flush(self, final: Outcome | None = None) -> None:
        """Hand buffered events and progress to the writer (with the outcome at the end)."""
        with self._flush_lock:
            self._flush(self, final)

    def stop(self, error: str | None, cause: str | None) -> None:
        self.stop_error, self.stop_cause = error, cause
        self.root.cancel(STOPPED)

    # -- the run loop --------------------------------------------------------------

    def run(self) -> Outcome:
        """Run to the end; returns the outcome (also stored in ``self.outcome``)."""
        resumed = self.resume.get("variables") if self.resume is not None else None
        frame = Frame(self.buffer, self.root, self.chain_from, "", Variables(values=resumed))
        if self.resume is None:
            frame.emit(
                E.EXECUTION_STARTED,
                {
                    "input": self.input_text,
                    "inputDetails": {"truncated": False},
                    "roleArn": self.role_arn,
                },
            )
            start, data = self.machine.start_at, _loads(self.input_text)
        else:
            if not self.continued:
                frame.emit(E.EXECUTION_REDRIVEN, {"redriveCount": self.redrive_count})
            start, data = self.resume["state"], self.resume["input"]
        timer = None
        if self.machine.timeout_seconds:
            timer = threading.Timer(self.machine.timeout_seconds, self.root.cancel, (TIMED_OUT,))
            timer.daemon = True
            timer.start()
        try:
            output = to_json(self.run_states(self.machine, data, frame, top=True, start=start))
            outcome = Outcome("SUCCEEDED", output=output)
            frame.emit(
                E.EXECUTION_SUCCEEDED, {"output": output, "outputDetails": {"truncated": False}}
            )
        except StateFailure as f:
            # A Fail state may leave Error and Cause out; so does DescribeExecution then.
            outcome = Outcome("FAILED", error=f.error or None, cause=f.cause or None)
            frame.emit(
                E.EXECUTION_FAILED,
                {k: v for k, v in (("error", f.error), ("cause", f.cause)) if v},
            )
        except Cancelled as c:
            if c.reason == TIMED_OUT:
                outcome = Outcome("TIMED_OUT", error=StatesError.TIMEOUT.value, cause="")
                frame.emit(E.EXECUTION_TIMED_OUT, {"error": StatesError.TIMEOUT.value, "cause": ""})
            elif c.reason == SHUTDOWN:
                outcome = Outcome(
                    "FAILED", error=StatesError.RUNTIME.value, cause=INTERRUPTED_CAUSE
                )
                frame.emit(E.EXECUTION_FAILED, {"error": outcome.error, "cause": outcome.cause})
            else:
                outcome = Outcome("ABORTED", error=self.stop_error, cause=self.stop_cause)
                details = {
                    k: v
                    for k, v in (("error", self.stop_error), ("cause", self.stop_cause))
                    if v is not None
                }
                frame.emit(E.EXECUTION_ABORTED, details)
        finally:
            if timer is not None:
                timer.cancel()
        self.outcome = outcome
        return outcome

    def run_states(
        self,
        machine: Machine,
        data: Any,
        frame: Frame,
        *,
        top: bool = False,
        start: str | None = None,
    ) -> Any:
        """Run states from ``start`` (default StartAt) to an end; return the last output."""
        states = machine.states
        name = start or machine.start_at
        cancelled = frame.scope.event
        while True:
            if cancelled.is_set():
                raise Cancelled(frame.scope.reason)
            state = states[name]
            if top:
                self._checkpoint(name, data, frame.variables)
            data, name = self.step(state, data, frame)  # type: ignore[assignment]
            if name is None:
                return data

    def step(self, state: State, data: Any, frame: Frame) -> tuple[Any, str | None]:
        """Run one state with its Retry and Catch; return (output, next state or None)."""
        frame.entered = time.time()
        frame.entered_id = frame.emit(state.ENTERED, state_entered(state.name, data))
        retries = 0
        attempts: list[int] | None = None
        assigned_texts: dict[str, str] | None = None
        try:
            while True:
                try:
                    output, nxt, assigned = state.execute(self, frame, data, retries)
                    if assigned is not None:
                        assigned_texts = frame.variables.assign(assigned)
                    break
                except (Cancelled, KeyboardInterrupt, SystemExit):
                    raise
                except Exception as exc:
                    error, cause = self.failure(state, frame, exc)
                if attempts is None:
                    attempts = [0] * len(state.retriers)
                delay = self._retry(state, error, attempts)
                if delay is not None:
                    frame.scope.sleep(delay)
                    retries += 1
                    continue
                for catcher in state.catchers:
                    if error_matches(catcher.error_equals, error, state.IS_TASK):
                        try:
                            output, assigned = state.caught(
                                self, frame, data, retries, catcher, error, cause
                            )
                            if assigned is not None:
                                assigned_texts = frame.variables.assign(assigned)
                        except StateFailure as exc:
                            error, cause = self.failure(state, frame, exc)
                            raise StateFailure(error, cause, located=True) from exc
                        nxt = catcher.next
                        break
                else:
                    raise StateFailure(error, cause, located=True)
                break
        except Cancelled:
            if state.ABORTED is not None:
                frame.emit(state.ABORTED)
            raise
        if state.EXITED is not None:
            frame.emit(state.EXITED, state_exited(state.name, output, assigned_texts))
        return output, nxt

    @staticmethod
    def _retry(state: State, error: str, attempts: list[int]) -> float | None:
        for i, retrier in enumerate(state.retriers):
            if error_matches(retrier.error_equals, error, state.IS_TASK):
                if attempts[i] >= retrier.max_attempts:
                    return None
                delay = retry_delay(retrier, attempts[i])
                attempts[i] += 1
                return delay
        return None

    def failure(self, state: State, frame: Frame, exc: Exception) -> tuple[str, str]:
        """The one place an exception becomes (error, cause) and its history events.

        An error the engine raises while evaluating the state (States.Runtime,
        States.QueryEvaluationError...) gets AWS's prefix naming the state; a JSONata
        evaluation error is also recorded as an EvaluationFailed event.
        """
        if isinstance(exc, TaskFailure):
            if exc.resource_type == ACTIVITY:
                event = E.ACTIVITY_TIMED_OUT if exc.timed_out else E.ACTIVITY_FAILED
                frame.emit(event, {"error": exc.error, "cause": exc.cause})
                return exc.error, exc.cause
            event = E.TASK_TIMED_OUT if exc.timed_out else E.TASK_FAILED
            frame.emit(
                event,
                {
                    "resourceType": exc.resource_type,
                    "resource": exc.resource,
                    "error": exc.error,
                    "cause": exc.cause,
                },
            )
            return exc.error, exc.cause
        if isinstance(exc, StateFailure):
            error, cause = exc.error, exc.cause
            if not exc.located and error in ENGINE_ERRORS:
                cause = (
                    f"An error occurred while executing the state '{state.name}' "
                    f"(entered at the event id #{frame.entered_id}). {cause}"
                )
                exc.located = True
            if isinstance(exc, QueryEvaluationError):
                frame.emit(
                    E.EVALUATION_FAILED,
                    {"error": error, "cause": cause, "location": exc.location, "state": state.name},
                )
        else:
            # A bug in this engine: fail the state with States.Runtime and keep the traceback.
            log.error(
                "state %r of %s raised an unexpected error", state.name, self.arn, exc_info=exc
            )
            error, cause = StatesError.RUNTIME.value, f"{type(exc).__name__}: {exc}"
        if state.FAILED is not None:
            frame.emit(state.FAILED)
        return error, cause

    # -- tasks ---------------------------------------------------------------------

    def invoke_task(
        self,
        task: TaskState,
        frame: Frame,
        params: Any,
        token: str | None,
        timeout: float | None,
        heartbeat: float | None,
    ) -> Any:
        """Schedule, start and wait for a Task; return its result or raise TaskFailure."""
        resolved = task.resolved
        if resolved is None:
            raise StateFailure(
                StatesError.RUNTIME, f"Task '{task.name}': resource {task.resource} is not resolved"
            )
        resource_type = resolved.service
        resource = (
            task.resource
            if resolved.action == "legacy"
            else resolved.action
            if resolved.pattern is Pattern.REQUEST_RESPONSE
            else f"{resolved.action}.{resolved.pattern.value}"
        )
        activity = resource_type == ACTIVITY
        scheduled: dict[str, Any] = (
            {
                "resource": task.resource,
                "input": to_json(params),
                "inputDetails": {"truncated": False},
            }
            if activity
            else {
                "resourceType": resource_type,
                "resource": resource,
                "region": self.region,
                "parameters": to_json(params),
            }
        )
        if timeout is not None:
            scheduled["timeoutInSeconds"] = int(timeout)
        if heartbeat is not None:
            scheduled["heartbeatInSeconds"] = int(heartbeat)
        frame.emit(E.ACTIVITY_SCHEDULED if activity else E.TASK_SCHEDULED, scheduled)
        self.flush()
        names = {"resourceType": resource_type, "resource": resource}
        if not activity:
            frame.emit(E.TASK_STARTED, names)
        if self.mocks is not None and self.mocks.mocks(task.name):
            try:
                result = self.mocks.call(task.name)
            except StateFailure as f:
                raise TaskFailure(f.error, f.cause, resource_type, resource) from f
        else:
            result = self._dispatch(
                task, frame, params, token, timeout, heartbeat, resource_type, resource
            )
        output = {"output": to_json(result), "outputDetails": {"truncated": False}}
        if activity:
            frame.emit(E.ACTIVITY_SUCCEEDED, output)
        else:
            frame.emit(E.TASK_SUCCEEDED, {**names, **output})
        return result

    def _dispatch(
        self,
        task: TaskState,
        frame: Frame,
        params: Any,
        token: str | None,
        timeout: float | None,
        heartbeat: float | None,
        resource_type: str,
        resource: str,
    ) -> Any:
        resolved = task.resolved
        assert resolved is not None
        wake = threading.Event()
        last_beat = [time.monotonic()]

        def beat() -> None:
            last_beat[0] = time.monotonic()

        request = TaskRequest(
            resource=task.resource,
            service=resolved.service,
            action=resolved.action,
            pattern=resolved.pattern,
            parameters=params,
            execution_arn=self.arn,
            state_name=task.name,
            task_token=token,
            timeout_seconds=timeout,
            heartbeat=beat,
            submitted=lambda response: frame.emit(
                E.TASK_SUBMITTED,
                {
                    "resourceType": resource_type,
                    "resource": resource,
                    "output": to_json(response),
                    "outputDetails": {"truncated": False},
                },
            ),
            started=lambda worker: frame.emit(
                E.ACTIVITY_STARTED, {} if worker is None else {"workerName": worker}
            ),
        )
        done: list[Any] = [False, None, None]  # finished, result, exception

        def work() -> None:
            try:
                done[1] = resolved.integration.run(request)
            except BaseException as e:  # handed to the waiting thread below
                done[2] = e
            done[0] = True
            wake.set()

        scope = frame.scope
        scope.listen(wake)
        scope.listen(request.cancelled)
        slot = self.tokens.open(token, wake, beat) if token is not None else None
        timed_out = False
        started = time.monotonic()
        try:
            request.resumed = self._resumed_task(task.name)
            submitted = token is not None and request.resumed and token in self._submitted_tokens
            if submitted:  # its message went out before the crash: only the wait is left
                self._submitted_tokens.discard(token)
                done[0] = True
            else:
                threading.Thread(target=work, name=f"task {task.name}", daemon=True).start()
            try:
                self._await(
                    lambda: done[0], wake, scope, request, started, timeout, heartbeat, last_beat
                )
                exc = done[2]
                if isinstance(exc, StateFailure):
                    raise TaskFailure(exc.error, exc.cause, resource_type, resource) from exc
                if exc is not None:
                    log.error(
                        "integration %s raised an unexpected error", task.resource, exc_info=exc
                    )
                    raise TaskFailure(
                        StatesError.TASK_FAILED,
                        f"{type(exc).__name__}: {exc}",
                        resource_type,
                        resource,
                    ) from exc
                if slot is None:
                    return done[1]
                if resource_type != ACTIVITY and not submitted:
                    frame.emit(
                        E.TASK_SUBMITTED,
                        {
                            "resourceType": resource_type,
                            "resource": resource,
                            "output": to_json(done[1]),
                            "outputDetails": {"truncated": False},
                        },
                    )
                    self.memo_put(
                        f"{TOKEN_MEMO}{frame.prefix}{task.name}",
                        {"token": token, "state": task.name, "submitted": True},
                    )
                self._await(
                    lambda: slot.finished,
                    wake,
                    scope,
                    request,
                    started,
                    timeout,
                    heartbeat,
                    last_beat,
                )
                if slot.error is not None:
                    raise TaskFailure(slot.error, slot.cause or "", resource_type, resource)
                return slot.output
            except TaskFailure as f:
                timed_out = f.timed_out
                if timed_out:
                    f.resource_type, f.resource = resource_type, resource
                raise
        finally:
            scope.unlisten(wake)
            scope.unlisten(request.cancelled)
            if token is not None:
                self.tokens.close(token, timed_out)

    @staticmethod
    def _await(
        finished: Callable[[], bool],
        wake: threading.Event,
        scope: Scope,
        request: TaskRequest,
        started: float,
        timeout: float | None,
        heartbeat: float | None,
        last_beat: list[float],
    ) -> None:
        """Wait until ``finished()``; raise Cancelled or a timeout TaskFailure first if due."""
        while True:
            if scope.event.is_set():  # before finished(): a cancelled task may return early
                request.cancelled.set()
                raise Cancelled(scope.reason)
            if finished():
                return
            now = time.monotonic()
            wait: float | None = None
            if timeout is not None:
                left = started + timeout - now
                if left <= 0:
                    request.cancelled.set()
                    raise TaskFailure(StatesError.TIMEOUT, "", "", "", timed_out=True)
                wait = left
            if heartbeat is not None:
                left = last_beat[0] + heartbeat - now
                if left <= 0:
                    request.cancelled.set()
                    raise TaskFailure(StatesError.HEARTBEAT_TIMEOUT, "", "", "", timed_out=True)
                wait = left if wait is None else min(wait, left)
            wake.wait(wait)
            wake.clear()


def _loads(text: str) -> Any:
    return json.loads(text)
