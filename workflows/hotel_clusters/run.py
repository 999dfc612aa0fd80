"""One run of the hotel-cluster use case on a target: ingestion, training and deployment,
then a test sample streamed through Kinesis and read back from the predictions table.

:func:`run` returns a :class:`HotelRun` (the executions, accuracy, stream-to-table latency,
item counts); the CLI (``python -m workflows run hotel-clusters``), the notebook and the
end-to-end test call it.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from localaws.errors import ServiceError
from workflows.hotel_clusters import workflow as wf
from workflows.hotel_clusters.workflow import HotelSettings
from workflows.target import ExecutionView, Target, new_run_id

LAMBDA_ROLE = "arn:aws:iam::123456789012:role/hotel-clusters-lambda"
POISON = b"{not a search event"
BATCH_SIZE = 100


@dataclass
class HotelRun:
    run_id: str
    ingestion: ExecutionView
    training: ExecutionView | None = None
    ingest: dict[str, Any] = field(default_factory=dict)  # the ingest Lambda's result
    metrics: dict[str, Any] = field(default_factory=dict)  # accuracy, top5_accuracy (test split)
    stream: dict[str, Any] = field(default_factory=dict)  # events, items, latency, failures
    seconds: dict[str, float] = field(default_factory=dict)
    predict_url: str = ""  # the HTTP API's POST /predict (one event, answered synchronously)

    @property
    def succeeded(self) -> bool:
        return (
            self.ingestion.status == "SUCCEEDED"
            and self.training is not None
            and self.training.status == "SUCCEEDED"
            and self.stream.get("items") == self.stream.get("events")
        )

    @property
    def test_events_uri(self) -> str:
        """Where the training set's test split is, as streamed events (a succeeded training)."""
        if self.training is None or not isinstance(self.training.output, dict):
            raise ValueError(f"run {self.run_id}: no training output")
        return str(self.training.output["training_set"]["Payload"]["test_events_uri"])

    def report(self) -> dict[str, Any]:
        return {
            "run_id": self.run_id,
            "ingestion": self.ingestion.status,
            "training": None if self.training is None else self.training.status,
            "error": _first_error(self.ingestion, self.training),
            "ingested": {
                k: self.ingest.get(k) for k in ("raw_rows", "customers", "users", "destinations")
            },
            "test_accuracy": self.metrics.get("accuracy"),
            "test_top5_accuracy": self.metrics.get("top5_accuracy"),
            "stream": self.stream,
            "seconds": {k: round(v, 2) for k, v in self.seconds.items()},
            "predict_url": self.predict_url,
        }


def _first_error(*views: ExecutionView | None) -> str | None:
    for view in views:
        if view is not None and view.error:
            return f"{view.error}: {view.cause}"
    return None


# -- setup ------------------------------------------------------------------------------


def register_lambdas(target: Target, s: HotelSettings) -> list[str]:
    from workflows.functions import load_functions
    from workflows.local import lambda_zip, put_function

    code = lambda_zip()
    names = []
    for spec in load_functions(wf.FUNCTIONS_FILE):
        env = dict(spec.environment)
        if spec.module.endswith("stream"):
            env.update(
                PREDICTIONS_TABLE=s.table,
                ENDPOINT_NAME=s.endpoint,
                DESTINATIONS_FEATURE_GROUP=s.destinations_group,
            )
        put_function(target, spec, code, LAMBDA_ROLE, env)
        names.append(spec.name)
    return names


def ensure_table(target: Target, name: str) -> None:
    dynamodb = target.backend("dynamodb")
    try:
        dynamodb.describe_table(TableName=name)
        return
    except ServiceError as e:
        if e.code != "ResourceNotFoundException":
            raise
    dynamodb.create_table(
        TableName=name,
        KeySchema=[
            {"AttributeName": "user_id", "KeyType": "HASH"},
            {"AttributeName": "date_time", "KeyType": "RANGE"},
        ],
        AttributeDefinitions=[
            {"AttributeName": "user_id", "AttributeType": "N"},
            {"AttributeName": "date_time", "AttributeType": "S"},
        ],
        BillingMode="PAY_PER_REQUEST",
    )


