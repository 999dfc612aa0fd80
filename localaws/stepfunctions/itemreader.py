"""A Distributed Map's ItemReader over the local S3: the items a Map Run processes.

``arn:aws:states:::s3:getObject`` reads one object as ``ReaderConfig.InputType``:

* ``JSON``: the object is a JSON array; each element is an item.
* ``JSONL``: one JSON value per line.
* ``CSV``: one item per row, an object of column name -> string value; the names come
  from the first row (``CSVHeaderLocation: FIRST_ROW``, the default) or ``CSVHeaders``
  (``CSVHeaderLocation: GIVEN``); ``CSVDelimiter`` COMMA (default), PIPE, SEMICOLON,
  SPACE or TAB.
* ``MANIFEST``: an S3 Inventory ``manifest.json``; items are the rows of the CSV files it
  lists (gzip or plain), named by its ``fileSchema``.

``arn:aws:states:::s3:listObjectsV2`` lists ``Bucket``/``Prefix``; each object is an item
shaped as AWS gives it: ``Etag``, ``Key``, ``LastModified`` (epoch seconds), ``Size``,
``StorageClass``.

``MaxItems`` (or ``MaxItemsPath``) keeps the first items.  A missing bucket or object, or
content that does not parse, fails the state with ``States.ItemReaderFailed``.
"""

from __future__ import annotations

import csv
import gzip
import io
import json
from typing import TYPE_CHECKING, Any

from localaws.asl.errors import StateFailure, StatesError
from localaws.asl.paths import payload_template, query
from localaws.s3.backend import S3Error

if TYPE_CHECKING:
    from localaws.s3.backend import ObjectStore

GET_OBJECT = "arn:aws:states:::s3:getObject"
LIST_OBJECTS = "arn:aws:states:::s3:listObjectsV2"
DELIMITERS = {"COMMA": ",", "PIPE": "|", "SEMICOLON": ";", "SPACE": " ", "TAB": "\t"}


def _fail(state: str, cause: str) -> StateFailure:
    return StateFailure(StatesError.ITEM_READER_FAILED, f"Map state '{state}': {cause}")


def _read(s3: ObjectStore, bucket: str, key: str, state: str) -> bytes:
    try:
        return s3.object_path(bucket, key).read_bytes()
    except S3Error as e:
        raise _fail(state, f"s3://{bucket}/{key}: {e.code}: {e.message}") from e
    except (FileNotFoundError, IsADirectoryError, NotADirectoryError) as e:
        raise _fail(state, f"s3://{bucket}/{key}: NoSuchKey: the object does not exist") from e


def _text(data: bytes, key: str) -> str:
    if key.endswith(".gz") or data[:2] == b"\x1f\x8b":
        data = gzip.decompress(data)
    return data.decode("utf-8-sig")


def _csv_rows(text: str, delimiter: str) -> list[list[str]]:
    return [row for row in csv.reader(io.StringIO(text), delimiter=delimiter) if row]


def parse_csv(text: str, config: dict[str, Any], state: str) -> list[dict[str, str]]:
    delimiter = DELIMITERS.get(config.get("CSVDelimiter", "COMMA"), ",")
    rows = _csv_rows(text, delimiter)
    if config.get("CSVHeaderLocation", "FIRST_ROW") == "GIVEN":
        headers = [str(h) for h in config.get("CSVHeaders", [])]
    else:
        if not rows:
            raise _fail(state, "the CSV file is empty: no header row")
        headers, rows = rows[0], rows[1:]
    items = []
    for n, row in enumerate(rows):
        if len(row) > len(headers):
            raise _fail(
                state,
                f"CSV row {n + 1} has {len(row)} fields but the header names {len(headers)}",
            )
        items.append({h: (row[i] if i < len(row) else "") for i, h in enumerate(headers)})
    return items


