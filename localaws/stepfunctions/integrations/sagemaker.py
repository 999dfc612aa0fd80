"""Step Functions' SageMaker integration: ``arn:aws:states:::sagemaker:<action>[.sync]``.

The task's Parameters are the API request.  Request-response returns the API's response;
``.sync`` waits for the job's terminal state and returns the Describe shape (so
``$['ModelArtifacts']['S3ModelArtifacts']`` works), failing with ``States.TaskFailed`` (cause:
the Describe JSON) when the job Failed or was Stopped, and stopping the job when the task is
cancelled.  An API error becomes ``SageMaker.<Code>``.  Timestamps are epoch milliseconds, as
Step Functions returns them.
"""

from __future__ import annotations

import contextlib
import json
import time
from datetime import datetime
from typing import TYPE_CHECKING, Any, ClassVar

from botocore import xform_name

from localaws.asl.errors import StateFailure, StatesError
from localaws.asl.integrations import Integration, Pattern, TaskRequest
from localaws.botocore_model import UNKNOWN, validator
from localaws.errors import ServiceError
from localaws.sagemaker.processing import default_names

if TYPE_CHECKING:
    from localaws.runtime import Runtime

SERVICE = "sagemaker"
RR, SYNC = Pattern.REQUEST_RESPONSE, Pattern.SYNC
ACTIONS: dict[str, frozenset[Pattern]] = {
    "createTrainingJob": frozenset({RR, SYNC}),
    "createTransformJob": frozenset({RR, SYNC}),
    "createProcessingJob": frozenset({RR, SYNC}),
    "createHyperParameterTuningJob": frozenset({RR, SYNC}),
    "createModel": frozenset({RR}),
    "createEndpointConfig": frozenset({RR}),
    "createEndpoint": frozenset({RR}),
    "updateEndpoint": frozenset({RR}),
    "stopTrainingJob": frozenset({RR}),
    "stopTransformJob": frozenset({RR}),
    "stopProcessingJob": frozenset({RR}),
    "stopHyperParameterTuningJob": frozenset({RR}),
}
# .sync actions: (Describe operation, name member, status member, Stop operation)
JOBS: dict[str, tuple[str, str, str, str]] = {
    "createTrainingJob": (
        "DescribeTrainingJob",
        "TrainingJobName",
        "TrainingJobStatus",
        "StopTrainingJob",
    ),
    "createTransformJob": (
        "DescribeTransformJob",
        "TransformJobName",
        "TransformJobStatus",
        "StopTransformJob",
    ),
    "createProcessingJob": (
        "DescribeProcessingJob",
        "ProcessingJobName",
        "ProcessingJobStatus",
        "StopProcessingJob",
    ),
    "createHyperParameterTuningJob": (
        "DescribeHyperParameterTuningJob",
        "HyperParameterTuningJobName",
        "HyperParameterTuningJobStatus",
        "StopHyperParameterTuningJob",
    ),
}
# Request-response creates a resumed task repeats safely: (Describe operation, name member,
# ARN member).  The resource its first attempt made is accepted when it matches the request.
CREATES: dict[str, tuple[str, str, str]] = {
    "createModel": ("DescribeModel", "ModelName", "ModelArn"),
    "createEndpointConfig": ("DescribeEndpointConfig", "EndpointConfigName", "EndpointConfigArn"),
    "createEndpoint": ("DescribeEndpoint", "EndpointName", "EndpointArn"),
}
UNDESCRIBED = ("Tags",)  # request members a Describe does not return
FAILED_STATES = ("Failed", "Stopped")
POLL_SECONDS = 0.2
HEARTBEAT_SECONDS = 5.0


def operation_name(action: str) -> str:
    """``createTrainingJob`` -> ``CreateTrainingJob``."""
    return action[:1].upper() + action[1:]


def to_json(value: Any) -> Any:
    """A response -> JSON values (datetimes as epoch milliseconds, bytes as text)."""
    if isinstance(value, datetime):
        return int(value.timestamp() * 1000)
    if isinstance(value, dict):
        return {k: to_json(v) for k, v in value.items()}
    if isinstance(value, list):
        return [to_json(v) for v in value]
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    return value


def matches(requested: Any, described: Any) -> bool:
    """Whether a described resource is what ``requested`` asked for: every requested member
    has the same value (the Describe may add defaults the request left out)."""
    if isinstance(requested, dict):
        return isinstance(described, dict) and all(
            key in described and matches(value, described[key]) for key, value in requested.items()
        )
    if isinstance(requested, list):
        return (
            isinstance(described, list)
            and len(requested) == len(described)
            and all(matches(r, d) for r, d in zip(requested, described, strict=True))
        )
    return bool(requested == described)


