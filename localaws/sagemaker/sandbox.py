"""Exact container paths: a job's process sees its directory at ``/opt/ml``.

On Linux with bubblewrap (``bwrap``, Debian package ``bubblewrap``; ``make tools`` installs
it) a training script or processing command runs in its own mount namespace where ``/opt/ml``
is the job's directory, so ``/opt/ml/processing/input/...``, ``/opt/ml/input/data/train``
and ``/opt/ml/model`` are exactly where a script written for the container looks.  The rest
of the file system is the host's (the interpreter, the packages, /tmp); ``/opt`` itself is a
fresh tmpfs with the host's ``/opt`` entries bound back in, so nothing is created on the
host.  The process dies with its parent (``--die-with-parent``).

Elsewhere (no bwrap, or bwrap refused by the kernel) :func:`wrapper` returns None and the
caller falls back to rewriting ``/opt/ml`` paths in the arguments and environment, and says
so in the job log (:data:`FALLBACK_NOTE`).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Sequence
from functools import cache
from pathlib import Path

CONTAINER_ROOT = "/opt/ml"
SANDBOX_NOTE = "Running in a mount namespace (bubblewrap): /opt/ml is this job's directory {root}\n"
FALLBACK_NOTE = (
    "bubblewrap (bwrap) is not available here ({reason}): /opt/ml paths in the arguments and "
    "the SM_* environment are rewritten to this job's directory {root}; a script that opens "
    "/opt/ml/... by a path of its own will not find it (on Linux: apt-get install bubblewrap)\n"
)


def _probe(bwrap: str) -> str | None:
    """None when bwrap can build the namespace here, else why not."""
    try:
        done = subprocess.run(
            [*_base_args(bwrap, Path("/")), "--", "/bin/sh", "-c", "test -d /opt/ml"],
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
    return _probe(bwrap)


def _base_args(bwrap: str, root: Path) -> list[str]:
    args = [bwrap, "--bind", "/", "/", "--dev", "/dev", "--proc", "/proc"]
    opt = Path("/opt")
    if not (opt / "ml").is_dir():
        args += ["--tmpfs", "/opt"]
        if opt.is_dir():
            for entry in sorted(os.listdir(opt)):
                args += ["--bind", str(opt / entry), str(opt / entry)]
    return [*args, "--bind", str(root), CONTAINER_ROOT, "--die-with-parent"]


def wrapper(root: Path, *, chdir: str | None = None) -> list[str] | None:
    """The bwrap prefix that shows ``root`` at /opt/ml (then ``--`` and the command), or None."""
    if unavailable_reason() is not None:
        return None
    bwrap = shutil.which("bwrap")
    assert bwrap is not None
    args = _base_args(bwrap, root)
    if chdir:
        args += ["--chdir", chdir]
    return [*args, "--"]


def wrap(command: Sequence[str], root: Path, *, chdir: str | None = None) -> list[str] | None:
    prefix = wrapper(root, chdir=chdir)
    return None if prefix is None else [*prefix, *command]


def note(root: Path) -> str:
    """The job log's first line about how /opt/ml is provided."""
    reason = unavailable_reason()
    if reason is None:
        return SANDBOX_NOTE.format(root=root)
    return FALLBACK_NOTE.format(reason=reason, root=root)
