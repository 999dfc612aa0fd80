"""Every acknowledged write to a mounted service survives ``kill -9`` of the server: write to
each service through a real ``python -m workflows serve`` process, kill it, start a new one
on the same state directory and read everything back (same ids, no message lost)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import boto3
from botocore.config import Config

from localaws.runtime import read_owner

ROOT = Path(__file__).resolve().parents[2]


def start_serve(state_dir: Path) -> tuple[subprocess.Popen[str], str]:
    """The server, snapshotting moto's backends every 7 calls: a restart loads the last
    snapshot and replays the journal after it."""
    process = subprocess.Popen(
        [sys.executable, "-m", "workflows", "serve", "--state-dir", str(state_dir), "--port", "0"],
        cwd=ROOT,
        env={**os.environ, "LOCALAWS_SNAPSHOT_EVERY": "7"},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        assert process.poll() is None, process.communicate()[1]
        owner = read_owner(state_dir)
        if owner and owner.get("url") and owner.get("pid") == process.pid:
            return process, str(owner["url"])
        time.sleep(0.1)
    process.kill()
    raise AssertionError("the server did not record its URL")


def clients(url: str) -> Any:
    def make(service: str) -> Any:
        return boto3.client(
            service,
            endpoint_url=url,
            region_name="us-east-1",
            config=Config(retries={"max_attempts": 1}),
        )

    return make


def write_everything(c: Any) -> dict[str, Any]:
    """Writes to every service; returns what a reader must find after the restart."""
    ddb = c("dynamodb")
    ddb.create_table(
        TableName="items",
        KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    for i in range(20):
        ddb.put_item(TableName="items", Item={"id": {"S": f"i{i}"}, "n": {"N": str(i)}})
    ddb.delete_item(TableName="items", Key={"id": {"S": "i0"}})
    ddb.update_item(
        TableName="items",
        Key={"id": {"S": "i1"}},
        UpdateExpression="SET n = :n",
        ExpressionAttributeValues={":n": {"N": "100"}},
    )

    sqs = c("sqs")
    queue = sqs.create_queue(QueueName="work")["QueueUrl"]
    sent = [sqs.send_message(QueueUrl=queue, MessageBody=f"m{i}")["MessageId"] for i in range(10)]
    received = sqs.receive_message(QueueUrl=queue, MaxNumberOfMessages=2, VisibilityTimeout=0)
    deleted = received["Messages"][0]
    sqs.delete_message(QueueUrl=queue, ReceiptHandle=deleted["ReceiptHandle"])
    fifo = sqs.create_queue(QueueName="ordered.fifo", Attributes={"FifoQueue": "true"})["QueueUrl"]
    for i in range(3):
        sqs.send_message(
            QueueUrl=fifo, MessageBody=f"f{i}", MessageGroupId="g", MessageDeduplicationId=str(i)
        )

    sns = c("sns")
    topic = sns.create_topic(Name="news")["TopicArn"]
    fanout = sqs.create_queue(QueueName="fanout")["QueueUrl"]
    fanout_arn = sqs.get_queue_attributes(QueueUrl=fanout, AttributeNames=["QueueArn"])[
        "Attributes"
    ]["QueueArn"]
    sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=fanout_arn)
    published = sns.publish(TopicArn=topic, Message="extra")["MessageId"]

    kinesis = c("kinesis")
    kinesis.create_stream(StreamName="clicks", ShardCount=1)
    records = [
        kinesis.put_record(StreamName="clicks", Data=f"c{i}".encode(), PartitionKey="k")[
            "SequenceNumber"
        ]
        for i in range(5)
    ]

    c("firehose").create_delivery_stream(
        DeliveryStreamName="ratings",
        ExtendedS3DestinationConfiguration={
            "RoleARN": "arn:aws:iam::123456789012:role/f",
            "BucketARN": "arn:aws:s3:::lake",
        },
    )
    events = c("events")
    events.put_rule(Name="nightly", ScheduleExpression="rate(1 day)")
    events.put_targets(Rule="nightly", Targets=[{"Id": "q", "Arn": fanout_arn}])
    api = c("apigateway").create_rest_api(name="scoring")["id"]
    http_api = c("apigatewayv2").create_api(Name="scoring", ProtocolType="HTTP")["ApiId"]
    glue = c("glue")
    glue.create_database(DatabaseInput={"Name": "lake"})
    glue.create_table(DatabaseName="lake", TableInput={"Name": "ratings"})
    athena = c("athena")
    query = athena.start_query_execution(
        QueryString="SELECT 1", ResultConfiguration={"OutputLocation": "s3://results/"}
    )["QueryExecutionId"]
    logs = c("logs")
    logs.create_log_group(logGroupName="/app")
    logs.create_log_stream(logGroupName="/app", logStreamName="s")
    now_ms = int(time.time() * 1000)
    logs.put_log_events(
        logGroupName="/app",
        logStreamName="s",
        logEvents=[{"timestamp": now_ms + i, "message": f"line {i}"} for i in range(3)],
    )
    role = c("iam").create_role(RoleName="worker", AssumeRolePolicyDocument="{}")["Role"]
    return {
        "sent": sent,
        "deleted": deleted["MessageId"],
        "queue": queue,
        "fifo": fifo,
        "fanout": fanout,
        "published": published,
        "records": records,
        "api": api,
        "http_api": http_api,
        "query": query,
        "role": role,
    }


def drain(sqs: Any, queue: str) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    while True:
        got = sqs.receive_message(QueueUrl=queue, MaxNumberOfMessages=10).get("Messages", [])
        if not got:
            return out
        out += got
        for m in got:
            sqs.delete_message(QueueUrl=queue, ReceiptHandle=m["ReceiptHandle"])


def test_acknowledged_writes_survive_kill_9(tmp_path: Path) -> None:
    process, url = start_serve(tmp_path)
    try:
        expected = write_everything(clients(url))
    finally:
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=30)

    assert (tmp_path / "services" / "snapshot.pickle").is_file()
    process, url = start_serve(tmp_path)
    try:
        c = clients(url)
        items = c("dynamodb").scan(TableName="items")["Items"]
        assert sorted(int(i["n"]["N"]) for i in items) == [*range(2, 20), 100]

        sqs = c("sqs")
        remaining = drain(sqs, expected["queue"])
        assert sorted(m["MessageId"] for m in remaining) == sorted(
            set(expected["sent"]) - {expected["deleted"]}
        )
        assert [m["Body"] for m in drain(sqs, expected["fifo"])] == ["f0", "f1", "f2"]
        (note,) = drain(sqs, expected["fanout"])
        assert json.loads(note["Body"])["MessageId"] == expected["published"]

        kinesis = c("kinesis")
        shard = kinesis.list_shards(StreamName="clicks")["Shards"][0]["ShardId"]
        iterator = kinesis.get_shard_iterator(
            StreamName="clicks", ShardId=shard, ShardIteratorType="TRIM_HORIZON"
        )["ShardIterator"]
        records = kinesis.get_records(ShardIterator=iterator)["Records"]
        assert [r["SequenceNumber"] for r in records] == expected["records"]
        assert [r["Data"] for r in records] == [f"c{i}".encode() for i in range(5)]

        assert c("firehose").list_delivery_streams()["DeliveryStreamNames"] == ["ratings"]
        events = c("events")
        assert events.describe_rule(Name="nightly")["ScheduleExpression"] == "rate(1 day)"
        assert len(events.list_targets_by_rule(Rule="nightly")["Targets"]) == 1
        assert c("apigateway").get_rest_api(restApiId=expected["api"])["name"] == "scoring"
        assert c("apigatewayv2").get_api(ApiId=expected["http_api"])["Name"] == "scoring"
        assert c("glue").get_table(DatabaseName="lake", Name="ratings")["Table"]["Name"]
        execution = c("athena").get_query_execution(QueryExecutionId=expected["query"])
        assert execution["QueryExecution"]["Query"] == "SELECT 1"
        events_back = c("logs").get_log_events(logGroupName="/app", logStreamName="s")
        assert [e["message"] for e in events_back["events"]] == ["line 0", "line 1", "line 2"]
        role = c("iam").get_role(RoleName="worker")["Role"]
        assert role["RoleId"] == expected["role"]["RoleId"]
        assert role["CreateDate"] == expected["role"]["CreateDate"]
    finally:
        process.send_signal(signal.SIGTERM)
        _, stderr = process.communicate(timeout=60)
    assert "Traceback" not in stderr
