"""Inference fan-out, second half: SQS messages -> the dimension's endpoint -> DynamoDB.

Event: an SQS batch from the event source mapping (``events/churn_score.json``), each body
as :mod:`churn_split` sends it.  Rows are grouped by dimension and sent as one ``text/csv``
request per dimension to the endpoint ``$ENDPOINT_PREFIX-<dimension>``; the label column
(``Churn?_True.``, or any first column whose name starts with ``Churn?``) is kept as ground
truth and not sent.  One item per row goes to ``$TABLE``: ``id`` (``<source>#<row>``, so a
redelivered message rewrites its own item), ``dimension``, ``prediction`` (0/1 at
``$THRESHOLD``, default 0.5), ``probability``, ``ground_truth`` (when present),
``features`` (the CSV sent), ``created_at``.

Partial batch failures: a message whose dimension's request or write fails is returned in
``batchItemFailures``; SQS delivers it again, and after the queue's ``maxReceiveCount`` it
goes to the dead-letter queue.  A malformed body fails only its own message.
"""

from __future__ import annotations

import json
import os
from collections import defaultdict
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any

from common.errors import EndpointError, InvalidEventError

LABEL_PREFIX = "Churn?"
CONTENT_TYPE = "text/csv"


def parse(record: dict[str, Any]) -> dict[str, Any]:
    try:
        body = json.loads(record["body"])
        dimension, values = body["dimension"], body["values"]
        header = body.get("header") or []
    except (KeyError, TypeError, json.JSONDecodeError) as e:
        raise InvalidEventError(
            f"message {record.get('messageId')}: body is not a churn_split row message"
        ) from e
    if not isinstance(values, list) or not isinstance(dimension, str):
        raise InvalidEventError(f"message {record.get('messageId')}: values must be a list")
    truth = None
    if header and str(header[0]).startswith(LABEL_PREFIX):
        truth, values = values[0], values[1:]
    return {
        "id": f"{body.get('source', '')}#{body.get('row', record.get('messageId'))}",
        "dimension": dimension,
        "ground_truth": truth,
        "features": ",".join(str(v) for v in values),
    }


def probabilities(client: Any, endpoint: str, rows: list[str]) -> list[float]:
    try:
        reply = client.invoke_endpoint(
            EndpointName=endpoint,
            ContentType=CONTENT_TYPE,
            Accept=CONTENT_TYPE,
            Body="\n".join(rows).encode(),
        )
    except Exception as e:
        raise EndpointError(f"endpoint {endpoint}: {type(e).__name__}: {e}") from e
    text = reply["Body"].read().decode()
    scores = [float(v) for v in text.replace("\n", ",").split(",") if v.strip()]
    if len(scores) != len(rows):
        raise EndpointError(f"endpoint {endpoint}: {len(scores)} scores for {len(rows)} rows")
    return scores


def item(row: dict[str, Any], probability: float, threshold: float, now: str) -> dict[str, Any]:
    out: dict[str, Any] = {
        "id": {"S": row["id"]},
        "dimension": {"S": row["dimension"]},
        "prediction": {"N": "1" if probability >= threshold else "0"},
        "probability": {"N": repr(float(probability))},
        "features": {"S": row["features"]},
        "created_at": {"S": now},
    }
    if row["ground_truth"] not in (None, ""):
        out["ground_truth"] = {"N": str(int(float(row["ground_truth"])))}
    return out


@lru_cache(maxsize=1)
def _clients() -> tuple[Any, Any]:
    import boto3

    from localaws.lambdakit.clients import sagemaker_runtime_client

    return sagemaker_runtime_client(), boto3.client("dynamodb")


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    table = os.environ.get("TABLE", "")
    prefix = os.environ.get("ENDPOINT_PREFIX", "")
    if not table or not prefix:
        raise InvalidEventError("TABLE, ENDPOINT_PREFIX: set both in the function's environment")
    threshold = float(os.environ.get("THRESHOLD", "0.5"))
    runtime, dynamodb = _clients()
    failures: list[str] = []
    by_dimension: dict[str, list[tuple[str, dict[str, Any]]]] = defaultdict(list)
    for record in event.get("Records") or []:
        try:
            row = parse(record)
        except InvalidEventError as e:
            print(f"skipping: {e}")
            failures.append(record["messageId"])
            continue
        by_dimension[row["dimension"]].append((record["messageId"], row))
    now = datetime.now(UTC).isoformat()
    for dimension, rows in by_dimension.items():
        try:
            scores = probabilities(
                runtime, f"{prefix}-{dimension}", [r["features"] for _, r in rows]
            )
            for (_, row), score in zip(rows, scores, strict=True):
                dynamodb.put_item(TableName=table, Item=item(row, score, threshold, now))
        except Exception as e:
            print(f"dimension {dimension}: {type(e).__name__}: {e}")
            failures.extend(message_id for message_id, _ in rows)
    return {"batchItemFailures": [{"itemIdentifier": m} for m in failures]}
