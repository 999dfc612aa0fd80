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
        (
            "asl_overhead",
            ["--quick"],
            ["Pass chain", "Map of Pass", "branch Parallel", "Distributed Map"],
        ),
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


@pytest.mark.slow
@pytest.mark.parametrize(
    ("module", "args", "rows"),
    [
        ("endpoint_server", ["--requests", "40"], ["requests/s", "p99", "CreateEndpoint"]),
        ("api_server", ["--pairs", "16"], ["pairs/s"]),
        ("transform_workflow", ["--rows", "3000"], ["job (workflow's request)"]),
        ("training_job", ["--rows", "3000"], ["vs pyarrow read + xgboost.train"]),
        ("workflow_run", ["--sizes", "2000"], ["2,000"]),
        ("console_page", ["--events", "400", "--repeats", "1"], ["execution page in Chromium"]),
        ("athena", ["--rows", "5000", "--repeats", "1"], ["count(*)", "group by item"]),
        (
            "movie_lake",
            ["--users", "30", "--movies", "150"],
            ["full load", "BatchWriteItem loop", "ETL job script", "pandas on local files"],
        ),
        (
            "many_models",
            ["--dimensions", "2", "--rows", "300"],
            ["plain loop: preprocess + xgboost.train", "fan-out workflow"],
        ),
        ("hotel_stream", ["--quick"], ["stream (ESM + Lambda worker)", "plain loop", "GetRecord"]),
    ],
    ids=[
        "endpoint_server",
        "api_server",
        "transform_workflow",
        "training_job",
        "workflow_run",
        "console_page",
        "athena",
        "movie_lake",
        "many_models",
        "hotel_stream",
    ],
)
def test_user_path_bench_runs_small_and_prints_its_table(
    module: str, args: list[str], rows: list[str]
) -> None:
    """The benches of what users feel (servers, jobs, the whole workflow): slower to start."""
    done = subprocess.run(
        [sys.executable, "-m", f"bench.{module}", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-3000:]
    lines = done.stdout.splitlines()
    assert any(set(line) == {"-"} for line in lines), done.stdout
    assert any(line.rstrip().endswith("x") or "x " in line for line in lines), done.stdout
    for row in rows:
        assert any(row in line for line in lines), done.stdout
