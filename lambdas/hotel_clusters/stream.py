"""Streaming inference: hotel searches from Kinesis (or one from an HTTP API) -> predictions.

A Kinesis batch (``events/hotel_stream_kinesis.json``): each record's data is a JSON object
with the 22 fields of :data:`hotel_clusters.schema.STREAM_FIELDS`.  Every record is decoded
and checked first; one bad record fails the whole batch *before anything is written*
(:class:`BadSearchEvent`), so the event source mapping's bisection isolates it and sends it
to the on-failure destination while the rest are written once.  Then ``pc1..pc3`` of each
destination come from the online store (BatchGetRecord), the endpoint scores one CSV row per
event, and one item per event goes to the predictions table: ``user_id`` (hash key),
``date_time`` (range key: the processing time, unique per item), the input fields,
``hotel_cluster_predicted`` and ``arrival_time`` (Kinesis' approximate arrival, for the
stream-to-table latency).

An HTTP API request (payload format 2.0, ``events/hotel_stream_http.json``) carries one event
as its JSON body and gets the item back.

Environment: ``PREDICTIONS_TABLE``, ``ENDPOINT_NAME``, ``DESTINATIONS_FEATURE_GROUP``.
"""

from __future__ import annotations

import base64
import json
import math
import os
import time
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any

from common.errors import EndpointError, InvalidEventError, PredictionsTableError

from hotel_clusters import schema

BATCH_GET_LIMIT = 100  # identifiers per BatchGetRecord
BATCH_WRITE_LIMIT = 25  # items per BatchWriteItem
PREDICTED = "hotel_cluster_predicted"


class BadSearchEvent(InvalidEventError):
    """A streamed record is not a search event (not JSON, a field missing or not a number)."""


@lru_cache(maxsize=1)
def _clients() -> tuple[Any, Any, Any]:
    import boto3

    from localaws.lambdakit.clients import sagemaker_runtime_client

    return (
        boto3.client("sagemaker-featurestore-runtime"),
        sagemaker_runtime_client(),
        boto3.client("dynamodb"),
    )


def _setting(name: str) -> str:
    value = os.environ.get(name)
    if not value:
        raise InvalidEventError(f"environment variable {name} is not set; the stack sets it")
    return value


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    if "Records" in event:
        searches, arrivals = [], []
        for i, record in enumerate(event["Records"]):
            kinesis = record.get("kinesis") or {}
            searches.append(decode(kinesis.get("data", ""), f"Records[{i}]"))
            arrivals.append(float(kinesis.get("approximateArrivalTimestamp") or time.time()))
        items = score(searches, arrivals)
        return {"written": len(items)}
    if "requestContext" in event:  # API Gateway HTTP API, payload format 2.0
        body = event.get("body") or ""
        try:
            text = base64.b64decode(body).decode() if event.get("isBase64Encoded") else body
            search = decode_text(text, "body")
        except BadSearchEvent as e:
            return {"statusCode": 400, "body": json.dumps({"message": str(e)})}
        [item] = score([search], [time.time()])
        return {
            "statusCode": 200,
            "headers": {"content-type": "application/json"},
            "body": json.dumps(item),
        }
    raise InvalidEventError("expected a Kinesis batch (Records) or an HTTP API request")


# -- decoding ---------------------------------------------------------------------------


def decode(data: str, where: str) -> dict[str, Any]:
    try:
        text = base64.b64decode(data, validate=True).decode("utf-8")
    except (ValueError, UnicodeDecodeError) as e:
        raise BadSearchEvent(f"{where}: the data is not base64 of UTF-8 text") from e
    return decode_text(text, where)


def decode_text(text: str, where: str) -> dict[str, Any]:
    """A search event: a JSON object with the 22 fields, numbers (the distance may be null)."""
    try:
        value = json.loads(text)
    except json.JSONDecodeError as e:
        raise BadSearchEvent(f"{where}: not JSON ({e.msg}); send one JSON object") from e
    if not isinstance(value, dict):
        raise BadSearchEvent(f"{where}: expected a JSON object with the 22 search fields")
    missing = [f for f in schema.STREAM_FIELDS if f not in value]
    if missing:
        raise BadSearchEvent(f"{where}: fields {missing[:4]} are missing")
    out: dict[str, Any] = {}
    for field in schema.STREAM_FIELDS:
        v = value[field]
        if v is None and field in schema.FRACTIONAL_FIELDS:
            out[field] = None
            continue
        if isinstance(v, bool) or not isinstance(v, int | float) or not math.isfinite(v):
            raise BadSearchEvent(f"{where}.{field}: {str(v)[:32]!r} is not a number")
        if field not in schema.FRACTIONAL_FIELDS and v != int(v):
            raise BadSearchEvent(f"{where}.{field}: {v!r} is not an integer")
        out[field] = v if field in schema.FRACTIONAL_FIELDS else int(v)
    return out


