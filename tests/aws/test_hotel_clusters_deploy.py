"""`deploy hotel-clusters` and `execute hotel-clusters --target aws` against moto.

moto creates the stack's buckets, roles, Lambdas, stream, queue, table and state machines,
and never runs an execution on its own (they stay RUNNING): the execute test stops the
ingestion execution once it has started and checks what was uploaded and started.
"""

from __future__ import annotations

import dataclasses
import json
import threading
import warnings
from collections.abc import Callable
from typing import Any

import pytest

from localaws.errors import UserError
from workflows import aws, cli
from workflows.errors import ExitCode
from workflows.hotel_clusters import aws_deploy, run
from workflows.hotel_clusters import workflow as wf
from workflows.target import AwsTarget

STACK = "hotel-test"
CODE_BUCKET = "hotel-test-deploy"
SMALL = dataclasses.replace(wf.HotelSettings(), rows=400, max_users=100)


@pytest.fixture
def deployed(moto: Any) -> dict[str, str]:
    # made beforehand: moto evaluates ensure_bucket()'s TLS-only policy as plain HTTP
    moto.client("s3").create_bucket(Bucket=CODE_BUCKET)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # moto: resource types it does not model
        return aws_deploy.deploy(
            moto,
            SMALL,
            stack_name=STACK,
            code_bucket=CODE_BUCKET,
            out=lambda _: None,
            waiter_delay=1,
        )


def test_deploy_creates_the_stack_with_the_settings_as_parameters(
    moto: Any, deployed: dict[str, str]
) -> None:
    cfn = moto.client("cloudformation")
    stack = cfn.describe_stacks(StackName=STACK)["Stacks"][0]
    params = {p["ParameterKey"]: p["ParameterValue"] for p in stack["Parameters"]}
    assert params["ProjectName"] == wf.NAME
    assert params["CustomersFeatureGroup"] == SMALL.customers_group
    assert params["EndpointName"] == SMALL.endpoint
    assert deployed["DestinationsFeatureGroupName"] == SMALL.destinations_group
    [code] = moto.client("s3").list_objects_v2(Bucket=CODE_BUCKET)["Contents"]
    assert code["Key"].startswith(f"{STACK}/lambda-")
    machines = {
        m["name"]: m["stateMachineArn"]
        for m in moto.client("stepfunctions").list_state_machines()["stateMachines"]
    }
    assert machines[f"{wf.NAME}-ingestion"] == deployed["IngestionStateMachineArn"]
    assert machines[f"{wf.NAME}-training"] == deployed["TrainingStateMachineArn"]


def test_execute_uploads_the_data_and_follows_ingestion(
    moto: Any,
    deployed: dict[str, str],
    stop_when_started: Callable[[Any, str], threading.Thread],
) -> None:
    sfn = moto.client("stepfunctions")
    ingestion = deployed["IngestionStateMachineArn"]

    stopper = stop_when_started(sfn, ingestion)
    lines: list[str] = []
    code = aws_deploy.execute(
        moto, SMALL, stack_name=STACK, run_id="r1", poll_seconds=0.1, timeout=60, out=lines.append
    )
    stopper.join()
    assert code == ExitCode.FAILED
    arn = ingestion.replace(":stateMachine:", ":execution:") + ":r1"
    execution = sfn.describe_execution(executionArn=arn)
    assert execution["status"] == "ABORTED"
    given = json.loads(execution["input"])
    bucket = deployed["DataBucketName"]
    assert given["EventsUri"] == f"s3://{bucket}/{SMALL.prefix}/raw/r1/train.csv"
    assert given["FeatureGroupRole"] == deployed["SageMakerExecutionRoleArn"]
    assert given["CustomersGroup"] == SMALL.customers_group
    s3 = moto.client("s3")
    events = s3.get_object(Bucket=bucket, Key=f"{SMALL.prefix}/raw/r1/train.csv")["Body"].read()
    assert events.startswith(b"date_time,") and len(events.splitlines()) == SMALL.rows + 1
    s3.head_object(Bucket=bucket, Key=f"{SMALL.prefix}/code/evaluate.py")
    training = sfn.list_executions(stateMachineArn=deployed["TrainingStateMachineArn"])
    assert training["executions"] == []  # training starts only from a succeeded ingestion
    assert any(line.startswith("started execution") for line in lines)
    assert any(line.startswith("execution ABORTED") for line in lines)


