"""The rendered CloudFormation template: up to date, lint-clean, scanner-clean, least privilege."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml
from cfnlint.api import lint_all

from workflows import aws
from workflows import aws_template as tpl

REPO = Path(__file__).resolve().parents[2]

# The only finding allowed on the *unpackaged* template: Lambda Code is a local path, which
# `aws cloudformation package` (or `python -m workflows deploy`) turns into S3Bucket/S3Key.
PACKAGE_ONLY_RULE = "W3002"


def _lint(path: Path) -> list[str]:
    """cfn-lint's errors and warnings (what its CLI reports by default; I* are informational)."""
    matches = lint_all(path.read_text(encoding="utf-8"))
    return [
        f"{m.rule.id} {m.message} (line {m.linenumber})" for m in matches if m.rule.id[0] in "EW"
    ]


def test_committed_template_is_current(template: dict[str, Any]) -> None:
    """cfn/template.yaml is what `build --target aws` renders now; re-render when this fails."""
    committed = aws.CFN_TEMPLATE.read_text(encoding="utf-8")
    assert committed == tpl.dump_template(template), (
        "cfn/template.yaml is stale: run `python -m workflows build --target aws` and commit it"
    )


def test_cfn_lint_passes_on_the_packaged_template(rendered_dir: Path) -> None:
    assert _lint(rendered_dir / "packaged.yaml") == []


def test_cfn_lint_on_the_source_template_only_asks_for_package(rendered_dir: Path) -> None:
    findings = _lint(rendered_dir / "template.yaml")
    assert findings, "expected W3002 for each local Code path"
    assert all(f.startswith(PACKAGE_ONLY_RULE) for f in findings), findings


def test_template_has_no_cfn_lint_suppressions(template: dict[str, Any]) -> None:
    text = json.dumps(template)
    assert "cfn-lint" not in text and "cfn_lint" not in text


def test_checkov_finds_no_unsuppressed_failure(checkov: Path, rendered_dir: Path) -> None:
    result = subprocess.run(
        [
            str(checkov),
            "-f",
            str(rendered_dir / "packaged.yaml"),
            "--framework",
            "cloudformation",
            "--skip-download",
            "--output",
            "json",
        ],
        capture_output=True,
        text=True,
        env={"PATH": "/usr/bin:/bin", "HOME": str(rendered_dir), "BC_SKIP_MAPPING": "TRUE"},
        timeout=300,
    )
    report = json.loads(result.stdout)
    failed = [(c["check_id"], c["resource"]) for c in report["results"]["failed_checks"]]
    assert failed == []
    assert report["summary"]["passed"] > 30
    # Every skip is in the template's Metadata with a written reason.
    for check in report["results"]["skipped_checks"]:
        assert len(check["check_result"].get("suppress_comment", "")) > 20, check["check_id"]


def test_checkov_skips_all_carry_reasons(template: dict[str, Any]) -> None:
    skips = [
        skip
        for resource in template["Resources"].values()
        for skip in resource.get("Metadata", {}).get("checkov", {}).get("skip", [])
    ]
    assert skips
    for skip in skips:
        assert re.fullmatch(r"CKV_AWS_\d+", skip["id"])
        assert len(skip["comment"]) > 20


# The substitutions each variant's definition needs besides the common ones.
VARIANT_VARIABLES = {
    "pipeline": {"SKLearnImage", "MonitorImage", "DataBucket"},
    "lambda": {"PrepareFunctionArn"},
}


@pytest.mark.parametrize("variant", ["pipeline", "lambda"])
def test_definition_holds_no_account_region_or_stack_value(
    variant: str, request: pytest.FixtureRequest
) -> None:
    template = request.getfixturevalue("template" if variant == "pipeline" else "lambda_template")
    props = template["Resources"]["StateMachine"]["Properties"]
    text = props["DefinitionString"]
    assert not re.search(r"\d{12}", text), "an account id is hard-coded"
    assert not re.search(r"(us|eu|ap|sa|ca|me|af)-[a-z]+-\d", text), "a region is hard-coded"
    assert "arn:aws:iam" not in text and "arn:aws:lambda" not in text
    variables = set(re.findall(r"\$\{(\w+)\}", text))
    assert variables == set(props["DefinitionSubstitutions"])
    assert {
        "SageMakerRoleArn",
        "PredictionsTable",
        "XGBoostImage",
        "TrainingInstanceType",
        "TransformInstanceType",
        "EndpointInstanceType",
        "EvaluateFunctionArn",
        "PredictFunctionArn",
    } | VARIANT_VARIABLES[variant] <= variables
    for variable, value in props["DefinitionSubstitutions"].items():
        if variable.endswith("Image"):  # each image from its own per-region mapping
            assert value == {"Fn::FindInMap": [f"{variable}s", {"Ref": "AWS::Region"}, "Uri"]}
            assert f"{variable}s" in template["Mappings"]


