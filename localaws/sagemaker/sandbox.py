"""Exact container paths: a job's process sees its directory at ``/opt/ml``.

On Linux where bubblewrap (``bwrap``, Debian package ``bubblewrap``; ``make tools`` installs
it) can build a mount namespace, a training script or processing command runs in its own
mount namespace where ``/opt/ml`` is the job's directory, so ``/opt/ml/processing/input/...``,
``/opt/ml/input/data/train`` and ``/opt/ml/model`` are exactly where a script written for the
container looks.  The rest of the file system is the host's (the interpreter, the packages,
/tmp); ``/opt`` itself is a fresh tmpfs with the host's ``/opt`` entries bound back in (unless
the host has an ``/opt/ml`` directory to mount over), so nothing is created on the host.

Two ways into that namespace, one layout:

- a warm worker (:mod:`localaws.sagemaker.forkserver`) is a fork of an already-started
  interpreter; the forked child calls :func:`enter` before it runs the job: ``unshare`` of a
  user and a mount namespace (no root needed, the child is single-threaded after ``fork``),
  its own uid and gid mapped to themselves, then the same mounts bwrap makes.  If the kernel
  refuses that but bwrap works (bwrap may be allowed where plain ``unshare`` is not), the
  child execs :func:`wrap` of its command instead: cold, but with the same paths.
- any other command (not this interpreter, or warm workers off) runs as
  ``bwrap ... -- command`` (:func:`wrap`), with ``--die-with-parent``.

A model server (an endpoint's or a transform job's) runs in a *sealed* namespace
(:class:`Sandbox` with ``sealed=True`` and ``read_only=("model",)``): ``/opt/ml/model`` is its
model directory, read-only as in SageMaker's inference containers, the rest of the file
system is read-only, and only its own ``/opt/ml`` and a private ``/tmp`` and ``/dev/shm`` are
writable.

Elsewhere (not Linux, no bwrap, or bwrap refused by the kernel) :func:`unavailable_reason` says
why; the caller rewrites ``/opt/ml`` paths in the arguments and the SM_* environment and says
so in the job log (:data:`FALLBACK_NOTE`).
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import shutil
import subprocess
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache
from pathlib import Path

CONTAINER_ROOT = "/opt/ml"
SANDBOX_NOTE = "Running in a mount namespace: /opt/ml is this job's directory {root}\n"
FALLBACK_NOTE = (
    "bubblewrap (bwrap) is not available here ({reason}): /opt/ml paths in the arguments and "
    "the SM_* environment are rewritten to this job's directory {root}; a script that opens "
    "/opt/ml/... by a path of its own will not find it (on Linux: apt-get install bubblewrap)\n"
)

# <sched.h>, <sys/mount.h>
CLONE_NEWNS = 0x00020000
CLONE_NEWUSER = 0x10000000
MS_NOSUID = 2
MS_NODEV = 4
MS_BIND = 4096
MS_REC = 16384
MS_PRIVATE = 1 << 18
# <linux/mount.h>: mount_setattr(2), the same number on every architecture
SYS_MOUNT_SETATTR = 442
AT_FDCWD = -100
AT_RECURSIVE = 0x8000
MOUNT_ATTR_RDONLY = 0x1
PRIVATE_TMP = ("/tmp", "/dev/shm")


@dataclass(frozen=True)
class Sandbox:
    """What a process sees: ``root`` at /opt/ml, with ``read_only`` subdirectories of it
    (``"model"``) read-only; ``sealed``: everything else read-only too, except /opt/ml and a
    private /tmp and /dev/shm."""

    root: Path
    read_only: tuple[str, ...] = ()
    sealed: bool = False
    visible: tuple[str, ...] = ()  # host paths the process reads although under a private /tmp

    def to_json(self) -> dict[str, object]:
        return {
            "root": str(self.root),
            "read_only": list(self.read_only),
            "sealed": self.sealed,
            "visible": list(self.visible),
        }

    @classmethod
    def from_json(cls, data: dict[str, object]) -> Sandbox:
        read_only, visible = data.get("read_only") or [], data.get("visible") or []
        assert isinstance(read_only, list) and isinstance(visible, list)
        return cls(
            Path(str(data["root"])),
            tuple(str(r) for r in read_only),
            bool(data["sealed"]),
            tuple(str(v) for v in visible),
        )

    def shown_again(self) -> list[str]:
        """The ``visible`` paths a private /tmp or /dev/shm would hide (bound back, read-only)."""
        if not self.sealed:
            return []
        paths = {os.path.realpath(v) for v in self.visible}
        hidden = [
            v
            for v in paths
            if any(Path(v).is_relative_to(t) for t in PRIVATE_TMP) and os.path.exists(v)
        ]
        # a path under another one is shown with it
        return sorted(
            v for v in hidden if not any(v != o and Path(v).is_relative_to(o) for o in hidden)
        )


def _as_sandbox(where: Path | Sandbox) -> Sandbox:
    return where if isinstance(where, Sandbox) else Sandbox(Path(where))


def _probe(bwrap: str) -> str | None:
    """None when bwrap can build the namespace here, else why not."""
    try:
        done = subprocess.run(
            [*base_args(bwrap, Path("/")), "--", "/bin/sh", "-c", "test -d /opt/ml"],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            timeout=30,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired) as e:
        return f"bwrap did not run: {e}"
    if done.returncode != 0:
        detail = done.stderr.decode(errors="replace").strip().splitlines()
        return f"bwrap failed: {detail[-1] if detail else f'exit code {done.returncode}'}"
    return None


@cache
def unavailable_reason() -> str | None:
    """None when jobs can run with exact container paths, else the reason they cannot."""
    if not sys.platform.startswith("linux"):
        return f"not Linux ({sys.platform})"
    bwrap = shutil.which("bwrap")
    if bwrap is None:
        return "bwrap is not installed"
    if not Path("/opt").is_dir():
        return "there is no /opt directory to mount /opt/ml under"
    return _probe(bwrap)


def available() -> bool:
    return unavailable_reason() is None


def base_args(bwrap: str, where: Path | Sandbox) -> list[str]:
    box = _as_sandbox(where)
    args = [bwrap, "--ro-bind" if box.sealed else "--bind", "/", "/", "--dev", "/dev"]
    args += ["--proc", "/proc"]
    opt = Path("/opt")
    if not (opt / "ml").is_dir():
        args += ["--tmpfs", "/opt"]
        if opt.is_dir():
            for entry in sorted(os.listdir(opt)):
                args += ["--bind", str(opt / entry), str(opt / entry)]
    args += ["--bind", str(box.root), CONTAINER_ROOT]
    for sub in box.read_only:
        args += ["--ro-bind", str(box.root / sub), f"{CONTAINER_ROOT}/{sub}"]
    if box.sealed:
        for tmp in PRIVATE_TMP:
            args += ["--tmpfs", tmp]
        for path in box.shown_again():
            args += ["--ro-bind", path, path]
    return [*args, "--die-with-parent"]


def container_path(path: str | os.PathLike[str], root: Path) -> str:
    """``path`` as the job sees it: under /opt/ml when it is inside the job's directory."""
    p = Path(path).resolve()
    if p.is_relative_to(root.resolve()):
        rel = p.relative_to(root.resolve())
        return CONTAINER_ROOT if rel == Path(".") else f"{CONTAINER_ROOT}/{rel.as_posix()}"
    return str(p)


