"""The runtime's embedded database and atomic file writes.

One SQLite file (``<state dir>/runtime.db``) holds state machines, executions, history,
SageMaker resources and Lambda functions.  Each component declares its own tables with
:meth:`Database.ensure_schema`; reads use a connection per thread, writes one shared
connection under the write lock (so a short-lived thread, such as an execution's, writes
without opening a connection); WAL mode, so readers never block the writer.
"""

from __future__ import annotations

import contextlib
import json
import sqlite3
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from localaws.lambdakit.files import atomic_write

__all__ = ["Database", "JsonRecords", "atomic_write"]


class Database:
    """A thread-safe handle on one SQLite file."""

    def __init__(self, path: Path):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._local = threading.local()
        self._write_lock = threading.RLock()
        self._writer: sqlite3.Connection | None = None
        self._schemas: set[str] = set()

    def _connect(self) -> sqlite3.Connection:
        conn = sqlite3.connect(self.path, timeout=30, isolation_level=None, check_same_thread=False)
        conn.row_factory = sqlite3.Row
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=NORMAL")
        conn.execute("PRAGMA foreign_keys=ON")
        return conn

    def _conn(self) -> sqlite3.Connection:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = self._local.conn = self._connect()
        return conn

    def _writer_conn(self) -> sqlite3.Connection:
        """The shared write connection; call with the write lock held."""
        if self._writer is None:
            self._writer = self._connect()
        return self._writer

    def ensure_schema(self, name: str, ddl: str) -> None:
        """Run ``ddl`` (idempotent CREATE ... IF NOT EXISTS statements) once per process."""
        if name in self._schemas:
            return
        with self._write_lock:
            self._writer_conn().executescript(ddl)
            self._schemas.add(name)

    @contextlib.contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """A write transaction; commits on success, rolls back on any exception."""
        with self._write_lock:
            conn = self._writer_conn()
            conn.execute("BEGIN IMMEDIATE")
            try:
                yield conn
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            conn.execute("COMMIT")

    def write(self, sql: str, params: tuple[Any, ...] | dict[str, Any] = ()) -> int:
        """One write statement, atomic on its own (SQLite's autocommit: no BEGIN and COMMIT
        round trips); the number of rows it changed."""
        with self._write_lock:
            return self._writer_conn().execute(sql, params).rowcount

    def query(self, sql: str, params: tuple[Any, ...] | dict[str, Any] = ()) -> list[sqlite3.Row]:
        return self._conn().execute(sql, params).fetchall()

    def query_one(
        self, sql: str, params: tuple[Any, ...] | dict[str, Any] = ()
    ) -> sqlite3.Row | None:
        return self._conn().execute(sql, params).fetchone()

    def close(self) -> None:
        """Close this thread's connection and the write connection."""
        conn = getattr(self._local, "conn", None)
        if conn is not None:
            conn.close()
            self._local.conn = None
        with self._write_lock:
            if self._writer is not None:
                self._writer.close()
                self._writer = None


class JsonRecords:
    """A tiny document table: (kind, name) -> JSON record, for API resources.

    Used by the SageMaker and Lambda backends to persist their resources with the exact
    shapes their Describe calls return.
    """

    DDL = """
    CREATE TABLE IF NOT EXISTS records (
        kind TEXT NOT NULL,
        name TEXT NOT NULL,
        created REAL NOT NULL,
        body TEXT NOT NULL,
        PRIMARY KEY (kind, name)
    );
    """

    def __init__(self, db: Database):
        self.db = db
        db.ensure_schema("records", self.DDL)

    def put(
        self,
        kind: str,
        name: str,
        body: dict[str, Any],
        created: float,
        *,
        conn: sqlite3.Connection | None = None,
    ) -> None:
        """Insert or replace; in the caller's transaction ``conn`` when given."""
        if conn is None:
            with self.db.transaction() as conn:
                self.put(kind, name, body, created, conn=conn)
            return
        conn.execute(
            "INSERT INTO records(kind, name, created, body) VALUES (?, ?, ?, ?) "
            "ON CONFLICT(kind, name) DO UPDATE SET body = excluded.body",
            (kind, name, created, json.dumps(body, default=str)),
        )

    def insert_new(
        self,
        kind: str,
        name: str,
        body: dict[str, Any],
        created: float,
        *,
        conn: sqlite3.Connection | None = None,
    ) -> bool:
        """Insert; return False (and change nothing) when the name is taken. In the caller's
        transaction ``conn`` when given."""
        if conn is None:
            with self.db.transaction() as conn:
                return self.insert_new(kind, name, body, created, conn=conn)
        cur = conn.execute(
            "INSERT OR IGNORE INTO records(kind, name, created, body) VALUES (?, ?, ?, ?)",
            (kind, name, created, json.dumps(body, default=str)),
        )
        return cur.rowcount == 1

    def get(self, kind: str, name: str) -> dict[str, Any] | None:
        row = self.db.query_one(
            "SELECT body FROM records WHERE kind = ? AND name = ?", (kind, name)
        )
        return None if row is None else json.loads(row["body"])

    def delete(self, kind: str, name: str) -> bool:
        with self.db.transaction() as conn:
            return (
                conn.execute(
                    "DELETE FROM records WHERE kind = ? AND name = ?", (kind, name)
                ).rowcount
                == 1
            )

    def bodies(self, kind: str) -> list[tuple[str, str]]:
        """(name, JSON text) of every record of ``kind``, newest first, not parsed: for a
        reader that parses only what changed since it last looked."""
        rows = self.db.query(
            "SELECT name, body FROM records WHERE kind = ? ORDER BY created DESC", (kind,)
        )
        return [(r["name"], r["body"]) for r in rows]

    def list(self, kind: str) -> list[dict[str, Any]]:
        return [json.loads(body) for _, body in self.bodies(kind)]
