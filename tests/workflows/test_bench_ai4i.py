"""Smoke test of bench/ai4i_generate.py: the bench runs end to end (timings are not checked)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_bench_runs_quick_and_prints_its_table() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "bench.ai4i_generate", "--quick", "--rows", "2000"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    lines = done.stdout.splitlines()
    assert lines[0].startswith("2,000 rows")
    assert any(line.startswith("generate (ai4i_data)") for line in lines), done.stdout
    assert any(line.startswith("read_csv (baseline)") for line in lines), done.stdout
