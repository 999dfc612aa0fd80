"""The ETL Lambda: AI4I 2020 raw CSV -> label-first headerless train/validation/test CSVs.

Event (``events/prepare.json``)::

    {"raw_uri": "s3://bucket/raw/",            # an object, or a prefix of .csv/.tsv/.txt objects
     "output_prefix": "s3://bucket/prepared/<run id>/",
     "seed": 42, "test_fraction": 0.15, "validation_fraction": 0.15,   # optional
     "max_invalid_fraction": 0.05,             # optional: more unparseable rows fail the run
     "quarantine_prefix": "s3://bucket/quarantine/prepared/<run id>/"}  # optional

Writes, under ``output_prefix``: ``train/train.csv``, ``validation/validation.csv``,
``test/test.csv`` (label first, no header), ``test-features/test_features.csv`` (features only,
the batch-transform input) and, last, ``manifest.json``.  Rows with unparseable values go to
``<quarantine_prefix>rows.csv`` (default: the output prefix's path under ``quarantine/`` of the
same bucket, so that nothing outside a successful run's files lands in the prepared prefix).

Plain ASCII CSV/TSV (the AI4I file and its exports) is parsed, validated and written on whole
columns with pyarrow (which AWS's managed pandas layer ships), in memory bounded by a few
copies of the object; anything else (quotes, non-ASCII text, unusual line breaks) goes row by
row, with the same results.  Everything is parsed and validated before anything is written; if a write fails, the objects
already written are deleted before the error propagates.
"""

from __future__ import annotations

import codecs
import contextlib
import csv
import json
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from common import objects
from common.errors import DataQualityError, InvalidEventError, SchemaError

LABEL = "Machine failure"
IDENTIFIERS = ("UDI", "Product ID")
FAILURE_MODES = ("TWF", "HDF", "PWF", "OSF", "RNF")  # they leak the label
NUMERIC_FEATURES = (
    "Air temperature [K]",
    "Process temperature [K]",
    "Rotational speed [rpm]",
    "Torque [Nm]",
    "Tool wear [min]",
)
TYPE_COLUMN = "Type"
TYPES = ("L", "M", "H")
RAW_COLUMNS = (*IDENTIFIERS, TYPE_COLUMN, *NUMERIC_FEATURES, LABEL, *FAILURE_MODES)
FEATURES = (*NUMERIC_FEATURES, *(f"{TYPE_COLUMN}_{t}" for t in TYPES))
RAW_SUFFIXES = (".csv", ".tsv", ".txt")
# pyarrow parses this much text at a time: small blocks keep the parser's buffers small
# (1,000,000 rows: 64 MB blocks peaked ~100 MB higher, no faster)
PARSE_BLOCK_BYTES = 1 << 22
MIN_PER_CLASS = 3

DEFAULTS = {
    "seed": 42,
    "test_fraction": 0.15,
    "validation_fraction": 0.15,
    "max_invalid_fraction": 0.05,
}

FILES = {
    "train_uri": ("train", "train.csv"),
    "validation_uri": ("validation", "validation.csv"),
    "test_uri": ("test", "test.csv"),
    "test_features_uri": ("test-features", "test_features.csv"),
}
MANIFEST = "manifest.json"
QUARANTINE = "rows.csv"


