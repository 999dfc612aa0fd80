"""The data lake's steps against a local server: the DMS-style full load (a Glue job) into
DynamoDB, the stream simulator through Kinesis and Firehose into YYYY/MM/DD/HH/ objects, the drain check,
and the ETL job's script run as a plain program over the same services."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Callable
from typing import Any

import full_load
import movie_drain
import movie_stream
import pandas as pd
import pytest
from common.errors import StreamNotDrainedError

from localaws.lambdakit.storage import S3Storage
from localaws.server.serve import LocalServer
from workflows import movie_local
from workflows import movie_recommender as mr
from workflows import movielens_data as ml

BUCKET = "movie-lake"


# The load, stream and ETL tests share one lake, in this order: one worker runs them all.
pytestmark = pytest.mark.xdist_group("movie_lake_steps")


@pytest.fixture(scope="module")
def settings() -> dict[str, Any]:
    return mr.load_settings()


class _Provisioned:
    def __init__(self, client: Callable[..., Any], settings: dict[str, Any]) -> None:
        self.s3, self.dynamodb = client("s3"), client("dynamodb")
        self.kinesis, self.firehose = client("kinesis"), client("firehose")
        self.store = S3Storage(self.s3)


@pytest.fixture
def lake(server: LocalServer, client: Callable[..., Any], settings: dict[str, Any]) -> _Provisioned:
    """Bucket, tables, stream and delivery stream, as `provision` makes them (idempotent)."""
    from workflows.target import LocalTarget

    target = LocalTarget(runtime=server.runtime)
    target.ensure_bucket(BUCKET)
    if BUCKET not in {b["Name"] for b in client("s3").list_buckets()["Buckets"]}:
        client("s3").create_bucket(Bucket=BUCKET)
    movie_local.ensure_tables(target, settings)
    movie_local.ensure_stream(target, settings)
    lake = _Provisioned(client, settings)
    lake.store.write(
        f"s3://{BUCKET}/dms/table-mappings.json", json.dumps(mr.mapping_document(settings)).encode()
    )
    return lake


def upload(lake: _Provisioned, data: ml.MovieLens, run: str) -> str:
    prefix = f"s3://{BUCKET}/raw/{run}/"
    for name, frame in data.frames().items():
        lake.store.write(prefix + name, ml.to_csv(frame, name))
    return prefix


def count(dynamodb: Any, table: str) -> int:
    total, kwargs = 0, {"TableName": table, "Select": "COUNT"}
    while True:
        page = dynamodb.scan(**kwargs)
        total += page["Count"]
        if "LastEvaluatedKey" not in page:
            return total
        kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]


def test_full_load_fills_the_tables_with_the_workshop_keys(
    lake: _Provisioned, small: ml.MovieLens, server: LocalServer, client: Callable[..., Any]
) -> None:
    """Run as the workflow runs it: the Glue job, started through the server."""
    from workflows.target import LocalTarget

    source = upload(lake, small, "load")
    settings = mr.load_settings()
    target = LocalTarget(runtime=server.runtime)
    lake.store.write(mr.load_script_uri(settings), (mr.JOB_DIR / mr.LOAD_SCRIPT).read_bytes())
    movie_local.ensure_glue(target, settings)
    glue = client("glue")
    run_id = glue.start_job_run(
        JobName=settings["glue"]["load_job"],
        Arguments={
            "--source_uri": source,
            "--report_uri": f"s3://{BUCKET}/dms/reports/load.json",
            "--parallel_load_threads": "4",
        },
    )["JobRunId"]
    deadline = time.monotonic() + 120
    while (run := glue.get_job_run(JobName=settings["glue"]["load_job"], RunId=run_id)["JobRun"])[
        "JobRunState"
    ] in ("STARTING", "RUNNING", "WAITING"):
        assert time.monotonic() < deadline, "the full-load job did not end"
        time.sleep(0.2)
    assert run["JobRunState"] == "SUCCEEDED", run.get("ErrorMessage")
    report = json.loads(lake.store.read(f"s3://{BUCKET}/dms/reports/load.json"))
    expected = {
        "ratings_t": len(small.ratings),
        "movies_t": len(small.movies),
        "links_t": len(small.links),
        "tags_t": len(small.tags),
    }
    assert {t: r["loaded"] for t, r in report["tables"].items()} == expected
    assert {t: count(lake.dynamodb, t) for t in expected} == expected
    assert report["rejected"] == 0 and report["items_per_second"] > 0
    assert report["parallel_load_threads"] == 4
    first = next(small.ratings.itertuples(index=False))
    item = lake.dynamodb.get_item(
        TableName="ratings_t",
        Key={
            "Id": {"S": f"{first.userId}X{first.movieId}"},
            "movieId": {"S": str(first.movieId)},
        },
    )["Item"]
    assert item == {
        "Id": {"S": f"{first.userId}X{first.movieId}"},
        "movieId": {"S": str(first.movieId)},
        "userId": {"S": str(first.userId)},
        "rating": {"S": f"{first.rating:.1f}"},
        "timestamp_c": {"S": str(first.timestamp)},
    }  # every attribute a string; timestamp stored as timestamp_c


def test_full_load_reports_rejected_rows_and_honours_the_limit(lake: _Provisioned) -> None:
    lake.store.write(
        f"s3://{BUCKET}/raw/bad/links.csv",
        b"movieId,imdbId,tmdbId\n1,0114709,862\n2,0113497\n,0113228,15602\n3,0114885,31357\n",
    )
    rules = [
        r for r in mr.mapping_document(mr.load_settings())["rules"] if r["rule-name"] == "links"
    ]
    rules[0]["target-table-name"] = "links_rejects_t"  # not the tables the ETL test reads
    lake.dynamodb.create_table(
        TableName="links_rejects_t",
        KeySchema=[
            {"AttributeName": "movieId", "KeyType": "HASH"},
            {"AttributeName": "imdbId", "KeyType": "RANGE"},
        ],
        AttributeDefinitions=[
            {"AttributeName": "movieId", "AttributeType": "S"},
            {"AttributeName": "imdbId", "AttributeType": "S"},
        ],
        BillingMode="PAY_PER_REQUEST",
    )
    document = {"max-rejected-rows": 1, "rules": rules}
    lake.store.write(f"s3://{BUCKET}/dms/links-only.json", json.dumps(document).encode())
    options = {
        "mapping_uri": f"s3://{BUCKET}/dms/links-only.json",
        "source_uri": f"s3://{BUCKET}/raw/bad/",
        "report_uri": f"s3://{BUCKET}/dms/reports/bad.json",
    }
    with pytest.raises(
        full_load.LoadRejectedError, match="2 rows rejected, more than max-rejected-rows 1"
    ):
        full_load.full_load(options, s3=lake.s3, dynamodb=lake.dynamodb)
    report = json.loads(lake.store.read(f"s3://{BUCKET}/dms/reports/bad.json"))
    links = report["tables"]["links_rejects_t"]
    assert (links["rows"], links["loaded"], links["rejected"]) == (4, 2, 2)
    assert links["rejected_rows"] == [
        {"line": 3, "reason": "2 fields, the header has 3"},
        {"line": 4, "reason": "key attribute movieId is empty"},
    ]


@pytest.mark.parametrize(
    ("document", "message"),
    [
        ({"rules": []}, "no object-mapping rule"),
        ({"rules": [{"rule-type": "object-mapping", "rule-action": "map-record-to-document"}]},
         "rule-action: 'map-record-to-document'; only map-record-to-record"),
        ({"rules": [{"rule-type": "object-mapping", "rule-action": "map-record-to-record",
                     "object-locator": {"table-name": "x"}, "target-table-name": "t",
                     "mapping-parameters": {}}]},
         r"rules\[0\].mapping-parameters.partition-key-name: expected a non-empty string"),
    ],
    ids=["no-rules", "other-action", "no-partition-key"],
)  # fmt: skip
def test_a_bad_mapping_document_is_refused_naming_the_field(document: Any, message: str) -> None:
    with pytest.raises(full_load.MappingError, match=message):
        full_load.parse_mapping(document)


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"source_uri": "raw/"}, r"--source_uri: expected an s3://bucket/key URI, got 'raw/'"),
        ({"parallel_load_threads": "99"}, "--parallel_load_threads: expected an integer from 1 to 32"),
        ({"mapping_uri": f"s3://{BUCKET}/dms/none.json"}, "--mapping_uri: no object at"),
    ],
    ids=["source-not-s3", "threads", "no-mapping"],
)  # fmt: skip
def test_bad_job_arguments_are_refused_naming_them(
    lake: _Provisioned, options: dict[str, str], message: str
) -> None:
    given = {
        "mapping_uri": f"s3://{BUCKET}/dms/table-mappings.json",
        "source_uri": f"s3://{BUCKET}/raw/load/",
        "report_uri": f"s3://{BUCKET}/dms/reports/refused.json",
        **options,
    }
    with pytest.raises(full_load.MappingError, match=message):
        full_load.full_load(given, s3=lake.s3, dynamodb=lake.dynamodb)


def test_streamed_ratings_land_once_under_hourly_partitions_and_drain(
    lake: _Provisioned, small: ml.MovieLens, settings: dict[str, Any]
) -> None:
    source = upload(lake, small, "stream")
    sent = movie_stream.simulate(
        {"source_uri": source + "ratings-partial-load.csv", "stream_name": "movie-ratings"},
        client=lake.kinesis,
        store=lake.store,
    )
    assert sent["sent"] == len(small.partial) + 1  # the header line too, as the workshop sends it
    event = {
        "lake_uri": f"s3://{BUCKET}/stream/ratings/",
        "expected": sent["sent"],
        "since": sent["started_at"],
    }
    deadline = time.monotonic() + 60
    while True:
        try:
            drained = movie_drain.drain(event, client=lake.s3)
            break
        except StreamNotDrainedError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)
    assert drained["records"] == sent["sent"]
    assert all(len(p.split("/")) == 4 for p in drained["partitions"])
    keys = [
        o["Key"]
        for o in lake.s3.list_objects_v2(Bucket=BUCKET, Prefix="stream/ratings/")["Contents"]
    ]
    lines = [
        json.loads(line)
        for key in keys
        for line in lake.s3.get_object(Bucket=BUCKET, Key=key)["Body"].read().splitlines()
    ]
    assert lines[0] == {"userid": "userId", "movieid": "movieId", "ratingid": "rating",
                        "timestamp": "timestamp"}  # fmt: skip
    streamed = {(r["userid"], r["movieid"]) for r in lines[1:]}
    assert len(lines) - 1 == len(streamed) == len(small.partial)  # each rating exactly once
    assert streamed == {
        (str(u), str(m)) for u, m in zip(small.partial.userId, small.partial.movieId, strict=True)
    }
    with pytest.raises(
        StreamNotDrainedError, match=f"{sent['sent']} of {sent['sent'] + 1} records"
    ):
        movie_drain.drain({**event, "expected": sent["sent"] + 1}, client=lake.s3)


def test_etl_script_unions_batch_and_stream_and_drops_the_header(
    server: LocalServer,
    client: Callable[..., Any],
    lake: _Provisioned,
    small: ml.MovieLens,
    settings: dict[str, Any],
) -> None:
    """Runs after the load and stream tests of this module (same tables and lake)."""
    if count(lake.dynamodb, "ratings_t") == 0:
        test_full_load_fills_the_tables_with_the_workshop_keys(lake, small, server, client)
    if "Contents" not in lake.s3.list_objects_v2(Bucket=BUCKET, Prefix="stream/ratings/"):
        test_streamed_ratings_land_once_under_hourly_partitions_and_drain(lake, small, settings)
    env = {**os.environ, "AWS_ENDPOINT_URL": server.url}
    arguments = [x for k, v in movie_local.etl_job_arguments(settings).items() for x in (k, v)]
    done = subprocess.run(
        [sys.executable, str(mr.JOB_DIR / mr.ETL_SCRIPT), *arguments,
         "--report_uri", f"s3://{BUCKET}/ml/etl-reports/test.json"],
        env=env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    report = json.loads(lake.store.read(f"s3://{BUCKET}/ml/etl-reports/test.json"))
    assert report["dropped_rows"] == 1  # the stream's header line
    assert report["rating_rows"] == len(small.ratings) + len(small.partial)
    rating = pd.read_csv(
        lake.s3.get_object(Bucket=BUCKET, Key="ml/trainingdata/rating/rating.csv")["Body"]
    )
    assert list(rating.columns) == ["userId", "movieId", "rating", "timestamp"]
    assert len(rating) == report["rating_rows"]
    assert rating["userId"].dtype.kind == "i" and rating["movieId"].dtype.kind == "i"
    movies = pd.read_csv(
        lake.s3.get_object(Bucket=BUCKET, Key="ml/trainingdata/movies/movies.csv")["Body"]
    )
    assert sorted(movies["title"]) == sorted(small.movies["title"])
    links = pd.read_csv(
        lake.s3.get_object(Bucket=BUCKET, Key="ml/trainingdata/links/links.csv")["Body"], dtype=str
    )
    assert list(links.columns) == ["movieId", "imdbId", "tmdbId"] and len(links) == len(small.links)


def test_etl_script_names_missing_arguments() -> None:
    done = subprocess.run(
        [sys.executable, str(mr.JOB_DIR / mr.ETL_SCRIPT), "--ratings_table", "ratings_t"],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert done.returncode != 0
    assert (
        "job arguments --movies_table, --links_table, --stream_uri, --output_uri are required"
        in done.stderr
    )
