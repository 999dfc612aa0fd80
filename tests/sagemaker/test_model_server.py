"""The model server over real HTTP: the container contract, built-in XGBoost, script mode,
and a two-container inference pipeline."""

import http.client
import json

import joblib
import numpy as np
import pytest
from hosting_support import (
    DEFAULTS_ONLY,
    FEATURIZER,
    SCALER_HOOKS,
    builtin_model_tar,
    container_scores,
    csv_rows,
    dataset,
    extract,
    train_booster,
)
from sklearn.linear_model import LogisticRegression
from sklearn.preprocessing import StandardScaler

from localaws.sagemaker import hosting

pytestmark = pytest.mark.slow


@pytest.fixture
def serve(tmp_path):
    """Factory: start a model server for a list of container specs; stopped at teardown."""
    servers = []

    def start(containers):
        server = hosting.start_server(
            {"containers": containers}, tmp_path / f"server-{len(servers)}"
        )
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.stop(timeout=10)


def request(server, method, path, body=b"", headers=None):
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=30)
    try:
        conn.request(method, path, body=body, headers=headers or {})
        response = conn.getresponse()
        return response.status, response.read(), response.getheader("Content-Type")
    finally:
        conn.close()


def invoke(server, body, content_type="text/csv", accept=None):
    headers = {"Content-Type": content_type}
    if accept:
        headers["Accept"] = accept
    return request(server, "POST", "/invocations", body, headers)


@pytest.fixture(scope="module")
def data():
    X, y = dataset()
    return X, y, train_booster(X, y)


@pytest.fixture
def builtin(tmp_path, data, serve):
    model_dir = extract(builtin_model_tar(data[2]), tmp_path / "model")
    return serve([{"kind": "xgboost", "model_dir": str(model_dir), "env": {}}])


def test_ping(builtin):
    assert request(builtin, "GET", "/ping")[0] == 200


def test_single_row_csv_matches_the_booster(builtin, data):
    X, _, booster = data
    status, body, ctype = invoke(builtin, csv_rows(X[:1]))
    assert (status, ctype) == (200, "text/csv")
    assert body == container_scores(booster.inplace_predict(X[:1]))
    assert 0 < float(body) < 1  # binary:logistic gives probabilities


def test_many_rows_csv(builtin, data):
    X, _, booster = data
    status, body, _ = invoke(builtin, csv_rows(X[:50]))
    assert status == 200
    np.testing.assert_allclose(
        np.array(body.split(b","), dtype=float), booster.inplace_predict(X[:50]), rtol=1e-6
    )


def test_libsvm(builtin, data):
    X, _, booster = data
    body = " ".join(f"{i}:{float(v)!r}" for i, v in enumerate(X[0])).encode()
    status, out, _ = invoke(builtin, b"1 " + body, content_type="text/libsvm")
    assert status == 200
    assert float(out) == pytest.approx(float(booster.inplace_predict(X[:1])[0]), rel=1e-6)


def test_json_in_json_out(builtin, data):
    X, _, booster = data
    payload = json.dumps({"instances": [{"features": X[i].tolist()} for i in range(3)]}).encode()
    status, out, ctype = invoke(
        builtin, payload, content_type="application/json", accept="application/json"
    )
    assert (status, ctype) == (200, "application/json")
    scores = [p["score"] for p in json.loads(out)["predictions"]]
    np.testing.assert_allclose(scores, booster.inplace_predict(X[:3]), rtol=1e-6)


def test_keep_alive_serves_many_requests_on_one_connection(builtin, data):
    X, _, _ = data
    conn = http.client.HTTPConnection("127.0.0.1", builtin.port, timeout=30)
    for i in range(20):
        conn.request(
            "POST",
            "/invocations",
            body=csv_rows(X[i : i + 1]),
            headers={"Content-Type": "text/csv"},
        )
        response = conn.getresponse()
        response.read()
        assert response.status == 200
    conn.close()


