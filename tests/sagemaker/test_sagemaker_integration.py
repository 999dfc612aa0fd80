"""Step Functions' SageMaker integration: request-response, .sync, failures, cancel."""

from __future__ import annotations

import json
import threading
import time

import pytest
from sagemaker_support import ROLE, XGB_IMAGE, channel, training_request

from localaws.asl.errors import StateFailure
from localaws.asl.integrations import Pattern, TaskRequest
from localaws.stepfunctions.integrations.sagemaker import SageMakerIntegration


def task(action, pattern, parameters):
    return TaskRequest(
        resource=f"arn:aws:states:::sagemaker:{action}"
        + ("" if pattern is Pattern.REQUEST_RESPONSE else ".sync"),
        service="sagemaker",
        action=action,
        pattern=pattern,
        parameters=parameters,
        execution_arn="arn:aws:states:us-east-1:123456789012:execution:sm:run",
        state_name="Train",
    )


def test_sync_training_returns_the_describe_shape(data):
    integration = SageMakerIntegration(data)
    result = integration.run(
        task("createTrainingJob", Pattern.SYNC, training_request("sfn-train", {"num_round": "3"}))
    )
    assert result["TrainingJobStatus"] == "Completed"
    assert (
        result["ModelArtifacts"]["S3ModelArtifacts"]
        == "s3://models/out/sfn-train/output/model.tar.gz"
    )
    assert isinstance(result["CreationTime"], int)
    json.dumps(result)


def test_request_response_returns_the_create_response(data):
    integration = SageMakerIntegration(data)
    result = integration.run(
        task(
            "createTrainingJob",
            Pattern.REQUEST_RESPONSE,
            training_request("sfn-rr", {"num_round": "2"}),
        )
    )
    assert result == {
        "TrainingJobArn": "arn:aws:sagemaker:us-east-1:123456789012:training-job/sfn-rr"
    }


def test_failed_job_is_a_task_failure_with_the_describe_as_cause(rt):
    rt.storage.write("s3://data/bad/t.csv", b"1,x\n")
    request = training_request(
        "sfn-fail", {"num_round": "2"}, channels=[channel("train", "s3://data/bad/")]
    )
    with pytest.raises(StateFailure) as info:
        SageMakerIntegration(rt).run(task("createTrainingJob", Pattern.SYNC, request))
    assert info.value.error == "States.TaskFailed"
    cause = json.loads(info.value.cause)
    assert cause["TrainingJobStatus"] == "Failed" and "not numeric" in cause["FailureReason"]


def test_api_error_is_named_after_the_service(rt):
    with pytest.raises(StateFailure) as info:
        SageMakerIntegration(rt).run(
            task(
                "createModel",
                Pattern.REQUEST_RESPONSE,
                {
                    "ModelName": "bad name",
                    "ExecutionRoleArn": ROLE,
                    "PrimaryContainer": {"Image": XGB_IMAGE},
                },
            )
        )
    assert info.value.error == "SageMaker.ValidationException"
    assert info.value.cause.startswith(
        "1 validation error detected: Value 'bad name' at 'modelName'"
    )


def test_cancel_stops_the_job(rt):
    rt.storage.write(
        "s3://code/sleep/sourcedir.tar.gz",
        __import__("sagemaker_support").sourcedir({"train.py": "import time\ntime.sleep(60)\n"}),
    )
    rt.storage.write("s3://data/train/t.csv", b"1,2\n")
    request = training_request(
        "sfn-cancel",
        {
            "sagemaker_program": '"train.py"',
            "sagemaker_submit_directory": '"s3://code/sleep/sourcedir.tar.gz"',
        },
        channels=[channel("train", "s3://data/train/")],
    )
    req = task("createTrainingJob", Pattern.SYNC, request)
    threading.Timer(1.5, req.cancelled.set).start()
    SageMakerIntegration(rt).run(req)  # returns once cancelled, the 60 s job stopped
    deadline = time.monotonic() + 15
    while (
        rt.sagemaker.describe_training_job(TrainingJobName="sfn-cancel")["TrainingJobStatus"]
        != "Stopped"
    ):
        assert time.monotonic() < deadline
        time.sleep(0.1)


