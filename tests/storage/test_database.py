"""localaws.store.Database: the runtime's SQLite file."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from localaws.store import Database


def test_a_single_write_is_committed_when_it_returns(tmp_path: Path) -> None:
    db = Database(tmp_path / "runtime.db")
    db.ensure_schema("t", "CREATE TABLE IF NOT EXISTS t (k TEXT PRIMARY KEY, v TEXT);")
    assert db.write("INSERT INTO t(k, v) VALUES (?, ?) ON CONFLICT(k) DO NOTHING", ("a", "1")) == 1
    assert db.write("INSERT INTO t(k, v) VALUES (?, ?) ON CONFLICT(k) DO NOTHING", ("a", "2")) == 0
    other = sqlite3.connect(tmp_path / "runtime.db")  # another process's view
    try:
        assert other.execute("SELECT v FROM t WHERE k = 'a'").fetchall() == [("1",)]
    finally:
        other.close()
        db.close()
