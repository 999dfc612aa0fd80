"""The AWS side of the CLI: render the stack, package and deploy it, run the workflow there.

* ``build --target aws`` -> :func:`build` renders ``cfn/template.yaml`` from the builder's
  definition and ``lambdas/functions.yaml``, and writes the Lambda package next to it
  (``build/aws/lambda.zip``) for ``aws cloudformation package``.
* ``deploy`` -> :func:`deploy_stack` does what ``package`` + ``deploy`` do with boto3: uploads
  the package to a deployment bucket, then creates or updates the stack and waits for it;
  ``deploy --sdk`` -> :func:`deploy_state_machine` creates or updates only the state machine
  through the Data Science SDK's ``Workflow.create()`` / ``update()``, with the roles,
  bucket and table of an existing stack.
* The stack holds the variant ``featurizer.mode`` selects (``--featurizer``); for the
  pipeline variant ``deploy`` and ``execute`` upload the featurizer's script to the stack's
  bucket (:func:`upload_featurizer`).
* ``execute --target aws`` -> :func:`execute` uploads the raw data, starts an execution with
  :func:`workflows.predictive_maintenance.example_input` and follows it through
  :class:`workflows.target.AwsTarget` (the CLI's own start / follow / summary path).
* ``deploy hotel-clusters`` / ``execute hotel-clusters --target aws``: the same through
  :mod:`workflows.hotel_clusters.aws_deploy` (every stack deploys by :func:`deploy_template`).

Credentials and region come from boto3's standard chain (environment, profile, instance
role); ``--region`` / ``--profile`` pick among them.  Nothing is written but the template,
the package and what is uploaded to the user's own buckets.

``workflows/cli.py`` calls :func:`add_commands` (which registers ``deploy`` and ``execute``)
and :func:`cmd_build` for ``build --target aws``; each ``cmd_*`` takes the parsed arguments
and returns the exit code.
"""

from __future__ import annotations

import argparse
import hashlib
import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from localaws.errors import UserError
from workflows import aws_template as tpl
from workflows import aws_template_pipeline as pipeline_stack
from workflows.errors import AwsCredentialsError, DeployError, ExitCode
from workflows.functions import build_lambda_package
from workflows.settings import FEATURIZER_MODES, Settings
from workflows.target import AwsTarget, ProgressLines, aws_session, new_run_id, summary_lines

REPO_ROOT = Path(__file__).resolve().parent.parent
CFN_TEMPLATE = REPO_ROOT / "cfn" / "template.yaml"
BUILD_DIR = REPO_ROOT / "build" / "aws"
LAMBDAS_DIR = REPO_ROOT / "lambdas"

# CloudFormation accepts a TemplateBody up to this size; beyond it, a TemplateURL in S3.
TEMPLATE_BODY_LIMIT = 51_200
STACK_CAPABILITIES = ["CAPABILITY_IAM"]

Printer = Callable[[str], None]


@dataclass(frozen=True)
class BuildResult:
    template: Path
    package: Path
    example_input: Path


# --- rendering ------------------------------------------------------------------------------


# The stack's state machine is the variant ``featurizer.mode`` selects, as locally: the
# inference pipeline (the default) or the Lambda-featurised one.  The HTTP API, the web page's
# bucket, the processing jobs' role and the schedule are in the stack either way.


def sentinel_settings(settings: Settings) -> Settings:
    """The settings the template's definition is built with (see :mod:`workflows.aws_template`)."""
    return settings.replace(
        **{
            "data.bucket": tpl.SENTINEL_BUCKET,
            "roles.sagemaker": tpl.SENTINEL_SAGEMAKER_ROLE,
            "prediction.table": tpl.SENTINEL_TABLE,
            "training.instance_type": tpl.SENTINEL_TRAINING_INSTANCE,
            "transform.instance_type": tpl.SENTINEL_TRANSFORM_INSTANCE,
            "endpoint.instance_type": tpl.SENTINEL_ENDPOINT_INSTANCE,
        }
    )


