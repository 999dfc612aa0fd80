"""The predictive-maintenance stack's resources for the inference-pipeline variant and the
plant floor: the processing jobs' role, the HTTP API and the technicians' page's bucket.
:func:`workflows.aws.render` adds them to what :mod:`workflows.aws_template` renders.

* ``ProcessingJobRole``: assumed by the featurizer processing job (scikit-learn image) and
  Model Monitor's baseline and monitoring jobs (analyzer image): it reads the bucket's
  objects and writes under the prepared-data and monitoring prefixes only.
* ``DataQualitySchedule`` (``AWS::SageMaker::MonitoringSchedule``, hourly data quality on
  the endpoint's captured requests against a baseline's ``constraints.json`` and
  ``statistics.json``), only under the ``MonitorEndpoint`` condition: SageMaker refuses a
  schedule for an endpoint that does not exist, so the first deploy (``EndpointName`` and
  ``BaselineUri`` empty, their defaults) skips it; once a run has made the endpoint and its
  baseline, deploying again with ``--parameter EndpointName=... --parameter
  BaselineUri=s3://.../`` creates it (an update that empties them deletes it).  The
  condition also holds only in :data:`MONITORING_REGIONS`, where CloudFormation has the
  resource type and the SageMaker SDK knows the analyzer image (the ``MonitorImages``
  mapping); cfn-lint checks every region of the template and follows the condition.
* For the pipeline variant's definition, :func:`add_definition_grants`: the state machine
  role's statements for its processing jobs, model registry and monitoring schedule, the
  SageMaker role's pull of the scikit-learn and analyzer images, and the
  ``ModelPackageGroup`` (``registry.group``) its RegisterModel state adds versions to, under
  the ``PipelineRegion`` condition with a ``Rules`` assertion refusing other regions.
* ``HttpApi`` (+ integration, ``ANY /predict`` route, ``$default`` stage with access logs,
  Lambda permission): the same shape and CORS as :mod:`workflows.http_api` creates locally.
* ``WebBucket``: the technicians' page (``web/predictive-maintenance/`` with its
  ``config.js``, uploaded by :func:`workflows.aws.publish_web_page` after each deploy), private, for a CloudFront distribution with origin access control or
  presigned links.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping, Sequence
from typing import Any

from workflows import http_api
from workflows.aws_template import (
    SAGEMAKER_JOB_SKIP,
    TemplateError,
    _checkov_skip,
    _role,
    _statement,
    get_att,
    private_bucket_properties,
    ref,
    role_statements,
    sagemaker_job_statements,
    sub,
)

# The images the processing jobs pull: the featurizer's and Model Monitor's analyzer.
PROCESSING_REPOSITORIES = ("sagemaker-scikit-learn", "sagemaker-model-monitor-analyzer")
LOG_ENCRYPTION_SKIP = (
    "CKV_AWS_158",
    "Encrypted with CloudWatch Logs' service key; no CMK to manage.",
)


# The monitoring schedule's parameters and the condition that creates it.
ENDPOINT_PARAMETER = "EndpointName"
BASELINE_PARAMETER = "BaselineUri"
MONITOR_CONDITION = "MonitorEndpoint"
SCHEDULE_SUFFIX = "-data-quality"  # the schedule is named <ProjectName>-data-quality
REGION_CONDITION = "MonitoringScheduleRegion"
# Where CloudFormation has AWS::SageMaker::MonitoringSchedule (cfn-lint's provider schemas)
# and the SageMaker SDK has the analyzer image; a test checks both sources still agree.
MONITORING_REGIONS = (
    "ap-east-1", "ap-northeast-1", "ap-northeast-2", "ap-northeast-3", "ap-south-1",
    "ap-southeast-1", "ap-southeast-2", "ca-central-1", "cn-north-1", "cn-northwest-1",
    "eu-central-1", "eu-north-1", "eu-west-1", "eu-west-2", "eu-west-3", "me-south-1",
    "sa-east-1", "us-east-1", "us-east-2", "us-isof-east-1", "us-isof-south-1", "us-west-1",
    "us-west-2",
)  # fmt: skip
# Where the pipeline variant's definition runs: the SDK has its XGBoost, scikit-learn and
# analyzer images and CloudFormation has AWS::SageMaker::ModelPackageGroup (a test checks it).
PIPELINE_REGIONS = (
    "af-south-1", "ap-east-1", "ap-northeast-1", "ap-northeast-2", "ap-northeast-3",
    "ap-south-1", "ap-southeast-1", "ap-southeast-2", "ap-southeast-3", "ca-central-1",
    "eu-central-1", "eu-central-2", "eu-north-1", "eu-south-1", "eu-south-2", "eu-west-1",
    "eu-west-2", "eu-west-3", "il-central-1", "me-central-1", "me-south-1", "sa-east-1",
    "us-east-1", "us-east-2", "us-isof-east-1", "us-isof-south-1", "us-west-1", "us-west-2",
)  # fmt: skip
PIPELINE_CONDITION = "PipelineRegion"


def add_to(template: dict[str, Any], settings: Any, monitor_images: Mapping[str, str]) -> None:
    """Add this module's parameters, condition, mapping, resources and outputs to the
    rendered stack; ``monitor_images`` maps each region to Model Monitor's analyzer image."""
    if "ApiFunction" not in template["Resources"]:
        raise TemplateError(
            "lambdas/functions.yaml: no function with handler module 'api'; the HTTP API "
            "integrates it"
        )
    missing = sorted(set(MONITORING_REGIONS) - set(monitor_images))
    if missing:
        raise TemplateError(
            f"monitor_images: no analyzer image for {', '.join(missing)}; drop those regions "
            "from MONITORING_REGIONS"
        )
    template["Parameters"].update(parameters())
    # Every region the SDK has the analyzer in: the pipeline definition's baseline job runs
    # wherever the stack does; the schedule only where its condition holds.
    template.setdefault("Mappings", {})["MonitorImages"] = {
        region: {"Uri": uri} for region, uri in sorted(monitor_images.items())
    }
    template.setdefault("Conditions", {}).update(conditions())
    template["Resources"].update(resources(settings))
    template["Outputs"].update(outputs())


