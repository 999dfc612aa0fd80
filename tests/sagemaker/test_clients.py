"""localaws.lambdakit.clients: the SageMaker Runtime client Lambdas use, local or boto3."""

import json

import pytest
from botocore.exceptions import ClientError
from hosting_support import (
    builtin_model_tar,
    container_scores,
    csv_rows,
    dataset,
    extract,
    train_booster,
)

from localaws.lambdakit import clients
from localaws.sagemaker import hosting


@pytest.fixture(scope="module")
def endpoint(tmp_path_factory):
    """A model server and its registry file, as the runtime writes them."""
    tmp = tmp_path_factory.mktemp("clients")
    X, y = dataset()
    booster = train_booster(X, y)
    model_dir = extract(builtin_model_tar(booster), tmp / "model")
    server = hosting.start_server(
        {"containers": [{"kind": "xgboost", "model_dir": str(model_dir), "env": {}}]}, tmp / "w"
    )
    registry = tmp / "endpoints"
    registry.mkdir()
    record = {
        "name": "ep",
        "port": server.port,
        "pid": server.pid,
        "url": server.url,
        "account": "123456789012",
        "region": "us-east-1",
        "variants": [
            {"VariantName": "AllTraffic", "port": server.port, "pid": server.pid, "weight": 1.0}
        ],
    }
    (registry / "ep.json").write_text(json.dumps(record))
    yield registry, X, booster
    server.stop(timeout=10)


@pytest.mark.slow
def test_local_client_returns_boto3_shape(endpoint, monkeypatch):
    registry, X, booster = endpoint
    monkeypatch.setenv("LOCALAWS_ENDPOINTS_DIR", str(registry))
    client = clients.sagemaker_runtime_client()
    response = client.invoke_endpoint(
        EndpointName="ep", Body=csv_rows(X[:1]).decode(), ContentType="text/csv"
    )
    assert response["Body"].read() == container_scores(booster.inplace_predict(X[:1]))
    assert response["ContentType"] == "text/csv"
    assert response["InvokedProductionVariant"] == "AllTraffic"


@pytest.mark.slow
def test_local_client_model_error(endpoint):
    client = clients.sagemaker_runtime_client(str(endpoint[0]))
    with pytest.raises(client.exceptions.ModelError) as info:
        client.invoke_endpoint(EndpointName="ep", Body=b"a,b", ContentType="text/csv")
    err = info.value
    assert isinstance(err, ClientError)
    assert err.response["Error"]["Code"] == "ModelError"
    assert err.response["OriginalStatusCode"] == 400
    assert err.response["OriginalMessage"].startswith("Loading csv data failed")
    assert "Received client error (400) from primary" in str(err)


def test_local_client_unknown_endpoint(tmp_path):
    client = clients.sagemaker_runtime_client(str(tmp_path))
    with pytest.raises(client.exceptions.ValidationError) as info:
        client.invoke_endpoint(EndpointName="missing", Body=b"1", ContentType="text/csv")
    assert info.value.response["Error"] == {
        "Code": "ValidationError",
        "Message": "Endpoint missing of account 123456789012 not found.",
    }


def test_registry_path_refuses_names_that_escape(tmp_path):
    with pytest.raises(clients.EndpointNotFound):
        clients.registry_path(tmp_path, "../etc/passwd")


def test_boto3_client_without_the_local_environment(monkeypatch):
    monkeypatch.delenv("LOCALAWS_ENDPOINTS_DIR", raising=False)
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    client = clients.sagemaker_runtime_client()
    assert client.meta.service_model.service_name == "sagemaker-runtime"
    # the local client raises the same kinds boto3 declares for InvokeEndpoint
    assert {"ModelError", "ValidationError"} <= {
        s.name for s in client.meta.service_model.error_shapes
    }
