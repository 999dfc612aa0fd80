"""Smoke test of bench/services.py: the bench runs end to end (timings are not checked)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_bench_runs_quick_and_prints_its_table() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "bench.services", "--quick", "--n", "5"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    lines = done.stdout.splitlines()
    assert any(line.startswith("operation") and "full/moto" in line for line in lines)
    for row in (
        "DynamoDB PutItem",
        "DynamoDB GetItem",
        "SQS send",
        "SQS receive+delete",
        "SQS -> Lambda (ESM)",
    ):
        assert any(line.startswith(row) for line in lines), done.stdout
    assert any("replay of" in line for line in lines), done.stdout
