"""``python -m workflows``: exit codes, the files `build` writes, and `exec` on the real
definition with every Task mocked (AWS Step Functions Local's MockConfigFile format), which
walks each path of the state machine in well under a second."""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from workflows import cli
from workflows import predictive_maintenance as pm
from workflows import settings as settings_module
from workflows.errors import ExitCode

REPO = Path(__file__).resolve().parents[2]
RUN_ID = "20240101-000000-test"
MACHINE = "predictive-maintenance"


@pytest.fixture(autouse=True)
def _isolated(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv(settings_module.ENV_CONFIG, raising=False)
    monkeypatch.setenv("LOCALAWS_STATE_DIR", str(tmp_path / "state"))
    monkeypatch.setenv("COLUMNS", "200")


def run_cli(*argv: str) -> int:
    return cli.main(list(argv))


# -- build ------------------------------------------------------------------------------


def test_build_writes_definition_cloudformation_and_example_input(tmp_path: Path) -> None:
    out = tmp_path / "out"
    assert run_cli("build", "--out", str(out)) == ExitCode.OK
    settings = settings_module.load()
    definition = json.loads((out / "definition.json").read_text())
    assert definition == pm.definition(settings)
    template = yaml.safe_load((out / "state-machine.cfn.yaml").read_text())
    machine = template["Resources"]["PredictiveMaintenanceStateMachine"]
    assert machine["Type"] == "AWS::StepFunctions::StateMachine"
    assert json.loads(machine["Properties"]["DefinitionString"]) == definition
    assert machine["Properties"]["RoleArn"] == settings.roles.state_machine
    example = json.loads((out / "example-input.json").read_text())
    assert set(example) == set(pm.execution_input_schema(settings))


def test_build_works_from_any_directory(tmp_path: Path) -> None:
    """A subprocess in another directory, with the repository only on PYTHONPATH."""
    env = {"PATH": "/usr/bin:/bin", "PYTHONPATH": str(REPO), "HOME": str(tmp_path)}
    done = subprocess.run(
        [sys.executable, "-m", "workflows", "build", "--out", "built"],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "built" / "definition.json").is_file()


def test_build_target_aws_is_handed_to_the_aws_side(monkeypatch: pytest.MonkeyPatch) -> None:
    from workflows import aws

    seen: list[argparse.Namespace] = []

    def cmd_build(args: argparse.Namespace) -> int:
        seen.append(args)
        return 0

    monkeypatch.setattr(aws, "cmd_build", cmd_build)
    assert run_cli("build", "--target", "aws", "--region", "eu-west-1") == ExitCode.OK
    assert [(a.target, a.region) for a in seen] == [("aws", "eu-west-1")]


def test_bad_configuration_exits_2_and_names_the_key(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = tmp_path / "bad.yaml"
    config.write_text("evaluation:\n  treshold: 0.5\n")
    assert (
        run_cli("--config", str(config), "build", "--out", str(tmp_path / "out")) == ExitCode.USAGE
    )
    assert "evaluation.treshold: unknown setting" in capsys.readouterr().err


def test_unknown_command_exits_2() -> None:
    with pytest.raises(SystemExit) as info:
        run_cli("frobnicate")
    assert info.value.code == ExitCode.USAGE


def test_options_before_and_after_the_command_both_count() -> None:
    parser = cli.make_parser()
    assert parser.parse_args(["--state-dir", "a", "status"]).state_dir == "a"
    assert parser.parse_args(["status", "--state-dir", "b"]).state_dir == "b"


# -- status / history -------------------------------------------------------------------


def test_status_with_no_runs_says_so(capsys: pytest.CaptureFixture[str]) -> None:
    assert run_cli("status") == ExitCode.OK
    assert "no runs yet" in capsys.readouterr().out


def test_history_with_no_runs_exits_2(capsys: pytest.CaptureFixture[str]) -> None:
    assert run_cli("history") == ExitCode.USAGE
    assert "no executions of 'predictive-maintenance' yet" in capsys.readouterr().err


def test_commands_go_through_the_server_that_owns_the_state_dir(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from localaws.server.serve import LocalServer

    state = tmp_path / "served"
    definition = tmp_path / "machine.json"
    definition.write_text(
        json.dumps({"StartAt": "A", "States": {"A": {"Type": "Pass", "End": True}}})
    )
    with LocalServer(state) as server:
        code, result = exec_json(
            capsys, str(definition), "--state-dir", str(state), "--input", '{"via": "server"}'
        )
        assert (code, result["output"]) == (ExitCode.OK, {"via": "server"})
        executions = server.runtime.stepfunctions.list_executions(
            stateMachineArn=server.runtime.arn("states", "stateMachine:machine")
        )["executions"]
        assert [e["status"] for e in executions] == ["SUCCEEDED"]
        assert (
            run_cli("history", "--state-dir", str(state)) == ExitCode.USAGE
        )  # no predictive-maintenance runs
        assert "no executions of 'predictive-maintenance' yet" in capsys.readouterr().err


# -- exec -------------------------------------------------------------------------------


def exec_json(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, dict[str, Any]]:
    code = run_cli("exec", *argv)
    captured = capsys.readouterr()
    lines = captured.out.strip().splitlines()
    assert lines, f"exec printed nothing; exit {code}; stderr: {captured.err}"
    return code, json.loads(lines[-1])


@pytest.mark.parametrize(
    ("definition", "expected", "code"),
    [
        (
            {
                "StartAt": "A",
                "States": {"A": {"Type": "Pass", "Parameters": {"x.$": "$.v"}, "End": True}},
            },
            {"status": "SUCCEEDED", "output": {"x": 3}, "error": None, "cause": None},
            ExitCode.OK,
        ),
        (
            {
                "StartAt": "A",
                "States": {
                    "A": {
                        "Type": "Fail",
                        "Error": "Boom",
                        "CausePath": "States.Format('v={}', $.v)",
                    }
                },
            },
            {"status": "FAILED", "output": None, "error": "Boom", "cause": "v=3"},
            ExitCode.FAILED,
        ),
    ],
    ids=["succeeded", "failed"],
)
def test_exec_prints_one_json_object_and_exits_0_only_on_success(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    definition: dict[str, Any],
    expected: dict[str, Any],
    code: int,
) -> None:
    path = tmp_path / "machine.json"
    path.write_text(json.dumps(definition))
    assert exec_json(capsys, str(path), "--input", '{"v": 3}') == (code, expected)


def test_exec_refuses_an_invalid_definition(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "bad.json"
    path.write_text(
        json.dumps({"StartAt": "A", "States": {"A": {"Type": "Pass", "Next": "Nowhere"}}})
    )
    assert run_cli("exec", str(path)) == ExitCode.FAILED
    err = capsys.readouterr().err
    assert "InvalidDefinition" in err
    assert "Nowhere" in err


def test_exec_with_a_missing_file_exits_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run_cli("exec", str(tmp_path / "nope.json")) == ExitCode.USAGE
    assert "nope.json" in capsys.readouterr().err


def lambda_result(payload: dict[str, Any]) -> dict[str, Any]:
    return {"Return": {"Payload": payload, "StatusCode": 200, "ExecutedVersion": "$LATEST"}}


def mock_config(roc_auc: float) -> dict[str, Any]:
    prepared = "s3://predictive-maintenance/prepared/run/"
    responses = {
        "Prepared": {
            "0": lambda_result(
                {
                    "train_uri": prepared + "train/train.csv",
                    "validation_uri": prepared + "validation/validation.csv",
                    "test_uri": prepared + "test/test.csv",
                    "test_features_uri": prepared + "test-features/test_features.csv",
                    "scale_pos_weight": 28.5,
                }
            )
        },
        "PrepareSchemaError": {
            "0": {
                "Throw": {
                    "Error": "SchemaError",
                    "Cause": '{"errorMessage": "missing columns: [\'Torque [Nm]\']"}',
                }
            }
        },
        "PrepareThrottledThenOk": {
            "0": {"Throw": {"Error": "Lambda.TooManyRequestsException", "Cause": "slow down"}},
            "1": lambda_result(
                {
                    "train_uri": "s3://b/t",
                    "validation_uri": "s3://b/v",
                    "test_uri": "s3://b/x",
                    "test_features_uri": "s3://b/f",
                    "scale_pos_weight": 3,
                }
            ),
        },
        "Trained": {
            "0": {
                "Return": {
                    "ModelArtifacts": {"S3ModelArtifacts": "s3://b/models/m/output/model.tar.gz"}
                }
            }
        },
        "Created": {
            "0": {"Return": {"ModelArn": "arn:aws:sagemaker:us-east-1:123456789012:model/m"}}
        },
        "Transformed": {"0": {"Return": {"TransformJobStatus": "Completed"}}},
        "Evaluated": {"0": lambda_result({"roc_auc": roc_auc, "pr_auc": 0.8, "f1": 0.7})},
        "ConfigCreated": {
            "0": {
                "Return": {
                    "EndpointConfigArn": "arn:aws:sagemaker:us-east-1:123456789012:endpoint-config/c"
                }
            }
        },
        "EndpointCreated": {
            "0": {"Return": {"EndpointArn": "arn:aws:sagemaker:us-east-1:123456789012:endpoint/e"}}
        },
        "EndpointInService": {
            "0": {"Return": {"EndpointName": "e", "EndpointStatus": "InService"}}
        },
        "Predicted": {"0": lambda_result({"count": 1, "predictions": [{"score": 0.01}]})},
        "EndpointNotReadyThenPredicted": {
            "0": {"Throw": {"Error": "EndpointError", "Cause": "endpoint is Creating"}},
            "1": lambda_result({"count": 1, "predictions": [{"score": 0.02}]}),
        },
    }
    deploy = {
        pm.ENDPOINT_CONFIG: "ConfigCreated",
        pm.CREATE_ENDPOINT: "EndpointCreated",
        pm.UPDATE_ENDPOINT: "EndpointCreated",
        pm.DESCRIBE_ENDPOINT: "EndpointInService",
        pm.PREDICT: "Predicted",
    }
    happy = {
        pm.PREPARE: "Prepared",
        pm.TRAIN: "Trained",
        pm.CREATE_MODEL: "Created",
        pm.TRANSFORM: "Transformed",
        pm.EVALUATE: "Evaluated",
        **deploy,
    }
    cases = {
        "Happy": happy,
        "PrepareFails": {**happy, pm.PREPARE: "PrepareSchemaError"},
        "Throttled": {
            **happy,
            pm.PREPARE: "PrepareThrottledThenOk",
            pm.PREDICT: "EndpointNotReadyThenPredicted",
        },
    }
    return {"StateMachines": {MACHINE: {"TestCases": cases}}, "MockedResponses": responses}


@pytest.fixture
def mocked(tmp_path: Path) -> Any:
    """exec the real definition (the Lambda-featurised variant) with a mock config: (exit
    code, printed result)."""
    config = tmp_path / "fast-retries.yaml"
    config.write_text(
        "featurizer: {mode: lambda}\n"
        "prepare:\n  retry: {interval_seconds: 1, max_attempts: 2, backoff_rate: 1.0}\n"
        "prediction:\n  endpoint_retry: {interval_seconds: 1, max_attempts: 2, backoff_rate: 1.0}\n"
    )
    assert (
        run_cli("--config", str(config), "build", "--out", str(tmp_path / "build")) == ExitCode.OK
    )
    definition = tmp_path / "build" / "definition.json"
    settings = settings_module.load(config)

    def run(
        case: str,
        capsys: pytest.CaptureFixture[str],
        *,
        roc_auc: float = 0.97,
        **input_changes: Any,
    ) -> Any:
        config = tmp_path / f"mock-{case}.json"
        config.write_text(json.dumps(mock_config(roc_auc)))
        execution_input = {**pm.example_input(settings, RUN_ID), **input_changes}
        capsys.readouterr()
        return exec_json(capsys, str(definition), "--input", json.dumps(execution_input),
                         "--mock-config", str(config), "--test-case", case)  # fmt: skip

    return run


def visited(tmp_path: Path) -> list[tuple[str, str]]:
    from workflows.target import LocalTarget

    with LocalTarget(tmp_path / "state") as target:
        arn = target.stepfunctions.list_executions(
            stateMachineArn=target.arn("states", f"stateMachine:{MACHINE}")
        )["executions"][0]["executionArn"]
        return [(s.name, s.status) for s in target.view(arn).states]


def test_mocked_happy_path_creates_the_endpoint_and_predicts(
    mocked: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, result = mocked("Happy", capsys)
    assert (code, result["status"]) == (ExitCode.OK, "SUCCEEDED")
    output = result["output"]
    assert output["evaluate"]["Payload"]["roc_auc"] == 0.97
    assert output["model"] == {"ModelArn": "arn:aws:sagemaker:us-east-1:123456789012:model/m"}
    assert output["predict"]["Payload"]["predictions"] == [{"score": 0.01}]
    assert [name for name, _ in visited(tmp_path)] == [
        pm.PREPARE, pm.TRAIN, pm.CREATE_MODEL, pm.TRANSFORM, pm.EVALUATE, pm.CHECK_METRIC,
        pm.ENDPOINT_CONFIG, pm.ENDPOINT_EXISTS, pm.CREATE_ENDPOINT, pm.DESCRIBE_ENDPOINT,
        pm.ENDPOINT_READY, pm.PREDICT, pm.DONE,
    ]  # fmt: skip


def test_mocked_existing_endpoint_is_updated(
    mocked: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _, result = mocked("Happy", capsys, EndpointExists=True)
    assert result["status"] == "SUCCEEDED"
    names = [name for name, _ in visited(tmp_path)]
    assert pm.UPDATE_ENDPOINT in names
    assert pm.CREATE_ENDPOINT not in names


def test_mocked_metric_below_threshold_fails_naming_metric_and_threshold(
    mocked: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    code, result = mocked("Happy", capsys, roc_auc=0.93, MetricThreshold=1.01)
    assert code == ExitCode.FAILED
    assert result["status"] == "FAILED"
    assert result["error"] == pm.REJECTED_ERROR
    assert result["cause"] == (
        "roc_auc = 0.93 on the test set is below the threshold 1.01 (MetricThreshold in the "
        "execution input); the model was not deployed"
    )


def test_mocked_prepare_failure_ends_in_fail_with_the_lambdas_error(
    mocked: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, result = mocked("PrepareFails", capsys)
    assert code == ExitCode.FAILED
    assert result["error"] == "SchemaError"
    assert "missing columns" in result["cause"]
    assert visited(tmp_path) == [
        (pm.PREPARE, "caught"),
        (pm.RECORD_FAILURE, "succeeded"),
        (pm.WORKFLOW_FAILED, "failed"),
    ]


def test_mocked_transient_errors_are_retried(
    mocked: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _, result = mocked("Throttled", capsys)
    assert result["status"] == "SUCCEEDED"
    assert result["output"]["predict"]["Payload"]["predictions"] == [{"score": 0.02}]


def test_progress_lists_the_states_every_successful_run_passes() -> None:
    definition = {
        "StartAt": "A",
        "States": {
            "A": {"Type": "Task", "Next": "Check", "Catch": [{"Next": "Failed"}]},
            "Check": {
                "Type": "Choice",
                "Choices": [{"Next": "Left"}, {"Next": "Give up"}],
                "Default": "Right",
            },
            "Left": {"Type": "Pass", "Next": "Join"},
            "Right": {"Type": "Wait", "Next": "A"},  # a loop back
            "Join": {"Type": "Pass", "End": True},
            "Give up": {"Type": "Fail"},
            "Failed": {"Type": "Fail"},
        },
    }
    assert cli.states_every_success_passes(definition) == ["A", "Check", "Left", "Join"]


@pytest.mark.parametrize("mode", ["pipeline", "lambda"])
def test_progress_of_the_workflow_comes_from_its_definition(mode: str) -> None:
    from workflows import predictive_maintenance as pm
    from workflows import predictive_maintenance_pipeline as pipeline
    from workflows import settings

    definition = pm.definition(settings.load(None, overrides={"featurizer.mode": mode}))
    pending = cli.states_every_success_passes(definition)
    # A pipeline run may end successfully at AwaitingApproval (a version not yet approved), so
    # what every success passes ends at the choice between the two.
    first, last = (
        (pipeline.FEATURIZE, pipeline.HAS_APPROVED) if mode == "pipeline" else (pm.PREPARE, pm.DONE)
    )
    assert pending[0] == first and pending[-1] == last
    assert pm.MODEL_REJECTED not in pending and pm.TRAIN in pending
