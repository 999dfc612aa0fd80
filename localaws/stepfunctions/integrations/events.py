"""Step Functions' EventBridge integration: ``arn:aws:states:::events:<action>``.

A JSON object or array given as ``Detail`` is sent as its JSON text, as AWS does.
The Parameters are the EventBridge API request; the result is its response; an API error is
``EventBridge.<exception>``.  ``.waitForTaskToken``: the call is made (put
``$$.Task.Token`` in the request) and the task waits for SendTaskSuccess/Failure.
"""

from __future__ import annotations

from typing import Any, ClassVar

from localaws.asl.integrations import Pattern
from localaws.stepfunctions.integrations.mounted_api import MountedApiIntegration, json_text

SERVICE = "events"
RR, WAIT = Pattern.REQUEST_RESPONSE, Pattern.WAIT_FOR_TASK_TOKEN
ACTIONS: dict[str, frozenset[Pattern]] = {
    "putEvents": frozenset({RR, WAIT}),
}
BOTOCORE_SERVICE = "events"
ERROR_PREFIX = "EventBridge"


class EventBridgeIntegration(MountedApiIntegration):
    SERVICE: ClassVar[str] = SERVICE
    ACTIONS: ClassVar[dict[str, frozenset[Pattern]]] = ACTIONS
    BOTOCORE_SERVICE: ClassVar[str] = BOTOCORE_SERVICE
    ERROR_PREFIX: ClassVar[str] = ERROR_PREFIX

    def prepare(self, action: str, params: dict[str, Any]) -> dict[str, Any]:
        entries = params.get("Entries")
        if isinstance(entries, list):
            params["Entries"] = [
                {**e, "Detail": json_text(e["Detail"])}
                if isinstance(e, dict) and "Detail" in e
                else e
                for e in entries
            ]
        return params
