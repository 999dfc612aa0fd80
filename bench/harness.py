"""What the user-path benches share: the result table, a keep-alive HTTP load, servers in
their own processes, a model, data files.

Each bench measures the local runtime the way a user meets it and a baseline in the same
run on the same machine, and prints one table with the ratio; the targets are issue 14's.
"""

from __future__ import annotations

import http.client
import io
import os
import socket
import subprocess
import sys
import tarfile
import textwrap
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

XGB_IMAGE = "683313688378.dkr.ecr.us-east-1.amazonaws.com/sagemaker-xgboost:1.7-1"
ROLE = "arn:aws:iam::123456789012:role/SageMakerRole"


def print_table(rows: Sequence[Sequence[object]], *, note: str = "") -> None:
    """The result table (the first row is the header) through :func:`bench.report.print_table`."""
    from bench.report import print_table as report_table

    cells = [[str(c) for c in row] for row in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(cells[0]))]
    report_table(cells[0][0], list(zip(["", *cells[0][1:]], widths, strict=True)), cells[1:])
    if note:
        print(note)
    sys.stdout.flush()


def timed(fn: Callable[[], Any]) -> tuple[float, Any]:
    start = time.perf_counter()
    result = fn()
    return time.perf_counter() - start, result


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * q))]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_for_port(
    port: int, proc: subprocess.Popen[bytes] | None = None, timeout: float = 120
) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise SystemExit(f"the server exited with status {proc.returncode}")
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    raise SystemExit(f"nothing listens on port {port} after {timeout:.0f} s")


def python_process(code: str, *args: str) -> subprocess.Popen[bytes]:
    """``python -c code args...`` with the repository importable (a server under test)."""
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])),
    }
    return subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(code), *args],
        cwd=ROOT,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
    )


def stop(proc: subprocess.Popen[bytes]) -> None:
    proc.terminate()
    try:
        proc.wait(30)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def http_load(
    port: int,
    path: str,
    bodies: list[bytes],
    headers: dict[str, str],
    *,
    clients: int,
    requests: int,
) -> tuple[float, list[float]]:
    """``requests`` POSTs from ``clients`` keep-alive connections; (seconds, latencies)."""
    per_client = max(1, requests // clients)
    latencies: list[float] = []
    failures: list[str] = []
    lock = threading.Lock()
    go = threading.Event()

    def client(k: int) -> None:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        mine = []
        go.wait()
        for i in range(per_client):
            body = bodies[(k * per_client + i) % len(bodies)]
            start = time.perf_counter()
            conn.request("POST", path, body=body, headers=headers)
            response = conn.getresponse()
            data = response.read()
            mine.append(time.perf_counter() - start)
            if response.status != 200:
                failures.append(f"{response.status}: {data[:200]!r}")
        conn.close()
        with lock:
            latencies.extend(mine)

    threads = [threading.Thread(target=client, args=(k,)) for k in range(clients)]
    for t in threads:
        t.start()
    start = time.perf_counter()
    go.set()
    for t in threads:
        t.join()
    elapsed = time.perf_counter() - start
    if failures:
        raise SystemExit(f"{len(failures)} failed requests, first: {failures[0]}")
    return elapsed, latencies


def train_model(rows: int = 20_000, features: int = 8, rounds: int = 50, seed: int = 1) -> Any:
    import xgboost as xgb

    rng = np.random.default_rng(seed)
    X = np.round(rng.normal(size=(rows, features)) * 10, 1).astype(np.float32)
    y = (X @ rng.normal(size=features) + rng.normal(size=rows) > 0).astype(np.float32)
    params = {"objective": "binary:logistic", "max_depth": 5, "eta": 0.1, "nthread": 1}
    return xgb.train(params, xgb.DMatrix(X, label=y), rounds)


def model_tar(booster: Any) -> bytes:
    raw = bytes(booster.save_raw(raw_format="ubj"))
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        info = tarfile.TarInfo("xgboost-model")
        info.size = len(raw)
        tar.addfile(info, io.BytesIO(raw))
    return buffer.getvalue()


def labelled_csv(path: Path, rows: int, features: int, *, seed: int = 0) -> None:
    """``rows`` records, label first, then ``features`` one-decimal numbers (as prepare writes)."""
    import pyarrow as pa
    import pyarrow.csv as pacsv

    rng = np.random.default_rng(seed)
    weights = rng.normal(size=features)
    with open(path, "wb") as fh:
        for start in range(0, rows, 200_000):
            n = min(200_000, rows - start)
            X = np.round(rng.normal(size=(n, features)) * 10, 1)
            y = (X @ weights + rng.normal(size=n) > 0).astype(np.int64)
            columns: dict[str, Any] = {"label": y}
            columns.update({f"f{i}": X[:, i] for i in range(features)})
            buffer = io.BytesIO()
            pacsv.write_csv(pa.table(columns), buffer, pacsv.WriteOptions(include_header=False))
            fh.write(buffer.getvalue())


def process_tree_memory(pid: int) -> tuple[int, int]:
    """(sum of PSS, sum of RSS) in bytes of ``pid`` and its descendants (PSS counts shared
    pages once, split between the processes sharing them)."""
    import psutil

    try:
        root = psutil.Process(pid)
        procs = [root, *root.children(recursive=True)]
    except psutil.Error:
        return 0, 0
    pss = rss = 0
    for proc in procs:
        try:
            info = proc.memory_full_info()
        except psutil.Error:
            continue
        pss += getattr(info, "pss", info.rss)
        rss += info.rss
    return pss, rss


def sigv4_headers(url: str, service: str, body: bytes, headers: dict[str, str]) -> dict[str, str]:
    """``headers`` plus a SigV4 ``Authorization`` computed once (the server, with no
    credentials file, requires a well-formed signature and accepts any key): what boto3
    sends, without boto3's per-request cost in the measured loop."""
    from botocore.auth import SigV4Auth
    from botocore.awsrequest import AWSRequest
    from botocore.credentials import Credentials

    request = AWSRequest(method="POST", url=url, data=body, headers=dict(headers))
    SigV4Auth(Credentials("localaws", "localaws"), service, "us-east-1").add_auth(request)
    return {k: str(v) for k, v in request.headers.items()}
