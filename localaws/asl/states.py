"""One class per ASL state type, parsed once from a (validated) definition.

Each state implements only its own evaluation, :meth:`State.execute`, which takes the
state's raw input and returns ``(output, next state name or None at the end)`` or raises
:class:`~localaws.asl.errors.StateFailure`.  Retry, Catch, timeouts, history events around
the state and the run loop are the engine's (:mod:`localaws.asl.engine`), through the
``run`` object passed in.

This module also holds the two primitives states and engine share: :class:`Scope` (a tree
of cancellation: execution stop/timeout, a failed Map iteration aborting its siblings) and
:class:`Frame` (one sequential thread of control: its scope, its chain of history events and
its key for redrive bookkeeping).
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any, ClassVar

from localaws.asl.choice import choose, parse_timestamp
from localaws.asl.errors import StateFailure, StatesError
from localaws.asl.history import EventBuffer, EventType
from localaws.asl.integrations import Pattern, Resolved
from localaws.asl.paths import (
    apply_input_path,
    apply_output_path,
    apply_result_path,
    payload_template,
    query,
)

if TYPE_CHECKING:
    from localaws.asl.engine import ExecutionRun

E = EventType

# AWS runs at most 40 iterations of an inline Map state at a time.
INLINE_MAP_MAX_CONCURRENCY = 40


# ------------------------------------------------------------------ shared primitives


class Cancelled(Exception):
    """The scope a state runs in was cancelled (stop, timeout, shutdown, sibling failure)."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


class Scope:
    """A node in the cancellation tree; cancelling it cancels its children and wakes waiters."""

    __slots__ = ("_children", "_listeners", "_lock", "event", "parent", "reason")

    def __init__(self, parent: Scope | None = None):
        self.event = threading.Event()
        self.reason = ""
        self.parent = parent
        self._children: set[Scope] = set()
        self._listeners: set[threading.Event] = set()
        self._lock = threading.Lock()
        if parent is not None:
            with parent._lock:
                parent._children.add(self)
            if parent.event.is_set():
                self.cancel(parent.reason)

    def cancel(self, reason: str) -> None:
        with self._lock:
            if self.event.is_set():
                return
            self.reason = reason
            self.event.set()
            listeners, children = list(self._listeners), list(self._children)
        for listener in listeners:
            listener.set()
        for child in children:
            child.cancel(reason)

    def check(self) -> None:
        if self.event.is_set():
            raise Cancelled(self.reason)

    def sleep(self, seconds: float) -> None:
        """Sleep, or raise Cancelled as soon as the scope is cancelled."""
        if seconds > 0 and self.event.wait(seconds):
            raise Cancelled(self.reason)
        self.check()

    def listen(self, event: threading.Event) -> None:
        """Set ``event`` when this scope is cancelled (now, if it already is)."""
        with self._lock:
            self._listeners.add(event)
            cancelled = self.event.is_set()
        if cancelled:
            event.set()

    def unlisten(self, event: threading.Event) -> None:
        with self._lock:
            self._listeners.discard(event)

    def close(self) -> None:
        if self.parent is not None:
            with self.parent._lock:
                self.parent._children.discard(self)


class Frame:
    """One sequential thread of control: its scope, its history chain, its redrive key."""

    __slots__ = ("buffer", "entered", "prefix", "prev", "scope")

    def __init__(self, buffer: EventBuffer, scope: Scope, prev: int, prefix: str):
        self.buffer = buffer
        self.scope = scope
        self.prev = prev
        self.prefix = prefix
        self.entered = 0.0

    def emit(self, event_type: str, details: dict[str, Any] | None = None) -> int:
        self.prev = self.buffer.add(event_type, self.prev, details, time.time())
        return self.prev

    def fork(self, scope: Scope, prefix: str) -> Frame:
        return Frame(self.buffer, scope, self.prev, prefix)


# ------------------------------------------------------------------ Retry and Catch


