"""Warm job workers: a template process with the ML stack imported, that jobs fork from.

Starting a fresh Python that imports xgboost, pandas and pyarrow takes over a second and
200 MB per job; a fork of a process that already has them takes milliseconds and shares the
pages.  :func:`spawn` runs ``[sys.executable, "-m", module, ...]`` and
``[sys.executable, script.py, ...]`` commands as forks of the template (other commands, and
every command when :data:`~localaws.config.ENV_WARM_WORKERS` is ``0``, start as usual with
:class:`subprocess.Popen`), and returns a :class:`WarmProcess` that behaves like a ``Popen``:
``pid``, ``poll``, ``wait``, ``send_signal``, ``kill``, ``stdout``.  Every job's environment
has :data:`JOB_ENVIRONMENT` under its own (OpenMP waits passively: the jobs share the CPUs);
a job that gives another value to a variable an OpenMP runtime reads when it is loaded
(:data:`LOAD_TIME_ENVIRONMENT`) starts as a fresh process, since the template loaded it.

The template (``python -m localaws.sagemaker.forkserver``) is one per runtime process,
started on first use or by :func:`warm`.  Requests come over a UNIX socket pair, with the
child's stdin, stdout, stderr and a status pipe passed as file descriptors; the template
forks, writes the child's pid on the status pipe and, when the child exits, its exit code
(``Popen.returncode`` conventions: ``-N`` for signal N).

Lifelines, as for every child of the runtime: the template reads a pipe whose only writer is
the runtime, and when it reads EOF (the runtime died, however) it SIGKILLs every child's
process group and exits; each child has ``PR_SET_PDEATHSIG`` = SIGKILL on the template.
Each child is a session leader (its own process group), so a job is killed as a group, as
before.
"""

from __future__ import annotations

import array
import atexit
import contextlib
import ctypes
import errno
import gc
import json
import os
import select
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import IO, Any

from localaws import config
from localaws.sagemaker import sandbox

MODULE = "localaws.sagemaker.forkserver"
PRELOAD = (
    "numpy",
    "pandas",
    "pyarrow",
    "pyarrow.csv",
    "scipy.sparse",
    "xgboost",
    # the scikit-learn image's scripts (the featurizer, churn preprocessing and evaluation):
    # ~0.5 s of imports a job would otherwise pay each time
    "sklearn.preprocessing",
    "sklearn.compose",
    "sklearn.metrics",
    "sklearn.model_selection",
    "datasketches",  # the Model Monitor analyzer
    "localaws.sagemaker.codecs",
    "localaws.sagemaker.hyperparameters",
    "localaws.sagemaker.model_server",
    "localaws.sagemaker.xgboost_algorithm",
    "localaws.sagemaker.fm_algorithm",
)
# What every job process's environment says unless the job's own sets it.  Locally the jobs
# share the machine's CPUs (on SageMaker each has its instance): OpenMP's default is to
# spin at each barrier for a while before sleeping, and a spinning thread takes the CPU from
# the job beside it (a 2-thread XGBoost training next to a processing job on 2 CPUs used
# 0.3-3 s of CPU instead of 0.1 s); waiting passively gives it back.
JOB_ENVIRONMENT = {"OMP_WAIT_POLICY": "PASSIVE"}
# Read by an OpenMP runtime once, when it is loaded (the template loads it before any job's
# environment exists): a job whose value differs from the template's starts cold.
LOAD_TIME_ENVIRONMENT = ("OMP_WAIT_POLICY", "GOMP_SPINCOUNT")
START_TIMEOUT_S = 120.0
PR_SET_PDEATHSIG = 1
OPENMP_LIBRARIES = ("libgomp", "libomp", "libiomp")
MAX_MESSAGE = 1 << 20
PACKAGE_ROOT = str(Path(__file__).resolve().parents[2])


def enabled() -> bool:
    return (
        sys.platform.startswith("linux")
        and config.resolve(None, config.ENV_WARM_WORKERS, "1") != "0"
    )


# -- the runtime's side ------------------------------------------------------------------------


