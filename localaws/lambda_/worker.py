"""Lambda worker processes: the child's main loop and the parent's handle on one worker.

A worker is ``python -I worker.py <fds> <bootstrap JSON>``, started by the runtime with the
function's environment, its code directory as working directory and its own session (so a
kill takes the handler's children too).  It imports only the standard library, never the
``localaws`` package, because a function's code may ship its own ``localaws`` modules and
those must win on ``sys.path``.

Protocol, over two pipes that are not stdin/stdout (those belong to the handler's logs):
each message is a 4-byte big-endian length and a UTF-8 JSON object.

* worker -> parent, once: ``{"ready": true, "init_ms": ...}`` or ``{"ready": false,
  "error": {...}}`` when the handler cannot be loaded (AWS's Runtime.ImportModuleError...).
* parent -> worker: ``{"id", "payload", "deadline_ms", "arn"}``; worker -> parent:
  ``{"ok": bool, "payload": str}`` with the result or AWS's error object.

A third pipe is the lifeline: the worker kills its process group when the parent's end
closes, so workers never outlive the runtime.  Timeouts are enforced by the parent, which
kills the worker (a thread cannot be stopped; a process can); so is ``MemorySize``: the
parent watches the resident memory of the worker and its descendants while an invocation
runs and kills them past it (``Runtime.OutOfMemory``).  When an invocation returns, the
worker kills what else runs in its process group (processes the handler started).
"""

from __future__ import annotations

import contextlib
import json
import os
import select
import signal
import struct
import subprocess
import sys
import threading
import time
import traceback
from collections.abc import Mapping
from pathlib import Path
from typing import Any

_HEADER = struct.Struct(">I")
_READ_CHUNK = 1 << 16
CANCEL_POLL_S = 0.05
MEMORY_POLL_S = 0.05
_PAGE = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096


def tree_rss(pid: int) -> int:
    """Resident bytes of ``pid`` and its descendants (Linux /proc; 0 where unreadable)."""
    total, stack, seen = 0, [pid], set()
    while stack:
        p = stack.pop()
        if p in seen:
            continue
        seen.add(p)
        try:
            with open(f"/proc/{p}/statm") as fh:
                total += int(fh.read().split()[1]) * _PAGE
            for task in os.listdir(f"/proc/{p}/task"):
                with open(f"/proc/{p}/task/{task}/children") as fh:
                    stack.extend(int(c) for c in fh.read().split())
        except (OSError, ValueError, IndexError):
            continue
    return total


def end_process_group_but_me() -> None:
    """Kill every other process of this process's group (what a handler left running)."""
    me = os.getpid()
    group = os.getpgid(0)
    try:
        pids = [int(d) for d in os.listdir("/proc") if d.isdigit()]
    except OSError:
        return
    for pid in pids:
        if pid == me:
            continue
        try:
            with open(f"/proc/{pid}/stat") as fh:
                fields = fh.read().rsplit(")", 1)[1].split()
            if int(fields[2]) == group:  # fields after the name: state, ppid, pgrp
                os.kill(pid, signal.SIGKILL)
        except (OSError, ValueError, IndexError):
            continue


class WorkerTimeout(Exception):
    """The worker did not answer before the deadline (it has been killed)."""


class WorkerExited(Exception):
    """The worker process ended before answering."""

    def __init__(self, returncode: int | None):
        super().__init__(f"worker exited with {returncode}")
        self.returncode = returncode

    def exit_description(self) -> str:
        """As the Lambda service words it: ``exit status 1`` or ``signal: killed``."""
        code = self.returncode
        if code is None:
            return "unknown"
        if code < 0:
            try:
                name = signal.Signals(-code).name.removeprefix("SIG").lower()
            except ValueError:
                name = str(-code)
            return f"signal: {'killed' if name == 'kill' else name}"
        return f"exit status {code}"


class WorkerOutOfMemory(WorkerExited):
    """The worker's processes used more than the function's MemorySize (they were killed)."""

    def __init__(self, used_mb: int, limit_mb: int):
        super().__init__(-signal.SIGKILL)
        self.used_mb = used_mb
        self.limit_mb = limit_mb


class WorkerCancelled(Exception):
    """The caller cancelled the invocation (the worker has been killed)."""


def _encode(message: Mapping[str, Any]) -> bytes:
    body = json.dumps(message, separators=(",", ":")).encode()
    return _HEADER.pack(len(body)) + body


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


# -- the parent's side ---------------------------------------------------------------------


