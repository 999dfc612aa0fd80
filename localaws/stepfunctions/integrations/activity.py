"""Activity Tasks: ``Resource`` is an activity ARN (``arn:aws:states:<region>:<account>:activity:<name>``).

The task's input goes on the activity's queue; the engine then waits for the token a
worker got from GetActivityTask (SendTaskSuccess/Failure/Heartbeat), with the state's
TimeoutSeconds and HeartbeatSeconds.  An activity deleted or never created fails the task
with ``States.Runtime`` naming it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar

from localaws.asl.errors import StateFailure, StatesError
from localaws.asl.history import to_json
from localaws.asl.integrations import Integration, Pattern, TaskRequest
from localaws.stepfunctions.activities import ACTIVITY_ARN, QueuedTask

if TYPE_CHECKING:
    from localaws.stepfunctions.backend import StepFunctionsBackend

SERVICE = "activity"
ACTIONS: dict[str, frozenset[Pattern]] = {}


class ActivityIntegration(Integration):
    SERVICE: ClassVar[str] = SERVICE
    ACTIONS: ClassVar[dict[str, frozenset[Pattern]]] = ACTIONS
    LEGACY_ARN = ACTIVITY_ARN
    LEGACY_PATTERN = Pattern.WAIT_FOR_TASK_TOKEN

    def __init__(self) -> None:
        self.backend: StepFunctionsBackend | None = None

    def bind_backend(self, backend: StepFunctionsBackend) -> None:
        self.backend = backend

    def run(self, request: TaskRequest) -> Any:
        assert self.backend is not None, "the activity integration is bound to a backend"
        activities = self.backend.activities
        if not activities.exists(request.resource):
            raise StateFailure(
                StatesError.RUNTIME,
                f"Activity Does Not Exist: '{request.resource}'; create it with CreateActivity",
            )
        assert request.task_token is not None
        activities.enqueue(
            request.resource,
            QueuedTask(request.task_token, to_json(request.parameters), request.started),
        )
        return None
