"""`deploy`, `deploy --sdk` and `execute --target aws` against moto.

moto's CloudFormation creates S3 buckets, IAM roles, Lambda functions, log groups, DynamoDB
tables and Step Functions state machines from the template.  It does not implement
AWS::S3::BucketPolicy (skipped with a warning), does not apply the bucket's versioning, ignores a state machine's
DefinitionSubstitutions, LoggingConfiguration and TracingConfiguration, and never runs an
execution on its own (executions stay RUNNING, or FAILED with SF_EXECUTION_HISTORY_TYPE);
those parts are checked by the template tests instead.
"""

from __future__ import annotations

import json
import threading
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from workflows import aws
from workflows import predictive_maintenance as pm
from workflows import predictive_maintenance_pipeline as pipeline
from workflows.errors import ExitCode

STACK = "pm-test"
CODE_BUCKET = "pm-test-deploy"


def _code_bucket(session: Any) -> str:
    """A deployment bucket made beforehand: moto evaluates the TLS-only policy that
    ensure_bucket() puts on a new one as if every request were plain HTTP, and denies it."""
    session.client("s3").create_bucket(Bucket=CODE_BUCKET)
    return CODE_BUCKET


@pytest.fixture
def deployed(moto: Any, settings: Any) -> dict[str, str]:
    lines: list[str] = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # moto: "AWS::S3::BucketPolicy ... not supported"
        outputs = aws.deploy_stack(
            moto,
            settings,
            stack_name=STACK,
            code_bucket=_code_bucket(moto),
            out=lines.append,
            waiter_delay=1,
        )
    return outputs


def test_deploy_creates_bucket_roles_functions_table_and_state_machine(
    moto: Any, deployed: dict[str, str], settings: Any
) -> None:
    s3, iam, lam = moto.client("s3"), moto.client("iam"), moto.client("lambda")
    buckets = {b["Name"] for b in s3.list_buckets()["Buckets"]}
    assert deployed["DataBucketName"] in buckets
    roles = {r["Arn"] for r in iam.list_roles()["Roles"]}
    assert {deployed["SageMakerExecutionRoleArn"], deployed["StateMachineRoleArn"]} <= roles
    for key in ("PrepareFunctionName", "EvaluateFunctionName", "PredictFunctionName"):
        config = lam.get_function(FunctionName=deployed[key])["Configuration"]
        assert config["Role"] in roles
    assert deployed["PrepareFunctionName"] == f"{settings.name}-prepare"
    table = moto.client("dynamodb").describe_table(TableName=deployed["PredictionsTableName"])[
        "Table"
    ]
    assert table["KeySchema"] == [{"AttributeName": "prediction_id", "KeyType": "HASH"}]
    machine = moto.client("stepfunctions").describe_state_machine(
        stateMachineArn=deployed["StateMachineArn"]
    )
    assert machine["name"] == settings.name
    assert json.loads(machine["definition"])["StartAt"] == "FeaturizeData"  # the pipeline
    script = (
        moto.client("s3")
        .get_object(
            Bucket=deployed["DataBucketName"], Key=settings.featurizer.code_prefix + "featurizer.py"
        )["Body"]
        .read()
    )
    assert script == pipeline.FEATURIZER_SCRIPT.read_bytes()


def test_deploy_with_the_lambda_featurizer_holds_the_lambda_variant(
    moto: Any, settings: Any
) -> None:
    lambda_settings = settings.replace(**{"featurizer.mode": "lambda"})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        outputs = aws.deploy_stack(
            moto,
            lambda_settings,
            stack_name=STACK,
            code_bucket=_code_bucket(moto),
            out=lambda line: None,
            waiter_delay=1,
        )
    machine = moto.client("stepfunctions").describe_state_machine(
        stateMachineArn=outputs["StateMachineArn"]
    )
    assert json.loads(machine["definition"])["StartAt"] == "PrepareData"
    listed = moto.client("s3").list_objects_v2(
        Bucket=outputs["DataBucketName"], Prefix=settings.featurizer.code_prefix
    )
    assert listed["KeyCount"] == 0  # no featurizer script for the Lambda variant


def test_deploy_creates_the_processing_role_the_web_bucket_and_the_apis_permission(
    moto: Any, deployed: dict[str, str], settings: Any
) -> None:
    """What moto's CloudFormation makes of the pipeline's part (it skips AWS::ApiGatewayV2::*
    with a warning, and does not apply a bucket's public access block: the template tests
    check those)."""
    s3, iam, lam = moto.client("s3"), moto.client("iam"), moto.client("lambda")
    role = iam.get_role(RoleName=deployed["ProcessingJobRoleArn"].rsplit("/", 1)[1])["Role"]
    assert role["AssumeRolePolicyDocument"]["Statement"][0]["Principal"] == {
        "Service": "sagemaker.amazonaws.com"
    }
    web = deployed["WebBucketName"]
    assert web == f"{settings.name}-web-123456789012-us-east-1"
    assert web in {b["Name"] for b in s3.list_buckets()["Buckets"]}
    assert s3.get_bucket_encryption(Bucket=web)["ServerSideEncryptionConfiguration"]["Rules"]
    api_function = f"{settings.name}-api"
    policy = json.loads(lam.get_policy(FunctionName=api_function)["Policy"])
    [grant] = policy["Statement"]
    assert grant["Principal"] == {"Service": "apigateway.amazonaws.com"}
    assert grant["Action"] == "lambda:InvokeFunction"
    assert deployed["HttpApiUrl"].endswith(".execute-api.us-east-1.amazonaws.com/predict")


