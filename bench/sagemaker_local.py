"""Local SageMaker against its in-process baseline, each ratio measured in the same run.

1. training job (built-in XGBoost, CSV) vs ``xgboost.train`` on the same file read with pyarrow;
2. endpoint: single-row text/csv over HTTP with 8 concurrent keep-alive clients vs in-process
   ``Booster.inplace_predict`` on the same rows (p50, p99, requests per second);
3. batch transform vs in-process prediction of the same file (read with pyarrow, predict,
   write the scores).

    python bench/sagemaker_local.py                 # 1,000,000 rows x 20 features
    python bench/sagemaker_local.py --rows 100000 --parts endpoint,transform
"""

from __future__ import annotations

import argparse
import http.client
import io
import shutil
import socket
import sys
import tarfile
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv
import xgboost as xgb

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from localaws.runtime import Runtime
from localaws.sagemaker.hosting import EndpointManager
from localaws.sagemaker.transform import run_transform_job

XGB_IMAGE = "683313688378.dkr.ecr.us-east-1.amazonaws.com/sagemaker-xgboost:1.7-1"
ROLE = "arn:aws:iam::123456789012:role/SageMakerRole"
HYPERPARAMETERS = {
    "objective": "binary:logistic",
    "num_round": "50",
    "max_depth": "6",
    "eta": "0.3",
}
N_FEATURES = 20


def write_csv(path: Path, rows: int, *, label: bool, seed: int = 0) -> None:
    """rows x 20 features (label first when ``label``), written in blocks."""
    rng = np.random.default_rng(seed)
    weights = rng.normal(size=N_FEATURES)
    with open(path, "wb") as fh:
        for start in range(0, rows, 200_000):
            n = min(200_000, rows - start)
            X = rng.normal(size=(n, N_FEATURES)).astype(np.float32)
            columns = {f"f{i}": X[:, i] for i in range(N_FEATURES)}
            if label:
                y = ((X @ weights + rng.normal(size=n)) > 0).astype(np.float32)
                columns = {"label": y, **columns}
            buffer = io.BytesIO()
            pacsv.write_csv(pa.table(columns), buffer, pacsv.WriteOptions(include_header=False))
            fh.write(buffer.getvalue())


def read_matrix(path: Path) -> np.ndarray:
    table = pacsv.read_csv(path, read_options=pacsv.ReadOptions(autogenerate_column_names=True))
    return np.column_stack([c.to_numpy() for c in table.columns]).astype(np.float32)


T = TypeVar("T")


def timed(fn: Callable[[], T]) -> tuple[float, T]:
    start = time.perf_counter()
    result = fn()
    return time.perf_counter() - start, result


def row_of(table: list[list[str]], *cells: object) -> None:
    table.append([str(c) for c in cells])


# -- 1. training ---------------------------------------------------------------------------------


def bench_training(rt: Runtime, work: Path, rows: int, table: list[list[str]]) -> None:
    path = work / "train.csv"
    write_csv(path, rows, label=True)
    rt.storage.upload_from(path, "s3://bench/train/train.csv")

    def baseline() -> None:
        data = read_matrix(path)
        params = {k: v for k, v in HYPERPARAMETERS.items() if k != "num_round"}
        xgb.train(
            params, xgb.DMatrix(data[:, 1:], label=data[:, 0]), int(HYPERPARAMETERS["num_round"])
        )

    base_s, _ = timed(baseline)

    def job() -> dict:
        rt.sagemaker.create_training_job(
            TrainingJobName="bench-train",
            AlgorithmSpecification={"TrainingImage": XGB_IMAGE, "TrainingInputMode": "File"},
            RoleArn=ROLE,
            HyperParameters=HYPERPARAMETERS,
            InputDataConfig=[
                {
                    "ChannelName": "train",
                    "ContentType": "text/csv",
                    "DataSource": {
                        "S3DataSource": {
                            "S3DataType": "S3Prefix",
                            "S3Uri": "s3://bench/train/",
                            "S3DataDistributionType": "FullyReplicated",
                        }
                    },
                }
            ],
            OutputDataConfig={"S3OutputPath": "s3://bench/output"},
            ResourceConfig={
                "InstanceType": "ml.m5.xlarge",
                "InstanceCount": 1,
                "VolumeSizeInGB": 10,
            },
            StoppingCondition={"MaxRuntimeInSeconds": 3600},
        )
        while True:
            described = rt.sagemaker.describe_training_job(TrainingJobName="bench-train")
            if described["TrainingJobStatus"] in ("Completed", "Failed", "Stopped"):
                return described
            time.sleep(0.05)

    job_s, described = timed(job)
    if described["TrainingJobStatus"] != "Completed":
        raise SystemExit(
            f"training job {described['TrainingJobStatus']}: {described.get('FailureReason')}"
        )
    row_of(
        table,
        f"training job, {rows:,} rows x 20",
        f"{job_s:.2f} s",
        f"{base_s:.2f} s",
        f"{job_s / base_s:.2f}x",
        "<= 1.15x",
    )


