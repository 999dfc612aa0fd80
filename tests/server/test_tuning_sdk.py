"""Hyperparameter tuning through the server: the SageMaker SDK's HyperparameterTuner
(fit / attach / best_estimator), boto3, and Step Functions' createHyperParameterTuningJob.sync
built with the Data Science SDK's TuningStep."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any

import pytest
from sdk_support import ROLE, XGB_IMAGE, sdk_session, upload_classification_data

from localaws.server.serve import LocalServer

BUCKET = "tuning-sdk"


def _estimator(session: Any) -> Any:
    from sagemaker.estimator import Estimator

    return Estimator(
        image_uri=XGB_IMAGE,
        role=ROLE,
        instance_count=1,
        instance_type="ml.m5.large",
        output_path=f"s3://{BUCKET}/models",
        sagemaker_session=session,
        hyperparameters={"num_round": "5", "objective": "binary:logistic"},
    )


def _tuner(estimator: Any, **kwargs: Any) -> Any:
    from sagemaker.tuner import ContinuousParameter, HyperparameterTuner, IntegerParameter

    return HyperparameterTuner(
        estimator,
        "validation:auc",
        {"max_depth": IntegerParameter(1, 5), "eta": ContinuousParameter(0.05, 0.5)},
        max_jobs=3,
        max_parallel_jobs=2,
        **kwargs,
    )


def _inputs() -> dict[str, Any]:
    from sagemaker.inputs import TrainingInput

    return {
        "train": TrainingInput(f"s3://{BUCKET}/data/train", content_type="text/csv"),
        "validation": TrainingInput(f"s3://{BUCKET}/data/validation", content_type="text/csv"),
    }


def test_hyperparameter_tuner_fit_attach_best_estimator(
    server: LocalServer, monkeypatch: pytest.MonkeyPatch, client: Callable[..., Any]
) -> None:
    from sagemaker.tuner import HyperparameterTuner

    upload_classification_data(server, BUCKET)
    session = sdk_session(server, monkeypatch, BUCKET)
    sqs, events = client("sqs"), client("events")
    url = sqs.create_queue(QueueName="tuning-events")["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    events.put_rule(
        Name="tuning-done",
        EventPattern=json.dumps(
            {
                "source": ["aws.sagemaker"],
                "detail-type": ["SageMaker HyperParameter Tuning Job State Change"],
                "detail": {"HyperParameterTuningJobStatus": ["Completed"]},
            }
        ),
    )
    events.put_targets(Rule="tuning-done", Targets=[{"Id": "q", "Arn": queue_arn}])
    tuner = _tuner(_estimator(session), strategy="Bayesian")
    tuner.fit(_inputs(), job_name="sdk-tune", wait=True)
    described = tuner.describe()
    assert described["HyperParameterTuningJobStatus"] == "Completed"
    assert described["ObjectiveStatusCounters"]["Succeeded"] == 3
    best_name = tuner.best_training_job()
    best = tuner.best_estimator()
    assert best.latest_training_job.name == best_name
    assert best.model_data.endswith(f"/{best_name}/output/model.tar.gz")
    assert server.runtime.storage.exists(best.model_data)
    from sagemaker.estimator import Estimator

    alone = Estimator.attach(best_name, sagemaker_session=session)  # DescribeTrainingJob
    assert alone.model_data == best.model_data
    assert alone.image_uri == XGB_IMAGE and alone.instance_type == "ml.m5.large"
    assert alone.hyperparameters()["num_round"] == "5"
    assert set(alone.hyperparameters()) >= {"max_depth", "eta", "objective"}

    messages: list[dict[str, Any]] = []
    deadline = time.monotonic() + 60
    while not messages and time.monotonic() < deadline:  # SQS long polls: no sleep
        messages = sqs.receive_message(QueueUrl=url, WaitTimeSeconds=5).get("Messages", [])
    [message] = messages
    event = json.loads(message["Body"])
    assert event["detail"]["HyperParameterTuningJobName"] == "sdk-tune"
    assert event["resources"] == [described["HyperParameterTuningJobArn"]]

    attached = HyperparameterTuner.attach("sdk-tune", sagemaker_session=session)
    assert attached.objective_metric_name == "validation:auc"
    assert attached.max_jobs == 3 and attached.max_parallel_jobs == 2
    assert set(attached._hyperparameter_ranges) == {"max_depth", "eta"}
    assert attached.best_training_job() == best_name
    frame = tuner.analytics().dataframe()
    assert len(frame) == 3
    assert frame["FinalObjectiveValue"].max() == pytest.approx(
        described["BestTrainingJob"]["FinalHyperParameterTuningJobObjectiveMetric"]["Value"]
    )


def test_tuning_step_runs_in_step_functions(
    server: LocalServer,
    monkeypatch: pytest.MonkeyPatch,
    client: Callable[..., Any],
    restore_root_logger: None,
) -> None:
    from stepfunctions.steps import Chain, TuningStep
    from stepfunctions.workflow import Workflow

    upload_classification_data(server, BUCKET)
    session = sdk_session(server, monkeypatch, BUCKET)
    tuner = _tuner(_estimator(session), strategy="Random")
    step = TuningStep(
        "Tune", tuner=tuner, job_name="sfn-tune", data=_inputs(), wait_for_completion=True
    )
    definition = json.loads(Workflow("tune", Chain([step]), ROLE).definition.to_json())
    assert definition["States"]["Tune"]["Resource"] == (
        "arn:aws:states:::sagemaker:createHyperParameterTuningJob.sync"
    )
    sfn = client("stepfunctions")
    machine = sfn.create_state_machine(
        name="tune", definition=json.dumps(definition), roleArn=ROLE
    )["stateMachineArn"]
    execution = sfn.start_execution(stateMachineArn=machine, input="{}")["executionArn"]
    deadline = time.monotonic() + 300
    while (described := sfn.describe_execution(executionArn=execution))["status"] == "RUNNING":
        assert time.monotonic() < deadline, "the execution did not end"
        time.sleep(0.2)
    assert described["status"] == "SUCCEEDED", described
    output = json.loads(described["output"])
    assert output["HyperParameterTuningJobName"] == "sfn-tune"
    assert output["HyperParameterTuningJobStatus"] == "Completed"
    assert output["BestTrainingJob"]["TrainingJobName"].startswith("sfn-tune-")
    assert isinstance(output["CreationTime"], int)  # epoch milliseconds, as Step Functions