def test_validate_checks_static_parameters_only(rt):
    integration = SageMakerIntegration(rt)
    ok = {
        "TrainingJobName.$": "$.name",
        "RoleArn": ROLE,
        "OutputDataConfig": {"S3OutputPath.$": "$.out"},
        "AlgorithmSpecification": {"TrainingImage": XGB_IMAGE, "TrainingInputMode": "File"},
    }
    assert (
        integration.validate("createTrainingJob", Pattern.SYNC, ok, "/States/Train/Parameters")
        == []
    )
    bad = {
        **ok,
        "ResourceConfig": {"InstanceType": "ml.nope", "InstanceCount": 1, "VolumeSizeInGB": 5},
    }
    problems = integration.validate(
        "createTrainingJob", Pattern.SYNC, bad, "/States/Train/Parameters"
    )
    assert len(problems) == 1 and problems[0].startswith(
        "/States/Train/Parameters: Value 'ml.nope' at 'resourceConfig.instanceType'"
    )
    missing = integration.validate(
        "createEndpoint",
        Pattern.REQUEST_RESPONSE,
        {"EndpointName": "e"},
        "/States/Model/Parameters",
    )
    assert missing == [
        '/States/Model/Parameters: Missing required parameter in input: "EndpointConfigName"'
    ]


def test_state_machine_runs_training_then_create_model(data):
    definition = {
        "StartAt": "Train",
        "States": {
            "Train": {
                "Type": "Task",
                "Resource": "arn:aws:states:::sagemaker:createTrainingJob.sync",
                "Parameters": {
                    **training_request("x", {"num_round": "2"}),
                    "TrainingJobName.$": "$.job",
                },
                "Next": "Model",
            },
            "Model": {
                "Type": "Task",
                "Resource": "arn:aws:states:::sagemaker:createModel",
                "Parameters": {
                    "ModelName.$": "$.TrainingJobName",
                    "ExecutionRoleArn": ROLE,
                    "PrimaryContainer": {
                        "Image": XGB_IMAGE,
                        "ModelDataUrl.$": "$['ModelArtifacts']['S3ModelArtifacts']",
                    },
                },
                "End": True,
            },
        },
    }
    del definition["States"]["Train"]["Parameters"]["TrainingJobName"]
    with data:
        sfn = data.stepfunctions
        arn = sfn.create_state_machine(
            name="train", definition=json.dumps(definition), roleArn=ROLE
        )["stateMachineArn"]
        execution = sfn.start_execution(stateMachineArn=arn, input=json.dumps({"job": "sfn-e2e"}))[
            "executionArn"
        ]
        deadline = time.monotonic() + 120
        while (described := sfn.describe_execution(executionArn=execution))["status"] == "RUNNING":
            assert time.monotonic() < deadline
            time.sleep(0.2)
        assert described["status"] == "SUCCEEDED", described
        events = sfn.get_execution_history(executionArn=execution)["events"]
        types = [e["type"] for e in events]
        # TaskSubmitted (the CreateTrainingJob response) comes while the job runs.
        assert types[2:6] == ["TaskScheduled", "TaskStarted", "TaskSubmitted", "TaskSucceeded"]
        submitted = json.loads(events[4]["taskSubmittedEventDetails"]["output"])
        assert submitted["TrainingJobArn"].endswith(":training-job/sfn-e2e")
        model = data.sagemaker.describe_model(ModelName="sfn-e2e")
        assert (
            model["PrimaryContainer"]["ModelDataUrl"]
            == "s3://models/out/sfn-e2e/output/model.tar.gz"
        )