@dataclass(frozen=True)
class PrepareRequest:
    raw_uri: str
    output_prefix: str
    quarantine_prefix: str
    seed: int
    test_fraction: float
    validation_fraction: float
    max_invalid_fraction: float

    @classmethod
    def from_event(cls, event: dict[str, Any]) -> PrepareRequest:
        if not isinstance(event, dict):
            raise InvalidEventError(f"event: expected a JSON object, got {type(event).__name__}")
        raw_uri = objects.require_uri(event, "raw_uri")
        output_prefix = objects.require_uri(event, "output_prefix").rstrip("/") + "/"
        if "quarantine_prefix" in event and event["quarantine_prefix"] is not None:
            quarantine = objects.require_uri(event, "quarantine_prefix").rstrip("/") + "/"
        else:
            bucket, _, key = output_prefix[len("s3://") :].partition("/")
            quarantine = f"s3://{bucket}/quarantine/{key}"
        seed = event.get("seed", DEFAULTS["seed"])
        if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
            raise InvalidEventError(f"seed: expected a non-negative integer, got {seed!r}")
        test = _fraction(event, "test_fraction")
        validation = _fraction(event, "validation_fraction")
        if test + validation >= 1.0:
            raise InvalidEventError(
                f"test_fraction + validation_fraction: {test} + {validation} leaves no training "
                "data; their sum must be below 1"
            )
        max_invalid = event.get("max_invalid_fraction", DEFAULTS["max_invalid_fraction"])
        if (
            isinstance(max_invalid, bool)
            or not isinstance(max_invalid, int | float)
            or not 0 <= max_invalid <= 1
        ):
            raise InvalidEventError(
                f"max_invalid_fraction: expected a number from 0 to 1, got {max_invalid!r}"
            )
        return cls(raw_uri, output_prefix, quarantine, seed, test, validation, float(max_invalid))


def _fraction(event: dict[str, Any], field: str) -> float:
    value = event.get(field, DEFAULTS[field])
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 < value < 1:
        raise InvalidEventError(
            f"{field}: expected a number strictly between 0 and 1, got {value!r}"
        )
    return float(value)


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    try:
        return prepare(PrepareRequest.from_event(event), objects.storage())
    finally:
        give_back_memory()


def give_back_memory() -> None:
    """Return the freed buffers to the OS: the worker stays up (a warm Lambda) while the
    rest of the workflow runs."""
    import ctypes
    import gc

    import pyarrow as pa

    gc.collect()
    pa.default_memory_pool().release_unused()
    with contextlib.suppress(OSError, AttributeError):  # not glibc: nothing to trim
        ctypes.CDLL("libc.so.6").malloc_trim(0)


# -- parsing and validation -------------------------------------------------------------------


@dataclass
class Parsed:
    frame: pd.DataFrame  # valid rows: FEATURES + LABEL
    quarantined: pd.DataFrame  # source, line, reason, record
    total_rows: int


def check_schema(header: list[str], source: str) -> None:
    """Refuse a header that is not the raw schema (in any order), naming what is wrong."""
    duplicates = sorted({c for c in header if header.count(c) > 1})
    missing = [c for c in RAW_COLUMNS if c not in header]
    unexpected = [c for c in header if c not in RAW_COLUMNS]
    if missing or unexpected or duplicates:
        problems = []
        if missing:
            problems.append(f"missing columns: {missing}")
        if unexpected:
            problems.append(f"unexpected columns: {unexpected}")
        if duplicates:
            problems.append(f"duplicated columns: {duplicates}")
        raise SchemaError(
            f"{source}: not the AI4I 2020 raw schema; {'; '.join(problems)}; expected the columns "
            f"{list(RAW_COLUMNS)} (in any order, comma- or tab-separated, with a header row)"
        )


def parse_source(text: str, source: str) -> tuple[pd.DataFrame, list[dict[str, Any]], int]:
    """One raw object -> (rows with the right number of fields, as strings; malformed rows; row count)."""
    lines = text.splitlines()
    if not lines or not lines[0].strip():
        raise SchemaError(
            f"{source}: empty object, or no header row; expected the columns {list(RAW_COLUMNS)}"
        )
    delimiter = "\t" if "\t" in lines[0] else ","
    reader = csv.reader(lines, delimiter=delimiter)
    header = [c.strip() for c in next(reader)]
    check_schema(header, source)
    good: list[list[str]] = []
    line_numbers: list[int] = []
    bad: list[dict[str, Any]] = []
    total = 0
    for number, fields in enumerate(reader, start=2):
        if not fields or (len(fields) == 1 and not fields[0].strip()):
            continue  # blank line
        total += 1
        if len(fields) != len(header):
            bad.append(
                {
                    "source": source,
                    "line": number,
                    "reason": f"expected {len(header)} fields, found {len(fields)}",
                    "record": delimiter.join(fields),
                }
            )
            continue
        good.append(fields)
        line_numbers.append(number)
    frame = pd.DataFrame(good, columns=header, dtype=object)
    frame["__line"] = line_numbers
    frame["__delimiter"] = delimiter
    return frame, bad, total


