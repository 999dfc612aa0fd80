"""The predictive-maintenance stack's pipeline part: the processing jobs' role, the data-quality
schedule under its condition, the HTTP API as the local one, the web bucket (cfn-lint and checkov run over the whole template in
test_aws_template.py; moto's deploy in test_aws_deploy.py)."""

from __future__ import annotations

import json
import re
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
    # the baseline job of the pipeline definition runs in every region of the analyzer image
    from workflows import aws

    assert set(template["Mappings"]["MonitorImages"]) == set(aws.monitor_images())
    assert set(pipeline_stack.MONITORING_REGIONS) <= set(template["Mappings"]["MonitorImages"])


def test_the_pipeline_regions_have_its_images_and_the_model_package_group(settings: Any) -> None:
    """PIPELINE_REGIONS is every region where the SDK has the definition's three images and
    cfn-lint's CloudFormation schemas have the model package group type."""
    from cfnlint.schema.manager import PROVIDER_SCHEMA_MANAGER

    from workflows import aws

    regions = (
        set(aws.xgboost_images(settings.training.xgboost_version))
        & set(aws.sklearn_images(settings.featurizer.sklearn_version))
        & set(aws.monitor_images())
    )
    kind = "AWS::SageMaker::ModelPackageGroup"
    has_type = {r for r in regions if kind in PROVIDER_SCHEMA_MANAGER.get_resource_types(r)}
    assert set(pipeline_stack.PIPELINE_REGIONS) == has_type


def test_the_model_package_group_is_the_registry_settings_and_other_regions_are_refused(
    template: dict[str, Any], settings: Any
) -> None:
    group = template["Resources"]["ModelPackageGroup"]
    assert group["Type"] == "AWS::SageMaker::ModelPackageGroup"
    assert group["Properties"]["ModelPackageGroupName"] == settings.registry.group
    assert group["Condition"] == pipeline_stack.PIPELINE_CONDITION
    assert group["DeletionPolicy"] == group["UpdateReplacePolicy"] == "Retain"
    [assertion] = template["Rules"][pipeline_stack.PIPELINE_CONDITION]["Assertions"]
    assert assertion["Assert"] == {
        "Fn::Contains": [sorted(pipeline_stack.PIPELINE_REGIONS), {"Ref": "AWS::Region"}]
    }
    assert "--featurizer lambda" in assertion["AssertDescription"]


# IAM action of each Task resource of the pipeline definition that the Lambda one lacks.
PIPELINE_TASK_ACTIONS = {
    "arn:aws:states:::sagemaker:createProcessingJob.sync": {
        "sagemaker:CreateProcessingJob",
        "sagemaker:DescribeProcessingJob",
        "sagemaker:StopProcessingJob",
    },
    "arn:aws:states:::aws-sdk:sagemaker:createModelPackage": {"sagemaker:CreateModelPackage"},
    "arn:aws:states:::aws-sdk:sagemaker:listModelPackages": {"sagemaker:ListModelPackages"},
    "arn:aws:states:::aws-sdk:sagemaker:createMonitoringSchedule": {
        "sagemaker:CreateMonitoringSchedule"
    },
    "arn:aws:states:::aws-sdk:sagemaker:updateMonitoringSchedule": {
        "sagemaker:UpdateMonitoringSchedule"
    },
}


def test_the_state_machine_may_do_what_the_pipeline_definition_calls(
    template: dict[str, Any],
    lambda_template: dict[str, Any],
    definition: dict[str, Any],
    settings: Any,
) -> None:
    resources = {state["Resource"] for _, state in tpl.task_states(definition)}
    assert set(PIPELINE_TASK_ACTIONS) <= resources
    by_sid = {s["Sid"]: s for s in _statements(template, "StateMachineRole")}
    actions = {a for s in by_sid.values() for a in s["Action"]}
    for resource in PIPELINE_TASK_ACTIONS:
        assert PIPELINE_TASK_ACTIONS[resource] <= actions, resource
    rules = json.dumps(by_sid["SyncIntegrationRules"]["Resource"])
    assert "rule/StepFunctionsGetEventsForSageMakerProcessingJobsRule" in rules
    for sid in ("ProcessingJobs", "MonitoringSchedules"):
        assert "${ProjectName}" in json.dumps(by_sid[sid]["Resource"]), sid
    group = settings.registry.group
    assert by_sid["ModelRegistry"]["Resource"] == [
        {
            "Fn::Sub": f"arn:${{AWS::Partition}}:sagemaker:${{AWS::Region}}:${{AWS::AccountId}}:model-package-group/{group}"
        },
        {
            "Fn::Sub": f"arn:${{AWS::Partition}}:sagemaker:${{AWS::Region}}:${{AWS::AccountId}}:model-package/{group}/*"
        },
    ]
    assert by_sid["ListModelPackages"]["Resource"] == ["*"]  # no resource type in IAM
    # every role the definition passes is the SageMaker role, which the role may pass
    assert set(re.findall(r'"(?:Execution)?RoleArn": "([^"]+)"', json.dumps(definition))) == {
        "${SageMakerRoleArn}"
    }
    assert by_sid["PassSageMakerRole"]["Resource"] == [
        {"Fn::GetAtt": ["SageMakerExecutionRole", "Arn"]}
    ]
    lambda_sids = {s["Sid"] for s in _statements(lambda_template, "StateMachineRole")}
    assert not lambda_sids & {"ProcessingJobs", "ModelRegistry", "MonitoringSchedules"}


def test_the_sagemaker_role_pulls_the_pipeline_images(
    template: dict[str, Any], lambda_template: dict[str, Any]
) -> None:
    def pulled(t: dict[str, Any]) -> str:
        by_sid = {s["Sid"]: s for s in _statements(t, "SageMakerExecutionRole")}
        return json.dumps(by_sid["PullBuiltInAlgorithmImages"]["Resource"])

    for repository in ("sagemaker-xgboost", *pipeline_stack.PROCESSING_REPOSITORIES):
        assert f"repository/{repository}" in pulled(template)
    assert "sagemaker-scikit-learn" not in pulled(lambda_template)


def test_a_stack_without_the_api_lambda_is_refused(template: dict[str, Any], settings: Any) -> None:
    from workflows import aws

    partial = {**template, "Resources": dict(template["Resources"])}
    del partial["Resources"]["ApiFunction"]
    with pytest.raises(tpl.TemplateError, match="no function with handler module 'api'"):
        pipeline_stack.add_to(partial, settings, aws.monitor_images())
