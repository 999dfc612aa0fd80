"""AWS wire protocols, driven by botocore's service models.

Two protocols cover the services we serve besides S3:

* ``json`` (Step Functions 1.0, SageMaker 1.1): ``POST /`` with ``X-Amz-Target:
  <prefix>.<Operation>`` and a JSON body of the request members.
* ``rest-json`` (Lambda, SageMaker Runtime): the operation is found from the method and
  the path template in ``http.requestUri``; members come from the path, headers, query
  string and body according to each member's ``location``.

Decoding turns wire values into the Python values a backend takes (blobs to bytes,
timestamps to datetimes); encoding does the reverse for responses and errors, so that a
botocore client parses what we send exactly as it parses AWS.
"""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import format_datetime
from functools import cache
from typing import Any
from urllib.parse import unquote

from botocore.model import OperationModel, ServiceModel, Shape

from localaws.botocore_model import service_model
from localaws.errors import ServiceError, excerpt

# -- value codecs --------------------------------------------------------------------------


def decode_value(shape: Shape | None, value: Any) -> Any:
    """A JSON wire value -> the Python value a backend takes."""
    if shape is None or value is None:
        return value
    kind = shape.type_name
    if kind == "structure":
        if not isinstance(value, dict):
            return value  # left for validation to report with the member's name
        members = shape.members
        return {k: decode_value(members.get(k), v) for k, v in value.items()}
    if kind == "list":
        return [decode_value(shape.member, v) for v in value] if isinstance(value, list) else value
    if kind == "map":
        if not isinstance(value, dict):
            return value
        return {k: decode_value(shape.value, v) for k, v in value.items()}
    if kind == "blob" and isinstance(value, str):
        try:
            return base64.b64decode(value)
        except ValueError as e:
            raise ServiceError("SerializationException", f"blob member is not base64: {e}") from e
    if kind == "timestamp" and isinstance(value, int | float):
        return datetime.fromtimestamp(value, tz=UTC)
    return value


# Model types whose JSON form is the Python value itself when it is one of these types.
_SCALAR_KINDS = frozenset({"string", "integer", "long", "float", "double", "boolean"})
_JSON_SCALARS = frozenset({str, int, float, bool})


@cache
def _body_members(shape: Shape) -> dict[str, Shape]:
    """A structure's members that travel in the JSON body (not in a header, URI or query)."""
    return {k: m for k, m in shape.members.items() if not m.serialization.get("location")}


def encode_value(shape: Shape | None, value: Any) -> Any:
    """A backend's Python value -> its JSON wire form (members the model lacks are dropped)."""
    if value is None:
        return None
    if shape is None:
        return _plain(value)
    kind = shape.type_name
    if kind in _SCALAR_KINDS and type(value) in _JSON_SCALARS:
        return value
    if kind == "structure":
        members = _body_members(shape)
        return {
            k: encode_value(members[k], v)
            for k, v in value.items()
            if v is not None and k in members
        }
    if kind == "list":
        return [encode_value(shape.member, v) for v in value]
    if kind == "map":
        return {k: encode_value(shape.value, v) for k, v in value.items()}
    if kind == "blob":
        data = value.encode() if isinstance(value, str) else bytes(value)
        return base64.b64encode(data).decode()
    if kind == "timestamp":
        return _epoch(value)
    return _plain(value)


def _epoch(value: Any) -> float:
    if isinstance(value, datetime):
        if value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        return value.timestamp()
    return float(value)


def _plain(value: Any) -> Any:
    if isinstance(value, datetime):
        return _epoch(value)
    if isinstance(value, bytes):
        return base64.b64encode(value).decode()
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return value


# -- json protocol -------------------------------------------------------------------------


@dataclass(frozen=True)
class Response:
    status: int
    headers: dict[str, str]
    body: bytes


def json_error(error: ServiceError, content_type: str) -> Response:
    body = json.dumps(error.to_dict()).encode()
    return Response(
        error.status,
        {"Content-Type": content_type, "x-amzn-ErrorType": error.code},
        body,
    )


def json_operation(model: ServiceModel, target: str) -> OperationModel:
    prefix = model.metadata.get("targetPrefix", "")
    if not target.startswith(prefix + "."):
        raise ServiceError("UnknownOperationException", f"unknown target {target!r}")
    name = target[len(prefix) + 1 :]
    if name not in model.operation_names:
        raise ServiceError("UnknownOperationException", f"unknown operation {name!r}")
    return model.operation_model(name)


MAX_JSON_DEPTH = 100  # deeper request documents are refused (no AWS request nests this far)


def parse_json(body: bytes) -> Any:
    """A request body's JSON document; ``SerializationException`` when it is not JSON or
    nests deeper than :data:`MAX_JSON_DEPTH`."""
    try:
        doc = json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise ServiceError(
            "SerializationException", f"request body is not valid JSON: {excerpt(str(e))}"
        ) from e
    except RecursionError as e:
        raise _too_deep() from e
    stack = [(doc, 1)]
    while stack:
        value, depth = stack.pop()
        if depth > MAX_JSON_DEPTH:
            raise _too_deep()
        if isinstance(value, dict):
            stack.extend((v, depth + 1) for v in value.values() if isinstance(v, dict | list))
        elif isinstance(value, list):
            stack.extend((v, depth + 1) for v in value if isinstance(v, dict | list))
    return doc


def _too_deep() -> ServiceError:
    return ServiceError(
        "SerializationException",
        f"request body nests JSON deeper than {MAX_JSON_DEPTH} levels; flatten the document",
    )


