"""Deploy and run the many-models use case on a target (the local runtime, a local server).

:func:`deploy` creates what the CloudFormation stack creates on AWS, through the AWS APIs:
the bucket (EventBridge notifications on; inference uploads -> the split Lambda), the
processing scripts, the queue and its dead-letter queue, the predictions table, the two
Lambdas and the consumer's event source mapping (partial batch failures), the training and
fan-out state machines, and the retrain rule (an object created under the training prefix
-> StartExecution of the training workflow).  Every step creates or updates, so a second
deploy changes nothing it need not.

:func:`run` uploads the data and waits: by default the retrain rule starts one training
execution per uploaded file; with ``fan_out=True`` the rule is disabled during the upload
and the fan-out workflow trains every dimension instead.  Then it uploads one inference
file per dimension and waits until the table holds a row per line.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from localaws.errors import ServiceError, UserError
from workflows.many_models_settings import ManyModels
from workflows.target import TERMINAL, Target

FUNCTIONS_FILE = Path(__file__).resolve().parent.parent / "lambdas" / "many_models.yaml"
LAMBDA_ROLE = "arn:aws:iam::123456789012:role/many-models-lambda"
TABLE_KEY = "id"
Say = Callable[[str], None]


def clients(target: Target) -> Callable[[str], Any]:
    """boto3 clients of the target's AWS APIs (the runtime's private listener locally)."""
    from workflows.target import LocalTarget

    if isinstance(target, LocalTarget):
        import boto3

        rt = target.runtime
        session = boto3.Session(
            region_name=rt.region,
            aws_access_key_id=rt.credentials[0],
            aws_secret_access_key=rt.credentials[1],
        )
        url = rt.api_url()
        return lambda service: session.client(service, endpoint_url=url)
    client = getattr(target, "client", None)
    if client is None:
        raise UserError(f"target {target.kind}: has no boto3 clients")
    return client  # type: ignore[no-any-return]


@dataclass
class Deployed:
    training_arn: str
    fanout_arn: str
    queue_url: str
    dead_letter_url: str
    functions: dict[str, str] = field(default_factory=dict)


def deploy(
    target: Target, settings: ManyModels, *, trigger: bool = True, client: Any = None
) -> Deployed:
    from workflows import many_models as mm

    c = client or clients(target)
    s3, sqs, lam, ddb, events = (c(n) for n in ("s3", "sqs", "lambda", "dynamodb", "events"))
    d, inf = settings.data, settings.inference
    _ensure_bucket(s3, d.bucket)
    for name, body in mm.scripts().items():
        s3.put_object(Bucket=d.bucket, Key=f"{d.code_prefix}{name}", Body=body)

    dlq_url = sqs.create_queue(QueueName=inf.dead_letter_queue)["QueueUrl"]
    dlq_arn = _queue_arn(sqs, dlq_url)
    queue_url = sqs.create_queue(
        QueueName=inf.queue,
        Attributes={
            "VisibilityTimeout": str(inf.visibility_timeout_seconds),
            "RedrivePolicy": json.dumps(
                {"deadLetterTargetArn": dlq_arn, "maxReceiveCount": str(inf.max_receive_count)}
            ),
        },
    )["QueueUrl"]
    queue_arn = _queue_arn(sqs, queue_url)
    _ensure_table(ddb, inf.table)

    environments = {
        "churn-split": {
            "QUEUE_URL": queue_url,
            "INFERENCE_PREFIX": d.inference_prefix,
            "PROCESSED_PREFIX": d.processed_prefix,
        },
        "churn-score": {"TABLE": inf.table, "ENDPOINT_PREFIX": settings.name},
    }
    functions = _register_functions(lam, settings, environments)
    _ensure_mapping(lam, functions["churn-score"], queue_arn, inf.batch_size)

    training_arn = target.put_state_machine(
        settings.training_machine, mm.training_definition(settings), settings.roles.state_machine
    )
    fanout_arn = target.put_state_machine(
        settings.fanout_machine,
        mm.fanout_definition(settings, training_arn),
        settings.roles.state_machine,
    )
    s3.put_bucket_notification_configuration(
        Bucket=d.bucket,
        NotificationConfiguration={
            "LambdaFunctionConfigurations": [
                {
                    "Id": "inference-upload",
                    "LambdaFunctionArn": functions["churn-split"],
                    "Events": ["s3:ObjectCreated:*"],
                    "Filter": {
                        "Key": {
                            "FilterRules": [
                                {"Name": "prefix", "Value": d.inference_prefix},
                                {"Name": "suffix", "Value": ".csv"},
                            ]
                        }
                    },
                }
            ],
            "EventBridgeConfiguration": {},
        },
    )
    events.put_rule(
        Name=settings.retrain_rule,
        EventPattern=json.dumps(retrain_pattern(settings)),
        State="ENABLED" if trigger else "DISABLED",
        Description="Retrain a dimension when a CSV lands under its training prefix",
    )
    events.put_targets(
        Rule=settings.retrain_rule,
        Targets=[
            {
                "Id": "training-workflow",
                "Arn": training_arn,
                "RoleArn": settings.roles.events,
                "InputTransformer": {
                    "InputPathsMap": {
                        "bucket": "$.detail.bucket.name",
                        "key": "$.detail.object.key",
                    },
                    "InputTemplate": '{"bucket": <bucket>, "key": <key>}',
                },
            }
        ],
    )
    return Deployed(training_arn, fanout_arn, queue_url, dlq_url, functions)


def retrain_pattern(settings: ManyModels) -> dict[str, Any]:
    """EventBridge pattern: a .csv created under the training prefix of the bucket."""
    d = settings.data
    return {
        "source": ["aws.s3"],
        "detail-type": ["Object Created"],
        "detail": {
            "bucket": {"name": [d.bucket]},
            "object": {"key": [{"prefix": d.training_prefix}]},
        },
    }


def set_trigger(target: Target, settings: ManyModels, enabled: bool, *, client: Any = None) -> None:
    events = (client or clients(target))("events")
    if enabled:
        events.enable_rule(Name=settings.retrain_rule)
    else:
        events.disable_rule(Name=settings.retrain_rule)


def _ensure_bucket(s3: Any, bucket: str) -> None:
    from botocore.exceptions import ClientError

    try:
        s3.head_bucket(Bucket=bucket)
    except ClientError:
        s3.create_bucket(Bucket=bucket)


def _queue_arn(sqs: Any, url: str) -> str:
    attrs = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])
    return str(attrs["Attributes"]["QueueArn"])


def _ensure_table(ddb: Any, name: str) -> None:
    from botocore.exceptions import ClientError

    try:
        ddb.describe_table(TableName=name)
    except ClientError as e:
        if e.response["Error"]["Code"] != "ResourceNotFoundException":
            raise
        ddb.create_table(
            TableName=name,
            KeySchema=[{"AttributeName": TABLE_KEY, "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": TABLE_KEY, "AttributeType": "S"}],
            BillingMode="PAY_PER_REQUEST",
        )


def _register_functions(
    lam: Any, settings: ManyModels, environments: dict[str, dict[str, str]]
) -> dict[str, str]:
    from botocore.exceptions import ClientError

    from workflows.functions import load_functions
    from workflows.local import lambda_zip

    code = lambda_zip()
    arns = {}
    for spec in load_functions(FUNCTIONS_FILE):
        name = settings.function_name(spec.name)
        config: dict[str, Any] = {
            "Runtime": spec.runtime,
            "Role": LAMBDA_ROLE,
            "Handler": spec.handler,
            "Description": spec.description,
            "Timeout": spec.timeout,
            "MemorySize": spec.memory,
            "Environment": {"Variables": {**spec.environment, **environments.get(spec.name, {})}},
        }
        try:
            found = lam.get_function(FunctionName=name)
        except ClientError as e:
            if e.response["Error"]["Code"] != "ResourceNotFoundException":
                raise
            arns[spec.name] = lam.create_function(
                FunctionName=name, Code={"ZipFile": code}, **config
            )["FunctionArn"]
        else:
            lam.update_function_code(FunctionName=name, ZipFile=code)
            lam.update_function_configuration(FunctionName=name, **config)
            arns[spec.name] = found["Configuration"]["FunctionArn"]
    return arns


def _ensure_mapping(lam: Any, function_arn: str, queue_arn: str, batch_size: int) -> None:
    found = lam.list_event_source_mappings(EventSourceArn=queue_arn, FunctionName=function_arn)
    if found.get("EventSourceMappings"):
        return
    lam.create_event_source_mapping(
        EventSourceArn=queue_arn,
        FunctionName=function_arn,
        BatchSize=batch_size,
        FunctionResponseTypes=["ReportBatchItemFailures"],
        Enabled=True,
    )


# -- running ----------------------------------------------------------------------------------


@dataclass
class DimensionResult:
    dimension: str
    status: str = "PENDING"  # the training execution's status
    error: str | None = None
    accuracy: float | None = None
    auc: float | None = None
    endpoint: str = ""
    endpoint_status: str | None = None
    approved_versions: int = 0
    rows_sent: int = 0
    rows_scored: int = 0


@dataclass
class RunSummary:
    dimensions: list[DimensionResult]
    seconds: dict[str, float]
    fanout_execution: str | None = None
    dead_letters: int = 0

    @property
    def succeeded(self) -> bool:
        return (
            all(
                r.status == "SUCCEEDED"
                and r.endpoint_status == "InService"
                and r.rows_scored == r.rows_sent
                for r in self.dimensions
            )
            and self.dead_letters == 0
        )

    def as_dict(self) -> dict[str, Any]:
        return {
            "succeeded": self.succeeded,
            "dimensions": {r.dimension: asdict(r) for r in self.dimensions},
            "seconds": {k: round(v, 2) for k, v in self.seconds.items()},
            "fanout_execution": self.fanout_execution,
            "dead_letters": self.dead_letters,
        }


def run(
    target: Target,
    settings: ManyModels,
    *,
    data_dir: Path,
    fan_out: bool = False,
    timeout: float = 3600.0,
    say: Say = lambda _: None,
) -> RunSummary:
    """Deploy, upload ``data_dir``'s trees, wait for training, score the inference files."""
    from workflows import churn_data

    dimensions = churn_data.read_tree(data_dir)
    seconds: dict[str, float] = {}
    c = clients(target)
    t0 = time.perf_counter()
    say("deploying the buckets, queues, table, Lambdas, state machines and the retrain rule")
    deployed = deploy(target, settings, trigger=not fan_out, client=c)
    seconds["deploy"] = time.perf_counter() - t0

    t0 = time.perf_counter()
    started_after = datetime.now(UTC)
    say(f"uploading the training data of {len(dimensions)} dimensions")
    s3 = c("s3")
    for dim in dimensions:
        for path in dim.training:
            s3.put_object(
                Bucket=settings.data.bucket,
                Key=f"{settings.data.training_prefix}{dim.name}/{path.name}",
                Body=path.read_bytes(),
            )
    fanout_execution = None
    if fan_out:
        say("running the fan-out workflow")
        fanout_execution = target.start(deployed.fanout_arn, {})
        view = target.follow(fanout_execution, timeout=timeout)
        set_trigger(target, settings, True, client=c)
        if view.status != "SUCCEEDED":
            raise UserError(
                f"fan-out execution {view.name}: {view.status}: {view.error}: {view.cause}"
            )
    results = wait_for_training(
        target,
        settings,
        deployed,
        [d.name for d in dimensions],
        started_after,
        timeout=timeout,
        say=say,
    )
    seconds["training"] = time.perf_counter() - t0

    t0 = time.perf_counter()
    ready = [r for r in results if r.status == "SUCCEEDED"]
    say(f"sending the inference files of {len(ready)} dimensions")
    sent = send_inference(
        c, settings, [d for d in dimensions if d.name in {r.dimension for r in ready}]
    )
    for r in results:
        r.rows_sent = sent.get(r.dimension, 0)
    wait_for_rows(c, settings, results, timeout=timeout)
    seconds["inference"] = time.perf_counter() - t0
    describe(c, settings, results)
    dead = int(
        c("sqs").get_queue_attributes(
            QueueUrl=deployed.dead_letter_url, AttributeNames=["ApproximateNumberOfMessages"]
        )["Attributes"]["ApproximateNumberOfMessages"]
    )
    return RunSummary(results, seconds, fanout_execution, dead)