def lambda_specs() -> list[tpl.LambdaSpec]:
    """The Lambda functions of ``lambdas/functions.yaml``, as the template needs them."""
    from workflows.functions import load_functions

    return [
        tpl.LambdaSpec(
            role=fn.module,
            name=fn.name,
            handler=fn.handler,
            timeout=fn.timeout,
            memory=fn.memory,
            environment=dict(fn.environment),
            description=fn.description,
            runtime=fn.runtime,
            pandas=fn.pandas,
            permissions=tuple(fn.permissions),
        )
        for fn in load_functions()
    ]


def framework_images(framework: str, version: str) -> dict[str, str]:
    """Region -> the SDK's ``framework`` image URI of ``version`` (``xgboost``: the built-in
    algorithm; ``sklearn``: the featurizer's processing job), from its offline image table."""
    from workflows import sdk

    regions = sdk.sagemaker.image_uris.config_for_framework(framework)["training"]["versions"][
        version
    ]["registries"]
    return {
        r: sdk.sagemaker.image_uris.retrieve(framework, r, version=version) for r in sorted(regions)
    }


def xgboost_images(version: str) -> dict[str, str]:
    return framework_images("xgboost", version)


def sklearn_images(version: str) -> dict[str, str]:
    return framework_images("sklearn", version)


def monitor_images() -> dict[str, str]:
    """Region -> Model Monitor's analyzer image URI, from the SageMaker SDK's offline table."""
    from workflows import sdk

    regions = sdk.sagemaker.image_uris.config_for_framework("model-monitor")["versions"][""][
        "registries"
    ]
    return {r: sdk.sagemaker.image_uris.retrieve("model-monitor", r) for r in sorted(regions)}


def render(settings: Settings, functions: Sequence[tpl.LambdaSpec] | None = None) -> dict[str, Any]:
    """The CloudFormation template (a dict) for these settings' workflow."""
    from workflows import predictive_maintenance as pm
    from workflows import predictive_maintenance_pipeline as pipeline
    from workflows import sdk

    functions = lambda_specs() if functions is None else functions
    version = settings.training.xgboost_version
    monitor = monitor_images()
    more_images: list[tpl.RegionImages] = []
    if pm.pipeline_mode(settings):
        used = pipeline.images(sdk, settings)
        more_images = [
            tpl.RegionImages(
                "SKLearn", used["sklearn"], sklearn_images(settings.featurizer.sklearn_version)
            ),
            tpl.RegionImages("Monitor", used["monitor"], monitor),
        ]
    template = tpl.render_template(
        pm.definition(sentinel_settings(settings)),
        functions,
        project_name=settings.name,
        images=xgboost_images(version),
        image_uri=sdk.sagemaker.image_uris.retrieve("xgboost", settings.region, version=version),
        more_images=more_images,
        defaults=stack_parameters(settings),
    )
    pipeline_stack.add_to(template, settings, monitor)
    if pm.pipeline_mode(settings):
        pipeline_stack.add_definition_grants(template, settings)
    return template


def build(
    settings: Settings, *, template_path: Path = CFN_TEMPLATE, out_dir: Path = BUILD_DIR
) -> BuildResult:
    """``build --target aws``: the template, the Lambda package and an example input."""
    from workflows import predictive_maintenance as pm

    template_path.parent.mkdir(parents=True, exist_ok=True)
    template_path.write_text(tpl.dump_template(render(settings)), encoding="utf-8")
    package = build_lambda_package(out_dir / "lambda.zip")
    example = out_dir / "example-input.json"
    example.write_text(
        json.dumps(pm.example_input(settings, "example"), indent=2) + "\n",
        encoding="utf-8",
    )
    return BuildResult(template=template_path, package=package, example_input=example)


# --- deploying ------------------------------------------------------------------------------


def boto_session(region: str | None = None, profile: str | None = None) -> Any:
    return aws_session(region, profile)


