"""Smoke tests of bench/: each bench runs end to end at a small size and prints its table
(the timings are the bench's to report, never checked here)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize(
    ("module", "args", "rows"),
    [
        ("asl_overhead", ["--quick"], ["Pass chain", "Map of Pass", "branch Parallel"]),
        ("ai4i_generate", ["--quick", "--rows", "2000"], ["generate (ai4i_data)", "read_csv"]),
        ("lambda_invoke", ["--quick", "--calls", "5"], ["LambdaBackend.invoke", "pipe round"]),
        ("tuning", ["--quick"], ["3 trainings, 2 at a time", "best job validation:auc"]),
    ],
    ids=["asl_overhead", "ai4i_generate", "lambda_invoke", "tuning"],
)
def test_bench_runs_quick_and_prints_its_table(
    module: str, args: list[str], rows: list[str]
) -> None:
    done = subprocess.run(
        [sys.executable, "-m", f"bench.{module}", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    lines = done.stdout.splitlines()
    assert any(set(line) == {"-"} for line in lines), done.stdout  # the table's rule
    for row in rows:
        assert any(row in line for line in lines), done.stdout
