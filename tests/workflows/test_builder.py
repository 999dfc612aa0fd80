"""The workflow builder and its settings: offline, complete error handling, names per run.

The definition tested here is the Lambda-featurised variant (``featurizer.mode: lambda``);
the default pipeline variant's definition is snapshotted in ``test_definition_snapshot.py``
and run in ``tests/test_end_to_end_pipeline.py``.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import pytest

from workflows import predictive_maintenance as pm
from workflows import settings as settings_module
from workflows.settings import ConfigError

TASKS = (
    pm.PREPARE,
    pm.TRAIN,
    pm.CREATE_MODEL,
    pm.TRANSFORM,
    pm.EVALUATE,
    pm.ENDPOINT_CONFIG,
    pm.CREATE_ENDPOINT,
    pm.UPDATE_ENDPOINT,
    pm.DESCRIBE_ENDPOINT,
    pm.PREDICT,
)


@pytest.fixture(scope="module")
def settings() -> settings_module.Settings:
    with pytest.MonkeyPatch.context() as mp:
        mp.delenv(settings_module.ENV_CONFIG, raising=False)
        return settings_module.load(overrides={"featurizer.mode": "lambda"})


@pytest.fixture(scope="module")
def asl(settings: settings_module.Settings) -> dict[str, Any]:
    return pm.definition(settings)


@pytest.fixture
def no_network(monkeypatch: pytest.MonkeyPatch) -> list[Any]:
    """No credentials, no config files, and every botocore HTTP send recorded and refused."""
    import botocore.httpsession

    for var in (
        "AWS_ACCESS_KEY_ID",
        "AWS_SECRET_ACCESS_KEY",
        "AWS_SESSION_TOKEN",
        "AWS_PROFILE",
        "AWS_DEFAULT_REGION",
        "AWS_REGION",
    ):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", "/nonexistent/aws-config")
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent/aws-credentials")
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    # The SageMaker SDK's estimators make a client from boto3's default session; one left by
    # an earlier test keeps the credential chain (instance metadata included) it was built with.
    import boto3

    monkeypatch.setattr(boto3, "DEFAULT_SESSION", None)
    sent: list[Any] = []

    def refuse(self: Any, request: Any) -> Any:
        sent.append(request)
        raise AssertionError(f"the builder sent a request: {request.method} {request.url}")

    monkeypatch.setattr(botocore.httpsession.URLLib3Session, "send", refuse)
    return sent


def test_builds_offline_with_no_credentials(
    no_network: list[Any], settings: settings_module.Settings
) -> None:
    workflow = pm.build_workflow(settings)
    built = json.loads(workflow.definition.to_json())
    assert built["StartAt"] == pm.PREPARE
    assert workflow.name == settings.name
    assert workflow.role == settings.roles.state_machine
    assert no_network == []


def test_build_workflow_uses_the_given_client(settings: settings_module.Settings) -> None:
    import boto3

    client = boto3.Session(region_name="eu-west-1").client("stepfunctions")
    workflow = pm.build_workflow(settings, client=client)
    assert workflow.client is client
    assert json.loads(workflow.definition.to_json())["States"] == pm.definition(settings)["States"]


def test_importing_the_sdk_leaves_the_root_logger_alone() -> None:
    import importlib
    import sys

    root = logging.getLogger()
    before = root.level
    root.setLevel(logging.DEBUG)
    try:
        for name in [
            m for m in sys.modules if m == "stepfunctions" or m.startswith("stepfunctions.")
        ]:
            del sys.modules[name]
        sys.modules.pop("workflows.sdk", None)
        importlib.import_module("workflows.sdk")
        assert root.level == logging.DEBUG
    finally:
        root.setLevel(before)


def test_success_path_visits_every_step_in_order(asl: dict[str, Any]) -> None:
    states = asl["States"]
    path, name = [], asl["StartAt"]
    while True:
        path.append(name)
        state = states[name]
        if state["Type"] == "Choice":
            first = name in (pm.CHECK_METRIC, pm.ENDPOINT_READY)
            name = state["Choices"][0]["Next"] if first else state["Default"]
        elif state.get("End") or state["Type"] in ("Succeed", "Fail"):
            break
        else:
            name = state["Next"]
    assert path == [
        pm.PREPARE, pm.TRAIN, pm.CREATE_MODEL, pm.TRANSFORM, pm.EVALUATE, pm.CHECK_METRIC,
        pm.ENDPOINT_CONFIG, pm.ENDPOINT_EXISTS, pm.CREATE_ENDPOINT, pm.DESCRIBE_ENDPOINT,
        pm.ENDPOINT_READY, pm.PREDICT, pm.DONE,
    ]  # fmt: skip
    assert states[pm.DONE]["Type"] == "Succeed"


@pytest.mark.parametrize("task", TASKS)
def test_every_task_is_caught_and_ends_in_fail_with_the_original_error(
    asl: dict[str, Any], task: str
) -> None:
    states = asl["States"]
    assert states[task]["Type"] == "Task"
    assert states[task]["Catch"][-1:] == [
        {"ErrorEquals": ["States.ALL"], "ResultPath": "$.error", "Next": pm.RECORD_FAILURE}
    ]
    record = states[pm.RECORD_FAILURE]
    assert record["Type"] == "Pass"
    assert record["Parameters"]["Error.$"] == "$.error.Error"
    assert record["Parameters"]["Cause.$"] == "$.error.Cause"
    failed = states[record["Next"]]
    assert failed == {
        "Comment": "Fail with the original error and cause.",
        "ErrorPath": "$.failure.Error",
        "CausePath": "$.failure.Cause",
        "Type": "Fail",
    }


@pytest.mark.parametrize("task", [pm.PREPARE, pm.EVALUATE, pm.PREDICT])
def test_lambda_steps_retry_transient_lambda_errors(
    asl: dict[str, Any], settings: settings_module.Settings, task: str
) -> None:
    retry = asl["States"][task]["Retry"][0]
    policy = settings.prepare.retry
    assert retry == {
        "ErrorEquals": [
            "Lambda.ServiceException",
            "Lambda.AWSLambdaException",
            "Lambda.SdkClientException",
            "Lambda.TooManyRequestsException",
        ],
        "IntervalSeconds": policy.interval_seconds,
        "MaxAttempts": policy.max_attempts,
        "BackoffRate": policy.backoff_rate,
    }


def test_predict_waits_for_the_endpoint_by_retrying_endpoint_errors(asl: dict[str, Any]) -> None:
    retries = asl["States"][pm.PREDICT]["Retry"]
    assert [r["ErrorEquals"] for r in retries][1] == ["EndpointError"]


def test_training_is_builtin_xgboost_with_early_stopping_and_measured_class_weight(
    asl: dict[str, Any], settings: settings_module.Settings
) -> None:
    train = asl["States"][pm.TRAIN]
    assert train["Resource"] == "arn:aws:states:::sagemaker:createTrainingJob.sync"
    params = train["Parameters"]
    assert params["AlgorithmSpecification"]["TrainingImage"].endswith("/sagemaker-xgboost:1.7-1")
    hp = params["HyperParameters"]
    assert hp["objective"] == "binary:logistic"
    assert hp["eval_metric"] == "auc"
    assert int(hp["early_stopping_rounds"]) > 0
    assert all(isinstance(v, str) for k, v in hp.items() if not k.endswith(".$"))
    assert hp["scale_pos_weight.$"] == "States.Format('{}', $.prepare.Payload.scale_pos_weight)"
    channels = {
        c["ChannelName"]: c["DataSource"]["S3DataSource"]["S3Uri.$"]
        for c in params["InputDataConfig"]
    }
    assert channels == {
        "train": "$.prepare.Payload.train_uri",
        "validation": "$.prepare.Payload.validation_uri",
    }


def test_model_step_reads_the_artifact_from_the_training_result(asl: dict[str, Any]) -> None:
    model = asl["States"][pm.CREATE_MODEL]
    assert model["InputPath"] == "$.train"
    assert model["ResultPath"] == "$.model"
    assert (
        model["Parameters"]["PrimaryContainer"]["ModelDataUrl.$"]
        == "$['ModelArtifacts']['S3ModelArtifacts']"
    )


def test_transform_scores_the_test_set_and_keeps_label_and_score(asl: dict[str, Any]) -> None:
    params = asl["States"][pm.TRANSFORM]["Parameters"]
    assert params["TransformInput"]["DataSource"]["S3DataSource"] == {
        "S3DataType": "S3Prefix",
        "S3Uri.$": "$.prepare.Payload.test_uri",
    }
    assert params["DataProcessing"] == {
        "InputFilter": "$[1:]",
        "OutputFilter": "$[0,-1]",
        "JoinSource": "Input",
    }
    assert params["TransformOutput"]["S3OutputPath.$"] == "$$.Execution.Input['TransformOutputUri']"


def test_metric_gate_is_numeric_with_a_default_that_explains_the_rejection(
    asl: dict[str, Any], settings: settings_module.Settings
) -> None:
    states = asl["States"]
    check = states[pm.CHECK_METRIC]
    assert check["Choices"] == [
        {
            "Variable": f"$.evaluate.Payload.{settings.evaluation.metric}",
            "NumericGreaterThanEqualsPath": "$.MetricThreshold",
            "Next": pm.ENDPOINT_CONFIG,
        }
    ]
    explain = states[check["Default"]]
    assert explain["Type"] == "Pass"
    assert explain["Parameters"]["Error"] == pm.REJECTED_ERROR
    cause = explain["Parameters"]["Cause.$"]
    assert cause.startswith("States.Format(")
    assert "$.evaluate.Payload.roc_auc, $.MetricThreshold)" in cause
    assert states[explain["Next"]] == {
        "ErrorPath": "$.rejection.Error",
        "CausePath": "$.rejection.Cause",
        "Type": "Fail",
    }


def test_create_endpoint_tolerates_a_concurrent_creator(asl: dict[str, Any]) -> None:
    """An endpoint created meanwhile (CreateEndpoint refused) is updated instead, the update
    retried while that endpoint is still in progress; then DescribeEndpoint waits for it."""
    states = asl["States"]
    assert states[pm.CREATE_ENDPOINT]["Catch"][0] == {
        "ErrorEquals": list(pm.ENDPOINT_BUSY_ERRORS),
        "ResultPath": "$.endpoint_exists",
        "Next": pm.UPDATE_ENDPOINT,
    }
    assert states[pm.UPDATE_ENDPOINT]["Retry"][0]["ErrorEquals"] == list(pm.ENDPOINT_BUSY_ERRORS)
    for task in (pm.CREATE_ENDPOINT, pm.UPDATE_ENDPOINT):
        assert states[task]["Next"] == pm.DESCRIBE_ENDPOINT
    describe = states[pm.DESCRIBE_ENDPOINT]
    assert describe["Resource"] == "arn:aws:states:::aws-sdk:sagemaker:describeEndpoint"
    ready = states[describe["Next"]]
    assert [(c["StringEquals"], c["Next"]) for c in ready["Choices"]] == [
        ("InService", pm.PREDICT),
        ("Failed", pm.ENDPOINT_FAILED),
    ]
    assert states[ready["Default"]] == {
        "Type": "Wait",
        "Seconds": pm.ENDPOINT_POLL_SECONDS,
        "Next": pm.DESCRIBE_ENDPOINT,
    }
    assert states[pm.ENDPOINT_FAILED] == {
        "Type": "Fail",
        "Comment": "The endpoint could not be deployed: fail with its FailureReason.",
        "Error": pm.ENDPOINT_FAILED_ERROR,
        "CausePath": "$.endpoint_status.FailureReason",
    }


def test_endpoint_is_updated_when_the_input_says_it_exists(asl: dict[str, Any]) -> None:
    states = asl["States"]
    choice = states[pm.ENDPOINT_EXISTS]
    assert choice["Choices"][0]["Next"] == pm.UPDATE_ENDPOINT
    assert choice["Default"] == pm.CREATE_ENDPOINT
    assert states[pm.UPDATE_ENDPOINT]["Resource"] == "arn:aws:states:::sagemaker:updateEndpoint"
    assert states[pm.CREATE_ENDPOINT]["Resource"] == "arn:aws:states:::sagemaker:createEndpoint"


def test_every_name_comes_from_the_execution_input(asl: dict[str, Any]) -> None:
    states = asl["States"]
    assert (
        states[pm.TRAIN]["Parameters"]["TrainingJobName.$"]
        == "$$.Execution.Input['TrainingJobName']"
    )
    assert states[pm.CREATE_MODEL]["Parameters"]["ModelName.$"] == "$$.Execution.Input['ModelName']"
    assert (
        states[pm.TRANSFORM]["Parameters"]["TransformJobName.$"]
        == "$$.Execution.Input['TransformJobName']"
    )
    assert states[pm.ENDPOINT_CONFIG]["Parameters"]["EndpointConfigName.$"] == (
        "$$.Execution.Input['EndpointConfigName']"
    )
    for state in (pm.CREATE_ENDPOINT, pm.UPDATE_ENDPOINT):
        assert states[state]["Parameters"]["EndpointName.$"] == "$$.Execution.Input['EndpointName']"
    text = json.dumps(asl)
    referenced = {
        m
        for m in pm.EXECUTION_INPUT
        if f"Input['{m}']" in text or f"$.{m}" in text or f"Input.{m}" in text
    }
    assert referenced == set(pm.EXECUTION_INPUT)


def test_example_input_names_are_unique_per_run_and_valid_for_sagemaker(
    settings: settings_module.Settings,
) -> None:
    import re

    a = pm.example_input(settings, "20240101-000000-aaaa")
    b = pm.example_input(settings, "20240101-000000-bbbb")
    assert set(a) == set(pm.EXECUTION_INPUT)
    per_run = [
        "TrainingJobName",
        "ModelName",
        "TransformJobName",
        "EndpointConfigName",
        "RawDataUri",
        "PreparedDataUri",
        "TransformOutputUri",
        "EvaluationUri",
    ]
    for key in per_run:
        assert a[key] != b[key], key
    assert a["EndpointName"] == b["EndpointName"] == settings.endpoint.name  # updated in place
    for key in (
        "TrainingJobName",
        "ModelName",
        "TransformJobName",
        "EndpointConfigName",
        "EndpointName",
    ):
        assert re.fullmatch(r"[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}", a[key]), key
    assert a["MetricThreshold"] == settings.evaluation.threshold
    for key, kind in pm.EXECUTION_INPUT.items():
        assert isinstance(a[key], kind), key


@pytest.mark.parametrize(
    ("run_id", "message"),
    [
        ("has space", "use letters, digits and single hyphens"),
        ("x" * 40, "longer than 63 characters"),
    ],
    ids=["bad-characters", "too-long"],
)
def test_example_input_refuses_a_bad_run_id(
    settings: settings_module.Settings, run_id: str, message: str
) -> None:
    with pytest.raises(ConfigError, match=message):
        pm.example_input(settings, run_id)


def test_lambda_names_come_from_functions_yaml(asl: dict[str, Any]) -> None:
    from workflows.functions import load_functions

    names = {spec.role: spec.name for spec in load_functions()}
    states = asl["States"]
    assert states[pm.PREPARE]["Parameters"]["FunctionName"] == names["prepare"]
    assert states[pm.EVALUATE]["Parameters"]["FunctionName"] == names["evaluate"]
    assert states[pm.PREDICT]["Parameters"]["FunctionName"] == names["predict"]


# -- settings ---------------------------------------------------------------------------


def test_defaults_load_from_any_working_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(settings_module.ENV_CONFIG, raising=False)
    monkeypatch.chdir(tmp_path)
    s = settings_module.load()
    assert s.name == "predictive-maintenance"
    assert s.evaluation.metric == "roc_auc"
    assert s.evaluation.threshold == 0.9
    assert s.source == (str(settings_module.DEFAULTS_FILE),)


def test_user_file_overrides_only_what_it_names(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "mine.yaml"
    path.write_text(
        "evaluation:\n  threshold: 0.8\ntraining:\n  hyperparameters:\n    max_depth: 3\n"
    )
    monkeypatch.setenv(settings_module.ENV_CONFIG, str(path))
    s = settings_module.load()
    assert s.evaluation.threshold == 0.8
    assert s.evaluation.metric == "roc_auc"
    assert s.training.hyperparameters["max_depth"] == 3
    assert s.training.hyperparameters["objective"] == "binary:logistic"


def test_explicit_overrides_beat_the_file(tmp_path: Path) -> None:
    path = tmp_path / "mine.yaml"
    path.write_text("evaluation:\n  threshold: 0.8\n")
    s = settings_module.load(path, overrides={"evaluation.threshold": 0.95, "data.rows": None})
    assert s.evaluation.threshold == 0.95
    assert s.data.rows == 10000


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (
            "evaluation:\n  treshold: 0.8\n",
            "evaluation.treshold: unknown setting; known here: decision_threshold, metric, threshold",
        ),
        ("evaluation:\n  metric: accuracy\n", "evaluation.metric: 'accuracy' is not a metric"),
        ("data:\n  rows: many\n", "data.rows: must be a number, got 'many'"),
        (
            "data:\n  raw_prefix: /raw\n",
            "data.raw_prefix: '/raw' must be a relative prefix ending in '/'",
        ),
        (
            "training:\n  hyperparameters:\n    scale_pos_weight: 3\n",
            "training.hyperparameters.scale_pos_weight: set by the workflow",
        ),
        ("- a list\n", "the top level must be a mapping"),
    ],
    ids=[
        "typo",
        "unknown-metric",
        "not-a-number",
        "absolute-prefix",
        "scale-pos-weight",
        "not-a-mapping",
    ],
)
def test_bad_configuration_names_the_key(tmp_path: Path, body: str, message: str) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(body)
    with pytest.raises(ConfigError) as info:
        settings_module.load(path)
    assert message in str(info.value)


def test_missing_config_file_is_named(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"--config: no configuration file at .*nope.yaml"):
        settings_module.load(tmp_path / "nope.yaml")


def test_different_settings_change_the_definition(settings: settings_module.Settings) -> None:
    changed = settings.replace(
        **{"evaluation.metric": "pr_auc", "endpoint.instance_type": "ml.m5.large"}
    )
    asl = pm.definition(changed)
    assert asl["States"][pm.CHECK_METRIC]["Choices"][0]["Variable"] == "$.evaluate.Payload.pr_auc"
    variant = asl["States"][pm.ENDPOINT_CONFIG]["Parameters"]["ProductionVariants"][0]
    assert variant["InstanceType"] == "ml.m5.large"
