"""Firehose delivery to the local S3: buffered records become objects, as Firehose writes them.

moto accepts ``PutRecord``/``PutRecordBatch`` (and keeps the delivery streams); this module
observes each accepted call (:meth:`MotoBridge.observe`, before the reply leaves) and appends
its records to a durable buffer (table ``firehose_buffer`` in the runtime's database).  A
delivery stream whose source is a Kinesis stream gets the records of every accepted Kinesis
``PutRecord``/``PutRecords`` for that stream the same way.

A flusher thread delivers a stream's buffer when it holds ``BufferingHints.SizeInMBs`` or its
oldest record is ``BufferingHints.IntervalInSeconds`` old (Firehose's defaults: 5 MB, 300 s):
records are concatenated as sent (Firehose adds no delimiter) into objects of at most the
size hint, written through the local S3 (so bucket notifications fire), then removed from the
buffer.  An object's name derives from its first record, so a flush interrupted by a crash
rewrites the same object rather than adding a copy.

Object keys are AWS's: ``<prefix><stream>-<version>-YYYY-MM-DD-HH-MM-SS-<uuid>`` with the
default prefix ``YYYY/MM/DD/HH/`` (UTC, the oldest record's arrival).  A custom ``Prefix``
may use ``!{timestamp:<Java date pattern>}`` and ``!{firehose:random-string}``; without a
timestamp expression Firehose appends ``YYYY/MM/DD/HH/``.  ``CompressionFormat=GZIP``
gzips the object and adds ``.gz``.  :func:`render_prefix` also renders an
``ErrorOutputPrefix`` (``!{firehose:error-output-type}``); locally no record transformation
runs, so nothing fails into it.  While the destination bucket does not exist the records
stay buffered (Firehose retries the delivery too).
"""

from __future__ import annotations

import base64
import gzip
import hashlib
import json
import logging
import re
import threading
import time
import uuid
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from localaws.errors import ServiceError

if TYPE_CHECKING:
    from localaws.motobridge.bridge import Mutation
    from localaws.runtime import Runtime

log = logging.getLogger(__name__)

DDL = """
CREATE TABLE IF NOT EXISTS firehose_buffer (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    stream TEXT NOT NULL,
    data BLOB NOT NULL,
    arrived REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS firehose_buffer_stream ON firehose_buffer(stream, id);
"""
DEFAULT_SIZE_MB = 5
DEFAULT_INTERVAL_S = 300
TICK_S = 0.25
MIB = 1024 * 1024
_EXPRESSION = re.compile(r"!\{([a-zA-Z]+):([^}]*)\}")
# Java DateTimeFormatter letters Firehose prefixes use, longest first.
_JAVA_DATE = (
    ("yyyy", "%Y"),
    ("yy", "%y"),
    ("MM", "%m"),
    ("dd", "%d"),
    ("HH", "%H"),
    ("mm", "%M"),
    ("ss", "%S"),
)


def java_date(pattern: str, at: datetime) -> str:
    """Format ``at`` with a Java date pattern (``yyyy/MM/dd/HH``, quoted literals '...')."""
    out, i = [], 0
    while i < len(pattern):
        if pattern[i] == "'":
            end = pattern.find("'", i + 1)
            end = len(pattern) if end < 0 else end
            out.append(pattern[i + 1 : end])
            i = end + 1
            continue
        for token, code in _JAVA_DATE:
            if pattern.startswith(token, i):
                out.append(at.strftime(code))
                i += len(token)
                break
        else:
            out.append(pattern[i])
            i += 1
    return "".join(out)


