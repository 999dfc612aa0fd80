"""Closing a runtime while a delivery thread is opening its services bridge: the bridge's
wiring is attached before it is closed, and a closing runtime opens no bridge."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from localaws.errors import PlatformError
from localaws.events.backend import EventsBackend
from localaws.motobridge import bridge as motobridge
from localaws.runtime import Runtime

WIRING_THREADS = {"events scheduler", "aws state-change events", "firehose delivery"}


def wiring_threads() -> set[str]:
    return {t.name for t in threading.enumerate()} & WIRING_THREADS


def test_close_during_a_bridge_opening_leaves_no_wiring_running(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A thread opens the bridge (as the first EventBridge delivery does) while the runtime
    closes: the opening is released only once the close has reached EventBridge's wiring
    (or after a grace period, when the close waits for the opening, as it must)."""
    opening, reached_events = threading.Event(), threading.Event()
    original_open, original_close = motobridge.MotoBridge.open, EventsBackend.close

    def slow_open(self: motobridge.MotoBridge) -> motobridge.MotoBridge:
        opening.set()
        reached_events.wait(timeout=2)
        return original_open(self)

    def close(self: EventsBackend) -> None:
        reached_events.set()
        original_close(self)

    monkeypatch.setattr(motobridge.MotoBridge, "open", slow_open)
    monkeypatch.setattr(EventsBackend, "close", close)
    assert not wiring_threads()
    rt = Runtime(tmp_path / "state").start()
    user = threading.Thread(target=lambda: rt.motobridge)
    user.start()
    assert opening.wait(timeout=60)
    rt.close()
    user.join(timeout=60)
    assert not wiring_threads()
    assert motobridge._owner is None
    with pytest.raises(PlatformError, match="is closing"):
        rt.motobridge  # noqa: B018
