"""``INSERT INTO [db.]t [(col, ...)] SELECT ... | VALUES ...``: new objects under the table.

The rows (cast to the table's column types; the partition keys last, as Athena takes them)
are written in the table's format, Parquet, JSON Lines or delimited text (a header line
when the table skips one, so that its files read back whole), one object per partition,
named ``<query id>_<n>``, each written whole or not at all through the object store.  A
partition the catalog lacks is added (``BatchCreatePartition``).  The query's objects
appear together or not at all: a failed write deletes those already written, and a run
again after a crash first deletes what the interrupted attempt left.  The query's
``UpdateCount`` is the number of rows.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from localaws.athena.ddl import _get_table, _known, _partition_input, partition_folder
from localaws.athena.engine import (
    Outcome,
    QueryFailed,
    _classification,
    _ident,
    _put_parquet,
    commit_object,
    duckdb_type,
    remove_attempt,
)

if TYPE_CHECKING:
    import pyarrow as pa
    import sqlglot.expressions as exp

    from localaws.athena.engine import Engine


def insert_into(engine: Engine, tree: exp.Insert, query_id: str) -> Outcome:
    import duckdb
    import sqlglot.expressions as exp

    target = tree.this
    listed: list[str] | None = None
    if isinstance(target, exp.Schema):
        listed = [e.name.lower() for e in target.expressions]
        target = target.this
    db = (target.db or engine.database).lower()
    name = target.name.lower()
    table = _get_table(engine, db, name)
    sd = table.get("StorageDescriptor") or {}
    columns = [(c["Name"].lower(), c["Type"]) for c in sd.get("Columns", [])]
    keys = [(k["Name"].lower(), k.get("Type", "string")) for k in table.get("PartitionKeys", [])]
    every = columns + keys
    source = tree.expression
    if isinstance(source, exp.Values):
        source = exp.select("*").from_(source.copy().as_("v"))
    if not isinstance(source, exp.Query):
        raise QueryFailed("INSERT INTO: insert the rows of a SELECT or VALUES")
    data = engine.select(source)
    names = listed if listed is not None else [n for n, _ in every]
    unknown = [n for n in names if n not in dict(every)]
    if unknown:
        raise QueryFailed(f"Insert column name does not exist in target table: {unknown[0]}")
    if len(names) != data.num_columns:
        raise QueryFailed(
            f"Insert query has mismatched column sizes: table {db}.{name} takes "
            f"{len(names)} columns, the query gives {data.num_columns}"
        )
    # Each of the table's columns: the query's column at its position, or NULL.
    incoming = {n: f"c{i}" for i, n in enumerate(names)}
    renamed = data.rename_columns([f"c{i}" for i in range(data.num_columns)])
    projection = ", ".join(
        f"CAST({_ident(incoming[n]) if n in incoming else 'NULL'} AS {duckdb_type(t)}) "
        f"AS {_ident(n)}"
        for n, t in every
    )
    con = engine.con
    con.register("__insert_rows", renamed)
    try:
        rows = con.sql(f"SELECT {projection} FROM __insert_rows").to_arrow_table()
    except duckdb.Error as e:
        raise QueryFailed(engine._clean(str(e))) from e
    finally:
        con.unregister("__insert_rows")
    # The objects of an interrupted attempt go first; a failed write takes back the others.
    folders = _folders(engine, db, name, table)
    for folder in folders:
        remove_attempt(engine.runtime, folder, query_id)
    try:
        written = _write(engine, (db, name), table, rows, [n for n, _ in keys], query_id)
        known = _known(engine, db, name)
        new = {v: loc for v, loc in written.items() if v and v not in known}
        if new:
            engine.runtime.glue.batch_create_partition(
                DatabaseName=db,
                TableName=name,
                PartitionInputList=[
                    _partition_input(table, list(v), loc) for v, loc in new.items()
                ],
            )
            engine.catalog.changed()
    except BaseException:
        for folder in folders:  # every object is written under one of them
            remove_attempt(engine.runtime, folder, query_id)
        raise
    return Outcome("DML", None, engine.scanned, rows.num_rows)


def _folders(engine: Engine, db: str, name: str, table: dict[str, Any]) -> set[str]:
    """The table's location and its partitions' (some may lie outside it)."""
    location = (table.get("StorageDescriptor") or {}).get("Location", "").rstrip("/") + "/"
    _, partitions = engine.catalog.table(db, name)
    found = {location}
    for p in partitions:
        where = (p.get("StorageDescriptor") or {}).get("Location", "").rstrip("/") + "/"
        if where.startswith("s3://") and not where.startswith(location):
            found.add(where)
    return found


def _write(
    engine: Engine,
    db_name: tuple[str, str],
    table: dict[str, Any],
    rows: pa.Table,
    keys: list[str],
    query_id: str,
) -> dict[tuple[str, ...], str]:
    """Write ``rows`` under the table's location; the partitions written to (values ->
    location; ``()`` for an unpartitioned table)."""
    import pyarrow.compute as pc

    sd = table.get("StorageDescriptor") or {}
    location = sd.get("Location", "").rstrip("/") + "/"
    if rows.num_rows == 0:
        return {}
    if not keys:
        _put(engine, table, rows, f"{location}{query_id}_00000")
        return {(): location}
    _, partitions = engine.catalog.table(*db_name)
    where = {
        tuple(p["Values"]): (p.get("StorageDescriptor") or {}).get("Location", "")
        for p in partitions
    }
    body = rows.drop_columns(keys)
    written: dict[tuple[str, ...], str] = {}
    combos = sorted(
        rows.select(keys).group_by(keys).aggregate([]).to_pylist(),
        key=lambda c: [str(c[k]) for k in keys],
    )
    for i, combo in enumerate(combos):
        mask = None
        for column, value in combo.items():
            match = pc.is_null(rows[column]) if value is None else pc.equal(rows[column], value)
            mask = match if mask is None else pc.and_(mask, match)
        values = tuple(
            "__HIVE_DEFAULT_PARTITION__" if combo[k] is None else str(combo[k]) for k in keys
        )
        folder = where.get(values) or location + partition_folder(keys, values)
        folder = folder.rstrip("/") + "/"
        _put(engine, table, body.filter(mask), f"{folder}{query_id}_{i:05d}")
        written[values] = folder
    return written


def _put(engine: Engine, table: dict[str, Any], rows: pa.Table, uri: str) -> None:
    sd = table.get("StorageDescriptor") or {}
    params = {**(table.get("Parameters") or {}), **(sd.get("Parameters") or {})}
    serde = sd.get("SerdeInfo") or {}
    kind = _classification(params, serde, sd)
    if kind == "parquet":
        _put_parquet(engine.runtime, rows, uri)
        return
    if kind == "json":
        data = "".join(json.dumps(r, default=str) + "\n" for r in rows.to_pylist()).encode()
    elif kind == "csv":
        data = _delimited(rows, params, serde.get("Parameters") or {})
    else:
        raise QueryFailed(
            f"INSERT INTO a {kind} table: the local Athena writes Parquet, JSON and "
            "delimited text tables"
        )
    _put_bytes(engine, data, uri)


def _delimited(rows: pa.Table, params: dict[str, str], serde: dict[str, str]) -> bytes:
    import io

    import pyarrow as pa
    import pyarrow.csv as pacsv

    if any(pa.types.is_nested(f.type) for f in rows.schema):
        raise QueryFailed(
            "INSERT INTO a text table with array, map or struct columns: the local Athena "
            "writes those to Parquet or JSON tables only"
        )
    delimiter = serde.get("field.delim") or serde.get("separatorChar") or ","
    header = str(params.get("skip.header.line.count", "0")) == "1"
    out = io.BytesIO()
    pacsv.write_csv(
        rows,
        out,
        pacsv.WriteOptions(include_header=header, delimiter=delimiter, quoting_style="needed"),
    )
    return out.getvalue()


def _put_bytes(engine: Engine, data: bytes, uri: str) -> None:
    out, temp = engine.runtime.s3.new_temp()
    with out:
        out.write(data)
    commit_object(engine.runtime, temp, uri)
