"""Step Functions' Athena integration: ``arn:aws:states:::athena:<action>``.

``startQueryExecution`` (request-response or ``.sync``), ``getQueryExecution``,
``getQueryResults``, ``stopQueryExecution``: the Parameters are the API request, the result
its response.  ``.sync`` waits for the query's end (:mod:`localaws.athena.queries` runs it
on DuckDB) and returns the ``GetQueryExecution`` response, failing with
``States.TaskFailed`` (cause: that JSON) when the query is ``FAILED`` or ``CANCELLED``; a
cancelled task stops the query.  An API error is ``Athena.<exception>``.
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

SERVICE = "athena"
RR, SYNC = Pattern.REQUEST_RESPONSE, Pattern.SYNC
ACTIONS: dict[str, frozenset[Pattern]] = {
    "startQueryExecution": frozenset({RR, SYNC}),
    "getQueryExecution": frozenset({RR}),
    "getQueryResults": frozenset({RR}),
    "stopQueryExecution": frozenset({RR}),
}
BOTOCORE_SERVICE = "athena"
ERROR_PREFIX = "Athena"
FAILED_STATES = ("FAILED", "CANCELLED")
POLL_SECONDS = 0.2


class AthenaIntegration(MountedApiIntegration):
    SERVICE: ClassVar[str] = SERVICE
    ACTIONS: ClassVar[dict[str, frozenset[Pattern]]] = ACTIONS
    BOTOCORE_SERVICE: ClassVar[str] = BOTOCORE_SERVICE
    ERROR_PREFIX: ClassVar[str] = ERROR_PREFIX

    def _execution(self, query_id: str) -> dict[str, Any]:
        try:
            result: dict[str, Any] = self.runtime.athena.get_query_execution(
                QueryExecutionId=query_id
            )
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
        query_id = started["QueryExecutionId"]
        while True:
            result = self._execution(query_id)
            state = result["QueryExecution"]["Status"]["State"]
            if state in ("SUCCEEDED", *FAILED_STATES):
                break
            if request.cancelled.is_set():
                with contextlib.suppress(ServiceError):
                    self.runtime.athena.stop_query_execution(QueryExecutionId=query_id)
                return to_json(result)
            request.cancelled.wait(POLL_SECONDS)
        body = to_json(result)
        if state in FAILED_STATES:
            raise StateFailure(StatesError.TASK_FAILED.value, json.dumps(body))
        return body