# -- scoring ----------------------------------------------------------------------------


def components(featurestore: Any, group: str, destinations: list[int]) -> dict[int, list[str]]:
    """pc1..pc3 (as text) of each destination in the online store; absent ones left out."""
    found: dict[int, list[str]] = {}
    unique = sorted(set(destinations))
    for start in range(0, len(unique), BATCH_GET_LIMIT):
        chunk = unique[start : start + BATCH_GET_LIMIT]
        reply = featurestore.batch_get_record(
            Identifiers=[
                {
                    "FeatureGroupName": group,
                    "RecordIdentifiersValueAsString": [str(d) for d in chunk],
                    "FeatureNames": [schema.DESTINATION_ID, *schema.COMPONENTS],
                }
            ]
        )
        for record in reply.get("Records", []):
            values = {f["FeatureName"]: f["ValueAsString"] for f in record["Record"]}
            found[int(values[schema.DESTINATION_ID])] = [
                values.get(c, "") for c in schema.COMPONENTS
            ]
    return found


def csv_row(search: dict[str, Any], pcs: list[str] | None) -> str:
    values = ["" if search[f] is None else str(search[f]) for f in schema.MODEL_FEATURES[:-3]]
    return ",".join([*values, *(pcs or ["", "", ""])])


def parse_predictions(body: bytes, expected: int) -> list[int]:
    text = body.decode().strip()
    parts = [p for p in text.replace("\n", ",").split(",") if p.strip()]
    if len(parts) != expected:
        raise EndpointError(f"the endpoint answered {len(parts)} predictions for {expected} rows")
    try:
        return [int(float(p)) for p in parts]
    except ValueError as e:
        raise EndpointError(f"the endpoint answered {text[:64]!r}, not class numbers") from e


def score(searches: list[dict[str, Any]], arrivals: list[float]) -> list[dict[str, Any]]:
    featurestore, runtime, dynamodb = _clients()
    pcs = components(
        featurestore,
        _setting("DESTINATIONS_FEATURE_GROUP"),
        [s[schema.DESTINATION_ID] for s in searches],
    )
    body = "\n".join(csv_row(s, pcs.get(s[schema.DESTINATION_ID])) for s in searches)
    try:
        response = runtime.invoke_endpoint(
            EndpointName=_setting("ENDPOINT_NAME"), ContentType="text/csv", Body=body.encode()
        )
    except (runtime.exceptions.ModelError, runtime.exceptions.ValidationError) as e:
        raise EndpointError(f"endpoint {os.environ.get('ENDPOINT_NAME')}: {e}") from e
    predicted = parse_predictions(response["Body"].read(), len(searches))
    start_us = time.time_ns() // 1000
    items = []
    for i, (search, cluster, arrival) in enumerate(zip(searches, predicted, arrivals, strict=True)):
        stamp = datetime.fromtimestamp((start_us + i) / 1e6, tz=UTC)
        items.append(
            {
                **search,
                schema.EVENT_TIME: stamp.strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
                PREDICTED: cluster,
                "arrival_time": arrival,
            }
        )
    write(dynamodb, _setting("PREDICTIONS_TABLE"), items)
    return items


def write(dynamodb: Any, table: str, items: list[dict[str, Any]]) -> None:
    requests = [{"PutRequest": {"Item": _attributes(item)}} for item in items]
    for start in range(0, len(requests), BATCH_WRITE_LIMIT):
        pending = {table: requests[start : start + BATCH_WRITE_LIMIT]}
        for attempt in range(8):
            left = dynamodb.batch_write_item(RequestItems=pending).get("UnprocessedItems") or {}
            if not left:
                break
            pending = left
            time.sleep(0.05 * 2**attempt)
        else:
            raise PredictionsTableError(f"table {table}: items left unprocessed after 8 attempts")


def _attributes(item: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in item.items():
        if value is None:
            out[key] = {"NULL": True}
        elif isinstance(value, str):
            out[key] = {"S": value}
        else:
            out[key] = {"N": repr(value) if isinstance(value, float) else str(value)}
    return out
