"""Step Functions' Glue integration: ``arn:aws:states:::glue:startJobRun[.sync]``.

The Parameters are the ``StartJobRun`` request; request-response returns its response
(``JobRunId``).  ``.sync`` waits for the run's end (:mod:`localaws.glue.jobs` runs it) and
returns the ``GetJobRun`` run (``JobRunState``, ``Arguments``...), failing with
``States.TaskFailed`` (cause: the run's JSON) when it is ``FAILED``, ``STOPPED``, ``TIMEOUT``
or ``ERROR``; a cancelled task stops the run (``BatchStopJobRun``).  An API error is
``Glue.<exception>``.
"""

from __future__ import annotations

import contextlib
import json
from typing import Any, ClassVar

from localaws.asl.errors import StateFailure, StatesError
from localaws.asl.integrations import Pattern, TaskRequest
from localaws.errors import ServiceError
from localaws.stepfunctions.integrations.mounted_api import (
    MountedApiIntegration,
    exception_names,
    to_json,
)

SERVICE = "glue"
RR, SYNC = Pattern.REQUEST_RESPONSE, Pattern.SYNC
ACTIONS: dict[str, frozenset[Pattern]] = {
    "startJobRun": frozenset({RR, SYNC}),
}
BOTOCORE_SERVICE = "glue"
ERROR_PREFIX = "Glue"
FAILED_STATES = ("FAILED", "STOPPED", "TIMEOUT", "ERROR")
DONE_STATES = ("SUCCEEDED", *FAILED_STATES)
POLL_SECONDS = 0.5


class GlueIntegration(MountedApiIntegration):
    SERVICE: ClassVar[str] = SERVICE
    ACTIONS: ClassVar[dict[str, frozenset[Pattern]]] = ACTIONS
    BOTOCORE_SERVICE: ClassVar[str] = BOTOCORE_SERVICE
    ERROR_PREFIX: ClassVar[str] = ERROR_PREFIX

    def _call(self, operation: str, **params: Any) -> dict[str, Any]:
        try:
            result: dict[str, Any] = getattr(self.runtime.glue, operation)(**params)
            return result
        except ServiceError as e:
            name = exception_names(BOTOCORE_SERVICE).get(e.code, e.code)
            raise StateFailure(f"{ERROR_PREFIX}.{name}", e.message) from e

    def run(self, request: TaskRequest) -> Any:
        started = super().run(request)
        if request.pattern is not Pattern.SYNC:
            return started
        if request.submitted is not None:
            request.submitted(started)
        job = request.parameters["JobName"]
        run_id = started["JobRunId"]
        while True:
            run = self._call("get_job_run", JobName=job, RunId=run_id)["JobRun"]
            if run["JobRunState"] in DONE_STATES:
                break
            if request.cancelled.is_set():
                with contextlib.suppress(StateFailure):
                    self._call("batch_stop_job_run", JobName=job, JobRunIds=[run_id])
                return to_json(run)
            request.cancelled.wait(POLL_SECONDS)
        body = to_json(run)
        if run["JobRunState"] in FAILED_STATES:
            raise StateFailure(StatesError.TASK_FAILED.value, json.dumps(body))
        return body
