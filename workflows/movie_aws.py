"""``build movie-recommender --target aws``: the movie recommender's CloudFormation stack.

:func:`render` builds the template from the same sources the local run uses - the SDK
definition (:mod:`workflows.movie_recommender`), ``lambdas/movie_recommender.yaml`` and the
mapping document's tables - with the building blocks of :mod:`workflows.aws_template` (data
bucket, roles, state machine with logging and tracing).  The stack holds the lake bucket,
the four DynamoDB tables, the Kinesis stream and the Firehose delivery stream into the lake
(``stream/ratings/YYYY/MM/DD/HH/``), the Glue database, crawler (the Firehose prefix and the
tables) and pythonshell ETL and full-load jobs, the SageMaker role, the four Lambdas and the state machine.

:func:`build` writes ``cfn/movie-recommender.yaml`` and, in ``build/movie-recommender/``, what
the stack expects in its bucket under ``code/movie-recommender/``: ``sourcedir.tar.gz`` (the
training and inference code), ``etl.py`` and ``full_load.py`` (the Glue jobs' scripts), ``table-mappings.json``
(the full load's mapping document, under ``dms/``) - upload them with ``aws s3 cp`` after the
stack is created - and the Lambda package ``lambda.zip`` for ``aws cloudformation package``.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from workflows import aws_template as tpl
from workflows import movie_recommender as mr
from workflows.aws_template import _checkov_skip, _role, _statement, get_att, ref, sub
from workflows.functions import FunctionSpec, build_lambda_package, load_functions

REPO_ROOT = Path(__file__).resolve().parent.parent
CFN_TEMPLATE = REPO_ROOT / "cfn" / "movie-recommender.yaml"
BUILD_DIR = REPO_ROOT / "build" / "movie-recommender"
PACKAGE = REPO_ROOT / "build" / "aws" / "lambda.zip"  # the template's Code (all of lambdas/)
SENTINEL_BUCKET = "movie-sentinel-bucket"
SENTINEL_SAGEMAKER_ROLE = "arn:aws:iam::000000000000:role/movie-sentinel-sagemaker"
DESCRIPTION = (
    "Movie-ratings data lake feeding a recommender: DynamoDB full load, Kinesis + Firehose "
    "streaming, Glue crawler and ETL, Athena, factorization machines on SageMaker, orchestrated "
    "by the state machine built in workflows/movie_recommender.py."
)
SYNC_RULES = (
    "StepFunctionsGetEventsForSageMakerTrainingJobsRule",
    "StepFunctionsGetEventsForGlueJobRunsRule",  # not used by .sync on Glue, kept harmless
)
LAMBDA_CHECKOV_SKIPS = [
    ("CKV_AWS_116", "Invoked synchronously by Step Functions, whose Retry/Catch handle failures; a DLQ only applies to asynchronous invocation."),
    ("CKV_AWS_117", "Reaches only public AWS endpoints; a VPC would add NAT or endpoint cost without narrowing access, which IAM already scopes."),
    ("CKV_AWS_115", "Concurrency is bounded by the state machine (one invocation per step); reserving concurrency would take it from the account's pool."),
    ("CKV_AWS_173", "Environment holds no variables with secrets; encrypted at rest with the Lambda service key."),
]  # fmt: skip
LOGS_CMK_SKIP = ("CKV_AWS_158", "Encrypted with CloudWatch Logs' service key; no CMK to manage.")


def sentinel_settings(settings: Mapping[str, Any]) -> dict[str, Any]:
    out = json.loads(json.dumps(settings))
    out["lake"]["bucket"] = SENTINEL_BUCKET
    out["roles"]["sagemaker"] = SENTINEL_SAGEMAKER_ROLE
    return dict(out)


def definition_text(settings: Mapping[str, Any]) -> tuple[str, dict[str, Any]]:
    """The definition with the stack's names as ``${...}`` DefinitionSubstitutions."""
    text = json.dumps(mr.definition(sentinel_settings(settings)), indent=2)
    if "${" in text:
        raise tpl.TemplateError(
            "the definition holds '${', which DefinitionSubstitutions would read"
        )
    text = text.replace(SENTINEL_SAGEMAKER_ROLE, "${SageMakerRoleArn}")
    text = text.replace(SENTINEL_BUCKET, "${LakeBucket}")
    return text, {
        "SageMakerRoleArn": get_att("SageMakerExecutionRole", "Arn"),
        "LakeBucket": ref("DataBucket"),
    }


def _arn(service: str, resource: str) -> dict[str, str]:
    return sub(f"arn:${{AWS::Partition}}:{service}:${{AWS::Region}}:${{AWS::AccountId}}:{resource}")


