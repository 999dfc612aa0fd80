"""S3 event notifications from the local S3: to Lambda (-> a DynamoDB row), SQS, SNS and
EventBridge, with AWS's event shapes and filter rules."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest
from botocore.exceptions import ClientError
from wiring_support import create_function, create_table, rows_when, wait_for


def test_object_upload_runs_a_lambda_that_writes_a_table_row(
    client: Callable[..., Any], name: Callable[[str], str]
) -> None:
    s3, lam, ddb = client("s3"), client("lambda"), client("dynamodb")
    bucket, table, fn = name("bucket"), name("table"), name("fn")
    s3.create_bucket(Bucket=bucket)
    create_table(ddb, table)
    arn = create_function(lam, fn, "s3_object", table)
    s3.put_bucket_notification_configuration(
        Bucket=bucket,
        NotificationConfiguration={
            "LambdaFunctionConfigurations": [
                {
                    "Id": "csv-in",
                    "LambdaFunctionArn": arn,
                    "Events": ["s3:ObjectCreated:*"],
                    "Filter": {
                        "Key": {
                            "FilterRules": [
                                {"Name": "prefix", "Value": "in/"},
                                {"Name": "suffix", "Value": ".csv"},
                            ]
                        }
                    },
                }
            ]
        },
    )
    got = s3.get_bucket_notification_configuration(Bucket=bucket)
    assert got["LambdaFunctionConfigurations"][0]["LambdaFunctionArn"] == arn
    assert got["LambdaFunctionConfigurations"][0]["Id"] == "csv-in"

    s3.put_object(Bucket=bucket, Key="in/skipped.txt", Body=b"not csv")
    s3.put_object(Bucket=bucket, Key="out/skipped.csv", Body=b"wrong prefix")
    s3.put_object(Bucket=bucket, Key="in/my data.csv", Body=b"a,b\n1,2\n")
    s3.copy_object(
        Bucket=bucket, Key="in/copy.csv", CopySource={"Bucket": bucket, "Key": "in/my data.csv"}
    )

    rows = wait_for("two rows", rows_when(ddb, table, 2))
    assert set(rows) == {"in/my+data.csv", "in/copy.csv"}  # keys arrive URL-encoded
    record = json.loads(rows["in/my+data.csv"]["record"]["S"])
    assert record["eventVersion"] == "2.1"
    assert record["eventSource"] == "aws:s3"
    assert record["eventName"] == "ObjectCreated:Put"
    assert record["s3"]["configurationId"] == "csv-in"
    assert record["s3"]["bucket"]["arn"] == f"arn:aws:s3:::{bucket}"
    assert record["s3"]["object"]["size"] == 8
    assert record["s3"]["object"]["eTag"] == s3.head_object(Bucket=bucket, Key="in/my data.csv")[
        "ETag"
    ].strip('"')
    assert record["s3"]["object"]["sequencer"]
    copied = json.loads(rows["in/copy.csv"]["record"]["S"])
    assert copied["eventName"] == "ObjectCreated:Copy"


def test_created_and_removed_to_sqs_sns_and_eventbridge(
    client: Callable[..., Any], name: Callable[[str], str]
) -> None:
    s3, sqs, sns, events = client("s3"), client("sqs"), client("sns"), client("events")
    bucket = name("bucket")
    s3.create_bucket(Bucket=bucket)
    queue_url = sqs.create_queue(QueueName=name("queue"))["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])[
        "Attributes"
    ]["QueueArn"]
    topic = sns.create_topic(Name=name("topic"))["TopicArn"]
    topic_queue = sqs.create_queue(QueueName=name("topicq"))["QueueUrl"]
    topic_queue_arn = sqs.get_queue_attributes(QueueUrl=topic_queue, AttributeNames=["QueueArn"])[
        "Attributes"
    ]["QueueArn"]
    sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=topic_queue_arn)
    rule_queue = sqs.create_queue(QueueName=name("ruleq"))["QueueUrl"]
    rule_queue_arn = sqs.get_queue_attributes(QueueUrl=rule_queue, AttributeNames=["QueueArn"])[
        "Attributes"
    ]["QueueArn"]
    rule = name("rule")
    events.put_rule(
        Name=rule,
        EventPattern=json.dumps(
            {
                "source": ["aws.s3"],
                "detail-type": ["Object Created"],
                "detail": {"bucket": {"name": [bucket]}},
            }
        ),
    )
    events.put_targets(Rule=rule, Targets=[{"Id": "q", "Arn": rule_queue_arn}])
    s3.put_bucket_notification_configuration(
        Bucket=bucket,
        NotificationConfiguration={
            "QueueConfigurations": [{"QueueArn": queue_arn, "Events": ["s3:ObjectRemoved:*"]}],
            "TopicConfigurations": [{"TopicArn": topic, "Events": ["s3:ObjectCreated:Put"]}],
            "EventBridgeConfiguration": {},
        },
    )
    s3.put_object(Bucket=bucket, Key="k.json", Body=b"{}")
    s3.delete_object(Bucket=bucket, Key="k.json")

    removed = receive_one(sqs, queue_url)
    assert json.loads(removed)["Records"][0]["eventName"] == "ObjectRemoved:Delete"
    envelope = json.loads(receive_one(sqs, topic_queue))
    assert envelope["Subject"] == "Amazon S3 Notification"
    assert json.loads(envelope["Message"])["Records"][0]["eventName"] == "ObjectCreated:Put"
    event = json.loads(receive_one(sqs, rule_queue))
    assert event["source"] == "aws.s3"
    assert event["detail-type"] == "Object Created"
    assert event["detail"]["object"]["key"] == "k.json"
    assert event["detail"]["reason"] == "PutObject"


def receive_one(sqs: Any, url: str) -> str:
    def probe() -> str | None:
        got = sqs.receive_message(QueueUrl=url, WaitTimeSeconds=5).get("Messages", [])
        return got[0]["Body"] if got else None

    return wait_for(f"a message on {url}", probe)


def test_a_destination_that_does_not_exist_is_refused(
    client: Callable[..., Any], name: Callable[[str], str]
) -> None:
    s3 = client("s3")
    bucket = name("bucket")
    s3.create_bucket(Bucket=bucket)
    with pytest.raises(ClientError) as e:
        s3.put_bucket_notification_configuration(
            Bucket=bucket,
            NotificationConfiguration={
                "QueueConfigurations": [
                    {
                        "QueueArn": "arn:aws:sqs:us-east-1:123456789012:missing",
                        "Events": ["s3:ObjectCreated:*"],
                    }
                ]
            },
        )
    assert e.value.response["Error"]["Code"] == "InvalidArgument"
    assert "missing" in e.value.response["Error"]["Message"]
