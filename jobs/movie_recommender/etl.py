"""The data lake's ETL job (Glue ``pythonshell``): batch + streamed ratings -> training data.

Job arguments (Glue passes ``--name value``; ``awsglue.utils.getResolvedOptions`` reads them
when the job runs in Glue, the same parsing is done here otherwise):

* ``--ratings_table``, ``--movies_table``, ``--links_table`` - the DynamoDB tables the full
  load filled (``ratings_t``, ``movies_t``, ``links_t``);
* ``--stream_uri`` - the Firehose prefix of the streamed ratings (JSON Lines objects under
  ``YYYY/MM/DD/HH/``, gzipped or not);
* ``--output_uri`` - where ``rating/``, ``movies/`` and ``links/`` are written
  (``s3://<lake>/ml/trainingdata/``);
* ``--report_uri`` - optional: the job's counts as JSON.

What it does, as the workshop's Glue job: reads both sides of the ratings, strips quotes from
every text value, unions them by position (batch ``userId, movieId, rating, timestamp_c`` with
the stream's ``userid, movieid, ratingid, timestamp``), casts ids and timestamps to integers
and ratings to numbers, drops the rows that do not cast (the stream's header line, and any
other malformed record), and writes each table as one CSV with a header.
"""

from __future__ import annotations

import gzip
import json
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pandas as pd

REQUIRED = ("ratings_table", "movies_table", "links_table", "stream_uri", "output_uri")
OPTIONAL = ("report_uri",)
RATING_COLUMNS = ["userId", "movieId", "rating", "timestamp"]
BATCH_ORDER = ["userId", "movieId", "rating", "timestamp_c"]  # ratings_t, by position
STREAM_ORDER = ["userid", "movieid", "ratingid", "timestamp"]  # the stream's records
SCAN_SEGMENTS = 4


class JobArgumentError(ValueError):
    """A required job argument is missing."""


def resolved_options(argv: list[str]) -> dict[str, str]:
    """``getResolvedOptions(sys.argv, REQUIRED)`` plus the optional ones given."""
    try:
        from awsglue.utils import getResolvedOptions  # type: ignore[import-not-found]
    except ImportError:
        getResolvedOptions = None
    present = [name for name in OPTIONAL if f"--{name}" in argv]
    if getResolvedOptions is not None:
        return dict(getResolvedOptions(argv, [*REQUIRED, *present]))
    options: dict[str, str] = {}
    i = 0
    while i < len(argv):
        arg = argv[i]
        if arg.startswith("--"):
            name, eq, value = arg[2:].partition("=")
            if not eq and i + 1 < len(argv) and not argv[i + 1].startswith("--"):
                value, i = argv[i + 1], i + 1
            options[name] = value
        i += 1
    missing = [name for name in REQUIRED if not options.get(name)]
    if missing:
        raise JobArgumentError(
            f"job arguments {', '.join('--' + m for m in missing)} are required; set them in the "
            "job's DefaultArguments or the StartJobRun Arguments"
        )
    return options


def split_uri(uri: str) -> tuple[str, str]:
    if not uri.startswith("s3://"):
        raise JobArgumentError(f"{uri!r}: expected an s3://bucket/prefix URI")
    bucket, _, key = uri[5:].partition("/")
    return bucket, key


def scan_table(dynamodb: Any, table: str) -> pd.DataFrame:
    """Every item of a table (parallel scan), string attributes as columns."""

    def segment(n: int) -> list[dict[str, str]]:
        rows: list[dict[str, str]] = []
        kwargs: dict[str, Any] = {
            "TableName": table,
            "Segment": n,
            "TotalSegments": SCAN_SEGMENTS,
        }
        while True:
            page = dynamodb.scan(**kwargs)
            rows += [{k: next(iter(v.values())) for k, v in item.items()} for item in page["Items"]]
            if "LastEvaluatedKey" not in page:
                return rows
            kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]

    with ThreadPoolExecutor(SCAN_SEGMENTS) as pool:
        rows = [row for part in pool.map(segment, range(SCAN_SEGMENTS)) for row in part]
    return pd.DataFrame(rows, dtype=str)


def read_stream(s3: Any, uri: str) -> pd.DataFrame:
    """The streamed records: every JSON line of every object under the prefix."""
    bucket, prefix = split_uri(uri)
    records = []
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        for obj in page.get("Contents", []):
            body = s3.get_object(Bucket=bucket, Key=obj["Key"])["Body"].read()
            if obj["Key"].endswith(".gz"):
                body = gzip.decompress(body)
            for line in body.decode("utf-8").splitlines():
                if line.strip():
                    records.append(json.loads(line))
    return pd.DataFrame(records, columns=STREAM_ORDER, dtype=str)