# -- the model for 2 and 3 ------------------------------------------------------------------------


def model_record(rt: Runtime, work: Path) -> tuple[dict, xgb.Booster]:
    path = work / "small.csv"
    write_csv(path, 50_000, label=True, seed=1)
    data = read_matrix(path)
    params = {k: v for k, v in HYPERPARAMETERS.items() if k != "num_round"}
    booster = xgb.train(
        params, xgb.DMatrix(data[:, 1:], label=data[:, 0]), int(HYPERPARAMETERS["num_round"])
    )
    raw = bytes(booster.save_raw(raw_format="ubj"))
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        info = tarfile.TarInfo("xgboost-model")
        info.size = len(raw)
        tar.addfile(info, io.BytesIO(raw))
    rt.storage.write("s3://bench/model/model.tar.gz", buffer.getvalue())
    model = {
        "ModelName": "bench-model",
        "PrimaryContainer": {
            "Image": XGB_IMAGE,
            "ModelDataUrl": "s3://bench/model/model.tar.gz",
            "Environment": {},
        },
    }
    return model, booster


# -- 2. endpoint -------------------------------------------------------------------------------------


def percentile(values: list[float], q: float) -> float:
    return sorted(values)[min(len(values) - 1, int(len(values) * q))]


def bench_endpoint(
    rt: Runtime, model: dict, booster: xgb.Booster, requests: int, table: list[list[str]]
) -> None:
    rng = np.random.default_rng(2)
    X = rng.normal(size=(256, N_FEATURES)).astype(np.float32)
    bodies = [",".join(repr(float(v)) for v in row).encode() for row in X]
    manager = EndpointManager(rt)
    manager.deploy(
        "bench", [{"VariantName": "AllTraffic", "ModelName": "bench-model", "Model": model}]
    )
    port = manager.port("bench")
    clients = 8
    per_client = max(1, requests // clients)
    latencies: list[float] = []
    failures: list[int] = []
    lock = threading.Lock()

    def client(k: int) -> None:
        conn = http.client.HTTPConnection("127.0.0.1", port)
        conn.connect()
        conn.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        mine = []
        for i in range(per_client):
            body = bodies[(k * per_client + i) % len(bodies)]
            start = time.perf_counter()
            conn.request("POST", "/invocations", body=body, headers={"Content-Type": "text/csv"})
            response = conn.getresponse()
            response.read()
            mine.append(time.perf_counter() - start)
            if response.status != 200:
                failures.append(response.status)
        conn.close()
        with lock:
            latencies.extend(mine)

    threads = [threading.Thread(target=client, args=(k,)) for k in range(clients)]
    start = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.perf_counter() - start
    manager.close()
    if failures:
        raise SystemExit(f"{len(failures)} failed requests: {set(failures)}")

    booster.set_param({"nthread": 1})
    local: list[float] = []
    for i in range(per_client * clients):
        row = X[i % len(X)][None, :]
        t0 = time.perf_counter()
        booster.inplace_predict(row)
        local.append(time.perf_counter() - t0)
    local_total = sum(local)
    p50, p99 = percentile(latencies, 0.5) * 1e3, percentile(latencies, 0.99) * 1e3
    b50, b99 = percentile(local, 0.5) * 1e3, percentile(local, 0.99) * 1e3
    row_of(
        table,
        "endpoint p50, 1 row text/csv, 8 clients",
        f"{p50:.3f} ms",
        f"{b50:.3f} ms",
        f"{p50 / b50:.1f}x",
        "p50 < 2 ms",
    )
    row_of(table, "endpoint p99", f"{p99:.3f} ms", f"{b99:.3f} ms", f"{p99 / b99:.1f}x", "")
    rps, base_rps = len(latencies) / elapsed, len(local) / local_total
    row_of(
        table,
        "endpoint requests/s",
        f"{rps:,.0f}",
        f"{base_rps:,.0f}",
        f"{base_rps / rps:.1f}x",
        "",
    )


# -- 3. batch transform ------------------------------------------------------------------------------


def bench_transform(
    rt: Runtime, work: Path, model: dict, booster: xgb.Booster, rows: int, table: list[list[str]]
) -> None:
    path = work / "score.csv"
    write_csv(path, rows, label=False, seed=3)
    rt.storage.upload_from(path, "s3://bench/score/score.csv")

    def baseline() -> None:
        booster.set_param({"nthread": 0})
        preds = booster.inplace_predict(read_matrix(path))
        (work / "baseline.out").write_bytes(("\n".join(map(str, preds.tolist())) + "\n").encode())

    base_s, _ = timed(baseline)
    job = {
        "TransformJobName": "bench-transform",
        "ModelName": "bench-model",
        "TransformInput": {
            "DataSource": {
                "S3DataSource": {"S3DataType": "S3Prefix", "S3Uri": "s3://bench/score/"}
            },
            "ContentType": "text/csv",
            "SplitType": "Line",
        },
        "TransformOutput": {"S3OutputPath": "s3://bench/scored", "AssembleWith": "Line"},
        "BatchStrategy": "MultiRecord",
        "MaxPayloadInMB": 6,
        "MaxConcurrentTransforms": 2,
    }
    job_s, _ = timed(
        lambda: run_transform_job(rt, job, model, threading.Event(), lambda line: None)
    )
    same = (
        rt.storage.read("s3://bench/scored/score.csv.out") == (work / "baseline.out").read_bytes()
    )
    row_of(
        table,
        f"batch transform, {rows:,} rows" + ("" if same else " (OUTPUT DIFFERS)"),
        f"{job_s:.2f} s",
        f"{base_s:.2f} s",
        f"{job_s / base_s:.2f}x",
        "<= 1.5x",
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--rows", type=int, default=1_000_000, help="rows for training and transform"
    )
    parser.add_argument("--requests", type=int, default=8_000, help="endpoint requests in all")
    parser.add_argument("--parts", default="training,endpoint,transform", help="comma-separated")
    args = parser.parse_args(argv)
    parts = set(args.parts.split(","))
    table: list[list[str]] = [
        ["measure", "local SageMaker", "in-process baseline", "ratio", "target"]
    ]
    work = Path(tempfile.mkdtemp(prefix="bench-sagemaker-"))
    try:
        with Runtime(work / "state") as rt:
            if "training" in parts:
                bench_training(rt, work, args.rows, table)
            if parts & {"endpoint", "transform"}:
                model, booster = model_record(rt, work)
                if "endpoint" in parts:
                    bench_endpoint(rt, model, booster, args.requests, table)
                if "transform" in parts:
                    bench_transform(rt, work, model, booster, args.rows, table)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    widths = [max(len(r[i]) for r in table) for i in range(len(table[0]))]
    for i, r in enumerate(table):
        print(" | ".join(cell.ljust(w) for cell, w in zip(r, widths, strict=True)))
        if i == 0:
            print("-+-".join("-" * w for w in widths))
    return 0


if __name__ == "__main__":
    sys.exit(main())
