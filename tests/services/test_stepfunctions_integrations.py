"""Step Functions' optimized integrations of the mounted services, run by the local engine
through the server: dynamodb:getItem/putItem/updateItem/deleteItem, sqs:sendMessage (with
.waitForTaskToken), sns:publish, events:putEvents; AWS's error names."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any

import pytest
from botocore.exceptions import ClientError

ROLE = "arn:aws:iam::123456789012:role/sfn"


def run(sfn: Any, name: str, definition: dict[str, Any], payload: Any = None) -> dict[str, Any]:
    arn = sfn.create_state_machine(name=name, definition=json.dumps(definition), roleArn=ROLE)[
        "stateMachineArn"
    ]
    execution = sfn.start_execution(stateMachineArn=arn, input=json.dumps(payload or {}))
    return wait(sfn, execution["executionArn"])


def wait(sfn: Any, execution_arn: str, timeout: float = 60) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        described = sfn.describe_execution(executionArn=execution_arn)
        if described["status"] != "RUNNING":
            return dict(described)
        time.sleep(0.05)
    raise AssertionError(f"{execution_arn} still running after {timeout}s")


def task(resource: str, parameters: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {
        "Type": "Task",
        "Resource": f"arn:aws:states:::{resource}",
        "Parameters": parameters,
        **extra,
    }


@pytest.fixture
def table(client: Callable[..., Any], name: Callable[[str], str]) -> str:
    table = name("table")
    client("dynamodb").create_table(
        TableName=table,
        KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    return table


def test_dynamodb_put_update_get_delete(
    client: Callable[..., Any], name: Callable[[str], str], table: str
) -> None:
    key = {"id": {"S.$": "$.id"}}
    definition = {
        "StartAt": "Put",
        "States": {
            "Put": task(
                "dynamodb:putItem",
                {"TableName": table, "Item": {"id": {"S.$": "$.id"}, "score": {"N": "1"}}},
                ResultPath=None,
                Next="Update",
            ),
            "Update": task(
                "dynamodb:updateItem",
                {
                    "TableName": table,
                    "Key": key,
                    "UpdateExpression": "SET score = score + :d",
                    "ExpressionAttributeValues": {":d": {"N": "41"}},
                },
                ResultPath=None,
                Next="Get",
            ),
            "Get": task(
                "dynamodb:getItem",
                {"TableName": table, "Key": key},
                ResultSelector={"score.$": "$.Item.score.N"},
                ResultPath="$.got",
                Next="Delete",
            ),
            "Delete": task(
                "dynamodb:deleteItem", {"TableName": table, "Key": key}, ResultPath=None, End=True
            ),
        },
    }
    done = run(client("stepfunctions"), name("sm"), definition, {"id": "p1"})
    assert done["status"] == "SUCCEEDED", done
    assert json.loads(done["output"]) == {"id": "p1", "got": {"score": "42"}}
    assert client("dynamodb").scan(TableName=table)["Items"] == []


def test_dynamodb_error_names_are_aws(
    client: Callable[..., Any], name: Callable[[str], str], table: str
) -> None:
    put = {
        "TableName": table,
        "Item": {"id": {"S": "once"}},
        "ConditionExpression": "attribute_not_exists(id)",
    }
    definition = {
        "StartAt": "First",
        "States": {
            "First": task("dynamodb:putItem", put, ResultPath=None, Next="Second"),
            "Second": task(
                "dynamodb:putItem",
                put,
                Catch=[
                    {
                        "ErrorEquals": ["DynamoDB.ConditionalCheckFailedException"],
                        "ResultPath": "$.error",
                        "Next": "Caught",
                    }
                ],
                End=True,
            ),
            "Caught": {"Type": "Pass", "End": True},
        },
    }
    done = run(client("stepfunctions"), name("sm"), definition)
    assert done["status"] == "SUCCEEDED", done
    assert (
        json.loads(done["output"])["error"]["Error"] == "DynamoDB.ConditionalCheckFailedException"
    )


def test_missing_required_member_is_refused_at_creation(
    client: Callable[..., Any], name: Callable[[str], str]
) -> None:
    definition = {
        "StartAt": "Put",
        "States": {"Put": task("dynamodb:putItem", {"Item": {}}, End=True)},
    }
    with pytest.raises(ClientError) as e:
        client("stepfunctions").create_state_machine(
            name=name("sm"), definition=json.dumps(definition), roleArn=ROLE
        )
    assert e.value.response["Error"]["Code"] == "InvalidDefinition"
    assert "TableName" in e.value.response["Error"]["Message"]


def test_sqs_send_message_wait_for_task_token(
    client: Callable[..., Any], name: Callable[[str], str]
) -> None:
    sqs, sfn = client("sqs"), client("stepfunctions")
    queue = sqs.create_queue(QueueName=name("q"))["QueueUrl"]
    definition = {
        "StartAt": "Ask",
        "States": {
            "Ask": task(
                "sqs:sendMessage.waitForTaskToken",
                {
                    "QueueUrl": queue,
                    "MessageBody": {"token.$": "$$.Task.Token", "question.$": "$.question"},
                },
                End=True,
            )
        },
    }
    arn = sfn.create_state_machine(
        name=name("sm"), definition=json.dumps(definition), roleArn=ROLE
    )["stateMachineArn"]
    execution = sfn.start_execution(stateMachineArn=arn, input='{"question": "ready?"}')
    (message,) = sqs.receive_message(QueueUrl=queue, WaitTimeSeconds=20)["Messages"]
    body = json.loads(message["Body"])
    assert body["question"] == "ready?"
    sfn.send_task_success(taskToken=body["token"], output='{"answer": "yes"}')
    done = wait(sfn, execution["executionArn"])
    assert done["status"] == "SUCCEEDED" and json.loads(done["output"]) == {"answer": "yes"}


def test_sqs_send_to_missing_queue_fails_with_aws_name(
    client: Callable[..., Any], name: Callable[[str], str]
) -> None:
    missing = "https://sqs.us-east-1.amazonaws.com/123456789012/no-such-queue"
    definition = {
        "StartAt": "Send",
        "States": {
            "Send": task("sqs:sendMessage", {"QueueUrl": missing, "MessageBody": "x"}, End=True)
        },
    }
    done = run(client("stepfunctions"), name("sm"), definition)
    assert done["status"] == "FAILED"
    assert done["error"] == "SQS.QueueDoesNotExistException"


def test_sns_publish_and_events_put_events(
    client: Callable[..., Any], name: Callable[[str], str]
) -> None:
    sns, sqs, events = client("sns"), client("sqs"), client("events")
    topic = sns.create_topic(Name=name("topic"))["TopicArn"]
    queue = sqs.create_queue(QueueName=name("q"))["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=queue_arn)
    definition = {
        "StartAt": "Publish",
        "States": {
            "Publish": task(
                "sns:publish",
                {"TopicArn": topic, "Message.$": "$.note"},
                ResultPath="$.published",
                Next="Emit",
            ),
            "Emit": task(
                "events:putEvents",
                {
                    "Entries": [
                        {"Source": "ml.pipeline", "DetailType": "Scored", "Detail": {"n": 3}}
                    ]
                },
                ResultPath="$.emitted",
                End=True,
            ),
        },
    }
    done = run(client("stepfunctions"), name("sm"), definition, {"note": "model ready"})
    assert done["status"] == "SUCCEEDED", done
    output = json.loads(done["output"])
    assert output["emitted"]["FailedEntryCount"] == 0
    (message,) = sqs.receive_message(QueueUrl=queue, WaitTimeSeconds=5)["Messages"]
    envelope = json.loads(message["Body"])
    assert envelope["Message"] == "model ready"
    assert envelope["MessageId"] == output["published"]["MessageId"]
    assert events.list_event_buses()["EventBuses"]
