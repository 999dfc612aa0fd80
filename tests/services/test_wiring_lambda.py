"""Lambda's event source mappings (SQS, Kinesis, DynamoDB Streams) and asynchronous
invocation with retries and destinations, through boto3 against the server."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest
from botocore.exceptions import ClientError
from wiring_support import create_function, create_table, items, rows_when, wait_for


def queue_arn(sqs: Any, url: str) -> str:
    return str(
        sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"][
            "QueueArn"
        ]
    )


def receive_all(sqs: Any, url: str, count: int) -> list[dict[str, Any]]:
    got: list[dict[str, Any]] = []

    def probe() -> list[dict[str, Any]] | None:
        got.extend(
            sqs.receive_message(
                QueueUrl=url, WaitTimeSeconds=5, MaxNumberOfMessages=10, AttributeNames=["All"]
            ).get("Messages", [])
        )
        return got if len(got) >= count else None

    return wait_for(f"{count} messages on {url}", probe)


def test_queue_to_lambda_partial_batch_failure_goes_to_the_dlq(
    client: Callable[..., Any], name: Callable[[str], str]
) -> None:
    sqs, lam, ddb = client("sqs"), client("lambda"), client("dynamodb")
    table, fn = name("table"), name("fn")
    create_table(ddb, table)
    create_function(lam, fn, "sqs_partial", table)
    dlq = sqs.create_queue(QueueName=name("dlq"))["QueueUrl"]
    queue = sqs.create_queue(
        QueueName=name("queue"),
        Attributes={
            "VisibilityTimeout": "1",
            "RedrivePolicy": json.dumps(
                {"deadLetterTargetArn": queue_arn(sqs, dlq), "maxReceiveCount": "2"}
            ),
        },
    )["QueueUrl"]
    bodies = ["a", "b", "poison-1", "c", "d"]
    for body in bodies:
        sqs.send_message(QueueUrl=queue, MessageBody=body)
    mapping = lam.create_event_source_mapping(
        EventSourceArn=queue_arn(sqs, queue),
        FunctionName=fn,
        BatchSize=5,
        MaximumBatchingWindowInSeconds=1,
        FunctionResponseTypes=["ReportBatchItemFailures"],
    )
    assert mapping["State"] == "Creating"
    assert lam.get_event_source_mapping(UUID=mapping["UUID"])["State"] == "Enabled"
    listed = lam.list_event_source_mappings(FunctionName=fn)["EventSourceMappings"]
    assert [m["UUID"] for m in listed] == [mapping["UUID"]]

    dead = receive_all(sqs, dlq, 1)
    assert [m["Body"] for m in dead] == ["poison-1"]
    rows = wait_for("four rows", rows_when(ddb, table, 4))
    assert set(rows) == {"a", "b", "c", "d"}
    record = json.loads(rows["a"]["record"]["S"])
    assert record["eventSource"] == "aws:sqs"
    assert record["eventSourceARN"] == queue_arn(sqs, queue)
    assert set(record) >= {"messageId", "receiptHandle", "body", "attributes", "md5OfBody"}
    assert int(record["attributes"]["ApproximateReceiveCount"]) >= 1
    lam.delete_event_source_mapping(UUID=mapping["UUID"])
    with pytest.raises(ClientError) as e:
        lam.get_event_source_mapping(UUID=mapping["UUID"])
    assert e.value.response["Error"]["Code"] == "ResourceNotFoundException"


def test_stream_poisoned_record_is_isolated_by_bisection_and_sent_on_failure(
    client: Callable[..., Any], name: Callable[[str], str]
) -> None:
    kinesis, sqs, lam, ddb = client("kinesis"), client("sqs"), client("lambda"), client("dynamodb")
    table, fn, stream = name("table"), name("fn"), name("stream")
    create_table(ddb, table)
    create_function(lam, fn, "stream", table)
    kinesis.create_stream(StreamName=stream, ShardCount=1)
    stream_arn = kinesis.describe_stream_summary(StreamName=stream)["StreamDescriptionSummary"][
        "StreamARN"
    ]
    failures = sqs.create_queue(QueueName=name("failures"))["QueueUrl"]
    datas = ["r0", "r1", "r2", "poison", "r4", "r5", "r6", "r7"]
    for data in datas:
        kinesis.put_record(StreamName=stream, Data=data.encode(), PartitionKey="p")
    lam.create_event_source_mapping(
        EventSourceArn=stream_arn,
        FunctionName=fn,
        StartingPosition="TRIM_HORIZON",
        BatchSize=8,
        BisectBatchOnFunctionError=True,
        MaximumRetryAttempts=1,
        DestinationConfig={"OnFailure": {"Destination": queue_arn(sqs, failures)}},
    )
    [failure] = receive_all(sqs, failures, 1)
    info = json.loads(failure["Body"])
    assert info["requestContext"]["condition"] == "RetryAttemptsExhausted"
    batch = info["KinesisBatchInfo"]
    assert batch["batchSize"] == 1
    assert batch["streamArn"] == stream_arn
    poisoned = kinesis.get_records(
        ShardIterator=kinesis.get_shard_iterator(
            StreamName=stream,
            ShardId=batch["shardId"],
            ShardIteratorType="AT_SEQUENCE_NUMBER",
            StartingSequenceNumber=batch["startSequenceNumber"],
        )["ShardIterator"],
        Limit=1,
    )["Records"][0]
    assert poisoned["Data"] == b"poison"
    rows = wait_for("seven rows", rows_when(ddb, table, 7))
    assert set(rows) == {d for d in datas if d != "poison"}
    record = json.loads(rows["r0"]["record"]["S"])
    assert record["eventSource"] == "aws:kinesis"
    assert record["eventName"] == "aws:kinesis:record"
    assert record["kinesis"]["partitionKey"] == "p"


def test_dynamodb_stream_to_lambda(client: Callable[..., Any], name: Callable[[str], str]) -> None:
    lam, ddb = client("lambda"), client("dynamodb")
    source, out, fn = name("source"), name("out"), name("fn")
    create_table(
        ddb, source, StreamSpecification={"StreamEnabled": True, "StreamViewType": "NEW_IMAGE"}
    )
    create_table(ddb, out)
    create_function(lam, fn, "ddb_stream", out)
    stream_arn = ddb.describe_table(TableName=source)["Table"]["LatestStreamArn"]
    lam.create_event_source_mapping(
        EventSourceArn=stream_arn, FunctionName=fn, StartingPosition="TRIM_HORIZON"
    )
    ddb.put_item(TableName=source, Item={"id": {"S": "x"}})
    rows = wait_for("the stream record", lambda: items(ddb, out).get("seen-x"))
    assert rows["event"]["S"] == "INSERT"


def test_a_write_wakes_idle_stream_mappings(
    client: Callable[..., Any], name: Callable[[str], str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """An idle stream poller sleeps until a write to its stream or table: with the sleep an
    hour long, records put after the mappings went idle still reach the functions."""
    from localaws.lambda_ import event_sources

    monkeypatch.setattr(event_sources, "STREAM_IDLE_S", 3600.0)
    kinesis, lam, ddb = client("kinesis"), client("lambda"), client("dynamodb")
    out, source, stream = name("out"), name("source"), name("stream")
    create_table(ddb, out)
    create_table(
        ddb, source, StreamSpecification={"StreamEnabled": True, "StreamViewType": "KEYS_ONLY"}
    )
    kinesis_fn, ddb_fn = name("fn"), name("fn")
    create_function(lam, kinesis_fn, "stream", out)
    create_function(lam, ddb_fn, "ddb_stream", out)
    kinesis.create_stream(StreamName=stream, ShardCount=1)
    stream_arn = kinesis.describe_stream_summary(StreamName=stream)["StreamDescriptionSummary"][
        "StreamARN"
    ]
    for arn, fn in (
        (stream_arn, kinesis_fn),
        (ddb.describe_table(TableName=source)["Table"]["LatestStreamArn"], ddb_fn),
    ):
        lam.create_event_source_mapping(
            EventSourceArn=arn, FunctionName=fn, StartingPosition="TRIM_HORIZON"
        )
    for i in range(3):  # each after the previous one was handled and the pollers went idle
        kinesis.put_record(StreamName=stream, Data=f"k{i}".encode(), PartitionKey="p")
        ddb.put_item(TableName=source, Item={"id": {"S": f"d{i}"}})
        wanted = {f"k{i}", f"seen-d{i}"}

        def arrived(wanted: set[str] = wanted) -> bool:
            return wanted <= set(items(ddb, out))

        wait_for(f"rows {sorted(wanted)}", arrived, timeout=120)


def test_async_invocation_retries_twice_then_goes_to_on_failure(
    client: Callable[..., Any], name: Callable[[str], str]
) -> None:
    sqs, lam, ddb = client("sqs"), client("lambda"), client("dynamodb")
    table, fn = name("table"), name("fn")
    create_table(ddb, table)
    create_function(lam, fn, "flaky", table)
    failures = sqs.create_queue(QueueName=name("failures"))["QueueUrl"]
    successes = sqs.create_queue(QueueName=name("successes"))["QueueUrl"]
    lam.put_function_event_invoke_config(
        FunctionName=fn,
        DestinationConfig={
            "OnFailure": {"Destination": queue_arn(sqs, failures)},
            "OnSuccess": {"Destination": queue_arn(sqs, successes)},
        },
    )
    got = lam.get_function_event_invoke_config(FunctionName=fn)
    assert got["DestinationConfig"]["OnFailure"]["Destination"] == queue_arn(sqs, failures)
    answer = lam.invoke(FunctionName=fn, InvocationType="Event", Payload=json.dumps({"id": "bad"}))
    assert answer["StatusCode"] == 202
    lam.invoke(
        FunctionName=fn,
        InvocationType="Event",
        Payload=json.dumps({"id": "good", "fail": False}),
    )
    [failure] = receive_all(sqs, failures, 1)
    record = json.loads(failure["Body"])
    assert record["requestContext"]["condition"] == "RetriesExhausted"
    assert record["requestContext"]["approximateInvokeCount"] == 3
    assert record["requestPayload"] == {"id": "bad"}
    assert record["responseContext"]["functionError"] == "Unhandled"
    assert record["responsePayload"]["errorType"] == "PoisonRecord"
    assert items(ddb, table)["attempts-bad"]["n"]["N"] == "3"
    [success] = receive_all(sqs, successes, 1)
    assert json.loads(success["Body"])["responsePayload"] == {"done": "good"}