def validate(frame: pd.DataFrame, source: str) -> tuple[pd.DataFrame, list[dict[str, Any]]]:
    """Typed rows (FEATURES + LABEL) and the rows whose values do not parse."""
    reasons = pd.Series([""] * len(frame), index=frame.index, dtype=object)
    out = pd.DataFrame(index=frame.index)

    def flag(mask: pd.Series, reason: pd.Series) -> None:
        first = mask & (reasons == "")
        reasons[first] = reason[first]

    for column in NUMERIC_FEATURES:
        raw = frame[column].astype(str).str.strip()
        values = pd.to_numeric(raw, errors="coerce").astype(float)
        bad = ~np.isfinite(values)
        flag(bad, column + ": " + raw.map(repr) + " is not a number")
        out[column] = values
    kind = frame[TYPE_COLUMN].astype(str).str.strip()
    flag(~kind.isin(TYPES), TYPE_COLUMN + ": " + kind.map(repr) + " is not one of L, M, H")
    for t in TYPES:
        out[f"{TYPE_COLUMN}_{t}"] = (kind == t).astype(np.int64)
    label_raw = frame[LABEL].astype(str).str.strip()
    label = pd.to_numeric(label_raw, errors="coerce")
    flag(~label.isin([0, 1]), LABEL + ": " + label_raw.map(repr) + " is not 0 or 1")
    out[LABEL] = label.where(label.isin([0, 1]), 0).astype(np.int64)

    invalid = reasons != ""
    delimiter = frame["__delimiter"].iloc[0] if len(frame) else ","
    records = frame.loc[invalid, list(RAW_COLUMNS)]
    bad = [
        {
            "source": source,
            "line": int(line),
            "reason": reason,
            "record": delimiter.join(map(str, fields)),
        }
        for line, reason, fields in zip(
            frame.loc[invalid, "__line"],
            reasons[invalid],
            records.itertuples(index=False),
            strict=True,
        )
    ]
    return out.loc[~invalid, [*FEATURES, LABEL]], bad


def read_raw(store: Any, request: PrepareRequest) -> Parsed:
    frames: list[pd.DataFrame] = []
    quarantined: list[dict[str, Any]] = []
    total = 0
    for source in objects.objects_at(store, request.raw_uri, "raw_uri", RAW_SUFFIXES):
        # no reference kept here: parse_plain drops the bytes once they are parsed
        plain = parse_plain(store.read(source), source)
        if plain is None:  # quotes, non-ASCII or unusual line breaks: row by row
            text = objects.decode_text(store.read(source), source)
            strings, malformed, rows = parse_source(text, source)
            del text
            typed, invalid = validate(strings, source)
            del strings
        else:
            typed, malformed, invalid, rows = plain
        del plain
        frames.append(typed)
        quarantined += malformed + invalid
        total += rows
    frame = (
        pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=[*FEATURES, LABEL])
    )
    bad = pd.DataFrame(quarantined, columns=["source", "line", "reason", "record"])
    return Parsed(frame, bad.sort_values(["source", "line"], kind="stable"), total)


# -- the vectorised path, for plain ASCII CSV/TSV (what the AI4I file and exports are) ----------

_NUMBER = r"^[+-]?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][+-]?[0-9]+)?$"
_UNUSUAL = (b'"', b"\r", b"\x0b", b"\x0c", b"\x1c", b"\x1d", b"\x1e", b"\x1f")


