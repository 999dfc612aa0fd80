"""The predictions table: a DynamoDB table, through boto3, locally and on AWS.

Each item is one prediction: ``prediction_id`` (the key, a string), ``model_name``,
``endpoint_name``, ``timestamp`` (ISO 8601, UTC), ``features`` (the input record, stored as
a JSON list of numbers) and ``score`` (the model's output).

The table of that name has the partition key ``prediction_id`` (type S); it is created by
the CloudFormation stack on AWS and by the workflow's local setup (``workflows/local.py``)
on the local runtime, which serves DynamoDB and gives its Lambda workers ``AWS_ENDPOINT_URL``
(and dummy credentials), so the same boto3 client reaches it.  Items are written with
``BatchWriteItem``.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from common import config
from common.errors import PredictionsTableError

KEY = "prediction_id"  # DynamoDB partition key (S); the SQLite primary key
TABLE_NAME_PATTERN = re.compile(r"^[A-Za-z0-9_.-]{3,255}$")  # DynamoDB's rule
BATCH_WRITE_LIMIT = 25  # items per BatchWriteItem request
BATCH_WRITE_ATTEMPTS = 5


@dataclass(frozen=True)
class PredictionRecord:
    prediction_id: str
    model_name: str
    endpoint_name: str
    timestamp: str
    score: float
    features: list[Any] = field(default_factory=list)  # numbers; a raw reading's category too

    def as_dict(self) -> dict[str, Any]:
        return {
            "prediction_id": self.prediction_id,
            "model_name": self.model_name,
            "endpoint_name": self.endpoint_name,
            "timestamp": self.timestamp,
            "score": self.score,
            "features": list(self.features),
        }


class PredictionsTable(Protocol):
    name: str

    def put_many(self, records: Sequence[PredictionRecord]) -> None: ...

    def get(self, prediction_id: str) -> PredictionRecord | None: ...

    def scan(self) -> list[PredictionRecord]:
        """Every record, ordered by timestamp then id."""
        ...


def check_table_name(name: str) -> str:
    if not isinstance(name, str) or not TABLE_NAME_PATTERN.match(name):
        raise PredictionsTableError(
            f"table_name: {name!r} is not a valid table name; use 3 to 255 letters, digits, "
            "'_', '-' or '.'"
        )
    return name


def _ordered(records: Iterable[PredictionRecord]) -> list[PredictionRecord]:
    return sorted(records, key=lambda r: (r.timestamp, r.prediction_id))


class DynamoDbTable:
    """The DynamoDB table ``name``, through a boto3 DynamoDB client (created when not given)."""

    def __init__(self, name: str, client: Any = None):
        self.name = check_table_name(name)
        if client is None:
            import boto3

            client = boto3.client("dynamodb")
        self.client = client

    @staticmethod
    def _item(record: PredictionRecord) -> dict[str, Any]:
        return {
            KEY: {"S": record.prediction_id},
            "model_name": {"S": record.model_name},
            "endpoint_name": {"S": record.endpoint_name},
            "timestamp": {"S": record.timestamp},
            "score": {"N": repr(float(record.score))},
            "features": {"S": json.dumps(list(record.features))},
        }

    @staticmethod
    def _record(item: dict[str, Any]) -> PredictionRecord:
        return PredictionRecord(
            prediction_id=item[KEY]["S"],
            model_name=item["model_name"]["S"],
            endpoint_name=item["endpoint_name"]["S"],
            timestamp=item["timestamp"]["S"],
            score=float(item["score"]["N"]),
            features=[
                x if isinstance(x, str) else float(x) for x in json.loads(item["features"]["S"])
            ],
        )

    def _call(self, operation: str, **kwargs: Any) -> dict[str, Any]:
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            return getattr(self.client, operation)(**kwargs)
        except ClientError as e:
            code = e.response.get("Error", {}).get("Code", "")
            raise PredictionsTableError(
                f"predictions table {self.name}: DynamoDB {operation} failed with {code}; "
                "check that the table exists in this region and the function's role may use it"
            ) from e
        except BotoCoreError as e:
            raise PredictionsTableError(
                f"predictions table {self.name}: DynamoDB {operation} failed"
            ) from e

    def put_many(self, records: Sequence[PredictionRecord]) -> None:
        for start in range(0, len(records), BATCH_WRITE_LIMIT):
            requests = [
                {"PutRequest": {"Item": self._item(r)}}
                for r in records[start : start + BATCH_WRITE_LIMIT]
            ]
            for attempt in range(BATCH_WRITE_ATTEMPTS):
                response = self._call("batch_write_item", RequestItems={self.name: requests})
                requests = response.get("UnprocessedItems", {}).get(self.name, [])
                if not requests:
                    break
                time.sleep(0.05 * 2**attempt)
            else:
                raise PredictionsTableError(
                    f"predictions table {self.name}: {len(requests)} items still unprocessed after "
                    f"{BATCH_WRITE_ATTEMPTS} BatchWriteItem attempts (throttled); retry the request"
                )

    def get(self, prediction_id: str) -> PredictionRecord | None:
        response = self._call(
            "get_item", TableName=self.name, Key={KEY: {"S": prediction_id}}, ConsistentRead=True
        )
        item = response.get("Item")
        return self._record(item) if item else None

    def scan(self) -> list[PredictionRecord]:
        items: list[dict[str, Any]] = []
        kwargs: dict[str, Any] = {"TableName": self.name, "ConsistentRead": True}
        while True:
            response = self._call("scan", **kwargs)
            items.extend(response.get("Items", []))
            if "LastEvaluatedKey" not in response:
                break
            kwargs["ExclusiveStartKey"] = response["LastEvaluatedKey"]
        return _ordered(self._record(item) for item in items)


def table_from_env(name: str | None = None) -> PredictionsTable:
    """The DynamoDB table ``name``, else ``$PREDICTIONS_TABLE``, else ``predictions``; boto3
    finds the endpoint (``AWS_ENDPOINT_URL`` locally), region and credentials in the
    environment."""
    return DynamoDbTable(config.predictions_table_name(name))