def _tables(settings: Mapping[str, Any]) -> dict[str, Any]:
    resources = {}
    for table, (pk, sk) in mr.table_keys(settings).items():
        resources[_logical(table) + "Table"] = {
            "Type": "AWS::DynamoDB::Table",
            "DeletionPolicy": "Retain",
            "UpdateReplacePolicy": "Retain",
            "Metadata": _checkov_skip(
                [
                    (
                        "CKV_AWS_119",
                        "Encrypted at rest with the AWS-managed key (SSESpecification); a customer-managed key adds a key policy to maintain for no gain here.",
                    )
                ]
            ),
            "Properties": {
                "TableName": table,
                "BillingMode": "PAY_PER_REQUEST",
                "AttributeDefinitions": [
                    {"AttributeName": pk, "AttributeType": "S"},
                    {"AttributeName": sk, "AttributeType": "S"},
                ],
                "KeySchema": [
                    {"AttributeName": pk, "KeyType": "HASH"},
                    {"AttributeName": sk, "KeyType": "RANGE"},
                ],
                "PointInTimeRecoverySpecification": {"PointInTimeRecoveryEnabled": True},
                "SSESpecification": {"SSEEnabled": True},
            },
        }
    return resources


def _logical(name: str) -> str:
    return "".join(part.capitalize() for part in name.replace("-", "_").split("_"))


def _stream(settings: Mapping[str, Any]) -> dict[str, Any]:
    st, lake = settings["stream"], settings["lake"]
    stream_arn = get_att("RatingsStream", "Arn")
    firehose_role = _role(
        "Assumed by Firehose: read the ratings stream, write the lake's stream prefix.",
        "firehose.amazonaws.com",
        "ratings-delivery",
        [
            _statement(
                "ReadRatingsStream",
                [
                    "kinesis:DescribeStream",
                    "kinesis:GetShardIterator",
                    "kinesis:GetRecords",
                    "kinesis:ListShards",
                ],
                [stream_arn],
            ),
            _statement(
                "WriteLake",
                [
                    "s3:AbortMultipartUpload",
                    "s3:GetBucketLocation",
                    "s3:GetObject",
                    "s3:ListBucket",
                    "s3:ListBucketMultipartUploads",
                    "s3:PutObject",
                ],
                [get_att("DataBucket", "Arn"), sub("${DataBucket.Arn}/*")],
            ),
        ],
    )
    return {
        "RatingsStream": {
            "Type": "AWS::Kinesis::Stream",
            "Properties": {
                "Name": st["kinesis"],
                "ShardCount": st["shards"],
                "RetentionPeriodHours": 24,
                "StreamEncryption": {"EncryptionType": "KMS", "KeyId": "alias/aws/kinesis"},
            },
        },
        "RatingsDeliveryRole": firehose_role,
        "RatingsDelivery": {
            "Type": "AWS::KinesisFirehose::DeliveryStream",
            "Metadata": _checkov_skip(
                [
                    (
                        "CKV_AWS_240",
                        "The source is a Kinesis stream encrypted with KMS; Firehose's own server-side encryption applies only to Direct PUT streams.",
                    ),
                    (
                        "CKV_AWS_241",
                        "As CKV_AWS_240: encryption is the source stream's (KMS) and the bucket's (SSE-S3).",
                    ),
                ]
            ),
            "Properties": {
                "DeliveryStreamName": st["firehose"],
                "DeliveryStreamType": "KinesisStreamAsSource",
                "KinesisStreamSourceConfiguration": {
                    "KinesisStreamARN": stream_arn,
                    "RoleARN": get_att("RatingsDeliveryRole", "Arn"),
                },
                "ExtendedS3DestinationConfiguration": {
                    "BucketARN": get_att("DataBucket", "Arn"),
                    "RoleARN": get_att("RatingsDeliveryRole", "Arn"),
                    "Prefix": lake["stream_prefix"],
                    "ErrorOutputPrefix": "stream-errors/!{firehose:error-output-type}/",
                    "BufferingHints": {
                        "IntervalInSeconds": ref("FirehoseBufferSeconds"),
                        "SizeInMBs": st["buffer_mb"],
                    },
                    "CompressionFormat": "UNCOMPRESSED",
                },
            },
        },
    }


