"""The state's SQLite files: checked when opened, backed up while running, restored on demand.

* :func:`check` runs before a runtime uses its state: an empty file, a file that is not
  SQLite (its header) or one that fails ``PRAGMA quick_check`` raises :class:`StateCorrupt`,
  one line naming the file and the fix; it is never silently replaced by a new database.
* :class:`Backups` copies ``runtime.db`` and the services journal with SQLite's online
  backup API (a consistent snapshot, readers and the writer keep going) into
  ``<state dir>/backup/`` every :func:`localaws.config.backup_seconds` when they changed,
  and once more at close; a copy is checked before it replaces the previous one.
* :func:`restore` (``python -m workflows restore``) moves the damaged files aside (with
  their ``-wal``/``-shm``) and puts the backups in their place.
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import sqlite3
import threading
import time
from pathlib import Path

from localaws.errors import PlatformError
from localaws.layout import StateDir

log = logging.getLogger(__name__)

HEADER = b"SQLite format 3\x00"
# The SQLite files of a state directory, relative to it.
JOURNAL = "services/journal.db"
FILES = ("runtime.db", JOURNAL)


class StateCorrupt(PlatformError):
    """A state file is empty or damaged; the message names it and the fix."""

    def __init__(self, path: Path, problem: str, backup: Path | None):
        if backup is not None and backup.is_file():
            when = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(backup.stat().st_mtime))
            fix = (
                f"restore the automatic backup of {when} with `python -m workflows restore "
                f"--state-dir {path_state_dir(path)}`, or move the file aside to start fresh"
            )
        else:
            fix = "no backup of it exists: move it aside to start fresh (its state is lost)"
        super().__init__(f"{path}: {problem}; {fix}")
        self.path = path
        self.problem = problem


def path_state_dir(path: Path) -> Path:
    return path.parent.parent if path.parent.name == "services" else path.parent


def backup_path(layout: StateDir, relative: str) -> Path:
    return layout.backups / relative.replace("/", "-")


def problem(path: Path) -> str | None:
    """What is wrong with the SQLite file at ``path`` (None when it is sound or absent)."""
    if not path.exists():
        return None
    size = path.stat().st_size
    wal = Path(f"{path}-wal")
    if size == 0:
        if wal.exists() and wal.stat().st_size > 0:
            return "the database file is empty (0 bytes) but its write-ahead log is not"
        return "the database file is empty (0 bytes)"
    with open(path, "rb") as fh:
        if fh.read(len(HEADER)) != HEADER:
            return "not an SQLite database (its header is damaged)"
    try:
        conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=30)
        try:
            rows = conn.execute("PRAGMA quick_check").fetchall()
        finally:
            conn.close()
    except sqlite3.DatabaseError as e:
        return f"the database is damaged ({e})"
    if [r[0] for r in rows] != ["ok"]:
        return f"the database is damaged (quick_check: {rows[0][0]})"
    return None


def corrupt(path: Path, problem: str) -> StateCorrupt:
    """The error for a state file found damaged while in use (``problem`` says where)."""
    state_dir = path_state_dir(path)
    return StateCorrupt(
        path, problem, backup_path(StateDir(state_dir), str(path.relative_to(state_dir)))
    )


def check(state_dir: Path) -> None:
    """Raise :class:`StateCorrupt` for the first damaged SQLite file of the state directory."""
    layout = StateDir(state_dir)
    for relative in FILES:
        path = state_dir / relative
        found = problem(path)
        if found is None and relative == JOURNAL and path.exists():
            from localaws.motobridge.journal import tail_problem  # its rows' format

            found = tail_problem(path)
        if found is not None:
            raise StateCorrupt(path, found, backup_path(layout, relative))


def backup_file(source: Path, target: Path) -> bool:
    """A consistent copy of ``source`` at ``target`` (checked, then renamed into place);
    False (the previous backup kept) when the source cannot be read or the copy is unsound."""
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".{target.name}.tmp")
    tmp.unlink(missing_ok=True)
    try:
        src = sqlite3.connect(f"file:{source}?mode=ro", uri=True, timeout=30)
        try:
            dst = sqlite3.connect(tmp)
            try:
                src.backup(dst)
                ok = dst.execute("PRAGMA quick_check").fetchone()[0] == "ok"
            finally:
                dst.close()
        finally:
            src.close()
    except sqlite3.Error as e:
        log.error("backup of %s failed: %s", source, e)
        tmp.unlink(missing_ok=True)
        return False
    if not ok:
        log.error("backup of %s skipped: the copy fails quick_check", source)
        tmp.unlink(missing_ok=True)
        return False
    os.replace(tmp, target)
    return True


def _signature(path: Path) -> tuple[int, ...]:
    out: list[int] = []
    for p in (path, Path(f"{path}-wal")):
        try:
            st = p.stat()
            out += [st.st_mtime_ns, st.st_size]
        except FileNotFoundError:
            out += [0, 0]
    return tuple(out)


class Backups:
    """The rolling backup thread of one state directory."""

    def __init__(self, state_dir: Path, interval: float):
        self.layout = StateDir(state_dir)
        self.interval = interval
        self._stop = threading.Event()
        self._seen: dict[str, tuple[int, ...]] = {}
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None

    def start(self) -> Backups:
        if self.interval > 0:
            self._thread = threading.Thread(target=self._loop, name="state backups", daemon=True)
            self._thread.start()
        return self

    def run_once(self) -> None:
        """Back up each file that changed since its last backup."""
        with self._lock:
            for relative in FILES:
                source = self.layout.root / relative
                if not source.is_file():
                    continue
                signature = _signature(source)
                target = backup_path(self.layout, relative)
                if self._seen.get(relative) == signature and target.is_file():
                    continue
                if backup_file(source, target):
                    self._seen[relative] = signature

    def _loop(self) -> None:
        while not self._stop.wait(self.interval):
            try:
                self.run_once()
            except OSError as e:  # a full disk: the runtime goes on, the log says why
                log.error("state backup failed: %s", e)

    def close(self) -> None:
        """Stop the thread and take a last backup."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(30)
            with contextlib.suppress(OSError):
                self.run_once()


def restore(state_dir: Path) -> list[str]:
    """Put the backups in place of the state's SQLite files (the current files, with their
    ``-wal``/``-shm``, moved aside as ``<name>.damaged-<time>``); lines saying what was done.
    Call it only while no process owns the state directory."""
    layout = StateDir(state_dir)
    stamp = time.strftime("%Y%m%dT%H%M%S")
    done: list[str] = []
    for relative in FILES:
        backup = backup_path(layout, relative)
        if not backup.is_file():
            continue
        path = state_dir / relative
        for suffix in ("", "-wal", "-shm"):
            current = Path(f"{path}{suffix}")
            if current.exists():
                aside = Path(f"{path}.damaged-{stamp}{suffix}")
                os.replace(current, aside)
                done.append(f"moved {current} to {aside}")
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.restore")
        shutil.copyfile(backup, tmp)
        os.replace(tmp, path)
        done.append(f"restored {path} from {backup}")
    if not done:
        raise PlatformError(
            f"{layout.backups}: no backup to restore (a runtime keeps one while it runs)"
        )
    return done
