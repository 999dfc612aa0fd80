"""The workflow's deployment states, as compiled: two runs deploying one endpoint at once
both succeed; a Failed endpoint ends the execution with its FailureReason."""

from __future__ import annotations

import io
import json
import tarfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import xgboost as xgb

from localaws.runtime import Runtime
from workflows import predictive_maintenance as pm
from workflows import settings as settings_module

ROLE = "arn:aws:iam::123456789012:role/crash-test"
XGB_IMAGE = "683313688378.dkr.ecr.us-east-1.amazonaws.com/sagemaker-xgboost:1.7-1"
ENDPOINT = "race-endpoint"


def deployment_definition() -> dict[str, Any]:
    """The compiled definition from CreateEndpointConfig on, PredictSamples a Pass."""
    lambda_variant = settings_module.load(overrides={"featurizer.mode": "lambda"})
    states = pm.definition(lambda_variant)["States"]
    keep: dict[str, Any] = {}
    todo = [pm.ENDPOINT_CONFIG]
    while todo:
        name = todo.pop()
        if name in keep:
            continue
        state = dict(states[name])
        if name == pm.PREDICT:
            state = {"Type": "Pass", "End": True}
        keep[name] = state
        todo += [state[k] for k in ("Next", "Default") if k in state]
        todo += [c["Next"] for c in state.get("Choices", []) + state.get("Catch", [])]
    return {"StartAt": pm.ENDPOINT_CONFIG, "States": keep}


def model_tar() -> bytes:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(200, 3))
    booster = xgb.train(
        {"objective": "binary:logistic", "max_depth": 2},
        xgb.DMatrix(x, label=(x[:, 0] > 0).astype(int)),
        num_boost_round=3,
    )
    data = bytes(booster.save_raw(raw_format="ubj"))
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        info = tarfile.TarInfo("xgboost-model")
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


@pytest.fixture
def rt(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Runtime]:
    monkeypatch.delenv(settings_module.ENV_CONFIG, raising=False)
    with Runtime(tmp_path / "state") as runtime:
        runtime.storage.write("s3://models/good/model.tar.gz", model_tar())
        runtime.storage.write("s3://models/bad/model.tar.gz", b"not a tarball")
        yield runtime


def run_input(run: str, model: str) -> dict[str, Any]:
    return {
        "RunId": run,
        "ModelName": model,
        "EndpointConfigName": f"race-config-{run}",
        "EndpointName": ENDPOINT,
        "EndpointExists": False,
    }


def start(rt: Runtime, machine: str, run: str, model: str) -> str:
    arn: str = rt.stepfunctions.start_execution(
        stateMachineArn=machine, name=run, input=json.dumps(run_input(run, model))
    )["executionArn"]
    return arn


def create_model(rt: Runtime, name: str, uri: str) -> None:
    rt.sagemaker.create_model(
        ModelName=name,
        ExecutionRoleArn=ROLE,
        PrimaryContainer={"Image": XGB_IMAGE, "ModelDataUrl": uri},
    )


def machine_arn(rt: Runtime) -> str:
    arn: str = rt.stepfunctions.create_state_machine(
        name="deploy", definition=json.dumps(deployment_definition()), roleArn=ROLE
    )["stateMachineArn"]
    return arn


def test_two_concurrent_runs_both_deploy(rt: Runtime) -> None:
    create_model(rt, "race-model", "s3://models/good/model.tar.gz")
    machine = machine_arn(rt)
    first = start(rt, machine, "one", "race-model")
    second = start(rt, machine, "two", "race-model")
    for arn in (first, second):
        done = rt.stepfunctions.wait(arn, timeout=180)
        assert done["status"] == "SUCCEEDED", done
        assert json.loads(done["output"])["endpoint_status"]["EndpointStatus"] == "InService"
    entered = {
        e["stateEnteredEventDetails"]["name"]
        for arn in (first, second)
        for e in rt.stepfunctions.get_execution_history(executionArn=arn, maxResults=1000)["events"]
        if "stateEnteredEventDetails" in e
    }
    assert pm.UPDATE_ENDPOINT in entered  # the second creator went on to update
    endpoint = rt.sagemaker.describe_endpoint(EndpointName=ENDPOINT)
    assert endpoint["EndpointStatus"] == "InService"
    assert endpoint["EndpointConfigName"] in ("race-config-one", "race-config-two")
    assert [e["EndpointName"] for e in rt.sagemaker.list_endpoints()["Endpoints"]] == [ENDPOINT]


def test_a_failed_endpoint_ends_the_run_with_its_reason(rt: Runtime) -> None:
    create_model(rt, "broken-model", "s3://models/bad/model.tar.gz")
    arn = start(rt, machine_arn(rt), "bad", "broken-model")
    done = rt.stepfunctions.wait(arn, timeout=120)
    assert done["status"] == "FAILED"
    assert done["error"] == pm.ENDPOINT_FAILED_ERROR
    reason = rt.sagemaker.describe_endpoint(EndpointName=ENDPOINT)["FailureReason"]
    assert done["cause"] == reason and "not a valid tar.gz" in reason
