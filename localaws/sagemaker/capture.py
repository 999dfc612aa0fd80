"""Endpoint data capture: what an endpoint's ``DataCaptureConfig`` asks for, written as AWS
writes it.

Every sampled InvokeEndpoint becomes one JSON Lines event::

    {"captureData": {"endpointInput": {"observedContentType": "text/csv", "mode": "INPUT",
                                       "data": "1,2,3", "encoding": "CSV"},
                     "endpointOutput": {...  "mode": "OUTPUT" ...}},
     "eventMetadata": {"eventId": "<uuid>", "inferenceId": "...", "inferenceTime": "...Z"},
     "eventVersion": "0"}

in ``<DestinationS3Uri>/<endpoint>/<variant>/YYYY/MM/DD/HH/<MM-SS-mmm>-<uuid>.jsonl`` of the
local S3 (one file per event, written atomically, so a crash loses nothing that was answered).
Payloads whose content type is listed in ``CaptureContentTypeHeader`` (CSV or JSON, with
text/csv and application/json by default) are captured as text, the rest as BASE64.
"""

from __future__ import annotations

import base64
import json
import random
import uuid
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from localaws.runtime import Runtime

EVENT_VERSION = "0"
DEFAULT_CSV_TYPES = ("text/csv",)
DEFAULT_JSON_TYPES = ("application/json", "application/jsonlines")


def capture_config(runtime: Runtime, endpoint: str) -> dict[str, Any] | None:
    """The endpoint's DataCaptureConfig when capture is enabled, else None."""
    records = runtime.sagemaker.records
    record = records.get("Endpoint", endpoint)
    if record is None:
        return None
    config = records.get("EndpointConfig", record["EndpointConfigName"])
    capture = (config or {}).get("DataCaptureConfig")
    if not capture or not capture.get("EnableCapture", True):
        return None
    return dict(capture)


def capture_summary(endpoint_config: dict[str, Any] | None) -> dict[str, Any] | None:
    """DescribeEndpoint's DataCaptureConfig (a DataCaptureConfigSummary), or None."""
    capture = (endpoint_config or {}).get("DataCaptureConfig")
    if not capture:
        return None
    enabled = bool(capture.get("EnableCapture", True))
    return {
        "EnableCapture": enabled,
        "CaptureStatus": "Started" if enabled else "Stopped",
        "CurrentSamplingPercentage": int(capture.get("InitialSamplingPercentage", 100)),
        "DestinationS3Uri": capture["DestinationS3Uri"],
        "KmsKeyId": capture.get("KmsKeyId", ""),
    }


def _encoding(content_type: str, header: dict[str, Any]) -> str:
    base = (content_type or "").split(";")[0].strip().lower()
    if base in [t.lower() for t in header.get("CsvContentTypes") or DEFAULT_CSV_TYPES]:
        return "CSV"
    if base in [t.lower() for t in header.get("JsonContentTypes") or DEFAULT_JSON_TYPES]:
        return "JSON"
    return "BASE64"


def _part(mode: str, content_type: str, body: bytes, header: dict[str, Any]) -> dict[str, Any]:
    encoding = _encoding(content_type, header)
    if encoding == "BASE64":
        data = base64.b64encode(body).decode()
    else:
        data = body.decode("utf-8", "replace")
    return {"observedContentType": content_type, "mode": mode, "data": data, "encoding": encoding}


def capture_event(
    config: dict[str, Any],
    request: tuple[str, bytes],
    response: tuple[str, bytes],
    inference_id: str | None,
    when: datetime,
) -> dict[str, Any]:
    header = config.get("CaptureContentTypeHeader") or {}
    modes = {o["CaptureMode"] for o in config.get("CaptureOptions") or []} or {"Input", "Output"}
    data: dict[str, Any] = {}
    if "Input" in modes:
        data["endpointInput"] = _part("INPUT", request[0], request[1], header)
    if "Output" in modes:
        data["endpointOutput"] = _part("OUTPUT", response[0], response[1], header)
    meta = {"eventId": str(uuid.uuid4()), "inferenceTime": when.strftime("%Y-%m-%dT%H:%M:%SZ")}
    if inference_id:
        meta["inferenceId"] = inference_id
    return {"captureData": data, "eventMetadata": meta, "eventVersion": EVENT_VERSION}


def capture_key(destination: str, endpoint: str, variant: str, when: datetime) -> str:
    millis = f"{when.microsecond // 1000:03d}"
    return (
        f"{destination.rstrip('/')}/{endpoint}/{variant}/{when:%Y/%m/%d/%H}/"
        f"{when:%M-%S}-{millis}-{uuid.uuid4()}.jsonl"
    )


def record_invocation(
    runtime: Runtime,
    endpoint: str,
    variant: str,
    request: tuple[str, bytes],
    response: tuple[str, bytes],
    inference_id: str | None = None,
) -> str | None:
    """Capture one invocation when the endpoint's config asks for it; return the file URI."""
    config = capture_config(runtime, endpoint)
    if config is None:
        return None
    if random.uniform(0, 100) >= float(config.get("InitialSamplingPercentage", 100)):
        return None
    when = datetime.now(UTC)
    event = capture_event(config, request, response, inference_id, when)
    uri = capture_key(config["DestinationS3Uri"], endpoint, variant, when)
    runtime.storage.write(uri, (json.dumps(event) + "\n").encode())
    return uri
