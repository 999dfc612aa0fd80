"""DMS-style full load: CSV objects in S3 -> DynamoDB tables, by a table-mapping document.

Event (``events/movie_load.json``)::

    {"mapping_uri": "s3://lake/dms/table-mappings.json",   # the mapping document
     "source_uri": "s3://lake/raw/<run id>/",             # where <table-name>.csv objects are
     "report_uri": "s3://lake/dms/reports/<run id>.json", # the load report written here
     "parallel_load_threads": 8}                           # optional (DMS's ParallelLoadThreads)

The mapping document is a subset of AWS DMS's table mappings for a DynamoDB target: one
``object-mapping`` rule per table with ``rule-action: map-record-to-record``;
``object-locator.table-name`` names the source object (``<source_uri><table-name>.csv``, a CSV
with a header, as DMS's S3 source with ``csvNoSupValue``-free data), ``target-table-name`` the
DynamoDB table, and ``mapping-parameters``:

* ``partition-key-name`` / ``sort-key-name`` - the table's keys (a row without them is rejected);
* ``attribute-mappings`` - ``{"target-attribute-name", "attribute-type": "scalar",
  "attribute-sub-type": "string", "value": "${userId}X${movieId}"}``: every attribute is a
  string built from the row's columns (DMS's ``${column}`` substitution);
* ``exclude-columns`` - columns not copied as they are; every other column is copied under its
  own name (DMS's ``map-record-to-record``), unless an attribute mapping already set it.

A row is rejected (DMS: a "table error" row, counted and reported, not loaded) when its field
count differs from the header's or a key attribute comes out empty.  ``max-rejected-rows``
(top level of the document, default unlimited) makes the load fail with
:class:`LoadRejectedError` beyond it.  Rows are written with ``BatchWriteItem`` in batches of
25 from ``parallel_load_threads`` threads, unprocessed items retried with backoff; duplicate
keys in the source overwrite each other as DMS's full load does (counted in the report).

Returns (and writes to ``report_uri``) the load report: per table the source, rows read,
rows loaded, rows rejected (with the first line numbers and reasons), duplicate keys, seconds.
"""

from __future__ import annotations

import csv
import io
import json
import re
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

from common import objects
from common.errors import InvalidEventError, LoadRejectedError

BATCH = 25  # BatchWriteItem's limit
DEFAULT_THREADS = 8
MAX_THREADS = 32
MAX_REPORTED_REJECTS = 20
RETRY_DELAYS_S = (0.05, 0.1, 0.2, 0.4, 0.8, 1.6, 3.2)
_TEMPLATE = re.compile(r"\$\{([^}]+)\}")


@dataclass(frozen=True)
class AttributeMapping:
    name: str
    value: str  # a ${column} template


@dataclass(frozen=True)
class TableMapping:
    rule_name: str
    source_table: str
    target_table: str
    partition_key: str
    sort_key: str | None
    attributes: tuple[AttributeMapping, ...]
    exclude: frozenset[str]

    def key_attributes(self) -> tuple[str, ...]:
        return (self.partition_key, self.sort_key) if self.sort_key else (self.partition_key,)


@dataclass
class TableReport:
    source: str
    target: str
    rows: int = 0
    loaded: int = 0
    rejected: int = 0
    duplicate_keys: int = 0
    rejects: list[dict[str, Any]] = field(default_factory=list)
    seconds: float = 0.0

    def reject(self, line: int, reason: str) -> None:
        self.rejected += 1
        if len(self.rejects) < MAX_REPORTED_REJECTS:
            self.rejects.append({"line": line, "reason": reason})

    def as_dict(self) -> dict[str, Any]:
        return {
            "source": self.source,
            "target": self.target,
            "rows": self.rows,
            "loaded": self.loaded,
            "rejected": self.rejected,
            "duplicate_keys": self.duplicate_keys,
            "rejected_rows": self.rejects,
            "seconds": round(self.seconds, 3),
        }


