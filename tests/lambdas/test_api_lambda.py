"""The HTTP API Lambda, called with API Gateway v2 proxy events, in front of a real inference
pipeline: the model server with the fitted featurizer's container, then XGBoost's."""

from __future__ import annotations

import base64
import copy
import json
import tarfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import api
import numpy as np
import pytest
import xgboost as xgb

from localaws.sagemaker import hosting
from workflows import ai4i_data
from workflows.jobs import featurizer

EXAMPLE = "L,298.4,308.2,1582,70.7,216"


@pytest.fixture(scope="module")
def pipeline(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """A two-container model server: featurizer.py (script mode) -> XGBoost (built-in)."""
    root = tmp_path_factory.mktemp("pipeline")
    data = featurizer.read_raw(ai4i_data.generate(2000, 3).to_csv(index=False).encode(), "gen")
    fitted = featurizer.make_featurizer().fit(data[list(featurizer.READING)])
    featurizer.package(fitted, root / "featurizer.tar.gz")
    first = root / "container-1" / "model"
    first.mkdir(parents=True)
    with tarfile.open(root / "featurizer.tar.gz") as tar:
        tar.extractall(first, filter="data")
    booster = xgb.train(
        {"objective": "binary:logistic", "max_depth": 3, "nthread": 1},
        xgb.DMatrix(fitted.transform(data[list(featurizer.READING)]), label=data[featurizer.LABEL]),
        20,
    )
    second = root / "container-2" / "model"
    second.mkdir(parents=True)
    (second / "xgboost-model").write_bytes(bytes(booster.save_raw(raw_format="ubj")))
    spec = {
        "containers": [
            {
                "name": "featurizer",
                "kind": "script",
                "framework": "sklearn",
                "model_dir": str(first),
                "program": "featurizer.py",
                "code_dir": str(first / "code"),
                "env": {"SAGEMAKER_DEFAULT_INVOCATIONS_ACCEPT": "text/csv"},
            },
            {"name": "xgboost", "kind": "xgboost", "framework": "xgboost",
             "model_dir": str(second), "env": {}},
        ]
    }  # fmt: skip
    server = hosting.start_server(spec, root / "server")
    try:
        yield {"port": server.port, "featurizer": fitted, "booster": booster}
    finally:
        server.stop(timeout=5)


@pytest.fixture
def endpoint(
    pipeline: dict[str, Any], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> dict[str, Any]:
    endpoints = tmp_path / "endpoints"
    endpoints.mkdir()
    (endpoints / "pm.json").write_text(json.dumps({"name": "pm", "port": pipeline["port"]}))
    monkeypatch.setenv("LOCALAWS_ENDPOINTS_DIR", str(endpoints))
    monkeypatch.setenv("ENDPOINT_NAME", "pm")
    monkeypatch.setenv("ALLOW_ORIGIN", "http://127.0.0.1:8083")
    for variable, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
    }.items():
        monkeypatch.setenv(variable, value)
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    api.runtime_client.cache_clear()
    return pipeline


def event(load_event: Any, method: str = "POST", body: str | None = EXAMPLE,
          content_type: str = "text/plain") -> dict[str, Any]:  # fmt: skip
    e: dict[str, Any] = copy.deepcopy(load_event("api"))
    e["requestContext"]["http"]["method"] = method
    e["headers"]["content-type"] = content_type
    e["body"] = body
    return e


def expected_score(pipeline: dict[str, Any], reading: str) -> float:
    features = pipeline["featurizer"].transform(featurizer.parse_readings(reading))
    booster = pipeline["booster"]
    return float(booster.predict(xgb.DMatrix(features, feature_names=booster.feature_names))[0])


def test_example_event_answers_the_pipelines_probability(
    endpoint: dict[str, Any], load_event: Any
) -> None:
    out = api.handler(load_event("api"), None)
    assert out["statusCode"] == 200, out
    body = json.loads(out["body"])
    assert body["probability"] == pytest.approx(expected_score(endpoint, EXAMPLE), abs=1e-6)
    assert body["failure"] == (body["probability"] >= 0.5)
    assert body["label"] in ("failure likely: inspect the machine", "no failure expected")
    assert body["reading"] == {"Type": "L", "Air temperature": 298.4, "Process temperature": 308.2,
                               "Rotational speed": 1582.0, "Torque": 70.7, "Tool wear": 216.0}  # fmt: skip
    assert out["headers"]["Access-Control-Allow-Origin"] == "http://127.0.0.1:8083"
    assert out["headers"]["Content-Type"] == "application/json"


@pytest.mark.parametrize(
    "reading",
    ["M,300.1,310.0,1400,40.0,10", "H,302,311.5,2500,12.5,0", "L,297.0,308.0,1300,65,230"],
)
def test_readings_as_text_csv_and_base64(
    endpoint: dict[str, Any], load_event: Any, reading: str
) -> None:
    plain = api.handler(
        event(load_event, body=reading, content_type="text/csv; charset=utf-8"), None
    )
    encoded = event(load_event, body=base64.b64encode(reading.encode()).decode())
    encoded["isBase64Encoded"] = True
    for out in (plain, api.handler(encoded, None)):
        assert out["statusCode"] == 200, out
        assert json.loads(out["body"])["probability"] == pytest.approx(
            expected_score(endpoint, reading), abs=1e-6
        )


def test_options_is_the_cors_preflight(endpoint: dict[str, Any], load_event: Any) -> None:
    out = api.handler(event(load_event, method="OPTIONS", body=None), None)
    assert out["statusCode"] == 204
    assert "body" not in out
    assert out["headers"]["Access-Control-Allow-Methods"] == "POST,OPTIONS"
    assert out["headers"]["Access-Control-Allow-Headers"] == "Content-Type"


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ("L,298.4", "2 fields; a reading has 6: Type,Air temperature,Process temperature,"
                    "Rotational speed,Torque,Tool wear (e.g. L,298.4,308.2,1582,70.7,216)"),
        ("X,298.4,308.2,1582,70.7,216", "Type 'X' is not one of L/M/H"),
        ("L,hot,308.2,1582,70.7,216", "Air temperature 'hot' is not a number"),
        ("L,298.4,308.2,1582,70.7,nan", "Tool wear must be a finite number, got 'nan'"),
        ("", "empty body; send one reading"),
    ],
    ids=["too-few-fields", "unknown-type", "not-a-number", "nan", "empty"],
)  # fmt: skip
def test_bad_reading_is_400_with_a_message(endpoint: dict[str, Any], load_event: Any, body: str,
                                           message: str) -> None:  # fmt: skip
    out = api.handler(event(load_event, body=body), None)
    assert out["statusCode"] == 400
    assert json.loads(out["body"])["message"].startswith(message)
    assert out["headers"]["Access-Control-Allow-Origin"] == "http://127.0.0.1:8083"


