"""A built-in XGBoost training job against pyarrow read + ``xgboost.train`` in process.

The job (CreateTrainingJob, CSV, label first, timed to TrainingJobStatus Completed) runs as
SageMaker's container does: it reads the channel, trains, and evaluates the eval_metric on
the train set every round (the container always watches ``train``), then packs
model.tar.gz.  Two baselines in the same run: pyarrow read + ``xgboost.train`` alone (the
issue's), and the same with the train set watched as the container does.  Target: within
1.15x of the first.

    python -m bench.training_job                 # 1,000,000 rows x 20, 100 rounds
    python -m bench.training_job --rows 20000    # a quick look
"""

from __future__ import annotations

import argparse
import io
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from bench.harness import ROLE, XGB_IMAGE, print_table, timed

FEATURES = 20
HYPERPARAMETERS = {
    "objective": "binary:logistic",
    "eval_metric": "auc",
    "num_round": "100",
    "max_depth": "6",
    "eta": "0.3",
}


def write_data(path: Path, rows: int, seed: int = 0) -> None:
    import pyarrow as pa
    import pyarrow.csv as pacsv

    rng = np.random.default_rng(seed)
    weights = rng.normal(size=FEATURES)
    with open(path, "wb") as fh:
        for start in range(0, rows, 200_000):
            n = min(200_000, rows - start)
            X = rng.normal(size=(n, FEATURES)).astype(np.float32)
            y = ((X @ weights + rng.normal(size=n)) > 0).astype(np.float32)
            columns = {"label": y, **{f"f{i}": X[:, i] for i in range(FEATURES)}}
            buffer = io.BytesIO()
            pacsv.write_csv(pa.table(columns), buffer, pacsv.WriteOptions(include_header=False))
            fh.write(buffer.getvalue())


def baseline(path: Path, *, watch_train: bool) -> None:
    import pyarrow.csv as pacsv
    import xgboost as xgb

    table = pacsv.read_csv(path, read_options=pacsv.ReadOptions(autogenerate_column_names=True))
    data = np.column_stack([c.to_numpy() for c in table.columns]).astype(np.float32)
    dtrain = xgb.DMatrix(data[:, 1:], label=data[:, 0], nthread=os.cpu_count())
    params: dict[str, object] = {k: v for k, v in HYPERPARAMETERS.items() if k != "num_round"}
    params["nthread"] = os.cpu_count()
    evals = [(dtrain, "train")] if watch_train else []
    xgb.train(params, dtrain, int(HYPERPARAMETERS["num_round"]), evals=evals, verbose_eval=False)


def job_request(name: str) -> dict:
    return {
        "TrainingJobName": name,
        "AlgorithmSpecification": {"TrainingImage": XGB_IMAGE, "TrainingInputMode": "File"},
        "RoleArn": ROLE,
        "HyperParameters": HYPERPARAMETERS,
        "InputDataConfig": [
            {
                "ChannelName": "train",
                "ContentType": "text/csv",
                "DataSource": {
                    "S3DataSource": {"S3DataType": "S3Prefix", "S3Uri": "s3://bench/train/"}
                },
            }
        ],
        "OutputDataConfig": {"S3OutputPath": "s3://bench/output"},
        "ResourceConfig": {
            "InstanceType": "ml.m5.xlarge",
            "InstanceCount": 1,
            "VolumeSizeInGB": 10,
        },
        "StoppingCondition": {"MaxRuntimeInSeconds": 3600},
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    args = parser.parse_args(argv)
    from localaws.runtime import Runtime
    from localaws.sagemaker import forkserver

    work = Path(tempfile.mkdtemp(prefix="bench-training-"))
    try:
        path = work / "train.csv"
        write_data(path, args.rows)
        plain_s, _ = timed(lambda: baseline(path, watch_train=False))
        watched_s, _ = timed(lambda: baseline(path, watch_train=True))
        with Runtime(work / "state") as rt:
            rt.storage.upload_from(path, "s3://bench/train/train.csv")
            forkserver.start()  # set-up, as `serve` and `run` warm it while they start
            start = time.perf_counter()
            rt.sagemaker.create_training_job(**job_request("bench-train"))
            while True:
                described = rt.sagemaker.describe_training_job(TrainingJobName="bench-train")
                if described["TrainingJobStatus"] in ("Completed", "Failed", "Stopped"):
                    break
                time.sleep(0.02)
            job_s = time.perf_counter() - start
            if described["TrainingJobStatus"] != "Completed":
                raise SystemExit(f"training job: {described.get('FailureReason')}")
            transitions = described.get("SecondaryStatusTransitions") or []
    finally:
        shutil.rmtree(work, ignore_errors=True)
    rows = [
        [f"training, {args.rows:,} x {FEATURES}, 100 rounds", "job", "baseline", "ratio", "target"],
        ["vs pyarrow read + xgboost.train", f"{job_s:.2f} s", f"{plain_s:.2f} s", f"{job_s / plain_s:.2f}x", "<= 1.15x"],
        ["vs the same, train set watched (as the container)", f"{job_s:.2f} s", f"{watched_s:.2f} s", f"{job_s / watched_s:.2f}x", ""],
    ]  # fmt: skip
    phases = ", ".join(
        f"{t['Status']} {(t['EndTime'] - t['StartTime']).total_seconds():.2f} s"
        for t in transitions
        if t.get("EndTime")
    )
    print_table(rows, note=f"job phases: {phases}" if phases else "")
    return 0


if __name__ == "__main__":
    sys.exit(main())
