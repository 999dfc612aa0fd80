"""S3 event notifications from the local S3 to Lambda, SQS, SNS and EventBridge.

``PutBucketNotificationConfiguration`` stores a bucket's configuration (botocore's shape:
``LambdaFunctionConfigurations``, ``QueueConfigurations``, ``TopicConfigurations``,
``EventBridgeConfiguration``) in the runtime's database, after checking that every
destination exists, as S3 does.  The object store reports each object created or removed
(:meth:`S3Notifications.object_event`, called before the request is acknowledged); every
matching destination gets one row in the ``s3.notification`` outbox (durable), and the
outbox's thread delivers it:

* Lambda: an asynchronous invocation (``InvocationType=Event``: Lambda's own queue, retries
  and destinations apply);
* SQS: ``SendMessage``; SNS: ``Publish`` with subject ``Amazon S3 Notification``;
* EventBridge: ``PutEvents`` of ``Object Created`` / ``Object Deleted`` (source ``aws.s3``)
  on the default bus, for every object event, when the bucket has ``EventBridgeConfiguration``.

Event shapes are AWS's: ``Records[]`` with ``eventVersion`` 2.1, the key URL-encoded
(spaces as ``+``), ``size``/``eTag`` for created objects, a ``sequencer`` that grows per key.
A destination that fails is retried with a backoff (S3 retries; there is no dead-letter
queue for S3 notifications).
"""

from __future__ import annotations

import json
import time
import uuid
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any
from urllib.parse import quote_plus

from localaws.errors import ServiceError
from localaws.outbox import Outbox
from localaws.store import JsonRecords

if TYPE_CHECKING:
    from localaws.runtime import Runtime

KIND = "s3.notification"
CHANNEL = "s3.notification"
CREATED = ("Put", "Post", "Copy", "CompleteMultipartUpload")
REMOVED = ("Delete", "DeleteMarkerCreated")
EVENT_NAMES = frozenset(
    ["s3:ObjectCreated:*", "s3:ObjectRemoved:*"]
    + [f"s3:ObjectCreated:{e}" for e in CREATED]
    + [f"s3:ObjectRemoved:{e}" for e in REMOVED]
)
# (configuration list, the member naming its destination, the destination's service)
DESTINATIONS = (
    ("LambdaFunctionConfigurations", "LambdaFunctionArn", "lambda"),
    ("QueueConfigurations", "QueueArn", "sqs"),
    ("TopicConfigurations", "TopicArn", "sns"),
)
EVENTBRIDGE_REASONS = {
    "Put": "PutObject",
    "Post": "POST Object",
    "Copy": "CopyObject",
    "CompleteMultipartUpload": "CompleteMultipartUpload",
    "Delete": "DeleteObject",
}
MAX_RETRY_DELAY_S = 30.0


def _invalid(message: str) -> ServiceError:
    return ServiceError("InvalidArgument", message)


