"""Fixtures for the Lambda tests: lambdas/ on sys.path (as in a Lambda zip), local storage."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

LAMBDAS = Path(__file__).resolve().parents[2] / "lambdas"
if str(LAMBDAS) not in sys.path:
    sys.path.insert(0, str(LAMBDAS))


@pytest.fixture
def store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Any:
    """Local S3 under tmp_path, the one the handlers get from ``storage_from_env()``."""
    from common import objects

    from localaws.lambdakit.storage import LocalStorage

    root = tmp_path / "s3"
    root.mkdir()
    monkeypatch.setenv("LOCALAWS_S3_ROOT", str(root))
    objects.storage.cache_clear()
    yield LocalStorage(root)
    objects.storage.cache_clear()


@pytest.fixture
def load_event() -> Callable[[str], dict[str, Any]]:
    """The example event shipped next to a handler: ``load_event("prepare")``."""

    def load(name: str) -> dict[str, Any]:
        return json.loads((LAMBDAS / "events" / f"{name}.json").read_text())

    return load
