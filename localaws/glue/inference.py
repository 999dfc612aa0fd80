"""What a Glue crawler infers from data: tables, their columns in Glue's types, partitions.

Files (:func:`file_schema`): CSV (header detected by Glue's rule: the first row parses as
strings only and some later row does not; an all-string file has no header and columns
``col0``, ``col1``...), JSON Lines, Parquet (its own schema), each optionally gzipped.
Value types, merged across rows and files: ``boolean``, ``bigint``, ``double``,
``timestamp`` (``YYYY-MM-DD HH:MM:SS[.fff]``), ``string``; JSON objects and arrays become
``struct<...>`` and ``array<...>``.

Tables (:func:`s3_tables`): an S3 target becomes one table named after its last folder,
unless its first-level folders are not ``key=value`` partitions and hold different schemas,
when each folder becomes a table.  Folders between a table's root and its files are its
partitions: ``key=value`` names the key; any other folder (``2024/05/01/13``) is
``partition_0``, ``partition_1``..., as Glue names them; partition keys are ``string``.
"""

from __future__ import annotations

import csv
import fnmatch
import gzip
import io
import json
import re
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from localaws.errors import UserError

SAMPLE_ROWS = 1000  # rows read per file to infer its types
SAMPLE_BYTES = 4 * 1024 * 1024
DELIMITERS = ",\t|;"

CSV_FORMAT = {
    "InputFormat": "org.apache.hadoop.mapred.TextInputFormat",
    "OutputFormat": "org.apache.hadoop.hive.ql.io.HiveIgnoreKeyTextOutputFormat",
    "SerializationLibrary": "org.apache.hadoop.hive.serde2.lazy.LazySimpleSerDe",
}
JSON_FORMAT = {
    "InputFormat": "org.apache.hadoop.mapred.TextInputFormat",
    "OutputFormat": "org.apache.hadoop.hive.ql.io.HiveIgnoreKeyTextOutputFormat",
    "SerializationLibrary": "org.openx.data.jsonserde.JsonSerDe",
}
PARQUET_FORMAT = {
    "InputFormat": "org.apache.hadoop.hive.ql.io.parquet.MapredParquetInputFormat",
    "OutputFormat": "org.apache.hadoop.hive.ql.io.parquet.MapredParquetOutputFormat",
    "SerializationLibrary": "org.apache.hadoop.hive.ql.io.parquet.serde.ParquetHiveSerDe",
}
FORMATS = {"csv": CSV_FORMAT, "json": JSON_FORMAT, "parquet": PARQUET_FORMAT}

_INT = re.compile(r"^[+-]?\d{1,18}$")
_FLOAT = re.compile(r"^[+-]?(\d+\.\d*|\.\d+|\d+)([eE][+-]?\d+)?$|^[+-]?(nan|inf|infinity)$", re.I)
_TIMESTAMP = re.compile(r"^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}(\.\d{1,9})?$")
_HIVE_NAME = re.compile(r"[^a-z0-9_]")
_PARTITION = re.compile(r"^([^=/]+)=(.*)$")


class CrawlError(UserError):
    """Data a crawler cannot read (named, with the fix)."""


@dataclass
class FileSchema:
    classification: str  # csv, json, parquet
    columns: dict[str, str]  # name -> Glue type, in order
    header: bool = False
    delimiter: str = ","
    compressed: bool = False
    rows: int = 0
    size: int = 0
    keys: dict[str, str] = field(default_factory=dict)  # JSON: column -> the key in the data


