"""The inference fan-out Lambdas: split (S3 event -> one message per row) and score (SQS
batch -> endpoint -> DynamoDB, partial batch failures)."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import churn_score
import churn_split
import pytest
from common.errors import InvalidEventError, SchemaError

REGION = "us-east-1"


def test_split_reads_the_dimension_from_the_key(
    load_event: Callable[[str], dict[str, Any]],
) -> None:
    [upload] = churn_split.uploads(load_event("churn_split"), "inference-dataset/")
    assert (upload.bucket, upload.key, upload.dimension) == (
        "many-models",
        "inference-dataset/dim01/dim01.csv",
        "dim01",
    )


def test_split_rejects_a_key_outside_the_prefix(
    load_event: Callable[[str], dict[str, Any]],
) -> None:
    event = load_event("churn_split")
    event["Records"][0]["s3"]["object"]["key"] = "elsewhere/x.csv"
    with pytest.raises(
        InvalidEventError, match=r"expected inference-dataset/<Dimension>/<file>\.csv"
    ):
        churn_split.uploads(event, "inference-dataset/")


def test_split_parses_quoted_headers_and_fields() -> None:
    upload = churn_split.Upload("b", "inference-dataset/d/x.csv", "d")
    text = '"Churn?_True.", "Account Length" ,"State_AK"\n1,74,"0"\n0,12,1\n'
    messages = churn_split.messages(upload, text)
    assert [m["values"] for m in messages] == [["1", "74", "0"], ["0", "12", "1"]]
    assert messages[0]["header"] == ["Churn?_True.", "Account Length", "State_AK"]
    assert [m["row"] for m in messages] == [1, 2]
    with pytest.raises(SchemaError, match="row 1: 2 values, the header has 3"):
        churn_split.messages(upload, "a,b,c\n1,2\n")


def test_score_keeps_the_label_as_ground_truth(load_event: Callable[[str], dict[str, Any]]) -> None:
    [record] = load_event("churn_score")["Records"]
    row = churn_score.parse(record)
    assert row == {
        "id": "inference-dataset/dim01/dim01.csv#1",
        "dimension": "dim01",
        "ground_truth": "1",
        "features": "74,0",
    }
    item = churn_score.item(row, 0.73, 0.5, "2024-01-01T00:00:00+00:00")
    assert item["prediction"] == {"N": "1"} and item["ground_truth"] == {"N": "1"}
    assert float(item["probability"]["N"]) == 0.73


@pytest.fixture
def table(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[Any]:
    """A moto DynamoDB table, and an endpoints directory with no endpoint in it."""
    from moto import mock_aws

    for key, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": REGION,
        "TABLE": "predictions",
        "ENDPOINT_PREFIX": "many-models",
        "LOCALAWS_ENDPOINTS_DIR": str(tmp_path),
    }.items():
        monkeypatch.setenv(key, value)
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    churn_score._clients.cache_clear()
    with mock_aws():
        import boto3

        ddb = boto3.client("dynamodb", region_name=REGION)
        ddb.create_table(
            TableName="predictions",
            KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
            BillingMode="PAY_PER_REQUEST",
        )
        yield ddb
    churn_score._clients.cache_clear()


def test_score_reports_each_failed_message_and_only_those(
    table: Any, load_event: Callable[[str], dict[str, Any]]
) -> None:
    [good] = load_event("churn_score")["Records"]
    malformed = {**good, "messageId": "bad-body", "body": "not json"}
    reply = churn_score.handler({"Records": [good, malformed]}, None)
    # No endpoint many-models-dim01 exists: its message fails, and the malformed one alone.
    assert sorted(f["itemIdentifier"] for f in reply["batchItemFailures"]) == sorted(
        [good["messageId"], "bad-body"]
    )
    assert table.scan(TableName="predictions")["Items"] == []
    assert json.loads(good["body"])["dimension"] == "dim01"