def _region(session: Any) -> str:
    if not session.region_name:
        raise AwsCredentialsError(
            "no AWS region: pass --region, or set AWS_DEFAULT_REGION / a profile's region"
        )
    return str(session.region_name)


def default_code_bucket(session: Any, project_name: str) -> str:
    account = session.client("sts").get_caller_identity()["Account"]
    return f"{project_name}-deploy-{account}-{_region(session)}"


def ensure_bucket(s3: Any, bucket: str, region: str) -> None:
    """Create the deployment bucket (private, encrypted, TLS only) unless it is there."""
    existing = {b["Name"] for b in s3.list_buckets().get("Buckets", [])}
    if bucket in existing:
        return
    kwargs: dict[str, Any] = {"Bucket": bucket}
    if region != "us-east-1":
        kwargs["CreateBucketConfiguration"] = {"LocationConstraint": region}
    s3.create_bucket(**kwargs)
    s3.put_public_access_block(
        Bucket=bucket,
        PublicAccessBlockConfiguration={
            "BlockPublicAcls": True,
            "IgnorePublicAcls": True,
            "BlockPublicPolicy": True,
            "RestrictPublicBuckets": True,
        },
    )
    s3.put_bucket_encryption(
        Bucket=bucket,
        ServerSideEncryptionConfiguration={
            "Rules": [{"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"}}]
        },
    )
    s3.put_bucket_policy(
        Bucket=bucket,
        Policy=json.dumps(
            {
                "Version": "2012-10-17",
                "Statement": [
                    {
                        "Sid": "DenyInsecureTransport",
                        "Effect": "Deny",
                        "Principal": "*",
                        "Action": "s3:*",
                        "Resource": [f"arn:aws:s3:::{bucket}", f"arn:aws:s3:::{bucket}/*"],
                        "Condition": {"Bool": {"aws:SecureTransport": "false"}},
                    }
                ],
            }
        ),
    )


def with_code_location(template: Mapping[str, Any], bucket: str, key: str) -> dict[str, Any]:
    """The template as ``aws cloudformation package`` leaves it: Lambda code in S3."""
    packaged = json.loads(json.dumps(template))
    for resource in packaged["Resources"].values():
        if resource["Type"] == "AWS::Lambda::Function":
            resource["Properties"]["Code"] = {"S3Bucket": bucket, "S3Key": key}
    return packaged


def stack_parameters(
    settings: Settings, overrides: Mapping[str, str] | None = None
) -> dict[str, str]:
    """The stack's parameters from the settings; ``overrides`` (``--parameter K=V``) win."""
    params = {
        "ProjectName": settings.name,
        "TrainingInstanceType": settings.training.instance_type,
        "TransformInstanceType": settings.transform.instance_type,
        "EndpointInstanceType": settings.endpoint.instance_type,
        "MetricThreshold": str(settings.evaluation.threshold),
    }
    params.update(overrides or {})
    return params


def find_stack(cfn: Any, stack_name: str) -> dict[str, Any] | None:
    """The live stack of that name (any status but DELETE_COMPLETE), or None."""
    for page in cfn.get_paginator("list_stacks").paginate():
        for summary in page["StackSummaries"]:
            if summary["StackName"] == stack_name and summary["StackStatus"] != "DELETE_COMPLETE":
                return summary
    return None


def stack_outputs(cfn: Any, stack_name: str) -> dict[str, str]:
    if find_stack(cfn, stack_name) is None:
        raise UserError(
            f"--stack-name {stack_name}: no such stack in this region; run `python -m workflows deploy` first"
        )
    stack = cfn.describe_stacks(StackName=stack_name)["Stacks"][0]
    return {o["OutputKey"]: o["OutputValue"] for o in stack.get("Outputs", [])}


