"""Step Functions' SQS integration: ``arn:aws:states:::sqs:<action>``.

A JSON object or array given as ``MessageBody`` is sent as its JSON text, as AWS does.
The Parameters are the SQS API request; the result is its response; an API error is
``SQS.<exception>``.  ``.waitForTaskToken``: the call is made (put
``$$.Task.Token`` in the request) and the task waits for SendTaskSuccess/Failure.

A ``.waitForTaskToken`` task interrupted by a crash between its send and the record of the
send (TaskSubmitted) goes on with the same token, so with the same message: when that
message is still in the queue it is not sent again (Standard workflows run a task once).
A message already received and deleted before the crash cannot be told from one never
sent: it is sent again, the one case a consumer sees a token twice.
"""

from __future__ import annotations

from typing import Any, ClassVar

from localaws.asl.integrations import Pattern, TaskRequest
from localaws.stepfunctions.integrations.mounted_api import MountedApiIntegration, json_text

SERVICE = "sqs"
RR, WAIT = Pattern.REQUEST_RESPONSE, Pattern.WAIT_FOR_TASK_TOKEN
ACTIONS: dict[str, frozenset[Pattern]] = {
    "sendMessage": frozenset({RR, WAIT}),
}
BOTOCORE_SERVICE = "sqs"
ERROR_PREFIX = "SQS"


class SQSIntegration(MountedApiIntegration):
    SERVICE: ClassVar[str] = SERVICE
    ACTIONS: ClassVar[dict[str, frozenset[Pattern]]] = ACTIONS
    BOTOCORE_SERVICE: ClassVar[str] = BOTOCORE_SERVICE
    ERROR_PREFIX: ClassVar[str] = ERROR_PREFIX

    def prepare(self, action: str, params: dict[str, Any]) -> dict[str, Any]:
        if "MessageBody" in params:
            params["MessageBody"] = json_text(params["MessageBody"])
        return params

    def run(self, request: TaskRequest) -> Any:
        params = request.parameters if isinstance(request.parameters, dict) else {}
        if request.resumed and request.pattern is WAIT and request.action == "sendMessage":
            sent = self.prepare(request.action, dict(params))
            queued = self.runtime.backend(BOTOCORE_SERVICE).queued_message(
                str(sent.get("QueueUrl", "")), str(sent.get("MessageBody", ""))
            )
            if queued is not None:
                return queued
        return super().run(request)