class WarmProcess:
    """A child of the template, seen from the runtime like a ``subprocess.Popen``."""

    def __init__(self, args: Sequence[str], pid: int, status: IO[bytes], stdout: IO[bytes] | None):
        self.args = list(args)
        self.pid = pid
        self.stdout = stdout
        self.returncode: int | None = None
        self._status = status
        self._lock = threading.Lock()

    def _read_status(self, timeout: float | None) -> None:
        with self._lock:
            if self.returncode is not None:
                return
            ready, _, _ = select.select([self._status], [], [], timeout)
            if not ready:
                return
            data = self._status.read()  # the exit code, then EOF
            self._status.close()
            try:
                self.returncode = int(data)
            except ValueError:  # the template died before it could report: lost with it
                self.returncode = -signal.SIGKILL

    def poll(self) -> int | None:
        self._read_status(0)
        return self.returncode

    def wait(self, timeout: float | None = None) -> int:
        deadline = None if timeout is None else time.monotonic() + timeout
        while self.returncode is None:
            left = None if deadline is None else deadline - time.monotonic()
            if left is not None and left <= 0:
                raise subprocess.TimeoutExpired(self.args, timeout or 0)
            self._read_status(left)
        return self.returncode

    def send_signal(self, sig: int) -> None:
        if self.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.pid, sig)

    def terminate(self) -> None:
        self.send_signal(signal.SIGTERM)

    def kill(self) -> None:
        self.send_signal(signal.SIGKILL)


class ForkServer:
    """The runtime's handle on the template process."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._proc: subprocess.Popen[bytes] | None = None
        self._sock: socket.socket | None = None
        self._lifeline: int | None = None

    def _start(self) -> socket.socket:
        if self._proc is not None and self._proc.poll() is None and self._sock is not None:
            return self._sock
        self._stop()
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        life_r, life_w = os.pipe()  # the runtime holds the only writer: its death is EOF
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(p for p in (PACKAGE_ROOT, env.get("PYTHONPATH")) if p)
        for name in LOAD_TIME_ENVIRONMENT:
            env.pop(name, None)
        env.update(JOB_ENVIRONMENT)
        try:
            proc = subprocess.Popen(
                [sys.executable, "-m", MODULE, str(theirs.fileno()), str(life_r)],
                pass_fds=(theirs.fileno(), life_r),
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                env=env,
                start_new_session=True,
            )
        finally:
            theirs.close()
            os.close(life_r)
        ours.settimeout(START_TIMEOUT_S)
        try:
            ready = ours.recv(16)
        except OSError:
            ready = b""
        if ready != b"ready\n":
            proc.kill()
            proc.wait()
            ours.close()
            os.close(life_w)
            raise OSError(errno.ECHILD, "the job template process did not start")
        ours.settimeout(None)
        self._proc, self._sock, self._lifeline = proc, ours, life_w
        return ours

    def spawn(
        self,
        args: Sequence[str],
        *,
        env: Mapping[str, str],
        cwd: str | os.PathLike[str],
        stdin: int,
        stdout: int,
        stderr: int,
        stdout_pipe: IO[bytes] | None = None,
        opt_ml: Path | sandbox.Sandbox | None = None,
    ) -> WarmProcess:
        """Fork ``args`` from the template with these file descriptors as 0, 1, 2 (and, with
        ``opt_ml``, in a mount namespace where that directory is /opt/ml: ``cwd`` is then the
        path the job sees)."""
        status_r, status_w = os.pipe()
        request: dict[str, Any] = {"args": list(args), "env": dict(env), "cwd": os.fspath(cwd)}
        if opt_ml is not None:
            box = opt_ml if isinstance(opt_ml, sandbox.Sandbox) else sandbox.Sandbox(opt_ml)
            request["opt_ml"] = os.fspath(box.root)
            request["sandbox"] = box.to_json()
        message = json.dumps(request)
        try:
            with self._lock:
                sock = self._start()
                fds = array.array("i", [stdin, stdout, stderr, status_w])
                payload = message.encode()
                sock.sendmsg(
                    [len(payload).to_bytes(4, "big"), payload],
                    [(socket.SOL_SOCKET, socket.SCM_RIGHTS, fds)],
                )
        except BaseException:
            os.close(status_r)
            raise
        finally:
            os.close(status_w)
        status = os.fdopen(status_r, "rb")
        line = status.readline()
        if not line.strip():
            status.close()
            raise OSError(errno.ECHILD, f"the job template could not start {args[1]!r}")
        return WarmProcess(args, int(line), status, stdout_pipe)

    def _stop(self) -> None:
        if self._lifeline is not None:
            os.close(self._lifeline)  # the template kills its children and exits
            self._lifeline = None
        if self._sock is not None:
            self._sock.close()
            self._sock = None
        if self._proc is not None:
            try:
                self._proc.wait(10)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait()
            self._proc = None

    def stop(self) -> None:
        with self._lock:
            self._stop()


_SERVER = ForkServer()
atexit.register(_SERVER.stop)


def start() -> None:
    """Start the template now (when warm workers are enabled) and wait until it is ready."""
    if enabled():
        with _SERVER._lock:
            _SERVER._start()


def warm() -> None:
    """Start the template in the background (so that the first job finds it ready)."""

    def run() -> None:
        with contextlib.suppress(OSError):
            start()

    threading.Thread(target=run, name="job template", daemon=True).start()


def forkable(command: Sequence[str]) -> bool:
    """``python -m module ...`` or ``python script.py ...`` with this interpreter."""
    return (
        len(command) >= 2
        and command[0] == sys.executable
        and ((command[1] == "-m" and len(command) >= 3) or not command[1].startswith("-"))
    )


def job_environment(env: Mapping[str, str]) -> dict[str, str]:
    """``env`` with :data:`JOB_ENVIRONMENT`'s defaults under it."""
    return {**JOB_ENVIRONMENT, **env}