def ensure_stream(target: Target, s: HotelSettings, function: str) -> dict[str, str]:
    """The Kinesis stream, the failure queue and the mapping stream -> Lambda (bisect on
    error, on-failure destination the queue); created once, reused by later runs."""
    kinesis, sqs, lam = target.backend("kinesis"), target.backend("sqs"), target.lambda_
    try:
        kinesis.create_stream(StreamName=s.stream, ShardCount=1)
    except ServiceError as e:
        if e.code != "ResourceInUseException":
            raise
    stream_arn = kinesis.describe_stream_summary(StreamName=s.stream)["StreamDescriptionSummary"][
        "StreamARN"
    ]
    queue_url = sqs.create_queue(QueueName=s.failures_queue)["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])[
        "Attributes"
    ]["QueueArn"]
    mappings = lam.list_event_source_mappings(EventSourceArn=stream_arn, FunctionName=function)
    if not mappings.get("EventSourceMappings"):
        lam.create_event_source_mapping(
            EventSourceArn=stream_arn,
            FunctionName=function,
            StartingPosition="TRIM_HORIZON",
            BatchSize=BATCH_SIZE,
            MaximumBatchingWindowInSeconds=1,
            BisectBatchOnFunctionError=True,
            MaximumRetryAttempts=1,
            DestinationConfig={"OnFailure": {"Destination": queue_arn}},
        )
    return {"stream_arn": stream_arn, "queue_url": queue_url, "queue_arn": queue_arn}


def ensure_http_api(target: Target, s: HotelSettings, function: str) -> str:
    """An HTTP API whose ``POST /predict`` runs the stream Lambda (payload format 2.0), as the
    stack has it; created once.  Returns its invoke URL."""
    gw = target.backend("apigatewayv2")
    name = f"{wf.NAME}-predict"
    found = [a for a in gw.get_apis().get("Items", []) if a["Name"] == name]
    if found:
        api = found[0]["ApiId"]
    else:
        api = gw.create_api(Name=name, ProtocolType="HTTP")["ApiId"]
        arn = target.lambda_.get_function(FunctionName=function)["Configuration"]["FunctionArn"]
        integration = gw.create_integration(
            ApiId=api, IntegrationType="AWS_PROXY", IntegrationUri=arn, PayloadFormatVersion="2.0"
        )["IntegrationId"]
        gw.create_route(ApiId=api, RouteKey="POST /predict", Target=f"integrations/{integration}")
        gw.create_stage(ApiId=api, StageName="$default", AutoDeploy=True)
    return f"{invoke_base(target, api)}/predict"


def invoke_base(target: Target, api: str) -> str:
    """Where an HTTP API's default stage answers: the local server's API Gateway serving,
    or execute-api on AWS."""
    from localaws.apigateway.proxy import invoke_url

    runtime = getattr(target, "runtime", None)
    base = runtime.api_url() if runtime is not None else getattr(target, "url", None)
    if base:
        return invoke_url(base, api, "$default")
    return f"https://{api}.execute-api.{target.region}.amazonaws.com"


def upload_data(target: Target, s: HotelSettings, run_id: str, data: Any) -> dict[str, Any]:
    """The raw files and the evaluation script, where the execution inputs point."""
    import io

    target.ensure_bucket(s.bucket)
    inputs = wf.ingestion_input(s, run_id)
    for uri, frame, fmt in (
        (inputs["EventsUri"], data.events, None),
        (inputs["DestinationsUri"], data.destinations, "%.6f"),
    ):
        buffer = io.StringIO()
        frame.to_csv(buffer, index=False, float_format=fmt)
        target.storage.write(uri, buffer.getvalue().encode())
    for script in ("evaluate.py", "profile.py"):
        target.storage.write(s.uri("code", script), (wf.JOBS_DIR / script).read_bytes())
    return inputs


def endpoint_exists(target: Target, name: str) -> bool:
    try:
        target.sagemaker.describe_endpoint(EndpointName=name)
    except ServiceError as e:
        if e.code in ("ValidationException", "ResourceNotFound"):
            return False
        raise
    return True


def wait_in_service(target: Target, name: str, timeout: float = 600.0) -> None:
    deadline = time.monotonic() + timeout
    while True:
        status = target.sagemaker.describe_endpoint(EndpointName=name)["EndpointStatus"]
        if status == "InService":
            return
        if status == "Failed" or time.monotonic() > deadline:
            raise RuntimeError(f"endpoint {name}: {status}")
        time.sleep(0.2)


# -- streaming --------------------------------------------------------------------------


def test_events(target: Target, uri: str, limit: int) -> list[dict[str, Any]]:
    lines = target.storage.read(uri).decode().splitlines()
    return [json.loads(line) for line in lines[:limit] if line.strip()]


