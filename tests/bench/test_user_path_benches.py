"""Smoke test of the user-path benches: each runs end to end at a tiny size and prints its
table with a ratio (timings are not checked)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.slow
@pytest.mark.parametrize(
    ("module", "args", "header"),
    [
        ("bench.endpoint_server", ["--requests", "40"], "minimal Starlette app"),
        ("bench.api_server", ["--pairs", "16"], "moto server"),
        ("bench.transform_workflow", ["--rows", "3000"], "in-process baseline"),
        ("bench.training_job", ["--rows", "3000"], "vs pyarrow read + xgboost.train"),
        ("bench.workflow_run", ["--sizes", "2000"], "in-process baseline"),
    ],
    ids=["endpoint", "api", "transform", "training", "workflow"],
)
def test_bench_runs_small_and_prints_its_table(module: str, args: list[str], header: str) -> None:
    done = subprocess.run(
        [sys.executable, "-m", module, *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-3000:]
    lines = done.stdout.splitlines()
    assert any(header in line for line in lines), done.stdout
    assert any("-+-" in line for line in lines), done.stdout
    assert any(line.count("|") >= 3 and "x |" in line for line in lines), done.stdout