@pytest.mark.parametrize(
    ("mode", "first_state"), [("pipeline", "FeaturizeData"), ("lambda", "PrepareData")]
)
def test_the_stack_holds_the_variant_the_settings_select(
    settings: Any, functions: list[tpl.LambdaSpec], mode: str, first_state: str
) -> None:
    """featurizer.mode picks the stack's state machine, as it picks the local one: the
    rendered definition is the builder's (the same states, each of the same type and
    resource) for the sentinel settings."""
    from workflows import predictive_maintenance as pm

    chosen = settings.replace(**{"featurizer.mode": mode})
    template = aws.render(chosen, functions)
    rendered = json.loads(template["Resources"]["StateMachine"]["Properties"]["DefinitionString"])
    built = pm.definition(aws.sentinel_settings(chosen))
    assert rendered["StartAt"] == built["StartAt"] == first_state

    def shape(definition: dict[str, Any]) -> list[tuple[str, str, str]]:
        states = definition["States"]
        return [(n, s["Type"], s.get("Resource", "")) for n, s in sorted(states.items())]

    assert shape(rendered) == shape(built)
    has_group = "ModelPackageGroup" in template["Resources"]
    assert has_group == (mode == "pipeline")


def test_build_takes_the_featurizer() -> None:
    """`build --target aws --featurizer lambda` (and deploy / execute) override featurizer.mode."""
    import argparse

    parser = argparse.ArgumentParser()
    aws.add_target_arguments(parser)
    args = parser.parse_args(["--featurizer", "lambda"])
    assert aws._load_settings(args).featurizer.mode == "lambda"
    assert aws._load_settings(parser.parse_args([])).featurizer.mode == "pipeline"


def test_every_lambda_of_functions_yaml_is_in_the_stack(
    template: dict[str, Any], functions: list[tpl.LambdaSpec]
) -> None:
    for fn in functions:
        props = template["Resources"][f"{fn.logical_id}Function"]["Properties"]
        assert props["Handler"] == fn.handler
        assert props["Timeout"] == fn.timeout
        assert props["MemorySize"] == fn.memory
        assert props["Runtime"] == fn.runtime
        assert bool(props["Layers"]) == fn.pandas
        for key in fn.environment:
            assert key in props["Environment"]["Variables"]
        if fn.pandas:
            layer = json.dumps(props["Layers"])
            assert "AWSSDKPandas-Python" in layer and tpl.PANDAS_LAYER_ACCOUNT in layer


def _statements(template: dict[str, Any], role: str) -> list[dict[str, Any]]:
    policies = template["Resources"][role]["Properties"]["Policies"]
    return [s for p in policies for s in p["PolicyDocument"]["Statement"]]


def _actions(template: dict[str, Any], role: str) -> set[str]:
    return {a for s in _statements(template, role) for a in s["Action"]}


def test_state_machine_role_has_only_what_the_tasks_need(template: dict[str, Any]) -> None:
    actions = _actions(template, "StateMachineRole")
    assert not any(a.endswith("*") for a in actions)
    assert {"events:PutTargets", "events:PutRule", "events:DescribeRule"} <= actions
    assert {
        "sagemaker:CreateTrainingJob",
        "sagemaker:DescribeTrainingJob",
        "sagemaker:StopTrainingJob",
    } <= actions
    assert "iam:PassRole" in actions and "lambda:InvokeFunction" in actions
    assert {a.split(":")[0] for a in actions} == {
        "events",
        "sagemaker",
        "iam",
        "lambda",
        "logs",
        "xray",
    }
    by_sid = {s["Sid"]: s for s in _statements(template, "StateMachineRole")}
    assert by_sid["PassSageMakerRole"]["Condition"] == {
        "StringEquals": {"iam:PassedToService": "sagemaker.amazonaws.com"}
    }
    rules = json.dumps(by_sid["SyncIntegrationRules"]["Resource"])
    assert "rule/StepFunctionsGetEventsForSageMakerTrainingJobsRule" in rules
    assert "rule/StepFunctionsGetEventsForSageMakerTransformJobsRule" in rules
    for sid in ("TrainingJobs", "TransformJobs", "Models", "EndpointConfigs", "Endpoints"):
        assert "${ProjectName}" in json.dumps(by_sid[sid]["Resource"]), sid


