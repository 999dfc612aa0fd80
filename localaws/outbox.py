"""Durable deliveries: the queue every piece of event wiring hands its work to.

An :class:`Outbox` is one channel (``s3.notification``, ``lambda.async``, ``events.target``)
of rows in the runtime's database (``<state dir>/runtime.db``, table ``outbox``).  Whoever
observes an event calls :meth:`Outbox.put` before the call that caused it is acknowledged;
the row is committed (SQLite WAL) so ``kill -9`` of the server does not lose it.  A small
pool of threads per channel takes due rows in order and hands each to the channel's
``deliver(body, attempt)``:

* it returns ``None``: delivered, the row is deleted;
* it returns a number: try again after that many seconds (the attempt count goes up);
* it raises: logged with its traceback and retried with a capped exponential backoff, so a
  service that is down does not lose the event.  The channel's own retry and dead-letter
  rules (Lambda's two retries then ``OnFailure``, ...) live in ``deliver``.

A row taken by a thread is marked claimed; claims are dropped at start, so a row whose
delivery was interrupted by a crash is delivered again (at least once, as AWS delivers).
"""

from __future__ import annotations

import json
import logging
import sqlite3
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from localaws.store import Database

log = logging.getLogger(__name__)

DDL = """
CREATE TABLE IF NOT EXISTS outbox (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    channel TEXT NOT NULL,
    body TEXT NOT NULL,
    attempt INTEGER NOT NULL DEFAULT 0,
    due REAL NOT NULL,
    claimed INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS outbox_due ON outbox(channel, claimed, due, id);
"""
MAX_BACKOFF_S = 60.0

Deliver = Callable[[dict[str, Any], int], "float | None"]


class Outbox:
    """One durable delivery channel with its worker threads."""

    def __init__(self, db: Database, channel: str, deliver: Deliver, *, workers: int = 1):
        self.db = db
        self.channel = channel
        self.deliver = deliver
        self.workers = workers
        self._wake = threading.Condition()
        self._stopped = False
        self._threads: list[threading.Thread] = []
        self._idle = threading.Condition()
        self._busy = 0
        db.ensure_schema("outbox", DDL)

    # -- producers ---------------------------------------------------------------------

    def put(self, body: dict[str, Any], *, delay: float = 0.0) -> None:
        """Queue ``body`` durably (committed when this returns)."""
        with self.db.transaction() as conn:
            self.put_in(conn, body, delay=delay)
        self.wake()

    def put_in(self, conn: sqlite3.Connection, body: dict[str, Any], *, delay: float = 0.0) -> None:
        """Queue ``body`` in the caller's transaction ``conn`` (of this outbox's database):
        it commits, or rolls back, with the caller's own writes. Call :meth:`wake` after the
        commit."""
        conn.execute(
            "INSERT INTO outbox(channel, body, due) VALUES (?, ?, ?)",
            (self.channel, json.dumps(body, default=str), time.time() + delay),
        )

    def wake(self) -> None:
        """Tell the workers a row is queued."""
        with self._wake:
            self._wake.notify()

    def pending(self) -> int:
        row = self.db.query_one(
            "SELECT COUNT(*) AS n FROM outbox WHERE channel = ?", (self.channel,)
        )
        return int(row["n"]) if row else 0

    # -- workers -----------------------------------------------------------------------

    def start(self) -> Outbox:
        with self.db.transaction() as conn:  # a claim held by a dead process is void
            conn.execute("UPDATE outbox SET claimed = 0 WHERE channel = ?", (self.channel,))
        for i in range(self.workers):
            thread = threading.Thread(
                target=self._run, name=f"outbox {self.channel} {i}", daemon=True
            )
            thread.start()
            self._threads.append(thread)
        return self

    def stop(self, *, wait: bool = True) -> None:
        """Stop taking rows; with ``wait``, wait (a bounded time) for deliveries in flight."""
        with self._wake:
            self._stopped = True
            self._wake.notify_all()
        if not wait:
            return
        for thread in self._threads:
            if thread is not threading.current_thread():
                thread.join(timeout=10)
        self._threads = []

    def _claim(self) -> tuple[int, dict[str, Any], int] | float:
        """The next due row (claimed), or how long until the next one is due."""
        now = time.time()
        with self.db.transaction() as conn:
            row = conn.execute(
                "SELECT id, body, attempt, due FROM outbox WHERE channel = ? AND claimed = 0 "
                "ORDER BY due, id LIMIT 1",
                (self.channel,),
            ).fetchone()
            if row is None:
                return 1.0
            if row["due"] > now:
                return float(min(row["due"] - now, 1.0))
            conn.execute("UPDATE outbox SET claimed = 1 WHERE id = ?", (row["id"],))
        return int(row["id"]), json.loads(row["body"]), int(row["attempt"])

    def _run(self) -> None:
        while True:
            with self._wake:
                if self._stopped:
                    return
            try:
                claimed = self._claim()
            except Exception:  # the database is closing or broken: stop this worker
                if self._stopped:
                    return
                log.exception("outbox %s: cannot read the queue", self.channel)
                time.sleep(1.0)
                continue
            if isinstance(claimed, float):
                with self._wake:
                    if not self._stopped:
                        self._wake.wait(claimed)
                continue
            row_id, body, attempt = claimed
            try:
                retry_in = self.deliver(body, attempt)
            except Exception:
                log.exception(
                    "outbox %s: delivery %s failed (attempt %s)", self.channel, row_id, attempt
                )
                retry_in = min(2.0**attempt, MAX_BACKOFF_S)
            if self._stopped:
                return  # claim stays; dropped at the next start, delivered again
            with self.db.transaction() as conn:
                if retry_in is None:
                    conn.execute("DELETE FROM outbox WHERE id = ?", (row_id,))
                else:
                    conn.execute(
                        "UPDATE outbox SET claimed = 0, attempt = attempt + 1, due = ? WHERE id = ?",
                        (time.time() + retry_in, row_id),
                    )
