"""The training set: an Athena query joining the two offline stores, latest record per id.

Event (``events/hotel_training_set.json``)::

    {"database": "sagemaker_featurestore",
     "customers_table": "hotel-customers-1700000000", "destinations_table": "...",
     "customers_group_arn": "arn:...", "destinations_group_arn": "arn:...",
     "ingested_after": "2024-01-01 00:00:00.000", "customers": 1000, "destinations": 150,
     "athena_output_uri": "s3://bucket/hotel/athena/", "output_prefix": "s3://bucket/hotel/sets/<run>/",
     "seed": 42, "validation_fraction": 0.2, "test_fraction": 0.1, "wait_seconds": 600}

Waits until the offline stores hold the rows ingested after ``ingested_after`` (the offline
store is eventually consistent: minutes on AWS, a second locally), runs :func:`training_query`
through Athena (StartQueryExecution) and reads its CSV result; splits it 70/20/10 and writes
``train/train.csv``, ``validation/validation.csv``, ``test/test.csv`` (label first, no header)
and ``test-events/events.jsonl`` (the test rows as streamed events, with their label).
Records lineage: each feature group's context -ContributedTo-> the query (an action)
-Produced-> the training and validation data sets.
"""

from __future__ import annotations

import io
import json
import time
from functools import lru_cache
from typing import Any

import numpy as np
import pandas as pd
from common import objects
from common.errors import DataQualityError, InvalidEventError

from hotel_clusters import schema

POLL_S = 0.2
DEFAULTS = {"seed": 42, "validation_fraction": 0.2, "test_fraction": 0.1, "wait_seconds": 600}
FILES = {
    "train_uri": ("train", "train.csv"),
    "validation_uri": ("validation", "validation.csv"),
    "test_uri": ("test", "test.csv"),
}
EVENTS_FILE = ("test-events", "events.jsonl")


class QueryFailed(Exception):
    """An Athena query ended FAILED or CANCELLED; the message has Athena's reason."""


class OfflineStoreNotReady(Exception):
    """The offline store did not show the ingested rows in time (a Retry may wait longer)."""


@lru_cache(maxsize=1)
def _clients() -> tuple[Any, Any]:
    import boto3

    return boto3.client("athena"), boto3.client("sagemaker")


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    request = {**DEFAULTS, **event}
    for field in ("database", "customers_table", "destinations_table", "ingested_after"):
        if not isinstance(request.get(field), str) or not request[field]:
            raise InvalidEventError(f"{field}: required, a non-empty string")
    output_prefix = objects.require_uri(request, "output_prefix")
    athena_output = objects.require_uri(request, "athena_output_uri")
    athena, sm = _clients()
    database = request["database"]
    for table, expected in (
        (request["customers_table"], int(request.get("customers", 1))),
        (request["destinations_table"], int(request.get("destinations", 1))),
    ):
        wait_for_rows(
            athena,
            database,
            table,
            request["ingested_after"],
            expected,
            athena_output,
            float(request["wait_seconds"]),
        )
    sql = training_query(database, request["customers_table"], request["destinations_table"])
    execution = run_query(athena, sql, database, athena_output)
    location = execution["ResultConfiguration"]["OutputLocation"]
    frame = pd.read_csv(io.BytesIO(objects.storage().read(location)))
    if len(frame) < 10:
        raise DataQualityError(
            f"training set: the query returned {len(frame)} rows; ingest more data (--rows)"
        )
    written = write_splits(frame, output_prefix, request)
    written["query_execution_id"] = execution["QueryExecutionId"]
    written["query_result_uri"] = location
    written["lineage"] = record_lineage(sm, request, execution, written)
    return written


# -- the query --------------------------------------------------------------------------


def training_query(database: str, customers: str, destinations: str) -> str:
    """Latest customer record per user joined with the latest destination record (Trino);
    an id whose latest record is a deletion is left out."""
    features = ", ".join(
        f"d.{c}" if c in schema.COMPONENTS else f"c.{c}" for c in schema.MODEL_FEATURES
    )
    return f"""
WITH customers AS (
    SELECT *, row_number() OVER (
        PARTITION BY {schema.CUSTOMER_ID}
        ORDER BY {schema.EVENT_TIME} DESC, api_invocation_time DESC, write_time DESC) AS row_rank
    FROM "{database}"."{customers}"
), destinations AS (
    SELECT *, row_number() OVER (
        PARTITION BY {schema.DESTINATION_ID}
        ORDER BY {schema.DESTINATION_EVENT_TIME} DESC, api_invocation_time DESC, write_time DESC) AS row_rank
    FROM "{database}"."{destinations}"
)
SELECT c.{schema.LABEL}, {features}, c.{schema.CUSTOMER_ID}
FROM customers c
JOIN destinations d ON c.{schema.DESTINATION_ID} = d.{schema.DESTINATION_ID}
WHERE c.row_rank = 1 AND d.row_rank = 1 AND NOT c.is_deleted AND NOT d.is_deleted
ORDER BY c.{schema.CUSTOMER_ID}
""".strip()


def count_query(database: str, table: str, after: str) -> str:
    return (
        f'SELECT count(*) AS n FROM "{database}"."{table}" '
        f"WHERE api_invocation_time >= TIMESTAMP '{after}'"
    )


