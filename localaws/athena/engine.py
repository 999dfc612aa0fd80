"""Athena's SQL run by DuckDB over the Glue catalog's tables in the local S3.

A query (Trino SQL, as Athena speaks it) is parsed by sqlglot; every table it names is
looked up in the Glue catalog (``GetTable``/``GetPartitions``) and becomes a DuckDB view
over the table's objects: ``read_csv`` (delimiter, header line from the table's SerDe
parameters), ``read_json`` (newline-delimited) or ``read_parquet``, with the catalog's
column types, partition values as constant columns, and hidden objects (``_*``, ``.*``)
skipped as Athena skips them.  The statement is then written in DuckDB's dialect and run.
DuckDB may read only the local S3's directory (``allowed_directories`` with external
access off, set once on the database all queries share, each on its own cursor, its
tables as temporary views), and never downloads an extension.

Statements: ``SELECT`` / ``WITH`` / ``VALUES``; ``CREATE TABLE ... WITH (format='PARQUET',
external_location=..., partitioned_by=ARRAY[...]) AS SELECT`` (CTAS: Parquet objects under
the location, default ``<output location>tables/<query id>/``, registered in the catalog
with their partitions); ``INSERT INTO`` (:mod:`.insert`); ``CREATE DATABASE``; ``DROP
TABLE``; Hive DDL (``CREATE EXTERNAL TABLE``, ``MSCK REPAIR TABLE``, ``ALTER TABLE ADD/DROP
PARTITION``, ``DESCRIBE``, ``SHOW PARTITIONS``: :mod:`.ddl`).  Anything else fails naming
the statement.  Tables a crawler made from DynamoDB are refused (Athena needs a connector).
"""

from __future__ import annotations

import hashlib
import re
import threading
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from localaws.errors import ServiceError, UserError

if TYPE_CHECKING:
    import duckdb
    import pyarrow as pa
    import sqlglot.expressions as exp

    from localaws.runtime import Runtime

CATALOG = "awsdatacatalog"
_SCALAR_TYPES = {
    "string": "VARCHAR",
    "varchar": "VARCHAR",
    "char": "VARCHAR",
    "bigint": "BIGINT",
    "int": "INTEGER",
    "integer": "INTEGER",
    "smallint": "SMALLINT",
    "tinyint": "TINYINT",
    "double": "DOUBLE",
    "float": "FLOAT",
    "boolean": "BOOLEAN",
    "timestamp": "TIMESTAMP",
    "date": "DATE",
    "binary": "BLOB",
}


_SHOW = re.compile(
    r"^\s*SHOW\s+(?P<what>DATABASES|SCHEMAS|TABLES)(?:\s+(?:IN|FROM)\s+(?P<db>[`\"\w]+))?"
    r"(?:\s+(?:LIKE\s+)?'(?P<like>[^']*)')?\s*;?\s*$",
    re.IGNORECASE,
)


def _pages(operation: Any, key: str, **kwargs: Any) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    while True:
        page = operation(**kwargs)
        found += page.get(key, [])
        if not page.get("NextToken"):
            return found
        kwargs["NextToken"] = page["NextToken"]


class QueryFailed(UserError):
    """The query cannot run: its message is Athena's ``StateChangeReason``."""


@dataclass
class Outcome:
    """What a statement produced: rows (SELECT, CTAS's count) or nothing (DDL)."""

    statement_type: str  # DML, DDL
    table: pa.Table | None
    scanned_bytes: int = 0
    update_count: int = 0
    written: list[str] = field(default_factory=list)


# -- Glue types -> DuckDB types --------------------------------------------------------


def duckdb_type(glue: str) -> str:
    """A Glue/Hive column type as DuckDB's (``array<struct<a:int>>`` -> ``STRUCT(...)[]``)."""
    text = glue.strip().lower()
    if text.startswith("array<") and text.endswith(">"):
        return f"{duckdb_type(text[6:-1])}[]"
    if text.startswith("map<") and text.endswith(">"):
        key, value = _split_top(text[4:-1])
        return f"MAP({duckdb_type(key)}, {duckdb_type(value)})"
    if text.startswith("struct<") and text.endswith(">"):
        fields = []
        for part in _split_top(text[7:-1]):
            name, _, kind = part.partition(":")
            fields.append(f'"{name.strip()}" {duckdb_type(kind)}')
        return f"STRUCT({', '.join(fields)})"
    if text.startswith("decimal"):
        return text.upper()
    base = re.sub(r"\(.*\)$", "", text)
    if base not in _SCALAR_TYPES:
        raise QueryFailed(f"column type {glue!r} is not read by the local Athena")
    return _SCALAR_TYPES[base]