def deploy_stack(
    session: Any,
    settings: Settings,
    *,
    stack_name: str,
    code_bucket: str | None = None,
    parameters: Mapping[str, str] | None = None,
    out: Printer = print,
    waiter_delay: int = 10,
) -> dict[str, str]:
    """Package, upload, then create or update the stack and wait; then publish the
    technicians' page to its web bucket (:func:`publish_web_page`); returns the stack's outputs."""
    from workflows import predictive_maintenance as pm

    outputs = deploy_template(
        session,
        render(settings),
        stack_name=stack_name,
        project_name=settings.name,
        parameters=stack_parameters(settings, parameters),
        code_bucket=code_bucket,
        out=out,
        waiter_delay=waiter_delay,
    )
    publish_web_page(session.client("s3"), outputs, out=out)
    if pm.pipeline_mode(settings):
        upload_featurizer(session.client("s3"), aws_settings(settings, outputs), out=out)
    return outputs


def upload_featurizer(s3: Any, aws: Settings, *, out: Printer = print) -> str:
    """Put the featurizer job's script where the pipeline definition's FeaturizeData state
    reads it (``pipeline.code_uri``, in the stack's bucket), as ``run`` does locally; returns
    its URI."""
    from workflows import predictive_maintenance_pipeline as pipeline

    uri = pipeline.code_uri(aws)
    bucket, key = _split_s3(uri)
    s3.put_object(Bucket=bucket, Key=key, Body=pipeline.FEATURIZER_SCRIPT.read_bytes())
    out(f"uploaded the featurizer script to {uri}")
    return uri


# Content types of the page's files, by suffix (S3 serves what it was given).
WEB_CONTENT_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".svg": "image/svg+xml",
    ".png": "image/png",
}


def publish_web_page(s3: Any, outputs: Mapping[str, str], *, out: Printer = print) -> list[str]:
    """Upload ``web/predictive-maintenance/`` to the stack's ``WebBucketName`` under
    ``predictive-maintenance/``, with a ``config.js`` naming the stack's ``HttpApiUrl``, as
    ``run`` publishes it locally; returns the keys written."""
    from workflows import http_api

    bucket, api_url = outputs["WebBucketName"], outputs["HttpApiUrl"]
    prefix = f"{http_api.WEB_SITE}/"
    files = {
        path.relative_to(http_api.WEB_PAGE).as_posix(): path.read_bytes()
        for path in sorted(http_api.WEB_PAGE.rglob("*"))
        if path.is_file()
    }
    files["config.js"] = f"window.PREDICT_URL = {json.dumps(api_url)};\n".encode()
    for name in files:  # all checked before anything is uploaded
        suffix = Path(name).suffix
        if suffix not in WEB_CONTENT_TYPES:
            raise UserError(
                f"{http_api.WEB_PAGE / name}: no content type for {suffix or 'no suffix'!r}; "
                f"the page may hold {', '.join(sorted(WEB_CONTENT_TYPES))} files"
            )
    keys = []
    for name, body in files.items():
        content_type = WEB_CONTENT_TYPES[Path(name).suffix]
        s3.put_object(Bucket=bucket, Key=prefix + name, Body=body, ContentType=content_type)
        keys.append(prefix + name)
    out(f"published the technicians' page to s3://{bucket}/{prefix} (API: {api_url})")
    return keys