def parse_plain(
    data: bytes, source: str
) -> tuple[pd.DataFrame, list[dict[str, Any]], list[dict[str, Any]], int] | None:
    """One raw object parsed and validated on whole columns (pyarrow): (typed rows, malformed
    rows, rows with bad values, row count), the same as :func:`parse_source` + :func:`validate`;
    None when the object needs their row-by-row parser (quotes, non-ASCII text, line breaks
    other than LF and CRLF)."""
    import pyarrow as pa
    import pyarrow.csv as pacsv

    if data.startswith(codecs.BOM_UTF8):
        data = data[len(codecs.BOM_UTF8) :]
    if b"\r\n" in data:
        data = data.replace(b"\r\n", b"\n")
    if not data.isascii() or any(c in data for c in _UNUSUAL):
        return None
    end = data.find(b"\n")
    first = (data if end < 0 else data[:end]).decode("ascii")
    if not first.strip():
        raise SchemaError(
            f"{source}: empty object, or no header row; expected the columns {list(RAW_COLUMNS)}"
        )
    delimiter = "\t" if "\t" in first else ","
    header = [c.strip() for c in first.split(delimiter)]
    check_schema(header, source)
    body = pa.py_buffer(data)[len(data) if end < 0 else end + 1 :]  # no copy
    if len(body) < 4096 and not body.to_pybytes().strip():
        return None  # no data rows: the row-by-row path says so
    names = [f"c{i}" for i in range(len(header))]
    irregular: list[int] = []

    def note(row: Any) -> str:  # a malformed row: counted, and sorted out below
        irregular.append(1)
        return "skip"

    def read(body: Any) -> Any:
        return pacsv.read_csv(
            pa.BufferReader(body),
            read_options=pacsv.ReadOptions(column_names=names, block_size=PARSE_BLOCK_BYTES),
            parse_options=pacsv.ParseOptions(
                delimiter=delimiter,
                quote_char=False,
                ignore_empty_lines=True,
                invalid_row_handler=note,
            ),
            convert_options=pacsv.ConvertOptions(
                column_types={n: pa.string() for n in names},
                strings_can_be_null=False,
                quoted_strings_can_be_null=False,
            ),
        )

    malformed: list[dict[str, Any]] = []
    table = None
    if data.find(b"\n\n", max(end, 0)) < 0 and data[end + 1 : end + 2] != b"\n":
        table = read(body)  # every line a row: line numbers follow from row numbers
    if table is not None and not irregular:
        lines = np.arange(table.num_rows, dtype=np.int64) + 2
    else:  # blank or malformed lines: sort the lines first (row by row, bytes only)
        lines_list, good, malformed = _sort_lines(body.to_pybytes(), delimiter, len(header), source)
        del table
        body = pa.py_buffer(b"".join(lines_list[i] + b"\n" for i in good))
        del lines_list
        irregular.clear()
        table = read(body)
        lines = np.array(good, dtype=np.int64) + 2
    del body, data
    columns = {name: table.column(i) for i, name in enumerate(header)}
    typed, invalid = _validate_columns(columns, lines, delimiter, source)
    return typed, malformed, invalid, len(lines) + len(malformed)


def _sort_lines(
    body: bytes, delimiter: str, expected: int, source: str
) -> tuple[list[bytes], list[int], list[dict[str, Any]]]:
    """The lines, the indices of the well-formed ones, and the malformed ones as quarantine
    rows; blank lines (no field, or one of whitespace) are skipped, as csv.reader's are."""
    lines = body.split(b"\n")
    if lines and lines[-1] == b"":
        lines.pop()
    sep = delimiter.encode()
    good: list[int] = []
    malformed: list[dict[str, Any]] = []
    for i, line in enumerate(lines):
        fields = line.count(sep) + 1
        if fields == expected:
            good.append(i)
        elif fields > 1 or line.strip():
            malformed.append(
                {
                    "source": source,
                    "line": i + 2,
                    "reason": f"expected {expected} fields, found {fields}",
                    "record": line.decode("ascii"),
                }
            )
    return lines, good, malformed


