"""kill -9 of ``serve`` at each Task of the predictive-maintenance workflow: the restarted
server finishes the execution by itself.  Against an uninterrupted run in the same bench.

For each kill point a fresh state directory: ``python -m workflows serve``, then
``python -m workflows run --featurizer lambda --rows N`` (the variant whose Tasks are the
kill points) through it; when the history shows the state entered
(its task scheduled), the server is killed with SIGKILL and started again.  The table gives
the execution's status, the time from start to the end, the time the restart took to finish
it, the ratio of the total to the uninterrupted run's, and what the run left (training and
transform jobs, endpoints, rows of the predictions table), which must equal the
uninterrupted run's.

    python -m bench.crash_resume --rows 300000                  # every Task
    python -m bench.crash_resume --rows 2000 --points TrainModel # a quick look
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.harness import ROOT, print_table

POINTS = (
    "PrepareData",
    "TrainModel",
    "BatchTransform",
    "EvaluateModel",
    "CreateEndpoint",
    "DescribeEndpoint",
    "PredictSamples",
)
TIMEOUT_S = 1800.0


def _query(db: Path, sql: str, params: tuple[Any, ...] = ()) -> list[Any]:
    if not db.exists():
        return []
    try:
        conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=5)
        try:
            return conn.execute(sql, params).fetchall()
        finally:
            conn.close()
    except sqlite3.Error:
        return []


def _wait(probe: Any, what: str, timeout: float = TIMEOUT_S) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = probe()
        if value:
            return value
        time.sleep(0.05)
    raise SystemExit(f"timed out waiting for {what}")


class Serve:
    def __init__(self, state: Path):
        self.state = state
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        from localaws.runtime import read_owner

        env = {**os.environ, "PYTHONPATH": str(ROOT)}
        log = open(self.state.parent / "serve.log", "ab")  # noqa: SIM115 - the child keeps it
        self.proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "workflows",
                "serve",
                "--port",
                "0",
                "--state-dir",
                str(self.state),
            ],
            cwd=ROOT,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=log,
        )
        proc = self.proc

        def up() -> bool:
            if proc.poll() is not None:
                raise SystemExit(f"serve exited; see {self.state.parent / 'serve.log'}")
            owner = read_owner(self.state)
            return bool(owner and owner.get("pid") == proc.pid and owner.get("url"))

        _wait(up, "the server", 120)

    def url(self) -> str:
        from localaws.runtime import read_owner

        owner = read_owner(self.state) or {}
        return str(owner.get("url"))

    def kill(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(30)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(120)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def _reached(db: Path, state: str) -> bool:
    """The state was entered and, for a Task, its task scheduled after that."""
    rows = _query(
        db,
        "SELECT id, type FROM sfn_history WHERE type LIKE '%StateEntered' "
        "AND json_extract(details, '$.name') = ? ORDER BY id DESC LIMIT 1",
        (state,),
    )
    if not rows:
        return False
    entered, etype = rows[0]
    if etype != "TaskStateEntered":
        return True
    return bool(
        _query(
            db,
            "SELECT 1 FROM sfn_history WHERE type = 'TaskScheduled' AND id > ? LIMIT 1",
            (entered,),
        )
    )


def _left(serve: Serve, db: Path) -> str:
    """What the run left: jobs, endpoints and prediction rows."""
    import boto3

    from workflows.settings import load

    counts = {
        kind: _query(db, "SELECT count(*) FROM records WHERE kind = ?", (kind,))[0][0]
        for kind in ("TrainingJob", "TransformJob", "Endpoint")
    }
    dynamodb = boto3.client(
        "dynamodb",
        endpoint_url=serve.url(),
        region_name="us-east-1",
        aws_access_key_id="bench",
        aws_secret_access_key="bench",
    )
    table = load().prediction.table
    try:
        rows = dynamodb.scan(TableName=table, Select="COUNT")["Count"]
    except Exception as e:  # reported in the table, not fatal
        rows = f"? ({type(e).__name__})"
    return f"{counts['TrainingJob']}/{counts['TransformJob']}/{counts['Endpoint']}/{rows}"


def run_once(rows: int, point: str | None, work: Path) -> dict[str, Any]:
    state = work / "state"
    state.mkdir(parents=True)
    db = state / "runtime.db"
    serve = Serve(state)
    serve.start()
    env = {**os.environ, "PYTHONPATH": str(ROOT), "COLUMNS": "200"}
    start = time.perf_counter()
    client = subprocess.Popen(
        [sys.executable, "-m", "workflows", "run", "--featurizer", "lambda", "--rows", str(rows),
         "--threshold", "0", "--run-id", "bench", "--state-dir", str(state)],
        cwd=work, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        killed_at = restarted_at = None
        if point is not None:
            _wait(lambda: _reached(db, point), f"state {point}")
            serve.kill()
            killed_at = time.perf_counter() - start
            serve.start()
            restarted_at = time.perf_counter()
        status = _wait(
            lambda: (
                (r := _query(db, "SELECT status FROM sfn_executions"))
                and r[0][0] != "RUNNING"
                and r[0][0]
            ),
            "the execution to end",
        )
        end = time.perf_counter()
        left = _left(serve, db)
    finally:
        serve.stop()
        client.kill()
        client.wait()
    return {
        "status": status,
        "total": end - start,
        "killed_at": killed_at,
        "after_restart": None if restarted_at is None else end - restarted_at,
        "left": left,
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=300_000)
    parser.add_argument("--points", nargs="*", default=list(POINTS), choices=POINTS)
    args = parser.parse_args(argv)
    results: list[tuple[str, dict[str, Any]]] = []
    with tempfile.TemporaryDirectory(prefix="crash-resume-") as tmp:
        for i, point in enumerate([None, *args.points]):
            results.append(
                (point or "(uninterrupted)", run_once(args.rows, point, Path(tmp) / str(i)))
            )
    base = results[0][1]
    table: list[list[object]] = [
        ["kill -9 at", "status", "total s", "killed at s", "restart->end s", "x uninterrupted",
         "left (train/transform/endpoints/rows)"],
    ]  # fmt: skip
    for name, r in results:
        table.append(
            [
                name,
                r["status"],
                f"{r['total']:.1f}",
                "-" if r["killed_at"] is None else f"{r['killed_at']:.1f}",
                "-" if r["after_restart"] is None else f"{r['after_restart']:.1f}",
                f"{r['total'] / base['total']:.2f}",
                r["left"] + ("" if r["left"] == base["left"] else "  (differs!)"),
            ]
        )
    print_table(
        table,
        note=f"{args.rows:,} rows; the uninterrupted run is the baseline, in the same bench. "
        + json.dumps({"python": sys.version.split()[0]}),
    )


if __name__ == "__main__":
    main()
