"""Lambda's asynchronous invocation (``InvocationType=Event``): a durable queue, retries,
destinations.

``Invoke`` with ``InvocationType=Event`` puts the event in the ``lambda.async`` outbox
(committed before the 202 leaves) and returns; the outbox's threads run it.  As on AWS:

* a function error (or a timeout, a crash) is retried ``MaximumRetryAttempts`` times
  (default 2), waiting longer each time (AWS waits about 1 then 2 minutes; locally
  :data:`RETRY_DELAYS_S`);
* an event older than ``MaximumEventAgeInSeconds`` (default 6 hours) is not run again;
* then the invocation record goes to the ``OnFailure`` destination of the function's event
  invoke configuration (SQS, SNS, Lambda or EventBridge), a success to ``OnSuccess``, with
  AWS's record shape (``requestContext.condition``: ``RetriesExhausted``,
  ``EventAgeExceeded``, ``Success``).

The event invoke configuration API (``PutFunctionEventInvokeConfig`` ...) lives here too and
is served by :class:`~localaws.lambda_.backend.LambdaBackend`.
"""

from __future__ import annotations

import json
import time
import uuid
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from localaws.errors import ServiceError
from localaws.outbox import Outbox
from localaws.store import JsonRecords

if TYPE_CHECKING:
    from localaws.lambda_.backend import LambdaBackend

CHANNEL = "lambda.async"
KIND = "lambda.event-invoke-config"
DEFAULT_RETRIES = 2
DEFAULT_MAX_AGE_S = 21600
RETRY_DELAYS_S = (1.0, 2.0)
WORKERS = 4


def _invalid(message: str) -> ServiceError:
    return ServiceError("InvalidParameterValueException", message)


