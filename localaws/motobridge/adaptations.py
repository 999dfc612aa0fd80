"""Where moto, mounted behind the local server, must behave differently from ``mock_aws``.

Each adaptation is one small replacement, applied once when the bridge mounts the services:

* Firehose: moto writes every ``PutRecord``/``PutRecordBatch`` into *moto's* S3 at once.
  The local S3 is the project's own (``localaws/s3``), and delivery (buffering hints,
  prefixes, compression) is wiring that observes the accepted ``PutRecord(Batch)`` calls
  (:meth:`MotoBridge.observe`).  moto only accepts the records and returns their ids.
* EventBridge: moto's ``PutEvents`` sends matching events to SQS targets itself (and
  fails on Lambda, Step Functions and SNS ones).  Delivery is wiring
  (:mod:`localaws.events.dispatcher`) for all four, with EventBridge's input rules and
  retries, and its ``SendMessage`` is a journaled call of its own; moto keeps delivering
  to CloudWatch Logs, archives and other buses.
* SQS: moto checks each candidate message's retention through ``get_queue_attributes``,
  which counts every message of the queue three times: a receive from a queue of 2,000
  messages took 3 s (an event source mapping drained 5 messages/s).  The same check reads
  the queue's retention period directly.
* SQS: moto's ``SendMessage`` reads the queue's whole ``attributes`` (for
  ``ContentBasedDeduplication``), which counts the delayed, in-flight and visible messages,
  reading the clock for every message each time: a send into a queue of 2,000 messages
  took ~9 ms, quadratic in the queue's depth (sends, and the journal's replay of them).
  The counts and the visible messages read the clock once per call: the same answer (the
  clock is frozen during a call, :mod:`.determinism`), a comparison per message.
* DynamoDB: moto's response serializer walks every item attribute through botocore's
  ``AttributeValue`` shape (ten members looked up per attribute): a Scan of 2,500 items took
  20 s, and a Glue job reading a table through the server ran at ~150 rows/s.  Item values
  are already in the wire format, so an ``AttributeValue`` (or a map of them) holding only
  JSON-native members (S, N, BOOL, NULL, SS, NS, M, L: no binary) is emitted as it is; one
  holding B or BS takes moto's path (which base64-encodes it).
* Every service: moto's ``call_action`` lists the handler class's methods with
  ``inspect.getmembers`` on every call, to check the action is one of them (~50 us of a
  ~500 us PutItem).  A class's methods do not change once imported: each class is listed
  once.
"""

from __future__ import annotations

from typing import Any

_applied = False


def apply() -> None:
    global _applied
    if _applied:
        return
    from moto.firehose.models import FirehoseBackend
    from moto.moto_api._internal import mock_random

    def accept_s3_records(
        self: Any,
        delivery_stream_name: str,
        version_id: str,
        s3_destination: dict[str, Any],
        records: list[dict[str, bytes]],
    ) -> list[dict[str, str]]:
        return [{"RecordId": str(mock_random.uuid4())} for _ in records]

    FirehoseBackend.put_s3_records = accept_s3_records  # type: ignore[method-assign]

    from moto.events.models import Rule

    moto_send = Rule.send_to_targets

    def send_to_logs_archives_and_buses(self: Any, *args: Any, **kwargs: Any) -> None:
        kept = [t for t in self.targets if t["Arn"].split(":")[2] in ("logs", "events")]
        if not kept:
            return
        every, self.targets = self.targets, kept
        try:
            moto_send(self, *args, **kwargs)
        finally:
            self.targets = every

    Rule.send_to_targets = send_to_logs_archives_and_buses  # type: ignore[method-assign]

    from moto.sqs.models import SQSBackend, unix_time

    def retained(self: Any, queue_name: str, message: Any) -> bool:
        period = int(self.get_queue(queue_name).message_retention_period)
        return bool(period + message.sent_timestamp / 1000 > unix_time())

    SQSBackend.is_message_valid_based_on_retention_period = retained  # type: ignore[method-assign]

    import moto.sqs.models as sqs_models

    def visible_messages(self: Any) -> list[Any]:
        now = sqs_models.unix_time_millis()
        return [m for m in self._messages if now > m.visible_at and not now < m.delayed_until]

    def delayed_count(self: Any) -> int:
        now = sqs_models.unix_time_millis()
        return sum(1 for m in self._messages if now < m.delayed_until)

    def not_visible_count(self: Any) -> int:
        now = sqs_models.unix_time_millis()
        return sum(1 for m in self._messages if not now > m.visible_at)

    sqs_models.Queue.messages = property(visible_messages)  # type: ignore[method-assign,assignment]
    sqs_models.Queue.approximate_number_of_messages_delayed = property(delayed_count)  # type: ignore[method-assign,assignment]
    sqs_models.Queue.approximate_number_of_messages_not_visible = property(not_visible_count)  # type: ignore[method-assign,assignment]

    from moto.core.serialize import ResponseSerializer

    moto_serialize = ResponseSerializer._serialize

    def serialize(self: Any, serialized: Any, value: Any, shape: Any, key: str) -> None:
        name = shape.name
        if type(value) is dict and (
            (name == "AttributeValue" and _wire_ready(value))
            or (
                shape.type_name == "map"
                and getattr(shape.value, "name", None) == "AttributeValue"
                and all(type(v) is dict and _wire_ready(v) for v in value.values())
            )
        ):
            serialized[self.get_serialized_name(shape, key or name)] = value
            return
        moto_serialize(self, serialized, value, shape, key)

    ResponseSerializer._serialize = serialize  # type: ignore[method-assign]

    import moto.core.responses as moto_responses

    moto_names = moto_responses.method_names_from_class
    listed: dict[type, frozenset[str]] = {}

    def method_names_once(clazz: Any) -> frozenset[str]:
        names = listed.get(clazz)
        if names is None:
            names = listed[clazz] = frozenset(moto_names(clazz))
        return names

    moto_responses.method_names_from_class = method_names_once  # type: ignore[assignment]
    _applied = True


_PLAIN_MEMBERS = frozenset(("S", "N", "BOOL", "NULL", "SS", "NS"))


def _wire_ready(value: dict[str, Any]) -> bool:
    """A DynamoDB AttributeValue dict that is already its JSON wire form (no binary)."""
    if len(value) != 1:
        return False
    ((member, inner),) = value.items()
    if member in _PLAIN_MEMBERS:
        return True
    if member == "M":
        return type(inner) is dict and all(
            type(v) is dict and _wire_ready(v) for v in inner.values()
        )
    if member == "L":
        return type(inner) is list and all(type(v) is dict and _wire_ready(v) for v in inner)
    return False