def _split_top(text: str) -> list[str]:
    parts, depth, start = [], 0, 0
    for i, ch in enumerate(text):
        if ch in "<(":
            depth += 1
        elif ch in ">)":
            depth -= 1
        elif ch == "," and depth == 0:
            parts.append(text[start:i])
            start = i + 1
    parts.append(text[start:])
    return [p.strip() for p in parts]


def _view_name(db: str, name: str) -> str:
    """The query's view of catalog table ``db.name`` (a temporary view of its cursor)."""
    return f"{db}.{name}"


def _literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


# -- the engine --------------------------------------------------------------------------


def open_database(s3_root: str) -> duckdb.DuckDBPyConnection:
    """The DuckDB database queries run in (each on a cursor of its own, so that views are
    the query's): it reads and writes only under ``s3_root`` and loads no extension."""
    import duckdb

    con = duckdb.connect(
        ":memory:",
        config={"autoinstall_known_extensions": False, "autoload_known_extensions": False},
    )
    con.execute(f"SET allowed_directories = [{_literal(s3_root.rstrip('/') + '/')}]")
    con.execute("SET enable_external_access = false")  # cannot be turned back on
    return con


class CatalogCache:
    """The catalog's tables and partitions as the engine reads them, kept until the Glue
    catalog changes (:meth:`changed` is called on every accepted Glue mutation)."""

    def __init__(self, runtime: Runtime):
        self.runtime = runtime
        self._lock = threading.Lock()
        self._tables: dict[tuple[str, str], tuple[dict[str, Any], list[dict[str, Any]]]] = {}
        self._generation = 0

    def changed(self) -> None:
        with self._lock:
            self._tables.clear()
            self._generation += 1

    def table(self, db: str, name: str) -> tuple[dict[str, Any], list[dict[str, Any]]]:
        """``GetTable``'s table and, for a partitioned one, every partition."""
        with self._lock:
            generation = self._generation
            hit = self._tables.get((db, name))
        if hit is not None:
            return hit
        glue = self.runtime.glue
        table = glue.get_table(DatabaseName=db, Name=name)["Table"]
        partitions: list[dict[str, Any]] = []
        if table.get("PartitionKeys"):
            kwargs: dict[str, Any] = {"DatabaseName": db, "TableName": name}
            while True:
                page = glue.get_partitions(**kwargs)
                partitions += page.get("Partitions", [])
                if not page.get("NextToken"):
                    break
                kwargs["NextToken"] = page["NextToken"]
        with self._lock:
            if self._generation == generation:
                self._tables[(db, name)] = (table, partitions)
        return table, partitions