@pytest.mark.parametrize(
    ("role", "expected"),
    [
        ("PrepareRole", {"s3:GetObject", "s3:ListBucket", "s3:PutObject", "s3:DeleteObject"}),
        ("EvaluateRole", {"s3:GetObject", "s3:ListBucket", "s3:PutObject", "s3:DeleteObject"}),
        (
            "PredictRole",
            {
                "s3:GetObject",
                "s3:ListBucket",
                "sagemaker:InvokeEndpoint",
                "dynamodb:PutItem",
                "dynamodb:BatchWriteItem",
            },
        ),
    ],
)
def test_one_least_privilege_role_per_lambda(
    template: dict[str, Any], role: str, expected: set[str]
) -> None:
    logs_and_tracing = {
        "logs:CreateLogStream",
        "logs:PutLogEvents",
        "xray:PutTraceSegments",
        "xray:PutTelemetryRecords",
    }
    assert _actions(template, role) == expected | logs_and_tracing


def test_bucket_table_and_logging_settings(template: dict[str, Any]) -> None:
    res = template["Resources"]
    bucket = res["DataBucket"]["Properties"]
    assert bucket["VersioningConfiguration"] == {"Status": "Enabled"}
    assert all(bucket["PublicAccessBlockConfiguration"].values())
    assert bucket["BucketEncryption"]["ServerSideEncryptionConfiguration"]
    policy = res["DataBucketPolicy"]["Properties"]["PolicyDocument"]["Statement"][0]
    assert policy["Effect"] == "Deny" and policy["Condition"] == {
        "Bool": {"aws:SecureTransport": "false"}
    }
    table = res["PredictionsTable"]["Properties"]
    assert table["BillingMode"] == "PAY_PER_REQUEST"
    assert table["PointInTimeRecoverySpecification"] == {"PointInTimeRecoveryEnabled": True}
    assert table["SSESpecification"] == {"SSEEnabled": True}
    logging_config = res["StateMachine"]["Properties"]["LoggingConfiguration"]
    assert logging_config["Level"] == "ALL"
    assert res["StateMachineLogGroup"]["Properties"]["RetentionInDays"] == {
        "Ref": "LogRetentionInDays"
    }


def test_outputs_name_everything_a_user_needs(template: dict[str, Any]) -> None:
    assert {
        "StateMachineArn",
        "DataBucketName",
        "PredictionsTableName",
        "SageMakerExecutionRoleArn",
        "StateMachineRoleArn",
        "NamePrefix",
        "EvaluateFunctionName",
        "PredictFunctionName",
        "StateMachineLogGroupName",
    } <= set(template["Outputs"])


def test_parameters_default_to_the_shipped_settings(
    template: dict[str, Any], settings: Any
) -> None:
    params = template["Parameters"]
    assert params["ProjectName"]["Default"] == settings.name
    assert params["TrainingInstanceType"]["Default"] == settings.training.instance_type
    assert params["TransformInstanceType"]["Default"] == settings.transform.instance_type
    assert params["EndpointInstanceType"]["Default"] == settings.endpoint.instance_type
    assert float(params["MetricThreshold"]["Default"]) == settings.evaluation.threshold


def test_unknown_lambda_in_the_definition_is_refused(functions: list[tpl.LambdaSpec]) -> None:
    definition = {
        "StartAt": "A",
        "States": {
            "A": {
                "Type": "Task",
                "Resource": tpl.LAMBDA_INVOKE,
                "Parameters": {"FunctionName": "somebody-elses-function"},
                "End": True,
            }
        },
    }
    with pytest.raises(
        tpl.TemplateError, match=r"States\.A\.Parameters\.FunctionName: 'somebody-elses-function'"
    ):
        tpl.parameterize_definition(definition, functions)


def test_unknown_permission_is_refused(functions: list[tpl.LambdaSpec]) -> None:
    from dataclasses import replace

    bad = [replace(functions[0], permissions=("s3_everything",))]
    with pytest.raises(tpl.TemplateError, match=r"permissions: \['s3_everything'\]"):
        tpl.render_template(
            {"StartAt": "A", "States": {"A": {"Type": "Succeed"}}}, bad, project_name="p"
        )


def test_template_is_plain_yaml_without_aliases() -> None:
    text = aws.CFN_TEMPLATE.read_text(encoding="utf-8")
    assert "&id" not in text and "*id" not in text
    assert yaml.safe_load(text)["AWSTemplateFormatVersion"] == "2010-09-09"