def warm_compatible(env: Mapping[str, str]) -> bool:
    """Whether a fork of the template runs as a fresh process with ``env`` would: its
    :data:`LOAD_TIME_ENVIRONMENT` is the template's."""
    return all(env.get(name) == JOB_ENVIRONMENT.get(name) for name in LOAD_TIME_ENVIRONMENT)


def spawn(
    command: Sequence[str],
    *,
    env: Mapping[str, str],
    cwd: str | os.PathLike[str],
    stdout: IO[bytes] | int | None,
    stderr: IO[bytes] | int | None,
    opt_ml: Path | sandbox.Sandbox | None = None,
) -> WarmProcess | subprocess.Popen[bytes]:
    """Start ``command`` in a new session (its own process group), stdin from /dev/null, with
    ``env`` over :data:`JOB_ENVIRONMENT`; ``stdout`` and ``stderr`` are files, None /
    ``DEVNULL`` (discarded), ``subprocess.PIPE`` (stdout only) or ``STDOUT`` (stderr only).

    With ``opt_ml`` (a job's directory, or a :class:`sandbox.Sandbox`; only when
    :func:`sandbox.available`) the command runs in a mount namespace where that directory is
    /opt/ml, in the directory the job sees for ``cwd``: a warm fork enters it itself
    (:func:`sandbox.enter`), any other command runs under bwrap."""
    root = opt_ml.root if isinstance(opt_ml, sandbox.Sandbox) else opt_ml
    env = job_environment(env)
    if not (enabled() and forkable(command) and warm_compatible(env)):
        if opt_ml is not None and root is not None:
            wrapped = sandbox.wrap(command, opt_ml, chdir=sandbox.container_path(cwd, root))
            if wrapped is None:
                raise OSError(
                    errno.ENOSYS, f"no mount namespace here: {sandbox.unavailable_reason()}"
                )
            command = wrapped
        from localaws import lifeline

        return lifeline.popen(  # in a new session, killed with its group if the runtime dies
            list(command),
            cwd=cwd,
            env=dict(env),
            stdin=subprocess.DEVNULL,
            stdout=stdout,
            stderr=stderr,
        )
    devnull = os.open(os.devnull, os.O_RDWR)
    pipe_r = pipe_w = None
    if stdout == subprocess.PIPE:
        pipe_r, pipe_w = os.pipe()
    out_fd = _fd(stdout, pipe_w, devnull)
    err_fd = out_fd if stderr == subprocess.STDOUT else _fd(stderr, None, devnull)
    try:
        proc = _SERVER.spawn(
            command,
            env=env,
            cwd=cwd if root is None else sandbox.container_path(cwd, root),
            opt_ml=opt_ml,
            stdin=devnull,
            stdout=out_fd,
            stderr=err_fd,
            stdout_pipe=None if pipe_r is None else os.fdopen(pipe_r, "rb", buffering=0),
        )
    except BaseException:
        if pipe_r is not None:
            os.close(pipe_r)
        raise
    finally:
        os.close(devnull)
        if pipe_w is not None:
            os.close(pipe_w)
    return proc