class WorkerProcess:
    """One running worker, owned by the parent; used by one invocation at a time."""

    def __init__(
        self,
        *,
        code_dir: Path,
        handler: str,
        env: Mapping[str, str],
        log_path: Path,
        site_dirs: list[str],
        generation: int,
        memory_mb: int | None = None,
    ):
        """``memory_mb``: the function's MemorySize; an invocation whose processes hold
        more resident memory ends with :class:`WorkerOutOfMemory`."""
        self.generation = generation
        self.memory_mb = memory_mb
        self.log_path = log_path
        log_path.parent.mkdir(parents=True, exist_ok=True)
        req_r, self._req_w = os.pipe()
        self._resp_r, resp_w = os.pipe()
        life_r, self._life_w = os.pipe()
        bootstrap = json.dumps(
            {"code_dir": str(code_dir), "handler": handler, "site_dirs": site_dirs}
        )
        try:
            with open(log_path, "ab") as log:
                self.process = subprocess.Popen(
                    [
                        sys.executable,
                        "-I",
                        __file__,
                        str(req_r),
                        str(resp_w),
                        str(life_r),
                        bootstrap,
                    ],
                    env=dict(env),
                    cwd=code_dir,
                    stdin=subprocess.DEVNULL,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    pass_fds=(req_r, resp_w, life_r),
                    start_new_session=True,
                )
        except BaseException:
            for fd in (self._req_w, self._resp_r, self._life_w):
                os.close(fd)
            raise
        finally:
            for fd in (req_r, resp_w, life_r):
                os.close(fd)
        self._buffer = bytearray()
        self._closed = False

    @property
    def pid(self) -> int:
        return self.process.pid

    def wait_ready(self, timeout_s: float) -> dict[str, Any]:
        """The worker's first message (handler loaded, or the error loading it)."""
        return self._receive(time.monotonic() + timeout_s, None)

    def call(
        self, message: Mapping[str, Any], deadline: float, cancelled: threading.Event | None = None
    ) -> dict[str, Any]:
        """Send one invocation and wait for its answer until ``deadline`` (monotonic)."""
        try:
            _write_all(self._req_w, _encode(message))
        except (BrokenPipeError, OSError):
            raise WorkerExited(self.process.wait()) from None
        return self._receive(deadline, cancelled)

    def _receive(self, deadline: float, cancelled: threading.Event | None) -> dict[str, Any]:
        buf = self._buffer
        while True:
            if len(buf) >= _HEADER.size:
                (size,) = _HEADER.unpack_from(buf)
                if len(buf) >= _HEADER.size + size:
                    body = bytes(buf[_HEADER.size : _HEADER.size + size])
                    del buf[: _HEADER.size + size]
                    return json.loads(body)  # type: ignore[no-any-return]
            left = deadline - time.monotonic()
            if cancelled is not None and cancelled.is_set():
                self.kill()
                raise WorkerCancelled
            if left <= 0:
                self.kill()
                raise WorkerTimeout
            if self.memory_mb is not None:
                used = tree_rss(self.process.pid)
                if used > self.memory_mb << 20:
                    self.kill()
                    raise WorkerOutOfMemory(used >> 20, self.memory_mb)
            wait = left
            if cancelled is not None:
                wait = min(wait, CANCEL_POLL_S)
            if self.memory_mb is not None:
                wait = min(wait, MEMORY_POLL_S)
            ready, _, _ = select.select([self._resp_r], [], [], wait)
            if not ready:
                continue
            chunk = os.read(self._resp_r, _READ_CHUNK)
            if not chunk:
                raise WorkerExited(self._reap())
            buf += chunk

    def _reap(self) -> int | None:
        try:
            return self.process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self.kill()
            return self.process.returncode

    def alive(self) -> bool:
        return not self._closed and self.process.poll() is None

    def kill(self) -> None:
        """Kill the worker and everything it started; idempotent."""
        if self._closed:
            return
        self._closed = True
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.process.pid, signal.SIGKILL)
        try:
            self.process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self.process.kill()
        for fd in (self._req_w, self._resp_r, self._life_w):
            with contextlib.suppress(OSError):
                os.close(fd)


# -- the child's side ----------------------------------------------------------------------


