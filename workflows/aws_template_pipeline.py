"""The predictive-maintenance stack's resources for the inference-pipeline variant and the
plant floor: the processing jobs' role, the HTTP API and the technicians' page's bucket.
:func:`workflows.aws.render` adds them to what :mod:`workflows.aws_template` renders.

* ``ProcessingJobRole``: assumed by the featurizer processing job (scikit-learn image) and
  Model Monitor's baseline and monitoring jobs (analyzer image): it reads the bucket's
  objects and writes under the prepared-data and monitoring prefixes only.
* No data-quality schedule resource: as locally, the workflow's ``ScheduleMonitoring``
  state creates (or updates) the schedule once a run has made its endpoint and baseline;
  SageMaker refuses a schedule for an endpoint that does not exist, so the stack, deployed
  before any run, could not hold one.  (Nor does CloudFormation offer
  ``AWS::SageMaker::MonitoringSchedule`` in every region the stack deploys to: cfn-lint,
  which checks all of them, refuses it.)  The stack gives its jobs their role.
* ``HttpApi`` (+ integration, ``ANY /predict`` route, ``$default`` stage with access logs,
  Lambda permission): the same shape and CORS as :mod:`workflows.http_api` creates locally.
* ``WebBucket``: the technicians' page (``web/predictive-maintenance/`` with its
  ``config.js``), private, for a CloudFront distribution with origin access control or
  presigned links.
"""

from __future__ import annotations

import copy
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
    sagemaker_job_statements,
    sub,
)

# The images the processing jobs pull: the featurizer's and Model Monitor's analyzer.
PROCESSING_REPOSITORIES = ("sagemaker-scikit-learn", "sagemaker-model-monitor-analyzer")
LOG_ENCRYPTION_SKIP = (
    "CKV_AWS_158",
    "Encrypted with CloudWatch Logs' service key; no CMK to manage.",
)


def add_to(template: dict[str, Any], settings: Any) -> None:
    """Add this module's resources and outputs to the rendered stack."""
    if "ApiFunction" not in template["Resources"]:
        raise TemplateError(
            "lambdas/functions.yaml: no function with handler module 'api'; the HTTP API "
            "integrates it"
        )
    template["Resources"].update(resources(settings))
    template["Outputs"].update(outputs())


def resources(settings: Any) -> dict[str, Any]:
    found: dict[str, Any] = {}
    found.update(_processing_role(settings))
    found.update(_http_api())
    found.update(_web_bucket())
    return found


def outputs() -> dict[str, Any]:
    return {
        "ProcessingJobRoleArn": {
            "Description": "Role of the featurizer processing job and the monitoring jobs.",
            "Value": get_att("ProcessingJobRole", "Arn"),
        },
        "HttpApiUrl": {
            "Description": "POST a raw reading (text/plain) here; the page's config.js names it.",
            "Value": sub(
                "https://${HttpApi}.execute-api.${AWS::Region}.${AWS::URLSuffix}"
                + http_api.ROUTE_PATH
            ),
        },
        "WebBucketName": {
            "Description": "The technicians' page: upload web/predictive-maintenance/ and a "
            "config.js setting window.PREDICT_URL to HttpApiUrl.",
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
        *sagemaker_job_statements(
            "PullProcessingImages",
            [
                sub(f"arn:${{AWS::Partition}}:ecr:${{AWS::Region}}:*:repository/{repository}")
                for repository in PROCESSING_REPOSITORIES
            ],
        ),
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
