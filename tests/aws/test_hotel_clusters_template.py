"""cfn/hotel-clusters.yaml: current, cfn-lint and checkov clean, and deployed to moto."""

from __future__ import annotations

import json
import subprocess
import warnings
from pathlib import Path
from typing import Any

import pytest
from cfnlint.api import lint_all

from workflows import aws
from workflows import aws_template as tpl
from workflows.functions import build_lambda_package
from workflows.hotel_clusters import aws as hotel_aws
from workflows.hotel_clusters import workflow as wf


@pytest.fixture(scope="module")
def template() -> dict[str, Any]:
    return hotel_aws.render()


@pytest.fixture(scope="module")
def packaged(tmp_path_factory: pytest.TempPathFactory, template: dict[str, Any]) -> Path:
    path = tmp_path_factory.mktemp("hotel-cfn") / "packaged.yaml"
    path.write_text(
        tpl.dump_template(aws.with_code_location(template, "deploy-bucket", "hotel/lambda.zip")),
        encoding="utf-8",
    )
    return path


def test_committed_template_is_current(template: dict[str, Any]) -> None:
    committed = hotel_aws.TEMPLATE.read_text(encoding="utf-8")
    assert committed == hotel_aws.dump(template), (
        "cfn/hotel-clusters.yaml is stale: run "
        "`python -m workflows build hotel-clusters --target aws` and commit it"
    )


def test_cfn_lint_passes_on_the_packaged_template(packaged: Path) -> None:
    matches = lint_all(packaged.read_text(encoding="utf-8"))
    assert [f"{m.rule.id} {m.message}" for m in matches if m.rule.id[0] in "EW"] == []


def test_checkov_finds_no_unsuppressed_failure(checkov: Path, packaged: Path) -> None:
    result = subprocess.run(
        [
            str(checkov),
            "-f",
            str(packaged),
            "--framework",
            "cloudformation",
            "--skip-download",
            "--output",
            "json",
        ],
        capture_output=True,
        text=True,
        env={"PATH": "/usr/bin:/bin", "HOME": str(packaged.parent), "BC_SKIP_MAPPING": "TRUE"},
        timeout=300,
    )
    report = json.loads(result.stdout)
    assert [(c["check_id"], c["resource"]) for c in report["results"]["failed_checks"]] == []
    assert report["summary"]["passed"] > 40
    for check in report["results"]["skipped_checks"]:
        assert len(check["check_result"].get("suppress_comment", "")) > 20, check["check_id"]


def test_the_state_machines_invoke_the_stack_functions_and_images(template: dict[str, Any]) -> None:
    resources = template["Resources"]
    training = resources["TrainingStateMachine"]["Properties"]
    definition = json.loads(training["DefinitionString"])
    assert (
        definition["States"][wf.BUILD_SET]["Parameters"]["FunctionName"]
        == "${TrainingSetFunctionArn}"
    )
    image = definition["States"][wf.TRAIN]["Parameters"]["AlgorithmSpecification"]["TrainingImage"]
    assert image == "${XGBoostImage}"
    assert set(training["DefinitionSubstitutions"]) == {
        "SageMakerRoleArn",
        "XGBoostImage",
        "TrainingSetFunctionArn",
    }
    mapping = resources["SearchStreamMapping"]["Properties"]
    assert mapping["BisectBatchOnFunctionError"] is True
    assert mapping["DestinationConfig"]["OnFailure"]["Destination"] == {
        "Fn::GetAtt": ["FailedSearchesQueue", "Arn"]
    }


def test_the_stack_deploys_to_moto(moto: Any, template: dict[str, Any], tmp_path: Path) -> None:
    s3, cfn = moto.client("s3"), moto.client("cloudformation")
    s3.create_bucket(Bucket="deploy-bucket")
    s3.put_object(
        Bucket="deploy-bucket",
        Key="hotel/lambda.zip",
        Body=build_lambda_package(tmp_path / "l.zip").read_bytes(),
    )
    body = tpl.dump_template(aws.with_code_location(template, "deploy-bucket", "hotel/lambda.zip"))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # moto: resource types it does not model
        cfn.create_stack(StackName="hotel-test", TemplateBody=body, Capabilities=["CAPABILITY_IAM"])
    stack = cfn.describe_stacks(StackName="hotel-test")["Stacks"][0]
    assert stack["StackStatus"] == "CREATE_COMPLETE", stack.get("StackStatusReason")
    outputs = {o["OutputKey"]: o["OutputValue"] for o in stack.get("Outputs", [])}
    lam = moto.client("lambda")
    config = lam.get_function(FunctionName=outputs["StreamFunctionName"])["Configuration"]
    assert config["Environment"]["Variables"]["DESTINATIONS_FEATURE_GROUP"] == "hotel-destinations"
    [mapping] = lam.list_event_source_mappings(FunctionName=outputs["StreamFunctionName"])[
        "EventSourceMappings"
    ]
    assert mapping["EventSourceArn"].endswith(f":stream/{outputs['SearchStreamName']}")
    key = moto.client("dynamodb").describe_table(TableName=outputs["PredictionsTableName"])[
        "Table"
    ]["KeySchema"]
    assert key == [
        {"AttributeName": "user_id", "KeyType": "HASH"},
        {"AttributeName": "date_time", "KeyType": "RANGE"},
    ]
    machines = {
        m["name"] for m in moto.client("stepfunctions").list_state_machines()["stateMachines"]
    }
    assert machines == {"hotel-clusters-ingestion", "hotel-clusters-training"}
