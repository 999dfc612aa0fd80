"""One class per ASL state type, parsed once from a (validated) definition.

Each state implements only its own evaluation, :meth:`State.execute`, which takes the
state's raw input and returns ``(output, next state name or None at the end)`` or raises
:class:`~localaws.asl.errors.StateFailure`.  Retry, Catch, timeouts, history events around
the state and the run loop are the engine's (:mod:`localaws.asl.engine`), through the
``run`` object passed in.

Each state runs in one of two query languages (``QueryLanguage``, per state or inherited
from the top of the definition).  JSONPath states process data with InputPath, Parameters,
ResultSelector, ResultPath and OutputPath (:mod:`localaws.asl.paths`); JSONata states with
Arguments and Output, whose ``{% %}`` expressions see ``$states`` (input, result,
errorOutput, context) and the variables (:mod:`localaws.asl.jsonata`).  In both, ``Assign``
sets workflow variables; ``execute`` returns them and the engine assigns them after the
state's other fields are evaluated, so every expression of a state sees the old values.

This module also holds the two primitives states and engine share: :class:`Scope` (a tree
of cancellation: execution stop/timeout, a failed Map iteration aborting its siblings) and
:class:`Frame` (one sequential thread of control: its scope, its chain of history events,
its key for redrive bookkeeping and its variables).
"""

from __future__ import annotations

import json
import re
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
from localaws.asl.jsonata import QueryEvaluationError, evaluate_expression, evaluate_template
from localaws.asl.paths import (
    apply_input_path,
    apply_output_path,
    apply_result_path,
    json_type,
    payload_template,
    query,
)
from localaws.asl.variables import Variables

if TYPE_CHECKING:
    from localaws.asl.engine import ExecutionRun

E = EventType

# AWS runs at most 40 iterations of an inline Map state at a time.
INLINE_MAP_MAX_CONCURRENCY = 40

_ABSENT: Any = object()  # a field the state does not have (None is JSON null)
# Where a JSONata state reads the context object: $states.context or $states not followed by
# .input / .result / .errorOutput.
_WHOLE_STATES = re.compile(r"\$states(?!\w|\.(?:input|result|errorOutput)\b)")


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
    """One sequential thread of control: its scope, history chain, redrive key and variables.

    ``entered_id`` is the id of the StateEntered event of the state running in this frame
    (AWS names it in runtime errors: "... (entered at the event id #4).").
    """

    __slots__ = ("buffer", "entered", "entered_id", "prefix", "prev", "scope", "variables")

    def __init__(
        self,
        buffer: EventBuffer,
        scope: Scope,
        prev: int,
        prefix: str,
        variables: Variables | None = None,
    ):
        self.buffer = buffer
        self.scope = scope
        self.prev = prev
        self.prefix = prefix
        self.entered = 0.0
        self.entered_id = 0
        self.variables = variables if variables is not None else Variables()

    def emit(self, event_type: str, details: dict[str, Any] | None = None) -> int:
        self.prev = self.buffer.add(event_type, self.prev, details, time.time())
        return self.prev

    def fork(self, scope: Scope, prefix: str) -> Frame:
        """A Parallel branch or Map iteration: reads this frame's variables, assigns its own."""
        return Frame(self.buffer, scope, self.prev, prefix, self.variables.child())


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
    assign: Any = None  # Assign (both languages), from the error output
    output: Any = _ABSENT  # Output (JSONata)

    @classmethod
    def parse(cls, spec: dict[str, Any]) -> Catcher:
        return cls(
            tuple(spec["ErrorEquals"]),
            spec["Next"],
            spec.get("ResultPath", "$"),
            spec.get("Assign"),
            spec.get("Output", _ABSENT),
        )


# ------------------------------------------------------------------ states

# A state's outcome: (output, next state or None at the end, variables to assign or None).
Result = tuple[Any, str | None, dict[str, Any] | None]


class Machine:
    """A set of states with a start: the whole state machine, a Parallel branch, a Map processor."""

    __slots__ = ("start_at", "states", "timeout_seconds")

    def __init__(self, start_at: str, states: dict[str, State], timeout_seconds: float | None):
        self.start_at = start_at
        self.states = states
        self.timeout_seconds = timeout_seconds