def add_definition_grants(template: dict[str, Any], settings: Any) -> None:
    """What the pipeline variant's definition needs beyond the Lambda variant's: the state
    machine's grants for its processing jobs, model registry and monitoring schedule; the
    SageMaker role's pull of the scikit-learn and analyzer images its jobs run; the model
    package group it registers into."""
    resources = template["Resources"]
    # The group's type is missing in some regions (cfn-lint checks every region): it is made
    # only in PIPELINE_REGIONS, and the rule refuses a deploy anywhere else, where the run
    # could not register its model (nor find its images).
    template["Conditions"][PIPELINE_CONDITION] = region_condition(PIPELINE_REGIONS)
    template.setdefault("Rules", {})[PIPELINE_CONDITION] = {
        "Assertions": [
            {
                "Assert": {"Fn::Contains": [sorted(PIPELINE_REGIONS), ref("AWS::Region")]},
                "AssertDescription": "The inference-pipeline variant runs where SageMaker has "
                "its XGBoost, scikit-learn and Model Monitor images and CloudFormation its model "
                "package group; deploy with --featurizer lambda elsewhere.",
            }
        ]
    }
    resources.update(_model_package_group(settings))
    role_statements(resources, "StateMachineRole").extend(state_machine_statements(settings))
    pull = next(
        s
        for s in role_statements(resources, "SageMakerExecutionRole")
        if s["Sid"] == "PullBuiltInAlgorithmImages"
    )
    pull["Resource"].extend(_repositories())


def _repositories() -> list[dict[str, str]]:
    return [
        sub(f"arn:${{AWS::Partition}}:ecr:${{AWS::Region}}:*:repository/{repository}")
        for repository in PROCESSING_REPOSITORIES
    ]


def _sagemaker_arn(kind: str, name: str = "${ProjectName}*") -> dict[str, str]:
    return sub(
        f"arn:${{AWS::Partition}}:sagemaker:${{AWS::Region}}:${{AWS::AccountId}}:{kind}/{name}"
    )