def test_the_lambda_package_holds_the_handlers_and_localaws_subset(tmp_path: Path) -> None:
    import zipfile

    names = set(zipfile.ZipFile(aws.build_lambda_package(tmp_path / "p.zip")).namelist())
    assert {
        "prepare.py",
        "evaluate.py",
        "predict.py",
        "localaws/__init__.py",
        "localaws/lambdakit/clients.py",
    } <= names
    assert not any("runtime" in n or n.startswith("localaws/asl") for n in names)
    again = aws.build_lambda_package(tmp_path / "q.zip")
    assert again.read_bytes() == (tmp_path / "p.zip").read_bytes()


def test_deploy_publishes_the_page_to_the_web_bucket_pointed_at_the_api(
    moto: Any, deployed: dict[str, str]
) -> None:
    from workflows import http_api

    s3, bucket = moto.client("s3"), deployed["WebBucketName"]
    listed = s3.list_objects_v2(Bucket=bucket)["Contents"]
    keys = {o["Key"] for o in listed}
    assert keys == {"predictive-maintenance/index.html", "predictive-maintenance/config.js"}
    page = s3.get_object(Bucket=bucket, Key="predictive-maintenance/index.html")
    assert page["ContentType"] == "text/html; charset=utf-8"
    assert page["Body"].read() == (http_api.WEB_PAGE / "index.html").read_bytes()
    config = s3.get_object(Bucket=bucket, Key="predictive-maintenance/config.js")
    assert config["ContentType"].startswith("text/javascript")
    text = config["Body"].read().decode()
    assert text == f"window.PREDICT_URL = {json.dumps(deployed['HttpApiUrl'])};\n"