def deploy_template(
    session: Any,
    template: Mapping[str, Any],
    *,
    stack_name: str,
    project_name: str,
    parameters: Mapping[str, str],
    code_bucket: str | None = None,
    out: Printer = print,
    waiter_delay: int = 10,
) -> dict[str, str]:
    """Any use case's stack: the Lambda package uploaded to the code bucket (default
    ``<project>-deploy-<account>-<region>``), then the stack created or updated with
    ``parameters`` and waited for; returns its outputs."""
    from botocore.exceptions import ClientError, WaiterError

    region = _region(session)
    cfn, s3 = session.client("cloudformation"), session.client("s3")
    package = build_lambda_package(BUILD_DIR / "lambda.zip")
    digest = hashlib.sha256(package.read_bytes()).hexdigest()
    bucket = code_bucket or default_code_bucket(session, project_name)
    ensure_bucket(s3, bucket, region)
    code_key = f"{stack_name}/lambda-{digest[:20]}.zip"
    s3.put_object(Bucket=bucket, Key=code_key, Body=package.read_bytes())
    out(f"uploaded the Lambda package to s3://{bucket}/{code_key}")

    body = tpl.dump_template(with_code_location(template, bucket, code_key))
    request: dict[str, Any] = {
        "StackName": stack_name,
        "Parameters": [{"ParameterKey": k, "ParameterValue": v} for k, v in parameters.items()],
        "Capabilities": STACK_CAPABILITIES,
        "Tags": [{"Key": "project", "Value": project_name}],
    }
    if len(body.encode()) > TEMPLATE_BODY_LIMIT:
        template_key = (
            f"{stack_name}/template-{hashlib.sha256(body.encode()).hexdigest()[:20]}.yaml"
        )
        s3.put_object(Bucket=bucket, Key=template_key, Body=body.encode())
        request["TemplateURL"] = f"https://{bucket}.s3.{region}.amazonaws.com/{template_key}"
    else:
        request["TemplateBody"] = body

    existing = find_stack(cfn, stack_name)
    waiter_config = {"Delay": waiter_delay, "MaxAttempts": 360}
    try:
        if existing is None:
            out(f"creating stack {stack_name} in {region} ...")
            cfn.create_stack(**request, OnFailure="ROLLBACK")
            cfn.get_waiter("stack_create_complete").wait(
                StackName=stack_name, WaiterConfig=waiter_config
            )
        elif existing["StackStatus"] == "ROLLBACK_COMPLETE":
            raise UserError(
                f"stack {stack_name} is in ROLLBACK_COMPLETE (its creation failed) and cannot be "
                f"updated; delete it (aws cloudformation delete-stack --stack-name {stack_name}) "
                "and deploy again"
            )
        else:
            out(f"updating stack {stack_name} in {region} ...")
            try:
                cfn.update_stack(**request)
            except ClientError as e:
                # CloudFormation reports "nothing to change" only as a ValidationError whose
                # message says so; there is no dedicated code to test instead.
                error = e.response.get("Error", {})
                if error.get(
                    "Code"
                ) == "ValidationError" and "No updates are to be performed" in error.get(
                    "Message", ""
                ):
                    out("stack is up to date: no updates are to be performed")
                else:
                    raise
            else:
                cfn.get_waiter("stack_update_complete").wait(
                    StackName=stack_name, WaiterConfig=waiter_config
                )
    except WaiterError as e:
        raise DeployError(f"stack {stack_name}: {_failure_reasons(cfn, stack_name)}") from e
    outputs = stack_outputs(cfn, stack_name)
    for key, value in sorted(outputs.items()):
        out(f"  {key}: {value}")
    return outputs


def _failure_reasons(cfn: Any, stack_name: str) -> str:
    events = cfn.describe_stack_events(StackName=stack_name)["StackEvents"]
    reasons = [
        f"{e['LogicalResourceId']} {e['ResourceStatus']}: {e.get('ResourceStatusReason', '')}"
        for e in events
        if e["ResourceStatus"].endswith("FAILED")
    ]
    return "; ".join(reasons[:5]) or "the stack did not reach a COMPLETE status; see its events"


def aws_settings(settings: Settings, outputs: Mapping[str, str]) -> Settings:
    """The settings with the stack's bucket, roles, table and name prefix."""
    prefix = outputs["NamePrefix"].rstrip("-")
    aws = settings.replace(
        **{
            "name": prefix,
            "data.bucket": outputs["DataBucketName"],
            "roles.sagemaker": outputs["SageMakerExecutionRoleArn"],
            "roles.state_machine": outputs["StateMachineRoleArn"],
            "prediction.table": outputs["PredictionsTableName"],
        }
    )
    if not aws.endpoint.name.startswith(prefix):
        raise UserError(
            f"endpoint.name: {aws.endpoint.name!r} must start with the stack's ProjectName "
            f"{prefix!r}: the state machine's role may only manage endpoints named so"
        )
    return aws


