"""Smoke test of bench/featurestore.py: the bench runs end to end at a tiny size (timings are
not checked)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_bench_runs_tiny_and_prints_its_table() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "bench.featurestore", "--records", "20", "--reads", "20"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    lines = done.stdout.splitlines()
    assert any(line.startswith("Feature Store GetRecord") for line in lines), done.stdout
    assert any(line.startswith("ratio GetRecord/baseline") for line in lines), done.stdout