def state_machine_statements(settings: Any) -> list[dict[str, Any]]:
    """The state machine role's statements for the pipeline definition's own Task resources
    (processing jobs .sync, createModelPackage, listModelPackages, createMonitoringSchedule,
    updateMonitoringSchedule; createModel's containers and createEndpointConfig's
    DataCaptureConfig need no more than the Lambda variant's grants)."""
    group = settings.registry.group
    return [
        _statement(
            "ProcessingJobs",
            [
                "sagemaker:CreateProcessingJob",
                "sagemaker:DescribeProcessingJob",
                "sagemaker:StopProcessingJob",
                "sagemaker:AddTags",
            ],
            [_sagemaker_arn("processing-job")],
        ),
        _statement(
            "ModelRegistry",
            [
                "sagemaker:CreateModelPackage",
                "sagemaker:DescribeModelPackage",
                "sagemaker:AddTags",
            ],
            [
                _sagemaker_arn("model-package-group", group),
                _sagemaker_arn("model-package", f"{group}/*"),
            ],
        ),
        # ListModelPackages has no resource type in IAM (it filters by group in the request).
        _statement("ListModelPackages", ["sagemaker:ListModelPackages"], ["*"]),
        _statement(
            "MonitoringSchedules",
            [
                "sagemaker:CreateMonitoringSchedule",
                "sagemaker:DescribeMonitoringSchedule",
                "sagemaker:UpdateMonitoringSchedule",
                "sagemaker:AddTags",
            ],
            [_sagemaker_arn("monitoring-schedule")],
        ),
    ]


def _model_package_group(settings: Any) -> dict[str, Any]:
    """The group RegisterModel adds versions to (locally ``prepare_pipeline`` creates it)."""
    return {
        "ModelPackageGroup": {
            "Type": "AWS::SageMaker::ModelPackageGroup",
            "Condition": PIPELINE_CONDITION,
            # Its versions are the registry's history (and a group holding versions cannot be
            # deleted): kept on stack deletion, as the data bucket is.
            "DeletionPolicy": "Retain",
            "UpdateReplacePolicy": "Retain",
            "Properties": {
                "ModelPackageGroupName": settings.registry.group,
                "ModelPackageGroupDescription": "Predictive maintenance: featurizer + XGBoost "
                "pipelines, one version per run that passes the metric gate",
            },
        }
    }


def conditions() -> dict[str, Any]:
    """MonitorEndpoint: both parameters set, in a region that has the schedule type."""
    return {
        REGION_CONDITION: region_condition(MONITORING_REGIONS),
        MONITOR_CONDITION: {
            "Fn::And": [
                {"Condition": REGION_CONDITION},
                {"Fn::Not": [{"Fn::Equals": [ref(ENDPOINT_PARAMETER), ""]}]},
                {"Fn::Not": [{"Fn::Equals": [ref(BASELINE_PARAMETER), ""]}]},
            ]
        },
    }


def region_condition(names: Sequence[str]) -> dict[str, Any]:
    """A condition that holds in the regions ``names``."""
    regions = [{"Fn::Equals": [ref("AWS::Region"), r]} for r in sorted(names)]
    # Fn::Or takes 2 to 10 conditions: an Or of Ors of at most 10.
    groups = [regions[i : i + 10] for i in range(0, len(regions), 10)]
    return {
        "Fn::Or": [g[0] if len(g) == 1 else {"Fn::Or": g} for g in groups]
        if len(groups) > 1
        else groups[0]
    }


def parameters() -> dict[str, Any]:
    return {
        ENDPOINT_PARAMETER: {
            "Type": "String",
            "Default": "",
            "AllowedPattern": "^$|^[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}$",
            "Description": "The endpoint the data-quality schedule monitors. Empty (the first "
            "deploy, before a run has made the endpoint): no schedule.",
        },
        BASELINE_PARAMETER: {
            "Type": "String",
            "Default": "",
            "AllowedPattern": "^$|^s3://[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]/.*/$",
            "Description": "The baseline job's output prefix (s3://.../, holding constraints.json "
            "and statistics.json) the schedule checks against. Empty: no schedule.",
        },
    }


def resources(settings: Any) -> dict[str, Any]:
    found: dict[str, Any] = {}
    found.update(_processing_role(settings))
    found.update(_monitoring_schedule(settings))
    found.update(_http_api())
    found.update(_web_bucket())
    return found