def _unexpected_type(field: str, value: Any, expected: str) -> QueryEvaluationError:
    return QueryEvaluationError(
        f"The JSONata expression specified for the field '{field}' returned an unexpected "
        f"result type. Expected {expected}, but was {json_type(value)}: "
        f"{json.dumps(value)[:200]}",
        field,
    )


class State:
    """Fields every state type shares; subclasses parse their own and implement execute()."""

    TYPE: ClassVar[str]
    ENTERED: ClassVar[str]
    EXITED: ClassVar[str | None]
    FAILED: ClassVar[str | None] = None  # the event the engine records when the state fails
    ABORTED: ClassVar[str | None] = None  # the event recorded when the state is cancelled
    IS_TASK: ClassVar[bool] = False

    def __init__(
        self,
        name: str,
        spec: dict[str, Any],
        *,
        jsonata: bool = False,
        resolve: Callable[[str], Resolved] | None = None,
        language: str = "JSONPath",
    ):
        self.name = name
        self.jsonata = jsonata
        self.next: str | None = spec.get("Next")
        self.input_path: str | None = spec.get("InputPath", "$")
        self.output_path: str | None = spec.get("OutputPath", "$")
        # Validation refuses these on the state types and query languages that do not take them.
        self.parameters: Any = spec.get("Parameters")
        self.result_selector: Any = spec.get("ResultSelector")
        self.result_path: str | None = spec.get("ResultPath", "$")
        self.arguments: Any = spec.get("Arguments", _ABSENT)
        self.output: Any = spec.get("Output", _ABSENT)
        self.assign: Any = spec.get("Assign")
        self.retriers = tuple(Retrier.parse(r) for r in spec.get("Retry", ()))
        self.catchers = tuple(Catcher.parse(c) for c in spec.get("Catch", ()))
        # Build the context object only for states that can read it.
        text = json.dumps(spec)
        # JSONata: $states.context, or $states handed on whole ($states, $states.*).
        self.needs_context = _WHOLE_STATES.search(text) is not None if jsonata else "$$" in text

    def execute(self, run: ExecutionRun, frame: Frame, data: Any, retry_count: int) -> Result:
        raise NotImplementedError

    def _context(self, run: ExecutionRun, frame: Frame, retry_count: int) -> dict[str, Any] | None:
        return run.context(self.name, frame, retry_count) if self.needs_context else None

    # -- JSONPath ------------------------------------------------------------------

    def _effective_input(self, data: Any, ctx: Any, variables: Variables) -> Any:
        """InputPath, then Parameters: what the state works on."""
        effective = apply_input_path(data, self.input_path, ctx, variables)
        if self.parameters is not None:
            effective = payload_template(self.parameters, effective, ctx, variables)
        return effective

    def _jsonpath_assign(self, value: Any, ctx: Any, variables: Variables) -> dict[str, Any] | None:
        if self.assign is None:
            return None
        return payload_template(self.assign, value, ctx, variables)

    def _state_output(
        self, data: Any, result: Any, ctx: Any, variables: Variables
    ) -> tuple[Any, dict[str, Any] | None]:
        """ResultSelector, Assign (from the selected result), ResultPath, OutputPath."""
        if self.result_selector is not None:
            result = payload_template(self.result_selector, result, ctx, variables)
        assigned = self._jsonpath_assign(result, ctx, variables)
        out = apply_result_path(data, self.result_path, result)
        return apply_output_path(out, self.output_path, ctx, variables), assigned

    # -- JSONata -------------------------------------------------------------------

    def _bindings(self, frame: Frame, data: Any, ctx: Any) -> dict[str, Any]:
        states: dict[str, Any] = {"input": data}
        if ctx is not None:
            states["context"] = ctx
        return {**frame.variables.visible(), "states": states}

    def _jsonata_finish(
        self, bindings: dict[str, Any], default: Any
    ) -> tuple[Any, dict[str, Any] | None]:
        """Assign and Output, both from the same bindings (the variables' old values)."""
        assigned = (
            evaluate_template(self.assign, bindings, "Assign") if self.assign is not None else None
        )
        if self.output is _ABSENT:
            return default, assigned
        return evaluate_template(self.output, bindings, "Output"), assigned

    def _jsonata_number(
        self, value: Any, bindings: dict[str, Any], field: str, minimum: int
    ) -> Any:
        if value is None:
            return None
        result = evaluate_expression(value, bindings, field)
        if isinstance(result, bool) or not isinstance(result, int | float):
            raise _unexpected_type(field, result, "a number")
        if result < minimum or (isinstance(result, float) and not result.is_integer()):
            raise QueryEvaluationError(
                f"The value of the field '{field}' must be an integer >= {minimum}, "
                f"not {json.dumps(result)}",
                field,
            )
        return int(result)

    # -- Catch ---------------------------------------------------------------------

    def caught(
        self,
        run: ExecutionRun,
        frame: Frame,
        data: Any,
        retry_count: int,
        catcher: Catcher,
        error: str,
        cause: str,
    ) -> tuple[Any, dict[str, Any] | None]:
        """The output of a Catch (and what its Assign sets), from the error output."""
        error_output = {"Error": error, "Cause": cause}
        if not self.jsonata:
            assigned = None
            if catcher.assign is not None:
                ctx = self._context(run, frame, retry_count)
                assigned = payload_template(catcher.assign, error_output, ctx, frame.variables)
            return apply_result_path(data, catcher.result_path, error_output), assigned
        if catcher.assign is None and catcher.output is _ABSENT:
            return error_output, None
        bindings = self._bindings(frame, data, self._context(run, frame, retry_count))
        bindings["states"]["errorOutput"] = error_output
        assigned = (
            evaluate_template(catcher.assign, bindings, "Catch/Assign")
            if catcher.assign is not None
            else None
        )
        if catcher.output is _ABSENT:
            return error_output, assigned
        return evaluate_template(catcher.output, bindings, "Catch/Output"), assigned