def _fd(target: IO[bytes] | int | None, pipe: int | None, devnull: int) -> int:
    if target == subprocess.PIPE and pipe is not None:
        return pipe
    if target is None or target == subprocess.DEVNULL:
        return devnull
    if isinstance(target, int):
        raise ValueError(f"unsupported stdout/stderr {target} for a warm worker")
    return target.fileno()


# -- the template's side -------------------------------------------------------------------


def _recv_request(sock: socket.socket) -> tuple[dict[str, Any], list[int]] | None:
    fds = array.array("i")
    head, ancdata, _, _ = sock.recvmsg(4, socket.CMSG_SPACE(4 * fds.itemsize))
    if not head:
        return None
    for level, kind, data in ancdata:
        if level == socket.SOL_SOCKET and kind == socket.SCM_RIGHTS:
            fds.frombytes(data[: len(data) - (len(data) % fds.itemsize)])
    size = int.from_bytes(head, "big")
    body = b""
    while len(body) < size:
        chunk = sock.recv(min(size - len(body), MAX_MESSAGE))
        if not chunk:
            return None
        body += chunk
    return json.loads(body), list(fds)


def _child(request: dict[str, Any], fds: list[int], template: int) -> None:
    """In the forked child: become the job's process, run it, never return."""
    code = 1
    try:
        signal.set_wakeup_fd(-1)
        for sig in (signal.SIGCHLD, signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, signal.SIG_DFL)
        os.setsid()
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
        if os.getppid() != template:  # the template died before prctl took effect
            os._exit(1)
        for target, fd in enumerate(fds[:3]):
            os.dup2(fd, target)
        os.closerange(3, 1 << 16)
        env = request["env"]
        if request.get("opt_ml"):
            _enter_sandbox(request)
        os.chdir(request["cwd"])
        os.environ.clear()
        os.environ.update(env)
        _apply_thread_count(env)
        for entry in reversed([p for p in env.get("PYTHONPATH", "").split(os.pathsep) if p]):
            if entry not in sys.path:
                sys.path.insert(0, entry)
        if env.get("PYTHONUNBUFFERED"):
            import io

            sys.stdout = io.TextIOWrapper(
                io.FileIO(1, "w", closefd=False), write_through=True, line_buffering=True
            )
            sys.stderr = io.TextIOWrapper(
                io.FileIO(2, "w", closefd=False),
                write_through=True,
                line_buffering=True,
                errors="backslashreplace",
            )
        import random

        random.seed()
        if "numpy" in sys.modules:
            sys.modules["numpy"].random.seed()
        code = _run(request["args"])
    except SystemExit as e:
        code = _exit_code(e)
    except BaseException:
        import traceback

        traceback.print_exc()
        code = 1
    finally:
        with contextlib.suppress(BaseException):
            atexit._run_exitfuncs()
        for stream in (sys.stdout, sys.stderr):
            with contextlib.suppress(BaseException):
                stream.flush()
        os._exit(code)


def _enter_sandbox(request: dict[str, Any]) -> None:
    """Show the job's directory at /opt/ml to this child; where the kernel refuses an
    in-process namespace, exec bwrap with the command instead (cold, same paths)."""
    root: Path | sandbox.Sandbox = Path(request["opt_ml"])
    if request.get("sandbox"):
        root = sandbox.Sandbox.from_json(request["sandbox"])
    try:
        sandbox.enter(root)
    except OSError as e:
        bwrap = shutil.which("bwrap")
        if bwrap is None:
            raise
        print(f"warm worker: {e}; running the job under bwrap instead", file=sys.stderr)
        args = [*sandbox.base_args(bwrap, root), "--chdir", request["cwd"], "--", *request["args"]]
        os.execve(bwrap, args, request["env"])