def static_view(parameters: Any) -> Any:
    """Parameters with each ``"Member.$"`` path replaced by a run-time placeholder."""
    if isinstance(parameters, dict):
        out: dict[str, Any] = {}
        for key, value in parameters.items():
            if key.endswith(".$"):
                out[key[:-2]] = UNKNOWN
            else:
                out[key] = static_view(value)
        return out
    if isinstance(parameters, list):
        return [static_view(v) for v in parameters]
    return parameters


class SageMakerIntegration(Integration):
    SERVICE: ClassVar[str] = SERVICE
    ACTIONS: ClassVar[dict[str, frozenset[Pattern]]] = ACTIONS

    def __init__(self, runtime: Runtime):
        self.runtime = runtime

    def validate(self, action: str, pattern: Pattern, parameters: Any, where: str) -> list[str]:
        if parameters is None:
            parameters = {}
        if not isinstance(parameters, dict):
            return [
                f"{where}.Parameters: must be an object holding the {operation_name(action)} request"
            ]
        operation = operation_name(action)
        request = default_names(operation, static_view(parameters))
        found = validator(SERVICE).problems(operation, request)
        return [f"{where}: {problem}" for problem in found.structural + found.constraints]

    def _call(self, operation: str, params: dict[str, Any]) -> dict[str, Any]:
        try:
            return getattr(self.runtime.sagemaker, xform_name(operation))(**params)
        except ServiceError as e:
            raise StateFailure(f"SageMaker.{e.code}", e.message) from e

    def run(self, request: TaskRequest) -> Any:
        params = request.parameters if isinstance(request.parameters, dict) else {}
        operation = operation_name(request.action)
        if request.resumed and request.pattern is Pattern.SYNC and request.action in JOBS:
            # The execution continues after a crash: the job it started (same name) goes on.
            describe, name_key, _, _ = JOBS[request.action]
            with contextlib.suppress(StateFailure):
                described = self._call(describe, {name_key: params.get(name_key)})
                if request.submitted is not None:
                    # The crash may have come before TaskSubmitted was recorded: record it
                    # now (when it was, the resumed history keeps the one recorded).
                    arn_key = name_key.removesuffix("Name") + "Arn"
                    request.submitted({arn_key: described[arn_key]})
                return self._wait(request, params)
        if request.resumed and request.action in CREATES:
            # The crash may have come after the create and before its result was recorded:
            # the resource it made, if it is the one asked for, is this task's result.
            made = self._made(request.action, params)
            if made is not None:
                return made
        response = self._call(operation, dict(params))
        if request.pattern is not Pattern.SYNC or request.action not in JOBS:
            return to_json(response)
        if request.submitted is not None:  # TaskSubmitted: the job's ARN while it runs
            request.submitted(to_json(response))
        return self._wait(request, params)

    def _made(self, action: str, params: dict[str, Any]) -> dict[str, Any] | None:
        """The create's response when the resource it names exists as requested, else None
        (not there: create it; different: the create refuses it as AWS would)."""
        describe, name_key, arn_key = CREATES[action]
        try:
            described = self._call(describe, {name_key: params.get(name_key)})
        except StateFailure:
            return None
        wanted = {k: v for k, v in params.items() if k not in UNDESCRIBED}
        return {arn_key: described[arn_key]} if matches(wanted, to_json(described)) else None

    def _wait(self, request: TaskRequest, params: dict[str, Any]) -> Any:
        describe, name_key, status_key, stop = JOBS[request.action]
        name = params[name_key]
        last_beat = time.monotonic()
        while True:
            result = self._call(describe, {name_key: name})
            status = result[status_key]
            if status in ("Completed", *FAILED_STATES):
                break
            if request.cancelled.is_set():
                if status == "InProgress":
                    # it may end between the describe and the stop
                    with contextlib.suppress(ServiceError):
                        getattr(self.runtime.sagemaker, xform_name(stop))(**{name_key: name})
                return to_json(self._call(describe, {name_key: name}))
            if request.heartbeat is not None and time.monotonic() - last_beat >= HEARTBEAT_SECONDS:
                request.heartbeat()
                last_beat = time.monotonic()
            # woken by any job's end (cancellation is seen at the next Describe)
            self.runtime.sagemaker.wait_for_a_job_end(POLL_SECONDS)
        body = to_json(result)
        if status in FAILED_STATES:
            raise StateFailure(StatesError.TASK_FAILED.value, json.dumps(body))
        return body
