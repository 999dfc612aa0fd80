"""The many-models CloudFormation stack (``cfn/many-models.yaml``, rendered here).

What :func:`workflows.many_models_run.deploy` creates locally, for AWS: the data bucket
(TLS only, encrypted, EventBridge notifications on, inference uploads -> the split Lambda),
the inference queue and its dead-letter queue (``maxReceiveCount`` from the settings), the
predictions table, the split and score Lambdas with least-privilege roles and the score
Lambda's event source mapping (partial batch failures), the SageMaker execution role, the
training and fan-out state machines with their roles, logging and tracing, and the retrain
rule (an object created under the training prefix -> StartExecution of the training
workflow, through a role that may start only it).

The definitions are the builders' (:mod:`workflows.many_models`) rendered with
``${DataBucket}``, ``${SageMakerRoleArn}`` and ``${TrainingStateMachineArn}`` in place of the
bucket, role and child state machine, filled by ``DefinitionSubstitutions``.  The images in
them are the build region's (``build many-models --target aws --region R``).  The processing
scripts are uploaded by ``deploy`` (under ``data.code_prefix``); a stack cannot upload files.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

from workflows.aws_template import (
    LAMBDA_PACKAGE_RELATIVE,
    SAGEMAKER_JOB_SKIP,
    _checkov_skip,
    _role,
    _statement,
    dump_template,
    get_att,
    private_bucket_properties,
    ref,
    sagemaker_job_statements,
    sub,
)
from workflows.many_models_settings import ManyModels

TEMPLATE = Path(__file__).resolve().parent.parent / "cfn" / "many-models.yaml"
BUCKET_TOKEN = "${DataBucket}"
ROLE_TOKEN = "${SageMakerRoleArn}"
TRAINING_TOKEN = "${TrainingStateMachineArn}"
FUNCTIONS = {"churn-split": "SplitFunction", "churn-score": "ScoreFunction"}
IMAGE_REPOSITORIES = (
    "sagemaker-xgboost",
    "sagemaker-scikit-learn",
    "sagemaker-model-monitor-analyzer",
)
BUCKET_NAME = "${ProjectName}-${AWS::AccountId}-${AWS::Region}"
SQS_SKIP = (
    "CKV_AWS_27",
    "Encrypted at rest with SQS-managed keys (SqsManagedSseEnabled), which this check predates; "
    "a KMS key would add key policy and per-call cost for rows that are already in S3.",
)
LOG_SKIP = ("CKV_AWS_158", "Encrypted with CloudWatch Logs' service key; no CMK to manage.")


def dump(template: dict[str, Any]) -> str:
    return dump_template(template)


# An endpoint takes minutes to create or update on AWS: its DescribeEndpoint loop waits at
# least this long between calls (locally the settings' poll, a second).
AWS_ENDPOINT_POLL_SECONDS = 30


def render(settings: ManyModels) -> dict[str, Any]:
    from workflows import many_models as mm

    tokens = dataclasses.replace(
        settings,
        data=dataclasses.replace(settings.data, bucket=BUCKET_TOKEN),
        roles=dataclasses.replace(settings.roles, sagemaker=ROLE_TOKEN),
        endpoint=dataclasses.replace(
            settings.endpoint,
            poll_seconds=max(settings.endpoint.poll_seconds, AWS_ENDPOINT_POLL_SECONDS),
        ),
    )
    training = mm.training_definition(tokens)
    fanout = mm.fanout_definition(tokens, TRAINING_TOKEN)
    resources: dict[str, Any] = {}
    resources.update(_bucket(settings))
    resources.update(_queues(settings))
    resources.update(_table())
    resources.update(_functions(settings))
    resources.update(_sagemaker_role())
    resources.update(_machines(settings, training, fanout))
    resources.update(_retrain_rule(settings))
    return {
        "AWSTemplateFormatVersion": "2010-09-09",
        "Description": (
            "Many models: one churn model per dimension (fan-out training, model registry, "
            "an endpoint per dimension, retraining on upload, inference through SQS)."
        ),
        "Parameters": {
            "ProjectName": {
                "Type": "String",
                "Default": settings.name,
                "AllowedPattern": "^[a-z0-9][a-z0-9-]{0,30}$",
                "Description": "Prefix of every resource name (lower case, digits, hyphens).",
            },
            "LogRetentionInDays": {
                "Type": "Number",
                "Default": 30,
                "AllowedValues": [1, 3, 5, 7, 14, 30, 60, 90, 180, 365],
            },
        },
        "Resources": resources,
        "Outputs": {
            "DataBucketName": {"Value": ref("DataBucket")},
            "TrainingStateMachineArn": {"Value": ref("TrainingStateMachine")},
            "FanoutStateMachineArn": {"Value": ref("FanoutStateMachine")},
            "InferenceQueueUrl": {"Value": ref("InferenceQueue")},
            "DeadLetterQueueUrl": {"Value": ref("DeadLetterQueue")},
            "PredictionsTableName": {"Value": ref("PredictionsTable")},
            "SageMakerExecutionRoleArn": {"Value": get_att("SageMakerExecutionRole", "Arn")},
        },
    }


def _bucket(s: ManyModels) -> dict[str, Any]:
    arn = sub(f"arn:${{AWS::Partition}}:s3:::{BUCKET_NAME}")
    return {
        "SplitInvokePermission": {
            "Type": "AWS::Lambda::Permission",
            "Properties": {
                "Action": "lambda:InvokeFunction",
                "FunctionName": get_att("SplitFunction", "Arn"),
                "Principal": "s3.amazonaws.com",
                "SourceAccount": ref("AWS::AccountId"),
                "SourceArn": arn,
            },
        },
        "DataBucket": {
            "Type": "AWS::S3::Bucket",
            "DependsOn": ["SplitInvokePermission"],
            "DeletionPolicy": "Retain",
            "UpdateReplacePolicy": "Retain",
            "Metadata": _checkov_skip(
                [
                    (
                        "CKV_AWS_18",
                        "Access logging needs a second log bucket; this data bucket is reached "
                        "only by the stack's roles. Enable CloudTrail data events instead.",
                    )
                ]
            ),
            "Properties": {
                "BucketName": sub(BUCKET_NAME),
                **private_bucket_properties(),
                "NotificationConfiguration": {
                    "EventBridgeConfiguration": {"EventBridgeEnabled": True},
                    "LambdaConfigurations": [
                        {
                            "Event": "s3:ObjectCreated:*",
                            "Function": get_att("SplitFunction", "Arn"),
                            "Filter": {
                                "S3Key": {
                                    "Rules": [
                                        {"Name": "prefix", "Value": s.data.inference_prefix},
                                        {"Name": "suffix", "Value": ".csv"},
                                    ]
                                }
                            },
                        }
                    ],
                },
            },
        },
        "DataBucketPolicy": {
            "Type": "AWS::S3::BucketPolicy",
            "Properties": {
                "Bucket": ref("DataBucket"),
                "PolicyDocument": {
                    "Version": "2012-10-17",
                    "Statement": [
                        {
                            "Sid": "DenyInsecureTransport",
                            "Effect": "Deny",
                            "Principal": "*",
                            "Action": "s3:*",
                            "Resource": [
                                get_att("DataBucket", "Arn"),
                                sub("${DataBucket.Arn}/*"),
                            ],
                            "Condition": {"Bool": {"aws:SecureTransport": "false"}},
                        }
                    ],
                },
            },
        },
    }


def _queues(s: ManyModels) -> dict[str, Any]:
    inf = s.inference
    return {
        "DeadLetterQueue": {
            "Type": "AWS::SQS::Queue",
            "Metadata": _checkov_skip([SQS_SKIP]),
            "Properties": {
                "QueueName": sub(f"${{ProjectName}}-{_suffix(inf.dead_letter_queue, s)}"),
                "SqsManagedSseEnabled": True,
                "MessageRetentionPeriod": 1209600,
            },
        },
        "InferenceQueue": {
            "Type": "AWS::SQS::Queue",
            "Metadata": _checkov_skip([SQS_SKIP]),
            "Properties": {
                "QueueName": sub(f"${{ProjectName}}-{_suffix(inf.queue, s)}"),
                "SqsManagedSseEnabled": True,
                "VisibilityTimeout": inf.visibility_timeout_seconds,
                "RedrivePolicy": {
                    "deadLetterTargetArn": get_att("DeadLetterQueue", "Arn"),
                    "maxReceiveCount": inf.max_receive_count,
                },
            },
        },
    }


def _suffix(name: str, s: ManyModels) -> str:
    return name.removeprefix(f"{s.name}-")


def _table() -> dict[str, Any]:
    return {
        "PredictionsTable": {
            "Type": "AWS::DynamoDB::Table",
            "DeletionPolicy": "Retain",
            "UpdateReplacePolicy": "Retain",
            "Metadata": _checkov_skip(
                [
                    (
                        "CKV_AWS_119",
                        "Encrypted at rest with the AWS-managed key (SSESpecification); a "
                        "customer-managed key adds a key policy to maintain for no gain here.",
                    )
                ]
            ),
            "Properties": {
                "TableName": sub("${ProjectName}-predictions"),
                "BillingMode": "PAY_PER_REQUEST",
                "AttributeDefinitions": [{"AttributeName": "id", "AttributeType": "S"}],
                "KeySchema": [{"AttributeName": "id", "KeyType": "HASH"}],
                "PointInTimeRecoverySpecification": {"PointInTimeRecoveryEnabled": True},
                "SSESpecification": {"SSEEnabled": True},
            },
        }
    }


def _functions(s: ManyModels) -> dict[str, Any]:
    from workflows.functions import load_functions
    from workflows.many_models_run import FUNCTIONS_FILE

    resources: dict[str, Any] = {}
    bucket_objects = sub(f"arn:${{AWS::Partition}}:s3:::{BUCKET_NAME}/*")
    for spec in load_functions(FUNCTIONS_FILE):
        lid = FUNCTIONS[spec.name]
        log_group = f"{lid}LogGroup"
        statements = [
            _statement(
                "OwnLogs",
                ["logs:CreateLogStream", "logs:PutLogEvents"],
                [sub(f"${{{log_group}.Arn}}")],
            ),
            _statement("Tracing", ["xray:PutTraceSegments", "xray:PutTelemetryRecords"], ["*"]),
        ]
        environment: dict[str, Any] = dict(spec.environment)
        if spec.name == "churn-split":
            # The bucket's notification needs this function first: name the bucket, not its Ref.
            statements += [
                _statement(
                    "MoveInferenceFiles",
                    ["s3:GetObject", "s3:PutObject", "s3:DeleteObject"],
                    [bucket_objects],
                ),
                _statement("QueueRows", ["sqs:SendMessage"], [get_att("InferenceQueue", "Arn")]),
            ]
            environment.update(
                {
                    "QUEUE_URL": ref("InferenceQueue"),
                    "INFERENCE_PREFIX": s.data.inference_prefix,
                    "PROCESSED_PREFIX": s.data.processed_prefix,
                }
            )
        else:
            statements += [
                _statement(
                    "InvokeEndpoints",
                    ["sagemaker:InvokeEndpoint"],
                    [
                        sub(
                            "arn:${AWS::Partition}:sagemaker:${AWS::Region}:${AWS::AccountId}:endpoint/${ProjectName}-*"
                        )
                    ],
                ),
                _statement(
                    "WritePredictions", ["dynamodb:PutItem"], [get_att("PredictionsTable", "Arn")]
                ),
                _statement(
                    "ConsumeQueue",
                    ["sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:GetQueueAttributes"],
                    [get_att("InferenceQueue", "Arn")],
                ),
            ]
            environment.update(
                {"TABLE": ref("PredictionsTable"), "ENDPOINT_PREFIX": ref("ProjectName")}
            )
        resources[f"{lid}Role"] = _role(
            f"Execution role of the {spec.name} Lambda.",
            "lambda.amazonaws.com",
            f"{spec.name}-lambda",
            statements,
            skip=[("CKV_AWS_111", "X-Ray actions do not support resource-level permissions.")],
        )
        resources[log_group] = {
            "Type": "AWS::Logs::LogGroup",
            "Metadata": _checkov_skip([LOG_SKIP]),
            "Properties": {
                "LogGroupName": sub(f"/aws/lambda/${{ProjectName}}-{spec.name}"),
                "RetentionInDays": ref("LogRetentionInDays"),
            },
        }
        resources[lid] = {
            "Type": "AWS::Lambda::Function",
            "DependsOn": [log_group],
            "Metadata": _checkov_skip(
                [
                    (
                        "CKV_AWS_116",
                        "The split Lambda is invoked by S3 (asynchronous: retried by Lambda) and the "
                        "score Lambda by SQS, whose redrive policy is the dead-letter queue.",
                    ),
                    (
                        "CKV_AWS_117",
                        "Reaches only S3, SQS, DynamoDB and SageMaker public endpoints; IAM scopes access, a VPC would add NAT cost.",
                    ),
                    (
                        "CKV_AWS_115",
                        "Concurrency follows uploads and the event source mapping; reserving it would take it from the account's pool.",
                    ),
                    (
                        "CKV_AWS_173",
                        "Environment holds only resource names, no secrets; encrypted with the Lambda service key.",
                    ),
                ]
            ),
            "Properties": {
                "FunctionName": sub(f"${{ProjectName}}-{spec.name}"),
                "Description": spec.description,
                "Runtime": spec.runtime,
                "Architectures": ["x86_64"],
                "Handler": spec.handler,
                "Timeout": spec.timeout,
                "MemorySize": spec.memory,
                "Role": get_att(f"{lid}Role", "Arn"),
                "Code": LAMBDA_PACKAGE_RELATIVE,
                "TracingConfig": {"Mode": "Active"},
                "Environment": {"Variables": environment},
            },
        }
    resources["ScoreEventSourceMapping"] = {
        "Type": "AWS::Lambda::EventSourceMapping",
        "Properties": {
            "EventSourceArn": get_att("InferenceQueue", "Arn"),
            "FunctionName": ref("ScoreFunction"),
            "BatchSize": s.inference.batch_size,
            "FunctionResponseTypes": ["ReportBatchItemFailures"],
            "Enabled": True,
        },
    }
    return resources


def _sagemaker_role() -> dict[str, Any]:
    repositories = [
        sub(f"arn:${{AWS::Partition}}:ecr:${{AWS::Region}}:*:repository/{name}")
        for name in IMAGE_REPOSITORIES
    ]
    statements = [
        _statement(
            "ListDataBucket",
            ["s3:ListBucket", "s3:GetBucketLocation"],
            [get_att("DataBucket", "Arn")],
        ),
        _statement("ReadWriteData", ["s3:GetObject", "s3:PutObject"], [sub("${DataBucket.Arn}/*")]),
        *sagemaker_job_statements("PullImages", repositories),
    ]
    return {
        "SageMakerExecutionRole": _role(
            "Assumed by the processing, training, transform and hosting jobs of the training workflow.",
            "sagemaker.amazonaws.com",
            "sagemaker-jobs",
            statements,
            skip=[SAGEMAKER_JOB_SKIP],
        )
    }


def _sm_arn(kind: str, name: str) -> dict[str, str]:
    return sub(
        f"arn:${{AWS::Partition}}:sagemaker:${{AWS::Region}}:${{AWS::AccountId}}:{kind}/{name}"
    )


def _log_delivery() -> dict[str, Any]:
    return _statement(
        "LogDelivery",
        [
            "logs:CreateLogDelivery",
            "logs:GetLogDelivery",
            "logs:UpdateLogDelivery",
            "logs:DeleteLogDelivery",
            "logs:ListLogDeliveries",
            "logs:PutResourcePolicy",
            "logs:DescribeResourcePolicies",
            "logs:DescribeLogGroups",
            "xray:PutTraceSegments",
            "xray:PutTelemetryRecords",
            "xray:GetSamplingRules",
            "xray:GetSamplingTargets",
        ],
        ["*"],
    )


def _machines(s: ManyModels, training: dict[str, Any], fanout: dict[str, Any]) -> dict[str, Any]:
    jobs = f"{s.job_prefix}-*"
    sync_rules = [
        sub(
            "arn:${AWS::Partition}:events:${AWS::Region}:${AWS::AccountId}:rule/"
            f"StepFunctionsGetEventsForSageMaker{kind}JobsRule"
        )
        for kind in ("Processing", "Training", "Transform", "HyperParameterTuning")
    ]
    training_statements = [
        _statement(
            "RunJobs",
            [
                "sagemaker:CreateProcessingJob",
                "sagemaker:DescribeProcessingJob",
                "sagemaker:StopProcessingJob",
                "sagemaker:CreateTrainingJob",
                "sagemaker:DescribeTrainingJob",
                "sagemaker:StopTrainingJob",
                "sagemaker:CreateTransformJob",
                "sagemaker:DescribeTransformJob",
                "sagemaker:StopTransformJob",
                "sagemaker:CreateHyperParameterTuningJob",
                "sagemaker:DescribeHyperParameterTuningJob",
                "sagemaker:StopHyperParameterTuningJob",
                "sagemaker:AddTags",
            ],
            [
                _sm_arn("processing-job", jobs),
                _sm_arn("training-job", jobs),
                _sm_arn("transform-job", jobs),
                _sm_arn("hyper-parameter-tuning-job", jobs),
            ],
        ),
        _statement(
            "ModelsAndEndpoints",
            [
                "sagemaker:CreateModel",
                "sagemaker:DeleteModel",
                "sagemaker:CreateEndpointConfig",
                "sagemaker:DescribeEndpointConfig",
                "sagemaker:DeleteEndpointConfig",
                "sagemaker:CreateEndpoint",
                "sagemaker:UpdateEndpoint",
                "sagemaker:DescribeEndpoint",
                "sagemaker:AddTags",
            ],
            [
                _sm_arn("model", jobs),
                _sm_arn("endpoint-config", jobs),
                _sm_arn("endpoint", "${ProjectName}-*"),
            ],
        ),
        _statement(
            "Registry",
            [
                "sagemaker:CreateModelPackageGroup",
                "sagemaker:CreateModelPackage",
                "sagemaker:UpdateModelPackage",
                "sagemaker:DescribeModelPackage",
                "sagemaker:ListModelPackages",
            ],
            [
                _sm_arn("model-package-group", "${ProjectName}-*"),
                _sm_arn("model-package", "${ProjectName}-*/*"),
            ],
        ),
        _statement(
            "PassSageMakerRole",
            ["iam:PassRole"],
            [get_att("SageMakerExecutionRole", "Arn")],
            {"StringEquals": {"iam:PassedToService": "sagemaker.amazonaws.com"}},
        ),
        _statement("ReadReports", ["s3:GetObject"], [sub("${DataBucket.Arn}/*")]),
        _statement(
            "SyncRules", ["events:PutTargets", "events:PutRule", "events:DescribeRule"], sync_rules
        ),
        _log_delivery(),
    ]
    training_arn = sub(
        "arn:${AWS::Partition}:states:${AWS::Region}:${AWS::AccountId}:stateMachine:${ProjectName}-train"
    )
    fanout_statements = [
        _statement("StartTraining", ["states:StartExecution"], [training_arn]),
        _statement(
            "FollowTraining",
            ["states:DescribeExecution", "states:StopExecution"],
            [
                sub(
                    "arn:${AWS::Partition}:states:${AWS::Region}:${AWS::AccountId}:execution:${ProjectName}-train:*"
                )
            ],
        ),
        _statement(
            "DistributedMap",
            ["states:StartExecution", "states:DescribeExecution", "states:StopExecution"],
            [
                sub(
                    "arn:${AWS::Partition}:states:${AWS::Region}:${AWS::AccountId}:stateMachine:${ProjectName}-fanout"
                ),
                sub(
                    "arn:${AWS::Partition}:states:${AWS::Region}:${AWS::AccountId}:execution:${ProjectName}-fanout/*"
                ),
            ],
        ),
        _statement("ListTrainingData", ["s3:ListBucket"], [get_att("DataBucket", "Arn")]),
        _statement("WriteResults", ["s3:PutObject", "s3:GetObject"], [sub("${DataBucket.Arn}/*")]),
        _statement(
            "SyncRule",
            ["events:PutTargets", "events:PutRule", "events:DescribeRule"],
            [
                sub(
                    "arn:${AWS::Partition}:events:${AWS::Region}:${AWS::AccountId}:rule/"
                    "StepFunctionsGetEventsForStepFunctionsExecutionRule"
                )
            ],
        ),
        _log_delivery(),
    ]
    skip = [
        ("CKV_AWS_111", "Log delivery and X-Ray actions do not support resource-level permissions.")
    ]
    out: dict[str, Any] = {
        "TrainingStateMachineRole": _role(
            "Assumed by the training workflow.",
            "states.amazonaws.com",
            "training-workflow",
            training_statements,
            skip=skip,
        ),
        "FanoutStateMachineRole": _role(
            "Assumed by the fan-out workflow.",
            "states.amazonaws.com",
            "fanout-workflow",
            fanout_statements,
            skip=skip,
        ),
    }
    for lid, suffix, definition, role, substitutions in (
        (
            "TrainingStateMachine",
            "train",
            training,
            "TrainingStateMachineRole",
            {
                "DataBucket": ref("DataBucket"),
                "SageMakerRoleArn": get_att("SageMakerExecutionRole", "Arn"),
            },
        ),
        (
            "FanoutStateMachine",
            "fanout",
            fanout,
            "FanoutStateMachineRole",
            {
                "DataBucket": ref("DataBucket"),
                "TrainingStateMachineArn": ref("TrainingStateMachine"),
            },
        ),
    ):
        out[f"{lid}LogGroup"] = {
            "Type": "AWS::Logs::LogGroup",
            "Metadata": _checkov_skip([LOG_SKIP]),
            "Properties": {
                "LogGroupName": sub(f"/aws/vendedlogs/states/${{ProjectName}}-{suffix}"),
                "RetentionInDays": ref("LogRetentionInDays"),
            },
        }
        out[lid] = {
            "Type": "AWS::StepFunctions::StateMachine",
            "Properties": {
                "StateMachineName": sub(f"${{ProjectName}}-{suffix}"),
                "StateMachineType": "STANDARD",
                "RoleArn": get_att(role, "Arn"),
                "DefinitionString": json.dumps(definition, indent=2),
                "DefinitionSubstitutions": substitutions,
                "LoggingConfiguration": {
                    "Level": "ERROR",
                    "IncludeExecutionData": False,
                    "Destinations": [
                        {
                            "CloudWatchLogsLogGroup": {
                                "LogGroupArn": get_att(f"{lid}LogGroup", "Arn")
                            }
                        }
                    ],
                },
                "TracingConfiguration": {"Enabled": True},
            },
        }
    return out


def _retrain_rule(s: ManyModels) -> dict[str, Any]:
    from workflows.many_models_run import retrain_pattern

    pattern = retrain_pattern(s)
    pattern["detail"]["bucket"]["name"] = [ref("DataBucket")]
    return {
        "RetrainRuleRole": _role(
            "Assumed by EventBridge to start the training workflow on an upload.",
            "events.amazonaws.com",
            "retrain-on-upload",
            [_statement("StartTraining", ["states:StartExecution"], [ref("TrainingStateMachine")])],
        ),
        "RetrainRule": {
            "Type": "AWS::Events::Rule",
            "Properties": {
                "Name": sub("${ProjectName}-retrain-on-upload"),
                "Description": "Retrain a dimension when a CSV lands under its training prefix",
                "EventPattern": pattern,
                "State": "ENABLED",
                "Targets": [
                    {
                        "Id": "training-workflow",
                        "Arn": ref("TrainingStateMachine"),
                        "RoleArn": get_att("RetrainRuleRole", "Arn"),
                        "InputTransformer": {
                            "InputPathsMap": {
                                "bucket": "$.detail.bucket.name",
                                "key": "$.detail.object.key",
                            },
                            "InputTemplate": '{"bucket": <bucket>, "key": <key>}',
                        },
                    }
                ],
            },
        },
    }
