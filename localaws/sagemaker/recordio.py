"""``application/x-recordio-protobuf``: the built-in algorithms' data format, read and written
without protobuf.

A file (or request body) is a sequence of MXNet RecordIO records: the magic ``0xCED7230A``
and the payload length as little-endian uint32, the payload, zero padding to 4 bytes.  Each
payload is an ``aialgs.data.Record`` message (``sagemaker/amazon/record.proto``)::

    Record  { map<string, Value> features = 1; map<string, Value> label = 2; ... }
    Value   { oneof { Float32Tensor float32_tensor = 2; Float64Tensor float64_tensor = 3;
                      Int32Tensor int32_tensor = 7; Bytes bytes = 9; } }
    *Tensor { repeated values = 1 [packed]; repeated uint64 keys = 2 [packed];
              repeated uint64 shape = 3 [packed]; }

which is what ``sagemaker.amazon.common.write_numpy_to_dense_tensor`` (dense: values only)
and ``write_spmatrix_to_sparse_tensor`` (sparse: values, keys and shape) write.  The protobuf
wire format is parsed by hand (varints, length-delimited fields, packed and unpacked repeated
fields): a few dozen lines instead of a generated module and a protobuf runtime.
"""

from __future__ import annotations

import struct
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field

import numpy as np

MAGIC = 0xCED7230A
CONTENT_TYPE = "application/x-recordio-protobuf"
_HEADER = struct.Struct("<II")
_LENGTH_MASK = (1 << 29) - 1  # the upper 3 bits of the length word are a continuation flag

# Value's oneof members: field number -> (tensor name, numpy dtype of packed values)
_TENSORS = {2: ("float32", "<f4"), 3: ("float64", "<f8"), 7: ("int32", None)}
_FIXED_WIDTH = {"<f4": 5, "<f8": 1}  # the wire type of an unpacked float / double


class RecordIOError(ValueError):
    """The bytes are not RecordIO-wrapped protobuf Records."""


@dataclass
class Tensor:
    """One feature or label tensor: ``values``, and for a sparse one its ``keys`` and ``shape``."""

    values: np.ndarray
    keys: np.ndarray | None = None
    shape: list[int] = field(default_factory=list)


@dataclass
class Record:
    features: dict[str, Tensor] = field(default_factory=dict)
    label: dict[str, Tensor] = field(default_factory=dict)


# -- RecordIO framing ---------------------------------------------------------------------------


def split_records(data: bytes) -> Iterator[bytes]:
    """The payloads of the RecordIO records in ``data``."""
    view = memoryview(data)
    pos, end = 0, len(data)
    while pos < end:
        if end - pos < 8:
            raise RecordIOError(f"truncated RecordIO header at byte {pos}")
        magic, word = _HEADER.unpack_from(view, pos)
        if magic != MAGIC:
            raise RecordIOError(
                f"byte {pos}: not a RecordIO record (magic {magic:#010x}, expected {MAGIC:#010x}); "
                "send application/x-recordio-protobuf as sagemaker.amazon.common writes it"
            )
        length = word & _LENGTH_MASK
        pos += 8
        if pos + length > end:
            raise RecordIOError(f"record at byte {pos - 8} runs past the end of the data")
        yield bytes(view[pos : pos + length])
        pos += (length + 3) & ~3


def frame(payload: bytes) -> bytes:
    """One RecordIO record holding ``payload``."""
    return _HEADER.pack(MAGIC, len(payload)) + payload + b"\0" * (-len(payload) % 4)


# -- protobuf wire format -----------------------------------------------------------------------


def _varint(buf: bytes, pos: int) -> tuple[int, int]:
    result = shift = 0
    while True:
        if pos >= len(buf):
            raise RecordIOError("truncated protobuf varint")
        b = buf[pos]
        pos += 1
        result |= (b & 0x7F) << shift
        if b < 0x80:
            return result, pos
        shift += 7


def _fields(buf: bytes) -> Iterator[tuple[int, int, int | bytes]]:
    """(field number, wire type, value) of a message; length-delimited values as bytes."""
    pos, end = 0, len(buf)
    while pos < end:
        key, pos = _varint(buf, pos)
        number, wire = key >> 3, key & 7
        value: int | bytes
        if wire == 0:
            value, pos = _varint(buf, pos)
        elif wire == 2:
            length, pos = _varint(buf, pos)
            value = buf[pos : pos + length]
            if len(value) != length:
                raise RecordIOError("truncated protobuf field")
            pos += length
        elif wire == 5:
            value, pos = buf[pos : pos + 4], pos + 4
        elif wire == 1:
            value, pos = buf[pos : pos + 8], pos + 8
        else:
            raise RecordIOError(f"unsupported protobuf wire type {wire}")
        yield number, wire, value


def _varints(buf: bytes) -> list[int]:
    out, pos = [], 0
    while pos < len(buf):
        v, pos = _varint(buf, pos)
        out.append(v)
    return out