@pytest.mark.parametrize(
    ("body", "content_type", "accept", "status", "message"),
    [
        (b"", "text/csv", None, 204, b""),
        (b"not,a,number,at,all", "text/csv", None, 400, b"Loading csv data failed"),
        (b"1,2,3,4,5,6,7", "text/csv", None, 400, b"larger than the feature size"),
        (b"1,2,3,4,5", "text/csv", "image/png", 406, b"Accept type image/png is not supported"),
        (
            b"1,2,3,4,5",
            "application/x-image",
            None,
            415,
            b"Content-type application/x-image not supported",
        ),
    ],
    ids=["204-empty", "400-unparseable", "400-too-many-features", "406-accept", "415-content-type"],
)
def test_status_codes(builtin, body, content_type, accept, status, message):
    got_status, got_body, _ = invoke(builtin, body, content_type=content_type, accept=accept)
    assert got_status == status
    assert message in got_body


def test_fewer_features_are_missing_values(builtin, data):
    booster = data[2]
    status, body, _ = invoke(builtin, b"0.5,1.5")
    expected = booster.inplace_predict(
        np.array([[0.5, 1.5, np.nan, np.nan, np.nan]], dtype=np.float32)
    )
    assert (status, body) == (200, container_scores(expected))


def test_unknown_path_and_method(builtin):
    assert request(builtin, "GET", "/nope")[0] == 404
    assert request(builtin, "GET", "/invocations")[0] == 405


def test_model_that_fails_to_load_answers_500(tmp_path, serve):
    model_dir = tmp_path / "broken"
    model_dir.mkdir()
    (model_dir / "xgboost-model").write_bytes(b"this is not a model")
    server = serve([{"kind": "xgboost", "model_dir": str(model_dir), "env": {}}])
    status, body, _ = request(server, "GET", "/ping")
    assert status == 500 and b"Unable to load model" in body
    status, body, _ = invoke(server, b"1,2,3,4,5")
    assert status == 500
    assert b"neither a saved XGBoost model" in body


def test_pickled_booster_as_older_containers_wrote(tmp_path, data, serve):
    X, _, booster = data
    model_dir = extract(builtin_model_tar(booster, pickled=True), tmp_path / "model")
    server = serve([{"kind": "xgboost", "model_dir": str(model_dir), "env": {}}])
    assert invoke(server, csv_rows(X[:1]))[1] == container_scores(booster.inplace_predict(X[:1]))


def test_default_accept_from_the_environment(tmp_path, data, serve):
    X, _, _ = data
    model_dir = extract(builtin_model_tar(data[2]), tmp_path / "model")
    env = {"SAGEMAKER_DEFAULT_INVOCATIONS_ACCEPT": "application/json"}
    server = serve([{"kind": "xgboost", "model_dir": str(model_dir), "env": env}])
    status, body, ctype = invoke(server, csv_rows(X[:1]), accept="*/*")
    assert (status, ctype) == (200, "application/json")
    assert "predictions" in json.loads(body)


def test_batch_mode_writes_one_score_per_line(tmp_path, data, serve):
    X, _, booster = data
    model_dir = extract(builtin_model_tar(booster), tmp_path / "model")
    server = serve(
        [{"kind": "xgboost", "model_dir": str(model_dir), "env": {"SAGEMAKER_BATCH": "true"}}]
    )
    _, body, _ = invoke(server, csv_rows(X[:3]))
    assert body == ("\n".join(map(str, booster.inplace_predict(X[:3]).tolist())) + "\n").encode()


# -- script mode ----------------------------------------------------------------------------------


def script_container(tmp_path, name, source, files, framework="sklearn"):
    code_dir = tmp_path / name / "code"
    model_dir = tmp_path / name / "model"
    code_dir.mkdir(parents=True)
    model_dir.mkdir(parents=True)
    (code_dir / "inference.py").write_text(source)
    for filename, write in files.items():
        write(model_dir / filename)
    return {
        "kind": "script",
        "framework": framework,
        "program": "inference.py",
        "code_dir": str(code_dir),
        "model_dir": str(model_dir),
        "env": {"SAGEMAKER_PROGRAM": "inference.py"},
    }