def strip_quotes(frame: pd.DataFrame) -> pd.DataFrame:
    return frame.apply(lambda col: col.astype(str).str.strip().str.strip('"').str.strip())


def union_ratings(batch: pd.DataFrame, stream: pd.DataFrame) -> tuple[pd.DataFrame, int]:
    """(the cast union, rows dropped): columns by position, rows that do not cast dropped."""
    parts = []
    for frame, order in ((batch, BATCH_ORDER), (stream, STREAM_ORDER)):
        frame = frame.reindex(columns=order)
        frame.columns = RATING_COLUMNS
        parts.append(strip_quotes(frame.fillna("")))
    union = pd.concat(parts, ignore_index=True)
    cast = pd.DataFrame(
        {
            "userId": pd.to_numeric(union["userId"], errors="coerce"),
            "movieId": pd.to_numeric(union["movieId"], errors="coerce"),
            "rating": pd.to_numeric(union["rating"], errors="coerce"),
            "timestamp": pd.to_numeric(union["timestamp"], errors="coerce"),
        }
    )
    ok = cast.notna().all(axis=1) & cast["rating"].between(0.5, 5.0)
    for col in ("userId", "movieId", "timestamp"):
        ok &= cast[col].where(ok, 0) == cast[col].where(ok, 0).round()
    good = cast[ok].astype({"userId": "int64", "movieId": "int64", "timestamp": "int64"})
    return good.reset_index(drop=True), int((~ok).sum())


def with_int_id(frame: pd.DataFrame, columns: list[str]) -> tuple[pd.DataFrame, int]:
    """The table's columns, quotes stripped, ``movieId`` cast; rows that do not cast dropped."""
    frame = strip_quotes(frame.reindex(columns=columns).fillna(""))
    ids = pd.to_numeric(frame["movieId"], errors="coerce")
    ok = ids.notna() & (ids == ids.round())
    out = frame[ok].copy()
    out["movieId"] = ids[ok].astype("int64")
    return out.sort_values("movieId").reset_index(drop=True), int((~ok).sum())


def to_csv(frame: pd.DataFrame) -> bytes:
    return frame.to_csv(index=False, float_format="%.1f").encode("utf-8")


def run(options: dict[str, str], *, dynamodb: Any, s3: Any) -> dict[str, Any]:
    started = time.perf_counter()
    batch = scan_table(dynamodb, options["ratings_table"])
    stream = read_stream(s3, options["stream_uri"])
    ratings, dropped = union_ratings(batch, stream)
    ratings = ratings.sort_values(["userId", "timestamp", "movieId"], kind="stable")
    movies, movies_dropped = with_int_id(
        scan_table(dynamodb, options["movies_table"]), ["movieId", "title", "genres"]
    )
    links, links_dropped = with_int_id(
        scan_table(dynamodb, options["links_table"]), ["movieId", "imdbId", "tmdbId"]
    )
    bucket, prefix = split_uri(options["output_uri"].rstrip("/") + "/")
    for name, frame in (("rating", ratings), ("movies", movies), ("links", links)):
        s3.put_object(Bucket=bucket, Key=f"{prefix}{name}/{name}.csv", Body=to_csv(frame))
    report = {
        "batch_rows": len(batch),
        "stream_rows": len(stream),
        "dropped_rows": dropped,
        "rating_rows": len(ratings),
        "movies_rows": len(movies),
        "movies_dropped": movies_dropped,
        "links_rows": len(links),
        "links_dropped": links_dropped,
        "output_uri": f"s3://{bucket}/{prefix}",
        "seconds": round(time.perf_counter() - started, 3),
    }
    if options.get("report_uri"):
        rb, rk = split_uri(options["report_uri"])
        s3.put_object(Bucket=rb, Key=rk, Body=json.dumps(report, indent=2).encode())
    return report


def main(argv: list[str] | None = None) -> dict[str, Any]:
    import boto3

    options = resolved_options(list(sys.argv if argv is None else argv))
    report = run(options, dynamodb=boto3.client("dynamodb"), s3=boto3.client("s3"))
    print(json.dumps(report), flush=True)
    return report


if __name__ == "__main__":
    main()
