"""Run the local server: one process that owns a state directory and serves it over HTTP.

:func:`serve` runs in the foreground until SIGINT/SIGTERM (``python -m workflows serve``);
:class:`LocalServer` runs the same server in a background thread (tests, notebooks).  Both
bind the socket before taking the state directory, so a taken port fails fast with a
:class:`~localaws.errors.PlatformError`, and both write the server's URL into the state
directory's lock file, where :func:`localaws.runtime.read_owner` finds it.

Every request passes :class:`localaws.server.guard.Guard` first.  The server runs code on
request, so it binds a loopback address unless told ``allow_remote``; with a credentials file
(``--credentials`` / ``LOCALAWS_CREDENTIALS``) it verifies every request's signature.
"""

from __future__ import annotations

import gc
import logging
import os
import signal
import socket
import threading
import time
from collections.abc import Callable
from pathlib import Path
from types import FrameType, TracebackType

import uvicorn

from localaws import config
from localaws.errors import PlatformError, UserError
from localaws.runtime import Runtime
from localaws.server.app import create_app
from localaws.server.guard import Guard, Policy, is_loopback
from localaws.server.sigv4 import first_pair, load_credentials

log = logging.getLogger(__name__)

STARTUP_TIMEOUT_S = 30.0


REMOTE_WARNING = (
    "--host {host} is not a loopback address: anyone who can reach this port can run code on "
    "this machine through the server (Lambda handlers, training scripts) and read its data"
)


def check_host(host: str, *, allow_remote: bool, credentials: os.PathLike[str] | None) -> None:
    """Refuse a non-loopback address unless ``allow_remote``; warn when allowed."""
    if is_loopback(host):
        return
    warning = REMOTE_WARNING.format(host=host)
    if not allow_remote:
        raise UserError(
            f"{warning}. Bind 127.0.0.1 (the default), or pass --allow-remote to accept the "
            "risk (with --credentials FILE, so that only signed requests from listed keys run)"
        )
    log.warning("WARNING: %s%s", warning, "" if credentials else "; no --credentials given")


def bind(host: str, port: int) -> socket.socket:
    """A listening socket on ``host:port`` (port 0: a free one).

    Created with ``IPPROTO_TCP`` so that asyncio sets ``TCP_NODELAY`` on every accepted
    connection (it only does for sockets whose ``proto`` says TCP); without it each response
    on a keep-alive connection waits out the client's delayed ACK (about 40 ms on Linux).
    """
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    # Accepted connections inherit it.  asyncio sets TCP_NODELAY itself only on sockets made
    # with proto=IPPROTO_TCP; without it a response's headers and body leave as two segments
    # and the second waits for the client's delayed ACK: 40 ms per request.
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
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


def guarded_app(
    runtime: Runtime,
    sock: socket.socket,
    *,
    allow_remote: bool,
    secrets: dict[str, str] | None,
) -> Guard:
    """The server's ASGI app behind its guard, for the address ``sock`` is bound to;
    ``secrets`` (access key -> secret) makes it verify signatures."""
    host, port = sock.getsockname()[:2]
    policy = Policy.create(
        port=port,
        bound_host=host,
        allow_remote=allow_remote,
        secrets=secrets,
        state_dir=runtime.state_dir,
    )
    return Guard(create_app(runtime), policy)


# uvicorn's HTTP/1.1 parser: httptools (C, llhttp).  h11, uvicorn's pure-Python fallback,
# took about 0.7 ms of the server's 1.7 ms of CPU per StartExecution+DescribeExecution pair.
HTTP_IMPLEMENTATION = "httptools"
# uvloop (libuv, C) runs the event loop.  asyncio's loop and transports are Python, on the
# thread every request passes through, and each socket send/recv there releases the GIL to a
# worker thread and waits to get it back: 8 threads of StartExecution+DescribeExecution,
# 583 -> 783 pairs/s, server CPU per pair 1.54 -> 0.97 ms (medians of 4 interleaved runs).
# "auto": uvloop where it is installed (not on Windows, which it does not support), else asyncio.
LOOP_IMPLEMENTATION = "auto"