class PassState(State):
    TYPE = "Pass"
    ENTERED, EXITED = E.PASS_STATE_ENTERED, E.PASS_STATE_EXITED

    def __init__(self, name: str, spec: dict[str, Any], **kw: Any):
        super().__init__(name, spec, **kw)
        self.has_result = "Result" in spec
        self.result = spec.get("Result")

    def execute(self, run: ExecutionRun, frame: Frame, data: Any, retry_count: int) -> Result:
        ctx = self._context(run, frame, retry_count)
        if self.jsonata:
            output, assigned = self._jsonata_finish(self._bindings(frame, data, ctx), data)
            return output, self.next, assigned
        effective = self._effective_input(data, ctx, frame.variables)
        result = self.result if self.has_result else effective
        output, assigned = self._state_output(data, result, ctx, frame.variables)
        return output, self.next, assigned


class TaskState(State):
    TYPE = "Task"
    ENTERED, EXITED = E.TASK_STATE_ENTERED, E.TASK_STATE_EXITED
    ABORTED = E.TASK_STATE_ABORTED
    IS_TASK = True

    def __init__(self, name: str, spec: dict[str, Any], **kw: Any):
        super().__init__(name, spec, **kw)
        resolve = kw.get("resolve")
        self.resource: str = spec["Resource"]
        self.resolved: Resolved | None = resolve(self.resource) if resolve is not None else None
        self.timeout_seconds: Any = spec.get("TimeoutSeconds")
        self.timeout_path: str | None = spec.get("TimeoutSecondsPath")
        self.heartbeat_seconds: Any = spec.get("HeartbeatSeconds")
        self.heartbeat_path: str | None = spec.get("HeartbeatSecondsPath")
        self.token_pattern = (
            self.resolved is not None and self.resolved.pattern is Pattern.WAIT_FOR_TASK_TOKEN
        )
        self.needs_context = self.needs_context or self.token_pattern

    def _seconds(
        self, fixed: float | None, path: str | None, data: Any, field: str, variables: Variables
    ) -> float | None:
        if path is None:
            return fixed
        value = query(path, data, None, variables)
        if isinstance(value, bool) or not isinstance(value, int | float) or value <= 0:
            raise StateFailure(
                StatesError.RUNTIME,
                f"State '{self.name}': {field} '{path}' gave {json.dumps(value)}; "
                "expected a positive number of seconds",
            )
        return value

    def execute(self, run: ExecutionRun, frame: Frame, data: Any, retry_count: int) -> Result:
        token = run.new_task_token(frame, self.name) if self.token_pattern else None
        ctx = run.context(self.name, frame, retry_count, token) if self.needs_context else None
        variables = frame.variables
        if self.jsonata:
            bindings = self._bindings(frame, data, ctx)
            params = (
                data
                if self.arguments is _ABSENT
                else evaluate_template(self.arguments, bindings, "Arguments")
            )
            timeout = self._jsonata_number(self.timeout_seconds, bindings, "TimeoutSeconds", 1)
            heartbeat = self._jsonata_number(
                self.heartbeat_seconds, bindings, "HeartbeatSeconds", 1
            )
            result = run.invoke_task(self, frame, params, token, timeout, heartbeat)
            bindings["states"]["result"] = result
            output, assigned = self._jsonata_finish(bindings, result)
            return output, self.next, assigned
        effective = apply_input_path(data, self.input_path, ctx, variables)
        params = (
            payload_template(self.parameters, effective, ctx, variables)
            if self.parameters is not None
            else effective
        )
        timeout = self._seconds(
            self.timeout_seconds, self.timeout_path, effective, "TimeoutSecondsPath", variables
        )
        heartbeat = self._seconds(
            self.heartbeat_seconds,
            self.heartbeat_path,
            effective,
            "HeartbeatSecondsPath",
            variables,
        )
        result = run.invoke_task(self, frame, params, token, timeout, heartbeat)
        output, assigned = self._state_output(data, result, ctx, variables)
        return output, self.next, assigned