def _tensor(buf: bytes, dtype: str | None) -> Tensor:
    values: list[np.ndarray] = []
    keys: list[int] = []
    shape: list[int] = []
    for number, wire, raw in _fields(buf):
        if number == 1:
            if dtype is None:  # int32: varints, packed or not (negative ones are 10 bytes)
                ints = _varints(raw) if isinstance(raw, bytes) else [raw]
                values.append(np.array([v - (1 << 64) if v >> 63 else v for v in ints], "<i4"))
            elif wire == 2 or wire == _FIXED_WIDTH[dtype]:
                values.append(np.frombuffer(raw, dtype=dtype))  # type: ignore[arg-type]
        elif number in (2, 3):
            ints = _varints(raw) if isinstance(raw, bytes) else [raw]
            (keys if number == 2 else shape).extend(ints)
    array = np.concatenate(values) if values else np.zeros(0, dtype or "<i4")
    return Tensor(
        values=array, keys=np.asarray(keys, dtype=np.int64) if keys else None, shape=shape
    )


def _value(buf: bytes) -> Tensor | None:
    for number, _, raw in _fields(buf):
        if number in _TENSORS and isinstance(raw, bytes):
            return _tensor(raw, _TENSORS[number][1])
    return None  # a Bytes value: not a tensor


def _map_entry(buf: bytes) -> tuple[str, Tensor | None]:
    name, value = "", None
    for number, _, raw in _fields(buf):
        if number == 1 and isinstance(raw, bytes):
            name = raw.decode("utf-8")
        elif number == 2 and isinstance(raw, bytes):
            value = _value(raw)
    return name, value


def parse_record(payload: bytes) -> Record:
    record = Record()
    for number, _, raw in _fields(payload):
        if number in (1, 2) and isinstance(raw, bytes):
            name, tensor = _map_entry(raw)
            if tensor is not None:
                (record.features if number == 1 else record.label)[name] = tensor
    return record


def read_records(data: bytes) -> list[Record]:
    """Every Record in a RecordIO-protobuf body or file."""
    return [parse_record(p) for p in split_records(data)]


# -- writing ------------------------------------------------------------------------------------


def _key(number: int, wire: int) -> bytes:
    return _encode_varint(number << 3 | wire)


def _encode_varint(value: int) -> bytes:
    out = bytearray()
    while True:
        b = value & 0x7F
        value >>= 7
        if value:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def _delimited(number: int, body: bytes) -> bytes:
    return _key(number, 2) + _encode_varint(len(body)) + body


def _encode_tensor(tensor: Tensor) -> bytes:
    body = _delimited(1, np.asarray(tensor.values, dtype="<f4").tobytes())
    if tensor.keys is not None:
        body += _delimited(2, b"".join(_encode_varint(int(k)) for k in tensor.keys))
    if tensor.shape:
        body += _delimited(3, b"".join(_encode_varint(int(n)) for n in tensor.shape))
    return _delimited(2, body)  # Value.float32_tensor


def encode_record(
    features: Mapping[str, Tensor] | None = None, label: Mapping[str, Tensor] | None = None
) -> bytes:
    """A Record message with float32 tensors (not yet RecordIO-framed)."""
    out = b""
    for number, tensors in ((1, features or {}), (2, label or {})):
        for name, tensor in tensors.items():
            entry = _delimited(1, name.encode("utf-8")) + _delimited(2, _encode_tensor(tensor))
            out += _delimited(number, entry)
    return out


# -- records as a matrix --------------------------------------------------------------------------


def to_csr(
    records: list[Record], n_features: int | None, *, what: str = "the data"
) -> tuple[object, np.ndarray | None]:
    """(scipy CSR matrix of the ``values`` feature, label vector or None) of ``records``.

    A dense record's values fill its row; a sparse one puts them at its keys.  ``n_features``
    (the model's feature_dim) sets the width; a key at or past it is refused."""
    import scipy.sparse as sp

    indptr = [0]
    cols: list[np.ndarray] = []
    vals: list[np.ndarray] = []
    labels: list[float] = []
    width = n_features or 0
    for i, record in enumerate(records):
        tensor = record.features.get("values")
        if tensor is None:
            raise RecordIOError(
                f"{what}: record {i} has no 'values' feature tensor; write the records with "
                "sagemaker.amazon.common.write_spmatrix_to_sparse_tensor or write_numpy_to_dense_tensor"
            )
        keys = (
            tensor.keys
            if tensor.keys is not None
            else np.arange(len(tensor.values), dtype=np.int64)
        )
        if len(keys) != len(tensor.values):
            raise RecordIOError(
                f"{what}: record {i} has {len(keys)} keys for {len(tensor.values)} values"
            )
        if n_features is None:
            declared = tensor.shape[0] if tensor.shape else len(tensor.values)
            width = max(width, int(declared), int(keys.max()) + 1 if len(keys) else 0)
        elif len(keys) and int(keys.max()) >= n_features:
            raise RecordIOError(
                f"{what}: record {i} has feature index {int(keys.max())}, past feature_dim "
                f"{n_features}; encode features as 0..feature_dim-1 or raise feature_dim"
            )
        cols.append(keys)
        vals.append(tensor.values.astype(np.float64))
        indptr.append(indptr[-1] + len(keys))
        label = record.label.get("values")
        if label is not None and len(label.values):
            labels.append(float(label.values[0]))
    matrix = sp.csr_matrix(
        (
            np.concatenate(vals) if vals else np.zeros(0),
            np.concatenate(cols) if cols else np.zeros(0, dtype=np.int64),
            np.asarray(indptr),
        ),
        shape=(len(records), width),
    )
    if labels and len(labels) != len(records):
        raise RecordIOError(f"{what}: {len(records) - len(labels)} records have no label")
    return matrix, np.asarray(labels) if labels else None
