"""Lambda event source mappings: pollers that read SQS queues, Kinesis streams and DynamoDB
streams and invoke a function with batches, with AWS's retry and failure semantics.

A mapping is a record in the runtime's database (``CreateEventSourceMapping`` ... are served
by :class:`~localaws.lambda_.backend.LambdaBackend` and land here); each enabled mapping has
one poller thread, started when the runtime starts.

* **SQS**: ``ReceiveMessage`` (long polling) up to ``BatchSize`` messages, gathering for up
  to ``MaximumBatchingWindowInSeconds``; on success the batch is deleted; with
  ``FunctionResponseTypes=[ReportBatchItemFailures]`` only the messages not named in the
  response's ``batchItemFailures`` are.  A failed message stays in the queue, comes back
  after the visibility timeout and, past the queue's ``RedrivePolicy.maxReceiveCount``,
  is moved to its dead-letter queue by SQS itself.
* **Kinesis / DynamoDB Streams**: per shard, from ``StartingPosition`` (``TRIM_HORIZON``,
  ``LATEST`` -- fixed when the mapping is created --, ``AT_TIMESTAMP``), batches of up to
  ``BatchSize`` records in order.  A failed batch is retried up to
  ``MaximumRetryAttempts`` times (-1: until it succeeds), split in halves first when
  ``BisectBatchOnFunctionError`` is set, so a poisoned record ends up alone; a batch that
  exhausts its retries is described (not copied) to ``DestinationConfig.OnFailure`` (SQS or
  SNS) and skipped.  The position (last sequence number handled, per shard) is persisted
  after each batch, so a restart resumes where the mapping was.  A poller with nothing to
  read sleeps until a write to its stream or table is accepted (the services bridge's
  observer wakes it; ``STREAM_IDLE_S`` bounds the sleep), so a record put on an idle stream
  reaches the function at once.
"""

from __future__ import annotations

import base64
import json
import logging
import threading
import time
import uuid
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from localaws.errors import ServiceError
from localaws.lambda_.async_invoke import send_record
from localaws.store import JsonRecords

if TYPE_CHECKING:
    from localaws.lambda_.backend import LambdaBackend
    from localaws.motobridge.bridge import MotoBridge, Mutation

log = logging.getLogger(__name__)

KIND = "lambda.event-source-mapping"
POSITION_KIND = "lambda.event-source-position"
SQS_DEFAULT_BATCH, SQS_MAX_BATCH = 10, 10000
STREAM_DEFAULT_BATCH, STREAM_MAX_BATCH = 100, 10000
POLL_WAIT_S = 2  # SQS long-poll wait per receive; bounds how long stop() waits
STREAM_IDLE_S = 1.0  # an idle stream poller's sleep when no write wakes it
STARTING_POSITIONS = ("TRIM_HORIZON", "LATEST", "AT_TIMESTAMP")
_UPDATABLE = (
    "FunctionName",
    "Enabled",
    "BatchSize",
    "MaximumBatchingWindowInSeconds",
    "DestinationConfig",
    "MaximumRecordAgeInSeconds",
    "BisectBatchOnFunctionError",
    "MaximumRetryAttempts",
    "FunctionResponseTypes",
)


def _invalid(message: str) -> ServiceError:
    return ServiceError("InvalidParameterValueException", message)


def _not_found(identifier: str) -> ServiceError:
    return ServiceError(
        "ResourceNotFoundException",
        f"The resource you requested does not exist. (Service: Lambda, UUID: {identifier})",
        status=404,
    )


def _source_kind(arn: Any) -> str:
    if isinstance(arn, str):
        parts = arn.split(":")
        if len(parts) >= 6 and parts[2] == "sqs":
            return "sqs"
        if len(parts) >= 6 and parts[2] == "kinesis" and parts[5].startswith("stream/"):
            return "kinesis"
        if len(parts) >= 6 and parts[2] == "dynamodb" and "/stream/" in parts[5]:
            return "dynamodb"
    raise _invalid(
        f"EventSourceArn: {arn!r} is not an event source the local runtime polls; give an SQS "
        "queue, Kinesis stream or DynamoDB stream ARN"
    )