class ChoiceState(State):
    TYPE = "Choice"
    ENTERED, EXITED = E.CHOICE_STATE_ENTERED, E.CHOICE_STATE_EXITED

    def __init__(self, name: str, spec: dict[str, Any], **kw: Any):
        super().__init__(name, spec, **kw)
        self.choices: list[dict[str, Any]] = spec["Choices"]
        self.default: str | None = spec.get("Default")

    def _no_match(self) -> StateFailure:
        return StateFailure(
            StatesError.NO_CHOICE_MATCHED,
            f"No Choice Rule matched in state '{self.name}' and no Default is set",
        )

    def execute(self, run: ExecutionRun, frame: Frame, data: Any, retry_count: int) -> Result:
        ctx = self._context(run, frame, retry_count)
        if self.jsonata:
            bindings = self._bindings(frame, data, ctx)
            matched = None
            for i, rule in enumerate(self.choices):
                field = f"Choices/{i}/Condition"
                value = evaluate_expression(rule["Condition"], bindings, field)
                if not isinstance(value, bool):
                    raise _unexpected_type(field, value, "a boolean")
                if value:
                    matched = rule
                    break
            if matched is None and self.default is None:
                raise self._no_match()
            # A matched rule's own Assign/Output replace the state's.
            assign: Any = self.assign
            output: Any = self.output
            if matched is not None:
                assign = matched.get("Assign", assign)
                output = matched.get("Output", output)
            assigned = evaluate_template(assign, bindings, "Assign") if assign is not None else None
            out = data if output is _ABSENT else evaluate_template(output, bindings, "Output")
            return out, matched["Next"] if matched is not None else self.default, assigned
        effective = apply_input_path(data, self.input_path, ctx, frame.variables)
        chosen = choose(self.choices, effective, ctx, frame.variables)
        if chosen is None and self.default is None:
            raise self._no_match()
        nxt = chosen["Next"] if chosen is not None else self.default
        assign = chosen.get("Assign", self.assign) if chosen is not None else self.assign
        assigned = (
            payload_template(assign, effective, ctx, frame.variables)
            if assign is not None
            else None
        )
        return apply_output_path(effective, self.output_path, ctx, frame.variables), nxt, assigned