def test_script_mode_with_every_hook(tmp_path, serve):
    container = script_container(
        tmp_path, "hooks", SCALER_HOOKS, {"factor.json": lambda p: p.write_text('{"factor": 10}')}
    )
    server = serve([container])
    status, body, _ = invoke(
        server, b'{"rows": [[1, 2], [3, 4]]}', "application/json", "application/json"
    )
    assert status == 200
    assert json.loads(body) == {"sums": [30.0, 70.0], "accept": "application/json"}
    # an exception in a user hook is the container's 500
    status, body, _ = invoke(server, b"1,2", "text/csv", "application/json")
    assert status == 500 and b"ValueError: unsupported content type text/csv" in body


def test_script_mode_default_hooks(tmp_path, data, serve):
    X, y, _ = data
    model = LogisticRegression().fit(X, y)
    container = script_container(
        tmp_path, "defaults", DEFAULTS_ONLY, {"model.joblib": lambda p: joblib.dump(model, p)}
    )
    server = serve([container])
    status, body, ctype = invoke(server, csv_rows(X[:4]))
    assert (status, ctype) == (200, "application/json")  # the toolkit's default accept
    assert json.loads(body) == model.predict(X[:4]).tolist()
    status, body, _ = invoke(server, csv_rows(X[:2]), accept="text/csv")
    assert status == 200 and len(body.splitlines()) == 2
    assert invoke(server, csv_rows(X[:2]), content_type="image/png")[0] == 415
    assert invoke(server, csv_rows(X[:2]), accept="image/png")[0] == 406


def test_script_mode_without_model_fn_fails_to_load(tmp_path, serve):
    container = script_container(tmp_path, "nomodelfn", "x = 1\n", {})
    server = serve([container])
    status, body, _ = request(server, "GET", "/ping")
    assert status == 500 and b"defines no model_fn" in body


def test_pipeline_featurizer_then_xgboost(tmp_path, data, serve):
    X, y, _ = data
    raw = X * 3 + 7  # the featurizer scales it back
    scaler = StandardScaler().fit(raw)
    features = scaler.transform(raw).astype(np.float32)
    booster = train_booster(features, y)
    featurizer = script_container(
        tmp_path, "featurizer", FEATURIZER, {"scaler.joblib": lambda p: joblib.dump(scaler, p)}
    )
    featurizer["env"]["SAGEMAKER_DEFAULT_INVOCATIONS_ACCEPT"] = "text/csv"
    model_dir = extract(builtin_model_tar(booster), tmp_path / "xgb")
    server = serve([featurizer, {"kind": "xgboost", "model_dir": str(model_dir), "env": {}}])
    status, body, ctype = invoke(server, csv_rows(raw[:5]), accept="application/json")
    assert (status, ctype) == (200, "application/json")
    scores = [p["score"] for p in json.loads(body)["predictions"]]
    expected = booster.inplace_predict(
        np.array(scaler.transform(raw[:5].astype(np.float64)), dtype=np.float32)
    )
    np.testing.assert_allclose(scores, expected, rtol=1e-5)
    # the first container's error is the pipeline's
    assert invoke(server, b'{"x": 1}', content_type="application/json")[0] == 500


@pytest.mark.parametrize(
    ("headers", "named"),
    [
        ({"Origin": "http://evil.example"}, b"Origin"),
        ({"Origin": "null"}, b"Origin"),
        ({"Host": "evil.example:8080"}, b"Host"),
        ({"Host": "127.0.0.1.evil.example"}, b"Host"),
    ],
)
def test_requests_from_web_pages_are_refused(builtin, data, headers, named):
    """A page in the user's browser can reach 127.0.0.1: a cross-origin POST (it carries
    Origin) or a DNS-rebound name (its Host) is refused before the model runs."""
    row = ",".join(str(v) for v in data[0][0]).encode()
    status, body, _ = request(
        builtin, "POST", "/invocations", row, {"Content-Type": "text/csv", **headers}
    )
    assert status == 403
    assert named in body and b"InvokeEndpoint" in body
    for host in ("localhost:1", "127.0.0.1", "[::1]:8080"):
        status, _, _ = request(
            builtin, "POST", "/invocations", row, {"Content-Type": "text/csv", "Host": host}
        )
        assert status == 200, host