def _parse(text: str, input_type: str, config: dict[str, Any], state: str) -> list[Any]:
    try:
        if input_type == "JSON":
            value = json.loads(text)
            if not isinstance(value, list):
                raise _fail(state, "InputType JSON needs the object to be a JSON array")
            return value
        if input_type == "JSONL":
            return [json.loads(line) for line in text.splitlines() if line.strip()]
    except json.JSONDecodeError as e:
        raise _fail(state, f"the object is not valid {input_type}: {e}") from e
    return parse_csv(text, config, state)


def _manifest(s3: ObjectStore, bucket: str, key: str, state: str) -> list[dict[str, str]]:
    try:
        manifest = json.loads(_text(_read(s3, bucket, key, state), key))
        schema = [c.strip() for c in manifest["fileSchema"].split(",")]
        destination = manifest.get("destinationBucket") or f"arn:aws:s3:::{bucket}"
        files = [f["key"] for f in manifest["files"]]
    except (json.JSONDecodeError, KeyError, TypeError, AttributeError) as e:
        raise _fail(
            state,
            f"s3://{bucket}/{key} is not an S3 Inventory manifest.json "
            "(fileSchema, files[].key, destinationBucket)",
        ) from e
    if manifest.get("fileFormat", "CSV") != "CSV":
        raise _fail(state, f"inventory fileFormat {manifest.get('fileFormat')!r}: only CSV is read")
    inventory_bucket = destination.rsplit(":", 1)[-1]
    items: list[dict[str, str]] = []
    for file_key in files:
        text = _text(_read(s3, inventory_bucket, file_key, state), file_key)
        items.extend(parse_csv(text, {"CSVHeaderLocation": "GIVEN", "CSVHeaders": schema}, state))
    return items


def _listing(s3: ObjectStore, bucket: str, prefix: str, state: str) -> list[dict[str, Any]]:
    try:
        keys = s3.list_keys(bucket, prefix)
        infos = [s3.info(bucket, key) for key in keys]
    except S3Error as e:
        raise _fail(state, f"s3://{bucket}/{prefix}: {e.code}: {e.message}") from e
    return [
        {
            "Etag": info.etag,
            "Key": info.key,
            "LastModified": int(info.last_modified.timestamp()),
            "Size": info.size,
            "StorageClass": "STANDARD",
        }
        for info in infos
    ]


def read_items(
    s3: ObjectStore, reader: dict[str, Any], effective: Any, ctx: Any, state: str
) -> list[Any]:
    """The items ``reader`` (a Map's ItemReader) gives for the state's effective input."""
    params = payload_template(reader.get("Parameters", {}), effective, ctx)
    config = reader.get("ReaderConfig", {})
    bucket = params.get("Bucket") if isinstance(params, dict) else None
    if not isinstance(bucket, str):
        raise _fail(
            state, f"ItemReader.Parameters.Bucket: a bucket name is required, got {bucket!r}"
        )
    if reader["Resource"] == LIST_OBJECTS:
        items: list[Any] = _listing(s3, bucket, str(params.get("Prefix", "")), state)
    else:
        key = params.get("Key")
        if not isinstance(key, str):
            raise _fail(state, f"ItemReader.Parameters.Key: an object key is required, got {key!r}")
        input_type = config.get("InputType", "JSON")
        if input_type == "MANIFEST":
            items = _manifest(s3, bucket, key, state)
        else:
            items = _parse(_text(_read(s3, bucket, key, state), key), input_type, config, state)
    limit = config.get("MaxItems")
    if "MaxItemsPath" in config:
        limit = query(config["MaxItemsPath"], effective, ctx)
    if limit is not None:
        if isinstance(limit, bool) or not isinstance(limit, int) or limit < 0:
            raise StateFailure(
                StatesError.RUNTIME,
                f"Map state '{state}': ReaderConfig MaxItems gave {json.dumps(limit)}; "
                "expected a non-negative integer",
            )
        if limit:
            items = items[:limit]
    return items
