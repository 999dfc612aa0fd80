"""Distributed Map: Map Runs and their child executions.

A Map state with ``ProcessorConfig.Mode: DISTRIBUTED`` runs here (the engine calls
:meth:`MapRuns.run` through ``ExecutionRun.map_runner``).  The items come from the
``ItemReader`` (:mod:`localaws.stepfunctions.itemreader`) or the input (``ItemsPath``),
each is shaped by ``ItemSelector``, grouped by ``ItemBatcher``, and each item (or batch)
runs as a child execution of the item processor, recorded like any execution
(``sfn_executions``, its own history) under the state machine
``<parent>/<Label or state name>``.  The Map Run (``mapRun:<parent>/<label>:<id>``) is
recorded in ``sfn_map_runs`` and its children in ``sfn_map_run_children``, so
ListMapRuns, DescribeMapRun, UpdateMapRun and ``ListExecutions(mapRunArn=...)`` work
during and after the run.

Failures: more failed items than ``ToleratedFailureCount``/``Percentage`` (default 0)
stops the Map Run and fails the state with ``States.ExceedToleratedFailureThreshold``.
A redrive of the parent execution redrives its failed Map Run: only the children that did
not succeed run again.  ``ResultWriter`` (:mod:`localaws.stepfunctions.resultwriter`)
writes AWS's result layout to the local S3.
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from localaws.asl.engine import ExecutionRun, Outcome, iso
from localaws.asl.errors import StateFailure, StatesError
from localaws.asl.history import EventBuffer, EventType
from localaws.asl.paths import payload_template, query
from localaws.asl.states import Frame, Scope
from localaws.errors import ServiceError
from localaws.stepfunctions import itemreader, resultwriter

if TYPE_CHECKING:
    from localaws.asl.states import MapState
    from localaws.stepfunctions.backend import StepFunctionsBackend

E = EventType

DDL = """
CREATE TABLE IF NOT EXISTS sfn_map_runs (
    arn TEXT PRIMARY KEY,
    execution_arn TEXT NOT NULL,
    state_key TEXT NOT NULL,
    state_machine_arn TEXT NOT NULL,
    status TEXT NOT NULL,
    start REAL NOT NULL,
    stop REAL,
    max_concurrency INTEGER NOT NULL,
    tolerated_count INTEGER,
    tolerated_pct REAL,
    redrive_count INTEGER NOT NULL DEFAULT 0,
    redrive_date REAL,
    parent_redrive INTEGER NOT NULL DEFAULT 0,
    total_items INTEGER NOT NULL,
    result_writer TEXT
);
CREATE INDEX IF NOT EXISTS sfn_map_runs_by_execution ON sfn_map_runs(execution_arn, start);
CREATE TABLE IF NOT EXISTS sfn_map_run_children (
    map_run_arn TEXT NOT NULL,
    idx INTEGER NOT NULL,
    input TEXT NOT NULL,
    items INTEGER NOT NULL,
    execution_arn TEXT,
    status TEXT NOT NULL,
    PRIMARY KEY (map_run_arn, idx)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS sfn_map_run_children_by_execution
    ON sfn_map_run_children(execution_arn);
"""

# AWS runs up to 10,000 child executions at once; locally a pool of threads does the work.
DEFAULT_MAX_CONCURRENCY = 10_000
LOCAL_WORKERS = 16
EXCEEDED_CAUSE = "The specified tolerated failure threshold was exceeded"
FAILED_STATUSES = ("FAILED", "TIMED_OUT", "ABORTED")
STOPPED_BY_MAP_RUN = "map run stopped"
_COUNT_KEYS = (
    "pending",
    "running",
    "succeeded",
    "failed",
    "timedOut",
    "aborted",
    "total",
    "resultsWritten",
    "failuresNotRedrivable",
    "pendingRedrive",
)
_STATUS_KEY = {
    "PENDING": "pending",
    "RUNNING": "running",
    "SUCCEEDED": "succeeded",
    "FAILED": "failed",
    "TIMED_OUT": "timedOut",
    "ABORTED": "aborted",
}


def _dt(ts: float) -> datetime:
    return datetime.fromtimestamp(ts, UTC)


class _Live:
    """A Map Run in progress: its limits (UpdateMapRun changes them) and its counters."""

    def __init__(self, max_concurrency: int, count: int | None, pct: float | None, total: int):
        self.max_concurrency = max_concurrency
        self.tolerated_count = count
        self.tolerated_pct = pct
        self.total = total
        self.failed_items = 0
        self.running = 0
        self.exceeded = False
        self.cond = threading.Condition()

    def over_threshold(self) -> bool:
        if self.tolerated_count is None and self.tolerated_pct is None:
            return self.failed_items > 0
        if self.tolerated_count is not None and self.failed_items > self.tolerated_count:
            return True
        return (
            self.tolerated_pct is not None
            and self.total > 0
            and self.failed_items * 100.0 / self.total > self.tolerated_pct
        )


class MapRuns:
    """The Map Runs of one Step Functions backend."""

    def __init__(self, backend: StepFunctionsBackend):
        self.backend = backend
        self.db = backend.db
        self.db.ensure_schema("stepfunctions_map_runs", DDL)
        self._live: dict[str, _Live] = {}
        self._lock = threading.Lock()

    def recover(self) -> None:
        """Map Runs a dead process left RUNNING failed with it (a redrive of the parent
        re-runs their unfinished children)."""
        with self.db.transaction() as conn:
            conn.execute(
                "UPDATE sfn_map_run_children SET status = 'FAILED' WHERE status = 'RUNNING' "
                "AND map_run_arn IN (SELECT arn FROM sfn_map_runs WHERE status = 'RUNNING')"
            )
            conn.execute(
                "UPDATE sfn_map_runs SET status = 'FAILED', stop = ? WHERE status = 'RUNNING'",
                (time.time(),),
            )

    # -- running a Distributed Map ---------------------------------------------------

    def run(
        self,
        run: ExecutionRun,
        state: MapState,
        frame: Frame,
        effective: Any,
        retry_count: int,
    ) -> Any:
        ctx = run.context(state.name, frame, retry_count)
        state_key = frame.prefix + state.name
        previous = self._redrivable(run, state_key)
        if previous is not None:
            arn, live = self._redrive(previous, run, frame)
        else:
            arn, live = self._start(run, state, frame, effective, ctx, retry_count, state_key)
        run.flush()
        scope = Scope(frame.scope)
        try:
            self._run_children(run, state, arn, live, scope)
        finally:
            scope.close()
            with self._lock:
                self._live.pop(arn, None)
        row = self._row(arn)
        children = self._children(arn)
        status = (
            "ABORTED" if frame.scope.event.is_set() else "FAILED" if live.exceeded else "SUCCEEDED"
        )
        result: Any
        try:
            if row["result_writer"] is not None:
                bucket, prefix = json.loads(row["result_writer"])
                result = resultwriter.write_results(
                    self.backend.runtime.s3, bucket, prefix, arn, self._result_entries(children)
                )
            else:
                result = [self._child_result(c) for c in children]
        finally:
            with self.db.transaction() as conn:
                conn.execute(
                    "UPDATE sfn_map_runs SET status = ?, stop = ? WHERE arn = ?",
                    (status, time.time(), arn),
                )
        if frame.scope.event.is_set():
            frame.emit(E.MAP_RUN_ABORTED)
        frame.scope.check()
        if live.exceeded:
            frame.emit(
                E.MAP_RUN_FAILED,
                {
                    "error": StatesError.EXCEED_TOLERATED_FAILURE_THRESHOLD.value,
                    "cause": EXCEEDED_CAUSE,
                },
            )
            raise StateFailure(StatesError.EXCEED_TOLERATED_FAILURE_THRESHOLD, EXCEEDED_CAUSE)
        frame.emit(E.MAP_RUN_SUCCEEDED)
        frame.emit(E.MAP_STATE_SUCCEEDED)
        return result

    def _start(
        self,
        run: ExecutionRun,
        state: MapState,
        frame: Frame,
        effective: Any,
        ctx: Any,
        retry_count: int,
        state_key: str,
    ) -> tuple[str, _Live]:
        vs = frame.variables
        s3 = self.backend.runtime.s3
        if state.item_reader is not None:
            items = itemreader.read_items(s3, state.item_reader, effective, ctx, state.name)
        else:
            items = (
                query(state.items_path, effective, ctx, vs)
                if state.items_path != "$"
                else effective
            )
            if not isinstance(items, list):
                raise StateFailure(
                    StatesError.RUNTIME,
                    f"State '{state.name}': ItemsPath '{state.items_path}' gave "
                    f"{json.dumps(items)[:200]}; expected an array",
                )
        if state.item_selector is not None:
            selected = []
            for i, item in enumerate(items):
                item_ctx = dict(ctx)
                item_ctx["Map"] = {"Item": {"Index": i, "Value": item}}
                selected.append(payload_template(state.item_selector, effective, item_ctx, vs))
            items = selected
        inputs = self._batches(state, items, effective, ctx)
        writer = None
        if state.result_writer is not None:
            writer = json.dumps(resultwriter.destination(state.result_writer, effective, ctx))
        concurrency = int(
            state._number(
                state.max_concurrency,
                state.max_concurrency_path,
                effective,
                "MaxConcurrencyPath",
                vs,
            )
        )
        count = state._number(
            state.tolerated_count,
            state.tolerated_count_path,
            effective,
            "ToleratedFailureCountPath",
            vs,
        )
        pct = state._number(
            state.tolerated_pct,
            state.tolerated_pct_path,
            effective,
            "ToleratedFailurePercentagePath",
            vs,
        )
        label = state.label or state.name
        machine_name = f"{run._machine_ctx['Name']}/{label}"
        arn = self.backend.runtime.arn("states", f"mapRun:{machine_name}:{uuid.uuid4()}")
        machine_arn = self.backend.runtime.arn("states", f"stateMachine:{machine_name}")
        now = time.time()
        with self.db.transaction() as conn:
            conn.execute(
                "INSERT INTO sfn_map_runs(arn, execution_arn, state_key, state_machine_arn, status, start, "
                "max_concurrency, tolerated_count, tolerated_pct, parent_redrive, total_items, result_writer) "
                "VALUES (?, ?, ?, ?, 'RUNNING', ?, ?, ?, ?, ?, ?, ?)",
                (
                    arn,
                    run.arn,
                    state_key,
                    machine_arn,
                    now,
                    concurrency,
                    count,
                    pct,
                    run.redrive_count,
                    len(items),
                    writer,
                ),
            )
            conn.executemany(
                "INSERT INTO sfn_map_run_children(map_run_arn, idx, input, items, status) "
                "VALUES (?, ?, ?, ?, 'PENDING')",
                [(arn, i, json.dumps(value), n) for i, (value, n) in enumerate(inputs)],
            )
        frame.emit(E.MAP_STATE_STARTED, {"length": len(items)})
        frame.emit(E.MAP_RUN_STARTED, {"mapRunArn": arn})
        live = _Live(concurrency or DEFAULT_MAX_CONCURRENCY, count, pct, len(items))
        with self._lock:
            self._live[arn] = live
        return arn, live

    @staticmethod
    def _batches(
        state: MapState, items: list[Any], effective: Any, ctx: Any
    ) -> list[tuple[Any, int]]:
        """(child input, number of items) for each child execution."""
        batcher = state.item_batcher
        if batcher is None:
            return [(item, 1) for item in items]

        def number(field: str) -> int | None:
            value = batcher.get(field)
            if f"{field}Path" in batcher:
                value = query(batcher[f"{field}Path"], effective, ctx)
            if value is None:
                return None
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise StateFailure(
                    StatesError.RUNTIME,
                    f"State '{state.name}': ItemBatcher {field} gave {json.dumps(value)}; "
                    "expected a positive integer",
                )
            return value

        max_items = number("MaxItemsPerBatch")
        max_bytes = number("MaxInputBytesPerBatch")
        batch_input = None
        if "BatchInput" in batcher:
            batch_input = payload_template(batcher["BatchInput"], effective, ctx)
        base = {} if batch_input is None else {"BatchInput": batch_input}
        base_size = len(json.dumps({**base, "Items": []}))
        out: list[tuple[Any, int]] = []
        batch: list[Any] = []
        size = base_size
        for item in items:
            item_size = len(json.dumps(item)) + 1
            full = max_items is not None and len(batch) >= max_items
            too_big = max_bytes is not None and batch and size + item_size > max_bytes
            if batch and (full or too_big):
                out.append(({**base, "Items": batch}, len(batch)))
                batch, size = [], base_size
            batch.append(item)
            size += item_size
        if batch:
            out.append(({**base, "Items": batch}, len(batch)))
        return out

    def _redrivable(self, run: ExecutionRun, state_key: str) -> Any:
        if run.redrive_count == 0 and not run.continued:
            return None
        # A run continuing after a crash takes over the Map Run its own generation started.
        bound = run.redrive_count + (1 if run.continued else 0)
        return self.db.query_one(
            "SELECT * FROM sfn_map_runs WHERE execution_arn = ? AND state_key = ? "
            "AND status IN ('FAILED', 'ABORTED') AND parent_redrive < ? ORDER BY start DESC LIMIT 1",
            (run.arn, state_key, bound),
        )

    def _redrive(self, row: Any, run: ExecutionRun, frame: Frame) -> tuple[str, _Live]:
        arn = row["arn"]
        now = time.time()
        count = row["redrive_count"] + 1
        with self.db.transaction() as conn:
            conn.execute(
                "UPDATE sfn_map_runs SET status = 'RUNNING', stop = NULL, redrive_count = ?, "
                "redrive_date = ?, parent_redrive = ? WHERE arn = ?",
                (count, now, run.redrive_count, arn),
            )
        frame.emit(E.MAP_STATE_STARTED, {"length": row["total_items"]})
        frame.emit(E.MAP_RUN_REDRIVEN, {"mapRunArn": arn, "redriveCount": count})
        live = _Live(
            row["max_concurrency"] or DEFAULT_MAX_CONCURRENCY,
            row["tolerated_count"],
            row["tolerated_pct"],
            row["total_items"],
        )
        with self._lock:
            self._live[arn] = live
        return arn, live

    def _run_children(
        self, run: ExecutionRun, state: MapState, arn: str, live: _Live, scope: Scope
    ) -> None:
        todo = [
            c
            for c in self.db.query(
                "SELECT idx, input, items, execution_arn, status FROM sfn_map_run_children "
                "WHERE map_run_arn = ? ORDER BY idx",
                (arn,),
            )
        ]
        pending = [c for c in todo if c["status"] != "SUCCEEDED"]
        machine_arn = self._row(arn)["state_machine_arn"]

        def work(child: Any) -> None:
            with live.cond:
                while live.running >= live.max_concurrency and not scope.event.is_set():
                    live.cond.wait(0.5)
                if scope.event.is_set():
                    return
                live.running += 1
            try:
                outcome = self._run_child(run, state, arn, machine_arn, child, scope)
            finally:
                with live.cond:
                    live.running -= 1
                    live.cond.notify_all()
            if outcome is None or outcome.status == "SUCCEEDED":
                return
            if scope.event.is_set() and outcome.status == "ABORTED":
                return  # stopped because the Map Run (or the parent) stopped
            with live.cond:
                live.failed_items += child["items"]
                exceeded = live.over_threshold() and not live.exceeded
                if exceeded:
                    live.exceeded = True
            if exceeded:
                scope.cancel(STOPPED_BY_MAP_RUN)

        workers = max(1, min(len(pending), LOCAL_WORKERS, live.max_concurrency))
        with ThreadPoolExecutor(workers, thread_name_prefix=f"map run {state.name}") as pool:
            for _ in pool.map(work, pending):
                pass

    def _run_child(
        self,
        parent: ExecutionRun,
        state: MapState,
        map_run_arn: str,
        machine_arn: str,
        child: Any,
        scope: Scope,
    ) -> Outcome | None:
        backend = self.backend
        machine_name = machine_arn.split(":stateMachine:", 1)[1]
        definition = json.dumps(state.processor_spec)
        now = time.time()
        input_text = child["input"]
        previous = child["execution_arn"]
        last = 0
        redrive_count = 0
        with backend.db.transaction() as conn:
            if previous is None:
                name = str(uuid.uuid4())
                exec_arn = backend.runtime.arn("states", f"execution:{machine_name}:{name}")
                conn.execute(
                    "INSERT INTO sfn_executions(arn, state_machine_arn, state_machine_name, name, status, "
                    "start, input, definition, role_arn, type) VALUES (?, ?, ?, ?, 'RUNNING', ?, ?, ?, ?, ?)",
                    (
                        exec_arn,
                        machine_arn,
                        machine_name,
                        name,
                        now,
                        input_text,
                        definition,
                        parent.role_arn,
                        state.execution_type,
                    ),
                )
                start_time = now
            else:
                exec_arn = previous
                row = conn.execute(
                    "SELECT name, start, redrive_count FROM sfn_executions WHERE arn = ?",
                    (exec_arn,),
                ).fetchone()
                name, start_time = row["name"], row["start"]
                redrive_count = row["redrive_count"] + 1
                last = conn.execute(
                    "SELECT COALESCE(MAX(id), 0) FROM sfn_history WHERE execution_arn = ?",
                    (exec_arn,),
                ).fetchone()[0]
                conn.execute(
                    "UPDATE sfn_executions SET status = 'RUNNING', stop = NULL, output = NULL, error = NULL, "
                    "cause = NULL, redrive_count = ?, redrive_date = ? WHERE arn = ?",
                    (redrive_count, now, exec_arn),
                )
            conn.execute(
                "UPDATE sfn_map_run_children SET execution_arn = ?, status = 'RUNNING' "
                "WHERE map_run_arn = ? AND idx = ?",
                (exec_arn, map_run_arn, child["idx"]),
            )
        child_run = ExecutionRun(
            arn=exec_arn,
            name=name,
            state_machine_arn=machine_arn,
            state_machine_name=machine_name,
            role_arn=parent.role_arn,
            machine=state.processor,
            input_text=input_text,
            start_time=start_time,
            region=parent.region,
            buffer=EventBuffer(last + 1),
            tokens=parent.tokens,
            flush=backend._write,
            mocks=parent.mocks,
            redrive_count=redrive_count,
            redrive_time=now if redrive_count else None,
            resume=(
                {"state": state.processor.start_at, "input": json.loads(input_text)}
                if redrive_count
                else None
            ),
            last_event_id=last,
        )
        child_run.root = Scope(scope)
        try:
            outcome = backend.runner.run_here(child_run)
        finally:
            status = child_run.outcome.status if child_run.outcome is not None else "FAILED"
            with self.db.transaction() as conn:
                conn.execute(
                    "UPDATE sfn_map_run_children SET status = ? WHERE map_run_arn = ? AND idx = ?",
                    (status, map_run_arn, child["idx"]),
                )
        return outcome

    # -- results ---------------------------------------------------------------------

    def _children(self, map_run_arn: str) -> list[Any]:
        return self.db.query(
            "SELECT c.idx, c.input, c.items, c.status AS child_status, e.* FROM sfn_map_run_children c "
            "LEFT JOIN sfn_executions e ON e.arn = c.execution_arn "
            "WHERE c.map_run_arn = ? ORDER BY c.idx",
            (map_run_arn,),
        )

    @staticmethod
    def _child_result(child: Any) -> Any:
        if child["child_status"] == "SUCCEEDED" and child["output"] is not None:
            return json.loads(child["output"])
        if child["error"] is not None or child["cause"] is not None:
            return {"Error": child["error"], "Cause": child["cause"]}
        return None

    def _result_entries(self, children: list[Any]) -> dict[str, list[dict[str, Any]]]:
        entries: dict[str, list[dict[str, Any]]] = {"SUCCEEDED": [], "FAILED": [], "PENDING": []}
        for c in children:
            if c["arn"] is None:
                entries["PENDING"].append(
                    {"Input": c["input"], "InputDetails": {"Included": True}, "Status": "PENDING"}
                )
                continue
            entry: dict[str, Any] = {
                "ExecutionArn": c["arn"],
                "Input": c["input"],
                "InputDetails": {"Included": True},
                "Name": c["name"],
            }
            if c["output"] is not None:
                entry["Output"] = c["output"]
                entry["OutputDetails"] = {"Included": True}
            if c["error"] is not None:
                entry["Error"] = c["error"]
            if c["cause"] is not None:
                entry["Cause"] = c["cause"]
            reason = self.backend._not_redrivable(c)
            entry.update(
                {
                    "RedriveCount": c["redrive_count"],
                    "RedriveStatus": "NOT_REDRIVABLE" if reason else "REDRIVABLE",
                }
            )
            if reason:
                entry["RedriveStatusReason"] = reason
            entry["StartDate"] = iso(c["start"])
            entry["StateMachineArn"] = c["state_machine_arn"]
            entry["Status"] = c["status"]
            if c["stop"] is not None:
                entry["StopDate"] = iso(c["stop"])
            bucket = "SUCCEEDED" if c["status"] == "SUCCEEDED" else "FAILED"
            entries[bucket].append(entry)
        return entries

    # -- the API ---------------------------------------------------------------------

    def _row(self, map_run_arn: Any) -> Any:
        row = None
        if isinstance(map_run_arn, str):
            row = self.db.query_one("SELECT * FROM sfn_map_runs WHERE arn = ?", (map_run_arn,))
        if row is None:
            raise ServiceError(
                "ResourceNotFound", f"Resource not found: Map Run {str(map_run_arn)[:300]!r}"
            )
        return row

    def describe_map_run(self, mapRunArn: str) -> dict[str, Any]:
        row = self._row(mapRunArn)
        item_counts = dict.fromkeys(_COUNT_KEYS, 0)
        execution_counts = dict.fromkeys(_COUNT_KEYS, 0)
        for r in self.db.query(
            "SELECT status, COUNT(*) AS n, SUM(items) AS items FROM sfn_map_run_children "
            "WHERE map_run_arn = ? GROUP BY status",
            (mapRunArn,),
        ):
            key = _STATUS_KEY.get(r["status"], "failed")
            item_counts[key] += r["items"]
            execution_counts[key] += r["n"]
        for counts in (item_counts, execution_counts):
            counts["total"] = sum(counts[_STATUS_KEY[s]] for s in _STATUS_KEY)
            if row["result_writer"] is not None and row["stop"] is not None:
                counts["resultsWritten"] = counts["total"]
        with self._lock:
            live = self._live.get(mapRunArn)
        out: dict[str, Any] = {
            "mapRunArn": row["arn"],
            "executionArn": row["execution_arn"],
            "status": row["status"],
            "startDate": _dt(row["start"]),
            "maxConcurrency": live.max_concurrency if live else row["max_concurrency"],
            "toleratedFailurePercentage": float(row["tolerated_pct"] or 0.0),
            "toleratedFailureCount": int(row["tolerated_count"] or 0),
            "itemCounts": item_counts,
            "executionCounts": execution_counts,
            "redriveCount": row["redrive_count"],
        }
        if row["stop"] is not None:
            out["stopDate"] = _dt(row["stop"])
        if row["redrive_date"] is not None:
            out["redriveDate"] = _dt(row["redrive_date"])
        return out

    def list_map_runs(self, executionArn: str, limit: int, offset: int) -> tuple[list[Any], bool]:
        self.backend._execution_row(executionArn)
        rows = self.db.query(
            "SELECT * FROM sfn_map_runs WHERE execution_arn = ? ORDER BY start DESC LIMIT ? OFFSET ?",
            (executionArn, limit + 1, offset),
        )
        items = []
        for r in rows[:limit]:
            item = {
                "executionArn": r["execution_arn"],
                "mapRunArn": r["arn"],
                "stateMachineArn": r["state_machine_arn"],
                "startDate": _dt(r["start"]),
            }
            if r["stop"] is not None:
                item["stopDate"] = _dt(r["stop"])
            items.append(item)
        return items, len(rows) > limit

    def update_map_run(
        self,
        mapRunArn: str,
        maxConcurrency: int | None,
        toleratedFailurePercentage: float | None,
        toleratedFailureCount: int | None,
    ) -> None:
        row = self._row(mapRunArn)
        if (
            maxConcurrency is None
            and toleratedFailurePercentage is None
            and toleratedFailureCount is None
        ):
            raise ServiceError(
                "ValidationException",
                "UpdateMapRun: give at least one of maxConcurrency, toleratedFailurePercentage, "
                "toleratedFailureCount",
            )
        if toleratedFailurePercentage is not None and not 0 <= toleratedFailurePercentage <= 100:
            raise ServiceError(
                "ValidationException",
                f"toleratedFailurePercentage: {toleratedFailurePercentage!r} must be from 0 to 100",
            )
        with self.db.transaction() as conn:
            conn.execute(
                "UPDATE sfn_map_runs SET max_concurrency = ?, tolerated_pct = ?, tolerated_count = ? "
                "WHERE arn = ?",
                (
                    row["max_concurrency"] if maxConcurrency is None else maxConcurrency,
                    row["tolerated_pct"]
                    if toleratedFailurePercentage is None
                    else toleratedFailurePercentage,
                    row["tolerated_count"]
                    if toleratedFailureCount is None
                    else toleratedFailureCount,
                    mapRunArn,
                ),
            )
        with self._lock:
            live = self._live.get(mapRunArn)
        if live is not None:
            with live.cond:
                if maxConcurrency is not None:
                    live.max_concurrency = maxConcurrency or DEFAULT_MAX_CONCURRENCY
                if toleratedFailurePercentage is not None:
                    live.tolerated_pct = toleratedFailurePercentage
                if toleratedFailureCount is not None:
                    live.tolerated_count = toleratedFailureCount
                live.cond.notify_all()

    def executions(
        self,
        map_run_arn: str,
        *,
        status: str | None,
        redriven: bool | None,
        limit: int,
        offset: int,
    ) -> list[Any]:
        """A page of a Map Run's child executions (ListExecutions with mapRunArn)."""
        self._row(map_run_arn)
        sql = (
            "SELECT e.* FROM sfn_executions e JOIN sfn_map_run_children c ON c.execution_arn = e.arn "
            "WHERE c.map_run_arn = ?"
        )
        params: list[Any] = [map_run_arn]
        if status is not None:
            sql += " AND e.status = ?"
            params.append(status)
        if redriven is True:
            sql += " AND e.redrive_count > 0"
        elif redriven is False:
            sql += " AND e.redrive_count = 0"
        sql += " ORDER BY e.start DESC, e.arn LIMIT ? OFFSET ?"
        return self.db.query(sql, (*params, limit, offset))

    def map_run_of(self, execution_arn: str) -> Any:
        """The Map Run a child execution belongs to, or None."""
        return self.db.query_one(
            "SELECT r.* FROM sfn_map_run_children c JOIN sfn_map_runs r ON r.arn = c.map_run_arn "
            "WHERE c.execution_arn = ?",
            (execution_arn,),
        )
