"""The journal of mutating calls: what makes moto's memory-only state durable.

Every acknowledged call that may change state is one row, committed (SQLite WAL) before its
response leaves the server; with ``sync="full"`` (the default, ``LOCALAWS_JOURNAL_SYNC``)
each commit is fsynced, with ``"normal"`` it is written to the OS only, which survives
``kill -9`` of the server but not a crash of the machine:

    seq | service | method | url | headers (JSON) | body | seed | at

``seed`` and ``at`` are what :func:`localaws.motobridge.determinism.repeatable` ran the call
with, so replaying the rows in ``seq`` order rebuilds the same state with the same ids.
"""

from __future__ import annotations

import json
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
    """Append-only; one connection guarded by a lock."""

    def __init__(self, path: Path, *, sync: str = "full"):
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            self._conn = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
            self._conn.execute("PRAGMA journal_mode=WAL")
            self._conn.execute(f"PRAGMA synchronous={'FULL' if sync == 'full' else 'NORMAL'}")
            self._conn.execute(SCHEMA)
        except sqlite3.Error as e:
            raise PlatformError(f"cannot open the services journal {path}: {e}") from e
        self._lock = threading.Lock()

    def append(self, call: Call) -> int:
        """Write ``call`` durably; returns its sequence number."""
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
            return int(cur.lastrowid or 0)

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
