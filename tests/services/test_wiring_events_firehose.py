"""EventBridge rules (event patterns, schedules, input transformers) delivering to Step
Functions, Lambda, SQS and SNS; Firehose delivery to partitioned objects in the local S3."""

from __future__ import annotations

import gzip
import json
from collections.abc import Callable
from typing import Any

import pytest
from wiring_support import create_function, create_table, items, wait_for

from localaws.events.scheduler import next_cron, parse_rate
from localaws.firehose.delivery import render_prefix

PASS_MACHINE = json.dumps({"StartAt": "Done", "States": {"Done": {"Type": "Pass", "End": True}}})
ROLE = "arn:aws:iam::123456789012:role/states-role"


def queue(sqs: Any, name: str) -> tuple[str, str]:
    url = sqs.create_queue(QueueName=name)["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    return url, arn


def receive_one(sqs: Any, url: str) -> str:
    def probe() -> str | None:
        got = sqs.receive_message(QueueUrl=url, WaitTimeSeconds=5).get("Messages", [])
        return got[0]["Body"] if got else None

    return wait_for(f"a message on {url}", probe)


def executions(sfn: Any, machine: str) -> list[dict[str, Any]]:
    return list(sfn.list_executions(stateMachineArn=machine)["executions"])


def test_object_created_rule_starts_an_execution_with_transformed_input(
    client: Callable[..., Any], name: Callable[[str], str]
) -> None:
    s3, events, sfn = client("s3"), client("events"), client("stepfunctions")
    bucket, rule = name("bucket"), name("rule")
    machine = sfn.create_state_machine(name=name("sm"), definition=PASS_MACHINE, roleArn=ROLE)[
        "stateMachineArn"
    ]
    s3.create_bucket(Bucket=bucket)
    s3.put_bucket_notification_configuration(
        Bucket=bucket, NotificationConfiguration={"EventBridgeConfiguration": {}}
    )
    events.put_rule(
        Name=rule,
        EventPattern=json.dumps(
            {
                "source": ["aws.s3"],
                "detail-type": ["Object Created"],
                "detail": {"bucket": {"name": [bucket]}, "object": {"key": [{"prefix": "in/"}]}},
            }
        ),
    )
    events.put_targets(
        Rule=rule,
        Targets=[
            {
                "Id": "sm",
                "Arn": machine,
                "RoleArn": ROLE,
                "InputTransformer": {
                    "InputPathsMap": {"key": "$.detail.object.key", "size": "$.detail.object.size"},
                    "InputTemplate": '{"uri": "s3://' + bucket + '/<key>", "size": <size>}',
                },
            }
        ],
    )
    s3.put_object(Bucket=bucket, Key="other/x.csv", Body=b"ignored")
    s3.put_object(Bucket=bucket, Key="in/data.csv", Body=b"12345")
    [execution] = wait_for("an execution", lambda: executions(sfn, machine))
    described = sfn.describe_execution(executionArn=execution["executionArn"])
    assert json.loads(described["input"]) == {"uri": f"s3://{bucket}/in/data.csv", "size": 5}


def test_put_events_to_lambda_sqs_and_sns_with_input_and_input_path(
    client: Callable[..., Any], name: Callable[[str], str]
) -> None:
    events, sqs, sns, lam, ddb = (
        client("events"),
        client("sqs"),
        client("sns"),
        client("lambda"),
        client("dynamodb"),
    )
    table, rule = name("table"), name("rule")
    create_table(ddb, table)
    fn = create_function(lam, name("fn"), "echo", table)
    direct_url, direct_arn = queue(sqs, name("direct"))
    topic_url, topic_queue_arn = queue(sqs, name("topicq"))
    topic = sns.create_topic(Name=name("topic"))["TopicArn"]
    sns.subscribe(
        TopicArn=topic,
        Protocol="sqs",
        Endpoint=topic_queue_arn,
        Attributes={"RawMessageDelivery": "true"},
    )
    events.put_rule(Name=rule, EventPattern=json.dumps({"source": ["app.orders"]}))
    events.put_targets(
        Rule=rule,
        Targets=[
            {"Id": "fn", "Arn": fn, "InputPath": "$.detail"},
            {"Id": "q", "Arn": direct_arn},
            {"Id": "t", "Arn": topic, "Input": '{"fixed": true}'},
        ],
    )
    answer = events.put_events(
        Entries=[
            {"Source": "app.other", "DetailType": "Order", "Detail": json.dumps({"id": "no"})},
            {"Source": "app.orders", "DetailType": "Order", "Detail": json.dumps({"id": "o-1"})},
        ]
    )
    event_id = answer["Entries"][1]["EventId"]
    event = json.loads(receive_one(sqs, direct_url))
    assert event["id"] == event_id
    assert event["detail"] == {"id": "o-1"}
    assert event["detail-type"] == "Order"
    assert json.loads(receive_one(sqs, topic_url)) == {"fixed": True}
    row = wait_for("the Lambda's row", lambda: items(ddb, table).get("o-1"))
    assert json.loads(row["event"]["S"]) == {"id": "o-1"}


def test_schedule_starts_an_execution(
    client: Callable[..., Any], name: Callable[[str], str]
) -> None:
    events, sfn = client("events"), client("stepfunctions")
    rule = name("rule")
    machine = sfn.create_state_machine(name=name("sm"), definition=PASS_MACHINE, roleArn=ROLE)[
        "stateMachineArn"
    ]
    events.put_rule(Name=rule, ScheduleExpression="rate(1 minute)")
    events.put_targets(Rule=rule, Targets=[{"Id": "sm", "Arn": machine, "RoleArn": ROLE}])
    # rate(1 minute): a slow machine may see a second run before the first poll answers
    execution = wait_for("a scheduled execution", lambda: executions(sfn, machine), timeout=150)[-1]
    event = json.loads(sfn.describe_execution(executionArn=execution["executionArn"])["input"])
    assert event["detail-type"] == "Scheduled Event"
    assert event["source"] == "aws.events"
    assert event["resources"] == [events.describe_rule(Name=rule)["Arn"]]


def test_a_schedules_rule_matches_no_event(
    client: Callable[..., Any], name: Callable[[str], str]
) -> None:
    """A rule with only a ScheduleExpression has no pattern: no event reaches its targets (a
    scheduled machine was started again by its own status-change events)."""
    events, sqs = client("events"), client("sqs")
    scheduled_url, scheduled_arn = queue(sqs, name("scheduled"))
    matched_url, matched_arn = queue(sqs, name("matched"))
    daily, orders = name("daily"), name("orders")
    events.put_rule(Name=daily, ScheduleExpression="rate(1 day)")
    events.put_targets(Rule=daily, Targets=[{"Id": "q", "Arn": scheduled_arn}])
    events.put_rule(Name=orders, EventPattern=json.dumps({"source": ["app.orders"]}))
    events.put_targets(Rule=orders, Targets=[{"Id": "q", "Arn": matched_arn}])
    events.put_events(Entries=[{"Source": "app.orders", "DetailType": "Order", "Detail": "{}"}])
    receive_one(sqs, matched_url)  # delivered: the event went through matching
    assert not sqs.receive_message(QueueUrl=scheduled_url, WaitTimeSeconds=1).get("Messages")


@pytest.mark.parametrize(
    ("expression", "after", "expected"),
    [
        ("cron(0 12 * * ? *)", "2026-01-01T13:00:00", "2026-01-02T12:00:00"),
        ("cron(15 10 ? * MON-FRI *)", "2026-01-02T11:00:00", "2026-01-05T10:15:00"),
        ("cron(0 8 ? * 2 *)", "2026-01-01T00:00:00", "2026-01-05T08:00:00"),  # 2 = Monday
        ("cron(0/30 * * * ? 2027)", "2026-06-01T00:00:00", "2027-01-01T00:00:00"),
    ],
    ids=["daily-noon", "weekdays", "aws-day-numbers", "year-field"],
)
def test_aws_cron_expressions(expression: str, after: str, expected: str) -> None:
    from datetime import UTC, datetime

    start = datetime.fromisoformat(after).replace(tzinfo=UTC).timestamp()
    got = datetime.fromtimestamp(next_cron(expression, start), UTC)
    assert got == datetime.fromisoformat(expected).replace(tzinfo=UTC)


def test_rate_expressions() -> None:
    assert parse_rate("rate(1 minute)") == 60
    assert parse_rate("rate(5 minutes)") == 300
    assert parse_rate("rate(2 hours)") == 7200
    assert parse_rate("cron(0 * * * ? *)") is None


def test_firehose_prefixes() -> None:
    from datetime import UTC, datetime

    at = datetime(2026, 3, 4, 5, 6, 7, tzinfo=UTC)
    assert render_prefix("", at) == "2026/03/04/05/"
    assert render_prefix("ratings/", at) == "ratings/2026/03/04/05/"
    assert (
        render_prefix("year=!{timestamp:yyyy}/month=!{timestamp:MM}/", at) == "year=2026/month=03/"
    )
    assert (
        render_prefix("errors/!{firehose:error-output-type}/", at, error_type="processing-failed")
        == "errors/processing-failed/2026/03/04/05/"
    )


def test_firehose_delivers_every_record_in_exactly_one_object(
    client: Callable[..., Any], name: Callable[[str], str]
) -> None:
    s3, firehose = client("s3"), client("firehose")
    bucket, stream = name("bucket"), name("stream")
    s3.create_bucket(Bucket=bucket)
    firehose.create_delivery_stream(
        DeliveryStreamName=stream,
        ExtendedS3DestinationConfiguration={
            "RoleARN": ROLE,
            "BucketARN": f"arn:aws:s3:::{bucket}",
            "Prefix": "ratings/!{timestamp:yyyy}/",
            "BufferingHints": {"SizeInMBs": 1, "IntervalInSeconds": 1},
            "CompressionFormat": "GZIP",
        },
    )
    records = [json.dumps({"n": i, "pad": "x" * 100_000}) + "\n" for i in range(25)]
    for start in range(0, len(records), 5):
        answer = firehose.put_record_batch(
            DeliveryStreamName=stream,
            Records=[{"Data": r.encode()} for r in records[start : start + 5]],
        )
        assert answer["FailedPutCount"] == 0

    def delivered() -> list[str] | None:
        keys = [o["Key"] for o in s3.list_objects_v2(Bucket=bucket).get("Contents", [])]
        lines = [
            line
            for key in keys
            for line in gzip.decompress(s3.get_object(Bucket=bucket, Key=key)["Body"].read())
            .decode()
            .splitlines()
        ]
        return keys if len(lines) >= len(records) else None

    keys = wait_for("every record delivered", delivered)
    assert len(keys) >= 3  # 2.5 MB of records, objects of at most 1 MB
    seen = []
    for key in keys:
        assert key.startswith("ratings/2")
        assert key.split("/")[-1].startswith(f"{stream}-1-")
        assert key.endswith(".gz")
        body = gzip.decompress(s3.get_object(Bucket=bucket, Key=key)["Body"].read())
        assert len(body) <= 1024 * 1024 + 200_000
        seen += [json.loads(line)["n"] for line in body.decode().splitlines()]
    assert sorted(seen) == list(range(25))


def test_firehose_from_a_kinesis_stream(
    client: Callable[..., Any], name: Callable[[str], str]
) -> None:
    s3, firehose, kinesis = client("s3"), client("firehose"), client("kinesis")
    bucket, stream, source = name("bucket"), name("stream"), name("source")
    s3.create_bucket(Bucket=bucket)
    kinesis.create_stream(StreamName=source, ShardCount=1)
    source_arn = kinesis.describe_stream_summary(StreamName=source)["StreamDescriptionSummary"][
        "StreamARN"
    ]
    firehose.create_delivery_stream(
        DeliveryStreamName=stream,
        DeliveryStreamType="KinesisStreamAsSource",
        KinesisStreamSourceConfiguration={"KinesisStreamARN": source_arn, "RoleARN": ROLE},
        ExtendedS3DestinationConfiguration={
            "RoleARN": ROLE,
            "BucketARN": f"arn:aws:s3:::{bucket}",
            "BufferingHints": {"SizeInMBs": 1, "IntervalInSeconds": 1},
        },
    )
    kinesis.put_records(
        StreamName=source,
        Records=[{"Data": f"{i}\n".encode(), "PartitionKey": "k"} for i in range(3)],
    )
    [key] = wait_for(
        "one object",
        lambda: [o["Key"] for o in s3.list_objects_v2(Bucket=bucket).get("Contents", [])],
    )
    assert s3.get_object(Bucket=bucket, Key=key)["Body"].read() == b"0\n1\n2\n"


def test_step_functions_status_change_events_reach_a_rule(
    client: Callable[..., Any], name: Callable[[str], str]
) -> None:
    events, sfn, sqs = client("events"), client("stepfunctions"), client("sqs")
    rule = name("rule")
    url, arn = queue(sqs, name("status"))
    machine = sfn.create_state_machine(name=name("sm"), definition=PASS_MACHINE, roleArn=ROLE)[
        "stateMachineArn"
    ]
    events.put_rule(
        Name=rule,
        EventPattern=json.dumps(
            {
                "source": ["aws.states"],
                "detail-type": ["Step Functions Execution Status Change"],
                "detail": {"status": ["SUCCEEDED"], "stateMachineArn": [machine]},
            }
        ),
    )
    events.put_targets(Rule=rule, Targets=[{"Id": "q", "Arn": arn}])
    execution = sfn.start_execution(stateMachineArn=machine, input='{"a": 1}')["executionArn"]
    event = json.loads(receive_one(sqs, url))
    assert event["resources"] == [execution]
    assert event["detail"]["status"] == "SUCCEEDED"
    assert json.loads(event["detail"]["output"]) == {"a": 1}
