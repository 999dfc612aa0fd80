"""Smoke test of bench/asl_overhead.py: the bench runs end to end (timings are not checked)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_bench_runs_quick_and_prints_its_table():
    done = subprocess.run(
        [sys.executable, "-m", "bench.asl_overhead", "--quick"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    lines = done.stdout.splitlines()
    assert any(line.startswith("scenario") and "moto/ours" in line for line in lines)
    for scenario in ("Pass chain", "Map of Pass", "branch Parallel"):
        assert any(scenario in line for line in lines), done.stdout
    assert any("Distributed Map" in line and "items" not in line.split()[0] for line in lines)
    assert any(line.startswith("inline Map (baseline)") for line in lines), done.stdout
