"""Endpoints: deploy, invoke, update under traffic, undeploy, restart."""

import json
import threading

import joblib
import numpy as np
import pytest
from hosting_support import (
    FEATURIZER,
    builtin_model_tar,
    container_scores,
    csv_rows,
    dataset,
    tar_gz,
    train_booster,
)
from sklearn.preprocessing import StandardScaler

from localaws.errors import ServiceError, UserError
from localaws.runtime import Runtime
from localaws.sagemaker.hosting import EndpointManager

pytestmark = pytest.mark.slow

XGB_IMAGE = "683313688378.dkr.ecr.us-east-1.amazonaws.com/sagemaker-xgboost:1.7-1"
SKLEARN_IMAGE = "683313688378.dkr.ecr.us-east-1.amazonaws.com/sagemaker-scikit-learn:1.2-1-cpu-py3"


@pytest.fixture
def runtime(tmp_path):
    rt = Runtime(tmp_path / "state")
    rt.state_dir.mkdir(parents=True)
    yield rt
    if "sagemaker_runtime" in rt.__dict__:
        rt.sagemaker_runtime.close()


@pytest.fixture
def manager(runtime):
    mgr = EndpointManager(runtime)
    yield mgr
    mgr.close()


@pytest.fixture(scope="module")
def data():
    X, y = dataset()
    return X, y, train_booster(X, y, rounds=5), train_booster(X, y, rounds=30)


def builtin_model(runtime, booster, name="m1"):
    uri = f"s3://models/{name}/model.tar.gz"
    runtime.storage.write(uri, builtin_model_tar(booster))
    return {
        "ModelName": name,
        "PrimaryContainer": {"Image": XGB_IMAGE, "ModelDataUrl": uri, "Environment": {}},
    }


def variant(model, name="AllTraffic", weight=1.0):
    return {
        "VariantName": name,
        "ModelName": model["ModelName"],
        "InitialVariantWeight": weight,
        "Model": model,
    }


def test_deploy_invoke_and_registry(runtime, manager, data):
    X, _, booster, _ = data
    manager.deploy("ep", [variant(builtin_model(runtime, booster))])
    record = json.loads((runtime.state_dir / "endpoints" / "ep.json").read_text())
    assert record["port"] == manager.port("ep")
    assert record["url"] == f"http://127.0.0.1:{record['port']}"
    assert set(record) >= {"name", "port", "pid", "url"}
    response = runtime.sagemaker_runtime.invoke_endpoint(
        EndpointName="ep", Body=csv_rows(X[:1]), ContentType="text/csv"
    )
    assert response == {
        "Body": container_scores(booster.inplace_predict(X[:1])),
        "ContentType": "text/csv",
        "InvokedProductionVariant": "AllTraffic",
    }


def test_model_error_carries_the_original_status(runtime, manager, data):
    manager.deploy("ep", [variant(builtin_model(runtime, data[2]))])
    with pytest.raises(ServiceError) as info:
        runtime.sagemaker_runtime.invoke_endpoint(
            EndpointName="ep", Body=b"x,y", ContentType="text/csv"
        )
    err = info.value
    assert (err.code, err.status) == ("ModelError", 424)
    assert err.message.startswith(
        'Received client error (400) from primary with message "Loading csv data failed'
    )
    body = err.to_dict()
    assert body["OriginalStatusCode"] == 400
    assert body["OriginalMessage"].startswith("Loading csv data failed")
    assert body["LogStreamArn"].endswith("log-group:/aws/sagemaker/Endpoints/ep")


def test_unknown_endpoint(runtime):
    with pytest.raises(ServiceError) as info:
        runtime.sagemaker_runtime.invoke_endpoint(
            EndpointName="nope", Body=b"1", ContentType="text/csv"
        )
    assert info.value.code == "ValidationError"
    assert info.value.message == f"Endpoint nope of account {runtime.account_id} not found."


def test_model_that_fails_its_health_check_fails_the_deploy(runtime, manager):
    runtime.storage.write("s3://models/bad/model.tar.gz", tar_gz({"xgboost-model": b"garbage"}))
    model = {
        "ModelName": "bad",
        "PrimaryContainer": {"Image": XGB_IMAGE, "ModelDataUrl": "s3://models/bad/model.tar.gz"},
    }
    with pytest.raises(
        UserError, match="production variant AllTraffic did not pass the ping health check"
    ):
        manager.deploy("ep", [variant(model)])
    assert not (runtime.state_dir / "endpoints" / "ep.json").exists()


def test_unsupported_image_is_refused_with_the_field_named(runtime, manager):
    model = {
        "ModelName": "m",
        "PrimaryContainer": {"Image": "my-own-image:latest", "ModelDataUrl": "s3://x/y"},
    }
    with pytest.raises(UserError, match=r"PrimaryContainer.Image: 'my-own-image:latest'"):
        manager.deploy("ep", [variant(model)])


