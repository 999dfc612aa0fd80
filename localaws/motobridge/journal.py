"""The journal of mutating calls: what makes moto's memory-only state durable.

Every acknowledged call that may change state is one row, committed (SQLite WAL, written to
the OS: it survives ``kill -9`` of the server) before its response leaves the server.  With
``sync="full"`` (the default, ``LOCALAWS_JOURNAL_SYNC``) the response also waits until the
row is on the disk (:meth:`Journal.sync_to`: an fsync of the WAL file), which survives a
crash of the machine too; calls that commit while one fsync runs share the next one (group
commit), so concurrent writers do not queue one fsync each.  With ``"normal"`` nothing waits
for the disk:

    seq | service | method | url | headers (JSON) | body | seed | at

``seed`` and ``at`` are what :func:`localaws.motobridge.determinism.repeatable` ran the call
with, so replaying the rows in ``seq`` order rebuilds the same state with the same ids.
"""

from __future__ import annotations

import json
import os
import sqlite3
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from localaws import backup
from localaws.errors import PlatformError

SCHEMA = """
CREATE TABLE IF NOT EXISTS calls (
    seq INTEGER PRIMARY KEY,
    service TEXT NOT NULL,
    method TEXT NOT NULL,
    url TEXT NOT NULL,
    headers TEXT NOT NULL,
    body BLOB NOT NULL,
    seed INTEGER NOT NULL,
    at REAL NOT NULL
)
"""


@dataclass(frozen=True)
class Call:
    """One mutating call as moto received it (the URL on the service's AWS host)."""

    service: str
    method: str
    url: str
    headers: dict[str, str]
    body: bytes
    seed: int
    at: float


def _call(path: Path, seq: int, *row: Any) -> Call:
    """A journal row -> the call; a row that does not decode is a damaged journal, named."""
    service, method, url, headers, body, seed, at = row
    try:
        decoded = json.loads(headers)
        if not (
            isinstance(service, str)
            and isinstance(method, str)
            and isinstance(url, str)
            and isinstance(decoded, dict)
            and isinstance(body, bytes | str)
            and isinstance(seed, int)
            and isinstance(at, float | int)
        ):
            raise TypeError("a member has the wrong type")
    except (TypeError, ValueError) as e:
        raise backup.corrupt(path, f"journal entry {seq} is damaged ({e})") from e
    body = body.encode() if isinstance(body, str) else body
    return Call(service, method, url, decoded, body, seed, float(at))


def tail_problem(path: Path) -> str | None:
    """What is wrong with the journal's last entry (where a crash would leave damage), read
    before the journal is used; None when it decodes (or the journal is empty)."""
    try:
        conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=30)
        try:
            row = conn.execute(
                "SELECT seq, service, method, url, headers, body, seed, at FROM calls "
                "ORDER BY seq DESC LIMIT 1"
            ).fetchone()
        finally:
            conn.close()
    except sqlite3.DatabaseError as e:
        return f"the journal cannot be read ({e})"
    if row is None:
        return None
    try:
        _call(path, *row)
    except backup.StateCorrupt as e:
        return e.problem
    return None


class Journal:
    """Append-only; one connection guarded by a lock.

    Commits run with ``synchronous=NORMAL`` (written to the OS; SQLite fsyncs the WAL before
    a checkpoint copies it into the database and the database after).  With ``sync="full"``
    :meth:`sync_to` fsyncs the WAL file, where every committed row not yet checkpointed is:
    what ``synchronous=FULL`` does at each commit, once for all the rows committed by then."""

    def __init__(self, path: Path, *, sync: str = "full"):
        self.path = path
        self.full = sync == "full"
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            self._conn = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
            self._conn.execute("PRAGMA journal_mode=WAL")
            self._conn.execute("PRAGMA synchronous=NORMAL")
            self._conn.execute(SCHEMA)
        except sqlite3.Error as e:
            raise PlatformError(f"cannot open the services journal {path}: {e}") from e
        self._lock = threading.Lock()
        self._sync_lock = threading.Lock()
        self._written = self.last_seq()
        self._synced = 0  # what an earlier run committed may not be on the disk yet

    @property
    def wal_path(self) -> Path:
        return self.path.with_name(self.path.name + "-wal")

    def append(self, call: Call) -> int:
        """Commit ``call`` (to the OS; :meth:`sync_to` waits for the disk); returns its
        sequence number."""
        with self._lock:
            try:
                cur = self._conn.execute(
                    "INSERT INTO calls (service, method, url, headers, body, seed, at) "
                    "VALUES (?, ?, ?, ?, ?, ?, ?)",
                    (
                        call.service,
                        call.method,
                        call.url,
                        json.dumps(call.headers),
                        call.body,
                        call.seed,
                        call.at,
                    ),
                )
            except sqlite3.Error as e:
                raise PlatformError(
                    f"cannot write the services journal {self.path}: {e}; check the disk has space"
                ) from e
            self._written = int(cur.lastrowid or 0)
            return self._written

    def sync_to(self, seq: int) -> None:
        """Return once the entries up to ``seq`` are on the disk (``sync="full"``; at once
        with ``"normal"``).  One caller fsyncs for every entry committed when it starts;
        the callers waiting meanwhile find theirs done or share the next fsync."""
        if not self.full or self._synced >= seq:
            return
        with self._sync_lock:
            if self._synced >= seq:
                return  # the fsync that just finished covered it
            covered = self._written  # committed before the fsync starts: it includes them
            try:
                try:
                    fd = os.open(self.wal_path, os.O_RDONLY)
                except FileNotFoundError:  # no WAL: the commits are in the database file
                    fd = os.open(self.path, os.O_RDONLY)
                try:
                    os.fsync(fd)
                finally:
                    os.close(fd)
            except OSError as e:
                raise PlatformError(
                    f"cannot write the services journal {self.path} to the disk: {e}"
                ) from e
            self._synced = covered

    def __iter__(self) -> Iterator[Call]:
        return self.since(0)

    def since(self, seq: int) -> Iterator[Call]:
        """The calls after sequence number ``seq``, in order."""
        try:
            cur = self._conn.execute(
                "SELECT seq, service, method, url, headers, body, seed, at FROM calls "
                "WHERE seq > ? ORDER BY seq",
                (seq,),
            )
            for at_seq, service, method, url, headers, body, seed, at in cur:
                yield _call(self.path, at_seq, service, method, url, headers, body, seed, at)
        except sqlite3.DatabaseError as e:  # pages damaged after the check at start
            raise backup.corrupt(
                self.path, f"the journal cannot be read after entry {seq} ({e})"
            ) from e

    def last_seq(self) -> int:
        return int(self._conn.execute("SELECT coalesce(max(seq), 0) FROM calls").fetchone()[0])

    def __len__(self) -> int:
        return int(self._conn.execute("SELECT count(*) FROM calls").fetchone()[0])

    def close(self) -> None:
        with self._lock:
            self._conn.close()