def run_query(athena: Any, sql: str, database: str, output_uri: str) -> dict[str, Any]:
    """StartQueryExecution, then GetQueryExecution until it ends; the QueryExecution."""
    started = athena.start_query_execution(
        QueryString=sql,
        QueryExecutionContext={"Database": database},
        ResultConfiguration={"OutputLocation": output_uri},
    )
    qid = started["QueryExecutionId"]
    while True:
        execution = athena.get_query_execution(QueryExecutionId=qid)["QueryExecution"]
        state = execution["Status"]["State"]
        if state == "SUCCEEDED":
            return dict(execution)
        if state in ("FAILED", "CANCELLED"):
            reason = execution["Status"].get("StateChangeReason", "no reason given")
            raise QueryFailed(f"Athena query {qid} {state}: {reason}")
        time.sleep(POLL_S)


def wait_for_rows(
    athena: Any,
    database: str,
    table: str,
    after: str,
    expected: int,
    output_uri: str,
    wait_seconds: float,
) -> int:
    deadline = time.monotonic() + wait_seconds
    while True:
        execution = run_query(athena, count_query(database, table, after), database, output_uri)
        rows = athena.get_query_results(QueryExecutionId=execution["QueryExecutionId"])
        count = int(rows["ResultSet"]["Rows"][1]["Data"][0]["VarCharValue"])
        if count >= expected:
            return count
        if time.monotonic() >= deadline:
            raise OfflineStoreNotReady(
                f"{database}.{table}: {count} of {expected} ingested rows in the offline store "
                f"after {wait_seconds:.0f} s; retry later"
            )
        time.sleep(1.0)


# -- the splits -------------------------------------------------------------------------


def split(
    frame: pd.DataFrame, seed: int, validation: float, test: float
) -> dict[str, pd.DataFrame]:
    if not 0 < validation < 1 or not 0 < test < 1 or validation + test >= 1:
        raise InvalidEventError(
            f"validation_fraction {validation}, test_fraction {test}: each in (0, 1), sum below 1"
        )
    order = np.random.default_rng(seed).permutation(len(frame))
    n_test = max(1, round(len(frame) * test))
    n_val = max(1, round(len(frame) * validation))
    n_train = len(frame) - n_test - n_val
    return {
        "train": frame.iloc[order[:n_train]],
        "validation": frame.iloc[order[n_train : n_train + n_val]],
        "test": frame.iloc[order[n_train + n_val :]],
    }


def write_splits(frame: pd.DataFrame, prefix: str, request: dict[str, Any]) -> dict[str, Any]:
    store = objects.storage()
    parts = split(
        frame,
        int(request["seed"]),
        float(request["validation_fraction"]),
        float(request["test_fraction"]),
    )
    columns = [schema.LABEL, *schema.MODEL_FEATURES]
    out: dict[str, Any] = {}
    for key, (folder, name) in FILES.items():
        part = parts[folder][columns]
        store.write(
            objects.join(prefix, folder, name), part.to_csv(index=False, header=False).encode()
        )
        out[key] = objects.join(prefix, folder) + "/"
    lines = []
    for row in parts["test"].to_dict("records"):
        fields = {f: _plain(row[f]) for f in schema.STREAM_FIELDS}
        lines.append(json.dumps({"event": fields, schema.LABEL: int(row[schema.LABEL])}))
    events_uri = objects.join(prefix, *EVENTS_FILE)
    store.write(events_uri, ("\n".join(lines) + "\n").encode())
    out["test_events_uri"] = events_uri
    out["rows"] = {k: len(v) for k, v in parts.items()}
    out["num_class"] = int(frame[schema.LABEL].max()) + 1
    out["classes_seen"] = int(frame[schema.LABEL].nunique())
    return out


def _plain(value: Any) -> Any:
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, np.floating):
        return None if np.isnan(value) else float(value)
    return value


# -- lineage ----------------------------------------------------------------------------


def record_lineage(
    sm: Any, request: dict[str, Any], execution: dict[str, Any], written: dict[str, Any]
) -> dict[str, Any]:
    """Feature groups -ContributedTo-> the query -Produced-> the training/validation sets."""
    qid = execution["QueryExecutionId"]
    action = sm.create_action(
        ActionName=f"hotel-training-set-query-{qid}"[:120],
        Source={
            "SourceUri": execution["ResultConfiguration"]["OutputLocation"],
            "SourceType": "Athena",
        },
        ActionType="AthenaQuery",
        Description=execution["Query"][:3000],
        Status="Completed",
        Properties={"QueryExecutionId": qid, "Database": request["database"]},
    )["ActionArn"]
    contexts = []
    for key in ("customers_group_arn", "destinations_group_arn"):
        arn = request.get(key)
        if not arn:
            continue
        found = sm.list_contexts(SourceUri=arn).get("ContextSummaries", [])
        for context in found:
            sm.add_association(
                SourceArn=context["ContextArn"],
                DestinationArn=action,
                AssociationType="ContributedTo",
            )
            contexts.append(context["ContextArn"])
    artifacts = []
    for key in ("train_uri", "validation_uri"):
        artifact = sm.create_artifact(
            ArtifactName=f"hotel-{key.removesuffix('_uri')}-{qid}"[:120],
            Source={"SourceUri": written[key]},
            ArtifactType="DataSet",
        )["ArtifactArn"]
        sm.add_association(SourceArn=action, DestinationArn=artifact, AssociationType="Produced")
        artifacts.append(artifact)
    return {"action": action, "feature_groups": contexts, "data_sets": artifacts}
