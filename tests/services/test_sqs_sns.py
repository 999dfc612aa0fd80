"""SQS and SNS through boto3 against the server: standard and FIFO queues, visibility,
long polling, dead-letter redrive, SNS topics delivering to SQS subscribers."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from typing import Any

import pytest


def test_standard_queue_send_receive_delete(
    client: Callable[..., Any], name: Callable[[str], str]
) -> None:
    sqs = client("sqs")
    url = sqs.create_queue(QueueName=name("q"))["QueueUrl"]
    sent = {sqs.send_message(QueueUrl=url, MessageBody=f"m{i}")["MessageId"] for i in range(3)}
    got = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, VisibilityTimeout=60)
    messages = got["Messages"]
    assert {m["MessageId"] for m in messages} == sent
    # In flight: invisible to the next receive.
    assert "Messages" not in sqs.receive_message(QueueUrl=url)
    # Visible again once its visibility is set to zero.
    sqs.change_message_visibility(
        QueueUrl=url, ReceiptHandle=messages[0]["ReceiptHandle"], VisibilityTimeout=0
    )
    again = sqs.receive_message(QueueUrl=url)["Messages"]
    assert [m["MessageId"] for m in again] == [messages[0]["MessageId"]]
    for m in [*messages[1:], *again]:
        sqs.delete_message(QueueUrl=url, ReceiptHandle=m["ReceiptHandle"])
    attrs = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
    assert attrs["ApproximateNumberOfMessages"] == "0"
    assert attrs["ApproximateNumberOfMessagesNotVisible"] == "0"


def test_long_poll_wakes_on_send(client: Callable[..., Any], name: Callable[[str], str]) -> None:
    sqs = client("sqs")
    url = sqs.create_queue(QueueName=name("q"))["QueueUrl"]
    received: list[Any] = []
    waiting = threading.Thread(
        target=lambda: received.append(sqs.receive_message(QueueUrl=url, WaitTimeSeconds=20))
    )
    waiting.start()
    client("sqs").send_message(QueueUrl=url, MessageBody="wake up")
    waiting.join(timeout=25)
    assert received and received[0]["Messages"][0]["Body"] == "wake up"


def test_a_long_poll_is_not_woken_by_calls_that_cannot_queue_a_message(
    client: Callable[..., Any],
    name: Callable[[str], str],
    server: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A waiting ReceiveMessage receives again when a call may have queued a message (SQS,
    SNS, EventBridge), not on every accepted call: the log shipper's calls (a few a job)
    woke every idle queue poller, each time a receive for nothing."""
    sqs, logs = client("sqs"), client("logs")
    url = sqs.create_queue(QueueName=name("q"))["QueueUrl"]
    bridge = server.runtime.motobridge
    receives: list[str] = []
    call = bridge._call

    def counting(service: str, operation: str | None, *args: Any, **kwargs: Any) -> Any:
        if operation == "ReceiveMessage":
            receives.append(service)
        return call(service, operation, *args, **kwargs)

    monkeypatch.setattr(bridge, "_call", counting)
    waiting = threading.Thread(target=lambda: sqs.receive_message(QueueUrl=url, WaitTimeSeconds=2))
    waiting.start()
    for i in range(20):
        logs.create_log_group(logGroupName=name(f"group-{i}"))
        time.sleep(0.03)
    waiting.join(timeout=25)
    assert len(receives) <= 4  # the first, then one a second (the visibility-timeout bound)


def test_fifo_queue_orders_and_deduplicates(
    client: Callable[..., Any], name: Callable[[str], str]
) -> None:
    sqs = client("sqs")
    url = sqs.create_queue(
        QueueName=name("q") + ".fifo",
        Attributes={"FifoQueue": "true", "ContentBasedDeduplication": "true"},
    )["QueueUrl"]
    for body in ["one", "two", "two", "three"]:
        sqs.send_message(QueueUrl=url, MessageBody=body, MessageGroupId="g")
    bodies = []
    while True:
        got = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", [])
        if not got:
            break
        bodies += [m["Body"] for m in got]
        for m in got:
            sqs.delete_message(QueueUrl=url, ReceiptHandle=m["ReceiptHandle"])
    assert bodies == ["one", "two", "three"]


