"""The predictive-maintenance stack's pipeline part: the processing jobs' role, the HTTP API as
the local one, the web bucket (cfn-lint and checkov run over the whole template in
test_aws_template.py; moto's deploy in test_aws_deploy.py)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from workflows import aws_template as tpl
from workflows import aws_template_pipeline as pipeline_stack
from workflows import http_api


def _statements(template: dict[str, Any], role: str) -> list[dict[str, Any]]:
    policies = template["Resources"][role]["Properties"]["Policies"]
    return [s for p in policies for s in p["PolicyDocument"]["Statement"]]


def test_the_processing_role_reads_the_bucket_writes_two_prefixes_and_pulls_two_images(
    template: dict[str, Any], settings: Any
) -> None:
    role = template["Resources"]["ProcessingJobRole"]
    trust = role["Properties"]["AssumeRolePolicyDocument"]["Statement"][0]
    assert trust["Principal"] == {"Service": "sagemaker.amazonaws.com"}
    by_sid = {s["Sid"]: s for s in _statements(template, "ProcessingJobRole")}
    assert by_sid["ReadData"]["Action"] == ["s3:GetObject"]
    writes = by_sid["WriteFeaturesAndReports"]
    assert writes["Action"] == ["s3:PutObject"]
    assert writes["Resource"] == [
        {"Fn::Sub": f"${{DataBucket.Arn}}/{settings.data.prepared_prefix}*"},
        {"Fn::Sub": f"${{DataBucket.Arn}}/{settings.monitoring.reports_prefix}*"},
    ]
    shared = tpl.sagemaker_job_statements(
        "PullProcessingImages",
        [
            {"Fn::Sub": f"arn:${{AWS::Partition}}:ecr:${{AWS::Region}}:*:repository/{r}"}
            for r in ("sagemaker-scikit-learn", "sagemaker-model-monitor-analyzer")
        ],
    )
    assert [by_sid[s["Sid"]] for s in shared] == shared
    assert set(by_sid) == {"ListDataBucket", "ReadData", "WriteFeaturesAndReports"} | {
        s["Sid"] for s in shared
    }
    skips = role["Metadata"]["checkov"]["skip"]
    assert [(s["id"], s["comment"]) for s in skips] == [tpl.SAGEMAKER_JOB_SKIP]


def test_the_http_api_is_the_local_one(template: dict[str, Any]) -> None:
    res = template["Resources"]
    api = res["HttpApi"]["Properties"]
    assert api["ProtocolType"] == "HTTP"
    assert api["CorsConfiguration"] == http_api.CORS
    integration = res["HttpApiIntegration"]["Properties"]
    assert integration["IntegrationType"] == "AWS_PROXY"
    assert integration["PayloadFormatVersion"] == "2.0"
    assert integration["IntegrationUri"] == {"Fn::GetAtt": ["ApiFunction", "Arn"]}
    route = res["HttpApiRoute"]["Properties"]
    assert route["RouteKey"] == "ANY /predict"
    assert route["Target"] == {"Fn::Sub": "integrations/${HttpApiIntegration}"}
    stage = res["HttpApiStage"]["Properties"]
    assert stage["StageName"] == "$default" and stage["AutoDeploy"] is True
    assert stage["AccessLogSettings"]["DestinationArn"] == {
        "Fn::GetAtt": ["HttpApiAccessLogGroup", "Arn"]
    }
    json.loads(stage["AccessLogSettings"]["Format"].replace("$context.", "context."))
    permission = res["HttpApiInvokePermission"]["Properties"]
    assert permission["Principal"] == "apigateway.amazonaws.com"
    assert permission["FunctionName"] == {"Ref": "ApiFunction"}
    assert permission["SourceArn"]["Fn::Sub"].endswith(":${HttpApi}/*/*/predict")
    assert "/predict" in template["Outputs"]["HttpApiUrl"]["Value"]["Fn::Sub"]


def test_the_web_bucket_is_private_encrypted_versioned_and_tls_only(
    template: dict[str, Any],
) -> None:
    res = template["Resources"]
    bucket = res["WebBucket"]["Properties"]
    assert all(bucket["PublicAccessBlockConfiguration"].values())
    assert bucket["BucketEncryption"]["ServerSideEncryptionConfiguration"]
    assert bucket["VersioningConfiguration"] == {"Status": "Enabled"}
    assert bucket["OwnershipControls"] == {"Rules": [{"ObjectOwnership": "BucketOwnerEnforced"}]}
    [deny] = res["WebBucketPolicy"]["Properties"]["PolicyDocument"]["Statement"]
    assert deny["Effect"] == "Deny"
    assert deny["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
    assert template["Outputs"]["WebBucketName"]["Value"] == {"Ref": "WebBucket"}


def test_the_monitoring_schedule_is_the_workflows_not_the_stacks(
    template: dict[str, Any],
) -> None:
    types = {r["Type"] for r in template["Resources"].values()}
    assert (
        not {"AWS::SageMaker::MonitoringSchedule", "AWS::SageMaker::DataQualityJobDefinition"}
        & types
    )


def test_a_stack_without_the_api_lambda_is_refused(template: dict[str, Any], settings: Any) -> None:
    partial = {**template, "Resources": dict(template["Resources"])}
    del partial["Resources"]["ApiFunction"]
    with pytest.raises(tpl.TemplateError, match="no function with handler module 'api'"):
        pipeline_stack.add_to(partial, settings)