@dataclass(frozen=True)
class Retrier:
    error_equals: tuple[str, ...]
    interval_seconds: float = 1.0
    max_attempts: int = 3
    backoff_rate: float = 2.0
    max_delay_seconds: float | None = None
    jitter: str = "NONE"

    @classmethod
    def parse(cls, spec: dict[str, Any]) -> Retrier:
        return cls(
            tuple(spec["ErrorEquals"]),
            float(spec.get("IntervalSeconds", 1)),
            int(spec.get("MaxAttempts", 3)),
            float(spec.get("BackoffRate", 2.0)),
            None if spec.get("MaxDelaySeconds") is None else float(spec["MaxDelaySeconds"]),
            spec.get("JitterStrategy", "NONE"),
        )


@dataclass(frozen=True)
class Catcher:
    error_equals: tuple[str, ...]
    next: str
    result_path: str | None = "$"

    @classmethod
    def parse(cls, spec: dict[str, Any]) -> Catcher:
        return cls(tuple(spec["ErrorEquals"]), spec["Next"], spec.get("ResultPath", "$"))


# ------------------------------------------------------------------ states


class Machine:
    """A set of states with a start: the whole state machine, a Parallel branch, a Map processor."""

    __slots__ = ("start_at", "states", "timeout_seconds")

    def __init__(self, start_at: str, states: dict[str, State], timeout_seconds: float | None):
        self.start_at = start_at
        self.states = states
        self.timeout_seconds = timeout_seconds


class State:
    """Fields every state type shares; subclasses parse their own and implement execute()."""

    TYPE: ClassVar[str]
    ENTERED: ClassVar[str]
    EXITED: ClassVar[str | None]
    FAILED: ClassVar[str | None] = None  # the event the engine records when the state fails
    ABORTED: ClassVar[str | None] = None  # the event recorded when the state is cancelled
    IS_TASK: ClassVar[bool] = False

    def __init__(self, name: str, spec: dict[str, Any]):
        self.name = name
        self.next: str | None = spec.get("Next")
        self.input_path: str | None = spec.get("InputPath", "$")
        self.output_path: str | None = spec.get("OutputPath", "$")
        # Validation refuses these on the state types that do not take them.
        self.parameters: Any = spec.get("Parameters")
        self.result_selector: Any = spec.get("ResultSelector")
        self.result_path: str | None = spec.get("ResultPath", "$")
        self.retriers = tuple(Retrier.parse(r) for r in spec.get("Retry", ()))
        self.catchers = tuple(Catcher.parse(c) for c in spec.get("Catch", ()))
        # Build the context object only for states that can read it.
        self.needs_context = "$$" in json.dumps(spec)

    def execute(
        self, run: ExecutionRun, frame: Frame, data: Any, retry_count: int
    ) -> tuple[Any, str | None]:
        raise NotImplementedError

    def _context(self, run: ExecutionRun, frame: Frame, retry_count: int) -> dict[str, Any] | None:
        return run.context(self.name, frame, retry_count) if self.needs_context else None

    def _effective_input(self, data: Any, ctx: Any) -> Any:
        """InputPath, then Parameters: what the state works on."""
        effective = apply_input_path(data, self.input_path, ctx)
        if self.parameters is not None:
            effective = payload_template(self.parameters, effective, ctx)
        return effective

    def _state_output(self, data: Any, result: Any, ctx: Any) -> Any:
        """ResultSelector, ResultPath (onto the raw input), then OutputPath."""
        if self.result_selector is not None:
            result = payload_template(self.result_selector, result, ctx)
        out = apply_result_path(data, self.result_path, result)
        return apply_output_path(out, self.output_path, ctx)


class PassState(State):
    TYPE = "Pass"
    ENTERED, EXITED = E.PASS_STATE_ENTERED, E.PASS_STATE_EXITED

    def __init__(self, name: str, spec: dict[str, Any]):
        super().__init__(name, spec)
        self.has_result = "Result" in spec
        self.result = spec.get("Result")

    def execute(
        self, run: ExecutionRun, frame: Frame, data: Any, retry_count: int
    ) -> tuple[Any, str | None]:
        ctx = self._context(run, frame, retry_count)
        effective = self._effective_input(data, ctx)
        result = self.result if self.has_result else effective
        return self._state_output(data, result, ctx), self.next