def _numbers(column: Any) -> np.ndarray:
    """``pd.to_numeric(stripped, errors="coerce")`` on a pyarrow string column, without a
    Python object per value: plain decimals are cast by pyarrow, the rest (rare) by pandas."""
    import pyarrow as pa
    import pyarrow.compute as pc

    stripped = pc.utf8_trim_whitespace(column)
    try:  # the common case: every value a plain number
        return pc.cast(stripped, pa.float64()).to_numpy(zero_copy_only=False).copy()
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        pass
    plain = pc.match_substring_regex(stripped, _NUMBER)
    values = (
        pc.cast(pc.if_else(plain, stripped, pa.scalar(None, pa.string())), pa.float64())
        .to_numpy(zero_copy_only=False)
        .copy()
    )
    odd = np.flatnonzero(~plain.to_numpy(zero_copy_only=False))
    if len(odd):
        texts = pc.take(stripped, pa.array(odd)).to_pylist()
        values[odd] = pd.to_numeric(pd.Series(texts, dtype=object), errors="coerce").astype(float)
    return values


def _validate_columns(
    columns: dict[str, Any], lines: np.ndarray, delimiter: str, source: str
) -> tuple[pd.DataFrame, list[dict[str, Any]]]:
    """:func:`validate` on pyarrow columns: typed rows and the rows whose values do not parse,
    each with the first reason in the same order (numeric features, Type, the label)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    first_bad = np.full(len(lines), -1, dtype=np.int64)  # index of the first failing check
    checks: list[tuple[str, Any, str]] = []
    out: dict[str, np.ndarray] = {}
    for column in NUMERIC_FEATURES:
        values = _numbers(columns[column])
        bad = ~np.isfinite(values)
        first_bad[(first_bad < 0) & bad] = len(checks)
        checks.append((column, columns[column], "is not a number"))
        out[column] = values
    kind = pc.utf8_trim_whitespace(columns[TYPE_COLUMN])
    known = pc.is_in(kind, value_set=pa.array(TYPES)).to_numpy(zero_copy_only=False)
    first_bad[(first_bad < 0) & ~known] = len(checks)
    checks.append((TYPE_COLUMN, kind, "is not one of L, M, H"))
    for t in TYPES:
        out[f"{TYPE_COLUMN}_{t}"] = (
            pc.equal(kind, t).to_numpy(zero_copy_only=False).astype(np.int64)
        )
    label = _numbers(columns[LABEL])
    is_label = (label == 0) | (label == 1)
    first_bad[(first_bad < 0) & ~is_label] = len(checks)
    checks.append((LABEL, columns[LABEL], "is not 0 or 1"))
    out[LABEL] = np.where(is_label, label, 0).astype(np.int64)
    invalid = np.flatnonzero(first_bad >= 0)
    bad_rows = []
    if len(invalid):
        take = pa.array(invalid)
        raw_fields = [pc.take(columns[c], take).to_pylist() for c in RAW_COLUMNS]
        reasons: list[str] = [""] * len(invalid)
        for k, (name, texts, why) in enumerate(checks):
            at = np.flatnonzero(first_bad[invalid] == k)
            if len(at):
                values = pc.take(texts, pa.array(invalid[at])).to_pylist()
                for j, value in zip(at.tolist(), values, strict=True):
                    reasons[j] = f"{name}: {value.strip()!r} {why}"  # as validate() strips
        for j, row in enumerate(invalid.tolist()):
            bad_rows.append(
                {
                    "source": source,
                    "line": int(lines[row]),
                    "reason": reasons[j],
                    "record": delimiter.join(f[j] for f in raw_fields),
                }
            )
    valid = first_bad < 0
    keep = (lambda values: values) if valid.all() else (lambda values: values[valid])
    # copy=False: the columns stay the arrays made above (no consolidating copy of the rows)
    frame = pd.DataFrame({c: keep(out.pop(c)) for c in [*FEATURES, LABEL]}, copy=False)
    return frame, bad_rows


# -- splitting ----------------------------------------------------------------------------------


def split(frame: pd.DataFrame, request: PrepareRequest) -> dict[str, pd.DataFrame]:
    """Stratified, seeded train/validation/test split; each split's rows shuffled."""
    rng = np.random.default_rng(request.seed)
    parts: dict[str, list[np.ndarray]] = {"train": [], "validation": [], "test": []}
    labels = frame[LABEL].to_numpy()
    for cls in (0, 1):
        index = rng.permutation(np.flatnonzero(labels == cls))
        n = len(index)
        n_test = max(1, round(n * request.test_fraction))
        n_validation = max(1, round(n * request.validation_fraction))
        if n - n_test - n_validation < 1:
            raise DataQualityError(
                f"{LABEL}: {n} rows of class {cls} are too few for test_fraction "
                f"{request.test_fraction} and validation_fraction {request.validation_fraction}; "
                "provide more data or smaller fractions"
            )
        parts["test"].append(index[:n_test])
        parts["validation"].append(index[n_test : n_test + n_validation])
        parts["train"].append(index[n_test + n_validation :])
    return {name: frame.iloc[rng.permutation(np.concatenate(idx))] for name, idx in parts.items()}


