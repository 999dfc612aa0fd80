"""Hotel-cluster streaming inference: events/s and stream-to-table latency through the local
Kinesis stream and its event source mapping, against the same Lambda code called in a plain
loop in this process (same run, same endpoint, online store and table); GetRecord p50/p99.

Sets up the use case once at a small size (ingestion, training, deployment: minutes), then
measures::

    python -m bench.hotel_stream --events 2000          # --quick: a smoke-sized run
"""

from __future__ import annotations

import argparse
import base64
import importlib
import json
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from bench.report import print_table
from workflows.hotel_clusters import run as hotel
from workflows.hotel_clusters import workflow as wf
from workflows.target import LocalTarget

LAMBDAS = Path(__file__).resolve().parents[1] / "lambdas"


def _events(template: list[dict[str, Any]], n: int, offset: int) -> list[dict[str, Any]]:
    """``n`` events cycled from the test split, each with a user id of its own."""
    out = []
    for i in range(n):
        event = json.loads(json.dumps(template[i % len(template)]))
        event["event"]["user_id"] = 10_000_000 + offset + i
        out.append(event)
    return out


def through_stream(
    target: LocalTarget, s: wf.HotelSettings, events: list[dict[str, Any]], wiring: dict[str, str]
) -> dict[str, float]:
    """Events/s = events / (the last item's ``date_time`` - the records put): the stream's
    own time, not the waiter's reading back; latency = each item's time - its arrival."""
    warm = json.loads(json.dumps(events[0]))
    warm["event"]["user_id"] = 9_999_998
    hotel.stream_events(target, s, [warm], wiring, poison=False, timeout=900)  # a warm worker
    summary = hotel.stream_events(target, s, events, wiring, poison=False, timeout=900)
    if summary["items"] != len(events):
        raise SystemExit(f"stream: {summary['items']} of {len(events)} items arrived")
    return {
        "events/s": len(events) / summary["seconds_to_last_item"],
        "p50": summary["latency_p50_ms"],
        "p99": summary["latency_p99_ms"],
    }


def plain_loop(target: LocalTarget, events: list[dict[str, Any]]) -> dict[str, float]:
    """The stream Lambda's handler in this process, on Kinesis-shaped batches of the
    mapping's size; latency = arrival (batch built) to the handler's return."""
    name = wf.function_names()["stream"]
    conf = target.lambda_.get_function_configuration(FunctionName=name)
    os.environ.update(target.lambda_.worker_environment(conf, LAMBDAS, "bench"))
    sys.path.insert(0, str(LAMBDAS))
    stream = importlib.import_module("hotel_clusters.stream")  # the code the worker runs

    def batch_of(chunk: list[dict[str, Any]], arrival: float) -> dict[str, Any]:
        return {
            "Records": [
                {
                    "kinesis": {
                        "data": base64.b64encode(json.dumps(e["event"]).encode()).decode(),
                        "approximateArrivalTimestamp": arrival,
                    }
                }
                for e in chunk
            ]
        }

    warm = json.loads(json.dumps(events[0]))
    warm["event"]["user_id"] = 9_999_999
    stream.handler(batch_of([warm], time.time()), None)  # clients created, as in a warm worker
    latencies: list[float] = []
    started = time.perf_counter()
    for start in range(0, len(events), hotel.BATCH_SIZE):
        chunk = events[start : start + hotel.BATCH_SIZE]
        arrival = time.time()
        stream.handler(batch_of(chunk, arrival), None)
        latencies += [time.time() - arrival] * len(chunk)
    elapsed = time.perf_counter() - started
    ms = np.array(latencies) * 1000
    return {
        "events/s": len(events) / elapsed,
        "p50": float(np.percentile(ms, 50)),
        "p99": float(np.percentile(ms, 99)),
    }


def get_record(target: LocalTarget, s: wf.HotelSettings, n: int) -> tuple[float, float]:
    import boto3

    # Over HTTP, as the Lambda reaches it (the environment plain_loop set: endpoint, keys).
    fs = boto3.client("sagemaker-featurestore-runtime", endpoint_url=target.runtime.api_url())
    ids = [r["srch_destination_id"] for r in _destination_ids(target, s)]
    times = []
    for i in range(n):
        t0 = time.perf_counter()
        fs.get_record(
            FeatureGroupName=s.destinations_group,
            RecordIdentifierValueAsString=str(ids[i % len(ids)]),
        )
        times.append(time.perf_counter() - t0)
    us = np.array(times) * 1e6
    return float(np.percentile(us, 50)), float(np.percentile(us, 99))


def _destination_ids(target: LocalTarget, s: wf.HotelSettings) -> list[dict[str, Any]]:
    data_uri = s.uri("raw")
    first = sorted(
        u for u in target.storage.list(data_uri + "/") if u.endswith("destinations.csv")
    )[0]
    lines = target.storage.read(first).decode().splitlines()[1:]
    return [{"srch_destination_id": int(line.split(",", 1)[0])} for line in lines]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="smoke size")
    parser.add_argument("--events", type=int, default=None, help="events per measurement")
    parser.add_argument("--rows", type=int, default=None, help="generated rows for the setup")
    args = parser.parse_args(argv)
    n = args.events or (60 if args.quick else 2000)
    rows = args.rows or (4000 if args.quick else 20_000)
    s = wf.HotelSettings(min_accuracy=0.0)  # the model's quality is not what is measured
    with tempfile.TemporaryDirectory(prefix="bench-hotel-") as tmp, LocalTarget(tmp) as target:
        setup = hotel.run(target, s, rows=rows, stream_limit=10)
        if not setup.succeeded:
            raise SystemExit(f"setup failed: {setup.report()}")
        template = hotel.test_events(target, setup.test_events_uri, 10_000)
        wiring = hotel.ensure_stream(target, s, wf.function_names()["stream"])
        streamed = through_stream(target, s, _events(template, n, 0), wiring)
        looped = plain_loop(target, _events(template, n, n))
        p50, p99 = get_record(target, s, max(n, 200))
    print(
        f"{n} events per row; stream = Kinesis -> event source mapping (batch {hotel.BATCH_SIZE}, window 1 s) -> Lambda worker -> DynamoDB"
    )
    print(
        "plain loop = the same handler called in this process on batches of the same size; ratio = stream / loop"
    )
    print_table(
        "hotel-cluster streaming inference",
        [("path", 34), ("events/s", 10), ("p50 ms", 9), ("p99 ms", 9), ("events/s ratio", 15)],
        [
            [
                "stream (ESM + Lambda worker)",
                f"{streamed['events/s']:.0f}",
                f"{streamed['p50']:.0f}",
                f"{streamed['p99']:.0f}",
                f"{streamed['events/s'] / looped['events/s']:.2f}x",
            ],
            [
                "plain loop (same handler)",
                f"{looped['events/s']:.0f}",
                f"{looped['p50']:.0f}",
                f"{looped['p99']:.0f}",
                "1.00x",
            ],
        ],
    )
    print(f"GetRecord (boto3 -> local API, destinations group): p50 {p50:.0f} us, p99 {p99:.0f} us")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
