"""Athena query executions that execute: DuckDB runs what ``StartQueryExecution`` asks.

moto records query executions and answers ``StartQueryExecution`` with an id (and a query
that succeeds at once with no rows).  Here an observer of the accepted call records the
query as ``QUEUED`` and queues it in the ``athena.query`` outbox; a worker runs it
(:mod:`.engine`), writes the result as Athena does, ``<OutputLocation><id>.csv`` (every
value quoted, the header first, NULL empty) and ``<id>.csv.metadata`` (the column info, as
JSON: AWS's is a binary format of its own), through the object store, and keeps the rows as
Parquet in ``<state dir>/athena/<id>.parquet`` for ``GetQueryResults``, which pages them
(``MaxResults`` up to 1000, ``NextToken``; the first page of a SELECT starts with the
header row, as on AWS).

``Status`` (``QUEUED`` -> ``RUNNING`` -> ``SUCCEEDED`` / ``FAILED`` with
``StateChangeReason`` and ``AthenaError`` / ``CANCELLED``), ``Statistics`` and the output
file's ``OutputLocation`` come from the ``athena.query`` records, overlaid on moto's
``GetQueryExecution`` and ``BatchGetQueryExecution``.  ``StopQueryExecution`` interrupts
DuckDB.
"""

from __future__ import annotations

import hashlib
import json
import logging
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from localaws.athena.engine import CatalogCache, Engine, Outcome, QueryFailed, open_database
from localaws.errors import ServiceError, UserError
from localaws.outbox import Outbox
from localaws.store import JsonRecords

if TYPE_CHECKING:
    import pyarrow as pa

    from localaws.motobridge.bridge import Mutation
    from localaws.runtime import Runtime

log = logging.getLogger(__name__)

CHANNEL = "athena.query"
QUERY_KIND = "athena.query"
MAX_RESULTS = 1000
DEFAULT_WORKGROUP = "primary"
DONE = ("SUCCEEDED", "FAILED", "CANCELLED")


def athena_type(t: Any) -> tuple[str, int, int]:
    """A pyarrow type as Athena's ColumnInfo names it: (Type, Precision, Scale)."""
    import pyarrow as pa

    if pa.types.is_boolean(t):
        return "boolean", 0, 0
    if pa.types.is_int8(t):
        return "tinyint", 3, 0
    if pa.types.is_int16(t):
        return "smallint", 5, 0
    if pa.types.is_int32(t):
        return "integer", 10, 0
    if pa.types.is_integer(t):
        return "bigint", 19, 0
    if pa.types.is_float32(t):
        return "float", 17, 0
    if pa.types.is_floating(t):
        return "double", 17, 0
    if pa.types.is_decimal(t):
        return "decimal", t.precision, t.scale
    if pa.types.is_timestamp(t):
        return "timestamp", 3, 0
    if pa.types.is_date(t):
        return "date", 0, 0
    if pa.types.is_binary(t) or pa.types.is_large_binary(t):
        return "varbinary", 1073741824, 0
    if pa.types.is_list(t) or pa.types.is_large_list(t):
        return "array", 0, 0
    if pa.types.is_struct(t):
        return "row", 0, 0
    if pa.types.is_map(t):
        return "map", 0, 0
    return "varchar", 2147483647, 0


def column_info(schema: pa.Schema) -> list[dict[str, Any]]:
    info = []
    for f in schema:
        kind, precision, scale = athena_type(f.type)
        info.append(
            {
                "CatalogName": "hive",
                "SchemaName": "",
                "TableName": "",
                "Name": f.name,
                "Label": f.name,
                "Type": kind,
                "Precision": precision,
                "Scale": scale,
                "Nullable": "UNKNOWN",
                "CaseSensitive": kind == "varchar",
            }
        )
    return info