def test_redrive_policy_moves_to_dead_letter_queue(
    client: Callable[..., Any], name: Callable[[str], str]
) -> None:
    sqs = client("sqs")
    dlq = sqs.create_queue(QueueName=name("dlq"))["QueueUrl"]
    dlq_arn = sqs.get_queue_attributes(QueueUrl=dlq, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    url = sqs.create_queue(
        QueueName=name("q"),
        Attributes={
            "RedrivePolicy": json.dumps({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": 2})
        },
    )["QueueUrl"]
    sqs.send_message(QueueUrl=url, MessageBody="poison")
    for _ in range(2):
        (m,) = sqs.receive_message(QueueUrl=url, VisibilityTimeout=0)["Messages"]
    assert "Messages" not in sqs.receive_message(QueueUrl=url)
    dead = sqs.receive_message(QueueUrl=dlq)["Messages"]
    assert [d["Body"] for d in dead] == ["poison"]
    assert dead[0]["MessageId"] == m["MessageId"]


def test_sns_delivers_to_sqs_subscription(
    client: Callable[..., Any], name: Callable[[str], str]
) -> None:
    sns, sqs = client("sns"), client("sqs")
    topic = sns.create_topic(Name=name("topic"))["TopicArn"]
    url = sqs.create_queue(QueueName=name("q"))["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    sub = sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=arn)["SubscriptionArn"]
    assert [
        s["SubscriptionArn"]
        for s in sns.list_subscriptions_by_topic(TopicArn=topic)["Subscriptions"]
    ] == [sub]
    message_id = sns.publish(TopicArn=topic, Message="hello", Subject="greeting")["MessageId"]
    (m,) = sqs.receive_message(QueueUrl=url, WaitTimeSeconds=5)["Messages"]
    envelope = json.loads(m["Body"])
    assert envelope["Type"] == "Notification"
    assert envelope["MessageId"] == message_id
    assert envelope["Message"] == "hello" and envelope["TopicArn"] == topic


def test_retention_check_reads_the_queues_period() -> None:
    """The adaptation of moto's per-message retention check (it counted the whole queue for
    each message): a message past the queue's MessageRetentionPeriod is not delivered, one
    within it is."""
    from moto.sqs.models import SQSBackend

    from localaws.motobridge import adaptations

    adaptations.apply()
    backend = SQSBackend("us-east-1", "123456789012")
    for queue in ("expired", "kept"):
        backend.create_queue(queue, MessageRetentionPeriod="60")
        backend.send_message(queue, queue)
    [old] = backend.get_queue("expired")._messages
    old.sent_timestamp = int(str(old.sent_timestamp)) - 61_000  # type: ignore[assignment]
    assert not backend.is_message_valid_based_on_retention_period("expired", old)
    assert backend.receive_message("expired", 10, 0, 30, []) == []
    assert [m.body for m in backend.receive_message("kept", 10, 0, 30, [])] == ["kept"]


def test_queue_counts_read_the_clock_once(monkeypatch: Any) -> None:
    """The adaptation of moto's message counts (SendMessage reads them all; each read the
    clock per message, quadratic in the queue's depth): the delayed, in-flight and visible
    messages are counted as moto counts them, reading the clock once per count."""
    import moto.sqs.models as sqs_models

    from localaws.motobridge import adaptations

    adaptations.apply()
    backend = sqs_models.SQSBackend("us-east-1", "123456789012")
    backend.create_queue("q")
    for i in range(30):
        backend.send_message("q", f"m{i}")
    backend.send_message("q", "later", delay_seconds=60)
    assert len(backend.receive_message("q", 10, 0, 30, [])) == 10
    reads = 0
    clock = sqs_models.unix_time_millis

    def counted() -> float:
        nonlocal reads
        reads += 1
        return clock()

    monkeypatch.setattr(sqs_models, "unix_time_millis", counted)
    attributes = backend.get_queue("q").attributes
    assert (
        attributes["ApproximateNumberOfMessages"],
        attributes["ApproximateNumberOfMessagesNotVisible"],
        attributes["ApproximateNumberOfMessagesDelayed"],
    ) == (20, 10, 1)
    assert reads <= 3