def deploy_state_machine(
    session: Any, settings: Settings, *, stack_name: str, out: Printer = print
) -> str:
    """``deploy --sdk``: create or update only the state machine, through the SDK."""
    from workflows import predictive_maintenance as pm

    sfn = session.client("stepfunctions")
    outputs = stack_outputs(session.client("cloudformation"), stack_name)
    aws = aws_settings(settings.replace(region=_region(session)), outputs)
    stack_functions = {
        outputs[key]
        for key in outputs
        if key.endswith("FunctionName") and key != "StateMachineName"
    }
    workflow = pm.build_workflow(aws, client=sfn)
    wanted = {
        state["Parameters"]["FunctionName"]
        for _, state in tpl.task_states(json.loads(workflow.definition.to_json()))
        if state.get("Resource") == tpl.LAMBDA_INVOKE
    }
    missing = sorted(wanted - stack_functions)
    if missing:
        raise UserError(
            f"deploy --sdk: the definition invokes {', '.join(missing)}, which stack {stack_name} "
            f"does not have (it has {', '.join(sorted(stack_functions))}); deploy the stack with "
            "ProjectName equal to the `name` setting, or deploy without --sdk"
        )
    arn = _state_machine_arn(sfn, workflow.name)
    if arn is None:
        arn = workflow.create()
        out(f"created state machine {arn}")
    else:
        workflow.state_machine_arn = arn
        workflow.update(definition=workflow.definition, role=workflow.role)
        out(f"updated state machine {arn}")
    if pm.pipeline_mode(aws):
        upload_featurizer(session.client("s3"), aws, out=out)
    return str(arn)


def _state_machine_arn(sfn: Any, name: str) -> str | None:
    for page in sfn.get_paginator("list_state_machines").paginate():
        for machine in page["stateMachines"]:
            if machine["name"] == name:
                return str(machine["stateMachineArn"])
    return None


# --- executing ------------------------------------------------------------------------------


def _split_s3(uri: str) -> tuple[str, str]:
    bucket, _, key = uri.removeprefix("s3://").partition("/")
    return bucket, key


def execute(
    session: Any,
    settings: Settings,
    *,
    stack_name: str,
    run_id: str | None = None,
    data: Path | None = None,
    follow: bool = True,
    timeout: float | None = None,
    poll_seconds: float = 5.0,
    out: Printer = print,
) -> ExitCode:
    """Start an execution on the stack's state machine and follow it; returns the exit code."""
    from workflows import ai4i_data
    from workflows import predictive_maintenance as pm

    target = AwsTarget(session)
    cfn, s3 = target.client("cloudformation"), target.client("s3")
    outputs = stack_outputs(cfn, stack_name)
    aws = aws_settings(settings.replace(region=target.region), outputs)
    run_id = run_id or new_run_id()
    endpoint_exists = bool(
        [
            e
            for e in target.sagemaker.list_endpoints(NameContains=aws.endpoint.name)["Endpoints"]
            if e["EndpointName"] == aws.endpoint.name
        ]
    )
    execution_input = pm.example_input(aws, run_id, endpoint_exists=endpoint_exists)

    bucket, prefix = _split_s3(execution_input["RawDataUri"])
    if data is not None:
        key = prefix + data.name
        s3.upload_file(str(data), bucket, key)
        out(f"uploaded {data} to s3://{bucket}/{key}")
    elif not s3.list_objects_v2(Bucket=bucket, Prefix=prefix, MaxKeys=1).get("KeyCount"):
        frame = ai4i_data.generate(aws.data.rows, aws.data.seed)
        key = prefix + "ai4i2020.csv"
        s3.put_object(Bucket=bucket, Key=key, Body=frame.to_csv(index=False).encode())
        out(f"uploaded {aws.data.rows} generated rows to s3://{bucket}/{key}")

    if pm.pipeline_mode(aws):  # the script of this checkout, whatever the last deploy uploaded
        upload_featurizer(s3, aws, out=out)
    arn = target.start(outputs["StateMachineArn"], execution_input, name=run_id)
    out(f"started execution {arn}")
    if not follow:
        return ExitCode.OK
    view = target.follow(arn, ProgressLines(out), poll_seconds=poll_seconds, timeout=timeout)
    for line in summary_lines(view, timeout=timeout):
        out(line)
    return view.exit_code


