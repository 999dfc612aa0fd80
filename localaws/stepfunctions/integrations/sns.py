"""Step Functions' SNS integration: ``arn:aws:states:::sns:<action>``.

A JSON object or array given as ``Message`` is sent as its JSON text, as AWS does.
The Parameters are the SNS API request; the result is its response; an API error is
``SNS.<exception>``.  ``.waitForTaskToken``: the call is made (put
``$$.Task.Token`` in the request) and the task waits for SendTaskSuccess/Failure.
"""

from __future__ import annotations

from typing import Any, ClassVar

from localaws.asl.integrations import Pattern
from localaws.stepfunctions.integrations.mounted_api import MountedApiIntegration, json_text

SERVICE = "sns"
RR, WAIT = Pattern.REQUEST_RESPONSE, Pattern.WAIT_FOR_TASK_TOKEN
ACTIONS: dict[str, frozenset[Pattern]] = {
    "publish": frozenset({RR, WAIT}),
}
BOTOCORE_SERVICE = "sns"
ERROR_PREFIX = "SNS"


class SNSIntegration(MountedApiIntegration):
    SERVICE: ClassVar[str] = SERVICE
    ACTIONS: ClassVar[dict[str, frozenset[Pattern]]] = ACTIONS
    BOTOCORE_SERVICE: ClassVar[str] = BOTOCORE_SERVICE
    ERROR_PREFIX: ClassVar[str] = ERROR_PREFIX

    def prepare(self, action: str, params: dict[str, Any]) -> dict[str, Any]:
        if "Message" in params:
            params["Message"] = json_text(params["Message"])
        return params