class Engine:
    """One query: a cursor of the shared database, with the catalog's tables as its views."""

    def __init__(
        self,
        runtime: Runtime,
        database: str | None,
        shared: duckdb.DuckDBPyConnection,
        catalog: CatalogCache | None = None,
    ):
        self.runtime = runtime
        self.catalog = catalog if catalog is not None else CatalogCache(runtime)
        self.database = (database or "default").lower()
        self.root = runtime.storage.root
        self.con: duckdb.DuckDBPyConnection = shared.cursor()
        self._views: set[tuple[str, str]] = set()
        self.scanned = 0

    def close(self) -> None:
        self.con.close()

    def interrupt(self) -> None:
        self.con.interrupt()

    # -- statements ----------------------------------------------------------------------

    def run(self, sql: str, query_id: str, output_location: str | None) -> Outcome:
        import sqlglot
        import sqlglot.expressions as exp
        from sqlglot.errors import ParseError

        from localaws.athena import ddl

        shown = self.show(sql)
        if shown is not None:
            return shown
        if ddl.is_hive_ddl(sql):
            return ddl.run(self, sql)
        try:
            statements = [s for s in sqlglot.parse(sql, read="trino") if s is not None]
        except ParseError as e:
            raise QueryFailed(f"SYNTAX_ERROR: {e}") from e
        if len(statements) != 1:
            raise QueryFailed(
                f"Only one sql statement is allowed. Got: {len(statements)}; send one per query"
            )
        tree = statements[0]
        if isinstance(tree, exp.Query):
            return Outcome("DML", self.select(tree), self.scanned)
        if isinstance(tree, exp.Create):
            kind = str(tree.args.get("kind") or "").upper()
            if kind in ("DATABASE", "SCHEMA"):
                return self.create_database(tree)
            if kind == "TABLE" and isinstance(tree.expression, exp.Query):
                return self.ctas(tree, query_id, output_location)
        if isinstance(tree, exp.Drop) and str(tree.args.get("kind") or "").upper() == "TABLE":
            return self.drop_table(tree)
        if isinstance(tree, exp.Insert) and not tree.args.get("overwrite"):
            from localaws.athena.insert import insert_into

            return insert_into(self, tree, query_id)
        raise QueryFailed(
            f"{tree.key.upper()} statements are not run by the local Athena; it runs SELECT, "
            "CREATE TABLE AS SELECT (Parquet), INSERT INTO, CREATE DATABASE, CREATE EXTERNAL "
            "TABLE, DROP TABLE, MSCK REPAIR TABLE, ALTER TABLE ADD/DROP PARTITION, DESCRIBE, "
            "SHOW TABLES/DATABASES/PARTITIONS"
        )

    def show(self, sql: str) -> Outcome | None:
        """``SHOW DATABASES|SCHEMAS [LIKE 'p']`` and ``SHOW TABLES [IN db] [LIKE 'p']`` from
        the catalog (Athena's one-column results, no header row); None for other SQL."""
        import fnmatch

        import pyarrow as pa

        m = _SHOW.match(sql)
        if m is None:
            return None
        glue = self.runtime.glue
        pattern = (m.group("like") or "*").replace("%", "*")
        if m.group("what").upper() in ("DATABASES", "SCHEMAS"):
            names = [d["Name"] for d in _pages(glue.get_databases, "DatabaseList")]
            column = "database_name"
        else:
            db = (m.group("db") or self.database).strip('`"').lower()
            try:
                tables = _pages(glue.get_tables, "TableList", DatabaseName=db)
            except ServiceError as e:
                raise QueryFailed(f"SCHEMA_NOT_FOUND: Schema '{db}' does not exist") from e
            names = [t["Name"] for t in tables]
            column = "tab_name"
        found = sorted(n for n in names if fnmatch.fnmatch(n, pattern))
        return Outcome("DDL", pa.table({column: pa.array(found, pa.string())}))

    def select(self, tree: exp.Query) -> pa.Table:
        import duckdb

        self._bind_tables(tree)
        sql = tree.sql(dialect="duckdb")
        try:
            return self.con.sql(sql).to_arrow_table()
        except duckdb.Error as e:
            raise QueryFailed(self._clean(str(e))) from e

    def _bind_tables(self, tree: Any) -> None:
        """Qualify every catalog table (``db.t``) and create its view."""
        import sqlglot.expressions as exp

        ctes = {cte.alias_or_name.lower() for cte in tree.find_all(exp.CTE)}
        for table in list(tree.find_all(exp.Table)):
            if not table.name or isinstance(table.this, exp.Func):
                continue
            if not table.args.get("db") and table.name.lower() in ctes:
                continue
            db = (table.db or self.database).lower()
            name = table.name.lower()
            table.set("catalog", None)
            table.set("db", None)
            table.set("this", exp.to_identifier(_view_name(db, name), quoted=True))
            self.view(db, name)

    def view(self, db: str, name: str) -> None:
        if (db, name) in self._views:
            return
        try:
            table, partitions = self.catalog.table(db, name)
        except ServiceError as e:
            if e.code == "EntityNotFoundException":
                raise QueryFailed(
                    f"TABLE_NOT_FOUND: Table '{CATALOG}.{db}.{name}' does not exist"
                ) from e
            raise
        sd = table.get("StorageDescriptor") or {}
        columns = [(c["Name"].lower(), c["Type"]) for c in sd.get("Columns", [])]
        keys = [
            (k["Name"].lower(), k.get("Type", "string")) for k in table.get("PartitionKeys", [])
        ]
        params = {**(table.get("Parameters") or {}), **(sd.get("Parameters") or {})}
        serde = sd.get("SerdeInfo") or {}
        kind = _classification(params, serde, sd)
        if kind == "dynamodb":
            raise QueryFailed(
                f"table {db}.{name} is a DynamoDB table; Athena reads it only through a "
                "connector, which the local Athena does not have: query the table with "
                "DynamoDB's Scan/Query, or export it to S3 and crawl that"
            )
        parts: list[tuple[list[str], list[str]]] = []  # (values, files)
        if keys:
            for partition in partitions:
                location = (partition.get("StorageDescriptor") or {}).get("Location", "")
                parts.append((partition["Values"], self._files(location)))
        else:
            parts.append(([], self._files(sd.get("Location", ""))))
        selects = []
        for values, files in parts:
            if not files:
                continue
            projection = [_ident(n) for n, _ in columns] + [
                f"CAST({_literal(v)} AS {duckdb_type(t)}) AS {_ident(k)}"
                for (k, t), v in zip(keys, values, strict=False)
            ]
            # gzip is told by content (Firehose's objects may have no .gz), as Athena does.
            by_compression = {True: [f for f in files if _gzipped(f)]}
            by_compression[False] = [f for f in files if f not in set(by_compression[True])]
            for gzipped, group in by_compression.items():
                if group:
                    source = self._reader(kind, group, gzipped, columns, params, serde)
                    selects.append(f"SELECT {', '.join(projection)} FROM {source}")
        if not selects:
            empty = [f"CAST(NULL AS {duckdb_type(t)}) AS {_ident(n)}" for n, t in columns + keys]
            selects.append(f"SELECT {', '.join(empty)} WHERE false")
        self.con.execute(
            f"CREATE TEMP VIEW {_ident(_view_name(db, name))} AS " + " UNION ALL ".join(selects)
        )
        self._views.add((db, name))

    def _files(self, location: str) -> list[str]:
        """The local files of the objects under ``location`` (Athena's rules: recursive,
        hidden names skipped)."""
        from localaws.glue.inference import hidden

        if not location.startswith("s3://"):
            raise QueryFailed(f"table location {location!r} is not an s3:// location")
        storage = self.runtime.storage
        root = location.rstrip("/") + "/"
        files = []
        for uri in storage.list(root):
            if hidden(uri[len(root) :]):
                continue
            path = storage.path(uri)
            self.scanned += path.stat().st_size
            files.append(str(path))
        return files

    def _reader(
        self,
        kind: str,
        files: list[str],
        gzipped: bool,
        columns: list[tuple[str, str]],
        params: dict[str, str],
        serde: dict[str, Any],
    ) -> str:
        listed = "[" + ", ".join(_literal(f) for f in files) + "]"
        compression = ", compression = 'gzip'" if gzipped else ""
        struct = (
            "{" + ", ".join(f"{_literal(n)}: {_literal(duckdb_type(t))}" for n, t in columns) + "}"
        )
        if kind == "parquet":
            return f"read_parquet({listed}, union_by_name = true)"
        if kind == "json":
            # Columns are lower case; the data's keys are as the SerDe's ``paths`` spell them.
            paths = str((serde.get("Parameters") or {}).get("paths", ""))
            keys = {p.strip().lower(): p.strip() for p in paths.split(",") if p.strip()}
            struct = (
                "{"
                + ", ".join(
                    f"{_literal(keys.get(n, n))}: {_literal(duckdb_type(t))}" for n, t in columns
                )
                + "}"
            )
            renamed = ", ".join(f"{_ident(keys.get(n, n))} AS {_ident(n)}" for n, _ in columns)
            return (
                f"(SELECT {renamed} FROM read_json({listed}, format = 'newline_delimited', "
                f"columns = {struct}{compression}))"
            )
        serde_params = serde.get("Parameters") or {}
        delimiter = serde_params.get("field.delim") or serde_params.get("separatorChar") or ","
        header = str(params.get("skip.header.line.count", "0")) == "1"
        quote = serde_params.get("quoteChar", '"')
        return (
            f"read_csv({listed}, header = {str(header).lower()}, delim = {_literal(delimiter)}, "
            f"quote = {_literal(quote)}, columns = {struct}, auto_detect = false, "
            f"null_padding = true{compression})"
        )

    def _clean(self, message: str) -> str:
        """DuckDB's message with local paths written as the s3:// URIs they stand for."""
        return message.replace(str(self.root) + "/", "s3://")

    # -- DDL and CTAS ------------------------------------------------------------------------

    def create_database(self, tree: exp.Create) -> Outcome:
        name = tree.this.name.lower() if tree.this is not None else ""
        glue = self.runtime.glue
        try:
            glue.create_database(DatabaseInput={"Name": name})
        except ServiceError as e:
            if e.code != "AlreadyExistsException" or not tree.args.get("exists"):
                raise QueryFailed(f"Database {name} already exists") from e
        return Outcome("DDL", None)

    def drop_table(self, tree: exp.Drop) -> Outcome:
        tables = tree.args.get("tables") or []  # sqlglot 30 lists them; older: ``this``
        target = tree.this if tree.this is not None else (tables[0] if tables else None)
        if target is None or len(tables) > 1:
            raise QueryFailed("DROP TABLE: name one table, DROP TABLE [IF EXISTS] [db.]table")
        db = (target.db or self.database).lower()
        name = target.name.lower()
        try:
            self.runtime.glue.delete_table(DatabaseName=db, Name=name)
        except ServiceError as e:
            if e.code != "EntityNotFoundException" or not tree.args.get("exists"):
                raise QueryFailed(f"Table '{CATALOG}.{db}.{name}' does not exist") from e
        return Outcome("DDL", None)

    def ctas(self, tree: exp.Create, query_id: str, output_location: str | None) -> Outcome:
        import sqlglot.expressions as exp

        target = tree.this.this if isinstance(tree.this, exp.Schema) else tree.this
        db = (target.db or self.database).lower()
        name = target.name.lower()
        options = _properties(tree)
        fmt = options.get("format", "PARQUET").upper()
        if fmt != "PARQUET":
            raise QueryFailed(
                f"CTAS format {fmt!r}: the local Athena writes PARQUET only; use format = 'PARQUET'"
            )
        glue = self.runtime.glue
        try:
            glue.get_table(DatabaseName=db, Name=name)
            raise QueryFailed(f"Table '{CATALOG}.{db}.{name}' already exists")
        except ServiceError as e:
            if e.code != "EntityNotFoundException":
                raise
        location = options.get("external_location") or (
            f"{(output_location or '').rstrip('/')}/tables/{query_id}/" if output_location else ""
        )
        if not location.startswith("s3://"):
            raise QueryFailed("CTAS needs an external_location or a query output location; set one")
        location = location.rstrip("/") + "/"
        remove_attempt(self.runtime, location, query_id)  # an interrupted run's objects
        if self.runtime.storage.list(location):
            raise QueryFailed(
                f"HIVE_PATH_ALREADY_EXISTS: Target directory for table '{db}.{name}' already "
                f"exists: {location}; choose an empty external_location"
            )
        partitioned = [c.lower() for c in options.get("partitioned_by", [])]
        data = self.select(tree.expression)
        missing = [c for c in partitioned if c not in data.column_names]
        if missing:
            raise QueryFailed(
                f"partitioned_by column(s) {', '.join(missing)} are not in the SELECT"
            )
        try:
            written = self._write_parquet(data, location, partitioned, query_id)
            self._register(db, name, data, location, partitioned, written)
        except BaseException:
            remove_attempt(self.runtime, location, query_id)
            raise
        import pyarrow as pa

        count = pa.table({"rows": pa.array([data.num_rows], pa.int64())})
        return Outcome("DDL", count, self.scanned, data.num_rows, [u for u, _ in written])

    def _write_parquet(
        self, data: pa.Table, location: str, partitioned: list[str], query_id: str
    ) -> list[tuple[str, tuple[str, ...]]]:
        import pyarrow.compute as pc

        if not partitioned:
            uri = f"{location}{query_id}_00000"
            _put_parquet(self.runtime, data, uri)
            return [(uri, ())]
        body = data.drop_columns(partitioned)
        keys = data.select(partitioned).group_by(partitioned).aggregate([]).to_pylist()
        written = []
        for i, combo in enumerate(keys):
            mask = None
            for column, value in combo.items():
                match = pc.is_null(data[column]) if value is None else pc.equal(data[column], value)
                mask = match if mask is None else pc.and_(mask, match)
            values = tuple(
                "__HIVE_DEFAULT_PARTITION__" if combo[c] is None else str(combo[c])
                for c in partitioned
            )
            folder = "".join(f"{c}={v}/" for c, v in zip(partitioned, values, strict=True))
            uri = f"{location}{folder}{query_id}_{i:05d}"
            _put_parquet(self.runtime, body.filter(mask), uri)
            written.append((uri, values))
        return written

    def _register(
        self,
        db: str,
        name: str,
        data: pa.Table,
        location: str,
        partitioned: list[str],
        written: list[tuple[str, tuple[str, ...]]],
    ) -> None:
        from localaws.glue.inference import PARQUET_FORMAT, arrow_glue_type

        schema = data.schema
        columns = [
            {"Name": f.name, "Type": arrow_glue_type(f.type)}
            for f in schema
            if f.name not in partitioned
        ]
        keys = [{"Name": c, "Type": arrow_glue_type(schema.field(c).type)} for c in partitioned]
        sd = {
            "Columns": columns,
            "Location": location,
            "InputFormat": PARQUET_FORMAT["InputFormat"],
            "OutputFormat": PARQUET_FORMAT["OutputFormat"],
            "Compressed": False,
            "NumberOfBuckets": 0,
            "SerdeInfo": {
                "SerializationLibrary": PARQUET_FORMAT["SerializationLibrary"],
                "Parameters": {"serialization.format": "1"},
            },
        }
        glue = self.runtime.glue
        glue.create_table(
            DatabaseName=db,
            TableInput={
                "Name": name,
                "TableType": "EXTERNAL_TABLE",
                "PartitionKeys": keys,
                "Parameters": {"classification": "parquet", "has_encrypted_data": "false"},
                "StorageDescriptor": sd,
            },
        )
        partitions = sorted({values for _, values in written if values})
        for i in range(0, len(partitions), 100):
            glue.batch_create_partition(
                DatabaseName=db,
                TableName=name,
                PartitionInputList=[
                    {
                        "Values": list(values),
                        "StorageDescriptor": {
                            **sd,
                            "Location": location
                            + "".join(
                                f"{c}={v}/" for c, v in zip(partitioned, values, strict=True)
                            ),
                        },
                    }
                    for values in partitions[i : i + 100]
                ],
            )