def render_prefix(prefix: str, at: datetime, *, error_type: str | None = None) -> str:
    """A Firehose ``Prefix``/``ErrorOutputPrefix`` for records that arrived at ``at``."""
    has_timestamp = False

    def expand(m: re.Match[str]) -> str:
        nonlocal has_timestamp
        namespace, value = m[1], m[2]
        if namespace == "timestamp":
            has_timestamp = True
            return java_date(value, at)
        if namespace == "firehose" and value == "random-string":
            return uuid.uuid4().hex[:11]
        if namespace == "firehose" and value == "error-output-type":
            if error_type is None:
                raise ServiceError(
                    "InvalidArgumentException",
                    "Prefix: !{firehose:error-output-type} is only allowed in ErrorOutputPrefix",
                )
            return error_type
        raise ServiceError(
            "InvalidArgumentException",
            f"Prefix: {m[0]!r} is not an expression Firehose knows; use !{{timestamp:...}}, "
            "!{firehose:random-string} or !{firehose:error-output-type}",
        )

    rendered = _EXPRESSION.sub(expand, prefix)
    if not has_timestamp:
        rendered += at.strftime("%Y/%m/%d/%H/")
    return rendered


class FirehoseDelivery:
    """Buffers accepted records and writes them to the local S3."""

    def __init__(self, runtime: Runtime):
        self.runtime = runtime
        self.db = runtime.db
        self.db.ensure_schema("firehose_buffer", DDL)
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None
        self._kinesis_sources: dict[str, list[str]] | None = None

    # -- observing (under the bridge's lock) ---------------------------------------------

    def observe(self, mutation: Mutation) -> None:
        if mutation.service == "firehose":
            if mutation.operation in ("CreateDeliveryStream", "DeleteDeliveryStream"):
                self._kinesis_sources = None
            if mutation.operation not in ("PutRecord", "PutRecordBatch"):
                return
            request = json.loads(mutation.body or b"{}")
            reply = json.loads(mutation.reply.body or b"{}")
            stream = request["DeliveryStreamName"]
            if mutation.operation == "PutRecord":
                datas = [request["Record"]["Data"]]
            else:
                results = reply.get("RequestResponses", [])
                datas = [
                    r["Data"]
                    for r, res in zip(request.get("Records", []), results, strict=False)
                    if "RecordId" in res and not res.get("ErrorCode")
                ]
            self._buffer(stream, [base64.b64decode(d) for d in datas])
        elif mutation.service == "kinesis" and mutation.operation in ("PutRecord", "PutRecords"):
            request = json.loads(mutation.body or b"{}")
            name = request.get("StreamName") or str(request.get("StreamARN", "")).rsplit("/", 1)[-1]
            targets = self._sources().get(name, [])
            if not targets:
                return
            if mutation.operation == "PutRecord":
                datas = [request["Data"]]
            else:
                results = json.loads(mutation.reply.body or b"{}").get("Records", [])
                datas = [
                    r["Data"]
                    for r, res in zip(request.get("Records", []), results, strict=False)
                    if not res.get("ErrorCode")
                ]
            for stream in targets:
                self._buffer(stream, [base64.b64decode(d) for d in datas])

    def _sources(self) -> dict[str, list[str]]:
        """Kinesis stream name -> the delivery streams it feeds (read from moto)."""
        if self._kinesis_sources is None:
            from moto.firehose.models import firehose_backends

            found: dict[str, list[str]] = {}
            backend = firehose_backends[self.runtime.account_id][self.runtime.region]
            for name, stream in backend.delivery_streams.items():
                source = getattr(stream, "source", None) or {}
                arn = source.get("KinesisStreamARN") if isinstance(source, dict) else None
                if arn:
                    found.setdefault(arn.rsplit("/", 1)[-1], []).append(name)
            self._kinesis_sources = found
        return self._kinesis_sources

    def _buffer(self, stream: str, datas: list[bytes]) -> None:
        if not datas:
            return
        now = time.time()
        with self.db.transaction() as conn:
            conn.executemany(
                "INSERT INTO firehose_buffer(stream, data, arrived) VALUES (?, ?, ?)",
                [(stream, d, now) for d in datas],
            )
        self._wake.set()

    # -- flushing ------------------------------------------------------------------------

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="firehose delivery", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
            self._thread = None

    def _run(self) -> None:
        while not self._stop.is_set():
            self._wake.wait(TICK_S)
            self._wake.clear()
            try:
                self.flush()
            except Exception:
                if self._stop.is_set():
                    return
                log.exception("Firehose delivery failed; the records stay buffered")
                self._stop.wait(1.0)

    def flush(self, *, force: bool = False) -> int:
        """Deliver every stream whose buffer is due; returns how many objects were written."""
        written = 0
        rows = self.db.query(
            "SELECT stream, MIN(arrived) AS oldest, SUM(LENGTH(data)) AS size "
            "FROM firehose_buffer GROUP BY stream"
        )
        for row in rows:
            destination = self._destination(row["stream"])
            if destination is None:
                continue
            hints = destination.get("BufferingHints") or {}
            size_limit = int(hints.get("SizeInMBs", DEFAULT_SIZE_MB)) * MIB
            interval = float(hints.get("IntervalInSeconds", DEFAULT_INTERVAL_S))
            due = row["size"] >= size_limit or time.time() - row["oldest"] >= interval
            if force or due:
                written += self._deliver(row["stream"], destination, size_limit)
        return written

    def _destination(self, stream: str) -> dict[str, Any] | None:
        try:
            described = self.runtime.firehose.describe_delivery_stream(DeliveryStreamName=stream)
        except ServiceError:
            return None  # the stream was deleted: its buffer waits (and is never delivered)
        description = described["DeliveryStreamDescription"]
        for destination in description.get("Destinations", []):
            s3 = destination.get("ExtendedS3DestinationDescription") or destination.get(
                "S3DestinationDescription"
            )
            if s3:
                return {**s3, "VersionId": description.get("VersionId", "1")}
        return None

    def _deliver(self, stream: str, destination: dict[str, Any], size_limit: int) -> int:
        from localaws.s3.backend import S3Error

        rows = self.db.query(
            "SELECT id, data, arrived FROM firehose_buffer WHERE stream = ? ORDER BY id",
            (stream,),
        )
        bucket = str(destination["BucketARN"]).split(":::", 1)[-1]
        written = 0
        batch: list[Any] = []
        size = 0
        batches = []
        for row in rows:
            if batch and size + len(row["data"]) > size_limit:
                batches.append(batch)
                batch, size = [], 0
            batch.append(row)
            size += len(row["data"])
        if batch:
            batches.append(batch)
        for batch in batches:
            body = b"".join(r["data"] for r in batch)
            at = datetime.fromtimestamp(batch[0]["arrived"], UTC)
            identity = uuid.UUID(
                hashlib.sha256(f"{stream}/{batch[0]['id']}".encode()).hexdigest()[:32]
            )
            prefix = render_prefix(str(destination.get("Prefix") or ""), at)
            key = f"{prefix}{stream}-{destination['VersionId']}-{at:%Y-%m-%d-%H-%M-%S}-{identity}"
            if str(destination.get("CompressionFormat", "UNCOMPRESSED")).upper() == "GZIP":
                body = gzip.compress(body, mtime=0)
                key += ".gz"
            try:
                self._put(bucket, key, body)
            except S3Error as e:
                if e.code != "NoSuchBucket":
                    raise
                log.warning(
                    "Firehose %s: bucket %s does not exist; records stay buffered", stream, bucket
                )
                return written
            with self.db.transaction() as conn:
                conn.executemany(
                    "DELETE FROM firehose_buffer WHERE id = ?", [(r["id"],) for r in batch]
                )
            written += 1
        return written

    def _put(self, bucket: str, key: str, body: bytes) -> None:
        store = self.runtime.s3
        store.object_path(bucket, key)
        out, temp = store.new_temp()
        with out:
            out.write(body)
        store.commit(temp, bucket, key, f'"{hashlib.md5(body).hexdigest()}"', None, {})