def _server(app: Guard, log_level: str) -> uvicorn.Server:
    return _Server(
        uvicorn.Config(
            app,
            http=HTTP_IMPLEMENTATION,
            loop=LOOP_IMPLEMENTATION,
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
    allow_remote: bool = False,
    credentials: str | os.PathLike[str] | None = None,
    on_start: Callable[[Runtime], None] | None = None,
) -> None:
    """Own ``state_dir`` and serve its APIs and console on ``host:port`` until SIGINT/SIGTERM;
    then stop executions, endpoints and workers and release the state directory.

    ``on_start(runtime)`` runs in a thread once the runtime has started, while requests are
    served (``python -m workflows serve`` registers the shipped use cases there, so a fresh
    console lists them: the runtime itself never imports ``workflows``); its failure is
    logged as an error and the server keeps serving.

    A non-loopback ``host`` is refused unless ``allow_remote``; ``credentials`` (default:
    ``LOCALAWS_CREDENTIALS``) is a credentials file whose keys the server verifies."""
    credentials_file = config.credentials_file(credentials)
    check_host(host, allow_remote=allow_remote, credentials=credentials_file)
    secrets = _secrets(credentials_file)
    sock = bind(host, port)
    runtime = Runtime(state_dir, credentials=first_pair(secrets) if secrets else None)
    try:
        url = url_of(sock)
        app = guarded_app(runtime, sock, allow_remote=allow_remote, secrets=secrets)
        runtime.start(url=url)
        settle_heap()
        if on_start is not None:
            threading.Thread(
                target=_run_on_start, args=(on_start, runtime), name="on-start", daemon=True
            ).start()
        log.warning("serving %s on %s", runtime.state_dir, url)
        log.warning("console: %s", app.policy.console_url(url))
        # uvicorn turns SIGINT/SIGTERM into a graceful shutdown and returns from run()
        _server(app, log_level).run(sockets=[sock])
        log.warning("stopping: closing executions, endpoints and workers")
    finally:
        sock.close()
        runtime.close()


def settle_heap() -> None:
    """Collect once, then freeze what is left: the modules, service models and state the
    server holds for its life (~450,000 objects) leave the collector's generations, so a full
    collection no longer walks them while a request waits (one took 100-500 ms)."""
    gc.collect()
    gc.freeze()


def _run_on_start(hook: Callable[[Runtime], None], runtime: Runtime) -> None:
    try:
        hook(runtime)
        settle_heap()  # the use cases it registered, and the SDK that built them
    except Exception as e:  # the server serves on; the operator sees why the extras are missing
        log.warning(
            "the start hook %s failed (the server serves on without it): %s: %s",
            getattr(hook, "__qualname__", hook),
            type(e).__name__,
            e,
        )


def _secrets(credentials: Path | None) -> dict[str, str] | None:
    """Access key -> secret from the credentials file; None (any key) without one."""
    return None if credentials is None else load_credentials(credentials)


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
        allow_remote: bool = False,
        credentials: str | os.PathLike[str] | None = None,
    ):
        self.credentials = config.credentials_file(credentials)
        check_host(host, allow_remote=allow_remote, credentials=self.credentials)
        self.allow_remote = allow_remote
        self.secrets = _secrets(self.credentials)
        self.runtime = Runtime(
            state_dir, credentials=first_pair(self.secrets) if self.secrets else None
        )
        self.host = host
        self.port = port
        self.log_level = log_level
        self.url = ""
        self.console_url = ""
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None

    def start(self) -> LocalServer:
        sock = bind(self.host, self.port)
        try:
            self.url = url_of(sock)
            app = guarded_app(
                self.runtime, sock, allow_remote=self.allow_remote, secrets=self.secrets
            )
            self.console_url = app.policy.console_url(self.url)
            self.runtime.start(url=self.url)
        except BaseException:
            sock.close()
            raise
        server = _server(app, self.log_level)
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


class PrivateListener:
    """The APIs of an in-process runtime on a free loopback port, for its child processes
    (Lambda workers reach DynamoDB, SQS... through ``AWS_ENDPOINT_URL``).  Not recorded in
    the lock file: the runtime stays in-process, commands do not go through it."""

    def __init__(self, runtime: Runtime, host: str = config.DEFAULT_HOST):
        self.runtime = runtime
        self.host = host
        self.url = ""
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None

    def start(self) -> PrivateListener:
        sock = bind(self.host, 0)
        self.url = url_of(sock)
        # Behind the same guard as the server: its workers sign with the runtime's key pair,
        # verified when a credentials file is configured.
        app = guarded_app(
            self.runtime, sock, allow_remote=False, secrets=_secrets(config.credentials_file())
        )
        server = _server(app, "warning")
        self._server = server
        self._thread = threading.Thread(
            target=server.run,
            kwargs={"sockets": [sock]},
            name="localaws-private-listener",
            daemon=True,
        )
        self._thread.start()
        deadline = time.monotonic() + STARTUP_TIMEOUT_S
        while not server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                self.stop()
                raise PlatformError(f"the runtime's private listener on {self.url} did not start")
            time.sleep(0.02)
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout=15)
        self._server = self._thread = None


def private_listener(runtime: Runtime) -> PrivateListener:
    """``Runtime(api_listener=private_listener)``: the runtime's APIs on a free loopback
    port, for its Lambda workers, when no server owns it."""
    return PrivateListener(runtime).start()