def _gzipped(path: str) -> bool:
    with open(path, "rb") as fh:
        return fh.read(2) == b"\x1f\x8b"


def _classification(params: dict[str, str], serde: dict[str, Any], sd: dict[str, Any]) -> str:
    kind = str(params.get("classification", "")).lower()
    if kind:
        return kind
    library = str(serde.get("SerializationLibrary", "")).lower()
    if "parquet" in library or "parquet" in str(sd.get("InputFormat", "")).lower():
        return "parquet"
    if "json" in library:
        return "json"
    return "csv"


def _properties(tree: exp.Create) -> dict[str, Any]:
    """CTAS's ``WITH (...)`` properties: format, external_location, partitioned_by."""
    import sqlglot.expressions as exp

    found: dict[str, Any] = {}
    properties = tree.args.get("properties")
    for prop in properties.expressions if properties is not None else []:
        if isinstance(prop, exp.FileFormatProperty):
            found["format"] = (
                prop.this.name if isinstance(prop.this, exp.Expression) else str(prop.this)
            )
        elif isinstance(prop, exp.LocationProperty):
            found["external_location"] = prop.this.name
        elif isinstance(prop, exp.PartitionedByProperty):
            value = prop.this
            items = (
                value.expressions
                if hasattr(value, "expressions") and value.expressions
                else [value]
            )
            found["partitioned_by"] = [i.name for i in items]
        elif isinstance(prop, exp.Property):
            key = prop.name.lower()
            value = prop.args.get("value")
            if isinstance(value, exp.Array | exp.Tuple):
                found[key] = [v.name for v in value.expressions]
            elif value is not None:
                found[key] = value.name
    return found