class WaitState(State):
    TYPE = "Wait"
    ENTERED, EXITED = E.WAIT_STATE_ENTERED, E.WAIT_STATE_EXITED
    ABORTED = E.WAIT_STATE_ABORTED

    def __init__(self, name: str, spec: dict[str, Any], **kw: Any):
        super().__init__(name, spec, **kw)
        self.seconds = spec.get("Seconds")
        self.timestamp = spec.get("Timestamp")
        self.seconds_path = spec.get("SecondsPath")
        self.timestamp_path = spec.get("TimestampPath")

    def _until(self, stamp: Any, field: str) -> float:
        when = parse_timestamp(stamp)
        if when is None:
            message = (
                f"State '{self.name}': {json.dumps(stamp)} is not an RFC 3339 timestamp "
                "like 2016-03-14T01:59:00Z"
            )
            if self.jsonata:
                raise QueryEvaluationError(message, field)
            raise StateFailure(StatesError.RUNTIME, message)
        return (when - datetime.now(when.tzinfo)).total_seconds()

    def _delay(self, effective: Any, variables: Variables) -> float:
        if self.seconds is not None:
            return float(self.seconds)
        if self.seconds_path is not None:
            value = query(self.seconds_path, effective, None, variables)
            if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
                raise StateFailure(
                    StatesError.RUNTIME,
                    f"State '{self.name}': SecondsPath '{self.seconds_path}' gave "
                    f"{json.dumps(value)}; expected a non-negative number",
                )
            return float(value)
        stamp = (
            self.timestamp
            if self.timestamp is not None
            else query(self.timestamp_path or "$", effective, None, variables)
        )
        return self._until(stamp, "TimestampPath")

    def execute(self, run: ExecutionRun, frame: Frame, data: Any, retry_count: int) -> Result:
        ctx = self._context(run, frame, retry_count)
        if self.jsonata:
            bindings = self._bindings(frame, data, ctx)
            if self.seconds is not None:
                delay = float(self._jsonata_number(self.seconds, bindings, "Seconds", 0))
            else:
                stamp = evaluate_expression(self.timestamp, bindings, "Timestamp")
                delay = self._until(stamp, "Timestamp")
            output, assigned = self._jsonata_finish(bindings, data)
            frame.scope.sleep(delay)
            return output, self.next, assigned
        effective = apply_input_path(data, self.input_path, ctx, frame.variables)
        assigned = self._jsonpath_assign(effective, ctx, frame.variables)
        frame.scope.sleep(self._delay(effective, frame.variables))
        output = apply_output_path(effective, self.output_path, ctx, frame.variables)
        return output, self.next, assigned


class SucceedState(State):
    TYPE = "Succeed"
    ENTERED, EXITED = E.SUCCEED_STATE_ENTERED, E.SUCCEED_STATE_EXITED

    def execute(self, run: ExecutionRun, frame: Frame, data: Any, retry_count: int) -> Result:
        ctx = self._context(run, frame, retry_count)
        if self.jsonata:
            output, _ = self._jsonata_finish(self._bindings(frame, data, ctx), data)
            return output, None, None
        effective = apply_input_path(data, self.input_path, ctx, frame.variables)
        return apply_output_path(effective, self.output_path, ctx, frame.variables), None, None