class Queries:
    """Runs Athena queries and keeps their state and results."""

    def __init__(self, runtime: Runtime):
        self.runtime = runtime
        self.records = JsonRecords(runtime.db)
        self.outbox = Outbox(runtime.db, CHANNEL, self._deliver, workers=2)
        self._running: dict[str, Engine] = {}
        self._lock = threading.Lock()
        self._database: Any = None
        self.catalog = CatalogCache(runtime)

    def database(self) -> Any:
        """The DuckDB database every query runs in (opened on first use)."""
        with self._lock:
            if self._database is None:
                self._database = open_database(str(self.runtime.storage.root))
            return self._database

    def close(self) -> None:
        self.outbox.stop()
        with self._lock:
            if self._database is not None:
                self._database.close()
                self._database = None

    # -- the API's side --------------------------------------------------------------------

    def observe(self, mutation: Mutation) -> None:
        if mutation.service == "glue":
            self.catalog.changed()
            return
        if mutation.service != "athena":
            return
        from localaws.motobridge.services import json_body

        if mutation.operation == "StartQueryExecution":
            query_id = json_body(mutation.reply.body).get("QueryExecutionId", "")
            now = time.time()
            request = json_body(mutation.body)
            self.records.put(
                QUERY_KIND,
                query_id,
                {
                    "State": "QUEUED",
                    "SubmissionDateTime": now,
                    "Query": request.get("QueryString", ""),
                    "QueryExecutionContext": request.get("QueryExecutionContext") or {},
                    "WorkGroup": request.get("WorkGroup") or DEFAULT_WORKGROUP,
                    **_output_file(request, query_id),
                },
                now,
            )
            self.outbox.put(
                {
                    "QueryExecutionId": query_id,
                    "QueryString": request.get("QueryString", ""),
                    "Database": (request.get("QueryExecutionContext") or {}).get("Database"),
                    "OutputLocation": (request.get("ResultConfiguration") or {}).get(
                        "OutputLocation"
                    ),
                    "WorkGroup": request.get("WorkGroup") or DEFAULT_WORKGROUP,
                }
            )
        elif mutation.operation == "StopQueryExecution":
            query_id = json_body(mutation.body).get("QueryExecutionId", "")
            record = self.records.get(QUERY_KIND, query_id)
            if record is not None and record["State"] not in DONE:
                self._finish(query_id, record, "CANCELLED", "Query was cancelled by the user")
                with self._lock:
                    engine = self._running.get(query_id)
                if engine is not None:
                    engine.interrupt()

    def apply(self, execution: dict[str, Any], record: dict[str, Any] | None = None) -> None:
        if record is None:
            record = self.records.get(QUERY_KIND, execution.get("QueryExecutionId", ""))
        if record is None:
            return
        status: dict[str, Any] = {
            "State": record["State"],
            "SubmissionDateTime": record["SubmissionDateTime"],
        }
        for key in ("CompletionDateTime", "StateChangeReason", "AthenaError"):
            if key in record:
                status[key] = record[key]
        execution["Status"] = status
        if "StatementType" in record:
            execution["StatementType"] = record["StatementType"]
        if "OutputLocation" in record:
            execution.setdefault("ResultConfiguration", {})["OutputLocation"] = record[
                "OutputLocation"
            ]
        end = record.get("CompletionDateTime", time.time())
        total = int((end - record["SubmissionDateTime"]) * 1000)
        execution["Statistics"] = {
            "EngineExecutionTimeInMillis": int(record.get("EngineMillis", 0)),
            "DataScannedInBytes": int(record.get("DataScannedInBytes", 0)),
            "TotalExecutionTimeInMillis": total,
            "QueryQueueTimeInMillis": int(record.get("QueueMillis", 0)),
            "ServiceProcessingTimeInMillis": 0,
        }

    def overlay_one(
        self, request: dict[str, Any], moto: Callable[[], dict[str, Any]]
    ) -> dict[str, Any]:
        """Answered from the record while one exists (polling it costs one read of the
        database, not a call to moto); moto answers for the others (and the errors)."""
        query_id = str(request.get("QueryExecutionId", ""))
        record = self.records.get(QUERY_KIND, query_id)
        if record is None or "Query" not in record:
            result = moto()
            self.apply(result.get("QueryExecution", {}))
            return result
        execution: dict[str, Any] = {
            "QueryExecutionId": query_id,
            "Query": record["Query"],
            "StatementType": record.get("StatementType", "DML"),
            "ResultConfiguration": {},
            "ResultReuseConfiguration": {"ResultReuseByAgeConfiguration": {"Enabled": False}},
            "QueryExecutionContext": record["QueryExecutionContext"],
            "WorkGroup": record["WorkGroup"],
            "EngineVersion": {
                "SelectedEngineVersion": "AUTO",
                "EffectiveEngineVersion": "Athena engine version 3",
            },
        }
        self.apply(execution, record)
        return {"QueryExecution": execution}

    def overlay_many(
        self, request: dict[str, Any], moto: Callable[[], dict[str, Any]]
    ) -> dict[str, Any]:
        result = moto()
        for execution in result.get("QueryExecutions", []):
            self.apply(execution)
        return result

    def get_query_results(
        self, request: dict[str, Any], moto: Callable[[], dict[str, Any]]
    ) -> dict[str, Any]:
        """Served from the query's rows; moto is not asked (it would answer no rows)."""
        import pyarrow.parquet as pq

        query_id = str(request.get("QueryExecutionId", ""))
        record = self.records.get(QUERY_KIND, query_id)
        if record is None:
            raise ServiceError(
                "InvalidRequestException", f"QueryExecution {query_id} was not found"
            )
        if record["State"] in ("QUEUED", "RUNNING"):
            raise ServiceError(
                "InvalidRequestException",
                f"Query has not yet finished. Current state: {record['State']}",
            )
        if record["State"] != "SUCCEEDED":
            raise ServiceError(
                "InvalidRequestException",
                f"Query did not finish successfully. Final query state: {record['State']}",
            )
        limit = int(request.get("MaxResults") or MAX_RESULTS)
        if not 1 <= limit <= MAX_RESULTS:
            raise ServiceError(
                "InvalidRequestException",
                f"MaxResults {limit}: must be between 1 and {MAX_RESULTS}",
            )
        token = str(request.get("NextToken") or "")
        try:
            offset = int(token) if token else 0
        except ValueError:
            raise ServiceError(
                "InvalidRequestException", "NextToken: not a token this API returned"
            ) from None
        path = self.runtime.layout.athena_results / f"{query_id}.parquet"
        if not path.exists():  # DDL: no result set
            return {
                "UpdateCount": record.get("UpdateCount", 0),
                "ResultSet": {"Rows": [], "ResultSetMetadata": {"ColumnInfo": []}},
            }
        table = pq.read_table(path)
        rows: list[dict[str, Any]] = []
        header = record.get("StatementType") == "DML"
        if header and offset == 0:
            rows.append({"Data": [{"VarCharValue": n} for n in table.column_names]})
            limit -= 1
        start = max(0, offset - (1 if header else 0))
        chunk = table.slice(start, limit)
        columns = [_as_text(chunk.column(i)) for i in range(chunk.num_columns)]
        for values in zip(*columns, strict=True) if columns else []:
            rows.append({"Data": [{} if v is None else {"VarCharValue": v} for v in values]})
        consumed = offset + len(rows)
        result: dict[str, Any] = {
            "UpdateCount": record.get("UpdateCount", 0),
            "ResultSet": {
                "Rows": rows,
                "ResultSetMetadata": {"ColumnInfo": record.get("ColumnInfo", [])},
            },
        }
        total = table.num_rows + (1 if header else 0)
        if consumed < total:
            result["NextToken"] = str(consumed)
        return result

    # -- a query (an outbox worker) ------------------------------------------------------

    def _finish(
        self, query_id: str, record: dict[str, Any], state: str, reason: str | None = None
    ) -> None:
        record.update(State=state, CompletionDateTime=time.time())
        if reason:
            record["StateChangeReason"] = reason
            if state == "FAILED":
                record["AthenaError"] = {
                    "ErrorCategory": 2,
                    "ErrorType": 1000,
                    "Retryable": False,
                    "ErrorMessage": reason,
                }
        self.records.put(QUERY_KIND, query_id, record, record["SubmissionDateTime"])

    def _deliver(self, body: dict[str, Any], attempt: int) -> float | None:
        query_id = body["QueryExecutionId"]
        record = self.records.get(QUERY_KIND, query_id)
        if record is None or record["State"] in DONE:
            return None
        started = time.time()
        record.update(
            State="RUNNING", QueueMillis=int((started - record["SubmissionDateTime"]) * 1000)
        )
        self.records.put(QUERY_KIND, query_id, record, record["SubmissionDateTime"])
        try:
            self.run(body, record)
        except (QueryFailed, UserError, ServiceError) as e:
            message = e.message if isinstance(e, ServiceError) else str(e)
        except Exception as e:  # a bug here: the query fails (logged), never retried forever
            log.exception("Athena query %s failed in the local runtime", query_id)
            message = f"INTERNAL_ERROR: the local Athena failed: {type(e).__name__}"
        else:
            return None
        latest = self.records.get(QUERY_KIND, query_id) or record
        if latest["State"] != "CANCELLED":
            record["EngineMillis"] = int((time.time() - started) * 1000)
            self._finish(query_id, record, "FAILED", message)
        return None

    def run(self, request: dict[str, Any], record: dict[str, Any]) -> None:
        """Run the query of ``request`` (what StartQueryExecution asked, as queued)."""
        query_id = request["QueryExecutionId"]
        sql = request.get("QueryString", "")
        output = request.get("OutputLocation") or self._workgroup_output(
            request.get("WorkGroup") or DEFAULT_WORKGROUP
        )
        if output and not output.endswith("/"):
            output += "/"
        started = time.time()
        engine = Engine(self.runtime, request.get("Database"), self.database(), self.catalog)
        with self._lock:
            self._running[query_id] = engine
        try:
            outcome = engine.run(sql, query_id, output)
        finally:
            with self._lock:
                self._running.pop(query_id, None)
            engine.close()
        record["EngineMillis"] = int((time.time() - started) * 1000)
        record["DataScannedInBytes"] = outcome.scanned_bytes
        record["StatementType"] = outcome.statement_type
        record["UpdateCount"] = outcome.update_count
        if outcome.table is not None:
            self._keep(query_id, outcome, output, record)
        latest = self.records.get(QUERY_KIND, query_id) or record
        if latest["State"] == "CANCELLED":
            return
        self._finish(query_id, record, "SUCCEEDED")

    def _workgroup_output(self, workgroup: str) -> str | None:
        try:
            group = self.runtime.athena.get_work_group(WorkGroup=workgroup)["WorkGroup"]
        except ServiceError:
            return None
        config = group.get("Configuration") or {}
        return (config.get("ResultConfiguration") or {}).get("OutputLocation")

    def _keep(
        self, query_id: str, outcome: Outcome, output: str | None, record: dict[str, Any]
    ) -> None:
        import pyarrow.parquet as pq

        table = outcome.table
        assert table is not None
        if not output:
            raise QueryFailed(
                "No output location provided. An output location is required either through "
                "the Workgroup result configuration setting or as an API input"
            )
        info = column_info(table.schema)
        record["ColumnInfo"] = info
        directory = self.runtime.layout.made(self.runtime.layout.athena_results)
        temp = directory / f".{query_id}.parquet.part"
        pq.write_table(table, temp)
        temp.replace(directory / f"{query_id}.parquet")
        csv_uri = f"{output}{query_id}.csv"
        self._put_csv(table, csv_uri)
        self._put_bytes(f"{csv_uri}.metadata", json.dumps({"ColumnInfo": info}).encode())
        record["OutputLocation"] = csv_uri

    def _put_csv(self, table: pa.Table, uri: str) -> None:
        import pyarrow.csv as pacsv

        from localaws.lambdakit.storage import parse_s3_uri

        bucket, key = parse_s3_uri(uri)
        out, temp = self.runtime.s3.new_temp()
        with out:
            pacsv.write_csv(_csv_ready(table), out, pacsv.WriteOptions(quoting_style="all_valid"))
        digest = hashlib.md5(temp.read_bytes()).hexdigest()
        self._commit(temp, bucket, key, digest, "text/csv")

    def _put_bytes(self, uri: str, data: bytes) -> None:
        from localaws.lambdakit.storage import parse_s3_uri

        bucket, key = parse_s3_uri(uri)
        out, temp = self.runtime.s3.new_temp()
        with out:
            out.write(data)
        self._commit(temp, bucket, key, hashlib.md5(data).hexdigest(), "application/octet-stream")

    def _commit(self, temp: Any, bucket: str, key: str, digest: str, content_type: str) -> None:
        from localaws.s3.backend import S3Error

        try:
            self.runtime.s3.commit(temp, bucket, key, f'"{digest}"', content_type, {})
        except S3Error as e:
            raise QueryFailed(
                f"cannot write the result to s3://{bucket}/{key}: {e}; create the bucket or "
                "choose another output location"
            ) from e


