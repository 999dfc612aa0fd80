"""Athena's Hive DDL, run against the Glue catalog: tables and partitions.

Athena runs DDL in Hive's dialect (DML in Trino's), so these statements are recognised by
their first words and parsed here (``CREATE EXTERNAL TABLE`` by sqlglot's Hive dialect):

* ``CREATE EXTERNAL TABLE [IF NOT EXISTS] [db.]t (col type, ...) [PARTITIONED BY (...)]
  [ROW FORMAT DELIMITED ... | ROW FORMAT SERDE '...' [WITH SERDEPROPERTIES (...)]]
  [STORED AS TEXTFILE | PARQUET | INPUTFORMAT '...' OUTPUTFORMAT '...'] LOCATION 's3://...'
  [TBLPROPERTIES (...)]``: ``CreateTable`` with the columns, partition keys, SerDe, formats
  and parameters Athena stores (``EXTERNAL=TRUE``; ``skip.header.line.count`` and the
  rest of ``TBLPROPERTIES`` as given).  Formats the engine cannot read (ORC, Avro, ...) are
  refused here, naming the format.
* ``MSCK REPAIR TABLE t``: the ``k=v/`` folders under the table's location that the catalog
  lacks become partitions (``BatchCreatePartition``); other folders are left out, as Athena
  leaves them.
* ``ALTER TABLE t ADD [IF NOT EXISTS] PARTITION (k='v', ...) [LOCATION 's3://...'] ...``
  and ``ALTER TABLE t DROP [IF EXISTS] PARTITION (...), ...``.
* ``DESCRIBE t``, ``SHOW COLUMNS IN t`` and ``SHOW PARTITIONS t``: one-column answers.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote

from localaws.athena.engine import CATALOG, Outcome, QueryFailed, duckdb_type
from localaws.errors import ServiceError

if TYPE_CHECKING:
    import sqlglot.expressions as exp

    from localaws.athena.engine import Engine

TEXT_INPUT = "org.apache.hadoop.mapred.TextInputFormat"
TEXT_OUTPUT = "org.apache.hadoop.hive.ql.io.HiveIgnoreKeyTextOutputFormat"
LAZY_SIMPLE = "org.apache.hadoop.hive.serde2.lazy.LazySimpleSerDe"
PARQUET = {
    "InputFormat": "org.apache.hadoop.hive.ql.io.parquet.MapredParquetInputFormat",
    "OutputFormat": "org.apache.hadoop.hive.ql.io.parquet.MapredParquetOutputFormat",
    "SerializationLibrary": "org.apache.hadoop.hive.ql.io.parquet.serde.ParquetHiveSerDe",
}
READ_FORMATS = ("TEXTFILE", "PARQUET")
HIVE_DEFAULT_DELIMITER = "\x01"
PARTITION_BATCH = 100

_STATEMENT = re.compile(
    r"^\s*(?P<kind>CREATE\s+EXTERNAL\s+TABLE|MSCK\s+REPAIR\s+TABLE|ALTER\s+TABLE|"
    r"DESCRIBE|DESC|SHOW\s+PARTITIONS|SHOW\s+COLUMNS)\b",
    re.IGNORECASE,
)
_NAME = r"(?P<name>[`\"\w]+(?:\.[`\"\w]+)?)"
_MSCK = re.compile(r"^\s*MSCK\s+REPAIR\s+TABLE\s+" + _NAME + r"\s*;?\s*$", re.I)
_ONE_TABLE = re.compile(
    r"^\s*(?:DESCRIBE|DESC|SHOW\s+PARTITIONS|SHOW\s+COLUMNS\s+(?:IN|FROM))\s+"
    r"(?:FORMATTED\s+|EXTENDED\s+)?" + _NAME + r"\s*;?\s*$",
    re.I,
)
_ALTER = re.compile(
    r"^\s*ALTER\s+TABLE\s+" + _NAME + r"\s+(?P<action>ADD|DROP)\s+(?P<exists>IF\s+(?:NOT\s+)?"
    r"EXISTS\s+)?(?P<rest>PARTITION\b.*?);?\s*$",
    re.I | re.S,
)
_PARTITION = re.compile(
    r"PARTITION\s*\((?P<spec>[^)]*)\)\s*(?:LOCATION\s+'(?P<location>[^']*)')?\s*,?\s*", re.I
)
_PAIR = re.compile(
    r"^\s*[`\"]?(?P<key>\w+)[`\"]?\s*=\s*(?:'(?P<text>(?:[^']|'')*)'|(?P<raw>[^,]+?))\s*$"
)


def is_hive_ddl(sql: str) -> bool:
    return _STATEMENT.match(sql) is not None


def run(engine: Engine, sql: str) -> Outcome:
    """Run one Hive DDL statement (``is_hive_ddl(sql)``) against the catalog."""
    m = _STATEMENT.match(sql)
    assert m is not None
    kind = " ".join(m.group("kind").upper().split())
    if kind == "CREATE EXTERNAL TABLE":
        return create_external_table(engine, sql)
    if kind == "MSCK REPAIR TABLE":
        found = _MSCK.match(sql)
        if found is None:
            raise QueryFailed("MSCK REPAIR TABLE: write it as MSCK REPAIR TABLE [db.]table")
        return msck_repair(engine, *_split_name(engine, found.group("name")))
    if kind == "ALTER TABLE":
        found = _ALTER.match(sql)
        if found is None:
            raise QueryFailed(
                "ALTER TABLE: the local Athena runs ADD [IF NOT EXISTS] PARTITION (...) "
                "[LOCATION '...'] and DROP [IF EXISTS] PARTITION (...)"
            )
        return alter_partitions(engine, found)
    found = _ONE_TABLE.match(sql)
    if found is None:
        raise QueryFailed(
            f"{kind}: write it as {kind} {'IN ' if 'COLUMNS' in kind else ''}[db.]table"
        )
    db, name = _split_name(engine, found.group("name"))
    if kind == "SHOW PARTITIONS":
        return show_partitions(engine, db, name)
    if kind == "SHOW COLUMNS":
        return show_columns(engine, db, name)
    return describe(engine, db, name)


def _split_name(engine: Engine, text: str) -> tuple[str, str]:
    parts = [p.strip('`"').lower() for p in text.split(".")]
    return (parts[0], parts[1]) if len(parts) == 2 else (engine.database, parts[0])


def _get_table(engine: Engine, db: str, name: str) -> dict[str, Any]:
    try:
        return dict(engine.runtime.glue.get_table(DatabaseName=db, Name=name)["Table"])
    except ServiceError as e:
        if e.code == "EntityNotFoundException":
            raise QueryFailed(
                f"TABLE_NOT_FOUND: Table '{CATALOG}.{db}.{name}' does not exist"
            ) from e
        raise


def _text(node: Any) -> str:
    import sqlglot.expressions as exp

    return node.name if isinstance(node, exp.Expression) else str(node)


def glue_type(kind: exp.DataType, column: str) -> str:
    """A parsed Hive column type as the catalog writes it (``struct<a:int,b:string>``);
    refused when the engine cannot read it."""
    text = kind.sql(dialect="hive").lower().replace(": ", ":").replace(", ", ",")
    try:
        duckdb_type(text)
    except QueryFailed as e:
        raise QueryFailed(f"column {column}: type {text!r} is not read by the local Athena") from e
    return text


# -- CREATE EXTERNAL TABLE ---------------------------------------------------------------


def create_external_table(engine: Engine, sql: str) -> Outcome:
    import sqlglot
    import sqlglot.expressions as exp
    from sqlglot.errors import ParseError

    try:
        tree = sqlglot.parse_one(sql, read="hive")
    except ParseError as e:
        raise QueryFailed(f"SYNTAX_ERROR: {e}") from e
    if not isinstance(tree, exp.Create) or not isinstance(tree.this, exp.Schema):
        raise QueryFailed("CREATE EXTERNAL TABLE: name the table and list its columns")
    target = tree.this.this
    db = (target.db or engine.database).lower()
    name = target.name.lower()
    columns = [
        {"Name": c.name.lower(), "Type": glue_type(c.args["kind"], c.name)}
        for c in tree.this.expressions
        if isinstance(c, exp.ColumnDef)
    ]
    keys: list[dict[str, str]] = []
    serde: dict[str, Any] = {"SerializationLibrary": LAZY_SIMPLE, "Parameters": {}}
    formats = {"InputFormat": TEXT_INPUT, "OutputFormat": TEXT_OUTPUT}
    stored = "TEXTFILE"
    location = ""
    params: dict[str, str] = {}
    delimited = False
    properties = tree.args.get("properties")
    for prop in properties.expressions if properties is not None else []:
        if isinstance(prop, exp.PartitionedByProperty):
            keys = [
                {"Name": c.name.lower(), "Type": glue_type(c.args["kind"], c.name)}
                for c in prop.this.expressions
            ]
        elif isinstance(prop, exp.RowFormatDelimitedProperty):
            delimited = True
            for arg, key in (
                ("fields", "field.delim"),
                ("escaped", "escape.delim"),
                ("collection_items", "collection.delim"),
                ("map_keys", "mapkey.delim"),
                ("lines", "line.delim"),
                ("null", "serialization.null.format"),
            ):
                if prop.args.get(arg) is not None:
                    serde["Parameters"][key] = _text(prop.args[arg])
            if "field.delim" in serde["Parameters"]:
                serde["Parameters"]["serialization.format"] = serde["Parameters"]["field.delim"]
        elif isinstance(prop, exp.RowFormatSerdeProperty):
            serde["SerializationLibrary"] = _text(prop.this)
            extra = prop.args.get("serde_properties")
            for item in extra.expressions if extra is not None else []:
                serde["Parameters"][_text(item.this)] = _text(item.args.get("value"))
        elif isinstance(prop, exp.FileFormatProperty):
            if isinstance(prop.this, exp.InputOutputFormat):
                formats = {
                    "InputFormat": _text(prop.this.args.get("input_format")),
                    "OutputFormat": _text(prop.this.args.get("output_format")),
                }
                stored = "PARQUET" if "parquet" in formats["InputFormat"].lower() else "TEXTFILE"
            else:
                stored = _text(prop.this).upper()
        elif isinstance(prop, exp.LocationProperty):
            location = _text(prop.this)
        elif isinstance(prop, exp.Property) and not isinstance(prop, exp.ExternalProperty):
            params[_text(prop.this)] = _text(prop.args.get("value"))
    if stored not in READ_FORMATS:
        raise QueryFailed(
            f"STORED AS {stored}: the local Athena reads TEXTFILE (CSV, TSV, JSON) and PARQUET "
            "tables; store the data as one of those"
        )
    if stored == "PARQUET":
        formats = {k: PARQUET[k] for k in ("InputFormat", "OutputFormat")}
        if serde["SerializationLibrary"] == LAZY_SIMPLE:
            serde = {
                "SerializationLibrary": PARQUET["SerializationLibrary"],
                "Parameters": {"serialization.format": "1"},
            }
    elif serde["SerializationLibrary"] == LAZY_SIMPLE and not delimited:
        # Hive's default for a text table: fields separated by Ctrl-A.
        serde["Parameters"] = {"serialization.format": "1", "field.delim": HIVE_DEFAULT_DELIMITER}
    if not location.startswith("s3://"):
        raise QueryFailed(
            f"CREATE EXTERNAL TABLE {db}.{name}: LOCATION {location!r} is not an s3:// "
            "location; add LOCATION 's3://bucket/prefix/'"
        )
    overlap = {c["Name"] for c in columns} & {k["Name"] for k in keys}
    if overlap:
        raise QueryFailed(
            f"Column repeated in partitioning columns: {', '.join(sorted(overlap))}; a partition "
            "key is not also a column"
        )
    table_input = {
        "Name": name,
        "TableType": "EXTERNAL_TABLE",
        "Parameters": {"EXTERNAL": "TRUE", **params},
        "PartitionKeys": keys,
        "StorageDescriptor": {
            "Columns": columns,
            "Location": location,
            **formats,
            "Compressed": False,
            "NumberOfBuckets": -1,
            "SerdeInfo": serde,
            "Parameters": {},
            "StoredAsSubDirectories": False,
        },
    }
    try:
        engine.runtime.glue.create_table(DatabaseName=db, TableInput=table_input)
    except ServiceError as e:
        if e.code == "AlreadyExistsException":
            if tree.args.get("exists"):
                return Outcome("DDL", None)
            raise QueryFailed(f"Table {name} already exists in database {db}") from e
        if e.code == "EntityNotFoundException":
            raise QueryFailed(
                f"SCHEMA_NOT_FOUND: Database {db} does not exist; CREATE DATABASE {db} first"
            ) from e
        raise
    return Outcome("DDL", None)


# -- partitions ---------------------------------------------------------------------------


def _partition_input(table: dict[str, Any], values: list[str], location: str) -> dict[str, Any]:
    sd = dict(table.get("StorageDescriptor") or {})
    sd["Location"] = location
    return {"Values": values, "StorageDescriptor": sd, "Parameters": {}}


def _known(engine: Engine, db: str, name: str) -> set[tuple[str, ...]]:
    _, partitions = engine.catalog.table(db, name)
    return {tuple(p["Values"]) for p in partitions}


def _create_partitions(
    engine: Engine, db: str, name: str, table: dict[str, Any], new: dict[tuple[str, ...], str]
) -> None:
    items = sorted(new.items())
    for i in range(0, len(items), PARTITION_BATCH):
        reply = engine.runtime.glue.batch_create_partition(
            DatabaseName=db,
            TableName=name,
            PartitionInputList=[
                _partition_input(table, list(v), loc) for v, loc in items[i : i + PARTITION_BATCH]
            ],
        )
        for error in reply.get("Errors", []):
            detail = error.get("ErrorDetail") or {}
            raise QueryFailed(
                f"partition {error.get('PartitionValues')}: {detail.get('ErrorMessage', '')}"
            )
    engine.catalog.changed()


def partition_folder(keys: list[str], values: list[str] | tuple[str, ...]) -> str:
    from urllib.parse import quote

    return "".join(f"{k}={quote(v, safe=' ')}/" for k, v in zip(keys, values, strict=True))


def msck_repair(engine: Engine, db: str, name: str) -> Outcome:
    """Add the catalog partitions of the table's ``k=v/`` folders that it lacks."""
    from localaws.glue.inference import hidden

    table = _get_table(engine, db, name)
    keys = [k["Name"].lower() for k in table.get("PartitionKeys", [])]
    location = (table.get("StorageDescriptor") or {}).get("Location", "").rstrip("/") + "/"
    if not keys:
        return Outcome("DDL", None)
    known = _known(engine, db, name)
    new: dict[tuple[str, ...], str] = {}
    for uri in engine.runtime.storage.list(location):
        relative = uri[len(location) :]
        if hidden(relative):
            continue
        folders = relative.split("/")[:-1]
        if len(folders) < len(keys):
            continue
        values = []
        for key, folder in zip(keys, folders, strict=False):
            k, sep, v = folder.partition("=")
            if not sep or k.lower() != key:
                break
            values.append(unquote(v))
        else:
            found = tuple(values)
            if found not in known:
                new.setdefault(found, location + "/".join(folders[: len(keys)]) + "/")
    _create_partitions(engine, db, name, table, new)
    return Outcome("DDL", None)


