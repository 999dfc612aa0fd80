"""Batch transform with the workflow's own settings against in-process read + predict + write.

The job is CreateTransformJob as the predictive-maintenance workflow sends it (SplitType
Line, InputFilter ``$[1:]``, JoinSource Input, OutputFilter ``$[0,-1]``, AssembleWith Line,
Accept text/csv, MaxPayloadInMB 6), timed from the request to TransformJobStatus Completed;
the input is label-first CSV like prepare's test split.  The baseline is what a user would
write in process: pyarrow read, ``inplace_predict`` on the features, pyarrow write of label
and score.  Target: within 1.5x.

    python -m bench.transform_workflow               # 1,000,000 rows
    python -m bench.transform_workflow --rows 20000  # a quick look
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
import uuid
from pathlib import Path

import numpy as np

from bench.harness import (
    ROLE,
    XGB_IMAGE,
    labelled_csv,
    model_tar,
    print_table,
    train_model,
)
from bench.report import median_seconds

FEATURES = 8
REPEATS = 3


def workflow_job(name: str, concurrency: int | None) -> dict:
    """CreateTransformJob as workflows/predictive_maintenance.py's TransformStep sends it."""
    job = {
        "TransformJobName": name,
        "ModelName": "bench",
        "TransformInput": {
            "DataSource": {"S3DataSource": {"S3DataType": "S3Prefix", "S3Uri": "s3://bench/test/"}},
            "ContentType": "text/csv",
            "SplitType": "Line",
        },
        "TransformOutput": {
            "S3OutputPath": f"s3://bench/{name}/",
            "Accept": "text/csv",
            "AssembleWith": "Line",
        },
        "TransformResources": {"InstanceType": "ml.m5.xlarge", "InstanceCount": 1},
        "MaxPayloadInMB": 6,
        "DataProcessing": {"InputFilter": "$[1:]", "JoinSource": "Input", "OutputFilter": "$[0,-1]"},
    }  # fmt: skip
    if concurrency:
        job["MaxConcurrentTransforms"] = concurrency
    return job


def baseline(path: Path, booster: object, out: Path) -> None:
    import pyarrow as pa
    import pyarrow.csv as pacsv

    table = pacsv.read_csv(path, read_options=pacsv.ReadOptions(autogenerate_column_names=True))
    X = np.column_stack([c.to_numpy() for c in table.columns[1:]]).astype(np.float32)
    scores = booster.inplace_predict(X)  # type: ignore[attr-defined]
    pacsv.write_csv(
        pa.table({"label": table.column(0), "score": scores}),
        out,
        pacsv.WriteOptions(include_header=False),
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    args = parser.parse_args(argv)
    from localaws.runtime import Runtime

    work = Path(tempfile.mkdtemp(prefix="bench-transform-"))
    try:
        booster = train_model(features=FEATURES)
        booster.set_param({"nthread": 0})
        data = work / "test.csv"
        labelled_csv(data, args.rows, FEATURES, seed=3)
        base_s = median_seconds(lambda: baseline(data, booster, work / "baseline.out"), REPEATS)
        rows = [["batch transform, workflow settings", f"{args.rows:,} rows", "in-process baseline", "ratio", "target"]]  # fmt: skip
        with Runtime(work / "state") as rt:
            rt.storage.upload_from(data, "s3://bench/test/test.csv")
            rt.storage.write("s3://bench/model/model.tar.gz", model_tar(booster))
            rt.sagemaker.create_model(
                ModelName="bench",
                ExecutionRoleArn=ROLE,
                PrimaryContainer={"Image": XGB_IMAGE, "ModelDataUrl": "s3://bench/model/model.tar.gz"},
            )  # fmt: skip
            for label, name, concurrency in (
                ("job (workflow's request)", "bench-1", None),
                ("job, MaxConcurrentTransforms 2", "bench-2", 2),
            ):

                def job(name: str = name, concurrency: int | None = concurrency) -> None:
                    run = f"{name}-{uuid.uuid4().hex[:8]}"
                    rt.sagemaker.create_transform_job(**workflow_job(run, concurrency))
                    while True:
                        described = rt.sagemaker.describe_transform_job(TransformJobName=run)
                        if described["TransformJobStatus"] != "InProgress":
                            break
                        time.sleep(0.02)
                    if described["TransformJobStatus"] != "Completed":
                        raise SystemExit(f"{run}: {described.get('FailureReason')}")

                job_s = median_seconds(job, REPEATS)
                rows.append([label, f"{job_s:.2f} s", f"{base_s:.2f} s", f"{job_s / base_s:.2f}x", "<= 1.5x"])  # fmt: skip
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print_table(rows, note=f"one input object (prepare writes one test file); job timed from CreateTransformJob to Completed; median of {REPEATS} after a warm-up, each")  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