def parse_mapping(
    document: Any, where: str = "mapping document"
) -> tuple[list[TableMapping], int | None]:
    """The table mappings of a DMS mapping document, and its ``max-rejected-rows``."""
    if not isinstance(document, dict) or not isinstance(document.get("rules"), list):
        raise InvalidEventError(
            f"{where}: expected a JSON object with a 'rules' list (DMS table mappings)"
        )
    limit = document.get("max-rejected-rows")
    if limit is not None and (isinstance(limit, bool) or not isinstance(limit, int) or limit < 0):
        raise InvalidEventError(
            f"{where}.max-rejected-rows: expected a non-negative integer, got {limit!r}"
        )
    tables = []
    for i, rule in enumerate(document["rules"]):
        at = f"{where}.rules[{i}]"
        if not isinstance(rule, dict):
            raise InvalidEventError(f"{at}: expected an object")
        if rule.get("rule-type") != "object-mapping":
            continue  # selection and transformation rules: every table given is loaded
        if rule.get("rule-action") != "map-record-to-record":
            raise InvalidEventError(
                f"{at}.rule-action: {rule.get('rule-action')!r}; only map-record-to-record is supported"
            )
        locator = rule.get("object-locator") or {}
        params = rule.get("mapping-parameters") or {}
        source, target = locator.get("table-name"), rule.get("target-table-name")
        pk = params.get("partition-key-name")
        for name, value in (
            ("object-locator.table-name", source),
            ("target-table-name", target),
            ("mapping-parameters.partition-key-name", pk),
        ):
            if not isinstance(value, str) or not value:
                raise InvalidEventError(f"{at}.{name}: expected a non-empty string, got {value!r}")
        attributes = []
        for j, attr in enumerate(params.get("attribute-mappings") or []):
            name, value = attr.get("target-attribute-name"), attr.get("value")
            if not isinstance(name, str) or not isinstance(value, str):
                raise InvalidEventError(
                    f"{at}.mapping-parameters.attribute-mappings[{j}]: needs target-attribute-name "
                    "and value (a ${column} template)"
                )
            if attr.get("attribute-sub-type", "string") != "string":
                raise InvalidEventError(
                    f"{at}.mapping-parameters.attribute-mappings[{j}].attribute-sub-type: "
                    f"{attr.get('attribute-sub-type')!r}; only string attributes are supported"
                )
            attributes.append(AttributeMapping(name, value))
        tables.append(
            TableMapping(
                rule_name=str(rule.get("rule-name", source)),
                source_table=str(source),
                target_table=str(target),
                partition_key=str(pk),
                sort_key=params.get("sort-key-name") or None,
                attributes=tuple(attributes),
                exclude=frozenset(params.get("exclude-columns") or ()),
            )
        )
    if not tables:
        raise InvalidEventError(f"{where}: no object-mapping rule; add one per table to load")
    return tables, limit


def render(template: str, row: dict[str, str]) -> str:
    return _TEMPLATE.sub(lambda m: row.get(m.group(1), ""), template)


def to_items(mapping: TableMapping, text: str, report: TableReport) -> list[dict[str, Any]]:
    """The rows of one CSV as DynamoDB items (every attribute a string); rejects counted."""
    reader = csv.reader(io.StringIO(text))
    header = next(reader, None)
    if not header:
        raise InvalidEventError(f"{report.source}: empty object; expected a CSV with a header")
    missing = sorted(
        {c for a in mapping.attributes for c in _TEMPLATE.findall(a.value)} - set(header)
    )
    if missing:
        raise InvalidEventError(
            f"{report.source}: the mapping {mapping.rule_name!r} uses columns {missing} the header "
            f"({','.join(header)}) lacks; fix the mapping document or the file"
        )
    by_key: dict[tuple[str, ...], dict[str, Any]] = {}
    for number, fields in enumerate(reader, start=2):
        if not fields:
            continue
        report.rows += 1
        if len(fields) != len(header):
            report.reject(number, f"{len(fields)} fields, the header has {len(header)}")
            continue
        row = dict(zip(header, fields, strict=True))
        item = {c: v for c, v in row.items() if c not in mapping.exclude}
        for attr in mapping.attributes:
            item[attr.name] = render(attr.value, row)
        key = tuple(item.get(k, "") for k in mapping.key_attributes())
        empty = [k for k, v in zip(mapping.key_attributes(), key, strict=True) if not v]
        if empty:
            report.reject(number, f"key attribute {', '.join(empty)} is empty")
            continue
        if key in by_key:
            report.duplicate_keys += 1
        by_key[key] = {k: {"S": v} for k, v in item.items() if v != ""}
    return list(by_key.values())