def wrapper(root: Path | Sandbox, *, chdir: str | None = None) -> list[str] | None:
    """The bwrap prefix that shows ``root`` at /opt/ml (then ``--`` and the command), or None."""
    if unavailable_reason() is not None:
        return None
    bwrap = shutil.which("bwrap")
    assert bwrap is not None
    args = base_args(bwrap, root)
    if chdir:
        args += ["--chdir", chdir]
    return [*args, "--"]


def wrap(
    command: Sequence[str], root: Path | Sandbox, *, chdir: str | None = None
) -> list[str] | None:
    prefix = wrapper(root, chdir=chdir)
    return None if prefix is None else [*prefix, *command]


def note(root: Path) -> str:
    """The job log's first line about how /opt/ml is provided."""
    reason = unavailable_reason()
    if reason is None:
        return SANDBOX_NOTE.format(root=root)
    return FALLBACK_NOTE.format(reason=reason, root=root)


# -- in a forked warm worker -----------------------------------------------------------------


def _libc() -> ctypes.CDLL:
    return ctypes.CDLL(None, use_errno=True)


def _check(result: int, what: str) -> None:
    if result != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"{what}: {os.strerror(err)}")


def _mount(
    libc: ctypes.CDLL, source: str | None, target: str, fstype: str | None, flags: int
) -> None:
    _check(
        libc.mount(
            None if source is None else source.encode(),
            target.encode(),
            None if fstype is None else fstype.encode(),
            ctypes.c_ulong(flags),
            None,
        ),
        f"mount {target}",
    )


