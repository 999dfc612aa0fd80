"""Script-mode and processing entry points resolve inside their source directory."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from localaws.errors import ServiceError
from localaws.runtime import Runtime

ROLE = "arn:aws:iam::123456789012:role/crash-test"
SKLEARN_IMAGE = "683313688378.dkr.ecr.us-east-1.amazonaws.com/sagemaker-scikit-learn:1.2-1-cpu-py3"


@pytest.fixture
def rt(tmp_path: Path):
    with Runtime(tmp_path / "state") as runtime:
        yield runtime


@pytest.mark.parametrize("program", ["../../x.py", "/tmp/x.py", "code/../../x.py"])
def test_training_entry_point_outside_the_source_dir_is_refused(rt: Runtime, program: str) -> None:
    with pytest.raises(ServiceError) as raised:
        rt.sagemaker.create_training_job(
            TrainingJobName="escape",
            RoleArn=ROLE,
            AlgorithmSpecification={"TrainingImage": SKLEARN_IMAGE, "TrainingInputMode": "File"},
            HyperParameters={
                "sagemaker_program": json.dumps(program),
                "sagemaker_submit_directory": json.dumps("s3://code/src.tar.gz"),
            },
            OutputDataConfig={"S3OutputPath": "s3://models/out"},
            ResourceConfig={"InstanceType": "ml.m5.large", "InstanceCount": 1, "VolumeSizeInGB": 1},
            StoppingCondition={"MaxRuntimeInSeconds": 60},
        )
    assert raised.value.code == "ValidationException"
    assert f"HyperParameters.sagemaker_program {program!r}" in raised.value.message
    assert "inside the source directory" in raised.value.message


@pytest.mark.parametrize(
    ("entry", "args", "field"),
    [
        (["python3", "/tmp/x.py"], [], "AppSpecification.ContainerEntrypoint[1]"),
        (
            ["python3"],
            ["/opt/ml/processing/input/../../../../tmp/x.py"],
            "AppSpecification.ContainerArguments[0]",
        ),
        (["python3", "-u", "x.py"], [], "AppSpecification.ContainerEntrypoint[2]"),
    ],
    ids=["absolute", "dotdot", "relative"],
)
def test_processing_script_outside_the_job_is_refused(
    rt: Runtime, entry: list[str], args: list[str], field: str
) -> None:
    app: dict[str, object] = {"ImageUri": SKLEARN_IMAGE, "ContainerEntrypoint": entry}
    if args:
        app["ContainerArguments"] = args
    with pytest.raises(ServiceError) as raised:
        rt.sagemaker.create_processing_job(
            ProcessingJobName="escape",
            RoleArn=ROLE,
            AppSpecification=app,
            ProcessingResources={
                "ClusterConfig": {
                    "InstanceCount": 1,
                    "InstanceType": "ml.m5.large",
                    "VolumeSizeInGB": 1,
                }
            },
        )
    assert raised.value.message.startswith(field), raised.value.message
    assert "must be under /opt/ml/processing/" in raised.value.message


def test_model_entry_point_outside_the_source_dir_fails_the_endpoint(rt: Runtime) -> None:
    rt.sagemaker.create_model(
        ModelName="escape",
        ExecutionRoleArn=ROLE,
        PrimaryContainer={
            "Image": SKLEARN_IMAGE,
            "Environment": {
                "SAGEMAKER_PROGRAM": "../x.py",
                "SAGEMAKER_SUBMIT_DIRECTORY": "/opt/ml/model/code",
            },
        },
    )
    rt.sagemaker.create_endpoint_config(
        EndpointConfigName="escape",
        ProductionVariants=[
            {
                "VariantName": "AllTraffic",
                "ModelName": "escape",
                "InitialInstanceCount": 1,
                "InstanceType": "ml.m5.large",
            }
        ],
    )
    rt.sagemaker.create_endpoint(EndpointName="escape", EndpointConfigName="escape")
    from crash_support import wait_until

    described = wait_until(
        lambda: (
            (d := rt.sagemaker.describe_endpoint(EndpointName="escape"))["EndpointStatus"]
            == "Failed"
            and d
        ),
        60,
        "the endpoint to fail",
    )
    assert "PrimaryContainer.Environment.SAGEMAKER_PROGRAM '../x.py'" in described["FailureReason"]