def test_a_page_file_without_a_content_type_is_refused(
    moto: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from localaws.errors import UserError
    from workflows import http_api

    (tmp_path / "index.html").write_text("<p>page</p>")
    (tmp_path / "notes.bin").write_bytes(b"\0")
    monkeypatch.setattr(http_api, "WEB_PAGE", tmp_path)
    moto.client("s3").create_bucket(Bucket="web")
    outputs = {"WebBucketName": "web", "HttpApiUrl": "https://api.example/predict"}
    with pytest.raises(UserError, match=r"notes\.bin: no content type for '\.bin'"):
        aws.publish_web_page(moto.client("s3"), outputs, out=lambda line: None)
    assert "Contents" not in moto.client("s3").list_objects_v2(Bucket="web")


def test_the_monitoring_schedule_waits_for_the_endpoint_and_its_baseline(
    moto: Any, deployed: dict[str, str], settings: Any
) -> None:
    """The first deploy (EndpointName, BaselineUri empty) has no schedule; a redeploy naming
    them takes the MonitorEndpoint condition's branch (the schedule's output appears).
    moto's CloudFormation has no AWS::SageMaker::MonitoringSchedule (it warns and creates
    nothing), so the schedule's properties are checked by test_pipeline_stack.py and cfn-lint."""
    cfn = moto.client("cloudformation")
    assert "MonitoringScheduleName" not in deployed
    baseline = f"s3://{deployed['DataBucketName']}/monitoring/baseline/run-1/"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        outputs = aws.deploy_stack(
            moto,
            settings,
            stack_name=STACK,
            code_bucket=CODE_BUCKET,
            parameters={"EndpointName": settings.endpoint.name, "BaselineUri": baseline},
            out=lambda line: None,
            waiter_delay=1,
        )
    stack = cfn.describe_stacks(StackName=STACK)["Stacks"][0]
    assert stack["StackStatus"] == "UPDATE_COMPLETE"
    assert outputs["MonitoringScheduleName"] == settings.monitoring.schedule


def test_second_deploy_updates_instead_of_failing(
    moto: Any, deployed: dict[str, str], settings: Any
) -> None:
    lines: list[str] = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        again = aws.deploy_stack(
            moto,
            settings,
            stack_name=STACK,
            code_bucket=CODE_BUCKET,
            parameters={"EndpointInstanceType": "ml.m5.large"},
            out=lines.append,
            waiter_delay=1,
        )
    assert any("updating stack" in line for line in lines)
    assert again["StateMachineArn"] == deployed["StateMachineArn"]
    stack = moto.client("cloudformation").describe_stacks(StackName=STACK)["Stacks"][0]
    assert stack["StackStatus"] == "UPDATE_COMPLETE"
    params = {p["ParameterKey"]: p["ParameterValue"] for p in stack["Parameters"]}
    assert params["EndpointInstanceType"] == "ml.m5.large"


def test_deploy_sdk_creates_then_updates_only_the_state_machine(
    moto: Any, deployed: dict[str, str], settings: Any
) -> None:
    sfn = moto.client("stepfunctions")
    sfn.delete_state_machine(stateMachineArn=deployed["StateMachineArn"])
    functions_before = moto.client("lambda").list_functions()["Functions"]
    lines: list[str] = []
    created = aws.deploy_state_machine(moto, settings, stack_name=STACK, out=lines.append)
    updated = aws.deploy_state_machine(moto, settings, stack_name=STACK, out=lines.append)
    assert created == updated
    script = (
        f"uploaded the featurizer script to s3://{deployed['DataBucketName']}/code/featurizer.py"
    )
    assert lines[0].startswith("created") and lines[2].startswith("updated")
    assert lines[1] == lines[3] == script  # the pipeline definition's script, each time
    machine = sfn.describe_state_machine(stateMachineArn=created)
    assert machine["roleArn"] == deployed["StateMachineRoleArn"]
    definition = machine["definition"]
    assert deployed["SageMakerExecutionRoleArn"] in definition
    assert deployed["PredictionsTableName"] in definition
    assert moto.client("lambda").list_functions()["Functions"] == functions_before


def test_deploy_sdk_without_a_stack_names_the_fix(moto: Any, settings: Any) -> None:
    from localaws.errors import UserError

    with pytest.raises(UserError, match=r"no such stack.*python -m workflows deploy"):
        aws.deploy_state_machine(moto, settings, stack_name="missing", out=lambda _: None)


def test_execute_starts_an_execution_and_follows_it(
    moto: Any,
    deployed: dict[str, str],
    settings: Any,
    tmp_path: Path,
    stop_when_started: Callable[[Any, str], threading.Thread],
) -> None:
    data = tmp_path / "ai4i.csv"
    data.write_text("UDI,Product ID\n1,L47181\n", encoding="utf-8")
    sfn = moto.client("stepfunctions")
    lines: list[str] = []

    stopper = stop_when_started(sfn, deployed["StateMachineArn"])
    code = aws.execute(
        moto,
        settings,
        stack_name=STACK,
        run_id="r1",
        data=data,
        poll_seconds=0.1,
        timeout=30,
        out=lines.append,
    )
    stopper.join()
    assert code == ExitCode.FAILED
    execution = sfn.describe_execution(
        executionArn=f"{deployed['StateMachineArn'].replace(':stateMachine:', ':execution:')}:r1"
    )
    assert execution["status"] == "ABORTED"
    execution_input = json.loads(execution["input"])
    assert execution_input["TrainingJobName"] == f"{settings.name}-train-r1"
    bucket = deployed["DataBucketName"]
    assert execution_input == pm.example_input(
        aws.aws_settings(settings.replace(region="us-east-1"), deployed), "r1"
    )  # the pipeline variant's input, with the stack's bucket
    code_uri = execution_input["FeaturizerCodeUri"]
    assert code_uri == f"s3://{bucket}/{settings.featurizer.code_prefix}featurizer.py"
    assert f"uploaded the featurizer script to {code_uri}" in lines
    raw = execution_input["RawDataUri"]
    assert raw.startswith(f"s3://{deployed['DataBucketName']}/{settings.data.raw_prefix}")
    key = raw.removeprefix(f"s3://{deployed['DataBucketName']}/") + "ai4i.csv"
    body = moto.client("s3").get_object(Bucket=deployed["DataBucketName"], Key=key)["Body"].read()
    assert body.startswith(b"UDI,")
    assert any(line.startswith("started execution") for line in lines)
    assert any(line.startswith("execution ABORTED") for line in lines)


def test_execute_reports_a_still_running_execution(
    moto: Any, deployed: dict[str, str], settings: Any, tmp_path: Path
) -> None:
    data = tmp_path / "ai4i.csv"
    data.write_text("UDI\n1\n", encoding="utf-8")
    lines: list[str] = []
    code = aws.execute(
        moto,
        settings,
        stack_name=STACK,
        run_id="r2",
        data=data,
        poll_seconds=0.05,
        timeout=0.1,
        out=lines.append,
    )
    assert code == ExitCode.STILL_RUNNING
    assert any("still RUNNING" in line for line in lines)


def test_cli_registers_deploy_and_execute() -> None:
    import argparse

    parser = argparse.ArgumentParser()
    aws.add_commands(parser.add_subparsers())
    args = parser.parse_args(["deploy", "--sdk", "--region", "eu-west-1", "--parameter", "A=b"])
    assert args.sdk and args.region == "eu-west-1" and args.func is aws.cmd_deploy
    args = parser.parse_args(["execute", "--target", "aws", "--timeout", "5"])
    assert args.func is aws.cmd_execute and args.timeout == 5
