"""Handlers of the wiring tests: each writes what it received to the DynamoDB table named
by TABLE through plain boto3 (AWS_ENDPOINT_URL points at the local runtime)."""

import base64
import json
import os

import boto3

_table = None


class PoisonRecord(Exception):
    """A record the handler refuses."""


def table():
    global _table
    if _table is None:
        _table = boto3.resource("dynamodb").Table(os.environ["TABLE"])
    return _table


def s3_object(event, context):
    for record in event["Records"]:
        table().put_item(
            Item={
                "id": record["s3"]["object"]["key"],
                "event": record["eventName"],
                "record": json.dumps(record),
            }
        )
    return {"ok": True}


def sqs_partial(event, context):
    failures = []
    for record in event["Records"]:
        if "poison" in record["body"]:
            failures.append({"itemIdentifier": record["messageId"]})
            continue
        table().put_item(Item={"id": record["body"], "record": json.dumps(record)})
    return {"batchItemFailures": failures}


def stream(event, context):
    datas = [base64.b64decode(r["kinesis"]["data"]).decode() for r in event["Records"]]
    if "poison" in datas:
        raise PoisonRecord(f"batch of {len(datas)} holds the poison record")
    for data, record in zip(datas, event["Records"], strict=True):
        table().put_item(Item={"id": data, "record": json.dumps(record)})
    return {"ok": True}


def ddb_stream(event, context):
    for record in event["Records"]:
        key = record["dynamodb"]["Keys"]["id"]["S"]
        table().put_item(Item={"id": f"seen-{key}", "event": record["eventName"]})
    return {"ok": True}


def flaky(event, context):
    """Fails unless the event says otherwise; counts its attempts in the table."""
    table().update_item(
        Key={"id": f"attempts-{event['id']}"},
        UpdateExpression="ADD n :one",
        ExpressionAttributeValues={":one": 1},
    )
    if event.get("fail", True):
        raise PoisonRecord(f"event {event['id']} always fails")
    return {"done": event["id"]}


def echo(event, context):
    table().put_item(Item={"id": event.get("id", "event"), "event": json.dumps(event)})
    return event
