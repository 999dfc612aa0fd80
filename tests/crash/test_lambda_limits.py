"""Lambda limits: MemorySize enforced, a handler's processes end with its invocation, a
per-function ephemeral /tmp."""

from __future__ import annotations

import io
import json
import textwrap
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from crash_support import alive, wait_until

from localaws.runtime import Runtime

ROLE = "arn:aws:iam::123456789012:role/crash-test"
HANDLER = textwrap.dedent(
    """
    import pathlib, subprocess, tempfile, time

    def allocate(event, context):
        block = b"x" * (event["mb"] << 20)  # written, so resident
        return len(block) >> 20

    def spawn(event, context):
        child = subprocess.Popen(["sleep", "300"])
        pathlib.Path(event["pid_file"]).write_text(str(child.pid))
        if event.get("hang"):
            time.sleep(60)
        return child.pid

    def tmp(event, context):
        return tempfile.gettempdir()
    """
)


@pytest.fixture
def rt(tmp_path: Path) -> Iterator[Runtime]:
    with Runtime(tmp_path / "state") as runtime:
        yield runtime


def create(rt: Runtime, name: str, handler: str, **extra: Any) -> None:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as zf:
        zf.writestr("limits.py", HANDLER)
    rt.lambda_.create_function(
        FunctionName=name,
        Runtime="python3.12",
        Role=ROLE,
        Handler=f"limits.{handler}",
        Code={"ZipFile": buffer.getvalue()},
        **{"Timeout": 30, "MemorySize": 128, **extra},
    )


def invoke(rt: Runtime, name: str, event: dict[str, Any]) -> tuple[Any, str | None]:
    out = rt.lambda_.invoke(FunctionName=name, Payload=json.dumps(event).encode())
    return json.loads(out["Payload"]), out.get("FunctionError")


def test_memory_size_is_enforced(rt: Runtime) -> None:
    create(rt, "hungry", "allocate")
    body, error = invoke(rt, "hungry", {"mb": 400})
    assert error == "Unhandled"
    assert body["errorType"] == "Runtime.OutOfMemory"
    assert "Runtime exited with error: signal: killed" in body["errorMessage"]
    assert invoke(rt, "hungry", {"mb": 8}) == (8, None)  # a new worker serves the next one


def test_processes_a_handler_starts_end_with_its_invocation(rt: Runtime, tmp_path: Path) -> None:
    create(rt, "spawner", "spawn")
    pid, error = invoke(rt, "spawner", {"pid_file": str(tmp_path / "pid")})
    assert error is None
    wait_until(lambda: not alive(pid), 10, "the handler's child to end")


def test_a_timed_out_invocation_ends_its_whole_process_group(rt: Runtime, tmp_path: Path) -> None:
    create(rt, "hanger", "spawn", Timeout=2)
    pid_file = tmp_path / "pid"
    body, _ = invoke(rt, "hanger", {"pid_file": str(pid_file), "hang": True})
    assert body["errorType"] == "Sandbox.Timedout"
    pid = int(pid_file.read_text())
    wait_until(lambda: not alive(pid), 10, "the handler's child to end")


def test_each_function_has_its_own_tmp(rt: Runtime) -> None:
    create(rt, "one", "tmp")
    create(rt, "two", "tmp")
    one, _ = invoke(rt, "one", {})
    two, _ = invoke(rt, "two", {})
    assert one != two
    assert Path(one) == rt.layout.lambda_tmp("one") and Path(one).is_dir()
