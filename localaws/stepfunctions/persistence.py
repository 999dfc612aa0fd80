"""Where Step Functions keeps its state: the runtime's SQLite database, tables ``sfn_*``.

State machines, executions, their history and redrive progress live here, so a restart
loses nothing.  This module is the SQL only: the API and its checks are in
:mod:`localaws.stepfunctions.backend`.
"""

from __future__ import annotations

import json
import time
from typing import TYPE_CHECKING, Any

from localaws.asl.history import EventType

if TYPE_CHECKING:
    from localaws.asl.engine import Outcome
    from localaws.store import Database

DDL = """
CREATE TABLE IF NOT EXISTS sfn_state_machines (
    arn TEXT PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    definition TEXT NOT NULL,
    role_arn TEXT NOT NULL,
    type TEXT NOT NULL,
    created REAL NOT NULL,
    revision_id TEXT,
    extra TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS sfn_executions (
    arn TEXT PRIMARY KEY,
    state_machine_arn TEXT NOT NULL,
    state_machine_name TEXT NOT NULL,
    name TEXT NOT NULL,
    status TEXT NOT NULL,
    start REAL NOT NULL,
    stop REAL,
    input TEXT NOT NULL,
    output TEXT,
    error TEXT,
    cause TEXT,
    definition TEXT NOT NULL,
    role_arn TEXT NOT NULL,
    type TEXT NOT NULL,
    test_case TEXT,
    trace_header TEXT,
    redrive_count INTEGER NOT NULL DEFAULT 0,
    redrive_date REAL,
    checkpoint TEXT
);
CREATE INDEX IF NOT EXISTS sfn_executions_by_machine ON sfn_executions(state_machine_arn, start);
CREATE TABLE IF NOT EXISTS sfn_history (
    execution_arn TEXT NOT NULL,
    id INTEGER NOT NULL,
    previous_id INTEGER NOT NULL,
    ts REAL NOT NULL,
    type TEXT NOT NULL,
    details TEXT,
    PRIMARY KEY (execution_arn, id)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS sfn_progress (
    execution_arn TEXT NOT NULL,
    key TEXT NOT NULL,
    output TEXT NOT NULL,
    PRIMARY KEY (execution_arn, key)
) WITHOUT ROWID;
"""