def decode_json_request(operation: OperationModel, body: bytes) -> dict[str, Any]:
    if not body.strip():
        return {}
    params = parse_json(body)
    if not isinstance(params, dict):
        raise ServiceError("SerializationException", "request body must be a JSON object")
    return decode_value(operation.input_shape, params)


def encode_json_response(
    operation: OperationModel, result: dict[str, Any], content_type: str
) -> Response:
    body = encode_value(operation.output_shape, result or {}) if operation.output_shape else {}
    return Response(200, {"Content-Type": content_type}, json.dumps(body).encode())


# -- rest-json protocol --------------------------------------------------------------------


@dataclass(frozen=True)
class RestRoute:
    operation: OperationModel
    method: str
    pattern: re.Pattern[str]


def _compile_uri(uri: str) -> re.Pattern[str]:
    path = uri.split("?", 1)[0]
    out, pos = [], 0
    for m in re.finditer(r"\{(\w+)(\+?)\}", path):
        out.append(re.escape(path[pos : m.start()]))
        out.append(f"(?P<{m.group(1)}>{'.+' if m.group(2) else '[^/]+'})")
        pos = m.end()
    out.append(re.escape(path[pos:]))
    return re.compile("^" + "".join(out) + "/?$")


@cache
def rest_routes(service: str) -> tuple[RestRoute, ...]:
    model = service_model(service)
    routes = []
    for name in model.operation_names:
        op = model.operation_model(name)
        routes.append(RestRoute(op, op.http["method"], _compile_uri(op.http["requestUri"])))
    # Longer literal templates first, so /functions/{F}/invocations beats /functions/{F}.
    routes.sort(key=lambda r: -len(r.pattern.pattern))
    return tuple(routes)


def match_rest(
    service: str, method: str, path: str
) -> tuple[OperationModel, dict[str, str]] | None:
    for route in rest_routes(service):
        if route.method != method:
            continue
        m = route.pattern.match(path)
        if m:
            return route.operation, {k: unquote(v) for k, v in m.groupdict().items()}
    return None


def decode_rest_request(
    operation: OperationModel,
    uri_params: dict[str, str],
    headers: dict[str, str],
    query: Mapping[str, str],
    body: bytes,
) -> dict[str, Any]:
    shape = operation.input_shape
    if shape is None:
        return {}
    lower = {k.lower(): v for k, v in headers.items()}
    params: dict[str, Any] = {}
    payload = shape.serialization.get("payload")
    for name, member in shape.members.items():
        ser = member.serialization
        where, wire = ser.get("location"), ser.get("name", name)
        if where == "uri":
            if wire in uri_params:
                params[name] = uri_params[wire]
        elif where == "header":
            if wire.lower() in lower:
                params[name] = _scalar(member, lower[wire.lower()])
        elif where == "querystring" and wire in query:
            getlist = getattr(query, "getlist", None)
            if member.type_name == "list" and getlist is not None:
                params[name] = [_scalar(member.member, v) for v in getlist(wire)]
            else:
                params[name] = _scalar(member, query[wire])
    if payload:
        member = shape.members[payload]
        if member.type_name in ("blob", "string"):
            params[payload] = body
        elif body.strip():
            params[payload] = decode_value(member, parse_json(body))
    elif body.strip():
        doc = parse_json(body)
        if not isinstance(doc, dict):
            raise ServiceError("SerializationException", "request body must be a JSON object")
        for name, member in shape.members.items():
            if not member.serialization.get("location") and name in doc:
                params[name] = decode_value(member, doc[name])
    return params


def _scalar(member: Shape, raw: str) -> Any:
    if member.type_name in ("integer", "long"):
        try:
            return int(raw)
        except ValueError:
            return raw
    if member.type_name == "boolean":
        return raw.lower() == "true"
    return raw


def encode_rest_response(operation: OperationModel, result: dict[str, Any]) -> Response:
    shape = operation.output_shape
    status = int(operation.http.get("responseCode", 200))
    headers: dict[str, str] = {}
    if shape is None:
        return Response(status, headers, b"")
    payload = shape.serialization.get("payload")
    body_doc: dict[str, Any] = {}
    body: bytes | None = None
    for name, member in shape.members.items():
        value = result.get(name)
        if value is None:
            continue
        ser = member.serialization
        where = ser.get("location")
        if where == "statusCode":
            status = int(value)
        elif where == "header":
            if isinstance(value, datetime):
                value = format_datetime(value.astimezone(UTC), usegmt=True)
            headers[ser.get("name", name)] = str(value)
        elif name == payload:
            if member.type_name in ("blob", "string"):
                body = value.encode() if isinstance(value, str) else bytes(value)
            else:
                body = json.dumps(encode_value(member, value)).encode()
                headers.setdefault("Content-Type", "application/json")
        elif not where:
            body_doc[name] = encode_value(member, value)
    if body is None:
        body = json.dumps(body_doc).encode() if body_doc or not payload else b""
        headers.setdefault("Content-Type", "application/json")
    return Response(status, headers, body)


def rest_error(error: ServiceError) -> Response:
    doc = {k: v for k, v in error.to_dict().items() if k != "__type"}
    body = json.dumps({"Type": "User" if error.sender_fault else "Service", **doc})
    return Response(
        error.status,
        {"Content-Type": "application/json", "x-amzn-ErrorType": error.code},
        body.encode(),
    )
