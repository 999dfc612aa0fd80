"""Fixtures for the local Lambda tests: a runtime on a temp state dir and zipped handlers."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from lambda_helpers import ROLE, handlers_zip

from localaws.runtime import Runtime


@pytest.fixture
def runtime(tmp_path: Path) -> Iterator[Runtime]:
    """A runtime whose Lambda backend is used directly (no state-dir lock needed)."""
    rt = Runtime(tmp_path / "state")
    yield rt
    if "lambda_" in rt.__dict__:
        rt.lambda_.close()
    rt.db.close()
    rt.close()  # the private listener its workers' AWS_ENDPOINT_URL points at


@pytest.fixture
def create_function(runtime: Runtime) -> Callable[..., dict[str, Any]]:
    """Create a function from the test handlers: ``create_function("name", "basic.echo", ...)``."""
    code = handlers_zip()

    def create(name: str, handler: str, **overrides: Any) -> dict[str, Any]:
        request: dict[str, Any] = {
            "FunctionName": name,
            "Runtime": "python3.11",
            "Role": ROLE,
            "Handler": handler,
            "Code": {"ZipFile": code},
            "Timeout": 30,
            "MemorySize": 256,
        }
        request.update(overrides)
        return runtime.lambda_.create_function(**request)

    return create
