"""The Step Functions API through the local server against moto's server: 8 threads, each
with its own keep-alive connection, calling StartExecution then DescribeExecution on a
one-Pass-state machine.  Both servers run in their own processes; so does the client, the
same for both: CLIENT_PROCESSES processes of raw HTTP requests carrying the headers boto3
sends (SigV4 signed once per process), so that the client's own cost (8 boto3 clients in one
process took about a core of the 2) neither caps nor favours either server.  Target: >= 3x
moto's server.

    python -m bench.api_server               # 2,000 StartExecution+DescribeExecution pairs
    python -m bench.api_server --pairs 80    # a quick look
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path

from bench.harness import (
    ROOT,
    free_port,
    print_table,
    python_process,
    sigv4_headers,
    stop,
    wait_for_port,
)

THREADS = 8
CLIENT_PROCESSES = 2  # THREADS split between them
DEFINITION = json.dumps({"StartAt": "A", "States": {"A": {"Type": "Pass", "End": True}}})
ROLE = "arn:aws:iam::123456789012:role/bench"

OUR_SERVER = """
import sys
from localaws.server.serve import serve
serve(sys.argv[1], port=int(sys.argv[2]))
"""

MOTO_SERVER = """
import logging, sys, threading
logging.getLogger("werkzeug").setLevel(logging.ERROR)
from moto.server import ThreadedMotoServer
server = ThreadedMotoServer(ip_address="127.0.0.1", port=int(sys.argv[1]))
server.start()
threading.Event().wait()
"""


def client(url: str, arn: str, threads: int, pairs: int) -> None:
    """One client process: ``threads`` threads doing ``pairs`` pairs each after a warm-up pair,
    started by a line on stdin; prints {"pairs", "start", "end", "errors"} (wall clock)."""
    import http.client
    from urllib.parse import urlsplit

    host = urlsplit(url)
    base = {"Content-Type": "application/x-amz-json-1.0", "Host": host.netloc}
    signed = {
        op: sigv4_headers(url, "states", b"{}", {**base, "X-Amz-Target": f"AWSStepFunctions.{op}"})
        for op in ("StartExecution", "DescribeExecution")
    }
    start_body = json.dumps({"stateMachineArn": arn, "input": "{}"}).encode()
    errors: list[str] = []
    go = threading.Event()
    ready = threading.Barrier(threads + 1)

    def call(conn: http.client.HTTPConnection, op: str, body: bytes) -> dict:
        conn.request("POST", "/", body=body, headers=signed[op])
        response = conn.getresponse()
        data = response.read()
        if response.status != 200:
            raise RuntimeError(f"{op}: HTTP {response.status}: {data[:300]!r}")
        return json.loads(data)

    def pair(conn: http.client.HTTPConnection) -> None:
        started = call(conn, "StartExecution", start_body)
        described = json.dumps({"executionArn": started["executionArn"]}).encode()
        call(conn, "DescribeExecution", described)

    def work() -> None:
        conn = http.client.HTTPConnection(host.hostname or "127.0.0.1", host.port, timeout=60)
        try:
            pair(conn)  # connection open, server warm: not part of the measure
        except Exception as e:
            errors.append(repr(e))
        ready.wait()
        go.wait()
        try:
            for _ in range(pairs):
                pair(conn)
        except Exception as e:
            errors.append(repr(e))
        finally:
            conn.close()

    workers = [threading.Thread(target=work) for _ in range(threads)]
    for t in workers:
        t.start()
    ready.wait()
    print("ready", flush=True)
    sys.stdin.readline()
    start = time.time()
    go.set()
    for t in workers:
        t.join()
    end = time.time()
    print(json.dumps({"pairs": pairs * threads, "start": start, "end": end, "errors": errors}))


def load(url: str, pairs: int) -> tuple[float, int]:
    """(seconds, pairs done) of StartExecution+DescribeExecution from THREADS threads in
    CLIENT_PROCESSES client processes, from the first start to the last end."""
    import boto3

    arn = boto3.client(
        "stepfunctions", endpoint_url=url, region_name="us-east-1"
    ).create_state_machine(
        name=f"bench-{uuid.uuid4().hex[:8]}", definition=DEFINITION, roleArn=ROLE
    )["stateMachineArn"]
    threads = THREADS // CLIENT_PROCESSES
    per_thread = max(1, pairs // THREADS)
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    clients = [
        subprocess.Popen(
            [
                sys.executable,
                "-m",
                "bench.api_server",
                "--client",
                url,
                arn,
                str(threads),
                str(per_thread),
            ],
            cwd=ROOT,
            env=env,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        for _ in range(CLIENT_PROCESSES)
    ]
    try:
        for proc in clients:
            assert proc.stdout is not None
            if proc.stdout.readline().strip() != "ready":
                raise SystemExit(f"a client process failed to start (exit {proc.wait()})")
        for proc in clients:
            assert proc.stdin is not None
            proc.stdin.write("go\n")
            proc.stdin.flush()
        results = [
            json.loads(proc.communicate(timeout=600)[0].strip().splitlines()[-1])
            for proc in clients
        ]
    finally:
        for proc in clients:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    errors = [e for r in results for e in r["errors"]]
    if errors:
        raise SystemExit(f"{len(errors)} client threads failed, first: {errors[0]}")
    elapsed = max(r["end"] for r in results) - min(r["start"] for r in results)
    return elapsed, sum(r["pairs"] for r in results)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--pairs", type=int, default=2_000, help="StartExecution+Describe pairs")
    parser.add_argument("--client", nargs=4, metavar=("URL", "ARN", "THREADS", "PAIRS"),
                        help=argparse.SUPPRESS)  # fmt: skip
    args = parser.parse_args(argv)
    if args.client:
        url, arn, threads, pairs = args.client
        client(url, arn, int(threads), int(pairs))
        return 0
    os.environ.setdefault("AWS_ACCESS_KEY_ID", "bench")
    os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "bench")
    work = Path(tempfile.mkdtemp(prefix="bench-api-"))
    try:
        port = free_port()
        ours = python_process(OUR_SERVER, str(work / "state"), str(port))
        try:
            wait_for_port(port, ours)
            ours_s, ours_n = load(f"http://127.0.0.1:{port}", args.pairs)
        finally:
            stop(ours)
        port = free_port()
        moto = python_process(MOTO_SERVER, str(port))
        try:
            wait_for_port(port, moto)
            moto_s, moto_n = load(f"http://127.0.0.1:{port}", args.pairs)
        finally:
            stop(moto)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    ours_rate, moto_rate = ours_n / ours_s, moto_n / moto_s
    print_table(
        [
            ["StartExecution+DescribeExecution, 8 threads", "local server", "moto server", "ratio", "target"],
            ["pairs/s", f"{ours_rate:,.0f}", f"{moto_rate:,.0f}", f"{ours_rate / moto_rate:.2f}x", ">= 3x"],
            ["ms per pair (8 in flight)", f"{ours_s / ours_n * THREADS * 1e3:.1f}",
             f"{moto_s / moto_n * THREADS * 1e3:.1f}", "", ""],
        ],
        note=f"{ours_n:,} pairs each; the same client ({CLIENT_PROCESSES} processes x {THREADS // CLIENT_PROCESSES} threads, raw HTTP with boto3's headers) for both; servers in their own processes; machine shared: re-measure on a quiet one",
    )  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