def test_update_under_traffic_fails_no_request(runtime, manager, data):
    X, _, old_booster, new_booster = data
    manager.deploy("ep", [variant(builtin_model(runtime, old_booster, "old"))])
    old_pid = json.loads((runtime.state_dir / "endpoints" / "ep.json").read_text())["pid"]
    body = csv_rows(X[:1])
    old_answer = container_scores(old_booster.inplace_predict(X[:1]))
    new_answer = container_scores(new_booster.inplace_predict(X[:1]))
    assert old_answer != new_answer
    stop = threading.Event()
    answers, failures = [], []

    def client():
        while not stop.is_set():
            try:
                answers.append(
                    runtime.sagemaker_runtime.invoke_endpoint(EndpointName="ep", Body=body)["Body"]
                )
            except Exception as e:
                failures.append(e)

    threads = [threading.Thread(target=client) for _ in range(4)]
    for t in threads:
        t.start()
    try:
        manager.deploy("ep", [variant(builtin_model(runtime, new_booster, "new"))])
        seen_new = len(answers)
        while len(answers) < seen_new + 50 and not failures:
            threading.Event().wait(0.05)
    finally:
        stop.set()
        for t in threads:
            t.join()
    assert failures == []
    assert set(answers) == {old_answer, new_answer}
    assert answers[-1] == new_answer
    manager.close()  # waits for the old server to drain and stop
    import psutil

    assert (
        not psutil.pid_exists(old_pid) or psutil.Process(old_pid).status() == psutil.STATUS_ZOMBIE
    )


def test_two_variants_with_weights(runtime, manager, data):
    X, _, booster, _ = data
    model = builtin_model(runtime, booster)
    manager.deploy("ep", [variant(model, "A", 1.0), variant(model, "B", 0.0)])
    seen = {
        runtime.sagemaker_runtime.invoke_endpoint(EndpointName="ep", Body=csv_rows(X[:1]))[
            "InvokedProductionVariant"
        ]
        for _ in range(10)
    }
    assert seen == {"A"}
    targeted = runtime.sagemaker_runtime.invoke_endpoint(
        EndpointName="ep", Body=csv_rows(X[:1]), TargetVariant="B"
    )
    assert targeted["InvokedProductionVariant"] == "B"


def test_undeploy(runtime, manager, data):
    manager.deploy("ep", [variant(builtin_model(runtime, data[2]))])
    manager.undeploy("ep")
    assert not (runtime.state_dir / "endpoints" / "ep.json").exists()
    with pytest.raises(KeyError):
        manager.port("ep")
    with pytest.raises(ServiceError, match="Endpoint ep of account"):
        runtime.sagemaker_runtime.invoke_endpoint(EndpointName="ep", Body=b"1")


def test_endpoint_comes_back_after_a_restart(tmp_path, data):
    X, _, booster, _ = data
    state = tmp_path / "state"
    rt = Runtime(state)
    state.mkdir(parents=True)
    first = EndpointManager(rt)
    model = builtin_model(rt, booster)
    first.deploy("ep", [variant(model)])
    first.close()
    # a new owner of the state dir redeploys what was InService
    second = EndpointManager(Runtime(state))
    try:
        second.deploy("ep", [variant(model)])
        response = second.runtime.sagemaker_runtime.invoke_endpoint(
            EndpointName="ep", Body=csv_rows(X[:1])
        )
        assert response["Body"] == container_scores(booster.inplace_predict(X[:1]))
    finally:
        second.close()
        second.runtime.sagemaker_runtime.close()


def test_script_mode_pipeline_endpoint(runtime, manager, data):
    X, y, _, _ = data
    raw = X * 2 - 1
    scaler = StandardScaler().fit(raw)
    booster = train_booster(scaler.transform(raw).astype(np.float32), y)
    scaler_path = runtime.state_dir / "scaler.joblib"
    joblib.dump(scaler, scaler_path)
    runtime.storage.write(
        "s3://models/featurizer/model.tar.gz", tar_gz({"scaler.joblib": scaler_path.read_bytes()})
    )
    runtime.storage.write(
        "s3://code/featurizer/sourcedir.tar.gz", tar_gz({"inference.py": FEATURIZER.encode()})
    )
    runtime.storage.write("s3://models/xgb/model.tar.gz", builtin_model_tar(booster))
    model = {
        "ModelName": "pipeline",
        "Containers": [
            {
                "Image": SKLEARN_IMAGE,
                "ModelDataUrl": "s3://models/featurizer/model.tar.gz",
                "Environment": {
                    "SAGEMAKER_PROGRAM": "inference.py",
                    "SAGEMAKER_SUBMIT_DIRECTORY": "s3://code/featurizer/sourcedir.tar.gz",
                    "SAGEMAKER_DEFAULT_INVOCATIONS_ACCEPT": "text/csv",
                },
            },
            {"Image": XGB_IMAGE, "ModelDataUrl": "s3://models/xgb/model.tar.gz"},
        ],
    }
    manager.deploy("pipe", [variant(model)])
    response = runtime.sagemaker_runtime.invoke_endpoint(
        EndpointName="pipe", Body=csv_rows(raw[:3]), Accept="application/json"
    )
    scores = [p["score"] for p in json.loads(response["Body"])["predictions"]]
    expected = booster.inplace_predict(
        scaler.transform(raw[:3].astype(np.float64)).astype(np.float32)
    )
    np.testing.assert_allclose(scores, expected, rtol=1e-5)