# --- the command line -----------------------------------------------------------------------


HOTEL_CLUSTERS = "hotel-clusters"
# The use cases `deploy` and `execute --target aws` take (the first is the default).
DEPLOYABLE = ("predictive-maintenance", HOTEL_CLUSTERS)


def add_target_arguments(parser: argparse.ArgumentParser) -> None:
    """Options that ``build``/``execute``/``deploy`` take for the AWS target."""
    group = parser.add_argument_group("AWS (standard credential chain)")
    group.add_argument("--region", help="AWS region (default: the credential chain's)")
    group.add_argument("--profile", help="named profile from ~/.aws/config")
    group.add_argument("--stack-name", help="CloudFormation stack (default: the `name` setting)")
    group.add_argument(
        "--featurizer",
        choices=FEATURIZER_MODES,
        help="predictive-maintenance: the variant the stack's state machine holds and execute "
        "starts (default: featurizer.mode, pipeline unless your config changes it)",
    )


def add_commands(subparsers: Any, common: argparse.ArgumentParser | None = None) -> None:
    """Register ``deploy`` and ``execute`` on the CLI's subparsers (``common``: shared options)."""
    parents = [common] if common is not None else []
    deploy = subparsers.add_parser(
        "deploy",
        parents=parents,
        help="package the Lambdas, upload them and create or update the CloudFormation stack",
        description="Create or update the stack of cfn/template.yaml (or, with --sdk, only the "
        "state machine). Credentials and region come from the standard AWS chain.",
    )
    deploy.add_argument(
        "workflow", nargs="?", choices=DEPLOYABLE, default=DEPLOYABLE[0], help="which use case"
    )
    add_target_arguments(deploy)
    deploy.add_argument(
        "--sdk",
        action="store_true",
        help="create or update only the state machine through the Data Science SDK, with an "
        "existing stack's roles, bucket and table",
    )
    deploy.add_argument(
        "--code-bucket",
        help="bucket for the Lambda package (default: <name>-deploy-<account>-<region>, created if missing)",
    )
    deploy.add_argument(
        "--parameter",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override a stack parameter (repeatable), e.g. EndpointInstanceType=ml.m5.large",
    )
    deploy.set_defaults(func=cmd_deploy)

    execute_parser = subparsers.add_parser(
        "execute",
        parents=parents,
        help="start an execution of the deployed state machine and follow it",
    )
    execute_parser.add_argument(
        "workflow", nargs="?", choices=DEPLOYABLE, default=DEPLOYABLE[0], help="which use case"
    )
    execute_parser.add_argument("--target", choices=("aws",), default="aws")
    add_target_arguments(execute_parser)
    execute_parser.add_argument(
        "--data",
        help="raw AI4I CSV to upload (default: generated data when the raw prefix is empty); "
        "hotel-clusters: a directory holding train.csv and destinations.csv (default: "
        "generated rows)",
    )
    execute_parser.add_argument("--run-id", help="run id (default: timestamp + random suffix)")
    execute_parser.add_argument(
        "--timeout",
        type=float,
        help=f"stop following after this many seconds (exit {int(ExitCode.STILL_RUNNING)})",
    )
    execute_parser.add_argument("--no-follow", action="store_true", help="start it and return")
    execute_parser.set_defaults(func=cmd_execute)


def _parse_parameters(items: Sequence[str]) -> dict[str, str]:
    params = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise UserError(
                f"--parameter {item!r}: use KEY=VALUE, e.g. EndpointInstanceType=ml.m5.large"
            )
        params[key] = value
    return params


