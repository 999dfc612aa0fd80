"""A test integration that does no AWS work: ``arn:aws:states:::local:<action>``.

* ``local:passthrough`` - returns its Parameters as the task's result.  With
  ``.waitForTaskToken`` it returns at once and the task waits for SendTaskSuccess/Failure
  on the token (put ``"Token.$": "$$.Task.Token"`` in the Parameters to see it).
* ``local:fail`` - raises the error named by Parameters ``Error`` (default
  ``Local.Failure``) with Parameters ``Cause``.
* ``local:sleep`` - waits Parameters ``Seconds`` (stopping early when the task is
  cancelled), calling the heartbeat every ``HeartbeatEverySeconds`` if given, then returns
  its Parameters.  ``.sync`` is accepted and behaves the same.

Used by the engine's tests and the differential suite (Retry/Catch over failing tasks).
"""

from __future__ import annotations

from typing import Any, ClassVar

from localaws.asl.errors import StateFailure
from localaws.asl.integrations import Integration, Pattern, TaskRequest

SERVICE = "local"
ACTIONS: dict[str, frozenset[Pattern]] = {
    "passthrough": frozenset({Pattern.REQUEST_RESPONSE, Pattern.SYNC, Pattern.WAIT_FOR_TASK_TOKEN}),
    "fail": frozenset({Pattern.REQUEST_RESPONSE}),
    "sleep": frozenset({Pattern.REQUEST_RESPONSE, Pattern.SYNC}),
}
DEFAULT_ERROR = "Local.Failure"


class PassthroughIntegration(Integration):
    SERVICE: ClassVar[str] = SERVICE
    ACTIONS: ClassVar[dict[str, frozenset[Pattern]]] = ACTIONS

    def validate(self, action: str, pattern: Pattern, parameters: Any, where: str) -> list[str]:
        problems = []
        if action == "fail" and isinstance(parameters, dict):
            error = parameters.get("Error")
            if error is not None and not isinstance(error, str):
                problems.append(
                    f"{where}.Parameters.Error: must be a string error name, got {error!r}"
                )
        if action == "sleep" and isinstance(parameters, dict):
            seconds = parameters.get("Seconds")
            if "Seconds.$" not in parameters and (
                isinstance(seconds, bool) or not isinstance(seconds, int | float) or seconds < 0
            ):
                problems.append(
                    f"{where}.Parameters.Seconds: required, a non-negative number of seconds to sleep"
                )
        return problems

    def run(self, request: TaskRequest) -> Any:
        params = request.parameters
        if request.action == "fail":
            body = params if isinstance(params, dict) else {}
            raise StateFailure(
                str(body.get("Error") or DEFAULT_ERROR), str(body.get("Cause") or "")
            )
        if request.action == "sleep":
            seconds = float(params.get("Seconds", 0)) if isinstance(params, dict) else 0.0
            every = params.get("HeartbeatEverySeconds") if isinstance(params, dict) else None
            step = float(every) if every else seconds
            left = seconds
            while left > 0 and not request.cancelled.is_set():
                request.cancelled.wait(min(step, left))
                left -= step
                if every and request.heartbeat is not None:
                    request.heartbeat()
        return params