class S3Notifications:
    """The notification configurations of the local S3 and their delivery."""

    def __init__(self, runtime: Runtime):
        self.runtime = runtime
        self.records = JsonRecords(runtime.db)
        self.outbox = Outbox(runtime.db, CHANNEL, self._deliver, workers=2)
        self._sequence = time.time_ns()

    # -- configuration -----------------------------------------------------------------

    def get(self, bucket: str) -> dict[str, Any]:
        return self.records.get(KIND, bucket) or {}

    def forget(self, bucket: str) -> None:
        self.records.delete(KIND, bucket)

    def put(self, bucket: str, configuration: dict[str, Any]) -> None:
        """Check and store ``configuration`` (botocore's NotificationConfiguration shape)."""
        for list_name, member, service in DESTINATIONS:
            for i, entry in enumerate(configuration.get(list_name, [])):
                where = f"NotificationConfiguration.{list_name}[{i}]"
                arn = entry.get(member)
                if not arn:
                    raise _invalid(f"{where}.{member}: required; give the destination's ARN")
                events = entry.get("Events") or []
                if not events:
                    raise _invalid(
                        f"{where}.Events: give at least one event, e.g. s3:ObjectCreated:*"
                    )
                for event in events:
                    if event not in EVENT_NAMES:
                        raise _invalid(
                            f"{where}.Events: {event!r} is not an event the local S3 sends; "
                            f"use one of {', '.join(sorted(EVENT_NAMES))}"
                        )
                for rule in entry.get("Filter", {}).get("Key", {}).get("FilterRules", []):
                    if str(rule.get("Name", "")).lower() not in ("prefix", "suffix"):
                        raise _invalid(
                            f"{where}.Filter.Key.FilterRules: {rule.get('Name')!r} is not a "
                            "filter rule name; use prefix or suffix"
                        )
                entry.setdefault("Id", str(uuid.uuid4()))
                self._check_destination(service, arn, f"{where}.{member}")
        self.records.put(KIND, bucket, configuration, time.time())

    def _check_destination(self, service: str, arn: str, where: str) -> None:
        parts = arn.split(":")
        if len(parts) < 6 or parts[2] != service:
            raise _invalid(f"{where}: {arn!r} is not a {service} ARN")
        try:
            if service == "lambda":
                self.runtime.lambda_.get_function(FunctionName=arn)
            elif service == "sqs":
                self.runtime.sqs.get_queue_url(QueueName=parts[5])
            else:
                self.runtime.sns.get_topic_attributes(TopicArn=arn)
        except ServiceError as e:
            raise _invalid(
                f"Unable to validate the following destination configurations: {where} = "
                f"{arn} does not exist ({e.code}); create it first"
            ) from e

    # -- events ------------------------------------------------------------------------

    def object_event(
        self, event: str, bucket: str, key: str, size: int | None = None, etag: str | None = None
    ) -> None:
        """An object was created (``ObjectCreated:Put``...) or removed: queue its
        notifications durably.  Called by the object store before the request is answered."""
        configuration = self.get(bucket)
        if not configuration:
            return
        self._sequence = max(self._sequence + 1, time.time_ns())
        record = self._record(event, bucket, key, size, etag, f"{self._sequence:016X}")
        for list_name, member, _service in DESTINATIONS:
            for entry in configuration.get(list_name, []):
                if _matches(entry, event, key):
                    rec = json.loads(json.dumps(record))
                    rec["s3"]["configurationId"] = entry["Id"]
                    self.outbox.put({"destination": entry[member], "record": rec})
        if "EventBridgeConfiguration" in configuration:
            self.outbox.put({"destination": "eventbridge", "record": record})

    def _record(
        self, event: str, bucket: str, key: str, size: int | None, etag: str | None, sequencer: str
    ) -> dict[str, Any]:
        now = datetime.now(UTC)
        obj: dict[str, Any] = {"key": quote_plus(key, safe="/")}
        if size is not None:
            obj["size"] = size
        if etag is not None:
            obj["eTag"] = etag.strip('"')
        obj["sequencer"] = sequencer
        request_id = uuid.uuid4().hex[:16].upper()
        return {
            "eventVersion": "2.1",
            "eventSource": "aws:s3",
            "awsRegion": self.runtime.region,
            "eventTime": now.strftime("%Y-%m-%dT%H:%M:%S.") + f"{now.microsecond // 1000:03d}Z",
            "eventName": event,
            "userIdentity": {"principalId": f"AWS:{self.runtime.account_id}"},
            "requestParameters": {"sourceIPAddress": "127.0.0.1"},
            "responseElements": {"x-amz-request-id": request_id, "x-amz-id-2": uuid.uuid4().hex},
            "s3": {
                "s3SchemaVersion": "1.0",
                "configurationId": "",
                "bucket": {
                    "name": bucket,
                    "ownerIdentity": {"principalId": self.runtime.account_id},
                    "arn": f"arn:aws:s3:::{bucket}",
                },
                "object": obj,
            },
        }

    # -- delivery ----------------------------------------------------------------------

    def _deliver(self, body: dict[str, Any], attempt: int) -> float | None:
        destination, record = body["destination"], body["record"]
        try:
            if destination == "eventbridge":
                self._to_eventbridge(record)
                return None
            message = json.dumps({"Records": [record]})
            service = destination.split(":")[2]
            if service == "lambda":
                self.runtime.lambda_.invoke(
                    FunctionName=destination, InvocationType="Event", Payload=message.encode()
                )
            elif service == "sqs":
                url = self.runtime.sqs.get_queue_url(QueueName=destination.split(":")[5])
                self.runtime.sqs.send_message(QueueUrl=url["QueueUrl"], MessageBody=message)
            else:
                self.runtime.sns.publish(
                    TopicArn=destination, Message=message, Subject="Amazon S3 Notification"
                )
        except ServiceError:
            # The destination is gone or refused: S3 keeps retrying for a while.
            if attempt >= 8:
                raise
            return min(2.0**attempt, MAX_RETRY_DELAY_S)
        return None

    def _to_eventbridge(self, record: dict[str, Any]) -> None:
        event = record["eventName"].split(":", 1)
        created = event[0] == "ObjectCreated"
        obj = record["s3"]["object"]
        detail: dict[str, Any] = {
            "version": "0",
            "bucket": {"name": record["s3"]["bucket"]["name"]},
            "object": {
                "key": _unquote_key(obj["key"]),
                **({"size": obj["size"]} if "size" in obj else {}),
                **({"etag": obj["eTag"]} if "eTag" in obj else {}),
                "sequencer": obj["sequencer"],
            },
            "request-id": record["responseElements"]["x-amz-request-id"],
            "requester": self.runtime.account_id,
            "source-ip-address": "127.0.0.1",
            "reason": EVENTBRIDGE_REASONS.get(event[1], event[1]),
        }
        if not created:
            detail["deletion-type"] = "Permanently Deleted"
        self.runtime.events.put_events(
            Entries=[
                {
                    "Source": "aws.s3",
                    "DetailType": "Object Created" if created else "Object Deleted",
                    "Resources": [record["s3"]["bucket"]["arn"]],
                    "Detail": json.dumps(detail),
                }
            ]
        )


def _unquote_key(key: str) -> str:
    from urllib.parse import unquote_plus

    return unquote_plus(key)


def _matches(entry: dict[str, Any], event: str, key: str) -> bool:
    kind = event.split(":", 1)[0]
    wanted = entry.get("Events", [])
    if f"s3:{event}" not in wanted and f"s3:{kind}:*" not in wanted:
        return False
    for rule in entry.get("Filter", {}).get("Key", {}).get("FilterRules", []):
        name, value = str(rule.get("Name", "")).lower(), str(rule.get("Value", ""))
        if name == "prefix" and not key.startswith(value):
            return False
        if name == "suffix" and not key.endswith(value):
            return False
    return True