class LambdaContext:
    """The ``context`` argument, with the attributes of AWS's Python runtime."""

    def __init__(self, request_id: str, deadline_ms: int, invoked_function_arn: str):
        env = os.environ
        self.aws_request_id = request_id
        self.invoked_function_arn = invoked_function_arn
        self.function_name = env.get("AWS_LAMBDA_FUNCTION_NAME", "")
        self.function_version = env.get("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
        self.memory_limit_in_mb = env.get("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "")
        self.log_group_name = env.get("AWS_LAMBDA_LOG_GROUP_NAME", "")
        self.log_stream_name = env.get("AWS_LAMBDA_LOG_STREAM_NAME", "")
        self.identity = None
        self.client_context = None
        self._deadline_ms = deadline_ms

    def get_remaining_time_in_millis(self) -> int:
        return max(0, self._deadline_ms - int(time.time() * 1000))

    def log(self, message: str) -> None:
        sys.stdout.write(message)
        sys.stdout.flush()


def error_object(exc: BaseException, request_id: str, *, skip_frames: int = 0) -> dict[str, Any]:
    """AWS's error object for an exception: errorMessage, errorType, requestId, stackTrace."""
    frames = traceback.extract_tb(exc.__traceback__)[skip_frames:]
    return {
        "errorMessage": str(exc),
        "errorType": type(exc).__name__,
        "requestId": request_id,
        "stackTrace": traceback.format_list(frames),
    }


def _runtime_error(error_type: str, message: str, request_id: str = "") -> dict[str, Any]:
    return {
        "errorMessage": message,
        "errorType": error_type,
        "requestId": request_id,
        "stackTrace": [],
    }


def load_handler(spec: str) -> Any:
    """Import ``module.function`` (the module part may be dotted) as AWS's runtime does."""
    import importlib

    try:
        module_name, function_name = spec.rsplit(".", 1)
    except ValueError as e:
        raise _LoadError("Runtime.MalformedHandlerName", f"Bad handler '{spec}': {e}") from e
    if not module_name or not function_name:
        raise _LoadError("Runtime.MalformedHandlerName", f"Bad handler '{spec}'")
    try:
        module = importlib.import_module(module_name.replace("/", "."))
    except ImportError as e:
        raise _LoadError(
            "Runtime.ImportModuleError", f"Unable to import module '{module_name}': {e}"
        ) from e
    except Exception as e:
        raise _LoadError(
            "Runtime.UserCodeSyntaxError" if isinstance(e, SyntaxError) else type(e).__name__,
            f"Unable to import module '{module_name}': {e}"
            if isinstance(e, SyntaxError)
            else str(e),
            traceback.format_list(traceback.extract_tb(e.__traceback__)),
        ) from e
    handler = getattr(module, function_name, None)
    if handler is None:
        raise _LoadError(
            "Runtime.HandlerNotFound",
            f"Handler '{function_name}' missing on module '{module_name}'",
        )
    return handler


class _LoadError(Exception):
    def __init__(self, error_type: str, message: str, stack: list[str] | None = None):
        super().__init__(message)
        self.error_type = error_type
        self.stack = stack or []


def _read_exact(fh: Any, size: int) -> bytes | None:
    data = fh.read(size)
    if len(data) < size:
        return None
    return data  # type: ignore[no-any-return]


def _child_main(argv: list[str]) -> None:
    req_fd, resp_fd, life_fd = (int(a) for a in argv[1:4])
    bootstrap = json.loads(argv[4])

    def lifeline() -> None:
        while os.read(life_fd, 1):
            pass
        os.killpg(os.getpid(), signal.SIGKILL)  # the parent is gone

    threading.Thread(target=lifeline, name="lifeline", daemon=True).start()

    code_dir = bootstrap["code_dir"]
    sys.path.insert(0, code_dir)
    import site

    for directory in bootstrap.get("site_dirs", []):
        if directory not in sys.path:
            site.addsitedir(directory)
    sys.stdout.reconfigure(line_buffering=True)  # type: ignore[union-attr]
    sys.stderr.reconfigure(line_buffering=True)  # type: ignore[union-attr]

    requests = os.fdopen(req_fd, "rb")

    def respond(message: Mapping[str, Any]) -> None:
        _write_all(resp_fd, _encode(message))

    started = time.perf_counter()
    try:
        handler = load_handler(bootstrap["handler"])
    except _LoadError as e:
        error = _runtime_error(e.error_type, str(e))
        error["stackTrace"] = e.stack
        print(f"[ERROR] {e.error_type}: {e}", file=sys.stderr, flush=True)
        respond({"ready": False, "error": error})
        return
    respond({"ready": True, "init_ms": round((time.perf_counter() - started) * 1000, 2)})

    while True:
        header = _read_exact(requests, _HEADER.size)
        if header is None:
            return
        body = _read_exact(requests, _HEADER.unpack(header)[0])
        if body is None:
            return
        message = json.loads(body)
        request_id = message["id"]
        sys.stdout.write(f"START RequestId: {request_id} Version: $LATEST\n")
        t0 = time.perf_counter()
        context = LambdaContext(request_id, message["deadline_ms"], message["arn"])
        try:
            event = json.loads(message["payload"])
            result = handler(event, context)
            try:
                reply = {"ok": True, "payload": json.dumps(result)}
            except (TypeError, ValueError) as e:
                error = _runtime_error(
                    "Runtime.MarshalError", f"Unable to marshal response: {e}", request_id
                )
                reply = {"ok": False, "payload": json.dumps(error)}
        except Exception as e:
            error = error_object(e, request_id, skip_frames=1)
            sys.stdout.write(f"[ERROR] {error['errorType']}: {error['errorMessage']}\n")
            sys.stdout.write("Traceback (most recent call last):\n" + "".join(error["stackTrace"]))
            reply = {"ok": False, "payload": json.dumps(error)}
        duration = (time.perf_counter() - t0) * 1000
        end_process_group_but_me()  # processes the handler started end with its invocation
        sys.stdout.write(
            f"END RequestId: {request_id}\nREPORT RequestId: {request_id}\tDuration: {duration:.2f} ms\t"
            f"Memory Size: {context.memory_limit_in_mb} MB\n"
        )
        sys.stdout.flush()
        sys.stderr.flush()
        respond(reply)


if __name__ == "__main__":
    _child_main(sys.argv)