@pytest.mark.parametrize("method", ["GET", "PUT", "DELETE", "PATCH"])
def test_other_methods_are_405(endpoint: dict[str, Any], load_event: Any, method: str) -> None:
    out = api.handler(event(load_event, method=method), None)
    assert out["statusCode"] == 405
    assert out["headers"]["Allow"] == "POST,OPTIONS"
    assert method in json.loads(out["body"])["message"]


def test_other_content_types_are_415(endpoint: dict[str, Any], load_event: Any) -> None:
    out = api.handler(event(load_event, content_type="application/json", body='{"a": 1}'), None)
    assert out["statusCode"] == 415
    assert "text/plain or text/csv" in json.loads(out["body"])["message"]


def test_a_missing_endpoint_is_502(endpoint: dict[str, Any], load_event: Any,
                                   monkeypatch: pytest.MonkeyPatch) -> None:  # fmt: skip
    monkeypatch.setenv("ENDPOINT_NAME", "nowhere")
    out = api.handler(load_event("api"), None)
    assert out["statusCode"] == 502
    assert "nowhere" in json.loads(out["body"])["message"]


def test_endpoint_scores_match_in_process_for_many_readings(endpoint: dict[str, Any]) -> None:
    """The pipeline itself: container 1's CSV features become container 2's request."""
    import http.client

    rows = ai4i_data.generate(50, 9)
    lines = [
        ",".join([r["Type"], *(str(r[c]) for c in rows.columns[3:8])]) for _, r in rows.iterrows()
    ]
    conn = http.client.HTTPConnection("127.0.0.1", endpoint["port"], timeout=30)
    conn.request("POST", "/invocations", "\n".join(lines), {"Content-Type": "text/csv"})
    answer = conn.getresponse().read().decode()
    served = np.array([float(v) for v in answer.replace("\n", ",").split(",") if v])
    expected = [expected_score(endpoint, line) for line in lines]
    np.testing.assert_allclose(served, expected, rtol=0, atol=1e-6)