class EventSources:
    """The event source mappings of one runtime and their pollers."""

    def __init__(self, backend: LambdaBackend):
        self.backend = backend
        self.runtime = backend.runtime
        self.records = JsonRecords(self.runtime.db)
        self._pollers: dict[str, _Poller] = {}
        self._stopping: list[_Poller] = []
        self._lock = threading.Lock()
        self._started = False
        self._observed: MotoBridge | None = None

    # -- API -----------------------------------------------------------------------------

    def create(self, params: dict[str, Any]) -> dict[str, Any]:
        arn = params.get("EventSourceArn")
        kind = _source_kind(arn)
        name = self.backend.resolve_name(params.get("FunctionName"))
        self.backend._record(name)
        self._check_source(kind, str(arn))
        for existing in self.records.list(KIND):
            if existing["EventSourceArn"] == arn and existing["FunctionArn"].endswith(f":{name}"):
                raise ServiceError(
                    "ResourceConflictException",
                    f'An event source mapping with {kind} arn " {arn} " and function " {name} '
                    f'" already exists. Please update or delete the existing mapping with UUID '
                    f"{existing['UUID']}",
                    status=409,
                )
        identifier = str(uuid.uuid4())
        record: dict[str, Any] = {
            "UUID": identifier,
            "EventSourceArn": arn,
            "FunctionArn": self.backend.function_arn(name),
            "EventSourceMappingArn": self.runtime.arn(
                "lambda", f"event-source-mapping:{identifier}"
            ),
            "BatchSize": SQS_DEFAULT_BATCH if kind == "sqs" else STREAM_DEFAULT_BATCH,
            "MaximumBatchingWindowInSeconds": 0,
            "FunctionResponseTypes": [],
            "Enabled": True,
        }
        if kind != "sqs":
            position = params.get("StartingPosition")
            if position not in STARTING_POSITIONS:
                raise _invalid(
                    f"StartingPosition: {position!r}; a stream mapping needs one of "
                    + ", ".join(STARTING_POSITIONS)
                )
            record.update(
                {
                    "StartingPosition": position,
                    "MaximumRetryAttempts": -1,
                    "MaximumRecordAgeInSeconds": -1,
                    "BisectBatchOnFunctionError": False,
                    "ParallelizationFactor": 1,
                    "DestinationConfig": {"OnFailure": {}},
                }
            )
            if position == "AT_TIMESTAMP":
                stamp = params.get("StartingPositionTimestamp")
                if stamp is None:
                    raise _invalid("StartingPositionTimestamp: required with AT_TIMESTAMP")
                record["StartingPositionTimestamp"] = _epoch(stamp)
            elif position == "LATEST":  # records put from now on
                record["StartingPositionTimestamp"] = time.time()
        elif params.get("StartingPosition") is not None:
            raise _invalid("StartingPosition: not used by SQS event sources; remove it")
        self._apply(record, params, kind)
        record["LastModified"] = time.time()
        self.records.put(KIND, identifier, record, time.time())
        self._sync(identifier)
        out = self._shape(record)
        out["State"] = "Creating" if record["Enabled"] else "Disabled"
        return out

    def _apply(self, record: dict[str, Any], params: dict[str, Any], kind: str) -> None:
        if "BatchSize" in params and params["BatchSize"] is not None:
            size = params["BatchSize"]
            limit = SQS_MAX_BATCH if kind == "sqs" else STREAM_MAX_BATCH
            if not isinstance(size, int) or not 1 <= size <= limit:
                raise _invalid(f"BatchSize: {size!r} must be between 1 and {limit}")
            record["BatchSize"] = size
        window = params.get("MaximumBatchingWindowInSeconds")
        if window is not None:
            if not isinstance(window, int) or not 0 <= window <= 300:
                raise _invalid(f"MaximumBatchingWindowInSeconds: {window!r} must be 0 to 300")
            if kind == "sqs" and record["BatchSize"] > 10 and window == 0 and "BatchSize" in params:
                raise _invalid(
                    "Maximum batch window in seconds must be greater than 0 if maximum batch "
                    "size is greater than 10"
                )
            record["MaximumBatchingWindowInSeconds"] = window
        types = params.get("FunctionResponseTypes")
        if types is not None:
            if any(t != "ReportBatchItemFailures" for t in types):
                raise _invalid(f"FunctionResponseTypes: {types!r}; only ReportBatchItemFailures")
            record["FunctionResponseTypes"] = list(types)
        if "Enabled" in params and params["Enabled"] is not None:
            record["Enabled"] = bool(params["Enabled"])
        if "FunctionName" in params and params["FunctionName"] and "UUID" in record:
            name = self.backend.resolve_name(params["FunctionName"])
            self.backend._record(name)
            record["FunctionArn"] = self.backend.function_arn(name)
        stream_only = (
            "MaximumRetryAttempts",
            "BisectBatchOnFunctionError",
            "DestinationConfig",
            "MaximumRecordAgeInSeconds",
        )
        for member in stream_only:
            value = params.get(member)
            if value is None:
                continue
            if kind == "sqs":
                raise _invalid(
                    f"{member}: not used by SQS event sources (failed messages go to the "
                    "queue's dead-letter queue); remove it"
                )
            if member == "MaximumRetryAttempts" and not (
                isinstance(value, int) and -1 <= value <= 10000
            ):
                raise _invalid(f"MaximumRetryAttempts: {value!r} must be -1 to 10000")
            if member == "DestinationConfig":
                arn = (value.get("OnFailure") or {}).get("Destination")
                if arn and arn.split(":")[2] not in ("sqs", "sns"):
                    raise _invalid(
                        f"DestinationConfig.OnFailure.Destination: {arn!r}; stream event "
                        "sources send failures to an SQS queue or SNS topic"
                    )
                value = {"OnFailure": dict(value.get("OnFailure") or {})}
            record[member] = value

    def _check_source(self, kind: str, arn: str) -> None:
        try:
            if kind == "sqs":
                self.runtime.sqs.get_queue_url(QueueName=arn.split(":")[5])
            elif kind == "kinesis":
                self.runtime.kinesis.describe_stream_summary(StreamARN=arn)
            else:
                self.runtime.dynamodbstreams.describe_stream(StreamArn=arn)
        except ServiceError as e:
            raise _invalid(
                f"EventSourceArn: {arn} does not exist ({e.code}); create it first"
            ) from e

    def get(self, identifier: str) -> dict[str, Any]:
        record = self.records.get(KIND, identifier)
        if record is None:
            raise _not_found(identifier)
        return self._shape(record)

    def list(self, event_source_arn: str | None, function_name: str | None) -> list[dict[str, Any]]:
        wanted = None
        if function_name:
            wanted = self.backend.function_arn(self.backend.resolve_name(function_name))
        out = []
        for record in self.records.list(KIND):
            if event_source_arn and record["EventSourceArn"] != event_source_arn:
                continue
            if wanted and record["FunctionArn"] != wanted:
                continue
            out.append(self._shape(record))
        return out

    def update(self, identifier: str, params: dict[str, Any]) -> dict[str, Any]:
        record = self.records.get(KIND, identifier)
        if record is None:
            raise _not_found(identifier)
        unknown = sorted(k for k, v in params.items() if k not in _UPDATABLE and v is not None)
        if unknown:
            raise _invalid(f"{', '.join(unknown)}: cannot be changed on an event source mapping")
        self._apply(record, params, _source_kind(record["EventSourceArn"]))
        record["LastModified"] = time.time()
        self.records.put(KIND, identifier, record, time.time())
        self._sync(identifier)
        out = self._shape(record)
        out["State"] = "Updating"
        return out

    def delete(self, identifier: str) -> dict[str, Any]:
        record = self.records.get(KIND, identifier)
        if record is None:
            raise _not_found(identifier)
        self.records.delete(KIND, identifier)
        self._sync(identifier)
        out = self._shape(record)
        out["State"] = "Deleting"
        return out

    def _shape(self, record: dict[str, Any]) -> dict[str, Any]:
        out = {k: v for k, v in record.items() if k not in ("Enabled",)}
        out["LastModified"] = datetime.fromtimestamp(record["LastModified"], UTC)
        if "StartingPositionTimestamp" in out and record.get("StartingPosition") != "AT_TIMESTAMP":
            del out["StartingPositionTimestamp"]
        elif "StartingPositionTimestamp" in out:
            out["StartingPositionTimestamp"] = datetime.fromtimestamp(
                record["StartingPositionTimestamp"], UTC
            )
        out["State"] = "Enabled" if record["Enabled"] else "Disabled"
        out["StateTransitionReason"] = "USER_INITIATED"
        out["LastProcessingResult"] = "No records processed"
        return out

    # -- pollers ---------------------------------------------------------------------------

    def start(self) -> None:
        self._started = True
        for record in self.records.list(KIND):
            self._sync(record["UUID"])

    def stop(self, *, wait: bool = True) -> None:
        """Stop every poller; with ``wait``, wait (a bounded time) for them to finish."""
        self._started = False
        with self._lock:
            pollers, self._pollers = list(self._pollers.values()), {}
            self._stopping.extend(pollers)
        for poller in pollers:
            poller.stop()
        if wait:
            for poller in self._stopping:
                poller.join(timeout=10)
            self._stopping = []

    def _sync(self, identifier: str) -> None:
        """Start, restart or stop the poller of one mapping to match its record."""
        if not self._started:
            return
        record = self.records.get(KIND, identifier)
        with self._lock:
            old = self._pollers.pop(identifier, None)
            if old is not None:
                old.stop()
            if record is not None and record["Enabled"]:
                kind = _source_kind(record["EventSourceArn"])
                cls = _SqsPoller if kind == "sqs" else _StreamPoller
                poller = cls(self, record)
                self._pollers[identifier] = poller
                poller.start()

    def watch(self) -> None:
        """Have the services bridge wake the stream pollers on writes (once per bridge)."""
        bridge = self.runtime.motobridge
        with self._lock:
            if self._observed is bridge:
                return
            self._observed = bridge
        bridge.observe(self._observe)

    def _observe(self, mutation: Mutation) -> None:
        """Wake the pollers of the Kinesis stream or DynamoDB table an accepted call wrote
        to (called under the bridge's lock: it only sets events)."""
        if mutation.service == "kinesis" and mutation.operation in ("PutRecord", "PutRecords"):
            request = _json_request(mutation.body)
            name = request.get("StreamName") or str(request.get("StreamARN", "")).rsplit("/", 1)[-1]
            wanted: set[str] | None = {name}
        elif mutation.service == "dynamodb" and mutation.operation in _TABLE_WRITES:
            wanted = _written_tables(_json_request(mutation.body))
        else:
            return
        for poller in list(self._pollers.values()):
            if (
                isinstance(poller, _StreamPoller)
                and poller.kind == mutation.service
                and (wanted is None or poller.source_name in wanted)
            ):
                poller.wake()

    def position(self, identifier: str, shard: str) -> str | None:
        found = self.records.get(POSITION_KIND, f"{identifier}/{shard}")
        return None if found is None else str(found["SequenceNumber"])

    def save_position(self, identifier: str, shard: str, sequence: str) -> None:
        self.records.put(
            POSITION_KIND, f"{identifier}/{shard}", {"SequenceNumber": sequence}, time.time()
        )


