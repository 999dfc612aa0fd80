"""Run the local server: one process that owns a state directory and serves it over HTTP.

:func:`serve` runs in the foreground until SIGINT/SIGTERM (``python -m workflows serve``);
:class:`LocalServer` runs the same server in a background thread (tests, notebooks).  Both
bind the socket before taking the state directory, so a taken port fails fast with a
:class:`~localaws.errors.PlatformError`, and both write the server's URL into the state
directory's lock file, where :func:`localaws.runtime.read_owner` finds it.
"""

from __future__ import annotations

import logging
import os
import signal
import socket
import threading
import time
from types import FrameType, TracebackType

import uvicorn

from localaws import config
from localaws.errors import PlatformError
from localaws.runtime import Runtime
from localaws.server.app import create_app

log = logging.getLogger(__name__)

STARTUP_TIMEOUT_S = 30.0


def bind(host: str, port: int) -> socket.socket:
    """A listening socket on ``host:port`` (port 0: a free one).

    Created with ``IPPROTO_TCP`` so that asyncio sets ``TCP_NODELAY`` on every accepted
    connection (it only does for sockets whose ``proto`` says TCP); without it each response
    on a keep-alive connection waits out the client's delayed ACK (about 40 ms on Linux).
    """
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)  # inherited by accepted sockets
    try:
        sock.bind((host, port))
    except OSError as e:
        sock.close()
        raise PlatformError(
            f"cannot listen on {host}:{port} ({e.strerror}); stop whatever uses the port or "
            "choose another with --port"
        ) from e
    sock.listen(128)
    sock.set_inheritable(True)
    return sock


def url_of(sock: socket.socket) -> str:
    host, port = sock.getsockname()[:2]
    return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"


class _Server(uvicorn.Server):
    """uvicorn's server, except that SIGINT/SIGTERM make ``run()`` return instead of being
    raised again after the graceful shutdown, so that the caller closes the runtime (stops
    executions, endpoints and workers) and exits 0."""

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        if self.should_exit and sig == signal.SIGINT:
            self.force_exit = True  # a second Ctrl-C: stop waiting for open connections
        self.should_exit = True


def _server(runtime: Runtime, log_level: str) -> uvicorn.Server:
    return _Server(
        uvicorn.Config(
            create_app(runtime),
            log_level=log_level,
            access_log=False,
            lifespan="off",
            timeout_graceful_shutdown=5,
        )
    )


def serve(
    state_dir: str | os.PathLike[str] | None = None,
    *,
    host: str = config.DEFAULT_HOST,
    port: int = config.DEFAULT_PORT,
    log_level: str = "warning",
) -> None:
    """Own ``state_dir`` and serve its APIs and console on ``host:port`` until SIGINT/SIGTERM;
    then stop executions, endpoints and workers and release the state directory."""
    sock = bind(host, port)
    runtime = Runtime(state_dir)
    try:
        url = url_of(sock)
        runtime.start(url=url)
        log.warning("serving %s on %s", runtime.state_dir, url)
        # uvicorn turns SIGINT/SIGTERM into a graceful shutdown and returns from run()
        _server(runtime, log_level).run(sockets=[sock])
        log.warning("stopping: closing executions, endpoints and workers")
    finally:
        sock.close()
        runtime.close()


class LocalServer:
    """The server in a background thread: ``with LocalServer(tmp) as s: boto3.client(...,
    endpoint_url=s.url)``."""

    def __init__(
        self,
        state_dir: str | os.PathLike[str] | None = None,
        *,
        host: str = config.DEFAULT_HOST,
        port: int = 0,
        log_level: str = "warning",
    ):
        self.runtime = Runtime(state_dir)
        self.host = host
        self.port = port
        self.log_level = log_level
        self.url = ""
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None

    def start(self) -> LocalServer:
        sock = bind(self.host, self.port)
        try:
            self.url = url_of(sock)
            self.runtime.start(url=self.url)
        except BaseException:
            sock.close()
            raise
        server = _server(self.runtime, self.log_level)
        self._server = server
        self._thread = threading.Thread(
            target=server.run, kwargs={"sockets": [sock]}, name="localaws-server", daemon=True
        )
        self._thread.start()
        deadline = time.monotonic() + STARTUP_TIMEOUT_S
        while not server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                self.stop()
                raise PlatformError(f"the local server on {self.url} did not start")
            time.sleep(0.02)
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout=15)
        self._server = self._thread = None
        self.runtime.close()

    def __enter__(self) -> LocalServer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