def _put_parquet(runtime: Runtime, data: pa.Table, uri: str) -> None:
    """Write ``data`` as one Parquet object through the object store (notifications fire)."""
    import pyarrow.parquet as pq

    out, temp = runtime.s3.new_temp()
    with out:
        pq.write_table(data, out)
    commit_object(runtime, temp, uri)


def commit_object(runtime: Runtime, temp: Any, uri: str) -> None:
    """Make the temporary file ``temp`` the object at ``uri`` (whole, or not at all)."""
    from localaws.lambdakit.storage import parse_s3_uri
    from localaws.s3.backend import S3Error

    bucket, key = parse_s3_uri(uri)
    digest = hashlib.md5(temp.read_bytes()).hexdigest()
    try:
        runtime.s3.commit(temp, bucket, key, f'"{digest}"', "application/octet-stream", {})
    except S3Error as e:
        raise QueryFailed(
            f"cannot write {uri}: {e.message}; create the bucket or fix the location"
        ) from e


def remove_attempt(runtime: Runtime, location: str, query_id: str) -> None:
    """Delete the objects under ``location`` a run of query ``query_id`` wrote (named
    ``<query id>_<n>``): what an interrupted or failed attempt left, so that the query's
    objects appear all together or not at all."""
    from localaws.lambdakit.storage import parse_s3_uri

    for uri in runtime.storage.list(location.rstrip("/") + "/"):
        if uri.rpartition("/")[2].startswith(f"{query_id}_"):
            runtime.s3.delete(*parse_s3_uri(uri))