class AsyncInvoker:
    """The asynchronous invocations of one runtime's functions."""

    def __init__(self, backend: LambdaBackend):
        self.backend = backend
        self.runtime = backend.runtime
        self.records = JsonRecords(self.runtime.db)
        self.outbox = Outbox(self.runtime.db, CHANNEL, self._run, workers=WORKERS)

    # -- queueing ------------------------------------------------------------------------

    def submit(self, name: str, payload: bytes) -> str:
        """Queue one event for ``name``; returns its request id."""
        request_id = str(uuid.uuid4())
        self.outbox.put(
            {
                "function": name,
                "payload": payload.decode(),
                "requestId": request_id,
                "queued": time.time(),
            }
        )
        return request_id

    # -- the event invoke configuration --------------------------------------------------

    def put_config(self, name: str, params: dict[str, Any], *, update: bool) -> dict[str, Any]:
        current = self.records.get(KIND, name) if update else None
        conf: dict[str, Any] = dict(current or {})
        retries = params.get("MaximumRetryAttempts")
        if retries is not None:
            if not isinstance(retries, int) or not 0 <= retries <= 2:
                raise _invalid(f"MaximumRetryAttempts: {retries!r} must be 0, 1 or 2")
            conf["MaximumRetryAttempts"] = retries
        age = params.get("MaximumEventAgeInSeconds")
        if age is not None:
            if not isinstance(age, int) or not 60 <= age <= 21600:
                raise _invalid(f"MaximumEventAgeInSeconds: {age!r} must be 60 to 21600 seconds")
            conf["MaximumEventAgeInSeconds"] = age
        destinations = params.get("DestinationConfig")
        if destinations is not None:
            for which in ("OnSuccess", "OnFailure"):
                arn = (destinations.get(which) or {}).get("Destination")
                if arn:
                    service = arn.split(":")[2] if arn.count(":") >= 5 else ""
                    if service not in ("sqs", "sns", "lambda", "events"):
                        raise _invalid(
                            f"DestinationConfig.{which}.Destination: {arn!r} is not an SQS queue, "
                            "SNS topic, Lambda function or EventBridge bus ARN"
                        )
            conf["DestinationConfig"] = {
                "OnSuccess": dict(destinations.get("OnSuccess") or {}),
                "OnFailure": dict(destinations.get("OnFailure") or {}),
            }
        conf["FunctionArn"] = self.backend.function_arn(name)
        conf["LastModified"] = datetime.now(UTC)
        self.records.put(KIND, name, conf, time.time())
        return self.get_config(name)

    def get_config(self, name: str) -> dict[str, Any]:
        conf = self.records.get(KIND, name)
        if conf is None:
            raise ServiceError(
                "ResourceNotFoundException",
                f"The function {self.backend.function_arn(name)} doesn't have an EventInvokeConfig",
                status=404,
            )
        conf.setdefault("DestinationConfig", {"OnSuccess": {}, "OnFailure": {}})
        conf["LastModified"] = datetime.fromisoformat(str(conf["LastModified"]))
        return conf

    def delete_config(self, name: str) -> None:
        self.get_config(name)
        self.records.delete(KIND, name)

    # -- running -------------------------------------------------------------------------

    def _run(self, event: dict[str, Any], attempt: int) -> float | None:
        name = event["function"]
        conf = self.records.get(KIND, name) or {}
        retries = int(conf.get("MaximumRetryAttempts", DEFAULT_RETRIES))
        max_age = float(conf.get("MaximumEventAgeInSeconds", DEFAULT_MAX_AGE_S))
        try:
            self.backend._record(name)
        except ServiceError:
            return None  # the function was deleted: AWS discards its queued events
        if attempt > 0 and time.time() - float(event["queued"]) > max_age:
            self._destination(conf, "OnFailure", event, attempt, "EventAgeExceeded", None)
            return None
        result = self.backend.invoke_function(name, event["payload"].encode())
        if result.function_error is None:
            self._destination(conf, "OnSuccess", event, attempt + 1, "Success", result)
            return None
        if attempt < retries:
            return RETRY_DELAYS_S[min(attempt, len(RETRY_DELAYS_S) - 1)]
        self._destination(conf, "OnFailure", event, attempt + 1, "RetriesExhausted", result)
        return None

    def _destination(
        self,
        conf: dict[str, Any],
        which: str,
        event: dict[str, Any],
        count: int,
        condition: str,
        result: Any,
    ) -> None:
        arn = conf.get("DestinationConfig", {}).get(which, {}).get("Destination")
        if not arn:
            return
        function_arn = self.backend.function_arn(event["function"])
        now = datetime.now(UTC)
        record: dict[str, Any] = {
            "version": "1.0",
            "timestamp": now.strftime("%Y-%m-%dT%H:%M:%S.") + f"{now.microsecond // 1000:03d}Z",
            "requestContext": {
                "requestId": event["requestId"],
                "functionArn": f"{function_arn}:$LATEST",
                "condition": condition,
                "approximateInvokeCount": count,
            },
            "requestPayload": json.loads(event["payload"]),
        }
        if result is not None:
            context: dict[str, Any] = {"statusCode": 200, "executedVersion": "$LATEST"}
            if result.function_error:
                context["functionError"] = result.function_error
            record["responseContext"] = context
            try:
                record["responsePayload"] = json.loads(result.payload or b"null")
            except json.JSONDecodeError:
                record["responsePayload"] = result.payload.decode("utf-8", "replace")
        send_record(self.runtime, arn, record, which)


def send_record(runtime: Any, arn: str, record: dict[str, Any], which: str) -> None:
    """Deliver an invocation record to an SQS queue, SNS topic, Lambda function or
    EventBridge bus (the destinations of async invocations and event source mappings)."""
    service = arn.split(":")[2]
    body = json.dumps(record)
    if service == "sqs":
        url = runtime.sqs.get_queue_url(QueueName=arn.split(":")[5])["QueueUrl"]
        runtime.sqs.send_message(QueueUrl=url, MessageBody=body)
    elif service == "sns":
        runtime.sns.publish(TopicArn=arn, Message=body)
    elif service == "lambda":
        runtime.lambda_.invoke(FunctionName=arn, InvocationType="Event", Payload=body.encode())
    elif service == "events":
        outcome = "Success" if which == "OnSuccess" else "Failure"
        runtime.events.put_events(
            Entries=[
                {
                    "Source": "lambda",
                    "DetailType": f"Lambda Function Invocation Result - {outcome}",
                    "Detail": body,
                    "Resources": [record["requestContext"]["functionArn"]],
                    "EventBusName": arn,
                }
            ]
        )
    else:
        raise ServiceError("InvalidParameterValueException", f"unsupported destination {arn}")