def _output_file(request: dict[str, Any], query_id: str) -> dict[str, str]:
    """``{"OutputLocation": <location><id>.csv}`` when the request names a location."""
    location = (request.get("ResultConfiguration") or {}).get("OutputLocation")
    return {"OutputLocation": f"{location.rstrip('/')}/{query_id}.csv"} if location else {}


def _as_text(column: Any) -> list[str | None]:
    """A result column as Athena's VarCharValue strings (None: NULL)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    t = column.type
    if pa.types.is_boolean(t):
        return [None if v is None else ("true" if v else "false") for v in column.to_pylist()]
    if pa.types.is_timestamp(t):
        return [
            None if v is None else v.strftime("%Y-%m-%d %H:%M:%S.%f")[:-3]
            for v in column.to_pylist()
        ]
    if pa.types.is_nested(t):
        return [None if v is None else json.dumps(v, default=str) for v in column.to_pylist()]
    return pc.cast(column, pa.string()).to_pylist()  # type: ignore[no-any-return]


def _csv_ready(table: pa.Table) -> pa.Table:
    """Columns pyarrow's CSV writer cannot write (nested) as their text."""
    import pyarrow as pa

    columns = []
    for i, f in enumerate(table.schema):
        column = table.column(i)
        if pa.types.is_nested(f.type) or pa.types.is_boolean(f.type):
            column = pa.array(_as_text(column), pa.string())
        columns.append(column)
    return pa.table(columns, names=table.column_names)
