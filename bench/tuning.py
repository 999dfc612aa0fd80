"""A local hyperparameter tuning job against the same trainings run by hand, in the same run.

The tuning job (built-in XGBoost, Random strategy, objective ``validation:auc``) runs
``--jobs`` training jobs, ``--parallel`` at a time.  The baseline runs the very same
trainings (each job's tuned hyperparameters) as plain ``xgboost.train`` calls, ``--parallel``
at a time in threads, each reading its CSV files with pyarrow as the job does.  The job
template (warm workers) is started before the clock starts, as ``serve`` and ``run`` warm it
while they start (the baseline's process has imported xgboost already).  The table
gives both wall times and their ratio (goal: within 1.2x), and checks that the tuning job's
best training job beats the median one.

    python -m bench.tuning                  # 8 jobs, 2 in parallel, 200,000 rows x 20
    python -m bench.tuning --quick          # the suite's smoke test: tiny data, 3 jobs
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv
import xgboost as xgb

from bench.report import print_table
from localaws.runtime import Runtime
from localaws.sagemaker import forkserver
from localaws.sagemaker.hyperparameters import parse, training_params

STATIC = {"objective": "binary:logistic", "eval_metric": "auc"}
XGB_IMAGE = "683313688378.dkr.ecr.us-east-1.amazonaws.com/sagemaker-xgboost:1.7-1"
ROLE = "arn:aws:iam::123456789012:role/SageMakerRole"
N_FEATURES = 20


def write_csv(path: Path, rows: int, *, seed: int) -> None:
    """rows x 20 features, the label first, no header (the built-in algorithm's CSV)."""
    rng = np.random.default_rng(seed)
    weights = np.random.default_rng(0).normal(size=N_FEATURES)
    x = rng.normal(size=(rows, N_FEATURES)).astype(np.float32)
    y = ((x @ weights + rng.normal(size=rows)) > 0).astype(np.float32)
    table = pa.table({"label": y, **{f"f{i}": x[:, i] for i in range(N_FEATURES)}})
    pacsv.write_csv(table, path, pacsv.WriteOptions(include_header=False))


def read_matrix(path: Path) -> np.ndarray:
    table = pacsv.read_csv(path, read_options=pacsv.ReadOptions(autogenerate_column_names=True))
    return np.column_stack([c.to_numpy() for c in table.columns]).astype(np.float32)


def channel(name: str, uri: str) -> dict[str, Any]:
    return {
        "ChannelName": name,
        "ContentType": "text/csv",
        "DataSource": {"S3DataSource": {"S3DataType": "S3Prefix", "S3Uri": uri}},
    }


def run_tuning(rt: Runtime, jobs: int, parallel: int, rounds: int) -> tuple[float, dict[str, Any]]:
    start = time.perf_counter()
    rt.sagemaker.create_hyper_parameter_tuning_job(
        HyperParameterTuningJobName="bench-tune",
        HyperParameterTuningJobConfig={
            "Strategy": "Random",
            "RandomSeed": 7,
            "HyperParameterTuningJobObjective": {
                "Type": "Maximize",
                "MetricName": "validation:auc",
            },
            "ResourceLimits": {
                "MaxNumberOfTrainingJobs": jobs,
                "MaxParallelTrainingJobs": parallel,
            },
            "ParameterRanges": {
                "IntegerParameterRanges": [{"Name": "max_depth", "MinValue": "1", "MaxValue": "8"}],
                "ContinuousParameterRanges": [
                    {
                        "Name": "eta",
                        "MinValue": "0.01",
                        "MaxValue": "0.5",
                        "ScalingType": "Logarithmic",
                    }
                ],
            },
        },
        TrainingJobDefinition={
            "StaticHyperParameters": {**STATIC, "num_round": str(rounds)},
            "AlgorithmSpecification": {"TrainingImage": XGB_IMAGE, "TrainingInputMode": "File"},
            "RoleArn": ROLE,
            "InputDataConfig": [
                channel("train", "s3://bench/train/"),
                channel("validation", "s3://bench/validation/"),
            ],
            "OutputDataConfig": {"S3OutputPath": "s3://bench/tuning"},
            "ResourceConfig": {
                "InstanceType": "ml.m5.xlarge",
                "InstanceCount": 1,
                "VolumeSizeInGB": 10,
            },
            "StoppingCondition": {"MaxRuntimeInSeconds": 3600},
        },
    )
    while True:
        described = rt.sagemaker.describe_hyper_parameter_tuning_job(
            HyperParameterTuningJobName="bench-tune"
        )
        if described["HyperParameterTuningJobStatus"] in ("Completed", "Failed", "Stopped"):
            break
        time.sleep(0.05)
    elapsed = time.perf_counter() - start
    if described["HyperParameterTuningJobStatus"] != "Completed":
        raise SystemExit(
            f"tuning job ended {described['HyperParameterTuningJobStatus']}: "
            f"{described.get('FailureReason')}"
        )
    return elapsed, described


def run_baseline(
    work: Path, tuned: list[dict[str, str]], parallel: int, rounds: int, nthread: int
) -> float:
    def one(hps: dict[str, str]) -> float:
        train = read_matrix(work / "train.csv")
        valid = read_matrix(work / "validation.csv")
        values = parse({**STATIC, "num_round": str(rounds), **hps})
        dtrain = xgb.DMatrix(train[:, 1:], label=train[:, 0], nthread=nthread)
        dvalid = xgb.DMatrix(valid[:, 1:], label=valid[:, 0], nthread=nthread)
        result: dict[str, Any] = {}
        xgb.train(
            training_params(values, nthread),
            dtrain,
            rounds,
            evals=[(dtrain, "train"), (dvalid, "validation")],
            evals_result=result,
            verbose_eval=False,
        )
        return float(result["validation"]["auc"][-1])

    start = time.perf_counter()
    with ThreadPoolExecutor(parallel) as pool:
        list(pool.map(one, tuned))
    return time.perf_counter() - start


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=200_000)
    parser.add_argument("--rounds", type=int, default=60)
    parser.add_argument("--jobs", type=int, default=8)
    parser.add_argument("--parallel", type=int, default=2)
    parser.add_argument("--quick", action="store_true", help="tiny data, 3 jobs (smoke test)")
    args = parser.parse_args(argv)
    if args.quick:
        args.rows, args.rounds, args.jobs = 2_000, 5, 3
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        write_csv(work / "train.csv", args.rows, seed=1)
        write_csv(work / "validation.csv", max(args.rows // 4, 200), seed=2)
        with Runtime(work / "state") as rt:
            rt.storage.upload_from(work / "train.csv", "s3://bench/train/train.csv")
            rt.storage.upload_from(work / "validation.csv", "s3://bench/validation/validation.csv")
            forkserver.start()  # set-up, as `serve` and `run` warm it while they start
            tuning_s, described = run_tuning(rt, args.jobs, args.parallel, args.rounds)
            summaries = rt.sagemaker.list_training_jobs_for_hyper_parameter_tuning_job(
                HyperParameterTuningJobName="bench-tune", MaxResults=100
            )["TrainingJobSummaries"]
        tuned = [s["TunedHyperParameters"] for s in summaries]
        nthread = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else 1
        baseline_s = run_baseline(work, tuned, args.parallel, args.rounds, nthread)
    values = [s["FinalHyperParameterTuningJobObjectiveMetric"]["Value"] for s in summaries]
    best = described["BestTrainingJob"]["FinalHyperParameterTuningJobObjectiveMetric"]["Value"]
    median = statistics.median(values)
    scenario = (
        f"{args.jobs} trainings, {args.parallel} at a time, {args.rows:,} rows x {N_FEATURES}, "
        f"{args.rounds} rounds"
    )
    print_table(
        "Hyperparameter tuning job vs the same trainings as plain xgboost.train",
        [
            ("scenario", len(scenario)),
            ("local tuning", 12),
            ("xgboost.train", 13),
            ("tuning/plain", 12),
        ],
        [[scenario, f"{tuning_s:.2f} s", f"{baseline_s:.2f} s", f"{tuning_s / baseline_s:.2f}x"]],
    )
    verdict = "beats" if best > median else "does NOT beat"
    print(f"\nbest job validation:auc {best:.4f} {verdict} the median job {median:.4f}")
    print(
        f"goal: tuning/plain within 1.2x -> {'met' if tuning_s / baseline_s <= 1.2 else 'not met'}"
    )
    return 0 if len(values) == args.jobs else 1


if __name__ == "__main__":
    sys.exit(main())