def _set_read_only(libc: ctypes.CDLL, target: str, read_only: bool, *, recursive: bool) -> None:
    """mount_setattr(2): make the mount at ``target`` (and, ``recursive``, every mount under
    it) read-only, or writable again."""

    class MountAttr(ctypes.Structure):
        _fields_ = [(n, ctypes.c_uint64) for n in ("set", "clr", "propagation", "userns_fd")]

    attr = MountAttr(MOUNT_ATTR_RDONLY if read_only else 0, 0 if read_only else MOUNT_ATTR_RDONLY)
    _check(
        libc.syscall(
            ctypes.c_long(SYS_MOUNT_SETATTR),
            ctypes.c_int(AT_FDCWD),
            target.encode(),
            ctypes.c_uint(AT_RECURSIVE if recursive else 0),
            ctypes.byref(attr),
            ctypes.c_size_t(ctypes.sizeof(attr)),
        ),
        f"mount_setattr {target}",
    )


def enter(where: Path | Sandbox) -> None:
    """Move this (single-threaded) process into a new user and mount namespace laid out as
    :func:`wrap` lays it out (``where``: the directory shown at /opt/ml, or a
    :class:`Sandbox`).  Raises OSError when the kernel refuses (the caller then execs bwrap
    instead)."""
    box = _as_sandbox(where)
    root = box.root
    libc = _libc()
    uid, gid = os.getuid(), os.getgid()
    opt = "/opt"
    over_host = os.path.isdir(CONTAINER_ROOT)  # the host's /opt/ml is a mount point already
    links: list[tuple[str, str]] = []  # /opt entries, recreated on the tmpfs
    held: list[tuple[str, int, bool]] = []  # /opt entries bound back from these fds
    shown: list[tuple[str, int, bool]] = []  # paths under a private /tmp, bound back
    try:
        _check(libc.unshare(CLONE_NEWUSER | CLONE_NEWNS), "unshare")
        for file, text in (
            ("/proc/self/setgroups", "deny"),
            ("/proc/self/uid_map", f"{uid} {uid} 1"),
            ("/proc/self/gid_map", f"{gid} {gid} 1"),
        ):
            with open(file, "w") as fh:
                fh.write(text)
        _mount(libc, None, "/", None, MS_REC | MS_PRIVATE)  # nothing propagates back out
        if box.sealed:  # first, so that every mount made below stays writable
            _set_read_only(libc, "/", True, recursive=True)
        if not over_host:
            # Opened in the new namespace (a bind source must be one of its mounts), before
            # the tmpfs hides them.
            for name in sorted(os.listdir(opt)):
                path = os.path.join(opt, name)
                if os.path.islink(path):
                    links.append((path, os.readlink(path)))
                else:
                    held.append((path, os.open(path, os.O_PATH), os.path.isdir(path)))
            _mount(libc, "tmpfs", opt, "tmpfs", MS_NOSUID | MS_NODEV)
            for path, target in links:
                os.symlink(target, path)
            for path, fd, is_dir in held:
                if is_dir:
                    os.mkdir(path)
                else:
                    open(path, "w").close()
                _mount(libc, f"/proc/self/fd/{fd}", path, None, MS_BIND | MS_REC)
            os.mkdir(CONTAINER_ROOT)
        _mount(libc, str(root), CONTAINER_ROOT, None, MS_BIND | MS_REC)
        if box.sealed:  # a bind of a read-only mount is read-only: this one is the job's
            _set_read_only(libc, CONTAINER_ROOT, False, recursive=False)
        for sub in box.read_only:
            target = f"{CONTAINER_ROOT}/{sub}"
            _mount(libc, str(root / sub), target, None, MS_BIND | MS_REC)
            _set_read_only(libc, target, True, recursive=True)
        if box.sealed:
            for path in box.shown_again():
                shown.append((path, os.open(path, os.O_PATH), os.path.isdir(path)))
            for tmp in PRIVATE_TMP:
                if os.path.isdir(tmp):
                    _mount(libc, "tmpfs", tmp, "tmpfs", MS_NOSUID | MS_NODEV)
            for path, fd, is_dir in shown:
                os.makedirs(path if is_dir else os.path.dirname(path), exist_ok=True)
                if not is_dir:
                    open(path, "w").close()
                _mount(libc, f"/proc/self/fd/{fd}", path, None, MS_BIND | MS_REC)
                _set_read_only(libc, path, True, recursive=True)
    finally:
        for _, fd, _ in [*held, *shown]:
            with contextlib.suppress(OSError):
                os.close(fd)
