"""The HTTP API Lambda: a raw sensor reading in, the failure probability out.

API Gateway (an HTTP API, payload format 2.0; a REST API's 1.0 proxy events work too) sends
every request here (``events/api.json``):

* ``POST`` with a ``text/plain`` or ``text/csv`` body holding one reading
  ``Type,Air temperature,Process temperature,Rotational speed,Torque,Tool wear``
  (``L,298.4,308.2,1582,70.7,216``): the reading goes to the inference-pipeline endpoint
  (``$ENDPOINT_NAME``) as it is; 200 with ``{"probability", "label", "failure", "reading",
  "endpoint"}``.
* ``OPTIONS``: the CORS preflight, 204.
* A bad reading: 400 ``{"message"}`` naming the field; another content type: 415; another
  method: 405 with ``Allow``; the endpoint failing: 502 ``{"message"}``.

Every response carries the CORS headers (``$ALLOW_ORIGIN``, default ``*``).
"""

from __future__ import annotations

import base64
import binascii
import json
from functools import lru_cache
from typing import Any

from common import config
from common.errors import EndpointError
from common.readings import BadReading, parse_reading, to_csv

METHODS = ("POST", "OPTIONS")
CONTENT_TYPES = ("text/plain", "text/csv")
MAX_BODY = 4096


class HttpError(Exception):
    def __init__(self, status: int, message: str, headers: dict[str, str] | None = None):
        super().__init__(message)
        self.status = status
        self.message = message
        self.headers = headers or {}


def cors_headers() -> dict[str, str]:
    return {
        "Access-Control-Allow-Origin": config.allow_origin(),
        "Access-Control-Allow-Methods": ",".join(METHODS),
        "Access-Control-Allow-Headers": "Content-Type",
        "Access-Control-Max-Age": "600",
    }


def response(
    status: int, body: dict[str, Any] | None, headers: dict[str, str] | None = None
) -> dict[str, Any]:
    out: dict[str, Any] = {"statusCode": status, "headers": {**cors_headers(), **(headers or {})}}
    if body is not None:
        out["headers"]["Content-Type"] = "application/json"
        out["body"] = json.dumps(body)
    return out


def method_of(event: dict[str, Any]) -> str:
    http = (event.get("requestContext") or {}).get("http") or {}
    return str(http.get("method") or event.get("httpMethod") or "").upper()


def body_of(event: dict[str, Any]) -> str:
    raw = event.get("body") or ""
    if event.get("isBase64Encoded"):
        try:
            data = base64.b64decode(raw, validate=True)
        except (binascii.Error, ValueError):
            raise HttpError(400, "the body is marked base64 but does not decode") from None
    else:
        data = raw.encode("utf-8") if isinstance(raw, str) else bytes(raw)
    if len(data) > MAX_BODY:
        raise HttpError(413, f"send one reading; the body is over {MAX_BODY} bytes")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        raise HttpError(400, "the body is not UTF-8 text; send one CSV reading") from None


def content_type_of(event: dict[str, Any]) -> str:
    headers = {str(k).lower(): str(v) for k, v in (event.get("headers") or {}).items()}
    return headers.get("content-type", "text/plain").split(";", 1)[0].strip().lower()


@lru_cache(maxsize=1)
def runtime_client() -> Any:
    from localaws.lambdakit.clients import sagemaker_runtime_client

    return sagemaker_runtime_client()


def score(client: Any, endpoint: str, reading: str) -> float:
    from botocore.exceptions import ClientError

    try:
        answer = client.invoke_endpoint(
            EndpointName=endpoint, ContentType="text/csv", Accept="text/csv", Body=reading
        )
    except ClientError as e:
        error = e.response.get("Error", {})
        raise EndpointError(
            f"endpoint {endpoint}: {error.get('Code', 'error')}: {error.get('Message', '')}"
        ) from e
    text = answer["Body"].read().decode("utf-8", "replace").strip()
    try:
        return float(text.split(",")[0].strip("[] \n"))
    except ValueError:
        raise EndpointError(f"endpoint {endpoint}: answered {text[:80]!r}, not a score") from None


def predict(event: dict[str, Any], client: Any) -> dict[str, Any]:
    """Route one API Gateway event; raise :class:`HttpError` for what the caller can fix."""
    method = method_of(event)
    if method == "OPTIONS":
        return response(204, None)
    if method != "POST":
        raise HttpError(
            405,
            f"method {method or '(none)'} not allowed; POST a reading",
            {"Allow": ",".join(METHODS)},
        )
    content_type = content_type_of(event)
    if content_type not in CONTENT_TYPES:
        raise HttpError(
            415, f"content type {content_type[:60]!r}: send the reading as text/plain or text/csv"
        )
    try:
        kind, values = parse_reading(body_of(event))
    except BadReading as e:
        raise HttpError(400, str(e)) from e
    endpoint = config.endpoint_name()
    reading = to_csv(kind, values)
    probability = score(client, endpoint, reading)
    failure = probability >= config.decision_threshold()
    return response(
        200,
        {
            "probability": probability,
            "failure": failure,
            "label": "failure likely: inspect the machine" if failure else "no failure expected",
            "reading": {
                "Type": kind,
                **dict(
                    zip(
                        (
                            "Air temperature",
                            "Process temperature",
                            "Rotational speed",
                            "Torque",
                            "Tool wear",
                        ),
                        values,
                        strict=True,
                    )
                ),
            },
            "endpoint": endpoint,
        },
    )


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    try:
        return predict(event, runtime_client())
    except HttpError as e:
        return response(e.status, {"message": e.message}, e.headers)
    except EndpointError as e:
        return response(502, {"message": str(e)})
