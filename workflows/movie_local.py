"""Run the movie recommender on a target: provision what the stack provides on AWS, upload, run.

On AWS the CloudFormation stack (``build movie-recommender --target aws``) creates the
bucket, the DynamoDB tables, the Kinesis stream, the Firehose delivery stream, the Glue
database, crawler and ETL job, and the Lambdas.  Locally :func:`provision` creates the same
resources through the same APIs (create when missing, update the Lambdas' code), then
:func:`run_workflow` uploads the run's data and follows one execution.
"""

from __future__ import annotations

import io
import json
import tarfile
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

from localaws.errors import ServiceError
from workflows import movie_recommender as mr
from workflows import movielens_data
from workflows.target import ExecutionView, Target, new_run_id

ZIP_EPOCH = 315_532_800  # 1980-01-01: the same sources give the same archive bytes


@dataclass
class MovieRun:
    run_id: str
    execution_arn: str
    input: dict[str, Any]
    view: ExecutionView
    data: movielens_data.MovieLens
    seconds: dict[str, float]

    @property
    def succeeded(self) -> bool:
        return self.view.status == "SUCCEEDED"


def source_archive() -> bytes:
    """``sourcedir.tar.gz`` of the training and inference code (script mode's submit directory)."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz", format=tarfile.PAX_FORMAT) as tar:
        for name in mr.SOURCE_FILES:
            data = (mr.JOB_DIR / name).read_bytes()
            info = tarfile.TarInfo(name)
            info.size, info.mtime, info.mode = len(data), ZIP_EPOCH, 0o644
            tar.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def _exists(call: Callable[[], Any], *missing: str) -> bool:
    try:
        call()
    except ServiceError as e:
        if e.code in missing:
            return False
        raise
    return True


def ensure_tables(target: Target, settings: Mapping[str, Any]) -> None:
    dynamodb = target.backend("dynamodb")
    for table, (pk, sk) in mr.table_keys(settings).items():
        if _exists(partial(dynamodb.describe_table, TableName=table), "ResourceNotFoundException"):
            continue
        dynamodb.create_table(
            TableName=table,
            KeySchema=[
                {"AttributeName": pk, "KeyType": "HASH"},
                {"AttributeName": sk, "KeyType": "RANGE"},
            ],
            AttributeDefinitions=[
                {"AttributeName": pk, "AttributeType": "S"},
                {"AttributeName": sk, "AttributeType": "S"},
            ],
            BillingMode="PAY_PER_REQUEST",
        )


def ensure_stream(target: Target, settings: Mapping[str, Any]) -> None:
    """The Kinesis stream and the Firehose delivery stream reading it into the lake."""
    st = settings["stream"]
    kinesis, firehose = target.backend("kinesis"), target.backend("firehose")
    if not _exists(
        lambda: kinesis.describe_stream_summary(StreamName=st["kinesis"]),
        "ResourceNotFoundException",
    ):
        kinesis.create_stream(StreamName=st["kinesis"], ShardCount=st["shards"])
    if _exists(
        lambda: firehose.describe_delivery_stream(DeliveryStreamName=st["firehose"]),
        "ResourceNotFoundException",
    ):
        return
    firehose.create_delivery_stream(
        DeliveryStreamName=st["firehose"],
        DeliveryStreamType="KinesisStreamAsSource",
        KinesisStreamSourceConfiguration={
            "KinesisStreamARN": target.arn("kinesis", f"stream/{st['kinesis']}"),
            "RoleARN": settings["roles"]["firehose"],
        },
        ExtendedS3DestinationConfiguration={
            "RoleARN": settings["roles"]["firehose"],
            "BucketARN": f"arn:aws:s3:::{settings['lake']['bucket']}",
            "Prefix": settings["lake"]["stream_prefix"],
            "BufferingHints": {
                "SizeInMBs": st["buffer_mb"],
                "IntervalInSeconds": st["buffer_seconds"],
            },
            "CompressionFormat": "UNCOMPRESSED",
        },
    )


def etl_job_arguments(settings: Mapping[str, Any]) -> dict[str, str]:
    t = settings["tables"]
    return {
        "--ratings_table": t["ratings"],
        "--movies_table": t["movies"],
        "--links_table": t["links"],
        "--stream_uri": mr.lake_uri(settings, "stream_prefix"),
        "--output_uri": mr.lake_uri(settings, "training_prefix"),
    }


def ensure_glue(target: Target, settings: Mapping[str, Any]) -> None:
    """The database, the crawler (Firehose prefix + DynamoDB tables), the ETL and full-load
    jobs."""
    g, glue = settings["glue"], target.backend("glue")
    if not _exists(lambda: glue.get_database(Name=g["database"]), "EntityNotFoundException"):
        glue.create_database(DatabaseInput={"Name": g["database"]})
    crawler = {
        "Name": g["crawler"],
        "Role": settings["roles"]["glue"],
        "DatabaseName": g["database"],
        "Targets": {
            "S3Targets": [{"Path": mr.lake_uri(settings, "stream_prefix")}],
            "DynamoDBTargets": [{"Path": t} for t in mr.table_keys(settings)],
        },
    }
    _replace_when_changed(
        lambda: glue.get_crawler(Name=g["crawler"])["Crawler"],
        crawler,
        create=lambda: glue.create_crawler(**crawler),
        delete=lambda: glue.delete_crawler(Name=g["crawler"]),
    )
    for name, script, arguments in (
        (g["etl_job"], mr.etl_script_uri(settings), etl_job_arguments(settings)),
        (g["load_job"], mr.load_script_uri(settings), mr.load_job_arguments(settings)),
    ):
        job = pythonshell_job(name, settings["roles"]["glue"], script, arguments)
        _replace_when_changed(
            partial(lambda n: glue.get_job(JobName=n)["Job"], name),
            job,
            create=partial(lambda j: glue.create_job(**j), job),
            delete=partial(lambda n: glue.delete_job(JobName=n), name),
        )


def pythonshell_job(
    name: str, role: str, script_uri: str, arguments: Mapping[str, str]
) -> dict[str, Any]:
    """A Glue Python shell job of the lake (the ETL and the full load), as the stack has it."""
    return {
        "Name": name,
        "Role": role,
        "Command": {"Name": "pythonshell", "ScriptLocation": script_uri, "PythonVersion": "3.9"},
        "DefaultArguments": {**arguments, "library-set": "analytics"},
        "MaxCapacity": 0.0625,
        "Timeout": 60,
    }


def _replace_when_changed(
    get: Callable[[], dict[str, Any]],
    wanted: dict[str, Any],
    *,
    create: Callable[[], Any],
    delete: Callable[[], Any],
) -> None:
    """Create the resource, or delete and recreate it when its fields differ from ``wanted``
    (the local Glue, moto's, has no UpdateCrawler/UpdateJob; on AWS the stack owns them)."""
    try:
        current = get()
    except ServiceError as e:
        if e.code != "EntityNotFoundException":
            raise
        create()
        return
    if any(current.get(key) != value for key, value in wanted.items()):
        delete()
        create()


def register_lambdas(target: Target) -> list[str]:
    from workflows.local import register_lambdas as register

    return register(target, functions_file=mr.FUNCTIONS_FILE)


def provision(target: Target, settings: Mapping[str, Any]) -> str:
    """Everything the stack holds on AWS; returns the state machine's ARN."""
    bucket = settings["lake"]["bucket"]
    target.ensure_bucket(bucket)
    target.storage.write(mr.source_uri(settings), source_archive())
    for uri, script in (
        (mr.etl_script_uri(settings), mr.ETL_SCRIPT),
        (mr.load_script_uri(settings), mr.LOAD_SCRIPT),
    ):
        target.storage.write(uri, (mr.JOB_DIR / script).read_bytes())
    target.storage.write(
        mr.lake_uri(settings, "dms_prefix", "table-mappings.json"),
        json.dumps(mr.mapping_document(settings), indent=2).encode(),
    )
    ensure_tables(target, settings)
    ensure_stream(target, settings)
    ensure_glue(target, settings)
    register_lambdas(target)
    return target.put_state_machine(
        settings["name"], mr.definition(settings), settings["roles"]["state_machine"]
    )


def upload_data(target: Target, raw_uri: str, data: movielens_data.MovieLens) -> None:
    for name, body in data.files().items():
        target.storage.write(raw_uri + name, body)


def popular_movies(data: movielens_data.MovieLens, n: int) -> list[str]:
    """The ``n`` most rated movies of the batch part: a new user's sample likes."""
    counts = data.ratings["movieId"].astype(str).value_counts()
    return [str(m) for m in counts.index[:n]]


def endpoint_exists(target: Target, name: str) -> bool:
    return _exists(
        lambda: target.sagemaker.describe_endpoint(EndpointName=name),
        "ValidationException",
        "ResourceNotFound",
    )


def run_workflow(
    target: Target,
    settings: Mapping[str, Any],
    *,
    data_dir: str | Path | None = None,
    run_id: str | None = None,
    on_update: Callable[[ExecutionView], None] | None = None,
    on_phase: Callable[[str], None] | None = None,
) -> MovieRun:
    """Provision, upload the data (generated, or ``--data DIR``), run once, follow it."""

    def phase(text: str) -> None:
        if on_phase is not None:
            on_phase(text)

    timings: dict[str, float] = {}
    run_id = run_id or new_run_id()
    t0 = time.perf_counter()
    phase("provisioning tables, streams, crawler, ETL job and Lambdas")
    arn = provision(target, settings)
    timings["provision"] = time.perf_counter() - t0

    t0 = time.perf_counter()
    d = settings["data"]
    if data_dir is not None:
        data = movielens_data.read_dir(data_dir, seed=d["seed"])
    else:
        data = movielens_data.generate(d["users"], d["movies"], seed=d["seed"])
    execution_input = mr.example_input(
        settings,
        run_id,
        endpoint_exists=endpoint_exists(target, settings["endpoint"]["name"]),
        new_user_likes=popular_movies(data, settings["recommend"]["new_user_likes"]),
    )
    phase(f"uploading {len(data.ratings) + len(data.partial):,} ratings")
    upload_data(target, execution_input["RawDataUri"], data)
    timings["data"] = time.perf_counter() - t0

    t0 = time.perf_counter()
    execution_arn = target.start(arn, execution_input, name=run_id)
    view = target.follow(execution_arn, on_update)
    timings["execution"] = time.perf_counter() - t0
    return MovieRun(run_id, execution_arn, execution_input, view, data, timings)


def table_counts(target: Target, settings: Mapping[str, Any]) -> dict[str, int]:
    """Items per DynamoDB table (Scan with Select=COUNT, every page)."""
    dynamodb = target.backend("dynamodb")
    counts = {}
    for table in mr.table_keys(settings):
        total, kwargs = 0, {"TableName": table, "Select": "COUNT"}
        while True:
            page = dynamodb.scan(**kwargs)
            total += page["Count"]
            if "LastEvaluatedKey" not in page:
                break
            kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]
        counts[table] = total
    return counts


def recommend(
    target: Target,
    settings: Mapping[str, Any],
    *,
    user_id: str | None = None,
    liked: list[str] | None = None,
    k: int | None = None,
) -> dict[str, Any]:
    """The endpoint's top titles for a user (or a new user with liked movies)."""
    request: dict[str, Any] = {"k": k or settings["recommend"]["k"]}
    if user_id is not None:
        request["userId"] = user_id
    if liked:
        request["liked"] = liked
    response = target.sagemaker_runtime.invoke_endpoint(
        EndpointName=settings["endpoint"]["name"],
        ContentType="application/json",
        Accept="application/json",
        Body=json.dumps({"recommend": request}).encode(),
    )
    body = response["Body"]
    if hasattr(body, "read"):
        body = body.read()
    return dict(json.loads(body))