class FailState(State):
    TYPE = "Fail"
    ENTERED, EXITED = E.FAIL_STATE_ENTERED, None

    def __init__(self, name: str, spec: dict[str, Any], **kw: Any):
        super().__init__(name, spec, **kw)
        self.error = spec.get("Error")
        self.cause = spec.get("Cause")
        self.error_path = spec.get("ErrorPath")
        self.cause_path = spec.get("CausePath")

    def _text(
        self, fixed: str | None, path: str | None, data: Any, ctx: Any, variables: Variables
    ) -> str:
        if path is None:
            return fixed or ""
        value = query(path, data, ctx, variables)
        if not isinstance(value, str):
            raise StateFailure(
                StatesError.RUNTIME,
                f"State '{self.name}': '{path}' gave {json.dumps(value)}; expected a string",
            )
        return value

    def _jsonata_text(self, value: Any, bindings: dict[str, Any], field: str) -> str:
        if value is None:
            return ""
        text = evaluate_expression(value, bindings, field)
        if not isinstance(text, str):
            raise _unexpected_type(field, text, "a string")
        return text

    def execute(self, run: ExecutionRun, frame: Frame, data: Any, retry_count: int) -> Result:
        ctx = self._context(run, frame, retry_count)
        if self.jsonata:
            bindings = self._bindings(frame, data, ctx)
            error = self._jsonata_text(self.error, bindings, "Error")
            cause = self._jsonata_text(self.cause, bindings, "Cause")
        else:
            error = self._text(self.error, self.error_path, data, ctx, frame.variables)
            cause = self._text(self.cause, self.cause_path, data, ctx, frame.variables)
        raise StateFailure(error, cause, located=True)


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

    def __init__(self, name: str, spec: dict[str, Any], **kw: Any):
        super().__init__(name, spec, **kw)
        language = kw.get("language", "JSONPath")
        self.branches = [parse_machine(b, kw.get("resolve"), language) for b in spec["Branches"]]

    def execute(self, run: ExecutionRun, frame: Frame, data: Any, retry_count: int) -> Result:
        ctx = self._context(run, frame, retry_count)
        bindings: dict[str, Any] = {}
        if self.jsonata:
            bindings = self._bindings(frame, data, ctx)
            effective = (
                data
                if self.arguments is _ABSENT
                else evaluate_template(self.arguments, bindings, "Arguments")
            )
        else:
            effective = self._effective_input(data, ctx, frame.variables)
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
            raise StateFailure(outcomes.failure.error, outcomes.failure.cause, located=True)
        frame.emit(E.PARALLEL_STATE_SUCCEEDED)
        if self.jsonata:
            bindings["states"]["result"] = outcomes.results
            output, assigned = self._jsonata_finish(bindings, outcomes.results)
        else:
            output, assigned = self._state_output(data, outcomes.results, ctx, frame.variables)
        return output, self.next, assigned


