"""A crash between a CreateModel / CreateEndpointConfig call and the journaling of its result:
the resumed task accepts the resource its first attempt made (when it is the one requested)
instead of failing on "already exists".

The crash window is built exactly: an execution runs to the end, then its history is cut back
to the TaskScheduled of the step (and the execution marked RUNNING in that state), as a
kill -9 right after the create would have left it; the next runtime continues it."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from typing import Any

import pytest

from localaws.runtime import Runtime

ROLE = "arn:aws:iam::123456789012:role/crash-test"
XGB_IMAGE = "683313688378.dkr.ecr.us-east-1.amazonaws.com/sagemaker-xgboost:1.7-1"


def model(image: str = XGB_IMAGE) -> dict[str, Any]:
    return {
        "ModelName": "m",
        "ExecutionRoleArn": ROLE,
        "PrimaryContainer": {"Image": image, "ModelDataUrl": "s3://models/m/model.tar.gz"},
        "Tags": [{"Key": "team", "Value": "ml"}],
    }


CONFIG = {
    "EndpointConfigName": "c",
    "ProductionVariants": [
        {
            "VariantName": "AllTraffic",
            "ModelName": "m",
            "InitialInstanceCount": 1,
            "InstanceType": "ml.m5.large",
        }
    ],
}
DEFINITION = {
    "StartAt": "Model",
    "States": {
        "Model": {
            "Type": "Task",
            "Resource": "arn:aws:states:::sagemaker:createModel",
            "Parameters": model(),
            "ResultPath": "$.model",
            "Next": "Config",
        },
        "Config": {
            "Type": "Task",
            "Resource": "arn:aws:states:::sagemaker:createEndpointConfig",
            "Parameters": CONFIG,
            "ResultPath": "$.config",
            "End": True,
        },
    },
}


def cut_history_at(db: Path, arn: str, state: str) -> None:
    """Leave the execution as a kill -9 during ``state``'s task would: RUNNING in it, its
    history ending at that task's TaskScheduled."""
    con = sqlite3.connect(db)
    with con:
        rows = con.execute(
            "SELECT id, type, details FROM sfn_history WHERE execution_arn = ? ORDER BY id",
            (arn,),
        ).fetchall()
        entered = next(
            (i, json.loads(d))
            for i, t, d in rows
            if t == "TaskStateEntered" and json.loads(d)["name"] == state
        )
        scheduled = next(i for i, t, _ in rows if t == "TaskScheduled" and i > entered[0])
        con.execute("DELETE FROM sfn_history WHERE execution_arn = ? AND id > ?", (arn, scheduled))
        checkpoint = {"state": state, "input": json.loads(entered[1]["input"])}
        con.execute(
            "UPDATE sfn_executions SET status = 'RUNNING', stop = NULL, output = NULL, "
            "checkpoint = ? WHERE arn = ?",
            (json.dumps(checkpoint), arn),
        )
    con.close()


def run_then_cut(state_dir: Path, state: str, replace_model: bool = False) -> str:
    with Runtime(state_dir) as rt:
        sfn = rt.stepfunctions
        machine = sfn.create_state_machine(
            name="deploy", definition=json.dumps(DEFINITION), roleArn=ROLE
        )["stateMachineArn"]
        arn = sfn.start_execution(stateMachineArn=machine, name="run", input="{}")["executionArn"]
        assert sfn.wait(arn, 60)["status"] == "SUCCEEDED"
        if state == "Model":  # the crash came before the config existed
            rt.sagemaker.delete_endpoint_config(EndpointConfigName="c")
        if replace_model:  # someone else's model under the same name
            rt.sagemaker.delete_model(ModelName="m")
            rt.sagemaker.create_model(**model(image="other-image:1"))
    cut_history_at(state_dir / "runtime.db", arn, state)
    return arn


@pytest.mark.parametrize("state", ["Model", "Config"])
def test_resumed_create_accepts_what_its_first_attempt_made(tmp_path: Path, state: str) -> None:
    arn = run_then_cut(tmp_path / "state", state)
    with Runtime(tmp_path / "state") as rt:
        done = rt.stepfunctions.wait(arn, 60)
        assert done["status"] == "SUCCEEDED", done
        output = json.loads(done["output"])
        model_arn = rt.sagemaker.describe_model(ModelName="m")["ModelArn"]
        config_arn = rt.sagemaker.describe_endpoint_config(EndpointConfigName="c")[
            "EndpointConfigArn"
        ]
        assert output == {
            "model": {"ModelArn": model_arn},
            "config": {"EndpointConfigArn": config_arn},
        }
        assert len(rt.sagemaker.list_models()["Models"]) == 1
        assert len(rt.sagemaker.list_endpoint_configs()["EndpointConfigs"]) == 1
        events = rt.stepfunctions.get_execution_history(executionArn=arn, maxResults=1000)["events"]
        types = [e["type"] for e in events]
        assert types.count("ExecutionStarted") == 1 and "TaskFailed" not in types


def test_resumed_create_still_refuses_a_different_resource(tmp_path: Path) -> None:
    arn = run_then_cut(tmp_path / "state", "Model", replace_model=True)
    with Runtime(tmp_path / "state") as rt:
        done = rt.stepfunctions.wait(arn, 60)
        assert done["status"] == "FAILED"
        assert done["error"] == "SageMaker.ValidationException"
        assert "already exist" in done["cause"]