def _load_settings(args: argparse.Namespace) -> Settings:
    from workflows import settings as settings_module

    return settings_module.load(
        getattr(args, "config", None),
        overrides={"featurizer.mode": getattr(args, "featurizer", None)},
    )


def cmd_build(args: argparse.Namespace, out: Printer = print) -> int:
    """``build --target aws``: cfn/template.yaml, build/aws/lambda.zip, an example input."""
    settings = _load_settings(args)
    if getattr(args, "region", None):
        settings = settings.replace(region=args.region)
    result = build(settings)
    out(f"template: {result.template}")
    out(f"Lambda package: {result.package}")
    out(f"example input: {result.example_input}")
    return ExitCode.OK


def cmd_deploy(args: argparse.Namespace, out: Printer = print) -> int:
    """``deploy`` / ``deploy --sdk`` / ``deploy hotel-clusters``."""
    if getattr(args, "workflow", DEPLOYABLE[0]) == HOTEL_CLUSTERS:
        return _deploy_hotel_clusters(args, out)
    settings = _load_settings(args)
    session = boto_session(args.region, args.profile)
    stack_name = args.stack_name or settings.name
    if args.sdk:
        deploy_state_machine(session, settings, stack_name=stack_name, out=out)
        return ExitCode.OK
    deploy_stack(
        session,
        settings.replace(region=_region(session)),
        stack_name=stack_name,
        code_bucket=args.code_bucket,
        parameters=_parse_parameters(args.parameter),
        out=out,
    )
    return ExitCode.OK


def cmd_execute(args: argparse.Namespace, out: Printer = print) -> int:
    """``execute [hotel-clusters] --target aws``; exits as :class:`workflows.errors.ExitCode` says."""
    if getattr(args, "workflow", DEPLOYABLE[0]) == HOTEL_CLUSTERS:
        return _execute_hotel_clusters(args, out)
    settings = _load_settings(args)
    session = boto_session(getattr(args, "region", None), getattr(args, "profile", None))
    data = getattr(args, "data", None)
    return execute(
        session,
        settings,
        stack_name=getattr(args, "stack_name", None) or settings.name,
        data=Path(data) if data else None,
        run_id=getattr(args, "run_id", None),
        follow=not getattr(args, "no_follow", False),
        timeout=getattr(args, "timeout", None),
        out=out,
    )


def _deploy_hotel_clusters(args: argparse.Namespace, out: Printer) -> int:
    from workflows.hotel_clusters import aws_deploy
    from workflows.hotel_clusters import workflow as wf

    if getattr(args, "sdk", False):
        raise UserError(
            "deploy hotel-clusters --sdk: the hotel-cluster stack is deployed whole; drop --sdk"
        )
    settings = wf.load_settings(getattr(args, "config", None))
    aws_deploy.deploy(
        boto_session(args.region, args.profile),
        settings,
        stack_name=args.stack_name or wf.NAME,
        code_bucket=args.code_bucket,
        parameters=_parse_parameters(args.parameter),
        out=out,
    )
    return ExitCode.OK


def _execute_hotel_clusters(args: argparse.Namespace, out: Printer) -> int:
    from workflows.hotel_clusters import aws_deploy
    from workflows.hotel_clusters import workflow as wf

    if getattr(args, "no_follow", False):
        raise UserError(
            "execute hotel-clusters --no-follow: training starts from ingestion's result, so "
            "the command follows both executions; drop --no-follow (--timeout bounds the wait)"
        )
    data = getattr(args, "data", None)
    if data is not None and not Path(data).is_dir():
        raise UserError(
            f"--data {data}: no such directory; pass a directory holding train.csv and "
            "destinations.csv, or leave --data out to generate rows"
        )
    settings = wf.load_settings(getattr(args, "config", None))
    return aws_deploy.execute(
        boto_session(getattr(args, "region", None), getattr(args, "profile", None)),
        settings,
        stack_name=getattr(args, "stack_name", None) or wf.NAME,
        run_id=getattr(args, "run_id", None),
        data_dir=data,
        timeout=getattr(args, "timeout", None),
        out=out,
    )
