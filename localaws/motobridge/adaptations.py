"""Where moto, mounted behind the local server, must behave differently from ``mock_aws``.

Each adaptation is one small replacement, applied once when the bridge mounts the services:

* Firehose: moto writes every ``PutRecord``/``PutRecordBatch`` into *moto's* S3 at once.
  The local S3 is the project's own (``localaws/s3``), and delivery (buffering hints,
  prefixes, compression) is wiring that observes the accepted ``PutRecord(Batch)`` calls
  (:meth:`MotoBridge.observe`).  moto only accepts the records and returns their ids.
"""

from __future__ import annotations

from typing import Any

_applied = False


def apply() -> None:
    global _applied
    if _applied:
        return
    from moto.firehose.models import FirehoseBackend
    from moto.moto_api._internal import mock_random

    def accept_s3_records(
        self: Any,
        delivery_stream_name: str,
        version_id: str,
        s3_destination: dict[str, Any],
        records: list[dict[str, bytes]],
    ) -> list[dict[str, str]]:
        return [{"RecordId": str(mock_random.uuid4())} for _ in records]

    FirehoseBackend.put_s3_records = accept_s3_records  # type: ignore[method-assign]
    _applied = True
