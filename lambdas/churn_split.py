"""Inference fan-out, first half: an uploaded inference CSV -> one SQS message per row.

Event: an S3 notification (``events/churn_split.json``) for an object
``<inference prefix><Dimension>/<file>.csv``.  The file is read with a real CSV parser (its
header may carry stray quotes); each row becomes a message ``{"dimension", "source", "row",
"header", "values"}`` on ``$QUEUE_URL`` (batches of ten); then the file moves to
``$PROCESSED_PREFIX<Dimension>/<file>.csv`` (copy, then delete).

Environment: ``QUEUE_URL``, ``INFERENCE_PREFIX`` (default ``inference-dataset/``),
``PROCESSED_PREFIX`` (default ``processed/``).
"""

from __future__ import annotations

import csv
import io
import json
import os
import urllib.parse
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from common.errors import InvalidEventError, SchemaError

BATCH = 10  # SendMessageBatch's limit


@dataclass(frozen=True)
class Upload:
    bucket: str
    key: str
    dimension: str


def uploads(event: dict[str, Any], prefix: str) -> list[Upload]:
    """The uploaded objects of an S3 notification, with their dimension."""
    records = event.get("Records") if isinstance(event, dict) else None
    if not isinstance(records, list):
        raise InvalidEventError("Records: expected an S3 notification with a Records list")
    found = []
    for i, record in enumerate(records):
        try:
            bucket = record["s3"]["bucket"]["name"]
            key = urllib.parse.unquote_plus(record["s3"]["object"]["key"])
        except (KeyError, TypeError) as e:
            raise InvalidEventError(f"Records[{i}].s3: no bucket name or object key") from e
        rest = key[len(prefix) :] if key.startswith(prefix) else ""
        dimension, _, name = rest.partition("/")
        if not dimension or not name:
            raise InvalidEventError(
                f"Records[{i}].s3.object.key {key!r}: expected {prefix}<Dimension>/<file>.csv"
            )
        found.append(Upload(bucket, key, dimension))
    return found


def messages(upload: Upload, text: str) -> list[dict[str, Any]]:
    """One message per data row of an inference file."""
    rows = [row for row in csv.reader(io.StringIO(text)) if row]
    if not rows:
        raise SchemaError(f"s3://{upload.bucket}/{upload.key}: empty file; expected a header row")
    header = [name.strip().strip('"').strip("'").strip() for name in rows[0]]
    out = []
    for number, row in enumerate(rows[1:], start=1):
        if len(row) != len(header):
            raise SchemaError(
                f"s3://{upload.bucket}/{upload.key} row {number}: {len(row)} values, "
                f"the header has {len(header)}"
            )
        out.append(
            {
                "dimension": upload.dimension,
                "source": upload.key,
                "row": number,
                "header": header,
                "values": [value.strip() for value in row],
            }
        )
    return out


@lru_cache(maxsize=1)
def _clients() -> tuple[Any, Any]:
    import boto3

    return boto3.client("s3"), boto3.client("sqs")


def send(sqs: Any, queue_url: str, batch: list[dict[str, Any]]) -> int:
    for start in range(0, len(batch), BATCH):
        chunk = batch[start : start + BATCH]
        reply = sqs.send_message_batch(
            QueueUrl=queue_url,
            Entries=[
                {"Id": str(i), "MessageBody": json.dumps(message)}
                for i, message in enumerate(chunk)
            ],
        )
        if reply.get("Failed"):
            failed = reply["Failed"][0]
            raise RuntimeError(
                f"SendMessageBatch to {queue_url}: {len(reply['Failed'])} failed, e.g. "
                f"{failed.get('Code')}: {failed.get('Message')}"
            )
    return len(batch)


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    queue_url = os.environ.get("QUEUE_URL", "")
    if not queue_url:
        raise InvalidEventError("QUEUE_URL: not set in the function's environment")
    prefix = os.environ.get("INFERENCE_PREFIX", "inference-dataset/")
    processed = os.environ.get("PROCESSED_PREFIX", "processed/")
    s3, sqs = _clients()
    done = []
    for upload in uploads(event, prefix):
        body = s3.get_object(Bucket=upload.bucket, Key=upload.key)["Body"].read()
        sent = send(sqs, queue_url, messages(upload, body.decode("utf-8-sig")))
        target = processed + upload.key[len(prefix) :]
        s3.copy_object(
            Bucket=upload.bucket,
            Key=target,
            CopySource={"Bucket": upload.bucket, "Key": upload.key},
        )
        s3.delete_object(Bucket=upload.bucket, Key=upload.key)
        done.append({"dimension": upload.dimension, "rows": sent, "moved_to": target})
    return {"files": done}