def _openmp_libraries() -> list[str]:
    """The OpenMP runtimes this process has loaded (xgboost's libgomp, for one)."""
    found = []
    with contextlib.suppress(OSError), open("/proc/self/maps") as maps:
        for line in maps:
            path = line.rsplit(None, 1)[-1] if "/" in line else ""
            name = os.path.basename(path)
            if name.startswith(OPENMP_LIBRARIES) and path not in found:
                found.append(path)
    return found


def _apply_thread_count(env: Mapping[str, str]) -> None:
    """An OpenMP runtime reads ``OMP_NUM_THREADS`` once, when it is loaded: the template
    loaded it before this job's environment existed, so the job's value is set through the
    runtime's API (what a fresh process would have read)."""
    try:
        threads = int(env.get("OMP_NUM_THREADS", "").split(",")[0])
    except ValueError:
        return
    if threads <= 0:
        return
    for path in _openmp_libraries():
        with contextlib.suppress(OSError, AttributeError):
            lib = ctypes.CDLL(path, mode=os.RTLD_NOLOAD | os.RTLD_LOCAL)
            lib.omp_set_num_threads(ctypes.c_int(threads))


def _exit_code(e: SystemExit) -> int:
    if e.code is None:
        return 0
    if isinstance(e.code, int):
        return e.code
    print(e.code, file=sys.stderr)
    return 1


def _run(args: list[str]) -> int:
    import runpy

    if args[1] == "-m":
        sys.argv = [args[2], *args[3:]]
        sys.path.insert(0, os.getcwd())
        import warnings

        with warnings.catch_warnings():  # the template preloaded it: runpy warns, needlessly
            warnings.filterwarnings("ignore", "'.*' found in sys.modules", RuntimeWarning)
            runpy.run_module(args[2], run_name="__main__", alter_sys=True)
    else:
        sys.argv = args[1:]
        sys.path.insert(0, str(Path(args[1]).resolve().parent))
        runpy.run_path(args[1], run_name="__main__")
    return 0


def _serve(sock: socket.socket, lifeline: int) -> None:
    template = os.getpid()
    wake_r, wake_w = os.pipe()
    os.set_blocking(wake_w, False)
    signal.set_wakeup_fd(wake_w)
    signal.signal(signal.SIGCHLD, lambda *_: None)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)  # we stop when the lifeline closes
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # a Ctrl-C in the runtime's terminal
    children: dict[int, int] = {}  # pid -> status pipe writer

    def reap() -> None:
        while children:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                return
            if pid == 0:
                return
            fd = children.pop(pid, None)
            if fd is not None:
                with contextlib.suppress(OSError):
                    os.write(fd, b"%d" % os.waitstatus_to_exitcode(status))
                os.close(fd)

    sock.sendall(b"ready\n")
    while True:
        try:
            ready, _, _ = select.select([sock.fileno(), lifeline, wake_r], [], [])
        except InterruptedError:
            continue
        if wake_r in ready:
            os.read(wake_r, 4096)
        reap()
        if lifeline in ready and not os.read(lifeline, 1):
            break
        if sock.fileno() in ready:
            request = _recv_request(sock)
            if request is None:
                break
            body, fds = request
            status_fd = fds[3]
            gc.freeze()  # all the template holds: shared with the fork, never walked by it
            pid = os.fork()
            if pid == 0:
                sock.close()
                gc.enable()
                _child(body, fds, template)
            for fd in fds[:3]:
                os.close(fd)
            children[pid] = status_fd
            os.write(status_fd, b"%d\n" % pid)
    for pid in list(children):  # the runtime is gone: so are its jobs
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(pid, signal.SIGKILL)
    os._exit(0)


def main(argv: list[str]) -> None:
    sock = socket.socket(fileno=int(argv[0]))
    lifeline = int(argv[1])
    import importlib

    # Python's recipe for a process that forks without exec: the collector off in the
    # template (no freed holes in the preloaded modules' pages; it makes little garbage
    # between forks), gc.freeze() before each fork and the collector on in the child, so a
    # fork's collections never walk (nor write to) the ~1M objects it shares with the
    # template: shorter pauses in model servers and jobs, fewer pages copied on write.
    gc.disable()
    for name in PRELOAD:
        with contextlib.suppress(ImportError):
            importlib.import_module(name)
    _serve(sock, lifeline)


if __name__ == "__main__":
    main(sys.argv[1:])
