"""The serve command: a real process on 127.0.0.1 that records its URL in the state
directory's lock and shuts down cleanly on SIGTERM / SIGINT."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import boto3
import pytest

from localaws.runtime import read_owner
from localaws.server.serve import LocalServer, bind
from workflows.errors import ExitCode

ROOT = Path(__file__).resolve().parents[2]


def start_serve(state_dir: Path, *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "workflows",
            "serve",
            "--state-dir",
            str(state_dir),
            *args,
        ],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def wait_for_url(process: subprocess.Popen[str], state_dir: Path, timeout: float = 60) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert process.poll() is None, process.communicate()[1]
        owner = read_owner(state_dir)
        if owner and owner.get("url"):
            return str(owner["url"])
        time.sleep(0.1)
    raise AssertionError("the server did not record its URL")


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=["sigterm", "sigint"])
def test_serve_process(tmp_path: Path, sig: signal.Signals) -> None:
    process = start_serve(tmp_path, "--port", "0")
    try:
        url = wait_for_url(process, tmp_path)
        assert url.startswith("http://127.0.0.1:")  # this machine only unless told otherwise
        sfn = boto3.client("stepfunctions", endpoint_url=url, region_name="us-east-1")
        assert sfn.list_state_machines()["stateMachines"] == []
        process.send_signal(sig)
        _, stderr = process.communicate(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
    assert process.returncode == 0, stderr
    assert "Traceback" not in stderr
    assert read_owner(tmp_path) is None  # the state directory is released


def test_serve_refuses_a_taken_port(tmp_path: Path) -> None:
    taken = bind("127.0.0.1", 0)
    try:
        port = taken.getsockname()[1]
        process = start_serve(tmp_path, "--port", str(port))
        _, stderr = process.communicate(timeout=60)
    finally:
        taken.close()
    assert process.returncode == ExitCode.PLATFORM
    assert f"127.0.0.1:{port}" in stderr and "--port" in stderr
    assert "Traceback" not in stderr


def test_serve_refuses_an_owned_state_dir(tmp_path: Path) -> None:
    with LocalServer(tmp_path) as running:
        process = start_serve(tmp_path, "--port", "0")
        _, stderr = process.communicate(timeout=60)
    assert process.returncode == ExitCode.STATE_DIR_BUSY
    assert running.url in stderr


def test_local_server_records_url(tmp_path: Path) -> None:
    with LocalServer(tmp_path) as running:
        assert read_owner(tmp_path) == {"pid": os.getpid(), "url": running.url}
    assert read_owner(tmp_path) is None


def test_accepted_connections_have_tcp_nodelay() -> None:
    """asyncio sets TCP_NODELAY on accepted sockets only when the listening socket's proto is
    IPPROTO_TCP; without it every keep-alive response waits for the client's delayed ACK."""
    import asyncio
    import socket

    sock = bind("127.0.0.1", 0)
    seen: list[int] = []

    async def main() -> None:
        async def on_client(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            accepted = writer.get_extra_info("socket")
            seen.append(accepted.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY))
            writer.close()

        server = await asyncio.start_server(on_client, sock=sock)
        async with server:
            reader, writer = await asyncio.open_connection(*sock.getsockname()[:2])
            await reader.read()  # EOF once the server has looked and closed
            writer.close()

    asyncio.run(main())
    assert sock.proto == socket.IPPROTO_TCP
    assert seen and seen[0] != 0


def test_the_server_freezes_what_it_holds_for_its_life(tmp_path: Path) -> None:
    """After start, the modules, models and state the server holds for its life are frozen:
    a full collection no longer walks them while a request waits."""
    program = (
        "import gc, sys\n"
        "from localaws.server.serve import serve\n"
        "serve(sys.argv[1], port=0, on_start=lambda runtime: print("
        "'frozen', gc.get_freeze_count(), flush=True))\n"
    )
    process = subprocess.Popen(
        [sys.executable, "-c", program, str(tmp_path)],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        assert process.stdout is not None
        line = process.stdout.readline()
    finally:
        process.terminate()
        process.wait(60)
    assert line.startswith("frozen ")
    assert int(line.split()[1]) > 10_000  # 0 unless frozen


def test_the_server_parses_http_with_httptools(tmp_path: Path) -> None:
    """uvicorn falls back to h11, pure Python, when httptools is missing: 0.7 ms more CPU
    per request pair through the server (bench/api_server.py)."""
    from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

    with LocalServer(tmp_path) as running:
        assert running._server is not None
        assert running._server.config.http_protocol_class is HttpToolsProtocol


def test_the_server_runs_on_uvloop(tmp_path: Path) -> None:
    """asyncio's own loop (Python) cost the server a third of its CPU per request."""
    import uvloop

    with LocalServer(tmp_path) as running:
        assert running._server is not None
        assert isinstance(running._server.servers[0].get_loop(), uvloop.Loop)
