"""The predictions table on DynamoDB (moto): what the predict Lambda stores and reads back,
locally (the runtime serves DynamoDB) and on AWS."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from common.errors import PredictionsTableError
from common.predictions import KEY, DynamoDbTable, PredictionRecord, table_from_env
from moto import mock_aws

TABLE = "predictions"


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    for name, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
    }.items():
        monkeypatch.setenv(name, value)
    with mock_aws():
        yield


def create_dynamodb_table(name: str = TABLE) -> Any:
    client = boto3.client("dynamodb")
    client.create_table(
        TableName=name,
        KeySchema=[{"AttributeName": KEY, "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": KEY, "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    return client


@pytest.fixture
def table(aws: None) -> Any:
    return DynamoDbTable(TABLE, create_dynamodb_table())


def record(i: int, **changes: Any) -> PredictionRecord:
    values = {
        "prediction_id": f"id-{i:04d}",
        "model_name": "model-1",
        "endpoint_name": "endpoint",
        "timestamp": f"2026-01-01T00:00:{i % 60:02d}.000+00:00",
        "score": i / 1000 + 1e-9,
        "features": [298.1, 308.6, 1551.0, 42.8, float(i), 0.0, 1.0, 0.0],
    }
    return PredictionRecord(**{**values, **changes})


def test_put_then_scan_and_get_return_the_same_records(table):
    records = [record(i) for i in (3, 1, 2)]
    table.put_many(records)
    assert table.scan() == sorted(records, key=lambda r: r.timestamp)
    assert table.get("id-0002") == records[2]
    assert table.get("missing") is None


def test_empty_table_scans_empty(table):
    assert table.scan() == []


def test_more_than_one_batch(table):
    records = [record(i) for i in range(60)]
    table.put_many(records)
    assert len(table.scan()) == 60


def test_same_id_replaces(table):
    table.put_many([record(1)])
    table.put_many([record(1, score=0.75, model_name="model-2")])
    assert table.scan() == [record(1, score=0.75, model_name="model-2")]


def test_scores_and_features_keep_full_precision(table):
    exact = record(7, score=0.1234567890123, features=[1e-7, 123456.789, -3.5])
    table.put_many([exact])
    assert table.get(exact.prediction_id) == exact


def test_missing_dynamodb_table_is_a_table_error(aws):
    table = DynamoDbTable("absent-table", boto3.client("dynamodb"))
    with pytest.raises(
        PredictionsTableError,
        match=r"absent-table: DynamoDB batch_write_item failed with ResourceNotFoundException",
    ):
        table.put_many([record(1)])


@pytest.mark.parametrize(
    "name", ["ab", "bad name", "x" * 256, "semi;colon"], ids=["short", "space", "long", "semicolon"]
)
def test_bad_table_names_are_refused(aws, name):
    with pytest.raises(
        PredictionsTableError, match="is not a valid table name; use 3 to 255 letters"
    ):
        DynamoDbTable(name)


def test_table_name_from_env_then_argument(aws, monkeypatch):
    monkeypatch.setenv("PREDICTIONS_TABLE", "from-env")
    assert table_from_env().name == "from-env"
    assert table_from_env("explicit").name == "explicit"


def test_table_from_env_defaults_to_dynamodb_named_predictions(aws, monkeypatch):
    monkeypatch.delenv("PREDICTIONS_TABLE", raising=False)
    create_dynamodb_table()
    table = table_from_env()
    assert isinstance(table, DynamoDbTable) and table.name == "predictions"
    table.put_many([record(1)])
    assert table.scan() == [record(1)]
