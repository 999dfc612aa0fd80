"""Content types of the SageMaker inference contract: request decoders and response encoders.

The registry follows the built-in XGBoost container:

* requests: ``text/csv`` (one row or many, no header, empty field = missing),
  ``text/libsvm`` / ``text/x-libsvm`` (``label idx:value ...``, the label is optional),
  ``application/json`` (``{"instances": [[...], {"features": [...]}, ...]}``,
  ``{"features": [...]}``, ``{"instances": [{"data": {"features": {"values": [...]}}}]}``,
  or a bare list of rows) and ``application/jsonlines`` (one such record per line);
* responses: ``text/csv`` (scores joined by ``,``, or one per line with a trailing newline in
  batch transform), ``application/json`` (``{"predictions": [{"score": x}, ...]}``) and
  ``application/jsonlines`` (one ``{"score": x}`` per line).

A decoder returns a 2-D float32 array (or a CSR matrix for libsvm); an encoder takes the
model's prediction array.  Errors are typed so the model server can map them onto the
container's status codes: :class:`UnsupportedContentType` (415), :class:`PayloadError` (400),
:class:`UnsupportedAccept` (406).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import numpy as np

from localaws.errors import UserError

CSV = "text/csv"
LIBSVM = "text/libsvm"
X_LIBSVM = "text/x-libsvm"
JSON = "application/json"
JSONLINES = "application/jsonlines"
ANY = "*/*"

DEFAULT_CONTENT_TYPE = CSV
DEFAULT_ACCEPT = CSV


class CodecError(UserError):
    """A request the container refuses; ``status`` is the HTTP status it answers with."""

    status = 400


class UnsupportedContentType(CodecError):
    status = 415


class UnsupportedAccept(CodecError):
    status = 406


class PayloadError(CodecError):
    """The body does not parse as its content type."""

    status = 400


def media_type(header: str | None, default: str) -> str:
    """``text/csv; charset=utf-8`` -> ``text/csv``; empty or missing -> ``default``."""
    if not header:
        return default
    value = header.split(";", 1)[0].strip().lower()
    return value or default


# -- decoders ---------------------------------------------------------------------------


def _csv_rows(text: str) -> list[list[float]]:
    rows = []
    for line in text.splitlines():
        if not line.strip():
            continue
        rows.append([float(v) if v.strip() else np.nan for v in line.split(",")])
    return rows


def decode_csv(body: bytes) -> np.ndarray:
    """One or many CSV rows of numbers; an empty field is a missing value."""
    try:
        text = body.decode("utf-8").strip()
        if "\n" not in text:
            # One row: the latency-critical case, without the generic loop.
            try:
                return np.array([[float(v) for v in text.split(",")]], dtype=np.float32)
            except ValueError:
                pass
        rows = _csv_rows(text)
    except (UnicodeDecodeError, ValueError) as e:
        raise PayloadError(
            f"Loading csv data failed: {e}; send comma-separated numbers, one record per line, "
            "without a header"
        ) from e
    if len({len(row) for row in rows}) > 1:
        raise PayloadError(
            "Loading csv data failed: rows have different numbers of columns; "
            "every record must have the same number of features"
        )
    return np.array(rows, dtype=np.float32).reshape(len(rows), -1 if rows else 0)


def decode_libsvm(body: bytes) -> Any:
    """``[label] index:value ...`` per line into a CSR matrix (the label, if any, is ignored)."""
    from scipy.sparse import csr_matrix

    indptr = [0]
    indices: list[int] = []
    values: list[float] = []
    try:
        for line in body.decode("utf-8").strip().splitlines():
            if not line.strip():
                continue
            for item in line.split():
                if ":" not in item:
                    continue  # the label
                idx, val = item.split(":", 1)
                indices.append(int(idx))
                values.append(float(val))
            indptr.append(len(indices))
    except (UnicodeDecodeError, ValueError) as e:
        raise PayloadError(
            f"Loading libsvm data failed: {e}; send 'index:value' pairs separated by spaces, "
            "one record per line"
        ) from e
    if len(indptr) == 1:
        raise PayloadError("Loading libsvm data failed: the payload has no records")
    n_cols = (max(indices) + 1) if indices else 1
    return csr_matrix(
        (np.array(values, dtype=np.float32), np.array(indices), np.array(indptr)),
        shape=(len(indptr) - 1, n_cols),
    )


def _json_row(item: Any) -> list[Any]:
    if isinstance(item, dict):
        if "features" in item:
            return _json_row(item["features"])
        if "data" in item:
            return _json_row(item["data"])
        if "values" in item:
            return _json_row(item["values"])
        raise ValueError(f"record has none of 'features', 'data', 'values': keys {sorted(item)}")
    if isinstance(item, list):
        return item
    raise ValueError(f"a record must be a list of numbers or an object, not {type(item).__name__}")


def _json_rows(obj: Any) -> list[list[Any]]:
    if isinstance(obj, dict):
        if "instances" in obj:
            return [_json_row(item) for item in obj["instances"]]
        return [_json_row(obj)]
    if isinstance(obj, list):
        if obj and all(isinstance(v, (int, float)) or v is None for v in obj):
            return [obj]
        return [_json_row(item) for item in obj]
    raise ValueError(f"expected an object or a list, not {type(obj).__name__}")


def _to_array(rows: list[list[Any]]) -> np.ndarray:
    array = np.array([[np.nan if v is None else v for v in row] for row in rows], dtype=np.float32)
    if array.ndim != 2:
        raise ValueError("records have different numbers of features")
    return array


def decode_json(body: bytes) -> np.ndarray:
    try:
        return _to_array(_json_rows(json.loads(body)))
    except (UnicodeDecodeError, ValueError, TypeError) as e:
        raise PayloadError(
            f"Loading json data failed: {e}; send "
            '{"instances": [{"features": [1.0, 2.0]}, ...]} or {"features": [1.0, 2.0]}'
        ) from e


def decode_jsonlines(body: bytes) -> np.ndarray:
    try:
        rows: list[list[Any]] = []
        for line in body.decode("utf-8").splitlines():
            if line.strip():
                rows.extend(_json_rows(json.loads(line)))
        return _to_array(rows)
    except (UnicodeDecodeError, ValueError, TypeError) as e:
        raise PayloadError(
            f'Loading jsonlines data failed: {e}; send one {{"features": [...]}} per line'
        ) from e


DECODERS: dict[str, Callable[[bytes], Any]] = {
    CSV: decode_csv,
    LIBSVM: decode_libsvm,
    X_LIBSVM: decode_libsvm,
    JSON: decode_json,
    JSONLINES: decode_jsonlines,
}


def decode(body: bytes, content_type: str | None) -> Any:
    """Decode a request body by its content type (parameters ignored, default text/csv)."""
    ctype = media_type(content_type, DEFAULT_CONTENT_TYPE)
    decoder = DECODERS.get(ctype)
    if decoder is None:
        raise UnsupportedContentType(
            f"Content-type {ctype} not supported; supported content types are {', '.join(DECODERS)}"
        )
    return decoder(body)


# -- encoders ---------------------------------------------------------------------------


def encode_csv(predictions: np.ndarray, *, batch: bool = False) -> bytes:
    """Scores as the XGBoost container writes them: ``str`` of each value (float32 widened
    to Python floats), joined by ``,``; in batch transform one per line, newline-terminated."""
    values = predictions.tolist()
    if batch:
        return ("\n".join(map(str, values)) + "\n").encode()
    return ",".join(map(str, values)).encode()


def encode_json(predictions: np.ndarray, *, batch: bool = False) -> bytes:
    return json.dumps({"predictions": [{"score": v} for v in predictions.tolist()]}).encode()


def encode_jsonlines(predictions: np.ndarray, *, batch: bool = False) -> bytes:
    lines = [json.dumps({"score": v}) for v in predictions.tolist()]
    return ("\n".join(lines) + "\n").encode()


ENCODERS: dict[str, Callable[..., bytes]] = {
    CSV: encode_csv,
    JSON: encode_json,
    JSONLINES: encode_jsonlines,
}


def negotiate_accept(accept: str | None, default: str = DEFAULT_ACCEPT) -> str:
    """The response content type for an ``Accept`` header (``*/*`` or none: ``default``)."""
    if not accept:
        return default
    for part in accept.split(","):
        mtype = media_type(part, default)
        if mtype == ANY:
            return default
        if mtype in ENCODERS:
            return mtype
    raise UnsupportedAccept(
        f"Accept type {accept} is not supported; supported accept types are {', '.join(ENCODERS)}"
    )


def encode(predictions: Any, accept: str, *, batch: bool = False) -> bytes:
    """Encode predictions for an already negotiated ``accept``."""
    encoder = ENCODERS.get(accept)
    if encoder is None:
        raise UnsupportedAccept(
            f"Accept type {accept} is not supported; supported accept types are {', '.join(ENCODERS)}"
        )
    return encoder(np.asarray(predictions), batch=batch)
