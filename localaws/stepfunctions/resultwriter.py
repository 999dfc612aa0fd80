"""A Distributed Map's ResultWriter: the results of a Map Run's child executions in S3.

AWS's layout, under ``<Prefix>/<map run id>/``:

* ``manifest.json``: ``{"DestinationBucket", "MapRunArn", "ResultFiles": {"FAILED": [...],
  "PENDING": [...], "SUCCEEDED": [...]}}``, each file listed as ``{"Key", "Size"}``.
* ``SUCCEEDED_0.json``, ``FAILED_0.json``, ``PENDING_0.json``: JSON arrays of the child
  executions with that status, each as ``ExecutionArn``, ``Input``, ``InputDetails``,
  ``Name``, ``Output``/``OutputDetails`` (or ``Error``/``Cause``), ``RedriveCount``,
  ``RedriveStatus``, ``RedriveStatusReason``, ``StartDate``, ``StateMachineArn``,
  ``Status``, ``StopDate``.  A failed, timed-out or aborted child is in FAILED; an item no
  child execution started for (the Map Run stopped first) is in PENDING.

The Map state's result is then ``{"MapRunArn", "ResultWriterDetails": {"Bucket", "Key"}}``
(the manifest's key).  An unwritable destination fails the state with
``States.ResultWriterFailed``.
"""

from __future__ import annotations

import hashlib
import json
from typing import TYPE_CHECKING, Any

from localaws.asl.errors import StateFailure, StatesError
from localaws.asl.paths import payload_template
from localaws.s3.backend import S3Error

if TYPE_CHECKING:
    from localaws.s3.backend import ObjectStore

RESULT_STATUSES = ("FAILED", "PENDING", "SUCCEEDED")
FAILED_STATUSES = ("FAILED", "TIMED_OUT", "ABORTED")


def destination(writer: dict[str, Any], effective: Any, ctx: Any) -> tuple[str, str]:
    """(bucket, prefix) of a ResultWriter, its Parameters evaluated on the state's input."""
    params = payload_template(writer.get("Parameters", {}), effective, ctx)
    bucket = params.get("Bucket") if isinstance(params, dict) else None
    if not isinstance(bucket, str) or not bucket:
        raise StateFailure(
            StatesError.RESULT_WRITER_FAILED,
            f"ResultWriter.Parameters.Bucket: a bucket name is required, got {bucket!r}",
        )
    prefix = params.get("Prefix", "")
    return bucket, str(prefix or "").strip("/")


def _put(s3: ObjectStore, bucket: str, key: str, body: bytes) -> None:
    out, temp = s3.new_temp()
    with out:
        out.write(body)
    etag = '"' + hashlib.md5(body).hexdigest() + '"'
    s3.commit(temp, bucket, key, etag, "application/json", {})


def write_results(
    s3: ObjectStore,
    bucket: str,
    prefix: str,
    map_run_arn: str,
    entries: dict[str, list[dict[str, Any]]],
) -> dict[str, Any]:
    """Write the result files and the manifest; return the Map state's result."""
    run_id = map_run_arn.rsplit(":", 1)[1]
    base = f"{prefix}/{run_id}" if prefix else run_id
    manifest: dict[str, Any] = {
        "DestinationBucket": bucket,
        "MapRunArn": map_run_arn,
        "ResultFiles": {status: [] for status in RESULT_STATUSES},
    }
    try:
        s3.require_bucket(bucket)
        for status in RESULT_STATUSES:
            if not entries.get(status):
                continue
            key = f"{base}/{status}_0.json"
            body = json.dumps(entries[status]).encode()
            _put(s3, bucket, key, body)
            manifest["ResultFiles"][status].append({"Key": key, "Size": len(body)})
        manifest_key = f"{base}/manifest.json"
        _put(s3, bucket, manifest_key, json.dumps(manifest).encode())
    except S3Error as e:
        raise StateFailure(
            StatesError.RESULT_WRITER_FAILED,
            f"ResultWriter could not write to s3://{bucket}/{base}/: {e.code}: {e.message}",
        ) from e
    return {
        "MapRunArn": map_run_arn,
        "ResultWriterDetails": {"Bucket": bucket, "Key": manifest_key},
    }
