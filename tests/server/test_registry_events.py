"""Model package state changes reach the default EventBridge bus: a rule on
``aws.sagemaker`` / "SageMaker Model Package State Change" delivers them to an SQS queue."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any

GROUP = "event-models"
IMAGE = "683313688378.dkr.ecr.us-east-1.amazonaws.com/sagemaker-xgboost:1.7-1"


def receive(sqs: Any, url: str, count: int) -> list[dict[str, Any]]:
    """``count`` messages from the queue, waiting on SQS's long poll (at most a minute)."""
    bodies: list[dict[str, Any]] = []
    deadline = time.monotonic() + 60
    while len(bodies) < count and time.monotonic() < deadline:
        for message in sqs.receive_message(
            QueueUrl=url, WaitTimeSeconds=5, MaxNumberOfMessages=10
        ).get("Messages", []):
            bodies.append(json.loads(message["Body"]))
            sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])
    return bodies


def test_model_package_state_changes_reach_a_rule_on_the_default_bus(
    client: Callable[..., Any],
) -> None:
    sm, events, sqs = client("sagemaker"), client("events"), client("sqs")
    url = sqs.create_queue(QueueName="package-events")["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    events.put_rule(
        Name="package-state",
        EventPattern=json.dumps(
            {
                "source": ["aws.sagemaker"],
                "detail-type": ["SageMaker Model Package State Change"],
                "detail": {"ModelPackageGroupName": [GROUP]},
            }
        ),
    )
    events.put_targets(Rule="package-state", Targets=[{"Id": "q", "Arn": queue_arn}])
    sm.create_model_package_group(ModelPackageGroupName=GROUP)
    arn = sm.create_model_package(
        ModelPackageGroupName=GROUP,
        InferenceSpecification={
            "Containers": [{"Image": IMAGE, "ModelDataUrl": "s3://models/m/model.tar.gz"}],
            "SupportedContentTypes": ["text/csv"],
            "SupportedResponseMIMETypes": ["text/csv"],
        },
    )["ModelPackageArn"]
    sm.update_model_package(ModelPackageArn=arn, ModelApprovalStatus="Approved")

    got = receive(sqs, url, 2)  # EventBridge does not keep order across deliveries
    assert sorted(e["detail"]["ModelApprovalStatus"] for e in got) == [
        "Approved",
        "PendingManualApproval",
    ]
    for event in got:
        assert event["source"] == "aws.sagemaker"
        assert event["detail-type"] == "SageMaker Model Package State Change"
        assert event["resources"] == [arn]
        assert event["detail"]["ModelPackageArn"] == arn
        assert event["detail"]["ModelPackageVersion"] == 1
