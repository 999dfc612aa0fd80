"""Make a moto call repeatable: the same seed and the same clock give the same ids and times.

moto draws every identifier it generates (SQS MessageId and receipt handles, SNS MessageId,
Glue run ids, ...) from one ``random.Random``, ``moto.moto_api._internal.mock_random``, and
reads the time through ``moto.core.utils.utcnow`` (plus ``time.time`` in a few modules).
A call runs with the random generator seeded by the seed the journal records for it and with
the clock frozen at the instant the journal records, both when it is first served and when
it is replayed after a restart; the replayed call therefore generates the same MessageId,
receipt handle, sequence number and timestamp as the acknowledged one.
"""

from __future__ import annotations

import datetime as _dt
import sys
import threading
import time as _time
import types
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

_frozen = threading.local()
_patched = False
_patch_lock = threading.Lock()


def now() -> float:
    """The clock moto sees: the frozen instant inside a call, else the real time."""
    at = getattr(_frozen, "at", None)
    return _time.time() if at is None else at


def _utcnow() -> _dt.datetime:
    return _dt.datetime.fromtimestamp(now(), _dt.UTC).replace(tzinfo=None)


class _TimeModule(types.ModuleType):
    """Stands in for ``time`` in the moto modules that call ``time.time()``."""

    def __getattr__(self, name: str) -> Any:
        return getattr(_time, name)

    @staticmethod
    def time() -> float:
        return now()


_time_proxy = _TimeModule("time")


def install() -> None:
    """Point every imported moto module at the freezable clock (idempotent per module; call
    again after importing more of moto)."""
    global _patched
    import moto.core.utils as core_utils

    with _patch_lock:
        original = getattr(core_utils, "_localaws_original_utcnow", core_utils.utcnow)
        core_utils._localaws_original_utcnow = original  # type: ignore[attr-defined]
        for name, module in list(sys.modules.items()):
            if module is None or not (name == "moto" or name.startswith("moto.")):
                continue
            namespace = vars(module)
            if namespace.get("utcnow") is original:
                namespace["utcnow"] = _utcnow
            if namespace.get("time") is _time:
                namespace["time"] = _time_proxy
            elif namespace.get("time") is _time.time:
                namespace["time"] = now
        _patched = True


@contextmanager
def repeatable(seed: int, at: float) -> Iterator[None]:
    """Run moto code with ``mock_random`` seeded by ``seed`` and the clock at ``at``."""
    from moto.moto_api._internal import mock_random

    mock_random.seed(seed)
    _frozen.at = at
    try:
        yield
    finally:
        _frozen.at = None