def _glue(settings: Mapping[str, Any]) -> dict[str, Any]:
    from workflows.movie_local import etl_job_arguments

    g, lake = settings["glue"], settings["lake"]
    tables = list(mr.table_keys(settings))
    table_arns = [_arn("dynamodb", f"table/{t}") for t in tables]

    def arguments(given: Mapping[str, str]) -> dict[str, Any]:
        return {
            k: (sub(v.replace(f"s3://{lake['bucket']}/", "s3://${DataBucket}/")) if v.startswith("s3://") else v)
            for k, v in given.items()
        }  # fmt: skip

    def job(name: str, script: str, given: Mapping[str, str]) -> dict[str, Any]:
        return {
            "Type": "AWS::Glue::Job",
            "Metadata": _checkov_skip([glue_skip]),
            "Properties": {
                "Name": name,
                "Role": get_att("GlueRole", "Arn"),
                "Command": {
                    "Name": "pythonshell",
                    "PythonVersion": "3.9",
                    "ScriptLocation": sub(f"s3://${{DataBucket}}/{lake['code_prefix']}{script}"),
                },
                "DefaultArguments": {**arguments(given), "library-set": "analytics"},
                "MaxCapacity": 0.0625,
                "Timeout": 60,
            },
        }  # fmt: skip

    role = _role(
        "Assumed by the Glue crawler, the ETL job and the full-load job.",
        "glue.amazonaws.com",
        "glue-lake",
        [
            _statement("ListLake", ["s3:ListBucket", "s3:GetBucketLocation"], [get_att("DataBucket", "Arn")]),
            _statement("ReadWriteLake", ["s3:GetObject", "s3:PutObject"], [sub("${DataBucket.Arn}/*")]),
            _statement("ReadTables", ["dynamodb:DescribeTable", "dynamodb:Scan"], table_arns),
            _statement("LoadTables", ["dynamodb:BatchWriteItem", "dynamodb:PutItem"], table_arns),
            _statement(
                "Catalog",
                ["glue:GetDatabase", "glue:GetTable", "glue:GetTables", "glue:CreateTable",
                 "glue:UpdateTable", "glue:BatchCreatePartition", "glue:BatchGetPartition",
                 "glue:GetPartitions", "glue:CreatePartition", "glue:UpdatePartition"],
                [_arn("glue", "catalog"), _arn("glue", f"database/{g['database']}"),
                 _arn("glue", f"table/{g['database']}/*")],
            ),
            _statement(
                "GlueLogs",
                ["logs:CreateLogGroup", "logs:CreateLogStream", "logs:PutLogEvents"],
                [_arn("logs", "log-group:/aws-glue/*")],
            ),
        ],
    )  # fmt: skip
    glue_skip = ("CKV_AWS_195", "Data is encrypted at rest by the bucket (SSE-S3) and the tables (AWS-managed key); a Glue security configuration would need a customer-managed KMS key.")  # fmt: skip
    return {
        "GlueRole": role,
        "LakeDatabase": {
            "Type": "AWS::Glue::Database",
            "Properties": {
                "CatalogId": ref("AWS::AccountId"),
                "DatabaseInput": {"Name": g["database"], "Description": "The movie-ratings lake."},
            },
        },
        "LakeCrawler": {
            "Type": "AWS::Glue::Crawler",
            "Metadata": _checkov_skip([glue_skip]),
            "Properties": {
                "Name": g["crawler"],
                "Role": get_att("GlueRole", "Arn"),
                "DatabaseName": ref("LakeDatabase"),
                "Targets": {
                    "S3Targets": [{"Path": sub(f"s3://${{DataBucket}}/{lake['stream_prefix']}")}],
                    "DynamoDBTargets": [{"Path": t} for t in tables],
                },
                "SchemaChangePolicy": {
                    "UpdateBehavior": "UPDATE_IN_DATABASE",
                    "DeleteBehavior": "LOG",
                },
            },
        },
        "EtlJob": job(g["etl_job"], mr.ETL_SCRIPT, etl_job_arguments(settings)),
        "FullLoadJob": job(g["load_job"], mr.LOAD_SCRIPT, mr.load_job_arguments(settings)),
    }


def _sagemaker_role() -> dict[str, Any]:
    resources = tpl._sagemaker_role()
    statements = tpl.role_statements(resources, "SageMakerExecutionRole")
    for statement in statements:
        if statement["Sid"] == "PullBuiltInAlgorithmImages":
            statement["Resource"] = [
                sub("arn:${AWS::Partition}:ecr:${AWS::Region}:*:repository/sagemaker-scikit-learn")
            ]
    resources["SageMakerExecutionRole"]["Properties"]["Description"] = (
        "Assumed by the training job and the endpoint the state machine starts."
    )
    return resources  # fmt: skip