def test_training_input_names_the_stack_resources(moto: Any, deployed: dict[str, str]) -> None:
    target = AwsTarget(moto)
    s = aws_deploy.aws_settings(SMALL, deployed, target.region)
    ingest = {"customers_table": "c", "destinations_table": "d"}
    given = aws_deploy.training_input(target, s, "r2", ingest)
    assert given["EndpointExists"] is False
    assert given["Ingestion"] == ingest
    assert given["TrainingSetUri"].startswith(f"s3://{deployed['DataBucketName']}/")
    assert given["TrainingJobName"] == f"{wf.NAME}-train-r2"
    arn = target.start(deployed["TrainingStateMachineArn"], given, name="r2")
    assert target.view(arn).status == "RUNNING"


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"endpoint": "other"}, "hotel_clusters.endpoint: 'other', but the stack's EndpointName"),
        (
            {"customers_group": "c2"},
            "hotel_clusters.customers_group: 'c2', but the stack's CustomersFeatureGroup",
        ),
        ({"model_package_group": "g"}, "hotel_clusters.model_package_group: 'g'"),
    ],
    ids=["endpoint", "feature-group", "package-group"],
)
def test_execute_refuses_settings_the_stack_does_not_match(
    moto: Any, deployed: dict[str, str], change: dict[str, Any], message: str
) -> None:
    with pytest.raises(UserError, match=message):
        aws_deploy.execute(moto, dataclasses.replace(SMALL, **change), stack_name=STACK)


def test_execute_without_a_stack_names_the_fix(moto: Any) -> None:
    with pytest.raises(UserError, match="--stack-name nope: no such stack"):
        aws_deploy.execute(moto, SMALL, stack_name="nope")


def test_the_cli_routes_hotel_clusters_to_its_stack() -> None:
    parser = cli.make_parser()
    args = parser.parse_args(["deploy", "hotel-clusters", "--parameter", "A=b"])
    assert args.workflow == "hotel-clusters" and args.func is aws.cmd_deploy
    args = parser.parse_args(["execute", "hotel-clusters", "--target", "aws", "--timeout", "5"])
    assert args.workflow == "hotel-clusters" and args.func is aws.cmd_execute
    assert parser.parse_args(["deploy"]).workflow == "predictive-maintenance"


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["deploy", "hotel-clusters", "--sdk"], "deploy hotel-clusters --sdk"),
        (["execute", "hotel-clusters", "--no-follow"], "execute hotel-clusters --no-follow"),
        (["execute", "hotel-clusters", "--data", "/nonexistent"], "--data /nonexistent: no such"),
    ],
    ids=["sdk", "no-follow", "no-data-dir"],
)
def test_the_cli_refuses_what_hotel_clusters_does_not_take(
    argv: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli.main(argv) == ExitCode.USAGE
    assert message in capsys.readouterr().err


def _test_events(target: AwsTarget, bucket: str, count: int) -> tuple[str, list[dict[str, Any]]]:
    """``count`` events as the test split holds them (the event, its label), in the bucket."""
    events = [
        {"event": {"user_id": 100 + i, "srch_destination_id": 7}, "hotel_cluster": i}
        for i in range(count)
    ]
    uri = f"s3://{bucket}/{SMALL.prefix}/test-events.jsonl"
    target.storage.write(uri, "\n".join(json.dumps(e) for e in events).encode())
    return uri, events


def _stream_datas(kinesis: Any, stream: str) -> list[bytes]:
    datas = []
    for shard in kinesis.list_shards(StreamName=stream)["Shards"]:
        iterator = kinesis.get_shard_iterator(
            StreamName=stream, ShardId=shard["ShardId"], ShardIteratorType="TRIM_HORIZON"
        )["ShardIterator"]
        datas += [r["Data"] for r in kinesis.get_records(ShardIterator=iterator)["Records"]]
    return datas


def test_stream_test_events_puts_them_on_the_stack_stream_and_waits_for_the_items(
    moto: Any, deployed: dict[str, str]
) -> None:
    """moto runs no Lambda behind the mapping: the records reach the stream, no item the
    table, and the wait ends at its timeout naming the function to look at."""
    target = AwsTarget(moto)
    s = aws_deploy.aws_settings(SMALL, deployed, target.region)
    uri, events = _test_events(target, deployed["DataBucketName"], 4)
    lines: list[str] = []
    summary = aws_deploy.stream_test_events(
        target, s, deployed, uri, limit=3, timeout=0.5, out=lines.append
    )
    encoded = [json.dumps(e["event"]).encode() for e in events[:3]]
    assert _stream_datas(moto.client("kinesis"), s.stream) == [
        encoded[0],
        run.POISON,
        *encoded[1:],
    ]
    assert summary["events"] == 3 and summary["items"] == 0
    assert summary["failure_destination_messages"] == 0
    assert lines[0] == f"streaming 3 test events and one poisoned record through {s.stream}"
    assert f"only 0 of 3 items reached table {s.table} within 0 s" in lines[-1]
    assert deployed["StreamFunctionName"] in lines[-1]