class _Poller(threading.Thread):
    def __init__(self, sources: EventSources, record: dict[str, Any]):
        super().__init__(name=f"esm {record['UUID']}", daemon=True)
        self.sources = sources
        self.runtime = sources.runtime
        self.backend = sources.backend
        self.record = record
        self.function = record["FunctionArn"].rsplit(":", 1)[1]
        self._stop_event = threading.Event()
        self._wake_event = threading.Event()

    def stop(self) -> None:
        self._stop_event.set()
        self.wake()

    def wake(self) -> None:
        """Poll now (records were written), rather than after the idle sleep."""
        self._wake_event.set()

    def stopped(self) -> bool:
        return self._stop_event.is_set()

    def run(self) -> None:
        while not self.stopped():
            try:
                self.poll()
            except Exception:
                if self.stopped():
                    return
                log.exception("event source mapping %s: poll failed", self.record["UUID"])
                self._stop_event.wait(1.0)

    def poll(self) -> None:
        raise NotImplementedError

    def invoke(self, event: dict[str, Any]) -> tuple[bool, Any]:
        """(succeeded, the function's response) for one batch."""
        result = self.backend.invoke_function(self.function, json.dumps(event).encode())
        try:
            response = json.loads(result.payload or b"null")
        except json.JSONDecodeError:
            response = None
        return result.function_error is None, response