def execution_dimension(settings: ManyModels, execution_input: dict[str, Any]) -> str | None:
    if "dimension" in execution_input:
        return str(execution_input["dimension"])
    key = str(execution_input.get("key", ""))
    rest = (
        key[len(settings.data.training_prefix) :]
        if key.startswith(settings.data.training_prefix)
        else ""
    )
    return rest.split("/", 1)[0] or None


def wait_for_training(
    target: Target,
    settings: ManyModels,
    deployed: Deployed,
    dimensions: list[str],
    started_after: datetime,
    *,
    timeout: float,
    say: Say = lambda _: None,
    poll: float = 1.0,
) -> list[DimensionResult]:
    """Wait until every dimension has a training execution started after ``started_after``
    and all of them have ended; the last one per dimension decides its status."""
    results = {
        name: DimensionResult(name, endpoint=settings.endpoint_name(name)) for name in dimensions
    }
    deadline = time.monotonic() + timeout
    inputs: dict[str, Any] = {}
    reported = ""
    while True:
        listed = target.stepfunctions.list_executions(
            stateMachineArn=deployed.training_arn, maxResults=1000
        )["executions"]
        latest: dict[str, dict[str, Any]] = {}
        for ex in sorted(listed, key=lambda e: e["startDate"]):
            if ex["startDate"] < started_after:
                continue
            arn = ex["executionArn"]
            if arn not in inputs:
                described = target.stepfunctions.describe_execution(executionArn=arn)
                inputs[arn] = json.loads(described.get("input") or "{}")
            dim = execution_dimension(settings, inputs[arn])
            if dim in results:
                latest[dim] = ex
        done = [d for d, ex in latest.items() if ex["status"] in TERMINAL]
        line = f"training: {len(latest)}/{len(results)} started, {len(done)} ended"
        if line != reported:
            say(line)
            reported = line
        if len(done) == len(results) or time.monotonic() > deadline:
            break
        time.sleep(poll)
    for dim, ex in latest.items():
        results[dim].status = ex["status"]
        if ex["status"] != "SUCCEEDED":
            described = target.stepfunctions.describe_execution(executionArn=ex["executionArn"])
            results[dim].error = f"{described.get('error')}: {described.get('cause')}"
    return list(results.values())