def _lambdas(settings: Mapping[str, Any], functions: Sequence[FunctionSpec]) -> dict[str, Any]:
    resources: dict[str, Any] = {}
    objects = sub("${DataBucket.Arn}/*")
    tables = [_arn("dynamodb", f"table/{t}") for t in mr.table_keys(settings)]
    for fn in functions:
        lid = _logical(fn.module)
        log_group = f"{lid}LogGroup"
        grants = set(fn.permissions)
        statements = [
            _statement("OwnLogs", ["logs:CreateLogStream", "logs:PutLogEvents"], [sub(f"${{{log_group}.Arn}}")]),
            _statement("Tracing", ["xray:PutTraceSegments", "xray:PutTelemetryRecords"], ["*"]),
        ]  # fmt: skip
        if "s3_read" in grants:
            statements.append(
                _statement("ListLake", ["s3:ListBucket"], [get_att("DataBucket", "Arn")])
            )
            statements.append(_statement("ReadLake", ["s3:GetObject"], [objects]))
        if "s3_write" in grants:
            statements.append(_statement("WriteLake", ["s3:PutObject"], [objects]))
        if "dynamodb_write" in grants:
            statements.append(
                _statement("LoadTables", ["dynamodb:BatchWriteItem", "dynamodb:PutItem"], tables)
            )
        if "kinesis_write" in grants:
            statements.append(
                _statement(
                    "PutRatings",
                    ["kinesis:PutRecord", "kinesis:PutRecords"],
                    [get_att("RatingsStream", "Arn")],
                )
            )
        if "sagemaker_invoke" in grants:
            statements.append(
                _statement(
                    "InvokeEndpoint", ["sagemaker:InvokeEndpoint"], [tpl._sagemaker_arn("endpoint")]
                )
            )
        unknown = grants - {
            "s3_read",
            "s3_write",
            "dynamodb_write",
            "kinesis_write",
            "sagemaker_invoke",
        }
        if unknown:
            raise tpl.TemplateError(f"{mr.FUNCTIONS_FILE.name}: function {fn.name}.permissions: {sorted(unknown)} have no IAM statements in workflows/movie_aws.py")  # fmt: skip
        resources[f"{lid}Role"] = _role(
            f"Execution role of the {fn.name} Lambda.", "lambda.amazonaws.com", f"{fn.module}-lambda",
            statements, skip=[("CKV_AWS_111", "X-Ray actions do not support resource-level permissions.")],
        )  # fmt: skip
        resources[log_group] = {
            "Type": "AWS::Logs::LogGroup",
            "Metadata": _checkov_skip([LOGS_CMK_SKIP]),
            "Properties": {"LogGroupName": f"/aws/lambda/{fn.name}", "RetentionInDays": ref("LogRetentionInDays")},
        }  # fmt: skip
        resources[f"{lid}Function"] = {
            "Type": "AWS::Lambda::Function",
            "DependsOn": [log_group],
            "Metadata": _checkov_skip(LAMBDA_CHECKOV_SKIPS),
            "Properties": {
                "FunctionName": fn.name,
                "Description": fn.description,
                "Runtime": fn.runtime,
                "Architectures": ["x86_64"],
                "Handler": fn.handler,
                "Timeout": fn.timeout,
                "MemorySize": fn.memory,
                "Role": get_att(f"{lid}Role", "Arn"),
                "Code": tpl.LAMBDA_PACKAGE_RELATIVE,
                "TracingConfig": {"Mode": "Active"},
                "Environment": {"Variables": dict(fn.environment)},
            },
        }
    return resources


def _state_machine_role(
    settings: Mapping[str, Any], functions: Sequence[FunctionSpec]
) -> dict[str, Any]:
    g = settings["glue"]
    lambda_arns: list[Any] = []
    for fn in functions:
        lid = _logical(fn.module)
        lambda_arns += [get_att(f"{lid}Function", "Arn"), sub(f"${{{lid}Function.Arn}}:*")]
    resources = tpl._state_machine_role([])
    statements = tpl.role_statements(resources, "StateMachineRole")
    keep = {
        "Models",
        "EndpointConfigs",
        "Endpoints",
        "PassSageMakerRole",
        "SyncIntegrationRules",
        "ExecutionLogs",
        "Tracing",
        "TrainingJobs",
        "TagSageMakerResources",
    }
    statements[:] = [s for s in statements if s["Sid"] in keep]
    statements += [
        _statement("InvokeWorkflowLambdas", ["lambda:InvokeFunction"], lambda_arns),
        _statement("Crawl", ["glue:StartCrawler", "glue:GetCrawler"], [_arn("glue", f"crawler/{g['crawler']}")]),
        _statement("RunGlueJobs", ["glue:StartJobRun", "glue:GetJobRun", "glue:GetJobRuns", "glue:BatchStopJobRun"], [_arn("glue", f"job/{g['etl_job']}"), _arn("glue", f"job/{g['load_job']}")]),
        _statement("Query", ["athena:StartQueryExecution", "athena:GetQueryExecution", "athena:GetQueryResults", "athena:StopQueryExecution"], [_arn("athena", "workgroup/primary")]),
        _statement("QueryCatalog", ["glue:GetDatabase", "glue:GetTable", "glue:GetPartitions"], [_arn("glue", "catalog"), _arn("glue", f"database/{g['database']}"), _arn("glue", f"table/{g['database']}/*")]),
        _statement("QueryLake", ["s3:GetBucketLocation", "s3:ListBucket"], [get_att("DataBucket", "Arn")]),
        _statement("QueryLakeObjects", ["s3:GetObject", "s3:PutObject"], [sub("${DataBucket.Arn}/*")]),
    ]  # fmt: skip
    return resources