def stream_events(
    target: Target,
    s: HotelSettings,
    events: list[dict[str, Any]],
    wiring: dict[str, str],
    *,
    poison: bool = True,
    timeout: float = 300.0,
) -> dict[str, Any]:
    """Put the events on the stream (with one poisoned record in the middle), wait until
    the table holds an item per event and the poisoned record reached the failure queue."""
    kinesis, dynamodb, sqs = (
        target.backend("kinesis"),
        target.backend("dynamodb"),
        target.backend("sqs"),
    )
    put_at = time.time()
    started = datetime.fromtimestamp(put_at, UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    payloads: list[bytes | None] = [json.dumps(e["event"]).encode() for e in events]
    if poison:
        payloads.insert(len(payloads) // 2, None)
    last_users = put_events(
        kinesis, s.stream, payloads, [int(e["event"]["user_id"]) for e in events]
    )
    expected: dict[int, int] = {}
    for e in events:
        user = int(e["event"]["user_id"])
        expected[user] = expected.get(user, 0) + 1
    deadline = time.monotonic() + timeout
    items: list[dict[str, Any]] = []
    failures: list[dict[str, Any]] = []
    while True:
        # A shard is handled in order: when the last event put to each shard has its item,
        # the others have theirs (one Query per shard; a Scan of the growing table on every
        # round held the services for seconds and starved the mapping it waited for).  The
        # pause is twice the round's own time, so that waiting never takes most of a local
        # runtime's services (a Query or Scan there costs time in the table's size).
        round_started = time.monotonic()
        last_users = {
            u for u in last_users if count_items(dynamodb, s.table, u, started) < expected[u]
        }
        if (not last_users or time.monotonic() > deadline) and len(items) < len(events):
            items = [
                i for i in scan(dynamodb, s.table, started) if int(i["user_id"]["N"]) in expected
            ]
        if poison and not failures:
            got = sqs.receive_message(QueueUrl=wiring["queue_url"], MaxNumberOfMessages=10)
            failures = got.get("Messages", [])
        if len(items) >= len(events) and (failures or not poison):
            break
        if time.monotonic() > deadline:
            break
        time.sleep(max(0.1, 2 * (time.monotonic() - round_started)))
    return summarize(events, items, failures, poisoned=1 if poison else 0, put_at=put_at)


def put_events(
    kinesis: Any, stream: str, payloads: list[bytes | None], users: list[int]
) -> set[int]:
    """PutRecords in chunks of 500, a record Kinesis refused (throttled) sent again; ``None``
    is the poisoned record.  Returns the user of the last event put to each shard."""
    last: dict[str, tuple[int, int]] = {}  # shard -> (sequence number, user)
    user_of = iter(users)
    entries = [(POISON if p is None else p, None if p is None else next(user_of)) for p in payloads]
    for start in range(0, len(entries), 500):
        pending = list(enumerate(entries[start : start + 500], start))
        for attempt in range(8):
            reply = kinesis.put_records(
                StreamName=stream,
                Records=[{"Data": data, "PartitionKey": str(i)} for i, (data, _) in pending],
            )
            refused = []
            for (i, (data, user)), result in zip(pending, reply["Records"], strict=True):
                if "ErrorCode" in result:
                    refused.append((i, (data, user)))
                elif user is not None:
                    shard, sequence = result["ShardId"], int(result["SequenceNumber"])
                    if sequence > last.get(shard, (-1, 0))[0]:
                        last[shard] = (sequence, user)
            if not refused:
                break
            pending = refused
            time.sleep(0.05 * 2**attempt)
        else:
            raise RuntimeError(f"stream {stream}: {len(pending)} records refused 8 times")
    return {user for _, user in last.values()}


def count_items(dynamodb: Any, table: str, user: int, since: str) -> int:
    """How many items of ``user`` the table holds with a ``date_time`` from ``since``."""
    return int(
        dynamodb.query(
            TableName=table,
            KeyConditionExpression="user_id = :u AND date_time >= :since",
            ExpressionAttributeValues={":u": {"N": str(user)}, ":since": {"S": since}},
            Select="COUNT",
            ConsistentRead=True,
        )["Count"]
    )


def scan(dynamodb: Any, table: str, since: str) -> list[dict[str, Any]]:
    items, key = [], None
    while True:
        kwargs: dict[str, Any] = {
            "TableName": table,
            "FilterExpression": "date_time >= :since",
            "ExpressionAttributeValues": {":since": {"S": since}},
            "ConsistentRead": True,
        }
        if key:
            kwargs["ExclusiveStartKey"] = key
        page = dynamodb.scan(**kwargs)
        items.extend(page.get("Items", []))
        key = page.get("LastEvaluatedKey")
        if not key:
            return items


def summarize(
    events: list[dict[str, Any]],
    items: list[dict[str, Any]],
    failures: list[dict[str, Any]],
    *,
    poisoned: int,
    put_at: float | None = None,
) -> dict[str, Any]:
    """Counts, accuracy, stream-to-table latency (each item's ``date_time`` - its record's
    arrival) and, given when the records were put, the seconds until the last item."""
    import numpy as np

    labels = {int(e["event"]["user_id"]): int(e["hotel_cluster"]) for e in events}
    per_user: dict[int, int] = {}
    latencies, correct, last_written = [], 0, 0.0
    for item in items:
        user = int(item["user_id"]["N"])
        per_user[user] = per_user.get(user, 0) + 1
        written = datetime.strptime(item["date_time"]["S"], "%Y-%m-%dT%H:%M:%S.%fZ").replace(
            tzinfo=UTC
        )
        latencies.append(written.timestamp() - float(item["arrival_time"]["N"]))
        last_written = max(last_written, written.timestamp())
        correct += int(item["hotel_cluster_predicted"]["N"]) == labels.get(user)
    batches = []
    for message in failures:
        info = json.loads(message["Body"]).get("KinesisBatchInfo") or {}
        batches.append({k: info.get(k) for k in ("shardId", "startSequenceNumber", "batchSize")})
    return {
        "events": len(events),
        "items": len(items),
        "users_with_one_item": sum(1 for n in per_user.values() if n == 1),
        "stream_accuracy": round(correct / len(items), 4) if items else None,
        "latency_p50_ms": round(float(np.percentile(latencies, 50)) * 1000, 1)
        if latencies
        else None,
        "latency_p99_ms": round(float(np.percentile(latencies, 99)) * 1000, 1)
        if latencies
        else None,
        "seconds_to_last_item": round(last_written - put_at, 3)
        if put_at is not None and items
        else None,
        "poisoned_records": poisoned,
        "failure_destination_messages": len(failures),
        "failed_batches": batches,
    }


def stream_line(summary: dict[str, Any]) -> str:
    """One line of :func:`summarize`'s result, for the CLI."""
    return (
        f"stream: {summary['events']} events -> {summary['items']} items "
        f"({summary['users_with_one_item']} users with exactly one), accuracy "
        f"{summary['stream_accuracy']}; latency p50 {summary['latency_p50_ms']} ms, "
        f"p99 {summary['latency_p99_ms']} ms; {summary['poisoned_records']} poisoned record -> "
        f"{summary['failure_destination_messages']} failure-destination message(s)"
    )


# -- the whole run ----------------------------------------------------------------------


def run(
    target: Target,
    s: HotelSettings,
    *,
    rows: int | None = None,
    data_dir: str | Path | None = None,
    run_id: str | None = None,
    stream_limit: int = 200,
    on_phase: Callable[[str], None] | None = None,
    on_update: Callable[[ExecutionView], None] | None = None,
) -> HotelRun:
    from workflows import hotel_data

    def phase(text: str) -> None:
        if on_phase is not None:
            on_phase(text)

    run_id = run_id or new_run_id()
    seconds: dict[str, float] = {}
    t0 = time.perf_counter()
    phase("registering the Lambdas, the table, the stream and the state machines")
    register_lambdas(target, s)
    ensure_table(target, s.table)
    wiring = ensure_stream(target, s, wf.function_names()["stream"])
    predict_url = ensure_http_api(target, s, wf.function_names()["stream"])
    ingestion_arn = target.put_state_machine(
        s.ingestion_name, wf.ingestion_definition(s), s.state_machine_role
    )
    training_arn = target.put_state_machine(
        s.training_name, wf.training_definition(s), s.state_machine_role
    )
    seconds["setup"] = time.perf_counter() - t0

    t0 = time.perf_counter()
    data = (
        hotel_data.read(data_dir)
        if data_dir is not None
        else hotel_data.generate(rows or s.rows, s.seed)
    )
    phase(f"uploading {len(data.events):,} events and {len(data.destinations):,} destinations")
    inputs = upload_data(target, s, run_id, data)
    seconds["data"] = time.perf_counter() - t0

    t0 = time.perf_counter()
    phase("ingesting the feature groups")
    ingestion = target.follow(target.start(ingestion_arn, inputs, name=run_id), on_update)
    seconds["ingestion"] = time.perf_counter() - t0
    result = HotelRun(run_id, ingestion, seconds=seconds, predict_url=predict_url)
    if ingestion.status != "SUCCEEDED":
        return result
    result.ingest = ingestion.output["ingest"]["Payload"]

    t0 = time.perf_counter()
    phase("training, evaluating and deploying")
    training_in = wf.training_input(
        s, run_id, result.ingest, endpoint_exists=endpoint_exists(target, s.endpoint)
    )
    result.training = target.follow(target.start(training_arn, training_in, name=run_id), on_update)
    seconds["training"] = time.perf_counter() - t0
    output = result.training.output or {}
    if result.training.status != "SUCCEEDED":
        evaluation = (result.training.output_of(wf.READ_EVALUATION) or {}).get("evaluation") or {}
        result.metrics = evaluation.get("metrics", {})
        return result
    result.metrics = output["evaluation"]["metrics"]

    t0 = time.perf_counter()
    phase("streaming the test sample through Kinesis")
    wait_in_service(target, s.endpoint)
    events = test_events(target, output["training_set"]["Payload"]["test_events_uri"], stream_limit)
    result.stream = stream_events(target, s, events, wiring)
    seconds["stream"] = time.perf_counter() - t0
    return result