class TaskState(State):
    TYPE = "Task"
    ENTERED, EXITED = E.TASK_STATE_ENTERED, E.TASK_STATE_EXITED
    ABORTED = E.TASK_STATE_ABORTED
    IS_TASK = True

    def __init__(self, name: str, spec: dict[str, Any], resolve: Callable[[str], Resolved] | None):
        super().__init__(name, spec)
        self.resource: str = spec["Resource"]
        self.resolved: Resolved | None = resolve(self.resource) if resolve is not None else None
        self.timeout_seconds: float | None = spec.get("TimeoutSeconds")
        self.timeout_path: str | None = spec.get("TimeoutSecondsPath")
        self.heartbeat_seconds: float | None = spec.get("HeartbeatSeconds")
        self.heartbeat_path: str | None = spec.get("HeartbeatSecondsPath")
        self.token_pattern = (
            self.resolved is not None and self.resolved.pattern is Pattern.WAIT_FOR_TASK_TOKEN
        )
        self.needs_context = self.needs_context or self.token_pattern

    def _seconds(
        self, fixed: float | None, path: str | None, data: Any, field: str
    ) -> float | None:
        if path is None:
            return fixed
        value = query(path, data)
        if isinstance(value, bool) or not isinstance(value, int | float) or value <= 0:
            raise StateFailure(
                StatesError.RUNTIME,
                f"State '{self.name}': {field} '{path}' gave {json.dumps(value)}; "
                "expected a positive number of seconds",
            )
        return value

    def execute(
        self, run: ExecutionRun, frame: Frame, data: Any, retry_count: int
    ) -> tuple[Any, str | None]:
        token = run.new_task_token() if self.token_pattern else None
        ctx = run.context(self.name, frame, retry_count, token) if self.needs_context else None
        effective = apply_input_path(data, self.input_path, ctx)
        params = (
            payload_template(self.parameters, effective, ctx)
            if self.parameters is not None
            else effective
        )
        timeout = self._seconds(
            self.timeout_seconds, self.timeout_path, effective, "TimeoutSecondsPath"
        )
        heartbeat = self._seconds(
            self.heartbeat_seconds, self.heartbeat_path, effective, "HeartbeatSecondsPath"
        )
        result = run.invoke_task(self, frame, params, token, timeout, heartbeat)
        return self._state_output(data, result, ctx), self.next


class ChoiceState(State):
    TYPE = "Choice"
    ENTERED, EXITED = E.CHOICE_STATE_ENTERED, E.CHOICE_STATE_EXITED

    def __init__(self, name: str, spec: dict[str, Any]):
        super().__init__(name, spec)
        self.choices: list[dict[str, Any]] = spec["Choices"]
        self.default: str | None = spec.get("Default")

    def execute(
        self, run: ExecutionRun, frame: Frame, data: Any, retry_count: int
    ) -> tuple[Any, str | None]:
        ctx = self._context(run, frame, retry_count)
        effective = apply_input_path(data, self.input_path, ctx)
        nxt = choose(self.choices, effective, ctx) or self.default
        if nxt is None:
            raise StateFailure(
                StatesError.NO_CHOICE_MATCHED,
                f"No Choice Rule matched in state '{self.name}' and no Default is set",
            )
        return apply_output_path(effective, self.output_path, ctx), nxt


class WaitState(State):
    TYPE = "Wait"
    ENTERED, EXITED = E.WAIT_STATE_ENTERED, E.WAIT_STATE_EXITED
    ABORTED = E.WAIT_STATE_ABORTED

    def __init__(self, name: str, spec: dict[str, Any]):
        super().__init__(name, spec)
        self.seconds = spec.get("Seconds")
        self.timestamp = spec.get("Timestamp")
        self.seconds_path = spec.get("SecondsPath")
        self.timestamp_path = spec.get("TimestampPath")

    def _delay(self, effective: Any) -> float:
        if self.seconds is not None:
            return float(self.seconds)
        if self.seconds_path is not None:
            value = query(self.seconds_path, effective)
            if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
                raise StateFailure(
                    StatesError.RUNTIME,
                    f"State '{self.name}': SecondsPath '{self.seconds_path}' gave "
                    f"{json.dumps(value)}; expected a non-negative number",
                )
            return float(value)
        if self.timestamp is not None:
            stamp = self.timestamp
        else:  # validate() requires one of the four fields
            stamp = query(str(self.timestamp_path), effective)
        when = parse_timestamp(stamp)
        if when is None:
            raise StateFailure(
                StatesError.RUNTIME,
                f"State '{self.name}': {json.dumps(stamp)} is not an RFC 3339 timestamp "
                "like 2016-03-14T01:59:00Z",
            )
        return (when - datetime.now(when.tzinfo)).total_seconds()

    def execute(
        self, run: ExecutionRun, frame: Frame, data: Any, retry_count: int
    ) -> tuple[Any, str | None]:
        ctx = self._context(run, frame, retry_count)
        effective = apply_input_path(data, self.input_path, ctx)
        frame.scope.sleep(self._delay(effective))
        return apply_output_path(effective, self.output_path, ctx), self.next