def render(settings: Mapping[str, Any]) -> dict[str, Any]:
    functions = load_functions(mr.FUNCTIONS_FILE)
    text, substitutions = definition_text(settings)
    resources: dict[str, Any] = {}
    resources.update(tpl._bucket_resources())
    resources.update(_tables(settings))
    resources.update(_stream(settings))
    resources.update(_glue(settings))
    resources.update(_sagemaker_role())
    resources.update(_lambdas(settings, functions))
    resources.update(_state_machine_role(settings, functions))
    resources.update(tpl._state_machine_resources(text, substitutions))
    outputs = {
        "StateMachineArn": {"Description": "Start executions here.", "Value": ref("StateMachine")},
        "LakeBucketName": {"Description": "Upload build/movie-recommender/ here.", "Value": ref("DataBucket")},
        "SageMakerExecutionRoleArn": {"Value": get_att("SageMakerExecutionRole", "Arn")},
        "RatingsStreamName": {"Value": ref("RatingsStream")},
        "RatingsDeliveryStreamName": {"Value": ref("RatingsDelivery")},
        "GlueDatabaseName": {"Value": ref("LakeDatabase")},
    }  # fmt: skip
    for fn in functions:
        outputs[f"{_logical(fn.module)}FunctionName"] = {
            "Value": ref(f"{_logical(fn.module)}Function")
        }
    return {
        "AWSTemplateFormatVersion": "2010-09-09",
        "Description": DESCRIPTION,
        "Parameters": {
            "ProjectName": {
                "Type": "String",
                "Default": settings["name"],
                "AllowedPattern": "^[a-z][a-z0-9-]{2,29}$",
                "Description": "Prefix of the bucket, log group and state machine names; SageMaker job, model and endpoint names in the execution input start with it.",
            },
            "FirehoseBufferSeconds": {
                "Type": "Number",
                "Default": "60",
                "MinValue": "0",
                "MaxValue": "900",
                "Description": "Firehose buffering interval: how long the drain step may wait for the last records.",
            },
            "LogRetentionInDays": {
                "Type": "Number",
                "Default": "30",
                "AllowedValues": ["1", "3", "5", "7", "14", "30", "60", "90", "180", "365"],
                "Description": "Retention of the state machine's and the Lambdas' log groups.",
            },
        },
        "Resources": resources,
        "Outputs": outputs,
    }  # fmt: skip


def build(
    settings: Mapping[str, Any],
    *,
    template_path: Path = CFN_TEMPLATE,
    out_dir: Path = BUILD_DIR,
    package_path: Path = PACKAGE,
) -> list[Path]:
    """The template, the Lambda package and what the stack's bucket needs (see the docstring)."""
    from workflows.movie_local import source_archive

    template_path.parent.mkdir(parents=True, exist_ok=True)
    template_path.write_text(tpl.dump_template(render(settings)), encoding="utf-8")
    code = out_dir / settings["lake"]["code_prefix"]
    code.mkdir(parents=True, exist_ok=True)
    (code / "sourcedir.tar.gz").write_bytes(source_archive())
    for script in (mr.ETL_SCRIPT, mr.LOAD_SCRIPT):
        (code / script).write_bytes((mr.JOB_DIR / script).read_bytes())
    dms = out_dir / settings["lake"]["dms_prefix"]
    dms.mkdir(parents=True, exist_ok=True)
    (dms / "table-mappings.json").write_text(json.dumps(mr.mapping_document(settings), indent=2))
    package = build_lambda_package(package_path)
    return [
        template_path,
        code / "sourcedir.tar.gz",
        code / mr.ETL_SCRIPT,
        code / mr.LOAD_SCRIPT,
        dms / "table-mappings.json",
        package,
    ]
