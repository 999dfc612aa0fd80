"""Smoke test of bench/tuning.py: the bench runs end to end at tiny size (timings unchecked)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_tuning_bench_runs_quick_and_prints_its_table():
    done = subprocess.run(
        [sys.executable, "-m", "bench.tuning", "--quick"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    lines = done.stdout.splitlines()
    assert any(line.startswith("scenario") and "tuning/plain" in line for line in lines)
    assert any("3 trainings, 2 at a time" in line and line.rstrip().endswith("x") for line in lines)
    assert any(line.startswith("best job validation:auc") for line in lines), done.stdout