def balance(frame: pd.DataFrame) -> dict[str, Any]:
    positives = int(frame[LABEL].sum())
    return {
        "rows": len(frame),
        "positives": positives,
        "negatives": len(frame) - positives,
        "positive_fraction": positives / len(frame) if len(frame) else 0.0,
    }


def to_csv(frame: pd.DataFrame, columns: list[str]) -> bytes:
    """Headerless CSV, floats as ``%.10g`` and integers as they are: pandas' ``to_csv(...,
    float_format="%.10g")`` bytes, formatted on whole columns (pyarrow)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    if len(frame) == 0:
        return b""
    texts = [_column_text(frame[c].to_numpy()) for c in columns]
    rows = texts[0] if len(texts) == 1 else pc.binary_join_element_wise(*texts, ",")
    rows = pc.binary_join_element_wise(rows, "", "\n")  # each row ends with a newline
    if isinstance(rows, pa.ChunkedArray):
        rows = rows.combine_chunks()
    _, offsets, values = rows.buffers()
    starts = np.frombuffer(offsets, dtype=np.int32, count=rows.offset + len(rows) + 1)
    return bytes(memoryview(values)[starts[rows.offset] : starts[-1]])


def _column_text(values: np.ndarray) -> Any:
    import pyarrow as pa
    import pyarrow.compute as pc

    if values.dtype.kind in "iub":
        return pc.cast(pa.array(values.astype(np.int64)), pa.string())
    values = values.astype(np.float64)
    magnitude = np.abs(values)
    if not np.isfinite(values).all() or np.any(np.signbit(values) & (values == 0)):
        return pa.array([format(v, ".10g") for v in values.tolist()], pa.string())
    small = (magnitude < 1e-4) & (values != 0)  # %g writes these with an exponent
    for decimals in range(7):
        scale = 10.0**decimals
        scaled = np.round(values * scale)
        if (
            not small.any()
            and magnitude.max() < 10.0 ** (10 - decimals)  # at most 10 significant digits
            and np.array_equal(scaled / scale, values)  # exactly a decimal of this many places
        ):
            return _decimal_text(scaled, decimals)
    return pa.array([format(v, ".10g") for v in values.tolist()], pa.string())


def _decimal_text(scaled: np.ndarray, decimals: int) -> Any:
    """``%.10g`` of ``scaled / 10**decimals`` when that has at most 10 significant digits:
    the integer part, and the fraction without its trailing zeros."""
    import pyarrow as pa
    import pyarrow.compute as pc

    units = np.abs(scaled).astype(np.int64)
    whole = pc.cast(pa.array(units // 10**decimals), pa.string())
    text = whole
    if decimals:
        fraction = units % 10**decimals
        digits = pc.utf8_rtrim(
            pc.utf8_lpad(pc.cast(pa.array(fraction), pa.string()), decimals, "0"), "0"
        )
        text = pc.if_else(
            pa.array(fraction == 0), whole, pc.binary_join_element_wise(whole, digits, ".")
        )
    if (scaled < 0).any():
        sign = pa.array(np.where(scaled < 0, "-", ""), pa.string())
        text = pc.binary_join_element_wise(sign, text, "")
    return text


# -- the whole step -----------------------------------------------------------------------------


def prepare(request: PrepareRequest, store: Any) -> dict[str, Any]:
    """Read, validate, split and write; returns the written URIs and the class balance."""
    parsed = read_raw(store, request)
    give_back_memory()  # the parser's buffers, before the rows are split and formatted
    quarantine_uri = (
        objects.join(request.quarantine_prefix, QUARANTINE) if len(parsed.quarantined) else None
    )
    if quarantine_uri is not None:
        store.write(
            quarantine_uri, parsed.quarantined.to_csv(index=False, lineterminator="\n").encode()
        )

    invalid = len(parsed.quarantined)
    if parsed.total_rows == 0:
        raise DataQualityError(f"raw_uri: {request.raw_uri} holds a header but no data rows")
    if invalid / parsed.total_rows > request.max_invalid_fraction:
        raise DataQualityError(
            f"raw_uri: {invalid} of {parsed.total_rows} rows in {request.raw_uri} have unparseable "
            f"values ({invalid / parsed.total_rows:.1%}, more than max_invalid_fraction "
            f"{request.max_invalid_fraction:.1%}); they are in {quarantine_uri}, first: "
            f"line {parsed.quarantined['line'].iloc[0]}: {parsed.quarantined['reason'].iloc[0]}"
        )
    whole = balance(parsed.frame)
    if min(whole["positives"], whole["negatives"]) < MIN_PER_CLASS:
        raise DataQualityError(
            f"{LABEL}: {whole['positives']} failures and {whole['negatives']} non-failures in "
            f"{request.raw_uri}; a stratified split needs at least {MIN_PER_CLASS} of each"
        )
    splits = split(parsed.frame, request)
    valid = len(parsed.frame)
    del parsed.frame  # the splits hold the rows now
    label_first = [LABEL, *FEATURES]
    bodies = {
        "train_uri": lambda: to_csv(splits["train"], label_first),
        "validation_uri": lambda: to_csv(splits["validation"], label_first),
        "test_uri": lambda: to_csv(splits["test"], label_first),
        "test_features_uri": lambda: to_csv(splits["test"], list(FEATURES)),
    }
    uris = {key: objects.join(request.output_prefix, *FILES[key]) for key in FILES}
    train = balance(splits["train"])
    scale_pos_weight = train["negatives"] / train["positives"]
    rows = {
        "raw": parsed.total_rows,
        "valid": valid,
        "quarantined": invalid,
        **{name: len(part) for name, part in splits.items()},
    }
    manifest_uri = objects.join(request.output_prefix, MANIFEST)
    manifest = {
        "source": request.raw_uri,
        "label": LABEL,
        "features": list(FEATURES),
        "dropped_columns": [*IDENTIFIERS, *FAILURE_MODES],
        "one_hot": {TYPE_COLUMN: [f"{TYPE_COLUMN}_{t}" for t in TYPES]},
        "format": "text/csv, no header; train/validation/test: label first, then the features",
        "rows": rows,
        "class_balance": {"all": whole, **{name: balance(part) for name, part in splits.items()}},
        "scale_pos_weight": scale_pos_weight,
        "seed": request.seed,
        "test_fraction": request.test_fraction,
        "validation_fraction": request.validation_fraction,
        "files": uris,
        "quarantine_uri": quarantine_uri,
    }
    written: list[str] = []
    try:
        for key, body in bodies.items():  # each file formatted, written and let go in turn
            store.write(uris[key], body())
            written.append(uris[key])
        store.write(manifest_uri, json.dumps(manifest, indent=2).encode())  # last: marks completion
    except BaseException:
        for uri in written:  # leave nothing half-written; the original error propagates
            with contextlib.suppress(Exception):
                store.delete(uri)
        raise
    return {
        "prefix": request.output_prefix,
        **uris,
        "manifest_uri": manifest_uri,
        "sample_uri": uris["test_features_uri"],
        "quarantine_uri": quarantine_uri,
        "features": list(FEATURES),
        "rows": rows,
        "positive_fraction": whole["positive_fraction"],
        "scale_pos_weight": float(scale_pos_weight),
    }