def outputs() -> dict[str, Any]:
    return {
        "ProcessingJobRoleArn": {
            "Description": "Role of the featurizer processing job and the monitoring jobs.",
            "Value": get_att("ProcessingJobRole", "Arn"),
        },
        "MonitoringScheduleName": {
            "Condition": MONITOR_CONDITION,
            "Description": "The hourly data-quality schedule on EndpointName.",
            "Value": sub("${ProjectName}" + SCHEDULE_SUFFIX),  # the schedule's name
        },
        "HttpApiUrl": {
            "Description": "POST a raw reading (text/plain) here; the page's config.js names it.",
            "Value": sub(
                "https://${HttpApi}.execute-api.${AWS::Region}.${AWS::URLSuffix}"
                + http_api.ROUTE_PATH
            ),
        },
        "WebBucketName": {
            "Description": "The technicians' page under predictive-maintenance/, with a "
            "config.js naming HttpApiUrl (`python -m workflows deploy` uploads both).",
            "Value": ref("WebBucket"),
        },
    }


def _prefix_objects(*prefixes: str) -> list[dict[str, str]]:
    return [sub(f"${{DataBucket.Arn}}/{prefix}*") for prefix in prefixes]


def _processing_role(settings: Any) -> dict[str, Any]:
    data = settings.data
    statements = [
        _statement(
            "ListDataBucket",
            ["s3:ListBucket", "s3:GetBucketLocation"],
            [get_att("DataBucket", "Arn")],
        ),
        _statement("ReadData", ["s3:GetObject"], [sub("${DataBucket.Arn}/*")]),
        _statement(
            "WriteFeaturesAndReports",
            ["s3:PutObject"],
            _prefix_objects(data.prepared_prefix, settings.monitoring.reports_prefix),
        ),
        *sagemaker_job_statements("PullProcessingImages", _repositories()),
    ]
    return {
        "ProcessingJobRole": _role(
            "Assumed by the featurizer processing job and Model Monitor's baseline and "
            "monitoring jobs.",
            "sagemaker.amazonaws.com",
            "processing-jobs",
            statements,
            skip=[SAGEMAKER_JOB_SKIP],
        )
    }


def _monitoring_schedule(settings: Any) -> dict[str, Any]:
    """The schedule :mod:`workflows.predictive_maintenance_pipeline`'s ScheduleMonitoring
    state creates locally, as a stack resource (same inputs, outputs and cluster)."""
    from workflows.predictive_maintenance_pipeline import ENDPOINT_CAPTURE_PATH, PROCESSING

    monitoring = settings.monitoring
    job = {
        "BaselineConfig": {
            "ConstraintsResource": {"S3Uri": sub(f"${{{BASELINE_PARAMETER}}}constraints.json")},
            "StatisticsResource": {"S3Uri": sub(f"${{{BASELINE_PARAMETER}}}statistics.json")},
        },
        "MonitoringAppSpecification": {
            "ImageUri": {"Fn::FindInMap": ["MonitorImages", ref("AWS::Region"), "Uri"]}
        },
        "MonitoringInputs": [
            {
                "EndpointInput": {
                    "EndpointName": ref(ENDPOINT_PARAMETER),
                    "LocalPath": ENDPOINT_CAPTURE_PATH,
                    "S3InputMode": "File",
                    "S3DataDistributionType": "FullyReplicated",
                }
            }
        ],
        "MonitoringOutputConfig": {
            "MonitoringOutputs": [
                {
                    "S3Output": {
                        "S3Uri": sub(f"s3://${{DataBucket}}/{monitoring.reports_prefix}reports"),
                        "LocalPath": f"{PROCESSING}/output",
                        "S3UploadMode": "EndOfJob",
                    }
                }
            ]
        },
        "MonitoringResources": {
            "ClusterConfig": {
                "InstanceCount": 1,
                "InstanceType": monitoring.instance_type,
                "VolumeSizeInGB": 5,
            }
        },
        "RoleArn": get_att("ProcessingJobRole", "Arn"),
        "StoppingCondition": {"MaxRuntimeInSeconds": 3600},
    }
    return {
        "DataQualitySchedule": {
            "Type": "AWS::SageMaker::MonitoringSchedule",
            "Condition": MONITOR_CONDITION,
            "Properties": {
                "MonitoringScheduleName": sub("${ProjectName}" + SCHEDULE_SUFFIX),
                "MonitoringScheduleConfig": {
                    "MonitoringType": "DataQuality",
                    "ScheduleConfig": {"ScheduleExpression": monitoring.schedule_expression},
                    "MonitoringJobDefinition": job,
                },
            },
        }
    }


