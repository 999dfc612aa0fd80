"""The whole predictive-maintenance workflow, ``python -m workflows run --featurizer lambda
--rows N`` (the variant whose work the baseline repeats), against the same work done in one
Python process, with the peak memory of the run's process tree.

For each size the workflow runs in a fresh state directory, as a user runs it; its own
summary gives the execution time after setup (building, registering and uploading).  The
baseline, in a process of its own, does the steps in process on the same generated data:
the prepare Lambda's function, ``xgboost.train`` with the workflow's hyperparameters,
validation set and early stopping, the test predictions and their ROC AUC, five sample
predictions.  Memory: the sum over the process tree (the CLI, its runtime, Lambda workers,
job processes, model servers) sampled every 50 ms, as PSS (shared pages counted once) and
RSS.  Targets: 10,000 rows under 6 s after setup; 1,000,000 rows under 1 GB.

    python -m bench.workflow_run                       # 10,000, 100,000 and 1,000,000 rows
    python -m bench.workflow_run --sizes 2000          # a quick look
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from bench.harness import ROOT, print_table, process_tree_memory

SUMMARY = re.compile(r"SUCCEEDED in ([\d.]+) s \(([\d.]+) s with setup")
MB = 1024 * 1024


def run_measured(command: list[str], cwd: Path) -> tuple[float, str, int, int, int]:
    """(wall seconds, stdout, exit code, peak PSS, peak RSS) of the command's process tree."""
    env = {**os.environ, "PYTHONPATH": str(ROOT), "COLUMNS": "200"}
    start = time.perf_counter()
    proc = subprocess.Popen(
        command, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    peak = [0, 0]
    done = threading.Event()

    def sample() -> None:
        while not done.wait(0.05):
            pss, rss = process_tree_memory(proc.pid)
            peak[0], peak[1] = max(peak[0], pss), max(peak[1], rss)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    out, _ = proc.communicate()
    done.set()
    sampler.join()
    return time.perf_counter() - start, out, proc.returncode, peak[0], peak[1]


BASELINE = """
import io, json, sys, tempfile, time
from pathlib import Path
sys.path.insert(0, "lambdas")
import numpy as np, xgboost as xgb
from sklearn.metrics import roc_auc_score
from workflows import ai4i_data
from workflows.settings import load as load_settings
from localaws.lambdakit.storage import LocalStorage
import prepare

rows = int(sys.argv[1])
settings = load_settings()
root = Path(tempfile.mkdtemp())
store = LocalStorage(root)
store.write("s3://bench-data/raw/ai4i.csv", ai4i_data.generate(rows, seed=42).to_csv(index=False).encode())
start = time.perf_counter()
result = prepare.prepare(prepare.PrepareRequest.from_event(
    {"raw_uri": "s3://bench-data/raw/", "output_prefix": "s3://bench-data/prepared/"}), store)
def matrix(uri):
    data = np.loadtxt(io.BytesIO(store.read(uri)), delimiter=",", ndmin=2, dtype=np.float32)
    return data[:, 1:], data[:, 0]
(Xt, yt), (Xv, yv), (Xs, ys) = (matrix(result[k]) for k in ("train_uri", "validation_uri", "test_uri"))
hp = dict(settings.training.hyperparameters)
rounds, early = int(hp.pop("num_round")), hp.pop("early_stopping_rounds", None)
hp["scale_pos_weight"] = result["scale_pos_weight"]
dtrain = xgb.DMatrix(Xt, label=yt)
booster = xgb.train(hp, dtrain, rounds, evals=[(dtrain, "train"), (xgb.DMatrix(Xv, label=yv), "validation")],
                    early_stopping_rounds=early, verbose_eval=False)
scores = booster.inplace_predict(Xs)
auc = roc_auc_score(ys, scores)
for row in Xs[:5]:
    booster.inplace_predict(row[None, :])
print(json.dumps({"seconds": time.perf_counter() - start, "auc": auc}))
"""


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--sizes", default="10000,100000,1000000", help="comma-separated row counts"
    )
    args = parser.parse_args(argv)
    rows_table = [
        ["rows", "workflow after setup", "with setup", "in-process baseline", "ratio",
         "peak PSS (tree)", "peak RSS (tree)", "baseline peak", "target"],
    ]  # fmt: skip
    for rows in [int(n) for n in args.sizes.split(",")]:
        state = Path(tempfile.mkdtemp(prefix="bench-workflow-"))
        try:
            _wall, out, code, pss, rss = run_measured(
                [sys.executable, "-m", "workflows", "run", "--featurizer", "lambda", "--rows", str(rows),
                 "--threshold", "0", "--state-dir", str(state)],
                ROOT,
            )  # fmt: skip
        finally:
            shutil.rmtree(state, ignore_errors=True)
        match = SUMMARY.search(out)
        if code != 0 or match is None:
            raise SystemExit(
                f"the workflow at {rows:,} rows failed (exit {code}; --threshold 0 deploys any model):\n{out[-3000:]}"
            )
        after, with_setup = float(match.group(1)), float(match.group(2))
        _, base_out, base_code, base_pss, _ = run_measured(
            [sys.executable, "-c", BASELINE, str(rows)], ROOT
        )
        if base_code != 0:
            raise SystemExit(f"the baseline at {rows:,} rows failed:\n{base_out[-3000:]}")
        base = json.loads(base_out.strip().splitlines()[-1])["seconds"]
        target = "< 6 s" if rows == 10_000 else "< 1 GB" if rows >= 1_000_000 else ""
        rows_table.append(
            [f"{rows:,}", f"{after:.1f} s", f"{with_setup:.1f} s", f"{base:.1f} s",
             f"{after / base:.2f}x", f"{pss / MB:,.0f} MB", f"{rss / MB:,.0f} MB",
             f"{base_pss / MB:,.0f} MB", target],
        )  # fmt: skip
    print_table(
        rows_table,
        note="'after setup' is the execution (the workflow's own summary); peaks are sampled every 50 ms",
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
