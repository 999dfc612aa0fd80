"""The real-time inference Lambda: records -> the SageMaker endpoint -> the predictions table.

Event (``events/predict.json``)::

    {"endpoint_name": "predictive-maintenance",
     "model_name": "predictive-maintenance-<run id>",
     "records": [[298.1, 308.6, 1551, 42.8, 0, 0, 1, 0], ...],   # feature lists, or instead
     "records_uri": "s3://bucket/prepared/<run id>/test-features/test_features.csv",
                 # a headerless features-only CSV (prepare's sample_uri)
     "max_records": 5,            # optional: rows taken from records_uri (default 5)
     "readings": false,           # optional: true when records_uri holds raw readings whose
                                  # fields may be categories (``L,298.4,...``: an inference
                                  # pipeline's input), sent as they are
     "table_name": "predictions"}  # optional: default $PREDICTIONS_TABLE, then "predictions"

Sends the records as one ``text/csv`` request, stores one item per record (input, score,
model name, endpoint name, timestamp) and returns them.
"""

from __future__ import annotations

import math
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any

from common import objects
from common.errors import EndpointError, InvalidEventError
from common.predictions import PredictionRecord, PredictionsTable, table_from_env

DEFAULT_MAX_RECORDS = 5
MAX_RECORDS = 1000  # keeps the result well under Step Functions' 256 KB payload limit
CONTENT_TYPE = "text/csv"


@dataclass(frozen=True)
class PredictRequest:
    endpoint_name: str
    model_name: str
    records: list[list[float]] | None
    records_uri: str | None
    max_records: int
    table_name: str | None
    readings: bool = False

    @classmethod
    def from_event(cls, event: dict[str, Any]) -> PredictRequest:
        if not isinstance(event, dict):
            raise InvalidEventError(f"event: expected a JSON object, got {type(event).__name__}")
        names = {}
        for field in ("endpoint_name", "model_name"):
            value = event.get(field)
            if not isinstance(value, str) or not value:
                raise InvalidEventError(f"{field}: expected a non-empty string, got {value!r}")
            names[field] = value
        table_name = event.get("table_name")
        if table_name is not None and (not isinstance(table_name, str) or not table_name):
            raise InvalidEventError(f"table_name: expected a non-empty string, got {table_name!r}")
        max_records = event.get("max_records", DEFAULT_MAX_RECORDS)
        if (
            isinstance(max_records, bool)
            or not isinstance(max_records, int)
            or not 1 <= max_records <= MAX_RECORDS
        ):
            raise InvalidEventError(
                f"max_records: expected an integer from 1 to {MAX_RECORDS}, got {max_records!r}"
            )
        has_records, has_uri = (
            event.get("records") is not None,
            event.get("records_uri") is not None,
        )
        if has_records == has_uri:
            raise InvalidEventError(
                "records, records_uri: give exactly one: records (a list of feature lists) or "
                "records_uri (an s3:// URI of a headerless features-only CSV)"
            )
        readings = event.get("readings", False)
        if not isinstance(readings, bool):
            raise InvalidEventError(f"readings: expected true or false, got {readings!r}")
        if has_uri:
            uri = objects.require_uri(event, "records_uri")
            return cls(
                names["endpoint_name"],
                names["model_name"],
                None,
                uri,
                max_records,
                table_name,
                readings,
            )
        records = check_records(event["records"], "records")
        return cls(
            names["endpoint_name"], names["model_name"], records, None, max_records, table_name
        )


def check_records(raw: Any, where: str) -> list[list[float]]:
    """A non-empty list of equally long lists of finite numbers."""
    if not isinstance(raw, list) or not raw:
        raise InvalidEventError(
            f"{where}: expected a non-empty list of feature lists, got {raw!r:.80}"
        )
    if len(raw) > MAX_RECORDS:
        raise InvalidEventError(
            f"{where}: {len(raw)} records; send at most {MAX_RECORDS} per invocation"
        )
    records = []
    for i, row in enumerate(raw):
        if not isinstance(row, list) or not row:
            raise InvalidEventError(
                f"{where}[{i}]: expected a non-empty list of numbers, got {row!r:.80}"
            )
        for j, value in enumerate(row):
            if (
                isinstance(value, bool)
                or not isinstance(value, int | float)
                or not math.isfinite(value)
            ):
                raise InvalidEventError(
                    f"{where}[{i}][{j}]: expected a finite number, got {value!r}"
                )
        if len(row) != len(raw[0]):
            raise InvalidEventError(
                f"{where}[{i}]: {len(row)} features, but {where}[0] has {len(raw[0])}; every record "
                "needs the same features in the same order"
            )
        records.append([float(v) for v in row])
    return records


MAX_CATEGORY = 64  # characters of a categorical field of a raw reading


