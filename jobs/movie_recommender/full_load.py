"""DMS-style full load (a Glue ``pythonshell`` job): CSV objects in S3 -> DynamoDB tables, by a
table-mapping document.

Job arguments (Glue passes ``--name value``; ``awsglue.utils.getResolvedOptions`` reads them)::

    --mapping_uri s3://lake/dms/table-mappings.json     the mapping document
    --source_uri  s3://lake/raw/<run id>/               where <table-name>.csv objects are
    --report_uri  s3://lake/dms/reports/<run id>.json   the load report written here
    --parallel_load_threads 8                           optional (DMS's ParallelLoadThreads)

The mapping document is a subset of AWS DMS's table mappings for a DynamoDB target: one
``object-mapping`` rule per table with ``rule-action: map-record-to-record``;
``object-locator.table-name`` names the source object (``<source_uri><table-name>.csv``, a CSV
with a header, as DMS's S3 source), ``target-table-name`` the DynamoDB table, and
``mapping-parameters``:

* ``partition-key-name`` / ``sort-key-name`` - the table's keys (a row without them is rejected);
* ``attribute-mappings`` - ``{"target-attribute-name", "attribute-type": "scalar",
  "attribute-sub-type": "string", "value": "${userId}X${movieId}"}``: every attribute is a
  string built from the row's columns (DMS's ``${column}`` substitution);
* ``exclude-columns`` - columns not copied as they are; every other column is copied under its
  own name (DMS's ``map-record-to-record``), unless an attribute mapping already set it.

A row is rejected (DMS: a "table error" row, counted and reported, not loaded) when its field
count differs from the header's or a key attribute comes out empty.  ``max-rejected-rows``
(top level of the document, default unlimited) makes the job fail with
:class:`LoadRejectedError` beyond it.  Rows are written with ``BatchWriteItem`` in batches of
25 from ``parallel_load_threads`` threads, unprocessed items retried with backoff; duplicate
keys in the source overwrite each other as DMS's full load does (counted in the report).

Writes the load report to ``report_uri`` (and prints it): per table the source, rows read,
rows loaded, rows rejected (with the first line numbers and reasons), duplicate keys, seconds.
A Glue job (not a Lambda) so that a full load is not bound by Lambda's 15 minutes; the same
script runs on AWS Glue (Python shell, boto3 only).
"""

from __future__ import annotations

import codecs
import csv
import io
import json
import re
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

BATCH = 25  # BatchWriteItem's limit
DEFAULT_THREADS = 8
MAX_THREADS = 32
MAX_REPORTED_REJECTS = 20
RETRY_DELAYS_S = (0.05, 0.1, 0.2, 0.4, 0.8, 1.6, 3.2)
_TEMPLATE = re.compile(r"\$\{([^}]+)\}")
REQUIRED = ("mapping_uri", "source_uri", "report_uri")
OPTIONAL = ("parallel_load_threads",)


class MappingError(ValueError):
    """A job argument or the mapping document is wrong; the message names the field and the fix."""


