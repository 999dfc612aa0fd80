"""Lifelines: a process the runtime starts dies with the runtime, however the runtime dies.

:func:`popen` starts ``python -m localaws.lifeline <fd> -- command...`` in a new session:
this small keeper runs the command as its child in its own process group and watches a pipe
whose only writer is the runtime.  When the pipe reads EOF (the runtime exited, was killed
with -9, or closed the pipe), the keeper SIGKILLs the whole group; when the command ends,
the keeper ends the same way (its exit code, or the same signal).  So ``os.killpg(proc.pid,
...)`` still reaches the command, and a command never outlives the runtime (unlike
``PR_SET_PDEATHSIG``, which fires when the *thread* that forked exits).

The warm job template (:mod:`localaws.sagemaker.forkserver`) and Lambda workers
(:mod:`localaws.lambda_.worker`) hold their own lifeline pipes; this covers every other
command.
"""

from __future__ import annotations

import contextlib
import os
import select
import signal
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

PACKAGE_ROOT = str(Path(__file__).resolve().parents[1])
POLL_S = 0.2


class LifelinePopen(subprocess.Popen[bytes]):
    """A ``Popen`` of the keeper; the runtime's end of the lifeline closes when it is reaped."""

    lifeline: int | None = None

    def _release(self) -> None:
        if self.returncode is not None and self.lifeline is not None:
            with contextlib.suppress(OSError):
                os.close(self.lifeline)
            self.lifeline = None

    def poll(self) -> int | None:
        code = super().poll()
        self._release()
        return code

    def wait(self, timeout: float | None = None) -> int:
        code = super().wait(timeout)
        self._release()
        return code


def popen(command: Sequence[str], **kwargs: Any) -> LifelinePopen:
    """``subprocess.Popen(command, start_new_session=True, **kwargs)`` on a lifeline."""
    life_r, life_w = os.pipe()  # not inherited by other children (O_CLOEXEC)
    env = dict(kwargs.pop("env", None) or os.environ)
    keeper_path = os.pathsep.join(p for p in (PACKAGE_ROOT, env.get("PYTHONPATH")) if p)
    pass_fds = (*tuple(kwargs.pop("pass_fds", ())), life_r)
    keeper_env = {**env, "LOCALAWS_KEEPER_PYTHONPATH": env.get("PYTHONPATH", "")}
    keeper_env["PYTHONPATH"] = keeper_path
    try:
        proc = LifelinePopen(
            [sys.executable, "-m", "localaws.lifeline", str(life_r), "--", *command],
            env=keeper_env,
            pass_fds=pass_fds,
            start_new_session=True,
            **kwargs,
        )
    except BaseException:
        os.close(life_w)
        raise
    finally:
        os.close(life_r)
    proc.lifeline = life_w
    return proc


def _keep(life_fd: int, command: list[str]) -> int:
    env = dict(os.environ)
    original = env.pop("LOCALAWS_KEEPER_PYTHONPATH", "")
    if original:
        env["PYTHONPATH"] = original
    else:
        env.pop("PYTHONPATH", None)
    child = subprocess.Popen(command, env=env)  # same process group as the keeper
    for sig in (signal.SIGTERM, signal.SIGINT):  # a stop asked of the keeper goes to the command
        signal.signal(sig, lambda s, _f: child.send_signal(s))
    while True:
        try:
            ready, _, _ = select.select([life_fd], [], [], POLL_S)
        except InterruptedError:
            ready = []
        if ready and not os.read(life_fd, 1):
            os.killpg(0, signal.SIGKILL)  # the runtime is gone: the group goes with it
        code = child.poll()
        if code is not None:
            return code


def main(argv: list[str]) -> None:
    life_fd = int(argv[1])
    command = argv[argv.index("--") + 1 :]
    code = _keep(life_fd, command)
    if code < 0:  # end the same way, so the runtime sees the signal
        signal.signal(-code, signal.SIG_DFL)
        os.kill(os.getpid(), -code)
    sys.exit(code)


if __name__ == "__main__":
    main(sys.argv)
