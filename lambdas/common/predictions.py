"""The predictions table: one small interface, a SQLite backend (local) and DynamoDB (AWS).

Each item is one prediction: ``prediction_id`` (the key, a string), ``model_name``,
``endpoint_name``, ``timestamp`` (ISO 8601, UTC), ``features`` (the input record, stored as
a JSON list of numbers) and ``score`` (the model's output).

* Locally (``LOCALAWS_TABLES_DIR`` set by the runtime in its Lambda workers) the table is
  ``<dir>/<table name>.sqlite``, holding one SQL table of that name, created on first use.
* On AWS it is the DynamoDB table of that name (partition key ``prediction_id``, type S),
  created by the CloudFormation stack; items are written with ``BatchWriteItem``.

Both backends store and return the same records: ``scan()`` of one equals ``scan()`` of the
other after the same ``put_many``.
"""

from __future__ import annotations

import json
import re
import sqlite3
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from common import config
from common.errors import PredictionsTableError
from localaws.lambdakit.config import table_path

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
    features: list[float] = field(default_factory=list)

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


class SqliteTable:
    """The local stand-in: ``<directory>/<name>.sqlite``."""

    def __init__(self, directory: str | Path, name: str):
        self.name = check_table_name(name)
        self.path = table_path(directory, name)

    def _connect(self) -> sqlite3.Connection:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        conn = sqlite3.connect(self.path, timeout=30)
        conn.execute(
            f'CREATE TABLE IF NOT EXISTS "{self.name}" ('
            f"{KEY} TEXT PRIMARY KEY, model_name TEXT NOT NULL, endpoint_name TEXT NOT NULL, "
            "timestamp TEXT NOT NULL, score REAL NOT NULL, features TEXT NOT NULL)"
        )
        return conn

    def put_many(self, records: Sequence[PredictionRecord]) -> None:
        rows = [
            (
                r.prediction_id,
                r.model_name,
                r.endpoint_name,
                r.timestamp,
                float(r.score),
                json.dumps(list(r.features)),
            )
            for r in records
        ]
        try:
            conn = self._connect()
            try:
                with conn:
                    conn.executemany(
                        f'INSERT OR REPLACE INTO "{self.name}" VALUES (?, ?, ?, ?, ?, ?)', rows
                    )
            finally:
                conn.close()
        except sqlite3.Error as e:
            raise PredictionsTableError(
                f"predictions table {self.name} ({self.path}): write failed"
            ) from e

    def _select(self, where: str = "", args: tuple[Any, ...] = ()) -> list[PredictionRecord]:
        try:
            conn = self._connect()
            try:
                rows = conn.execute(
                    f"SELECT {KEY}, model_name, endpoint_name, timestamp, score, features "
                    f'FROM "{self.name}" {where}',
                    args,
                ).fetchall()
            finally:
                conn.close()
        except sqlite3.Error as e:
            raise PredictionsTableError(
                f"predictions table {self.name} ({self.path}): read failed"
            ) from e
        return [
            PredictionRecord(
                prediction_id=row[0],
                model_name=row[1],
                endpoint_name=row[2],
                timestamp=row[3],
                score=float(row[4]),
                features=[float(x) for x in json.loads(row[5])],
            )
            for row in rows
        ]

    def get(self, prediction_id: str) -> PredictionRecord | None:
        found = self._select(f"WHERE {KEY} = ?", (prediction_id,))
        return found[0] if found else None

    def scan(self) -> list[PredictionRecord]:
        return _ordered(self._select())


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
            features=[float(x) for x in json.loads(item["features"]["S"])],
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
    """SQLite under ``$LOCALAWS_TABLES_DIR`` when set, else DynamoDB.  ``name`` defaults to
    ``$PREDICTIONS_TABLE``, then ``predictions``."""
    table_name = config.predictions_table_name(name)
    directory = config.tables_dir()
    if directory is not None:
        return SqliteTable(directory, table_name)
    return DynamoDbTable(table_name)
