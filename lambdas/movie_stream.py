"""The stream simulator: the partial-load ratings, one JSON record per line, into Kinesis.

Event (``events/movie_stream.json``)::

    {"source_uri": "s3://lake/raw/<run id>/ratings-partial-load.csv",
     "stream_name": "movie-ratings"}

Every line of the file - its header too, as the workshop's simulator sends it (the ETL drops
it) - becomes a record ``{"userid", "movieid", "ratingid", "timestamp"}`` followed by a newline
(Firehose concatenates records as they are; the newline makes the delivered objects JSON
Lines), partition key the user id.  ``PutRecords`` in batches of 500, failed records resent.
Returns the number of records sent, of data rows among them, and when sending started (the
drain step counts what Firehose delivered since then).
"""

from __future__ import annotations

import csv
import io
import json
import time
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any

from common import objects
from common.errors import InvalidEventError

BATCH = 500  # PutRecords' limit
FIELDS = ("userid", "movieid", "ratingid", "timestamp")
RETRY_DELAYS_S = (0.1, 0.2, 0.4, 0.8, 1.6, 3.2)


def records(text: str) -> list[bytes]:
    """Each CSV line (the header included) as a JSON record ending in a newline."""
    out = []
    for fields in csv.reader(io.StringIO(text)):
        if not fields:
            continue
        padded = (fields + [""] * len(FIELDS))[: len(FIELDS)]
        out.append((json.dumps(dict(zip(FIELDS, padded, strict=True))) + "\n").encode())
    return out


@lru_cache(maxsize=1)
def kinesis() -> Any:
    import boto3

    return boto3.client("kinesis")


def put_all(client: Any, stream: str, data: list[bytes]) -> int:
    for start in range(0, len(data), BATCH):
        pending = [
            {"Data": d, "PartitionKey": json.loads(d)["userid"] or "0"}
            for d in data[start : start + BATCH]
        ]
        for delay in (0.0, *RETRY_DELAYS_S):
            if delay:
                time.sleep(delay)
            response = client.put_records(StreamName=stream, Records=pending)
            if not response.get("FailedRecordCount"):
                break
            pending = [
                entry
                for entry, result in zip(pending, response["Records"], strict=True)
                if result.get("ErrorCode")
            ]
        else:
            raise RuntimeError(f"{stream}: {len(pending)} records still failing after retries")
    return len(data)


def simulate(event: dict[str, Any], client: Any = None, store: Any = None) -> dict[str, Any]:
    if not isinstance(event, dict):
        raise InvalidEventError(f"event: expected a JSON object, got {type(event).__name__}")
    source = objects.require_uri(event, "source_uri")
    stream = event.get("stream_name")
    if not isinstance(stream, str) or not stream:
        raise InvalidEventError(f"stream_name: expected a Kinesis stream name, got {stream!r}")
    store = store if store is not None else objects.storage()
    data = records(objects.read_text(store, source))
    started = datetime.now(UTC)
    sent = put_all(client if client is not None else kinesis(), stream, data)
    return {
        "stream_name": stream,
        "sent": sent,
        "data_rows": max(sent - 1, 0),
        "started_at": started.isoformat(timespec="milliseconds"),
    }


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return simulate(event)