def _spec(text: str, keys: list[str], table: str) -> list[str]:
    given: dict[str, str] = {}
    for part in filter(str.strip, text.split(",")):
        m = _PAIR.match(part)
        if m is None:
            raise QueryFailed(f"PARTITION ({text.strip()}): write each key as key='value'")
        value = m.group("text")
        given[m.group("key").lower()] = (
            value.replace("''", "'") if value is not None else m.group("raw")
        )
    if sorted(given) != sorted(keys):
        raise QueryFailed(
            f"PARTITION ({text.strip()}): table {table} is partitioned by "
            f"{', '.join(keys) or 'nothing'}; give a value for each of them"
        )
    return [given[k] for k in keys]


def alter_partitions(engine: Engine, match: re.Match[str]) -> Outcome:
    db, name = _split_name(engine, match.group("name"))
    table = _get_table(engine, db, name)
    keys = [k["Name"].lower() for k in table.get("PartitionKeys", [])]
    location = (table.get("StorageDescriptor") or {}).get("Location", "").rstrip("/") + "/"
    rest = match.group("rest")
    specs: list[tuple[list[str], str | None]] = []
    position = 0
    while position < len(rest):
        m = _PARTITION.match(rest, position)
        if m is None:
            raise QueryFailed(
                f"ALTER TABLE {name}: cannot read {rest[position : position + 60]!r}; write "
                "PARTITION (key='value', ...) [LOCATION 's3://...']"
            )
        specs.append((_spec(m.group("spec"), keys, f"{db}.{name}"), m.group("location")))
        position = m.end()
    lenient = bool(match.group("exists"))
    known = _known(engine, db, name)
    if match.group("action").upper() == "ADD":
        new: dict[tuple[str, ...], str] = {}
        for values, where in specs:
            if tuple(values) in known:
                if lenient:
                    continue
                raise QueryFailed(f"Partition already exists: {partition_folder(keys, values)}")
            new[tuple(values)] = where or location + partition_folder(keys, values)
        _create_partitions(engine, db, name, table, new)
        return Outcome("DDL", None)
    gone = [values for values, _ in specs if tuple(values) in known]
    if len(gone) < len(specs) and not lenient:
        missing = [v for v, _ in specs if tuple(v) not in known]
        raise QueryFailed(
            f"No partition is dropped: {partition_folder(keys, missing[0])} is not one"
        )
    for i in range(0, len(gone), 25):
        engine.runtime.glue.batch_delete_partition(
            DatabaseName=db,
            TableName=name,
            PartitionsToDelete=[{"Values": v} for v in gone[i : i + 25]],
        )
    engine.catalog.changed()
    return Outcome("DDL", None)


