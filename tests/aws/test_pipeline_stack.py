"""The predictive-maintenance stack's pipeline part: the processing jobs' role, the data-quality
schedule under its condition, the HTTP API as the local one, the web bucket (cfn-lint and checkov run over the whole template in
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


def test_the_monitoring_schedule_is_the_workflows_under_a_condition(
    template: dict[str, Any], settings: Any
) -> None:
    """The stack's schedule checks what the workflow's ScheduleMonitoring state checks."""
    from workflows import predictive_maintenance as pm

    schedule = template["Resources"]["DataQualitySchedule"]
    assert schedule["Type"] == "AWS::SageMaker::MonitoringSchedule"
    assert schedule["Condition"] == pipeline_stack.MONITOR_CONDITION
    config = schedule["Properties"]["MonitoringScheduleConfig"]
    pipeline_settings = settings.replace(**{"featurizer.mode": "pipeline"})
    workflow = pm.definition(pipeline_settings)["States"]["ScheduleMonitoring"]["Parameters"]
    expected = workflow["MonitoringScheduleConfig"]
    assert config["MonitoringType"] == expected["MonitoringType"] == "DataQuality"
    assert config["ScheduleConfig"] == expected["ScheduleConfig"]
    job, local = config["MonitoringJobDefinition"], expected["MonitoringJobDefinition"]
    for key in ("MonitoringResources", "StoppingCondition"):
        assert job[key] == local[key]
    [endpoint] = job["MonitoringInputs"]
    [local_endpoint] = local["MonitoringInputs"]
    assert endpoint["EndpointInput"] == {
        **{k: v for k, v in local_endpoint["EndpointInput"].items() if k != "EndpointName.$"},
        "EndpointName": {"Ref": "EndpointName"},
    }
    [output] = job["MonitoringOutputConfig"]["MonitoringOutputs"]
    reports = f"{settings.monitoring.reports_prefix}reports"
    assert output["S3Output"]["S3Uri"] == {"Fn::Sub": f"s3://${{DataBucket}}/{reports}"}
    assert job["BaselineConfig"] == {
        "ConstraintsResource": {"S3Uri": {"Fn::Sub": "${BaselineUri}constraints.json"}},
        "StatisticsResource": {"S3Uri": {"Fn::Sub": "${BaselineUri}statistics.json"}},
    }
    assert job["RoleArn"] == {"Fn::GetAtt": ["ProcessingJobRole", "Arn"]}
    assert job["MonitoringAppSpecification"]["ImageUri"] == {
        "Fn::FindInMap": ["MonitorImages", {"Ref": "AWS::Region"}, "Uri"]
    }
    for name in ("EndpointName", "BaselineUri"):
        assert template["Parameters"][name]["Default"] == ""
    assert template["Outputs"]["MonitoringScheduleName"]["Condition"] == "MonitorEndpoint"


def test_the_schedule_regions_have_the_resource_type_and_the_analyzer_image() -> None:
    """MONITORING_REGIONS is every region of the SDK's analyzer images where cfn-lint's
    CloudFormation schemas have the schedule type."""
    from cfnlint.schema.manager import PROVIDER_SCHEMA_MANAGER

    from workflows import aws

    kind = "AWS::SageMaker::MonitoringSchedule"
    has_type = {
        r for r in aws.monitor_images() if kind in PROVIDER_SCHEMA_MANAGER.get_resource_types(r)
    }
    assert set(pipeline_stack.MONITORING_REGIONS) == has_type


def test_the_schedule_condition_needs_both_parameters_and_a_schedule_region(
    template: dict[str, Any],
) -> None:
    conditions = template["Conditions"]
    monitor = conditions[pipeline_stack.MONITOR_CONDITION]["Fn::And"]
    assert {"Condition": pipeline_stack.REGION_CONDITION} in monitor
    assert {"Fn::Not": [{"Fn::Equals": [{"Ref": "EndpointName"}, ""]}]} in monitor
    assert {"Fn::Not": [{"Fn::Equals": [{"Ref": "BaselineUri"}, ""]}]} in monitor

    def regions(node: Any) -> list[str]:
        if isinstance(node, dict) and "Fn::Equals" in node:
            return [node["Fn::Equals"][1]]
        [(_, children)] = node.items()
        return [r for child in children for r in regions(child)]

    region_condition = conditions[pipeline_stack.REGION_CONDITION]
    assert sorted(regions(region_condition)) == sorted(pipeline_stack.MONITORING_REGIONS)
    assert set(template["Mappings"]["MonitorImages"]) == set(pipeline_stack.MONITORING_REGIONS)


def test_a_stack_without_the_api_lambda_is_refused(template: dict[str, Any], settings: Any) -> None:
    from workflows import aws

    partial = {**template, "Resources": dict(template["Resources"])}
    del partial["Resources"]["ApiFunction"]
    with pytest.raises(tpl.TemplateError, match="no function with handler module 'api'"):
        pipeline_stack.add_to(partial, settings, aws.monitor_images())