def send_inference(
    c: Callable[[str], Any], settings: ManyModels, dimensions: list[Any]
) -> dict[str, int]:
    """Upload each dimension's inference files; return the data rows sent per dimension."""
    from workflows.churn_data import read_inference_rows

    s3 = c("s3")
    sent: dict[str, int] = {}
    for dim in dimensions:
        for path in dim.inference:
            text = path.read_text(encoding="utf-8-sig")
            _, rows = read_inference_rows(text)
            sent[dim.name] = sent.get(dim.name, 0) + len(rows)
            s3.put_object(
                Bucket=settings.data.bucket,
                Key=f"{settings.data.inference_prefix}{dim.name}/{path.name}",
                Body=text.encode(),
            )
    return sent


def table_counts(ddb: Any, table: str) -> dict[str, int]:
    counts: dict[str, int] = {}
    kwargs: dict[str, Any] = {"TableName": table, "ProjectionExpression": "dimension"}
    while True:
        page = ddb.scan(**kwargs)
        for item in page["Items"]:
            name = item["dimension"]["S"]
            counts[name] = counts.get(name, 0) + 1
        if "LastEvaluatedKey" not in page:
            return counts
        kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]


def wait_for_rows(
    c: Callable[[str], Any],
    settings: ManyModels,
    results: list[DimensionResult],
    *,
    timeout: float,
    poll: float = 0.5,
) -> None:
    """Until the table has a row per sent line (or the dead-letter queue took the rest)."""
    ddb = c("dynamodb")
    deadline = time.monotonic() + timeout
    while True:
        counts = table_counts(ddb, settings.inference.table)
        for r in results:
            r.rows_scored = counts.get(r.dimension, 0)
        if all(r.rows_scored >= r.rows_sent for r in results) or time.monotonic() > deadline:
            return
        time.sleep(poll)