class SucceedState(State):
    TYPE = "Succeed"
    ENTERED, EXITED = E.SUCCEED_STATE_ENTERED, E.SUCCEED_STATE_EXITED

    def execute(
        self, run: ExecutionRun, frame: Frame, data: Any, retry_count: int
    ) -> tuple[Any, str | None]:
        ctx = self._context(run, frame, retry_count)
        effective = apply_input_path(data, self.input_path, ctx)
        return apply_output_path(effective, self.output_path, ctx), None


class FailState(State):
    TYPE = "Fail"
    ENTERED, EXITED = E.FAIL_STATE_ENTERED, None

    def __init__(self, name: str, spec: dict[str, Any]):
        super().__init__(name, spec)
        self.error = spec.get("Error")
        self.cause = spec.get("Cause")
        self.error_path = spec.get("ErrorPath")
        self.cause_path = spec.get("CausePath")

    def _text(self, fixed: str | None, path: str | None, data: Any, ctx: Any) -> str:
        if path is None:
            return fixed or ""
        value = query(path, data, ctx)
        if not isinstance(value, str):
            raise StateFailure(
                StatesError.RUNTIME,
                f"State '{self.name}': '{path}' gave {json.dumps(value)}; expected a string",
            )
        return value

    def execute(
        self, run: ExecutionRun, frame: Frame, data: Any, retry_count: int
    ) -> tuple[Any, str | None]:
        ctx = self._context(run, frame, retry_count)
        raise StateFailure(
            self._text(self.error, self.error_path, data, ctx),
            self._text(self.cause, self.cause_path, data, ctx),
        )


