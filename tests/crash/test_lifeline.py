"""A command the runtime starts outside the warm template dies with the runtime (kill -9)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

from crash_support import ROOT, alive, wait_until

PARENT = textwrap.dedent(
    """
    import subprocess, sys, time
    from localaws.sagemaker import forkserver
    proc = forkserver.spawn(["sleep", "300"], env={"PATH": "/usr/bin:/bin"}, cwd=".",
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    print(proc.pid, flush=True)
    time.sleep(300)
    """
)


def children_of(pid: int) -> list[int]:
    out = []
    for task in os.listdir(f"/proc/{pid}/task"):
        out += [int(c) for c in Path(f"/proc/{pid}/task/{task}/children").read_text().split()]
    return out


def test_a_fallback_child_dies_with_the_runtime(tmp_path: Path) -> None:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "LOCALAWS_WARM_WORKERS": "0"}
    parent = subprocess.Popen(
        [sys.executable, "-c", PARENT], stdout=subprocess.PIPE, text=True, env=env, cwd=tmp_path
    )
    try:
        assert parent.stdout is not None
        keeper = int(parent.stdout.readline())
        sleeper = wait_until(lambda: children_of(keeper), 30, "the command to start")[0]
        assert os.getpgid(sleeper) == keeper  # one group: killpg(proc.pid) still reaches it
    finally:
        parent.send_signal(signal.SIGKILL)
        parent.wait(10)
    wait_until(lambda: not alive(sleeper) and not alive(keeper), 10, "the command to die")


def test_the_keeper_ends_as_its_command_does() -> None:
    from localaws import lifeline

    proc = lifeline.popen([sys.executable, "-c", "import sys; sys.exit(3)"])
    assert proc.wait(30) == 3
    assert proc.lifeline is None
    killed = lifeline.popen(["sleep", "300"])
    wait_until(lambda: children_of(killed.pid), 30, "the command to start")
    os.killpg(killed.pid, signal.SIGKILL)
    assert killed.wait(30) == -signal.SIGKILL
