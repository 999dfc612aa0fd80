"""TestState: run one state on an input and report what it did, as AWS's TestState API does.

The state (``definition`` is one state, or a whole state machine with ``stateName``) runs
once on the engine: its Task calls the integration for real; its ``Retry`` and ``Catch``
are not run but reported: an error a retrier matches gives ``RETRIABLE``, one a catcher
matches ``CAUGHT_ERROR`` with the catcher's output and ``nextState``.  At
``inspectionLevel`` DEBUG or TRACE, ``inspectionData`` shows the data after each
processing step (input, afterInputPath, afterParameters, result, afterResultSelector,
afterResultPath), as JSON text.
"""

from __future__ import annotations

import json
import time
from typing import TYPE_CHECKING, Any

from localaws.asl.engine import ExecutionRun, Outcome, TaskTokens, error_matches
from localaws.asl.errors import StateFailure
from localaws.asl.history import EventBuffer, EventType
from localaws.asl.paths import apply_input_path, apply_result_path, payload_template
from localaws.asl.states import parse_machine
from localaws.asl.validate import InvalidDefinition, validate_definition
from localaws.errors import ServiceError, UserError

if TYPE_CHECKING:
    from localaws.stepfunctions.backend import StepFunctionsBackend

INSPECTION_LEVELS = ("INFO", "DEBUG", "TRACE")
TEST_STATE_NAME = "TestState"
E = EventType


def _targets(state: dict[str, Any]) -> set[str]:
    found = {state[k] for k in ("Next", "Default") if isinstance(state.get(k), str)}
    for rule in state.get("Choices", []) or []:
        if isinstance(rule, dict) and isinstance(rule.get("Next"), str):
            found.add(rule["Next"])
    return found


def _text(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"))


def test_state(
    backend: StepFunctionsBackend,
    definition: str,
    role_arn: str | None,
    input_text: str | None,
    inspection_level: str | None,
    state_name: str | None,
    mock: Any,
) -> dict[str, Any]:
    level = inspection_level or "INFO"
    if level not in INSPECTION_LEVELS:
        raise ServiceError(
            "ValidationException",
            f"inspectionLevel: {level!r} must be one of {', '.join(INSPECTION_LEVELS)}",
        )
    if mock is not None:
        raise ServiceError(
            "ValidationException",
            "mock: mocked results are not supported by the local TestState; run the state "
            "against the local services, or use a MockConfigFile with StartExecution",
        )
    try:
        spec = json.loads(definition)
    except (TypeError, ValueError) as e:
        raise ServiceError("InvalidDefinition", f"definition: not valid JSON: {e}") from e
    try:
        data = json.loads(input_text) if input_text is not None else {}
    except (TypeError, ValueError) as e:
        raise ServiceError("InvalidExecutionInput", f"input: not valid JSON: {e}") from e
    if not isinstance(spec, dict):
        raise ServiceError("InvalidDefinition", "definition: a state (or state machine) object")
    if "States" in spec:
        name = state_name or spec.get("StartAt")
        state = (spec.get("States") or {}).get(name)
        if not isinstance(state, dict):
            raise ServiceError(
                "ValidationException",
                f"stateName: {name!r} is not a state of the definition; name one of "
                f"{', '.join(spec.get('States') or {})}",
            )
    else:
        name, state = state_name or TEST_STATE_NAME, spec
    state = dict(state)
    retriers = state.pop("Retry", []) or []
    catchers = state.pop("Catch", []) or []
    placeholders = {t: {"Type": "Succeed"} for t in _targets(state) if t != name}
    machine_spec: dict[str, Any] = {"StartAt": name, "States": {name: state, **placeholders}}
    try:
        parsed = validate_definition(machine_spec, resolve_resource=backend.registry.resolve)
        machine = parse_machine(parsed, backend.registry.resolve)
    except InvalidDefinition as e:
        raise ServiceError("InvalidDefinition", str(e)) from e
    except UserError as e:
        raise ServiceError("InvalidDefinition", f"Invalid State Definition: {e}") from e

    events: list[Any] = []

    def flush(run: ExecutionRun, final: Outcome | None) -> None:
        events.extend(run.take_progress()[0])

    now = time.time()
    run = ExecutionRun(
        arn=backend.runtime.arn("states", f"execution:{TEST_STATE_NAME}:{int(now * 1000)}"),
        name=TEST_STATE_NAME,
        state_machine_arn=backend.runtime.arn("states", f"stateMachine:{TEST_STATE_NAME}"),
        state_machine_name=TEST_STATE_NAME,
        role_arn=role_arn or f"arn:aws:iam::{backend.runtime.account_id}:role/TestState",
        machine=machine,
        input_text=_text(data),
        start_time=now,
        region=backend.runtime.region,
        buffer=EventBuffer(1),
        tokens=TaskTokens(),
        flush=flush,
    )
    run.map_runner = backend.map_runs.run
    outcome = run.run()
    run.flush(outcome)
    events.sort()

    out: dict[str, Any] = {}
    entered = [e[4]["name"] for e in events if e[3].endswith("StateEntered") and e[4]]
    if outcome.status == "SUCCEEDED":
        out["status"] = "SUCCEEDED"
        out["output"] = outcome.output
        if len(entered) > 1:
            out["nextState"] = entered[1]
    else:
        error, cause = outcome.error or "", outcome.cause or ""
        is_task = state.get("Type") == "Task"
        out["error"], out["cause"] = error, cause
        if any(error_matches(tuple(r.get("ErrorEquals", [])), error, is_task) for r in retriers):
            out["status"] = "RETRIABLE"
        else:
            for catcher in catchers:
                if error_matches(tuple(catcher.get("ErrorEquals", [])), error, is_task):
                    out["status"] = "CAUGHT_ERROR"
                    caught = apply_result_path(
                        data, catcher.get("ResultPath", "$"), {"Error": error, "Cause": cause}
                    )
                    out["output"] = _text(caught)
                    out["nextState"] = catcher["Next"]
                    break
            else:
                out["status"] = "FAILED"
    if level != "INFO":
        out["inspectionData"] = _inspection(state, data, events)
    return out


def _inspection(state: dict[str, Any], data: Any, events: list[Any]) -> dict[str, Any]:
    """The data after each step of the state's input and output processing."""
    found: dict[str, Any] = {"input": _text(data)}
    try:
        after_input = apply_input_path(data, state.get("InputPath", "$"), None)
        found["afterInputPath"] = _text(after_input)
        result: Any = None
        has_result = False
        for _id, _prev, _ts, etype, details in events:
            if etype == E.TASK_SCHEDULED:
                found["afterParameters"] = details["parameters"]
            elif etype in (E.TASK_SUCCEEDED, E.ACTIVITY_SUCCEEDED):
                result, has_result = json.loads(details["output"]), True
        if state.get("Type") == "Pass":
            params = state.get("Parameters")
            effective = payload_template(params, after_input) if params is not None else after_input
            if params is not None:
                found["afterParameters"] = _text(effective)
            result, has_result = state.get("Result", effective), True
        if has_result:
            found["result"] = _text(result)
            selector = state.get("ResultSelector")
            selected = payload_template(selector, result) if selector is not None else result
            found["afterResultSelector"] = _text(selected)
            found["afterResultPath"] = _text(
                apply_result_path(data, state.get("ResultPath", "$"), selected)
            )
    except StateFailure:  # the step that failed ends the data shown (the run reported it)
        pass
    return found
