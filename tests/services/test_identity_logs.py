"""STS, IAM and CloudWatch Logs through boto3 against the server; the SageMaker SDK's
default bucket; the AWS CLI against a few of the mounted services."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
from collections.abc import Callable
from typing import Any

import pytest

from localaws.server.serve import LocalServer
from localaws.sts.session import local_boto_session

ACCOUNT = "123456789012"
TRUST = json.dumps(
    {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": {"Service": "sagemaker.amazonaws.com"},
                "Action": "sts:AssumeRole",
            }
        ],
    }
)
S3_ALL = json.dumps(
    {
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Action": "s3:*", "Resource": "*"}],
    }
)


def test_sts_caller_identity_and_assume_role(
    client: Callable[..., Any], name: Callable[[str], str]
) -> None:
    sts = client("sts")
    assert sts.get_caller_identity()["Account"] == ACCOUNT
    role_arn = f"arn:aws:iam::{ACCOUNT}:role/{name('role')}"
    assumed = sts.assume_role(RoleArn=role_arn, RoleSessionName="s1")
    assert assumed["Credentials"]["AccessKeyId"]
    assert assumed["AssumedRoleUser"]["Arn"].startswith(f"arn:aws:sts::{ACCOUNT}:assumed-role/")


def test_iam_roles_and_policies(client: Callable[..., Any], name: Callable[[str], str]) -> None:
    iam = client("iam")
    role = name("role")
    arn = iam.create_role(RoleName=role, AssumeRolePolicyDocument=TRUST)["Role"]["Arn"]
    assert arn == f"arn:aws:iam::{ACCOUNT}:role/{role}"
    policy = iam.create_policy(PolicyName=name("policy"), PolicyDocument=S3_ALL)["Policy"]["Arn"]
    iam.attach_role_policy(RoleName=role, PolicyArn=policy)
    attached = iam.list_attached_role_policies(RoleName=role)["AttachedPolicies"]
    assert [p["PolicyArn"] for p in attached] == [policy]
    iam.put_role_policy(RoleName=role, PolicyName="inline", PolicyDocument=S3_ALL)
    assert iam.list_role_policies(RoleName=role)["PolicyNames"] == ["inline"]


def test_logs_groups_streams_events(client: Callable[..., Any], name: Callable[[str], str]) -> None:
    logs = client("logs")
    group = f"/aws/lambda/{name('fn')}"
    logs.create_log_group(logGroupName=group)
    logs.create_log_stream(logGroupName=group, logStreamName="2024/01/01/[$LATEST]abc")
    now = int(time.time() * 1000)
    logs.put_log_events(
        logGroupName=group,
        logStreamName="2024/01/01/[$LATEST]abc",
        logEvents=[
            {"timestamp": now, "message": "START"},
            {"timestamp": now + 1, "message": "scored 3 records"},
            {"timestamp": now + 2, "message": "END"},
        ],
    )
    streams = logs.describe_log_streams(logGroupName=group)["logStreams"]
    assert [s["logStreamName"] for s in streams] == ["2024/01/01/[$LATEST]abc"]
    events = logs.get_log_events(
        logGroupName=group, logStreamName="2024/01/01/[$LATEST]abc", startFromHead=True
    )["events"]
    assert [e["message"] for e in events] == ["START", "scored 3 records", "END"]
    found = logs.filter_log_events(logGroupName=group, filterPattern="scored")["events"]
    assert [e["message"] for e in found] == ["scored 3 records"]


def test_sagemaker_sdk_default_bucket(server: LocalServer, restore_root_logger: None) -> None:
    import sagemaker

    session = sagemaker.Session(boto_session=local_boto_session(server.url))
    bucket = session.default_bucket()
    assert bucket == f"sagemaker-us-east-1-{ACCOUNT}"
    assert (server.runtime.state_dir / "s3" / bucket).is_dir()


@pytest.fixture
def restore_root_logger() -> Any:
    """Importing the Data Science SDK / SageMaker SDK may set the root logger; put it back."""
    import logging

    root = logging.getLogger()
    level = root.level
    yield
    root.setLevel(level)


def test_aws_cli(server: LocalServer, name: Callable[[str], str]) -> None:
    aws = shutil.which("aws")
    assert aws, "the AWS CLI is part of the test setup (make tools)"
    env = {**os.environ, "AWS_PAGER": ""}

    def run(*args: str) -> Any:
        done = subprocess.run(
            [aws, "--endpoint-url", server.url, "--output", "json", *args],
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert done.returncode == 0, done.stderr
        return json.loads(done.stdout) if done.stdout.strip() else None

    queue = run("sqs", "create-queue", "--queue-name", name("cli"))["QueueUrl"]
    run("sqs", "send-message", "--queue-url", queue, "--message-body", "from the CLI")
    got = run("sqs", "receive-message", "--queue-url", queue)
    assert [m["Body"] for m in got["Messages"]] == ["from the CLI"]
    table = name("cli")
    run(
        "dynamodb",
        "create-table",
        "--table-name",
        table,
        "--attribute-definitions",
        "AttributeName=id,AttributeType=S",
        "--key-schema",
        "AttributeName=id,KeyType=HASH",
        "--billing-mode",
        "PAY_PER_REQUEST",
    )
    run("dynamodb", "put-item", "--table-name", table, "--item", '{"id": {"S": "cli"}}')
    assert run("dynamodb", "scan", "--table-name", table)["Items"] == [{"id": {"S": "cli"}}]
    assert run("sts", "get-caller-identity")["Account"] == ACCOUNT