def reading_field(field: str, where: str) -> float | str:
    """A raw reading's field: a number, else a short category (``L``)."""
    text = field.strip()
    try:
        return float(text)
    except ValueError:
        pass
    if not text or len(text) > MAX_CATEGORY or '"' in text:
        raise InvalidEventError(
            f"{where}: {text[:20]!r} is neither a number nor a category of at most "
            f"{MAX_CATEGORY} characters"
        )
    return text


def read_records(store: Any, uri: str, limit: int, *, readings: bool = False) -> list[list[Any]]:
    """The first ``limit`` rows of a headerless numeric CSV (or of raw readings)."""
    rows: list[Any] = []
    for number, line in enumerate(objects.read_text(store, uri).splitlines(), start=1):
        if not line.strip():
            continue
        if readings:
            where = f"records_uri: {uri} line {number}"
            rows.append([reading_field(f, where) for f in line.split(",")])
            if len(rows[-1]) != len(rows[0]):
                raise InvalidEventError(
                    f"{where}: {len(rows[-1])} fields, but line 1 has {len(rows[0])}"
                )
            if len(rows) == limit:
                break
            continue
        try:
            rows.append([float(field) for field in line.split(",")])
        except ValueError as e:
            raise InvalidEventError(
                f"records_uri: {uri} line {number}: not a row of numbers: {line!r:.80}"
            ) from e
        if len(rows) == limit:
            break
    if readings:
        if not rows:
            raise InvalidEventError(f"records_uri ({uri}): no readings")
        return rows
    return check_records(rows, f"records_uri ({uri})")


def to_csv(records: list[list[Any]]) -> str:
    return (
        "\n".join(",".join(v if isinstance(v, str) else repr(v) for v in row) for row in records)
        + "\n"
    )


def parse_scores(body: bytes, endpoint_name: str, expected: int) -> list[float]:
    text = body.decode("utf-8", "replace")
    fields = [f for f in text.replace("\n", ",").split(",") if f.strip()]
    try:
        scores = [float(f.strip().strip("[]")) for f in fields]
    except ValueError as e:
        raise EndpointError(
            f"endpoint {endpoint_name}: response is not comma/newline-separated scores: {text!r:.200}"
        ) from e
    if len(scores) != expected:
        raise EndpointError(
            f"endpoint {endpoint_name}: {len(scores)} scores for {expected} records; the model "
            "must return one score per CSV line"
        )
    return scores


@lru_cache(maxsize=1)
def runtime_client() -> Any:
    """The SageMaker runtime client of this worker (local endpoints when the runtime says so)."""
    from localaws.lambdakit.clients import sagemaker_runtime_client

    return sagemaker_runtime_client()


@lru_cache(maxsize=8)
def predictions_table(name: str | None) -> PredictionsTable:
    return table_from_env(name)


def invoke(client: Any, endpoint_name: str, records: list[list[Any]]) -> list[float]:
    from botocore.exceptions import ClientError

    try:
        response = client.invoke_endpoint(
            EndpointName=endpoint_name, Body=to_csv(records), ContentType=CONTENT_TYPE
        )
    except ClientError as e:
        error = e.response.get("Error", {})
        raise EndpointError(
            f"endpoint_name: InvokeEndpoint on {endpoint_name} failed with "
            f"{error.get('Code', 'an error')}: {error.get('Message', '')}"
        ) from e
    return parse_scores(response["Body"].read(), endpoint_name, len(records))


def predict(
    request: PredictRequest, client: Any, table: PredictionsTable, store: Any = None
) -> dict[str, Any]:
    if request.records is not None:
        records = request.records
    else:
        assert request.records_uri is not None
        records = read_records(
            store if store is not None else objects.storage(),
            request.records_uri,
            request.max_records,
            readings=request.readings,
        )
    scores = invoke(client, request.endpoint_name, records)
    timestamp = datetime.now(UTC).isoformat(timespec="milliseconds")
    stored = [
        PredictionRecord(
            prediction_id=uuid.uuid4().hex,
            model_name=request.model_name,
            endpoint_name=request.endpoint_name,
            timestamp=timestamp,
            score=score,
            features=features,
        )
        for features, score in zip(records, scores, strict=True)
    ]
    table.put_many(stored)
    return {
        "endpoint_name": request.endpoint_name,
        "model_name": request.model_name,
        "table_name": table.name,
        "count": len(stored),
        "predictions": [
            {
                "prediction_id": r.prediction_id,
                "score": r.score,
                "features": r.features,
                "timestamp": r.timestamp,
            }
            for r in stored
        ],
    }


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    request = PredictRequest.from_event(event)
    return predict(request, runtime_client(), predictions_table(request.table_name))
