"""InvokeEndpoint through the local server against a minimal Starlette app around
``inplace_predict``: 8 keep-alive clients, one text/csv row per request.

Both servers run in their own processes (ours: ``localaws.server.serve``, the endpoint set up
with boto3 as a user does; the baseline: uvicorn + Starlette + the same Booster), and the
same client sends the same rows to each.  Targets: >= 0.8x the minimal app's requests/s,
p99 within 1.3x.

    python -m bench.endpoint_server                 # 8,000 requests
    python -m bench.endpoint_server --requests 400  # a quick look
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from bench.harness import (
    ROLE,
    XGB_IMAGE,
    free_port,
    http_load,
    model_tar,
    percentile,
    print_table,
    python_process,
    sigv4_headers,
    stop,
    train_model,
    wait_for_port,
)

CLIENTS = 8
FEATURES = 8

MINIMAL_APP = """
import sys
import numpy as np, uvicorn, xgboost as xgb
from starlette.applications import Starlette
from starlette.responses import Response
from starlette.routing import Route

booster = xgb.Booster()
booster.load_model(sys.argv[1])
booster.set_param({"nthread": 1})

async def invocations(request):
    body = await request.body()
    row = np.array([[float(v) for v in body.decode().split(",")]], dtype=np.float32)
    scores = booster.inplace_predict(row).tolist()
    return Response(",".join(map(str, scores)), media_type="text/csv")

app = Starlette(routes=[Route("/invocations", invocations, methods=["POST"])])
uvicorn.run(app, host="127.0.0.1", port=int(sys.argv[2]), log_level="warning", access_log=False)
"""

OUR_SERVER = """
import sys
from localaws.server.serve import serve
serve(sys.argv[1], port=int(sys.argv[2]))
"""


def deploy(url: str, model: bytes) -> float:
    """The endpoint, created as a user does: boto3 against the server; the seconds from
    CreateEndpoint to InService."""
    import boto3

    kwargs = {"endpoint_url": url, "region_name": "us-east-1"}
    boto3.client("s3", **kwargs).create_bucket(Bucket="bench")
    boto3.client("s3", **kwargs).put_object(Bucket="bench", Key="model/model.tar.gz", Body=model)
    sm = boto3.client("sagemaker", **kwargs)
    sm.create_model(
        ModelName="bench",
        ExecutionRoleArn=ROLE,
        PrimaryContainer={"Image": XGB_IMAGE, "ModelDataUrl": "s3://bench/model/model.tar.gz"},
    )
    sm.create_endpoint_config(
        EndpointConfigName="bench",
        ProductionVariants=[
            {
                "VariantName": "AllTraffic",
                "ModelName": "bench",
                "InitialInstanceCount": 1,
                "InstanceType": "ml.m5.large",
            }
        ],
    )
    times = []
    for name in ("warm-up", "bench"):  # the first also waits for the job template's imports
        start = time.perf_counter()
        sm.create_endpoint(EndpointName=name, EndpointConfigName="bench")
        deadline = time.monotonic() + 300
        while (status := sm.describe_endpoint(EndpointName=name)["EndpointStatus"]) != "InService":
            if status == "Failed" or time.monotonic() > deadline:
                raise SystemExit(f"the endpoint {name} is {status}")
            time.sleep(0.01)
        times.append(time.perf_counter() - start)
    sm.delete_endpoint(EndpointName="warm-up")
    return times[-1]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=8_000, help="requests per server")
    args = parser.parse_args(argv)
    os.environ.setdefault("AWS_ACCESS_KEY_ID", "bench")
    os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "bench")
    work = Path(tempfile.mkdtemp(prefix="bench-endpoint-"))
    booster = train_model(features=FEATURES)
    model_path = work / "xgboost-model"
    booster.save_model(str(model_path))
    rng = np.random.default_rng(2)
    rows = np.round(rng.normal(size=(256, FEATURES)) * 10, 1)
    bodies = [",".join(repr(float(v)) for v in row).encode() for row in rows]
    results = {}
    try:
        port = free_port()
        ours = python_process(OUR_SERVER, str(work / "state"), str(port))
        try:
            wait_for_port(port, ours)
            startup = deploy(f"http://127.0.0.1:{port}", model_tar(booster))
            headers = sigv4_headers(
                f"http://127.0.0.1:{port}/endpoints/bench/invocations",
                "sagemaker",
                bodies[0],
                {"Content-Type": "text/csv", "Accept": "text/csv"},
            )
            http_load(
                port,
                "/endpoints/bench/invocations",
                bodies,
                headers,
                clients=CLIENTS,
                requests=CLIENTS * 10,
            )
            results["ours"] = http_load(
                port, "/endpoints/bench/invocations", bodies, headers,
                clients=CLIENTS, requests=args.requests,
            )  # fmt: skip
        finally:
            stop(ours)
        port = free_port()
        start = time.perf_counter()
        minimal = python_process(MINIMAL_APP, str(model_path), str(port))
        try:
            wait_for_port(port, minimal)
            base_startup = time.perf_counter() - start
            headers = {"Content-Type": "text/csv"}
            http_load(port, "/invocations", bodies, headers, clients=CLIENTS, requests=CLIENTS * 10)
            results["minimal"] = http_load(
                port, "/invocations", bodies, headers, clients=CLIENTS, requests=args.requests
            )
        finally:
            stop(minimal)
    finally:
        shutil.rmtree(work, ignore_errors=True)

    def figures(key: str) -> tuple[float, float, float]:
        elapsed, latencies = results[key]
        return (
            len(latencies) / elapsed,
            percentile(latencies, 0.5) * 1e3,
            percentile(latencies, 0.99) * 1e3,
        )

    rps, p50, p99 = figures("ours")
    brps, b50, b99 = figures("minimal")
    print_table(
        [
            ["endpoint, 1 row text/csv, 8 clients", "through the server", "minimal Starlette app", "ratio", "target"],
            ["requests/s", f"{rps:,.0f}", f"{brps:,.0f}", f"{rps / brps:.2f}x", ">= 0.8x"],
            ["p50", f"{p50:.2f} ms", f"{b50:.2f} ms", f"{p50 / b50:.2f}x", ""],
            ["p99", f"{p99:.2f} ms", f"{b99:.2f} ms", f"{p99 / b99:.2f}x", "<= 1.3x"],
            ["start: CreateEndpoint to InService / process to port open",
             f"{startup:.2f} s", f"{base_startup:.2f} s", f"{startup / base_startup:.2f}x", "< 0.5 s"],
        ],
        note=f"{args.requests:,} requests each, {CLIENTS} keep-alive clients in one process",
    )  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
