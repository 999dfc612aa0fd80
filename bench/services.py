"""DynamoDB and SQS through the local server against moto's own server, plus the journal.

    python -m bench.services            # full run (a minute or two)
    python -m bench.services --quick    # smoke run: small sizes

The servers run as child processes on 127.0.0.1 (ours: ``python -m workflows serve`` over a
fresh state directory, every mutating call journaled, once with each journal sync mode,
``LOCALAWS_JOURNAL_SYNC=full`` (fsync before the ack) and ``normal``; moto's:
``moto.server.ThreadedMotoServer``, memory only) and are driven by the same boto3 clients
from this process, one call at a time, once each server is quiet (its start work done):

* DynamoDB PutItem and GetItem (one small item each): operations per second;
* SQS SendMessage (one message per call), then ReceiveMessage (10 per call) +
  DeleteMessageBatch until the queue is empty: messages per second.

* SQS -> Lambda: ``n`` messages waiting in a queue, consumed by the same handler (batches of
  10): ours through an event source mapping (the poller receives, a warm Lambda worker runs
  the handler, the poller deletes), timed from CreateEventSourceMapping until the queue is
  empty; moto's: a plain loop in this process receiving 10 from moto's server, calling the
  handler and deleting the batch.  Messages per second.

Then the journal alone: the cost of one append in each mode (``Journal.append`` of a PutItem-sized
call), and the time to replay the server's journal (every call the run above made) into
fresh moto backends, as a restart without a snapshot does, and the restart from the
snapshot of the same state.  The ratio column is ours / moto (higher is better
for ours).
"""

from __future__ import annotations

import argparse
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import boto3
from botocore.config import Config

ROOT = Path(__file__).resolve().parents[1]
REGION = "us-east-1"
STARTUP_TIMEOUT_S = 120
SYNC_MODES = ("full", "normal")
# A server is quiet once it used under this share of one core over a second: the start
# work of ``workflows serve`` (registering the shipped use case: imports, a definition,
# raw data) runs in a thread for several CPU seconds after the server answers, and a
# measurement started earlier timed that work instead of the calls (PutItem at 44/s
# instead of ~200/s on a loaded machine).
QUIET_CPU_SHARE = 0.05


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_until_up(url: str, process: subprocess.Popen[bytes]) -> None:
    client = clients(url)("sts")
    deadline = time.monotonic() + STARTUP_TIMEOUT_S
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"the server at {url} exited with {process.returncode}")
        try:
            client.get_caller_identity()
            return
        except Exception:  # not listening yet
            time.sleep(0.1)
    raise RuntimeError(f"the server at {url} did not start")


def wait_until_quiet(process: subprocess.Popen[bytes]) -> None:
    """Until the server (all its threads) has finished its start work: under
    ``QUIET_CPU_SHARE`` of a core for two seconds in a row.  Gives up after ``STARTUP_TIMEOUT_S``
    (the measurement then says so by its figures, not by an error)."""
    import psutil

    server = psutil.Process(process.pid)

    def cpu_s() -> float:
        times = server.cpu_times()
        return float(times.user + times.system)

    deadline = time.monotonic() + STARTUP_TIMEOUT_S
    quiet = 0
    while time.monotonic() < deadline and quiet < 2:  # two quiet seconds in a row
        before = cpu_s()
        time.sleep(1.0)
        quiet = quiet + 1 if cpu_s() - before < QUIET_CPU_SHARE else 0


@contextmanager
def our_server(state_dir: Path, sync: str) -> Iterator[str]:
    port = free_port()
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "workflows",
            "serve",
            "--state-dir",
            str(state_dir),
            "--port",
            str(port),
        ],
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env={**os.environ, "LOCALAWS_JOURNAL_SYNC": sync},
    )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until_up(url, process)
        wait_until_quiet(process)
        yield url
    finally:
        process.send_signal(signal.SIGKILL)  # as a crash would: the journal must be enough
        process.wait()


@contextmanager
def moto_server() -> Iterator[str]:
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "bench.services", "--serve-moto", str(port)],
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until_up(url, process)
        wait_until_quiet(process)
        yield url
    finally:
        process.terminate()
        process.wait()


def serve_moto(port: int) -> None:
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    signal.sigwait({signal.SIGTERM, signal.SIGINT})
    server.stop()


def clients(url: str) -> Callable[[str], Any]:
    session = boto3.Session(
        aws_access_key_id="bench", aws_secret_access_key="bench", region_name=REGION
    )
    config = Config(retries={"max_attempts": 1})
    return lambda service: session.client(service, endpoint_url=url, config=config)


