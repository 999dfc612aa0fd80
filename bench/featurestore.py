"""Feature Store GetRecord over HTTP against a baseline call through the same server.

One local server (``python -m workflows serve``, its own process, as users run it) over a
temporary state directory; one boto3 client with keep-alive calls it sequentially.  (A server
in a thread of the client's process measures the GIL hand-off between the two threads, tens
of milliseconds per call, rather than the server.)  The feature group holds ``--records``
records of 10 features; GetRecord reads random ids.  The baseline is DynamoDB GetItem of an
item of the same size when the runtime serves DynamoDB, else SageMaker DescribeFeatureGroup
(a record read through the SageMaker JSON protocol); the table says which.

    python -m bench.featurestore                      # 10,000 records, 5,000 reads each
    python -m bench.featurestore --records 100 --reads 50
"""

from __future__ import annotations

import argparse
import random
import signal
import statistics
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

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from localaws.registry import BY_BOTOCORE_NAME
from localaws.runtime import read_owner

ROOT = Path(__file__).resolve().parents[1]

GROUP = "bench-features"
FEATURES = 10


@contextmanager
def serve(state_dir: Path, timeout: float = 60.0) -> Iterator[str]:
    """``python -m workflows serve`` on a free port; its URL until the block ends."""
    process = subprocess.Popen(
        [sys.executable, "-m", "workflows", "serve", "--state-dir", str(state_dir), "--port", "0"],
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + timeout
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"the server exited: {process.communicate()[1][-2000:]}")
            owner = read_owner(state_dir)
            if owner and owner.get("pid") == process.pid and owner.get("url"):
                break
            if time.monotonic() > deadline:
                raise RuntimeError("the server did not start")
            time.sleep(0.05)
        yield str(owner["url"])
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def clients(url: str) -> Callable[[str], Any]:
    config = Config(retries={"max_attempts": 1}, max_pool_connections=1)

    def make(service: str) -> Any:
        return boto3.client(
            service,
            endpoint_url=url,
            region_name="us-east-1",
            aws_access_key_id="bench",
            aws_secret_access_key="bench",
            config=config,
        )

    return make


def record(i: int) -> list[dict[str, str]]:
    values = {"id": f"r{i}", "event_time": "2026-01-01T00:00:00Z"}
    values.update({f"f{k}": f"{(i * 31 + k) % 997 / 7:.6f}" for k in range(FEATURES)})
    return [{"FeatureName": k, "ValueAsString": v} for k, v in values.items()]


def setup_group(make: Callable[[str], Any], records: int) -> None:
    sm, fs = make("sagemaker"), make("sagemaker-featurestore-runtime")
    sm.create_feature_group(
        FeatureGroupName=GROUP,
        RecordIdentifierFeatureName="id",
        EventTimeFeatureName="event_time",
        FeatureDefinitions=[
            {"FeatureName": "id", "FeatureType": "String"},
            {"FeatureName": "event_time", "FeatureType": "String"},
            *({"FeatureName": f"f{k}", "FeatureType": "Fractional"} for k in range(FEATURES)),
        ],
        OnlineStoreConfig={"EnableOnlineStore": True},
    )
    while sm.describe_feature_group(FeatureGroupName=GROUP)["FeatureGroupStatus"] == "Creating":
        time.sleep(0.05)
    for i in range(records):
        fs.put_record(FeatureGroupName=GROUP, Record=record(i))


def setup_dynamodb(make: Callable[[str], Any], records: int) -> Any:
    ddb = make("dynamodb")
    ddb.create_table(
        TableName=GROUP,
        KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    for i in range(records):
        ddb.put_item(
            TableName=GROUP,
            Item={f["FeatureName"]: {"S": f["ValueAsString"]} for f in record(i)},
        )
    return ddb


def timed(call: Callable[[], Any], reads: int) -> list[float]:
    for _ in range(min(50, reads)):  # warm the connection and caches
        call()
    samples = []
    for _ in range(reads):
        start = time.perf_counter()
        call()
        samples.append((time.perf_counter() - start) * 1000)
    return samples


def percentile(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1)))]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--records", type=int, default=10_000)
    parser.add_argument("--reads", type=int, default=5_000)
    args = parser.parse_args(argv)
    rng = random.Random(0)
    with tempfile.TemporaryDirectory() as tmp, serve(Path(tmp) / "state") as url:
        make = clients(url)
        setup_group(make, args.records)
        fs = make("sagemaker-featurestore-runtime")
        ids = [f"r{rng.randrange(args.records)}" for _ in range(args.reads + 50)]
        it = iter(ids * 2)

        def get_record() -> Any:
            found = fs.get_record(FeatureGroupName=GROUP, RecordIdentifierValueAsString=next(it))
            assert found["Record"], "GetRecord found no record"

        ours = timed(get_record, args.reads)
        if "dynamodb" in BY_BOTOCORE_NAME:
            ddb = setup_dynamodb(make, args.records)
            base_it = iter(ids * 2)
            baseline_name = "DynamoDB GetItem"

            def baseline() -> Any:
                return ddb.get_item(TableName=GROUP, Key={"id": {"S": next(base_it)}})
        else:
            sm = make("sagemaker")
            baseline_name = "SageMaker DescribeFeatureGroup (no DynamoDB on this runtime)"

            def baseline() -> Any:
                return sm.describe_feature_group(FeatureGroupName=GROUP)

        theirs = timed(baseline, args.reads)
    print(f"{args.records} records, {args.reads} sequential reads each, one keep-alive client")
    header = f"{'call':<62} {'p50 ms':>8} {'p99 ms':>8} {'mean ms':>8}"
    print(header)
    print("-" * len(header))
    for name, samples in (("Feature Store GetRecord", ours), (baseline_name, theirs)):
        print(
            f"{name:<62} {percentile(samples, 50):>8.2f} {percentile(samples, 99):>8.2f} "
            f"{statistics.fmean(samples):>8.2f}"
        )
    print(
        f"{'ratio GetRecord/baseline':<62} "
        f"{percentile(ours, 50) / percentile(theirs, 50):>8.2f} "
        f"{percentile(ours, 99) / percentile(theirs, 99):>8.2f} "
        f"{statistics.fmean(ours) / statistics.fmean(theirs):>8.2f}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