def run_pool(work: Callable[[int], None], count: int, workers: int) -> None:
    """Call ``work(i)`` for i in range(count) on ``workers`` threads (inline when 1)."""
    if count == 0:
        return
    if workers <= 1:
        for i in range(count):
            work(i)
        return
    indices = iter(range(count))
    lock = threading.Lock()
    errors: list[BaseException] = []

    def loop() -> None:
        while True:
            with lock:
                i = next(indices, None)
            if i is None:
                return
            try:
                work(i)
            except BaseException as e:  # a bug in work(): re-raised in the caller below
                errors.append(e)
                return

    threads = [threading.Thread(target=loop, daemon=True) for _ in range(min(workers, count))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if errors:
        raise errors[0]


class _Outcomes:
    """Results of a Map's iterations (or a Parallel's branches) and the first failure."""

    def __init__(self, count: int):
        self.results: list[Any] = [None] * count
        self.failed = 0
        self.failure: StateFailure | None = None
        self.lock = threading.Lock()


class ParallelState(State):
    TYPE = "Parallel"
    ENTERED, EXITED = E.PARALLEL_STATE_ENTERED, E.PARALLEL_STATE_EXITED
    FAILED, ABORTED = E.PARALLEL_STATE_FAILED, E.PARALLEL_STATE_ABORTED

    def __init__(self, name: str, spec: dict[str, Any], resolve: Callable[[str], Resolved] | None):
        super().__init__(name, spec)
        self.branches = [parse_machine(b, resolve) for b in spec["Branches"]]

    def execute(
        self, run: ExecutionRun, frame: Frame, data: Any, retry_count: int
    ) -> tuple[Any, str | None]:
        ctx = self._context(run, frame, retry_count)
        effective = self._effective_input(data, ctx)
        frame.emit(E.PARALLEL_STATE_STARTED)
        scope = Scope(frame.scope)
        outcomes = _Outcomes(len(self.branches))

        def branch(i: int) -> None:
            key = f"{frame.prefix}{self.name}/{i}"
            found, value = run.memo_take(key)
            if found:
                outcomes.results[i] = value
                return
            sub = frame.fork(scope, key + "/")
            try:
                outcomes.results[i] = run.run_states(self.branches[i], effective, sub)
            except Cancelled:
                return
            except StateFailure as f:
                with outcomes.lock:
                    if outcomes.failure is None:
                        outcomes.failure = f
                scope.cancel("branch failed")
                return
            run.memo_put(key, outcomes.results[i])

        try:
            run_pool(branch, len(self.branches), len(self.branches))
        finally:
            scope.close()
        frame.scope.check()
        if outcomes.failure is not None:
            raise StateFailure(outcomes.failure.error, outcomes.failure.cause)
        frame.emit(E.PARALLEL_STATE_SUCCEEDED)
        return self._state_output(data, outcomes.results, ctx), self.next


class MapState(State):
    TYPE = "Map"
    ENTERED, EXITED = E.MAP_STATE_ENTERED, E.MAP_STATE_EXITED
    FAILED, ABORTED = E.MAP_STATE_FAILED, E.MAP_STATE_ABORTED

    def __init__(self, name: str, spec: dict[str, Any], resolve: Callable[[str], Resolved] | None):
        super().__init__(name, spec)
        processor: dict[str, Any] = (
            spec.get("ItemProcessor") or spec["Iterator"]
        )  # validate() requires one
        self.processor = parse_machine(processor, resolve)
        config = processor.get("ProcessorConfig") or {}
        # Distributed Map: the Step Functions service runs it (run.distributed_map).
        self.distributed = config.get("Mode") == "DISTRIBUTED"
        self.execution_type: str = config.get("ExecutionType", "STANDARD")
        self.processor_spec = processor
        self.item_reader = spec.get("ItemReader")
        self.item_batcher = spec.get("ItemBatcher")
        self.result_writer = spec.get("ResultWriter")
        self.label: str | None = spec.get("Label")
        if self.distributed:
            self.needs_context = True
        self.items_path: str = spec.get("ItemsPath", "$")
        # Map's Parameters (legacy) select each item; they are not applied to the Map's input.
        self.item_selector = spec.get("ItemSelector", spec.get("Parameters"))
        self.max_concurrency = spec.get("MaxConcurrency", 0)
        self.max_concurrency_path = spec.get("MaxConcurrencyPath")
        self.tolerated_count = spec.get("ToleratedFailureCount")
        self.tolerated_count_path = spec.get("ToleratedFailureCountPath")
        self.tolerated_pct = spec.get("ToleratedFailurePercentage")
        self.tolerated_pct_path = spec.get("ToleratedFailurePercentagePath")

    def _number(self, fixed: Any, path: str | None, data: Any, field: str) -> Any:
        if path is None:
            return fixed
        value = query(path, data)
        if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
            raise StateFailure(
                StatesError.RUNTIME,
                f"State '{self.name}': {field} '{path}' gave {json.dumps(value)}; "
                "expected a non-negative number",
            )
        return value

    def _item_context(
        self, run: ExecutionRun, frame: Frame, retry_count: int, i: int, item: Any
    ) -> Any:
        ctx = run.context(self.name, frame, retry_count)
        ctx["Map"] = {"Item": {"Index": i, "Value": item}}
        return ctx

    def execute(
        self, run: ExecutionRun, frame: Frame, data: Any, retry_count: int
    ) -> tuple[Any, str | None]:
        ctx = self._context(run, frame, retry_count)
        effective = apply_input_path(data, self.input_path, ctx)
        if self.distributed:
            result = run.distributed_map(self, frame, effective, retry_count)
            return self._state_output(data, result, ctx), self.next
        items = query(self.items_path, effective, ctx) if self.items_path != "$" else effective
        if not isinstance(items, list):
            raise StateFailure(
                StatesError.RUNTIME,
                f"State '{self.name}': ItemsPath '{self.items_path}' gave "
                f"{json.dumps(items)[:200]}; expected an array",
            )
        concurrency = int(
            self._number(
                self.max_concurrency, self.max_concurrency_path, effective, "MaxConcurrencyPath"
            )
        )
        tolerated = self._number(
            self.tolerated_count, self.tolerated_count_path, effective, "ToleratedFailureCountPath"
        )
        tolerated_pct = self._number(
            self.tolerated_pct, self.tolerated_pct_path, effective, "ToleratedFailurePercentagePath"
        )
        tolerant = tolerated is not None or tolerated_pct is not None
        count = len(items)
        frame.emit(E.MAP_STATE_STARTED, {"length": count})
        scope = Scope(frame.scope)
        outcomes = _Outcomes(count)
        name = self.name

        def over_threshold(failed: int) -> bool:
            if not tolerant:
                return True
            if tolerated is not None and failed > tolerated:
                return True
            return tolerated_pct is not None and failed * 100.0 / count > tolerated_pct

        def iteration(i: int) -> None:
            key = f"{frame.prefix}{name}/{i}"
            found, value = run.memo_take(key)
            if found:
                outcomes.results[i] = value
                return
            sub = frame.fork(scope, key + "/")
            detail = {"name": name, "index": i}
            if scope.event.is_set():
                return
            sub.emit(E.MAP_ITERATION_STARTED, detail)
            try:
                item = items[i]
                if self.item_selector is not None:
                    item = payload_template(
                        self.item_selector,
                        effective,
                        self._item_context(run, frame, retry_count, i, item),
                    )
                result = run.run_states(self.processor, item, sub)
            except Cancelled:
                sub.emit(E.MAP_ITERATION_ABORTED, detail)
                return
            except StateFailure as f:
                sub.emit(E.MAP_ITERATION_FAILED, detail)
                with outcomes.lock:
                    outcomes.failed += 1
                    outcomes.results[i] = {"Error": f.error, "Cause": f.cause}
                    exceeded = over_threshold(outcomes.failed)
                    if exceeded and outcomes.failure is None:
                        outcomes.failure = (
                            f
                            if not tolerant
                            else StateFailure(
                                StatesError.EXCEED_TOLERATED_FAILURE_THRESHOLD,
                                f"Map state '{name}': {outcomes.failed} of {count} iterations "
                                "failed, more than the tolerated failure threshold",
                            )
                        )
                if exceeded:
                    scope.cancel("iteration failed")
                return
            sub.emit(E.MAP_ITERATION_SUCCEEDED, detail)
            outcomes.results[i] = result
            run.memo_put(key, result)

        workers = min(concurrency or INLINE_MAP_MAX_CONCURRENCY, INLINE_MAP_MAX_CONCURRENCY)
        try:
            run_pool(iteration, count, workers)
        finally:
            scope.close()
        frame.scope.check()
        if outcomes.failure is not None:
            raise StateFailure(outcomes.failure.error, outcomes.failure.cause)
        frame.emit(E.MAP_STATE_SUCCEEDED)
        return self._state_output(data, outcomes.results, ctx), self.next


STATE_TYPES: dict[str, type[State]] = {
    cls.TYPE: cls
    for cls in (
        PassState,
        TaskState,
        ChoiceState,
        WaitState,
        SucceedState,
        FailState,
        ParallelState,
        MapState,
    )
}
_NEEDS_RESOLVER = (TaskState, ParallelState, MapState)


def parse_machine(
    spec: dict[str, Any], resolve: Callable[[str], Resolved] | None = None
) -> Machine:
    """Parse a validated definition (or a branch / item processor) into state objects.

    ``resolve`` maps a Task's Resource to its integration (the registry's ``resolve``); it
    raises for an unknown resource, so an unsupported Task is refused here, at creation.
    """
    states: dict[str, State] = {}
    for name, body in spec["States"].items():
        cls = STATE_TYPES[body["Type"]]
        states[name] = cls(name, body, resolve) if cls in _NEEDS_RESOLVER else cls(name, body)  # type: ignore[call-arg]
    return Machine(spec["StartAt"], states, spec.get("TimeoutSeconds"))