@lru_cache(maxsize=1)
def dynamodb() -> Any:
    import boto3

    return boto3.client("dynamodb")


def write_batch(client: Any, table: str, items: list[dict[str, Any]]) -> int:
    """One BatchWriteItem of at most 25 items, unprocessed ones retried with backoff."""
    pending = {table: [{"PutRequest": {"Item": item}} for item in items]}
    for delay in (0.0, *RETRY_DELAYS_S):
        if delay:
            time.sleep(delay)
        response = client.batch_write_item(RequestItems=pending)
        pending = response.get("UnprocessedItems") or {}
        if not pending:
            return len(items)
    raise LoadRejectedError(
        f"{table}: {len(pending[table])} items still unprocessed after {len(RETRY_DELAYS_S)} "
        "retries (table throughput exceeded); raise the table's capacity or lower "
        "parallel_load_threads"
    )


def load_table(
    client: Any, mapping: TableMapping, text: str, report: TableReport, threads: int
) -> None:
    started = time.perf_counter()
    items = to_items(mapping, text, report)
    batches = [items[i : i + BATCH] for i in range(0, len(items), BATCH)]
    with ThreadPoolExecutor(max_workers=threads) as pool:
        report.loaded = sum(
            pool.map(lambda batch: write_batch(client, mapping.target_table, batch), batches)
        )
    report.seconds = time.perf_counter() - started


def full_load(event: dict[str, Any], client: Any = None, store: Any = None) -> dict[str, Any]:
    mapping_uri = objects.require_uri(event, "mapping_uri")
    source_uri = objects.require_uri(event, "source_uri")
    report_uri = objects.require_uri(event, "report_uri")
    threads = event.get("parallel_load_threads", DEFAULT_THREADS)
    if isinstance(threads, bool) or not isinstance(threads, int) or not 1 <= threads <= MAX_THREADS:
        raise InvalidEventError(
            f"parallel_load_threads: expected an integer from 1 to {MAX_THREADS}, got {threads!r}"
        )
    store = store if store is not None else objects.storage()
    client = client if client is not None else dynamodb()
    try:
        document = json.loads(objects.read_text(store, mapping_uri))
    except json.JSONDecodeError as e:
        raise InvalidEventError(f"mapping_uri: {mapping_uri} is not JSON ({e.msg})") from e
    tables, limit = parse_mapping(document, mapping_uri)
    started = time.perf_counter()
    reports = []
    for mapping in tables:
        source = objects.join(source_uri, f"{mapping.source_table}.csv")
        report = TableReport(source=source, target=mapping.target_table)
        load_table(client, mapping, objects.read_text(store, source), report, threads)
        reports.append(report)
    seconds = time.perf_counter() - started
    loaded = sum(r.loaded for r in reports)
    rejected = sum(r.rejected for r in reports)
    result = {
        "tables": {r.target: r.as_dict() for r in reports},
        "rows": sum(r.rows for r in reports),
        "loaded": loaded,
        "rejected": rejected,
        "seconds": round(seconds, 3),
        "items_per_second": round(loaded / seconds, 1) if seconds > 0 else None,
        "parallel_load_threads": threads,
        "report_uri": report_uri,
    }
    store.write(report_uri, json.dumps(result, indent=2).encode())
    if limit is not None and rejected > limit:
        raise LoadRejectedError(
            f"{rejected} rows rejected, more than max-rejected-rows {limit}; "
            f"see the load report {report_uri}"
        )
    return result


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    if not isinstance(event, dict):
        raise InvalidEventError(f"event: expected a JSON object, got {type(event).__name__}")
    return full_load(event)