@dataclass
class TableFound:
    """A table a crawl found: what ``CreateTable``/``BatchCreatePartition`` need."""

    name: str
    location: str  # s3://bucket/prefix/
    schema: FileSchema
    partition_keys: list[str] = field(default_factory=list)
    partitions: dict[tuple[str, ...], str] = field(default_factory=dict)  # values -> location
    objects: int = 0

    def table_input(self, crawler: str) -> dict[str, Any]:
        fmt = FORMATS[self.schema.classification]
        serde_params: dict[str, str] = {}
        params = {
            "classification": self.schema.classification,
            "compressionType": "gzip" if self.schema.compressed else "none",
            "typeOfData": "file",
            "objectCount": str(self.objects),
            "recordCount": str(self.schema.rows),
            "sizeKey": str(self.schema.size),
            "UPDATED_BY_CRAWLER": crawler,
            "CrawlerSchemaDeserializerVersion": "1.0",
            "CrawlerSchemaSerializerVersion": "1.0",
        }
        if self.schema.classification == "csv":
            serde_params["field.delim"] = self.schema.delimiter
            params.update(
                {"delimiter": self.schema.delimiter, "columnsOrdered": "true"},
                areColumnsQuoted="false",
            )
            if self.schema.header:
                params["skip.header.line.count"] = "1"
        elif self.schema.classification == "json":
            # The keys as the data spells them (the SerDe matches them to the columns).
            serde_params["paths"] = ",".join(
                self.schema.keys.get(c, c) for c in self.schema.columns
            )
        else:
            serde_params["serialization.format"] = "1"
        return {
            "Name": self.name,
            "TableType": "EXTERNAL_TABLE",
            "Parameters": params,
            "PartitionKeys": [{"Name": k, "Type": "string"} for k in self.partition_keys],
            "StorageDescriptor": {
                "Columns": [{"Name": n, "Type": t} for n, t in self.schema.columns.items()],
                "Location": self.location,
                "InputFormat": fmt["InputFormat"],
                "OutputFormat": fmt["OutputFormat"],
                "Compressed": self.schema.compressed,
                "NumberOfBuckets": -1,
                "SerdeInfo": {
                    "SerializationLibrary": fmt["SerializationLibrary"],
                    "Parameters": serde_params,
                },
                "Parameters": dict(params),
                "StoredAsSubDirectories": False,
            },
        }

    def partition_inputs(self, values: list[tuple[str, ...]]) -> list[dict[str, Any]]:
        base = self.table_input("")["StorageDescriptor"]
        return [
            {
                "Values": list(v),
                "StorageDescriptor": {**base, "Location": self.partitions[v]},
                "Parameters": {"classification": self.schema.classification},
            }
            for v in values
        ]


# -- values and types --------------------------------------------------------------------


def value_type(text: str) -> str | None:
    """The Glue type of one CSV field (None: empty, no evidence)."""
    if text == "":
        return None
    lowered = text.lower()
    if lowered in ("true", "false"):
        return "boolean"
    if _INT.match(text):
        return "bigint"
    if _FLOAT.match(text):
        return "double"
    if _TIMESTAMP.match(text):
        return "timestamp"
    return "string"


