"""A Lambda reaches the mounted services with plain boto3: its worker's environment has
``AWS_ENDPOINT_URL`` (the server's URL, or the in-process runtime's private loopback
listener) and dummy credentials."""

from __future__ import annotations

import io
import json
import zipfile
from pathlib import Path
from typing import Any

from localaws.runtime import Runtime
from localaws.server.serve import LocalServer, private_listener

HANDLER = b"""
import os

import boto3


def handler(event, context):
    boto3.client("dynamodb").put_item(
        TableName=event["table"], Item={"id": {"S": event["id"]}}
    )
    return {"endpoint": os.environ["AWS_ENDPOINT_URL"]}
"""


def code() -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("writer.py", HANDLER)
    return buf.getvalue()


def write_through_lambda(rt: Runtime) -> dict[str, Any]:
    rt.backend("dynamodb").create_table(
        TableName="rows",
        KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    rt.lambda_.create_function(
        FunctionName="writer",
        Runtime="python3.11",
        Role="arn:aws:iam::123456789012:role/lambda",
        Handler="writer.handler",
        Code={"ZipFile": code()},
        Timeout=60,
    )
    response = rt.lambda_.invoke(
        FunctionName="writer", Payload=json.dumps({"table": "rows", "id": "from-lambda"})
    )
    assert "FunctionError" not in response, response["Payload"]
    items = rt.backend("dynamodb").scan(TableName="rows")["Items"]
    assert items == [{"id": {"S": "from-lambda"}}]
    return dict(json.loads(response["Payload"]))


def test_in_process_runtime_serves_its_lambdas_on_a_private_listener(tmp_path: Path) -> None:
    with Runtime(tmp_path, api_listener=private_listener) as rt:
        result = write_through_lambda(rt)
        assert rt.url is None
        assert result["endpoint"].startswith("http://127.0.0.1:")


def test_server_gives_its_lambdas_its_own_url(tmp_path: Path) -> None:
    with LocalServer(tmp_path) as server:
        result = write_through_lambda(server.runtime)
        assert result["endpoint"] == server.url


def test_runtime_without_server_or_listener_gives_a_refusing_endpoint(tmp_path: Path) -> None:
    with Runtime(tmp_path) as rt:
        assert rt.api_url() == "http://127.0.0.1:1"  # never AWS
