"""Stream drain: wait until Firehose has delivered every record the simulator sent.

Event (``events/movie_drain.json``)::

    {"lake_uri": "s3://lake/stream/ratings/",   # the delivery stream's prefix
     "expected": 2368,                          # records sent
     "since": "2024-01-31T23:59:59.000+00:00"}  # when sending started

Counts the records (lines) of the objects written under ``lake_uri`` since ``since`` (gzipped
ones too), grouped by their ``YYYY/MM/DD/HH/`` partition.  Fewer than ``expected`` raises
:class:`StreamNotDrainedError`, which the workflow retries; otherwise returns the counts.
"""

from __future__ import annotations

import gzip
from datetime import datetime, timedelta
from functools import lru_cache
from typing import Any

from common import objects
from common.errors import InvalidEventError, StreamNotDrainedError

from localaws.lambdakit.storage import parse_s3_uri

SLACK = timedelta(seconds=1)  # S3's LastModified has whole seconds


@lru_cache(maxsize=1)
def s3() -> Any:
    import boto3

    return boto3.client("s3")


def partition_of(key: str, prefix: str) -> str:
    """``stream/ratings/2024/01/31/23/x`` under ``stream/ratings/`` -> ``2024/01/31/23``."""
    return "/".join(key[len(prefix) :].split("/")[:4])


def delivered(client: Any, lake_uri: str, since: datetime) -> dict[str, Any]:
    bucket, prefix = parse_s3_uri(lake_uri)
    partitions: dict[str, int] = {}
    keys = []
    for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        for obj in page.get("Contents", []):
            if obj["LastModified"] < since - SLACK:
                continue
            body = client.get_object(Bucket=bucket, Key=obj["Key"])["Body"].read()
            if obj["Key"].endswith(".gz"):
                body = gzip.decompress(body)
            lines = sum(1 for line in body.splitlines() if line.strip())
            part = partition_of(obj["Key"], prefix)
            partitions[part] = partitions.get(part, 0) + lines
            keys.append(obj["Key"])
    return {
        "records": sum(partitions.values()),
        "objects": len(keys),
        "partitions": dict(sorted(partitions.items())),
    }


def drain(event: dict[str, Any], client: Any = None) -> dict[str, Any]:
    if not isinstance(event, dict):
        raise InvalidEventError(f"event: expected a JSON object, got {type(event).__name__}")
    lake_uri = objects.require_uri(event, "lake_uri")
    expected = event.get("expected")
    if isinstance(expected, bool) or not isinstance(expected, int) or expected < 0:
        raise InvalidEventError(f"expected: a non-negative record count, got {expected!r}")
    try:
        since = datetime.fromisoformat(str(event.get("since")))
    except ValueError as e:
        raise InvalidEventError(
            f"since: an ISO 8601 time with an offset, got {event.get('since')!r}"
        ) from e
    if since.tzinfo is None:
        raise InvalidEventError(f"since: {event['since']!r} has no UTC offset; add +00:00")
    found = delivered(client if client is not None else s3(), lake_uri, since)
    if found["records"] < expected:
        raise StreamNotDrainedError(
            f"{found['records']} of {expected} records delivered under {lake_uri} so far"
        )
    return {"lake_uri": lake_uri, "expected": expected, **found}


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return drain(event)
