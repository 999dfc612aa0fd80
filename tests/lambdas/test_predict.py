"""predict against a real HTTP model server (POST /invocations) through localaws.lambdakit.clients."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import boto3
import predict
import pytest
from common.errors import EndpointError, InvalidEventError
from common.predictions import KEY, DynamoDbTable
from moto import mock_aws


class ModelServer(BaseHTTPRequestHandler):
    """A SageMaker container's contract, scoring each CSV line as tool wear / 1000."""

    mode = "ok"  # ok | fail | short
    bodies: list[bytes] = []

    def do_GET(self) -> None:  # /ping
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        type(self).bodies.append(body)
        if self.headers["Content-Type"] != "text/csv":
            return self._reply(415, b"unsupported content type")
        if self.mode == "fail":
            return self._reply(500, b"model failed")
        rows = [line.split(",") for line in body.decode().splitlines() if line]
        scores = [float(row[4]) / 1000 for row in rows]
        if self.mode == "short":
            scores = scores[:-1]
        self._reply(200, "\n".join(repr(s) for s in scores).encode())

    def _reply(self, status: int, body: bytes) -> None:
        self.send_response(status)
        self.send_header("Content-Type", "text/csv")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def endpoint(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, load_event
) -> Iterator[type[ModelServer]]:
    """The example event's endpoint: a model server and its registry file; tables under tmp_path."""
    handler = type("Server", (ModelServer,), {"mode": "ok", "bodies": []})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    endpoints = tmp_path / "endpoints"
    endpoints.mkdir()
    name = load_event("predict")["endpoint_name"]
    (endpoints / f"{name}.json").write_text(
        json.dumps({"name": name, "port": server.server_address[1]})
    )
    monkeypatch.setenv("LOCALAWS_ENDPOINTS_DIR", str(endpoints))
    for variable, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
    }.items():
        monkeypatch.setenv(variable, value)
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    predict.runtime_client.cache_clear()
    predict.predictions_table.cache_clear()
    with mock_aws():
        for table in ("predictions", "other-table"):
            boto3.client("dynamodb").create_table(
                TableName=table,
                KeySchema=[{"AttributeName": KEY, "KeyType": "HASH"}],
                AttributeDefinitions=[{"AttributeName": KEY, "AttributeType": "S"}],
                BillingMode="PAY_PER_REQUEST",
            )
        yield handler
    predict.runtime_client.cache_clear()
    predict.predictions_table.cache_clear()
    server.shutdown()
    server.server_close()


def test_example_event_scores_and_stores_every_record(endpoint, load_event, tmp_path):
    ev = load_event("predict")

    result = predict.handler(ev, None)

    assert result["endpoint_name"] == "predictive-maintenance"
    assert result["model_name"] == "predictive-maintenance-run-0001"
    assert result["table_name"] == "predictions"
    assert result["count"] == 2
    assert [p["score"] for p in result["predictions"]] == [0.0, 0.214]
    assert [p["features"] for p in result["predictions"]] == ev["records"]
    assert endpoint.bodies == [
        b"298.1,308.6,1551.0,42.8,0.0,0.0,1.0,0.0\n298.9,309.1,1408.0,65.7,214.0,1.0,0.0,0.0\n"
    ]
    stored = DynamoDbTable("predictions").scan()
    assert sorted(r.prediction_id for r in stored) == sorted(
        p["prediction_id"] for p in result["predictions"]
    )
    assert {r.model_name for r in stored} == {"predictive-maintenance-run-0001"}
    assert {r.endpoint_name for r in stored} == {"predictive-maintenance"}
    assert sorted(r.score for r in stored) == [0.0, 0.214]
    assert all(r.timestamp.endswith("+00:00") for r in stored)
    json.dumps(result)


def test_records_from_an_s3_csv(endpoint, load_event, store):
    uri = "s3://predictive-maintenance/prepared/run-0001/test-features/test_features.csv"
    store.write(
        uri, b"".join(f"300.0,310.0,1500,40.0,{w},1,0,0\n".encode() for w in range(10, 90, 10))
    )
    ev = {**load_event("predict"), "records": None, "records_uri": uri, "max_records": 3}
    result = predict.handler(ev, None)
    assert [p["score"] for p in result["predictions"]] == [0.01, 0.02, 0.03]


def test_table_name_from_the_event(endpoint, load_event, tmp_path):
    predict.handler({**load_event("predict"), "table_name": "other-table"}, None)
    assert len(DynamoDbTable("other-table").scan()) == 2


def test_model_failure_is_an_endpoint_error(endpoint, load_event):
    endpoint.mode = "fail"
    with pytest.raises(
        EndpointError, match=r"InvokeEndpoint on predictive-maintenance failed with ModelError"
    ):
        predict.handler(load_event("predict"), None)


def test_unknown_endpoint_is_an_endpoint_error(endpoint, load_event):
    with pytest.raises(
        EndpointError,
        match=r"InvokeEndpoint on nowhere failed with ValidationError: Endpoint nowhere",
    ):
        predict.handler({**load_event("predict"), "endpoint_name": "nowhere"}, None)


def test_wrong_number_of_scores_is_an_endpoint_error(endpoint, load_event, tmp_path):
    endpoint.mode = "short"
    with pytest.raises(
        EndpointError, match="1 scores for 2 records; the model must return one score per CSV line"
    ):
        predict.handler(load_event("predict"), None)
    assert DynamoDbTable("predictions").scan() == []


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"endpoint_name": ""}, "endpoint_name: expected a non-empty string, got ''"),
        ({"model_name": None}, "model_name: expected a non-empty string, got None"),
        ({"records": []}, "records: expected a non-empty list of feature lists"),
        ({"records": [[1, 2], [1]]}, "records[1]: 1 features, but records[0] has 2"),
        ({"records": [[1, "x"]]}, "records[0][1]: expected a finite number, got 'x'"),
        ({"records_uri": "s3://b/k.csv"}, "records, records_uri: give exactly one"),
        ({"records": None}, "records, records_uri: give exactly one"),
        ({"max_records": 0}, "max_records: expected an integer from 1 to 1000, got 0"),
        ({"table_name": 5}, "table_name: expected a non-empty string, got 5"),
    ],
    ids=[
        "endpoint",
        "model",
        "empty",
        "ragged",
        "not-number",
        "both",
        "neither",
        "max-records",
        "table",
    ],
)
def test_bad_events_name_the_field(load_event, change, message):
    with pytest.raises(InvalidEventError) as info:
        predict.PredictRequest.from_event({**load_event("predict"), **change})
    assert message in str(info.value)