class LoadRejectedError(RuntimeError):
    """More rows rejected than the mapping document allows, or items left unprocessed."""


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
        raise MappingError(
            f"{where}: expected a JSON object with a 'rules' list (DMS table mappings)"
        )
    limit = document.get("max-rejected-rows")
    if limit is not None and (isinstance(limit, bool) or not isinstance(limit, int) or limit < 0):
        raise MappingError(
            f"{where}.max-rejected-rows: expected a non-negative integer, got {limit!r}"
        )
    tables = []
    for i, rule in enumerate(document["rules"]):
        at = f"{where}.rules[{i}]"
        if not isinstance(rule, dict):
            raise MappingError(f"{at}: expected an object")
        if rule.get("rule-type") != "object-mapping":
            continue  # selection and transformation rules: every table given is loaded
        if rule.get("rule-action") != "map-record-to-record":
            raise MappingError(
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
                raise MappingError(f"{at}.{name}: expected a non-empty string, got {value!r}")
        attributes = []
        for j, attr in enumerate(params.get("attribute-mappings") or []):
            name, value = attr.get("target-attribute-name"), attr.get("value")
            if not isinstance(name, str) or not isinstance(value, str):
                raise MappingError(
                    f"{at}.mapping-parameters.attribute-mappings[{j}]: needs target-attribute-name "
                    "and value (a ${column} template)"
                )
            if attr.get("attribute-sub-type", "string") != "string":
                raise MappingError(
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
        raise MappingError(f"{where}: no object-mapping rule; add one per table to load")
    return tables, limit


def render(template: str, row: dict[str, str]) -> str:
    return _TEMPLATE.sub(lambda m: row.get(m.group(1), ""), template)


def to_items(mapping: TableMapping, text: str, report: TableReport) -> list[dict[str, Any]]:
    """The rows of one CSV as DynamoDB items (every attribute a string); rejects counted."""
    reader = csv.reader(io.StringIO(text))
    header = next(reader, None)
    if not header:
        raise MappingError(f"{report.source}: empty object; expected a CSV with a header")
    missing = sorted(
        {c for a in mapping.attributes for c in _TEMPLATE.findall(a.value)} - set(header)
    )
    if missing:
        raise MappingError(
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


def split_uri(uri: str, name: str) -> tuple[str, str]:
    bucket, _, key = uri.removeprefix("s3://").partition("/")
    if not uri.startswith("s3://") or not bucket or not key:
        raise MappingError(f"--{name}: expected an s3://bucket/key URI, got {uri!r}")
    return bucket, key


def read_text(s3: Any, uri: str, name: str) -> str:
    """The object as text: UTF-8, a leading byte-order mark removed."""
    bucket, key = split_uri(uri, name)
    try:
        data = s3.get_object(Bucket=bucket, Key=key)["Body"].read()
    except s3.exceptions.NoSuchKey as e:
        raise MappingError(f"--{name}: no object at {uri}; check the URI") from e
    try:
        return codecs.decode(data, "utf-8-sig")
    except UnicodeDecodeError as e:
        raise MappingError(
            f"{uri}: not UTF-8 text (undecodable byte at offset {e.start}); the object is "
            "corrupted or not a CSV file"
        ) from e


def full_load(options: dict[str, str], *, s3: Any, dynamodb: Any) -> dict[str, Any]:
    mapping_uri, source_uri = options["mapping_uri"], options["source_uri"]
    report_uri = options["report_uri"]
    for name in REQUIRED:  # refused before anything is read or written
        split_uri(options[name], name)
    raw_threads = options.get("parallel_load_threads") or str(DEFAULT_THREADS)
    threads = int(raw_threads) if raw_threads.isdigit() else 0
    if not 1 <= threads <= MAX_THREADS:
        raise MappingError(
            f"--parallel_load_threads: expected an integer from 1 to {MAX_THREADS}, "
            f"got {raw_threads!r}"
        )
    try:
        document = json.loads(read_text(s3, mapping_uri, "mapping_uri"))
    except json.JSONDecodeError as e:
        raise MappingError(f"--mapping_uri: {mapping_uri} is not JSON ({e.msg})") from e
    tables, limit = parse_mapping(document, mapping_uri)
    started = time.perf_counter()
    reports = []
    for mapping in tables:
        source = f"{source_uri.rstrip('/')}/{mapping.source_table}.csv"
        report = TableReport(source=source, target=mapping.target_table)
        load_table(dynamodb, mapping, read_text(s3, source, "source_uri"), report, threads)
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
    bucket, key = split_uri(report_uri, "report_uri")
    s3.put_object(Bucket=bucket, Key=key, Body=json.dumps(result, indent=2).encode())
    if limit is not None and rejected > limit:
        raise LoadRejectedError(
            f"{rejected} rows rejected, more than max-rejected-rows {limit}; "
            f"see the load report {report_uri}"
        )
    return result


def resolved_options(argv: list[str]) -> dict[str, str]:
    """``getResolvedOptions(sys.argv, ...)`` (Glue's), with the optional thread count."""
    from awsglue.utils import getResolvedOptions  # type: ignore[import-not-found]

    wanted = [*REQUIRED, *(name for name in OPTIONAL if f"--{name}" in argv)]
    return dict(getResolvedOptions(argv, wanted))


def main(argv: list[str] | None = None) -> dict[str, Any]:
    import boto3

    options = resolved_options(list(sys.argv if argv is None else argv))
    report = full_load(options, s3=boto3.client("s3"), dynamodb=boto3.client("dynamodb"))
    print(json.dumps(report), flush=True)
    return report


if __name__ == "__main__":
    main()