class _SqsPoller(_Poller):
    def poll(self) -> None:
        sqs = self.runtime.sqs
        arn = self.record["EventSourceArn"]
        url = sqs.get_queue_url(QueueName=arn.split(":")[5])["QueueUrl"]
        size = int(self.record["BatchSize"])
        window = float(self.record["MaximumBatchingWindowInSeconds"])
        messages: list[dict[str, Any]] = []
        deadline = time.monotonic() + window
        while not self.stopped() and len(messages) < size:
            remaining = deadline - time.monotonic()
            wait = POLL_WAIT_S if not messages else max(0, min(POLL_WAIT_S, int(remaining)))
            got = sqs.receive_message(
                QueueUrl=url,
                MaxNumberOfMessages=min(10, size - len(messages)),
                WaitTimeSeconds=wait,
                AttributeNames=["All"],
                MessageAttributeNames=["All"],
            ).get("Messages", [])
            messages.extend(got)
            if messages and (not got or time.monotonic() >= deadline):
                break
        if not messages or self.stopped():
            return
        event = {"Records": [self._record(m, arn) for m in messages]}
        ok, response = self.invoke(event)
        if not ok:
            return  # the messages come back after the visibility timeout
        failed: set[str] = set()
        if "ReportBatchItemFailures" in self.record["FunctionResponseTypes"] and isinstance(
            response, dict
        ):
            items = response.get("batchItemFailures") or []
            failed = {str(i.get("itemIdentifier")) for i in items if isinstance(i, dict)}
            known = {m["MessageId"] for m in messages}
            if not failed <= known:  # AWS treats an unknown id as the whole batch failing
                return
        done = [m for m in messages if m["MessageId"] not in failed]
        for start in range(0, len(done), 10):
            sqs.delete_message_batch(
                QueueUrl=url,
                Entries=[
                    {"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]}
                    for i, m in enumerate(done[start : start + 10])
                ],
            )

    def _record(self, message: dict[str, Any], arn: str) -> dict[str, Any]:
        attributes = {}
        for name, value in (message.get("MessageAttributes") or {}).items():
            attributes[name] = {
                "stringValue": value.get("StringValue"),
                "binaryValue": (
                    base64.b64encode(value["BinaryValue"]).decode()
                    if value.get("BinaryValue") is not None
                    else None
                ),
                "stringListValues": [],
                "binaryListValues": [],
                "dataType": value.get("DataType"),
            }
            attributes[name] = {k: v for k, v in attributes[name].items() if v is not None}
        return {
            "messageId": message["MessageId"],
            "receiptHandle": message["ReceiptHandle"],
            "body": message["Body"],
            "attributes": dict(message.get("Attributes") or {}),
            "messageAttributes": attributes,
            "md5OfBody": message.get("MD5OfBody"),
            "eventSource": "aws:sqs",
            "eventSourceARN": arn,
            "awsRegion": self.runtime.region,
        }


class _StreamPoller(_Poller):
    def __init__(self, sources: EventSources, record: dict[str, Any]):
        super().__init__(sources, record)
        self.kind = _source_kind(record["EventSourceArn"])
        resource = record["EventSourceArn"].split(":", 5)[5]  # stream/NAME, table/NAME/stream/..
        self.source_name = resource.split("/")[1]
        self.iterators: dict[str, str | None] = {}

    def run(self) -> None:
        try:
            self.sources.watch()
        except Exception:  # the services do not open: the idle sleep still bounds the wait
            log.exception("event source mapping %s: cannot watch writes", self.record["UUID"])
        super().run()

    def shards(self) -> list[str]:
        arn = self.record["EventSourceArn"]
        if self.kind == "kinesis":
            listed = self.runtime.kinesis.list_shards(StreamARN=arn)["Shards"]
        else:
            listed = self.runtime.dynamodbstreams.describe_stream(StreamArn=arn)[
                "StreamDescription"
            ]["Shards"]
        return [s["ShardId"] for s in listed]

    def iterator(self, shard: str) -> str:
        arn = self.record["EventSourceArn"]
        after = self.sources.position(self.record["UUID"], shard)
        args: dict[str, Any]
        if after is not None:
            args = {"ShardIteratorType": "AFTER_SEQUENCE_NUMBER", "StartingSequenceNumber": after}
        elif self.record["StartingPosition"] == "TRIM_HORIZON":
            args = {"ShardIteratorType": "TRIM_HORIZON"}
        elif self.kind == "kinesis":
            args = {
                "ShardIteratorType": "AT_TIMESTAMP",
                "Timestamp": datetime.fromtimestamp(self.record["StartingPositionTimestamp"], UTC),
            }
        else:  # DynamoDB Streams have no AT_TIMESTAMP: LATEST when first polled
            args = {"ShardIteratorType": "LATEST"}
        if self.kind == "kinesis":
            got = self.runtime.kinesis.get_shard_iterator(StreamARN=arn, ShardId=shard, **args)
        else:
            got = self.runtime.dynamodbstreams.get_shard_iterator(
                StreamArn=arn, ShardId=shard, **args
            )
        return str(got["ShardIterator"])

    def poll(self) -> None:
        busy = False
        self._wake_event.clear()  # a write from now on wakes the sleep below
        for shard in self.shards():
            if self.stopped():
                return
            iterator = self.iterators.get(shard) or self.iterator(shard)
            limit = int(self.record["BatchSize"])
            if self.kind == "kinesis":
                got = self.runtime.kinesis.get_records(
                    ShardIterator=iterator, Limit=limit, StreamARN=self.record["EventSourceArn"]
                )
            else:
                got = self.runtime.dynamodbstreams.get_records(ShardIterator=iterator, Limit=limit)
            self.iterators[shard] = got.get("NextShardIterator")
            records = got.get("Records", [])
            if not records:
                continue
            busy = True
            batch = [self._event_record(shard, r) for r in records]
            self._process(shard, batch)
            if self.stopped():
                return
            last = records[-1]
            sequence = (
                last["SequenceNumber"]
                if self.kind == "kinesis"
                else last["dynamodb"]["SequenceNumber"]
            )
            self.sources.save_position(self.record["UUID"], shard, str(sequence))
        if not busy:
            self._wake_event.wait(STREAM_IDLE_S)

    def _event_record(self, shard: str, r: dict[str, Any]) -> dict[str, Any]:
        arn = self.record["EventSourceArn"]
        if self.kind == "dynamodb":
            out = json.loads(json.dumps(r, default=_json_default))
            out["eventSourceARN"] = arn
            out.setdefault("awsRegion", self.runtime.region)
            return out
        arrival = r.get("ApproximateArrivalTimestamp")
        return {
            "kinesis": {
                "kinesisSchemaVersion": "1.0",
                "partitionKey": r["PartitionKey"],
                "sequenceNumber": r["SequenceNumber"],
                "data": base64.b64encode(r["Data"]).decode(),
                "approximateArrivalTimestamp": arrival.timestamp() if arrival else time.time(),
            },
            "eventSource": "aws:kinesis",
            "eventVersion": "1.0",
            "eventID": f"{shard}:{r['SequenceNumber']}",
            "eventName": "aws:kinesis:record",
            "invokeIdentityArn": self.runtime.arn("iam", "role/lambda-role").replace(
                f":{self.runtime.region}:", "::"
            ),
            "awsRegion": self.runtime.region,
            "eventSourceARN": arn,
        }

    def _process(self, shard: str, batch: list[dict[str, Any]]) -> None:
        """Run one batch to success, bisecting and retrying as configured; a batch that
        exhausts its retries goes to the on-failure destination."""
        retries = int(self.record.get("MaximumRetryAttempts", -1))
        bisect = bool(self.record.get("BisectBatchOnFunctionError"))
        attempts = 0
        while not self.stopped():
            ok, response = self.invoke({"Records": batch})
            attempts += 1
            if ok:
                return
            if bisect and len(batch) > 1:
                half = len(batch) // 2
                self._process(shard, batch[:half])
                self._process(shard, batch[half:])
                return
            if retries != -1 and attempts > retries:
                self._on_failure(shard, batch, attempts, response)
                return
            self._stop_event.wait(min(0.1 * 2**attempts, 2.0))

    def _on_failure(
        self, shard: str, batch: list[dict[str, Any]], attempts: int, response: Any
    ) -> None:
        destination = (self.record.get("DestinationConfig") or {}).get("OnFailure", {})
        arn = destination.get("Destination")
        if not arn:
            return  # discarded, as on AWS without a destination
        if self.kind == "kinesis":
            first, last = batch[0]["kinesis"], batch[-1]["kinesis"]
            info_name = "KinesisBatchInfo"
            info: dict[str, Any] = {
                "shardId": shard,
                "startSequenceNumber": first["sequenceNumber"],
                "endSequenceNumber": last["sequenceNumber"],
                "approximateArrivalOfFirstRecord": _iso(first["approximateArrivalTimestamp"]),
                "approximateArrivalOfLastRecord": _iso(last["approximateArrivalTimestamp"]),
                "batchSize": len(batch),
                "streamArn": self.record["EventSourceArn"],
            }
        else:
            first, last = batch[0]["dynamodb"], batch[-1]["dynamodb"]
            info_name = "DDBStreamBatchInfo"
            info = {
                "shardId": shard,
                "startSequenceNumber": first["SequenceNumber"],
                "endSequenceNumber": last["SequenceNumber"],
                "approximateArrivalOfFirstRecord": _iso(first.get("ApproximateCreationDateTime")),
                "approximateArrivalOfLastRecord": _iso(last.get("ApproximateCreationDateTime")),
                "batchSize": len(batch),
                "streamArn": self.record["EventSourceArn"],
            }
        now = datetime.now(UTC)
        record = {
            "requestContext": {
                "requestId": str(uuid.uuid4()),
                "functionArn": self.record["FunctionArn"],
                "condition": "RetryAttemptsExhausted",
                "approximateInvokeCount": attempts,
            },
            "responseContext": {
                "statusCode": 200,
                "executedVersion": "$LATEST",
                "functionError": "Unhandled",
            },
            "version": "1.0",
            "timestamp": now.strftime("%Y-%m-%dT%H:%M:%S.") + f"{now.microsecond // 1000:03d}Z",
            info_name: info,
        }
        send_record(self.runtime, arn, record, "OnFailure")


_TABLE_WRITES = frozenset(
    {
        "PutItem",
        "UpdateItem",
        "DeleteItem",
        "BatchWriteItem",
        "TransactWriteItems",
        "ExecuteStatement",
        "BatchExecuteStatement",
        "ExecuteTransaction",
    }
)


def _json_request(body: bytes) -> dict[str, Any]:
    try:
        parsed = json.loads(body or b"{}")
    except ValueError:
        return {}
    return parsed if isinstance(parsed, dict) else {}


def _written_tables(request: dict[str, Any]) -> set[str] | None:
    """The tables a DynamoDB write names; None when it does not say (PartiQL: any table)."""
    names = set()
    if isinstance(request.get("TableName"), str):
        names.add(request["TableName"])
    names.update(k for k in request.get("RequestItems") or {} if isinstance(k, str))
    for entry in request.get("TransactItems") or []:
        for action in entry.values() if isinstance(entry, dict) else ():
            if isinstance(action, dict) and isinstance(action.get("TableName"), str):
                names.add(action["TableName"])
    return names or None


def _epoch(value: Any) -> float:
    if isinstance(value, datetime):
        return value.timestamp()
    return float(value)


def _iso(value: Any) -> str | None:
    if value is None:
        return None
    stamp = value if isinstance(value, datetime) else datetime.fromtimestamp(float(value), UTC)
    return (
        stamp.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{stamp.microsecond // 1000:03d}Z"
    )


def _json_default(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.timestamp()
    if isinstance(value, bytes | bytearray):
        return base64.b64encode(value).decode()
    if isinstance(value, set):
        return sorted(value)
    raise TypeError(type(value).__name__)