def _http_api() -> dict[str, Any]:
    return {
        "HttpApi": {
            "Type": "AWS::ApiGatewayV2::Api",
            "Properties": {
                "Name": ref("ProjectName"),
                "ProtocolType": "HTTP",
                "Description": "Predictive maintenance: POST a raw sensor reading, get its "
                "failure probability",
                "CorsConfiguration": copy.deepcopy(http_api.CORS),  # the local API's
            },
        },
        "HttpApiIntegration": {
            "Type": "AWS::ApiGatewayV2::Integration",
            "Properties": {
                "ApiId": ref("HttpApi"),
                "IntegrationType": "AWS_PROXY",
                "IntegrationUri": get_att("ApiFunction", "Arn"),
                "IntegrationMethod": "POST",
                "PayloadFormatVersion": "2.0",
                "TimeoutInMillis": 30000,
            },
        },
        "HttpApiRoute": {
            "Type": "AWS::ApiGatewayV2::Route",
            "Properties": {
                "ApiId": ref("HttpApi"),
                "RouteKey": http_api.ROUTE_KEY,
                "Target": sub("integrations/${HttpApiIntegration}"),
            },
        },
        "HttpApiAccessLogGroup": {
            "Type": "AWS::Logs::LogGroup",
            "Metadata": _checkov_skip([LOG_ENCRYPTION_SKIP]),
            "Properties": {
                "LogGroupName": sub("/aws/apigateway/${ProjectName}-http-api"),
                "RetentionInDays": ref("LogRetentionInDays"),
            },
        },
        "HttpApiStage": {
            "Type": "AWS::ApiGatewayV2::Stage",
            "Properties": {
                "ApiId": ref("HttpApi"),
                "StageName": http_api.STAGE,
                "AutoDeploy": True,
                "AccessLogSettings": {
                    "DestinationArn": get_att("HttpApiAccessLogGroup", "Arn"),
                    "Format": '{"requestId":"$context.requestId","ip":"$context.identity.sourceIp",'
                    '"method":"$context.httpMethod","path":"$context.path",'
                    '"status":"$context.status","latency":"$context.integrationLatency"}',
                },
            },
        },
        "HttpApiInvokePermission": {
            "Type": "AWS::Lambda::Permission",
            "Properties": {
                "Action": "lambda:InvokeFunction",
                "FunctionName": ref("ApiFunction"),
                "Principal": "apigateway.amazonaws.com",
                "SourceArn": sub(
                    "arn:${AWS::Partition}:execute-api:${AWS::Region}:${AWS::AccountId}:"
                    "${HttpApi}/*/*" + http_api.ROUTE_PATH
                ),
            },
        },
    }


def _web_bucket() -> dict[str, Any]:
    return {
        "WebBucket": {
            "Type": "AWS::S3::Bucket",
            "DeletionPolicy": "Retain",
            "UpdateReplacePolicy": "Retain",
            "Metadata": _checkov_skip(
                [
                    (
                        "CKV_AWS_18",
                        "Holds one static page and its config.js, no data; access logging "
                        "needs a second log bucket. Log at the CloudFront distribution instead.",
                    ),
                ]
            ),
            "Properties": {
                "BucketName": sub("${ProjectName}-web-${AWS::AccountId}-${AWS::Region}"),
                **private_bucket_properties(abort_uploads=False),
            },
        },
        "WebBucketPolicy": {
            "Type": "AWS::S3::BucketPolicy",
            "Properties": {
                "Bucket": ref("WebBucket"),
                "PolicyDocument": {
                    "Version": "2012-10-17",
                    "Statement": [
                        {
                            "Sid": "DenyInsecureTransport",
                            "Effect": "Deny",
                            "Principal": "*",
                            "Action": "s3:*",
                            "Resource": [get_att("WebBucket", "Arn"), sub("${WebBucket.Arn}/*")],
                            "Condition": {"Bool": {"aws:SecureTransport": "false"}},
                        }
                    ],
                },
            },
        },
    }
