"""The many-models CloudFormation stack: current, cfn-lint and checkov clean, deployed to moto.

moto's CloudFormation does not apply bucket policies or notifications, ignores a state
machine's DefinitionSubstitutions, logging and tracing; those parts are checked on the
template itself.
"""

from __future__ import annotations

import json
import subprocess
import warnings
from pathlib import Path
from typing import Any

import pytest
import yaml
from cfnlint.api import lint_all

from workflows import aws
from workflows import many_models as mm
from workflows import many_models_aws as mma
from workflows.aws_template import dump_template
from workflows.local import lambda_zip
from workflows.many_models_settings import ManyModels, load

CODE_BUCKET, CODE_KEY = "mm-deploy", "stack/lambda-0123.zip"


@pytest.fixture(scope="module")
def mm_settings() -> ManyModels:
    with pytest.MonkeyPatch.context() as mp:
        mp.delenv("WORKFLOWS_CONFIG", raising=False)
        return load()


@pytest.fixture(scope="module")
def stack(mm_settings: ManyModels) -> dict[str, Any]:
    return mma.render(mm_settings)


@pytest.fixture(scope="module")
def packaged(stack: dict[str, Any], tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("mm-cfn") / "packaged.yaml"
    path.write_text(dump_template(aws.with_code_location(stack, CODE_BUCKET, CODE_KEY)))
    return path


def test_committed_stack_is_current(stack: dict[str, Any]) -> None:
    assert mma.TEMPLATE.read_text(encoding="utf-8") == mma.dump(stack), (
        "cfn/many-models.yaml is stale: run `python -m workflows build many-models --target aws`"
    )


def test_cfn_lint_passes(packaged: Path) -> None:
    matches = lint_all(packaged.read_text(encoding="utf-8"))
    assert [f"{m.rule.id} {m.message}" for m in matches if m.rule.id[0] in "EW"] == []


def test_checkov_finds_no_unsuppressed_failure(checkov: Path, packaged: Path) -> None:
    result = subprocess.run(
        [str(checkov), "-f", str(packaged), "--framework", "cloudformation", "--skip-download",
         "--output", "json"],
        capture_output=True,
        text=True,
        env={"PATH": "/usr/bin:/bin", "HOME": str(packaged.parent), "BC_SKIP_MAPPING": "TRUE"},
        timeout=600,
    )  # fmt: skip
    report = json.loads(result.stdout)
    assert [c["check_id"] for c in report["results"]["failed_checks"]] == []
    assert report["summary"]["passed"] > 50
    for check in report["results"]["skipped_checks"]:
        assert len(check["check_result"].get("suppress_comment", "")) > 20, check["check_id"]


def test_definitions_are_the_builders_with_substitutions(
    stack: dict[str, Any], mm_settings: ManyModels
) -> None:
    resources = stack["Resources"]
    training = resources["TrainingStateMachine"]["Properties"]
    body = json.loads(training["DefinitionString"])
    assert body["StartAt"] == mm.INPUT and mm.REGISTER in body["States"]
    assert mma.BUCKET_TOKEN in training["DefinitionString"]
    assert mma.ROLE_TOKEN in training["DefinitionString"]
    assert set(training["DefinitionSubstitutions"]) == {"DataBucket", "SageMakerRoleArn"}
    fanout = json.loads(resources["FanoutStateMachine"]["Properties"]["DefinitionString"])
    state = fanout["States"][mm.FANOUT]
    assert state["MaxConcurrency"] == mm_settings.fanout.max_concurrency
    assert state["ItemProcessor"]["ProcessorConfig"]["Mode"] == "DISTRIBUTED"
    rule = resources["RetrainRule"]["Properties"]
    assert rule["EventPattern"]["detail"]["object"]["key"] == [
        {"prefix": mm_settings.data.training_prefix}
    ]
    # The split Lambda may write only objects, the score Lambda invoke only this project's endpoints.
    split = resources["SplitFunctionRole"]["Properties"]["Policies"][0]["PolicyDocument"]
    actions = {a for st in split["Statement"] for a in st["Action"]}
    assert "sagemaker:InvokeEndpoint" not in actions and "sqs:SendMessage" in actions


def test_stack_deploys_to_moto(moto: Any, packaged: Path, mm_settings: ManyModels) -> None:
    s3 = moto.client("s3")
    s3.create_bucket(Bucket=CODE_BUCKET)
    s3.put_object(Bucket=CODE_BUCKET, Key=CODE_KEY, Body=lambda_zip())
    cfn = moto.client("cloudformation")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # moto: resource types it does not implement
        cfn.create_stack(
            StackName="mm-test",
            TemplateBody=packaged.read_text(encoding="utf-8"),
            Capabilities=["CAPABILITY_IAM"],
        )
    described = cfn.describe_stacks(StackName="mm-test")["Stacks"][0]
    assert described["StackStatus"] == "CREATE_COMPLETE", described.get("StackStatusReason")
    outputs = {o["OutputKey"]: o["OutputValue"] for o in described["Outputs"]}
    sqs = moto.client("sqs")
    redrive = json.loads(
        sqs.get_queue_attributes(QueueUrl=outputs["InferenceQueueUrl"], AttributeNames=["All"])[
            "Attributes"
        ]["RedrivePolicy"]
    )
    assert int(redrive["maxReceiveCount"]) == mm_settings.inference.max_receive_count
    table = moto.client("dynamodb").describe_table(TableName=outputs["PredictionsTableName"])
    assert table["Table"]["KeySchema"] == [{"AttributeName": "id", "KeyType": "HASH"}]
    lam = moto.client("lambda")
    mappings = lam.list_event_source_mappings(FunctionName=f"{mm_settings.name}-churn-score")
    [mapping] = mappings["EventSourceMappings"]
    assert mapping["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    sfn = moto.client("stepfunctions")
    names = {m["name"] for m in sfn.list_state_machines()["stateMachines"]}
    assert names == {mm_settings.training_machine, mm_settings.fanout_machine}
    rule = moto.client("events").describe_rule(Name=mm_settings.retrain_rule)
    assert rule["State"] == "ENABLED"
    [target] = moto.client("events").list_targets_by_rule(Rule=mm_settings.retrain_rule)["Targets"]
    assert target["Arn"] == outputs["TrainingStateMachineArn"]


def test_template_is_valid_yaml_with_every_output(stack: dict[str, Any]) -> None:
    loaded = yaml.safe_load(mma.dump(stack).replace("!", ""))
    assert set(loaded["Outputs"]) >= {
        "DataBucketName",
        "InferenceQueueUrl",
        "FanoutStateMachineArn",
    }