# -- answers ------------------------------------------------------------------------------


def show_partitions(engine: Engine, db: str, name: str) -> Outcome:
    import pyarrow as pa

    table = _get_table(engine, db, name)
    keys = [k["Name"].lower() for k in table.get("PartitionKeys", [])]
    if not keys:
        raise QueryFailed(f"Table {name} is not partitioned")
    lines = sorted(partition_folder(keys, v).rstrip("/") for v in _known(engine, db, name))
    return Outcome("DDL", pa.table({"partition": pa.array(lines, pa.string())}))


def describe(engine: Engine, db: str, name: str) -> Outcome:
    """Hive's DESCRIBE: ``name\\ttype\\t`` lines, then the partition keys' section."""
    import pyarrow as pa

    table = _get_table(engine, db, name)
    columns = (table.get("StorageDescriptor") or {}).get("Columns", [])
    keys = table.get("PartitionKeys", [])
    lines = [f"{c['Name']:<20}\t{c['Type']:<20}\t{c.get('Comment', '')}" for c in columns + keys]
    if keys:
        lines += ["", "# Partition Information", f"{'# col_name':<20}\t{'data_type':<20}\tcomment"]
        lines += [""] + [f"{k['Name']:<20}\t{k['Type']:<20}\t{k.get('Comment', '')}" for k in keys]
    return Outcome("DDL", pa.table({"col_name": pa.array(lines, pa.string())}))


def show_columns(engine: Engine, db: str, name: str) -> Outcome:
    """The columns then the partition keys, one name a row (column ``field``)."""
    import pyarrow as pa

    table = _get_table(engine, db, name)
    columns = (table.get("StorageDescriptor") or {}).get("Columns", [])
    names = [c["Name"] for c in columns + table.get("PartitionKeys", [])]
    return Outcome("DDL", pa.table({"field": pa.array(names, pa.string())}))