class StepFunctionsStore:
    """The SQL of the Step Functions backend; rows are ``sqlite3.Row``."""

    def __init__(self, db: Database):
        self.db = db
        db.ensure_schema("stepfunctions", DDL)

    # -- state machines ------------------------------------------------------------

    def machine(self, arn: str) -> Any:
        """The state machine's row (by its ARN without a ``#test case``), or None."""
        return self.db.query_one("SELECT * FROM sfn_state_machines WHERE arn = ?", (arn,))

    def create_machine(
        self,
        *,
        arn: str,
        name: str,
        definition: str,
        role_arn: str,
        type: str,
        created: float,
        revision_id: str,
        extra: dict[str, Any],
    ) -> Any:
        """Insert the state machine; when one of that name exists, insert nothing and return
        its row (None after an insert)."""
        with self.db.transaction() as conn:
            existing = conn.execute(
                "SELECT * FROM sfn_state_machines WHERE name = ?", (name,)
            ).fetchone()
            if existing is not None:
                return existing
            conn.execute(
                "INSERT INTO sfn_state_machines(arn, name, definition, role_arn, type, created, revision_id, extra) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (arn, name, definition, role_arn, type, created, revision_id, json.dumps(extra)),
            )
        return None

    def update_machine(
        self, arn: str, *, definition: str, role_arn: str, revision_id: str, extra: dict[str, Any]
    ) -> None:
        with self.db.transaction() as conn:
            conn.execute(
                "UPDATE sfn_state_machines SET definition = ?, role_arn = ?, revision_id = ?, extra = ? WHERE arn = ?",
                (definition, role_arn, revision_id, json.dumps(extra), arn),
            )

    def machines(self, limit: int, offset: int) -> list[Any]:
        return self.db.query(
            "SELECT arn, name, type, created FROM sfn_state_machines ORDER BY created, name LIMIT ? OFFSET ?",
            (limit, offset),
        )

    def delete_machine(self, arn: str) -> None:
        with self.db.transaction() as conn:
            conn.execute("DELETE FROM sfn_state_machines WHERE arn = ?", (arn,))

    # -- executions ----------------------------------------------------------------

    def execution(self, arn: str) -> Any:
        return self.db.query_one("SELECT * FROM sfn_executions WHERE arn = ?", (arn,))

    def create_execution(
        self,
        *,
        arn: str,
        machine: Any,
        name: str,
        start: float,
        input_text: str,
        test_case: str | None,
        trace_header: str | None,
    ) -> Any:
        """Insert a RUNNING execution of ``machine`` (its row); when the ARN exists, insert
        nothing and return the existing row (None after an insert).  One statement, atomic
        on its own: the row is committed when this returns."""
        inserted = self.db.write(
            "INSERT INTO sfn_executions(arn, state_machine_arn, state_machine_name, name, status, start, "
            "input, definition, role_arn, type, test_case, trace_header) "
            "VALUES (?, ?, ?, ?, 'RUNNING', ?, ?, ?, ?, ?, ?, ?) ON CONFLICT(arn) DO NOTHING",
            (
                arn,
                machine["arn"],
                machine["name"],
                name,
                start,
                input_text,
                machine["definition"],
                machine["role_arn"],
                machine["type"],
                test_case,
                trace_header,
            ),
        )
        if inserted:
            return None
        return self.db.query_one(
            "SELECT status, input, start FROM sfn_executions WHERE arn = ?", (arn,)
        )

    def executions(
        self,
        machine_arn: str,
        *,
        status: str | None,
        redriven: bool | None,
        limit: int,
        offset: int,
    ) -> list[Any]:
        """A page of the machine's executions, newest first."""
        sql = "SELECT * FROM sfn_executions WHERE state_machine_arn = ?"
        params: list[Any] = [machine_arn]
        if status is not None:
            sql += " AND status = ?"
            params.append(status)
        if redriven is True:
            sql += " AND redrive_count > 0"
        elif redriven is False:
            sql += " AND redrive_count = 0"
        sql += " ORDER BY start DESC, arn LIMIT ? OFFSET ?"
        return self.db.query(sql, (*params, limit, offset))

    def running(self) -> list[str]:
        """ARNs of the executions marked RUNNING."""
        return [
            r["arn"]
            for r in self.db.query("SELECT arn FROM sfn_executions WHERE status = 'RUNNING'")
        ]

    def map_run_children_running(self) -> set[str]:
        """ARNs of RUNNING executions that are children of a Distributed Map's Map Run."""
        return {
            r["execution_arn"]
            for r in self.db.query(
                "SELECT c.execution_arn FROM sfn_map_run_children c JOIN sfn_executions e "
                "ON e.arn = c.execution_arn WHERE e.status = 'RUNNING'"
            )
        }

    # -- history and progress ------------------------------------------------------

    def events(self, arn: str) -> list[Any]:
        """The whole history as (id, previous id, ts, type, details) tuples."""
        return [
            (
                r["id"],
                r["previous_id"],
                r["ts"],
                r["type"],
                None if r["details"] is None else json.loads(r["details"]),
            )
            for r in self.history(arn, reverse=False, limit=-1, offset=0)
        ]

    def history(self, arn: str, *, reverse: bool, limit: int, offset: int) -> list[Any]:
        order = "DESC" if reverse else "ASC"
        return self.db.query(
            f"SELECT id, previous_id, ts, type, details FROM sfn_history WHERE execution_arn = ? "
            f"ORDER BY id {order} LIMIT ? OFFSET ?",
            (arn, limit, offset),
        )

    def write_progress(
        self,
        arn: str,
        events: list[Any],
        checkpoint: dict[str, Any] | None,
        memo: dict[str, Any],
        cleared: bool,
        final: Outcome | None,
    ) -> None:
        """Write a run's buffered events and redrive progress (and, at the end, its outcome)."""
        if not (events or checkpoint or memo or cleared or final):
            return
        with self.db.transaction() as conn:
            if events:
                conn.executemany(
                    "INSERT INTO sfn_history(execution_arn, id, previous_id, ts, type, details) VALUES (?, ?, ?, ?, ?, ?)",
                    [
                        (
                            arn,
                            eid,
                            prev,
                            ts,
                            etype,
                            None if details is None else json.dumps(details),
                        )
                        for eid, prev, ts, etype, details in events
                    ],
                )
            if checkpoint is not None:
                conn.execute(
                    "UPDATE sfn_executions SET checkpoint = ? WHERE arn = ?",
                    (json.dumps(checkpoint), arn),
                )
            if cleared:
                conn.execute("DELETE FROM sfn_progress WHERE execution_arn = ?", (arn,))
            if memo:
                conn.executemany(
                    "INSERT OR REPLACE INTO sfn_progress(execution_arn, key, output) VALUES (?, ?, ?)",
                    [(arn, key, json.dumps(value)) for key, value in memo.items()],
                )
            if final is not None:
                conn.execute(
                    "UPDATE sfn_executions SET status = ?, stop = ?, output = ?, error = ?, cause = ? WHERE arn = ?",
                    (final.status, time.time(), final.output, final.error, final.cause, arn),
                )

    def progress(self, arn: str) -> tuple[dict[str, Any], int]:
        """What a redrive resumes from: the finished iterations' outputs and the last event id."""
        memo = {
            r["key"]: json.loads(r["output"])
            for r in self.db.query(
                "SELECT key, output FROM sfn_progress WHERE execution_arn = ?", (arn,)
            )
        }
        # An aggregate always returns one row.
        last = self.db.query(
            "SELECT COALESCE(MAX(id), 0) AS last FROM sfn_history WHERE execution_arn = ?",
            (arn,),
        )[0]["last"]
        return memo, last

    def mark_redriven(self, arn: str, count: int, when: float) -> None:
        with self.db.transaction() as conn:
            conn.execute(
                "UPDATE sfn_executions SET status = 'RUNNING', stop = NULL, output = NULL, error = NULL, "
                "cause = NULL, redrive_count = ?, redrive_date = ? WHERE arn = ?",
                (count, when, arn),
            )

    def close_interrupted(
        self, arn: str, status: str, error: str | None, cause: str | None
    ) -> None:
        """End an execution no thread runs: its last history event, and the status (when it is
        still RUNNING)."""
        with self.db.transaction() as conn:
            last = conn.execute(
                "SELECT COALESCE(MAX(id), 0) FROM sfn_history WHERE execution_arn = ?", (arn,)
            ).fetchone()[0]
            event = (
                EventType.EXECUTION_FAILED if status == "FAILED" else EventType.EXECUTION_ABORTED
            )
            details = {k: v for k, v in (("error", error), ("cause", cause)) if v is not None}
            now = time.time()
            conn.execute(
                "INSERT INTO sfn_history(execution_arn, id, previous_id, ts, type, details) VALUES (?, ?, ?, ?, ?, ?)",
                (arn, last + 1, last, now, event.value, json.dumps(details)),
            )
            conn.execute(
                "UPDATE sfn_executions SET status = ?, stop = ?, error = ?, cause = ? WHERE arn = ? AND status = 'RUNNING'",
                (status, now, error, cause, arn),
            )