def describe(c: Callable[[str], Any], settings: ManyModels, results: list[DimensionResult]) -> None:
    """Fill in each dimension's endpoint status, approved versions and metrics."""
    sm = c("sagemaker")
    from botocore.exceptions import ClientError

    for r in results:
        try:
            r.endpoint_status = sm.describe_endpoint(EndpointName=r.endpoint)["EndpointStatus"]
        except ClientError:
            r.endpoint_status = None
        try:
            packages = sm.list_model_packages(
                ModelPackageGroupName=settings.group_name(r.dimension),
                ModelApprovalStatus="Approved",
                SortBy="CreationTime",
                SortOrder="Descending",
            )["ModelPackageSummaryList"]
        except ClientError:
            continue
        r.approved_versions = len(packages)
        if packages:
            latest = sm.describe_model_package(ModelPackageName=packages[0]["ModelPackageArn"])
            props = latest.get("CustomerMetadataProperties") or {}
            r.accuracy = float(props["accuracy"]) if "accuracy" in props else None
            r.auc = float(props["auc"]) if "auc" in props else None


def wait_for_endpoint(sm: Any, name: str, *, timeout: float = 600.0) -> str:
    deadline = time.monotonic() + timeout
    while True:
        try:
            status = str(sm.describe_endpoint(EndpointName=name)["EndpointStatus"])
        except ServiceError:
            status = "Missing"
        if status in ("InService", "Failed") or time.monotonic() > deadline:
            return status
        time.sleep(0.5)
