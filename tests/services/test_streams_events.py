"""Kinesis, Firehose, EventBridge and EventBridge Scheduler through boto3 against the server."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any


def test_kinesis_put_and_get_records(
    client: Callable[..., Any], name: Callable[[str], str]
) -> None:
    kinesis = client("kinesis")
    stream = name("stream")
    kinesis.create_stream(StreamName=stream, ShardCount=1)
    summary = kinesis.describe_stream_summary(StreamName=stream)["StreamDescriptionSummary"]
    assert summary["StreamStatus"] == "ACTIVE"
    put = [
        kinesis.put_record(StreamName=stream, Data=f"r{i}".encode(), PartitionKey="p")
        for i in range(3)
    ]
    batch = kinesis.put_records(StreamName=stream, Records=[{"Data": b"r3", "PartitionKey": "p"}])[
        "Records"
    ]
    shard = kinesis.list_shards(StreamName=stream)["Shards"][0]["ShardId"]
    iterator = kinesis.get_shard_iterator(
        StreamName=stream, ShardId=shard, ShardIteratorType="TRIM_HORIZON"
    )["ShardIterator"]
    records = kinesis.get_records(ShardIterator=iterator)["Records"]
    assert [r["Data"] for r in records] == [b"r0", b"r1", b"r2", b"r3"]
    assert [r["SequenceNumber"] for r in records] == [p["SequenceNumber"] for p in put] + [
        batch[0]["SequenceNumber"]
    ]


def test_firehose_create_and_put(client: Callable[..., Any], name: Callable[[str], str]) -> None:
    firehose = client("firehose")
    stream = name("delivery")
    firehose.create_delivery_stream(
        DeliveryStreamName=stream,
        DeliveryStreamType="DirectPut",
        ExtendedS3DestinationConfiguration={
            "RoleARN": "arn:aws:iam::123456789012:role/firehose",
            "BucketARN": "arn:aws:s3:::delivery-bucket",
            "Prefix": "ratings/",
        },
    )
    described = firehose.describe_delivery_stream(DeliveryStreamName=stream)
    assert described["DeliveryStreamDescription"]["DeliveryStreamStatus"] == "ACTIVE"
    put = firehose.put_record(DeliveryStreamName=stream, Record={"Data": b'{"r": 1}\n'})
    assert put["RecordId"]
    batch = firehose.put_record_batch(
        DeliveryStreamName=stream, Records=[{"Data": b"a\n"}, {"Data": b"b\n"}]
    )
    assert batch["FailedPutCount"] == 0
    assert stream in firehose.list_delivery_streams()["DeliveryStreamNames"]


def test_eventbridge_rules_targets_and_events(
    client: Callable[..., Any], name: Callable[[str], str]
) -> None:
    events, sqs = client("events"), client("sqs")
    url = sqs.create_queue(QueueName=name("q"))["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    bus = name("bus")
    events.create_event_bus(Name=bus)
    rule = name("rule")
    events.put_rule(
        Name=rule,
        EventBusName=bus,
        EventPattern=json.dumps({"source": ["ml.training"], "detail-type": ["Done"]}),
    )
    events.put_targets(Rule=rule, EventBusName=bus, Targets=[{"Id": "q", "Arn": queue_arn}])
    targets = events.list_targets_by_rule(Rule=rule, EventBusName=bus)["Targets"]
    assert [t["Arn"] for t in targets] == [queue_arn]
    sent = events.put_events(
        Entries=[
            {
                "Source": "ml.training",
                "DetailType": "Done",
                "Detail": json.dumps({"model": "m1"}),
                "EventBusName": bus,
            }
        ]
    )
    assert sent["FailedEntryCount"] == 0 and sent["Entries"][0]["EventId"]
    schedule = name("schedule")
    events.put_rule(Name=schedule, ScheduleExpression="rate(5 minutes)")
    assert events.describe_rule(Name=schedule)["ScheduleExpression"] == "rate(5 minutes)"


def test_scheduler_schedule(client: Callable[..., Any], name: Callable[[str], str]) -> None:
    scheduler = client("scheduler")
    schedule = name("schedule")
    scheduler.create_schedule(
        Name=schedule,
        ScheduleExpression="cron(0 12 * * ? *)",
        FlexibleTimeWindow={"Mode": "OFF"},
        Target={
            "Arn": "arn:aws:states:us-east-1:123456789012:stateMachine:nightly",
            "RoleArn": "arn:aws:iam::123456789012:role/scheduler",
        },
    )
    got = scheduler.get_schedule(Name=schedule)
    assert got["ScheduleExpression"] == "cron(0 12 * * ? *)"
