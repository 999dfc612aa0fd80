"""Write ``notebooks/hotel_clusters.ipynb`` from the cells below (as build_walkthrough.py does)::

.venv/bin/python notebooks/build_hotel_clusters.py          # rewrite the notebook
.venv/bin/python notebooks/build_hotel_clusters.py --check  # exit 1 when it is stale
"""

from __future__ import annotations

import sys
from pathlib import Path

import notebook_kit

NOTEBOOK = Path(__file__).resolve().parent / "hotel_clusters.ipynb"

CELLS: list[tuple[str, str]] = [
    (
        "md",
        """# Hotel clusters: feature store, streaming inference and lineage

Booking events and destination features go into a **feature store** (online for serving,
offline for training); a training set is built with **Athena SQL** over the offline store; an
XGBoost `multi:softmax` model predicts the hotel cluster; live searches stream through
**Kinesis** to a Lambda that joins each one with online features, calls the endpoint and
writes the prediction to **DynamoDB**. Lineage ties it together; feature profiles show drift.

It runs against the local server (`python -m workflows serve`); set `TARGET = "aws"` to run it
on an account where `cfn/hotel-clusters.yaml` is deployed.""",
    ),
    (
        "code",
        """import os

TARGET = "local"  # "local": the local server; "aws": your AWS account
LOCAL_URL = os.environ.get("LOCALAWS_URL", "http://127.0.0.1:8083")
ROWS = int(os.environ.get("HOTEL_ROWS", "20000"))  # generated search events""",
    ),
    (
        "code",
        """import sys
from pathlib import Path

ROOT = Path.cwd() if (Path.cwd() / "workflows").is_dir() else Path.cwd().parent
sys.path.insert(0, str(ROOT))

import matplotlib.pyplot as plt
import pandas as pd
from IPython.display import SVG, display

from workflows import hotel_data
from workflows.hotel_clusters import insight, run
from workflows.hotel_clusters import workflow as wf
from workflows.target import AwsTarget, ServerTarget, aws_session

target = ServerTarget(LOCAL_URL) if TARGET == "local" else AwsTarget(aws_session())
settings = wf.HotelSettings(rows=ROWS)
print(f"target: {target.kind}")""",
    ),
    (
        "md",
        """## 1. The data

Search and booking events with the columns of the Expedia hotel-recommendations data, and
destinations described by 149 review-word features `d1..d149`. The generator gives them
realistic nulls and a learnable relation between destination, market and cluster; a
directory with the real `train.csv` and `destinations.csv` works the same way
(`python -m workflows run hotel-clusters --data DIR`).""",
    ),
    (
        "code",
        """data = hotel_data.generate(ROWS, settings.seed)
events = data.events
print(f"{len(events):,} events, {events['user_id'].nunique():,} users, "
      f"{len(data.destinations):,} destinations")
print("missing:", events.isna().mean().loc[lambda s: s > 0].round(3).to_dict())
display(events.head(3))
events["hotel_cluster"].value_counts().sort_index().plot.bar(figsize=(10, 2.5), xticks=[])
plt.title("bookings and searches per hotel cluster"); plt.show()""",
    ),
    (
        "md",
        """## 2. Ingest, train, deploy, stream

`run` registers the Lambdas, the predictions table, the stream with its event source mapping
(bisect on error, failures to a queue) and both state machines, then:

1. **ingestion**: clean (bookings with a distance and both dates), derive `duration`,
   `days_to_trip` and weekend flags, sample users, PCA of `d1..d149` to `pc1..pc3`, and put
   both feature groups (online + offline);
2. **training**: an Athena query joins the latest customer and destination records, the
   result is split 70/20/10, XGBoost trains with `num_class` from the data, a processing job
   measures accuracy and top-5 accuracy, and the model is deployed when it passes the gate;
3. **streaming**: the test split goes through Kinesis, with one poisoned record.""",
    ),
    (
        "code",
        """result = run.run(target, settings, rows=ROWS, on_phase=print)
report = result.report()
print(f"ingestion {report['ingestion']}, training {report['training']}")
print(f"test accuracy: {report['test_accuracy']:.4f}, top-5 accuracy: {report['test_top5_accuracy']:.4f}")
stream = report["stream"]
print(f"stream: {stream['events']} events -> {stream['items']} items; "
      f"latency p50 {stream['latency_p50_ms']} ms, p99 {stream['latency_p99_ms']} ms")
print(f"poisoned records: {stream['poisoned_records']}, on the failure queue: "
      f"{stream['failure_destination_messages']} (batch sizes "
      f"{[b['batchSize'] for b in stream['failed_batches']]})")""",
    ),
    (
        "md",
        """## 3. The predictions table

One item per streamed event: `user_id` (hash key), `date_time` (the processing time, range
key), the 22 input fields and `hotel_cluster_predicted`.""",
    ),
    (
        "code",
        """dynamodb = target.backend("dynamodb")
items = run.scan(dynamodb, settings.table, "2000")
table = pd.DataFrame([{k: next(iter(v.values())) for k, v in item.items()} for item in items])
print(f"{len(table)} items in table '{settings.table}'")
display(table[["user_id", "date_time", "srch_destination_id", "hotel_cluster_predicted"]].head())""",
    ),
    (
        "md",
        """## 4. Lineage

From the feature groups, through the Athena query and the data sets it produced, to the
training job, the model, its deployment and the endpoint (SageMaker's lineage API).""",
    ),
    (
        "code",
        """graph = insight.lineage(target, settings.endpoint)
print("\\n".join(insight.lineage_lines(graph)))
display(SVG(insight.lineage_svg(graph)))""",
    ),
    (
        "md",
        """## 5. Feature monitoring

A processing job profiles a snapshot of the customers' offline store (latest row per user).
Newer rows for the test users arrive with `days_to_trip` a year later; the second profile
shows the shift and flags it.""",
    ),
    (
        "code",
        """profile = lambda label: insight.profile(
    target, settings, settings.customers_group, label=label, id_column="user_id", time_column="date_time")
before = profile("before")
test_events = run.test_events(target, result.test_events_uri, 10_000)
insight.ingest_shifted(target, settings, test_events)
after = profile("after")
drift = pd.DataFrame(insight.drift(before, after)).set_index("column")
display(drift[drift["drifted"]])
means = [p["columns"]["days_to_trip"]["mean"] for p in (before, after)]
plt.figure(figsize=(4, 2.5)); plt.plot(["before", "after"], means, marker="o")
plt.title("mean days_to_trip per profile"); plt.show()
print("drifted:", sorted(drift.index[drift["drifted"]]))""",
    ),
]


def main(argv: list[str] | None = None) -> int:
    return notebook_kit.main(argv, CELLS, NOTEBOOK, __file__, __doc__ or "")


if __name__ == "__main__":
    sys.exit(main())
