"""The Step Functions API through the local server against moto's server: 8 threads, each
with its own boto3 client, calling StartExecution then DescribeExecution on a one-Pass-state
machine.  Both servers run in their own processes.  Target: >= 3x moto's server.

    python -m bench.api_server               # 2,000 StartExecution+DescribeExecution pairs
    python -m bench.api_server --pairs 80    # a quick look
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path

from bench.harness import free_port, print_table, python_process, stop, wait_for_port

THREADS = 8
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


def load(url: str, pairs: int) -> tuple[float, int]:
    """(seconds, pairs done) of StartExecution+DescribeExecution from THREADS threads."""
    import boto3
    from botocore.config import Config

    config = Config(retries={"max_attempts": 1}, max_pool_connections=THREADS)
    clients = [
        boto3.session.Session().client(
            "stepfunctions", endpoint_url=url, region_name="us-east-1", config=config
        )
        for _ in range(THREADS)
    ]
    arn = clients[0].create_state_machine(
        name=f"bench-{uuid.uuid4().hex[:8]}", definition=DEFINITION, roleArn=ROLE
    )["stateMachineArn"]
    per_thread = max(1, pairs // THREADS)
    errors: list[BaseException] = []
    go = threading.Event()

    def work(client: object, n: int) -> None:
        go.wait()
        try:
            for _ in range(n):
                started = client.start_execution(stateMachineArn=arn, input="{}")  # type: ignore[attr-defined]
                client.describe_execution(executionArn=started["executionArn"])  # type: ignore[attr-defined]
        except BaseException as e:
            errors.append(e)

    for client in clients:  # connections open, models loaded: not part of the measure
        work_once = client.start_execution(stateMachineArn=arn, input="{}")
        client.describe_execution(executionArn=work_once["executionArn"])
    threads = [threading.Thread(target=work, args=(c, per_thread)) for c in clients]
    for t in threads:
        t.start()
    start = time.perf_counter()
    go.set()
    for t in threads:
        t.join()
    elapsed = time.perf_counter() - start
    if errors:
        raise SystemExit(f"{len(errors)} threads failed, first: {errors[0]!r}")
    return elapsed, per_thread * THREADS


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--pairs", type=int, default=2_000, help="StartExecution+Describe pairs")
    args = parser.parse_args(argv)
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
        note=f"{ours_n:,} pairs each; boto3 clients in one process, servers in their own",
    )  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
