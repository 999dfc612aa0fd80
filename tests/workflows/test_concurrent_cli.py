"""Several CLI commands on one state directory at once (exec, run, status): they share it,
and wait (saying so) while a program holds it for itself; none exits on the conflict."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from localaws.runtime import Runtime

REPO = Path(__file__).resolve().parents[2]
# Runs until the object s3://sync/go exists (the test creates it when it is done).
SLOW = {
    "StartAt": "Check",
    "States": {
        "Check": {
            "Type": "Task",
            "Resource": "arn:aws:states:::aws-sdk:s3:headObject",
            "Parameters": {"Bucket": "sync", "Key": "go"},
            "Catch": [{"ErrorEquals": ["S3.NoSuchKey"], "ResultPath": None, "Next": "Nap"}],
            "End": True,
        },
        "Nap": {"Type": "Wait", "Seconds": 1, "Next": "Check"},
    },
}
QUICK = {"StartAt": "P", "States": {"P": {"Type": "Pass", "Result": "quick", "End": True}}}


def cli(state: Path, *args: str) -> subprocess.Popen[str]:
    env = {**os.environ, "PYTHONPATH": str(REPO), "LOCALAWS_STATE_DIR": str(state)}
    return subprocess.Popen(
        [sys.executable, "-m", "workflows", *args],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def finish(proc: subprocess.Popen[str]) -> tuple[int, Any, str]:
    out, err = proc.communicate(timeout=120)
    return proc.returncode, json.loads(out) if out.strip().startswith("{") else out, err


def running_executions(state: Path) -> int:
    db = state / "runtime.db"
    if not db.exists():
        return 0
    with sqlite3.connect(db, timeout=30) as conn:
        try:
            return int(
                conn.execute(
                    "SELECT COUNT(*) FROM sfn_executions WHERE status = 'RUNNING'"
                ).fetchone()[0]
            )
        except sqlite3.OperationalError:  # the table is not created yet
            return 0


def test_two_execs_and_a_status_share_one_state_dir(tmp_path: Path) -> None:
    state = tmp_path / "state"
    slow, quick = tmp_path / "slow.json", tmp_path / "quick.json"
    slow.write_text(json.dumps(SLOW))
    quick.write_text(json.dumps(QUICK))
    (state / "s3" / "sync").mkdir(parents=True)
    first = cli(state, "exec", str(slow))
    # Wait until the first command's execution runs (it holds the state directory).
    while running_executions(state) == 0:
        assert first.poll() is None, first.communicate()
        time.sleep(0.05)  # polling the database for the first execution's row
    second = cli(state, "exec", str(quick))
    code, result, err = finish(second)
    assert code == 0, err
    assert result == {"status": "SUCCEEDED", "output": "quick", "error": None, "cause": None}
    assert running_executions(state) == 1, "the first execution was disturbed by the second"
    status = cli(state, "status")
    code, _, err = finish(status)
    assert code == 0, err
    (state / "s3" / "sync" / "go").write_text("go")
    code, result, err = finish(first)
    assert code == 0, err
    assert result["status"] == "SUCCEEDED"


def test_a_command_waits_for_an_exclusive_owner_and_says_so(tmp_path: Path) -> None:
    state = tmp_path / "state"
    quick = tmp_path / "quick.json"
    quick.write_text(json.dumps(QUICK))
    owner = Runtime(state).start()
    try:
        waiting = cli(state, "exec", str(quick))
        assert waiting.stderr is not None
        line = waiting.stderr.readline()  # blocks until the command reports that it waits
        assert "waiting" in line and str(os.getpid()) in line
        assert waiting.poll() is None
    finally:
        owner.close()
    code, result, err = finish(waiting)
    assert code == 0, err
    assert result["status"] == "SUCCEEDED"
