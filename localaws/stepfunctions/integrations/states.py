"""Step Functions calling Step Functions: ``arn:aws:states:::states:startExecution``.

* request-response: start the child execution; the result is ``{"ExecutionArn",
  "StartDate"}`` (StartDate in epoch milliseconds, as AWS gives it).
* ``.sync``: start it and wait for it to end; the result is DescribeExecution's response
  with PascalCase members and ``Output`` as a JSON string.  ``.sync:2``: the same with
  ``Input`` and ``Output`` parsed.  A child that fails, times out or is aborted fails the
  task with ``States.TaskFailed`` and DescribeExecution's response (JSON) as the cause.
  Stopping the parent stops the child.  The start response is recorded as TaskSubmitted.
* ``.waitForTaskToken``: start it and wait for SendTaskSuccess/Failure on the token (the
  child gets it in its input, e.g. ``"TaskToken.$": "$$.Task.Token"``).

Parameters: ``StateMachineArn`` (required), ``Input`` (an object or a JSON string),
``Name``.  Put ``"AWS_STEP_FUNCTIONS_STARTED_BY_EXECUTION_ID.$": "$$.Execution.Id"`` in
``Input`` to link the child to its parent, as on AWS.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any, ClassVar

from localaws.asl.errors import StateFailure, StatesError
from localaws.asl.integrations import Integration, Pattern, TaskRequest
from localaws.errors import ServiceError

if TYPE_CHECKING:
    from localaws.stepfunctions.backend import StepFunctionsBackend

SERVICE = "states"
RR, SYNC, SYNC2, WAIT = (
    Pattern.REQUEST_RESPONSE,
    Pattern.SYNC,
    Pattern.SYNC2,
    Pattern.WAIT_FOR_TASK_TOKEN,
)
ACTIONS: dict[str, frozenset[Pattern]] = {"startExecution": frozenset({RR, SYNC, SYNC2, WAIT})}
PARAMETERS = ("StateMachineArn", "Input", "Name", "TraceHeader")
STARTED_BY = "AWS_STEP_FUNCTIONS_STARTED_BY_EXECUTION_ID"
POLL_SECONDS = 0.5
# DescribeExecution member -> the name in the task's result.
_DESCRIBE = {
    "executionArn": "ExecutionArn",
    "stateMachineArn": "StateMachineArn",
    "name": "Name",
    "status": "Status",
    "startDate": "StartDate",
    "stopDate": "StopDate",
    "input": "Input",
    "inputDetails": "InputDetails",
    "output": "Output",
    "outputDetails": "OutputDetails",
    "error": "Error",
    "cause": "Cause",
    "traceHeader": "TraceHeader",
    "redriveCount": "RedriveCount",
    "redriveStatus": "RedriveStatus",
    "redriveStatusReason": "RedriveStatusReason",
}


def _millis(value: Any) -> Any:
    return int(value.timestamp() * 1000) if hasattr(value, "timestamp") else value


def _pascal(value: Any) -> Any:
    if isinstance(value, dict):
        return {k[:1].upper() + k[1:]: _pascal(v) for k, v in value.items()}
    return value


class StatesIntegration(Integration):
    SERVICE: ClassVar[str] = SERVICE
    ACTIONS: ClassVar[dict[str, frozenset[Pattern]]] = ACTIONS

    def __init__(self) -> None:
        self.backend: StepFunctionsBackend | None = None

    def bind_backend(self, backend: StepFunctionsBackend) -> None:
        self.backend = backend

    def validate(self, action: str, pattern: Pattern, parameters: Any, where: str) -> list[str]:
        if not isinstance(parameters, dict):
            return [f"{where}.Parameters: required, with StateMachineArn"]
        problems = []
        keys = {k.removesuffix(".$") for k in parameters}
        if "StateMachineArn" not in keys:
            problems.append(f"{where}.Parameters.StateMachineArn: required")
        for key in sorted(keys - set(PARAMETERS)):
            problems.append(
                f"{where}.Parameters.{key}: not a parameter of states:startExecution; "
                f"use {', '.join(PARAMETERS)}"
            )
        return problems

    def run(self, request: TaskRequest) -> Any:
        assert self.backend is not None, "the states integration is bound to a backend"
        params = request.parameters if isinstance(request.parameters, dict) else {}
        child_input = params.get("Input", {})
        if not isinstance(child_input, str):
            child_input = json.dumps(child_input)
        kwargs: dict[str, Any] = {
            "stateMachineArn": params.get("StateMachineArn"),
            "input": child_input,
        }
        if params.get("Name") is not None:
            kwargs["name"] = params["Name"]
        if params.get("TraceHeader") is not None:
            kwargs["traceHeader"] = params["TraceHeader"]
        try:
            started = self.backend.start_execution(**kwargs)
        except ServiceError as e:
            raise StateFailure(f"StepFunctions.{e.code}", e.message) from e
        response = {
            "ExecutionArn": started["executionArn"],
            "StartDate": _millis(started["startDate"]),
        }
        if request.pattern not in (SYNC, SYNC2):
            return response
        if request.submitted is not None:
            request.submitted(response)
        arn = started["executionArn"]
        while True:
            try:
                described = self.backend.wait(arn, timeout=POLL_SECONDS)
                break
            except TimeoutError:
                if request.cancelled.is_set():
                    self.backend.stop_execution(executionArn=arn)
                    return None
        result = {_DESCRIBE[k]: _pascal(_millis(v)) for k, v in described.items() if k in _DESCRIBE}
        if request.pattern is SYNC2:
            for key in ("Input", "Output"):
                if isinstance(result.get(key), str):
                    result[key] = json.loads(result[key])
        if described["status"] != "SUCCEEDED":
            raise StateFailure(StatesError.TASK_FAILED, json.dumps(result))
        return result