def rate(count: int, fn: Callable[[], None]) -> float:
    started = time.perf_counter()
    fn()
    return count / (time.perf_counter() - started)


def measure(url: str, n: int) -> dict[str, float]:
    c = clients(url)
    ddb, sqs = c("dynamodb"), c("sqs")
    ddb.create_table(
        TableName="bench",
        KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    queue = sqs.create_queue(QueueName="bench")["QueueUrl"]
    ddb.put_item(TableName="bench", Item={"id": {"S": "warm"}})  # warm-up
    ddb.get_item(TableName="bench", Key={"id": {"S": "warm"}})

    def put() -> None:
        for i in range(n):
            ddb.put_item(TableName="bench", Item={"id": {"S": f"k{i}"}, "v": {"N": str(i)}})

    def get() -> None:
        for i in range(n):
            ddb.get_item(TableName="bench", Key={"id": {"S": f"k{i}"}})

    def send() -> None:
        for i in range(n):
            sqs.send_message(QueueUrl=queue, MessageBody=f"message {i}")

    def receive() -> None:
        got = 0
        while got < n:
            messages = sqs.receive_message(QueueUrl=queue, MaxNumberOfMessages=10).get(
                "Messages", []
            )
            if not messages:
                raise RuntimeError(f"the queue ran dry after {got} of {n} messages")
            sqs.delete_message_batch(
                QueueUrl=queue,
                Entries=[
                    {"Id": str(j), "ReceiptHandle": m["ReceiptHandle"]}
                    for j, m in enumerate(messages)
                ],
            )
            got += len(messages)

    return {
        "DynamoDB PutItem": rate(n, put),
        "DynamoDB GetItem": rate(n, get),
        "SQS send (1/call)": rate(n, send),
        "SQS receive+delete (10/call)": rate(n, receive),
    }


HANDLER = """
import json


def handler(event, context):
    total = 0
    for record in event["Records"]:
        total += json.loads(record["body"])["n"]
    return {"batchItemFailures": [], "total": total}
"""


def _handler_zip() -> bytes:
    import io
    import zipfile

    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("consumer.py", HANDLER)
    return buf.getvalue()


def _fill(sqs: Any, url: str, n: int) -> None:
    for start in range(0, n, 10):
        sqs.send_message_batch(
            QueueUrl=url,
            Entries=[
                {"Id": str(i), "MessageBody": f'{{"n": {i}}}'}
                for i in range(start, min(start + 10, n))
            ],
        )


def sqs_to_lambda_ours(url: str, n: int) -> float:
    """Messages per second through an event source mapping on our server."""
    make = clients(url)
    sqs, lam = make("sqs"), make("lambda")
    queue = sqs.create_queue(QueueName="bench-esm")["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    lam.create_function(
        FunctionName="bench-consumer",
        Runtime="python3.11",
        Role="arn:aws:iam::123456789012:role/bench",
        Handler="consumer.handler",
        Code={"ZipFile": _handler_zip()},
        Timeout=60,
    )
    lam.invoke(FunctionName="bench-consumer", Payload=b'{"Records": []}')  # a warm worker
    _fill(sqs, queue, n)

    def drain() -> None:
        lam.create_event_source_mapping(
            EventSourceArn=arn, FunctionName="bench-consumer", BatchSize=10
        )
        while True:
            attributes = sqs.get_queue_attributes(
                QueueUrl=queue,
                AttributeNames=[
                    "ApproximateNumberOfMessages",
                    "ApproximateNumberOfMessagesNotVisible",
                ],
            )["Attributes"]
            if not any(int(v) for v in attributes.values()):
                return
            time.sleep(0.1)  # a poll every 10 ms took most of the server's GIL from the ESM

    return rate(n, drain)


def sqs_to_lambda_loop(url: str, n: int) -> float:
    """Messages per second for a plain loop calling the handler on moto's server's messages."""
    namespace: dict[str, Any] = {}
    exec(HANDLER, namespace)
    handler = namespace["handler"]
    sqs = clients(url)("sqs")
    queue = sqs.create_queue(QueueName="bench-esm")["QueueUrl"]
    _fill(sqs, queue, n)

    def drain() -> None:
        done = 0
        while done < n:
            got = sqs.receive_message(QueueUrl=queue, MaxNumberOfMessages=10).get("Messages", [])
            if not got:
                continue
            event = {"Records": [{"messageId": m["MessageId"], "body": m["Body"]} for m in got]}
            handler(event, None)
            sqs.delete_message_batch(
                QueueUrl=queue,
                Entries=[
                    {"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(got)
                ],
            )
            done += len(got)

    return rate(n, drain)


def journal_append_us(directory: Path, n: int, sync: str) -> float:
    from localaws.motobridge.journal import Call, Journal

    journal = Journal(directory / f"append-{sync}.db", sync=sync)
    body = b'{"TableName": "bench", "Item": {"id": {"S": "k1"}, "v": {"N": "1"}}}'
    headers = {
        "content-type": "application/x-amz-json-1.0",
        "x-amz-target": "DynamoDB_20120810.PutItem",
    }
    call = Call(
        "dynamodb", "POST", "https://dynamodb.us-east-1.amazonaws.com/", headers, body, 1, 0.0
    )
    started = time.perf_counter()
    for _ in range(n):
        journal.sync_to(journal.append(call))  # what a lone writer waits for
    elapsed = time.perf_counter() - started
    journal.close()
    return elapsed / n * 1e6


def replay(state_dir: Path) -> tuple[int, float, float, float]:
    """(calls replayed, seconds to open the bridge including moto's import, seconds of the
    replay loop alone, seconds to open it again from the snapshot its close wrote)."""
    from localaws.motobridge.bridge import MotoBridge

    def open_bridge() -> tuple[MotoBridge, float]:
        started = time.perf_counter()
        bridge = MotoBridge(
            state_dir / "services", region=REGION, account_id="123456789012", sync="normal"
        ).open()
        return bridge, time.perf_counter() - started

    (state_dir / "services" / "snapshot.pickle").unlink(missing_ok=True)
    bridge, open_s = open_bridge()
    bridge.close()  # writes a snapshot of everything replayed
    again, snapshot_s = open_bridge()
    again.close()
    return bridge.replayed, open_s, bridge.replay_seconds, snapshot_s


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="small sizes")
    parser.add_argument("--n", type=int, default=None, help="calls per measurement")
    parser.add_argument("--serve-moto", type=int, default=None, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.serve_moto is not None:
        serve_moto(args.serve_moto)
        return 0
    n = args.n or (30 if args.quick else 2000)

    with tempfile.TemporaryDirectory(prefix="bench-services-") as tmp:
        ours: dict[str, dict[str, float]] = {}
        for sync in SYNC_MODES:
            with our_server(Path(tmp) / sync, sync) as url:
                ours[sync] = measure(url, n)
                ours[sync]["SQS -> Lambda (ESM)"] = sqs_to_lambda_ours(url, n)
        with moto_server() as url:
            moto = measure(url, n)
            moto["SQS -> Lambda (ESM)"] = sqs_to_lambda_loop(url, n)
        append_us = {sync: journal_append_us(Path(tmp), n, sync) for sync in SYNC_MODES}
        replayed, open_s, replay_s, snapshot_s = replay(Path(tmp) / "full")

    print(f"{n} calls per row, one at a time, boto3 -> HTTP -> server (all child processes)")
    print("ours(full): every journal entry fsynced before the ack; ours(normal): to the OS only")
    print("SQS -> Lambda: ours = event source mapping + Lambda worker; moto = a plain loop")
    header = (
        f"{'operation':<30} {'ours(full)/s':>12} {'ours(normal)/s':>14} {'moto /s':>9} "
        f"{'full/moto':>9} {'normal/moto':>11}"
    )
    print(header)
    print("-" * len(header))
    for name in moto:
        full, normal = ours["full"][name], ours["normal"][name]
        print(
            f"{name:<30} {full:>12.0f} {normal:>14.0f} {moto[name]:>9.0f} "
            f"{full / moto[name]:>8.2f}x {normal / moto[name]:>10.2f}x"
        )
    print()
    print("journal (ours)")
    for sync in SYNC_MODES:
        print(f"  append of one PutItem-sized call, sync={sync}: {append_us[sync]:9.1f} us")
    print(
        f"  replay of {replayed} journaled calls: {replay_s * 1e3:.1f} ms "
        f"({replay_s / max(replayed, 1) * 1e6:.1f} us/call; {open_s * 1e3:.0f} ms with moto's "
        "import and mount)"
    )
    print(f"  start from the snapshot of the same state instead: {snapshot_s * 1e3:.1f} ms")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