class MapState(State):
    TYPE = "Map"
    ENTERED, EXITED = E.MAP_STATE_ENTERED, E.MAP_STATE_EXITED
    FAILED, ABORTED = E.MAP_STATE_FAILED, E.MAP_STATE_ABORTED

    def __init__(self, name: str, spec: dict[str, Any], **kw: Any):
        super().__init__(name, spec, **kw)
        processor: dict[str, Any] = spec.get("ItemProcessor") or spec["Iterator"]
        self.processor = parse_machine(processor, kw.get("resolve"), kw.get("language", "JSONPath"))
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
        self.items: Any = spec.get("Items", _ABSENT)  # JSONata
        # Map's Parameters (legacy) select each item; they are not applied to the Map's input.
        self.item_selector = spec.get("ItemSelector", spec.get("Parameters"))
        self.max_concurrency = spec.get("MaxConcurrency", 0)
        self.max_concurrency_path = spec.get("MaxConcurrencyPath")
        self.tolerated_count = spec.get("ToleratedFailureCount")
        self.tolerated_count_path = spec.get("ToleratedFailureCountPath")
        self.tolerated_pct = spec.get("ToleratedFailurePercentage")
        self.tolerated_pct_path = spec.get("ToleratedFailurePercentagePath")
        if self.jsonata and self.item_selector is not None:
            self.needs_context = True  # $states.context.Map.Item

    def _number(self, fixed: Any, path: str | None, data: Any, field: str, vs: Variables) -> Any:
        if path is None:
            return fixed
        value = query(path, data, None, vs)
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

    def _jsonata_items(self, data: Any, bindings: dict[str, Any]) -> tuple[Any, Any, Any, Any]:
        items = data if self.items is _ABSENT else evaluate_template(self.items, bindings, "Items")
        if not isinstance(items, list):
            raise QueryEvaluationError(
                f"State '{self.name}': Items gave {json_type(items)}; expected an array",
                "Items",
            )
        concurrency = self._jsonata_number(self.max_concurrency, bindings, "MaxConcurrency", 0)
        tolerated = self._jsonata_number(self.tolerated_count, bindings, "ToleratedFailureCount", 0)
        pct = self.tolerated_pct
        if pct is not None:
            pct = evaluate_expression(pct, bindings, "ToleratedFailurePercentage")
            if isinstance(pct, bool) or not isinstance(pct, int | float) or not 0 <= pct <= 100:
                raise _unexpected_type("ToleratedFailurePercentage", pct, "a number from 0 to 100")
        return items, concurrency, tolerated, pct

    def _select(
        self, run: ExecutionRun, frame: Frame, retry_count: int, i: int, item: Any, map_input: Any
    ) -> Any:
        if self.item_selector is None:
            return item
        ctx = self._item_context(run, frame, retry_count, i, item)
        if self.jsonata:
            bindings = self._bindings(frame, map_input, ctx)
            return evaluate_template(self.item_selector, bindings, "ItemSelector")
        return payload_template(self.item_selector, map_input, ctx, frame.variables)

    def execute(self, run: ExecutionRun, frame: Frame, data: Any, retry_count: int) -> Result:
        ctx = self._context(run, frame, retry_count)
        vs = frame.variables
        bindings: dict[str, Any] = {}
        if self.distributed:
            if self.jsonata:
                bindings = self._bindings(frame, data, ctx)
                result = run.distributed_map(self, frame, data, retry_count)
                bindings["states"]["result"] = result
                output, assigned = self._jsonata_finish(bindings, result)
            else:
                effective = apply_input_path(data, self.input_path, ctx, vs)
                result = run.distributed_map(self, frame, effective, retry_count)
                output, assigned = self._state_output(data, result, ctx, vs)
            return output, self.next, assigned
        if self.jsonata:
            bindings = self._bindings(frame, data, ctx)
            items, concurrency, tolerated, tolerated_pct = self._jsonata_items(data, bindings)
            effective = data
        else:
            effective = apply_input_path(data, self.input_path, ctx, vs)
            items = (
                query(self.items_path, effective, ctx, vs) if self.items_path != "$" else effective
            )
            if not isinstance(items, list):
                raise StateFailure(
                    StatesError.RUNTIME,
                    f"State '{self.name}': ItemsPath '{self.items_path}' gave "
                    f"{json.dumps(items)[:200]}; expected an array",
                )
            concurrency = self._number(
                self.max_concurrency, self.max_concurrency_path, effective, "MaxConcurrencyPath", vs
            )
            tolerated = self._number(
                self.tolerated_count,
                self.tolerated_count_path,
                effective,
                "ToleratedFailureCountPath",
                vs,
            )
            tolerated_pct = self._number(
                self.tolerated_pct,
                self.tolerated_pct_path,
                effective,
                "ToleratedFailurePercentagePath",
                vs,
            )
        concurrency = int(concurrency or 0)
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
                item = self._select(run, frame, retry_count, i, items[i], effective)
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
            failure = outcomes.failure
            # A failure from an iteration's states already names its state; one from
            # ItemSelector gets the Map state's name from the engine.
            raise StateFailure(failure.error, failure.cause, located=failure.located)
        frame.emit(E.MAP_STATE_SUCCEEDED)
        if self.jsonata:
            bindings["states"]["result"] = outcomes.results
            output, assigned = self._jsonata_finish(bindings, outcomes.results)
        else:
            output, assigned = self._state_output(data, outcomes.results, ctx, vs)
        return output, self.next, assigned


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


def parse_machine(
    spec: dict[str, Any],
    resolve: Callable[[str], Resolved] | None = None,
    language: str | None = None,
) -> Machine:
    """Parse a validated definition (or a branch / item processor) into state objects.

    ``resolve`` maps a Task's Resource to its integration (the registry's ``resolve``); it
    raises for an unknown resource, so an unsupported Task is refused here, at creation.
    ``language`` is the definition's QueryLanguage (read from ``spec`` at the top); a state's
    own QueryLanguage overrides it.
    """
    if language is None:
        language = spec.get("QueryLanguage", "JSONPath")
    states: dict[str, State] = {}
    for name, body in spec["States"].items():
        cls = STATE_TYPES[body["Type"]]
        jsonata = body.get("QueryLanguage", language) == "JSONata"
        states[name] = cls(name, body, jsonata=jsonata, resolve=resolve, language=language)
    return Machine(spec["StartAt"], states, spec.get("TimeoutSeconds"))