def json_type(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "bigint" if -(2**63) <= value < 2**63 else "double"
    if isinstance(value, float):
        return "double"
    if isinstance(value, dict):
        fields = [(_hive_name(k), json_type(v) or "string") for k, v in value.items()]
        return "struct<" + ",".join(f"{k}:{t}" for k, t in fields) + ">"
    if isinstance(value, list):
        element: str | None = None
        for item in value:
            element = merge_types(element, json_type(item))
        return f"array<{element or 'string'}>"
    return "string"


def merge_types(a: str | None, b: str | None) -> str | None:
    """The type that holds values of both types (Glue's widening)."""
    if a is None or a == b:
        return b
    if b is None:
        return a
    if {a, b} <= {"bigint", "double", "int", "float"}:
        return "double" if {a, b} & {"double", "float"} else "bigint"
    return "string"


def _hive_name(name: str) -> str:
    """A column name as Glue writes it: lower case, other characters as ``_``."""
    return _HIVE_NAME.sub("_", name.strip().lower()) or "col"


# -- one file ------------------------------------------------------------------------------


def _open(path: Path) -> tuple[IO[bytes], bool]:
    fh = open(path, "rb")  # noqa: SIM115 - returned to the caller, who closes it
    if fh.read(2) == b"\x1f\x8b":
        fh.seek(0)
        return gzip.open(fh), True  # type: ignore[return-value]
    fh.seek(0)
    return fh, False


def classification(path: Path) -> str:
    """``csv``, ``json`` or ``parquet``, by content (then extension)."""
    with open(path, "rb") as fh:
        if fh.read(4) == b"PAR1":
            return "parquet"
    fh2, _ = _open(path)
    with fh2:
        head = fh2.read(4096).lstrip()
    if head.startswith(b"{"):
        return "json"
    return "csv"


def file_schema(path: Path, key: str) -> FileSchema:
    kind = classification(path)
    size = path.stat().st_size
    try:
        if kind == "parquet":
            schema = _parquet_schema(path)
        elif kind == "json":
            schema = _json_schema(path)
        else:
            schema = _csv_schema(path)
    except (OSError, ValueError, UnicodeDecodeError) as e:
        raise CrawlError(
            f"{key}: cannot read it as {kind} ({type(e).__name__}); fix the object or add its "
            "path to the target's Exclusions"
        ) from e
    schema.size = size
    return schema


def _sample_lines(path: Path) -> tuple[list[str], bool, int]:
    fh, compressed = _open(path)
    with fh:
        text = io.TextIOWrapper(fh, encoding="utf-8", newline="")
        lines: list[str] = []
        read = 0
        rows = 0
        for line in text:
            rows += 1
            if len(lines) < SAMPLE_ROWS and read < SAMPLE_BYTES:
                lines.append(line)
                read += len(line)
    return lines, compressed, rows


def _csv_schema(path: Path) -> FileSchema:
    lines, compressed, total = _sample_lines(path)
    lines = [line for line in lines if line.strip()]
    if not lines:
        raise ValueError("empty")
    first = lines[0]
    delimiter = max(DELIMITERS, key=first.count) if any(d in first for d in DELIMITERS) else ","
    rows = list(csv.reader(lines, delimiter=delimiter))
    width = max(len(r) for r in rows)
    types: list[list[str | None]] = [[value_type(v) for v in row] for row in rows]
    first_strings = all(t == "string" for t in types[0]) and len(types[0]) == width
    later_not_string = any(t not in (None, "string") for row in types[1:] for t in row)
    header = first_strings and later_not_string and len(rows) > 1
    data = types[1:] if header else types
    merged: list[str | None] = [None] * width
    for row in data:
        for i, t in enumerate(row):
            merged[i] = merge_types(merged[i], t)
    if header:
        names = [_hive_name(n) for n in rows[0]] + [f"col{i}" for i in range(len(rows[0]), width)]
    else:
        names = [f"col{i}" for i in range(width)]
    columns = _unique(names, [t or "string" for t in merged])
    return FileSchema("csv", columns, header, delimiter, compressed, total - (1 if header else 0))


def _json_schema(path: Path) -> FileSchema:
    lines, compressed, total = _sample_lines(path)
    columns: dict[str, str | None] = {}
    keys: dict[str, str] = {}
    for line in lines:
        if not line.strip():
            continue
        record = json.loads(line)
        if not isinstance(record, dict):
            raise ValueError("not an object per line")
        for key, value in record.items():
            name = _hive_name(key)
            keys.setdefault(name, key)
            columns[name] = merge_types(columns.get(name), json_type(value))
    return FileSchema(
        "json",
        {k: v or "string" for k, v in columns.items()},
        compressed=compressed,
        rows=total,
        keys=keys,
    )


def arrow_glue_type(t: Any) -> str:
    """A pyarrow type as Glue names it."""
    import pyarrow as pa

    if pa.types.is_boolean(t):
        return "boolean"
    if pa.types.is_int8(t) or pa.types.is_uint8(t):
        return "tinyint"
    if pa.types.is_int16(t) or pa.types.is_uint16(t):
        return "smallint"
    if pa.types.is_int32(t):
        return "int"
    if pa.types.is_integer(t):
        return "bigint"
    if pa.types.is_float32(t):
        return "float"
    if pa.types.is_floating(t):
        return "double"
    if pa.types.is_decimal(t):
        return f"decimal({t.precision},{t.scale})"
    if pa.types.is_timestamp(t):
        return "timestamp"
    if pa.types.is_date(t):
        return "date"
    if pa.types.is_binary(t) or pa.types.is_large_binary(t):
        return "binary"
    if pa.types.is_list(t) or pa.types.is_large_list(t):
        return f"array<{arrow_glue_type(t.value_type)}>"
    if pa.types.is_struct(t):
        fields = ",".join(f"{_hive_name(f.name)}:{arrow_glue_type(f.type)}" for f in t)
        return f"struct<{fields}>"
    if pa.types.is_map(t):
        return f"map<{arrow_glue_type(t.key_type)},{arrow_glue_type(t.item_type)}>"
    if pa.types.is_dictionary(t):
        return arrow_glue_type(t.value_type)
    return "string"


def _parquet_schema(path: Path) -> FileSchema:
    import pyarrow.parquet as pq

    meta = pq.read_metadata(path)
    schema = meta.schema.to_arrow_schema()
    columns = {_hive_name(f.name): arrow_glue_type(f.type) for f in schema}
    return FileSchema("parquet", columns, rows=meta.num_rows)


def _unique(names: list[str], types: list[str]) -> dict[str, str]:
    seen: Counter[str] = Counter()
    columns: dict[str, str] = {}
    for name, t in zip(names, types, strict=True):
        seen[name] += 1
        columns[name if seen[name] == 1 else f"{name}_{seen[name] - 1}"] = t
    return columns


def merge_schemas(schemas: list[FileSchema]) -> FileSchema:
    """One schema for files of one table (columns in first-seen order, types widened)."""
    kinds = {s.classification for s in schemas}
    if len(kinds) > 1:
        raise CrawlError(
            f"files of one table mix formats ({', '.join(sorted(kinds))}); put each format "
            "under its own folder"
        )
    first = schemas[0]
    columns: dict[str, str | None] = {}
    for s in schemas:
        for name, t in s.columns.items():
            columns[name] = merge_types(columns.get(name), t)
    keys: dict[str, str] = {}
    for s in schemas:
        for name, key in s.keys.items():
            keys.setdefault(name, key)
    return FileSchema(
        first.classification,
        {k: v or "string" for k, v in columns.items()},
        keys=keys,
        header=first.header,
        delimiter=first.delimiter,
        compressed=any(s.compressed for s in schemas),
        rows=sum(s.rows for s in schemas),
        size=sum(s.size for s in schemas),
    )


# -- tables of an S3 target ---------------------------------------------------------------


def hidden(relative: str) -> bool:
    """Objects Glue and Athena skip: names starting with ``_`` or ``.``, folder markers."""
    return any(p.startswith(("_", ".")) for p in relative.split("/")) or relative.endswith(
        "_$folder$"
    )


def s3_tables(
    files: dict[str, Path], root_uri: str, exclusions: list[str], table_name: str
) -> list[TableFound]:
    """The tables under ``root_uri`` (``s3://bucket/prefix``), from ``files`` (object URI ->
    local file)."""
    root = root_uri.rstrip("/") + "/"
    relative = {
        uri[len(root) :]: path
        for uri, path in files.items()
        if uri.startswith(root)
        and not hidden(uri[len(root) :])
        and not any(fnmatch.fnmatch(uri[len(root) :], pattern) for pattern in exclusions)
    }
    if not relative:
        return []
    schemas = {rel: file_schema(path, root + rel) for rel, path in relative.items()}
    tops = {rel.split("/", 1)[0] for rel in relative if "/" in rel}
    if tops and all("/" in rel for rel in relative) and not any(_PARTITION.match(t) for t in tops):
        by_top = {t: [s for rel, s in schemas.items() if rel.startswith(t + "/")] for t in tops}
        shapes = {
            (merged.classification, tuple(merged.columns))
            for merged in map(merge_schemas, by_top.values())
        }
        if len(shapes) > 1:
            found = []
            for top in sorted(tops):
                sub = {
                    rel[len(top) + 1 :]: s
                    for rel, s in schemas.items()
                    if rel.startswith(top + "/")
                }
                found.append(_table(_hive_name(top), root + top + "/", sub))
            return found
    return [_table(table_name, root, schemas)]


def _table(name: str, location: str, schemas: dict[str, FileSchema]) -> TableFound:
    depth = min(rel.count("/") for rel in schemas)
    table = TableFound(name, location, merge_schemas(list(schemas.values())), objects=len(schemas))
    if depth == 0:
        return table
    levels = [[rel.split("/")[i] for rel in schemas] for i in range(depth)]
    keys = []
    for i, segments in enumerate(levels):
        matches = [_PARTITION.match(s) for s in segments]
        names = {m.group(1) for m in matches if m}
        if all(matches) and len(names) == 1:
            keys.append(_hive_name(names.pop()))
        else:
            keys.append(f"partition_{i}")
    table.partition_keys = _dedupe(keys)
    for rel in schemas:
        segments = rel.split("/")[:depth]
        values = tuple(m.group(2) if (m := _PARTITION.match(s)) else s for s in segments)
        table.partitions[values] = location + "/".join(segments) + "/"
    return table


def _dedupe(keys: list[str]) -> list[str]:
    out: list[str] = []
    for k in keys:
        out.append(k if k not in out else f"{k}_{len(out)}")
    return out


# -- DynamoDB tables -----------------------------------------------------------------------

_DYNAMODB_TYPES = {"S": "string", "B": "binary", "BOOL": "boolean", "NULL": None}


def dynamodb_type(value: dict[str, Any]) -> str | None:
    """A DynamoDB attribute value (``{"N": "1"}``) as a Glue type."""
    (tag, inner), *_ = value.items()
    if tag == "N":
        return "bigint" if _INT.match(str(inner)) else "double"
    if tag in _DYNAMODB_TYPES:
        return _DYNAMODB_TYPES[tag]
    if tag == "SS":
        return "array<string>"
    if tag == "NS":
        return "array<double>" if any("." in str(x) for x in inner) else "array<bigint>"
    if tag == "BS":
        return "array<binary>"
    if tag == "L":
        element: str | None = None
        for item in inner:
            element = merge_types(element, dynamodb_type(item))
        return f"array<{element or 'string'}>"
    if tag == "M":
        fields = ",".join(
            f"{_hive_name(k)}:{dynamodb_type(v) or 'string'}" for k, v in inner.items()
        )
        return f"struct<{fields}>"
    return "string"


def dynamodb_columns(items: list[dict[str, Any]]) -> dict[str, str]:
    columns: dict[str, str | None] = {}
    for item in items:
        for name, value in item.items():
            key = _hive_name(name)
            columns[key] = merge_types(columns.get(key), dynamodb_type(value))
    return {k: v or "string" for k, v in columns.items()}
