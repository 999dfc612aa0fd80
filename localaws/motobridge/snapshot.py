"""Snapshots of moto's backends: what keeps a restart quick when the journal is long.

A snapshot is one pickle of every mounted service's ``BackendDict`` (pickled together, so
objects shared between services stay shared) with the sequence number of the last journal
entry it includes and moto's version.  At start the bridge loads it and replays only the
journal entries after it.  The journal stays complete (nothing is deleted), so a snapshot
that cannot be read (moto upgraded, file damaged) costs a full replay, never data.
Locks inside moto's objects (an SQS queue's) are pickled as new, unlocked locks.
"""

from __future__ import annotations

import io
import logging
import pickle
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from localaws.store import atomic_write

log = logging.getLogger(__name__)

FORMAT = 1
_LOCK_TYPES = (type(threading.Lock()), type(threading.RLock()))


@dataclass(frozen=True)
class Snapshot:
    seq: int  # the last journal entry it includes
    backends: dict[str, dict[str, Any]]  # moto service name -> dict(BackendDict)


class _Pickler(pickle.Pickler):
    def reducer_override(self, obj: Any) -> Any:
        if isinstance(obj, _LOCK_TYPES):
            return (threading.RLock if "RLock" in type(obj).__name__ else threading.Lock, ())
        return NotImplemented


def _moto_version() -> str:
    import moto

    return str(moto.__version__)


def dump(path: Path, seq: int, backends: dict[str, dict[str, Any]]) -> None:
    """Write the snapshot atomically (fsynced, then renamed into place)."""
    buffer = io.BytesIO()
    _Pickler(buffer, protocol=pickle.HIGHEST_PROTOCOL).dump(
        {"format": FORMAT, "moto": _moto_version(), "seq": seq, "backends": backends}
    )
    atomic_write(path, buffer.getvalue())


def load(path: Path) -> Snapshot | None:
    """The snapshot at ``path``; None when there is none or it is not usable (a warning says
    why; the caller replays the whole journal instead)."""
    if not path.is_file():
        return None
    try:
        with open(path, "rb") as fh:
            data = pickle.load(fh)  # our own file, written by dump()
    except Exception as e:  # damaged or from another moto: the journal has everything
        log.warning("ignoring the services snapshot %s (%s); replaying the whole journal", path, e)
        return None
    if data.get("format") != FORMAT or data.get("moto") != _moto_version():
        log.warning(
            "ignoring the services snapshot %s (moto %s, this is moto %s); replaying the whole "
            "journal",
            path,
            data.get("moto"),
            _moto_version(),
        )
        return None
    return Snapshot(int(data["seq"]), data["backends"])
