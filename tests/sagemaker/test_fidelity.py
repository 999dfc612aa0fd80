"""Fidelity: the list operations, every member botocore says a Describe* response has, models
that plain xgboost loads, and the Data Science SDK's ProcessingStep without input names."""

from __future__ import annotations

import io
import json
import tarfile
import time
from typing import Any

import numpy as np
import pytest
import xgboost as xgb
from botocore.model import Shape
from sagemaker_support import ROLE, SKLEARN_IMAGE, XGB_IMAGE, training_request, wait_for

from localaws.botocore_model import service_model
from localaws.runtime import Runtime

MODEL = service_model("sagemaker")


def missing_members(shape: Shape, value: Any, path: str = "") -> list[str]:
    """Required members of ``shape`` absent from ``value``, recursively through what is there."""
    missing: list[str] = []
    if shape.type_name == "structure" and isinstance(value, dict):
        for name in shape.required_members:
            if name not in value:
                missing.append(f"{path}.{name}" if path else name)
        for name, member in shape.members.items():
            if name in value:
                missing += missing_members(member, value[name], f"{path}.{name}" if path else name)
    elif shape.type_name == "list" and isinstance(value, list):
        for i, item in enumerate(value):
            missing += missing_members(shape.member, item, f"{path}[{i}]")
    elif shape.type_name == "map" and isinstance(value, dict):
        for key, item in value.items():
            missing += missing_members(shape.value, item, f"{path}.{key}")
    return missing


def check_describe(operation: str, response: dict[str, Any]) -> None:
    shape = MODEL.operation_model(operation).output_shape
    assert missing_members(shape, response) == [], operation
    unknown = set(response) - set(shape.members)
    assert not unknown, f"{operation}: members AWS does not return: {unknown}"


def processing_request(name: str) -> dict[str, Any]:
    return {
        "ProcessingJobName": name,
        "RoleArn": ROLE,
        "ProcessingResources": {
            "ClusterConfig": {
                "InstanceCount": 1,
                "InstanceType": "ml.m5.large",
                "VolumeSizeInGB": 5,
            }
        },
        "AppSpecification": {
            "ImageUri": SKLEARN_IMAGE,
            "ContainerEntrypoint": ["python3", "-c", "pass"],
        },
    }


def test_every_describe_has_the_members_aws_returns(data: Runtime) -> None:
    rt, sm = data, data.sagemaker
    sm.create_training_job(**training_request("fid-train", {"num_round": "2"}))
    train = wait_for(
        lambda: sm.describe_training_job(TrainingJobName="fid-train"),
        "TrainingJobStatus",
        ("Completed", "Failed"),
    )
    assert train["TrainingJobStatus"] == "Completed", train.get("FailureReason")
    assert train["OutputDataConfig"]["KmsKeyId"] == ""
    check_describe("DescribeTrainingJob", train)

    sm.create_processing_job(**processing_request("fid-proc"))
    check_describe(
        "DescribeProcessingJob",
        wait_for(
            lambda: sm.describe_processing_job(ProcessingJobName="fid-proc"),
            "ProcessingJobStatus",
            ("Completed", "Failed"),
        ),
    )

    container = {"Image": XGB_IMAGE, "ModelDataUrl": train["ModelArtifacts"]["S3ModelArtifacts"]}
    sm.create_model(ModelName="fid-model", PrimaryContainer=container, ExecutionRoleArn=ROLE)
    check_describe("DescribeModel", sm.describe_model(ModelName="fid-model"))
    variant = {
        "VariantName": "AllTraffic",
        "ModelName": "fid-model",
        "InitialInstanceCount": 1,
        "InstanceType": "ml.m5.large",
    }
    sm.create_endpoint_config(EndpointConfigName="fid-config", ProductionVariants=[variant])
    check_describe(
        "DescribeEndpointConfig", sm.describe_endpoint_config(EndpointConfigName="fid-config")
    )
    rt.storage.write("s3://data/batch/rows.csv", b"0.1,0.2,0.3,0.4\n")
    sm.create_transform_job(
        TransformJobName="fid-transform",
        ModelName="fid-model",
        TransformInput={
            "DataSource": {"S3DataSource": {"S3DataType": "S3Prefix", "S3Uri": "s3://data/batch"}},
            "ContentType": "text/csv",
        },
        TransformOutput={"S3OutputPath": "s3://out/batch"},
        TransformResources={"InstanceType": "ml.m5.large", "InstanceCount": 1},
    )
    check_describe(
        "DescribeTransformJob",
        wait_for(
            lambda: sm.describe_transform_job(TransformJobName="fid-transform"),
            "TransformJobStatus",
            ("Completed", "Failed"),
        ),
    )
    sm.create_model_package_group(ModelPackageGroupName="fid-group")
    check_describe(
        "DescribeModelPackageGroup",
        sm.describe_model_package_group(ModelPackageGroupName="fid-group"),
    )
    package = sm.create_model_package(
        ModelPackageGroupName="fid-group", InferenceSpecification={"Containers": [container]}
    )["ModelPackageArn"]
    check_describe("DescribeModelPackage", sm.describe_model_package(ModelPackageName=package))


def test_tuning_job_describe_has_the_members_aws_returns(data: Runtime) -> None:
    from test_tuning import tuning_request, wait_tuning

    data.sagemaker.create_hyper_parameter_tuning_job(
        **tuning_request("fid-tune", max_jobs=1, parallel=1)
    )
    done = wait_tuning(data, "fid-tune")
    check_describe("DescribeHyperParameterTuningJob", done)
    summaries = data.sagemaker.list_training_jobs_for_hyper_parameter_tuning_job(
        HyperParameterTuningJobName="fid-tune"
    )
    check_describe("ListTrainingJobsForHyperParameterTuningJob", summaries)


def test_list_operations_filter_sort_and_page(rt: Runtime) -> None:
    sm = rt.sagemaker
    for name in ("alpha-a", "alpha-b", "beta-c"):
        sm.create_model(
            ModelName=name,
            PrimaryContainer={"Image": XGB_IMAGE, "ModelDataUrl": "s3://m/model.tar.gz"},
            ExecutionRoleArn=ROLE,
        )
        sm.create_endpoint_config(
            EndpointConfigName=f"{name}-config",
            ProductionVariants=[
                {
                    "VariantName": "v",
                    "ModelName": name,
                    "InitialInstanceCount": 1,
                    "InstanceType": "ml.m5.large",
                }
            ],
        )
        time.sleep(0.01)  # distinct creation times
    models = sm.list_models(NameContains="alpha", SortBy="Name", SortOrder="Ascending")
    assert [m["ModelName"] for m in models["Models"]] == ["alpha-a", "alpha-b"]
    assert set(models["Models"][0]) == {"ModelName", "ModelArn", "CreationTime"}
    newest = sm.list_models(MaxResults=2)
    assert [m["ModelName"] for m in newest["Models"]] == ["beta-c", "alpha-b"]
    rest = sm.list_models(MaxResults=2, NextToken=newest["NextToken"])
    assert [m["ModelName"] for m in rest["Models"]] == ["alpha-a"] and "NextToken" not in rest
    configs = sm.list_endpoint_configs(NameContains="beta")["EndpointConfigs"]
    assert [c["EndpointConfigName"] for c in configs] == ["beta-c-config"]

    ok = processing_request("proc-ok")
    bad = processing_request("proc-bad")
    bad["AppSpecification"]["ContainerEntrypoint"] = ["python3", "-c", "raise SystemExit(3)"]
    for request in (ok, bad):
        sm.create_processing_job(**request)
        name = request["ProcessingJobName"]

        def describe(name: str = name) -> dict[str, Any]:
            return sm.describe_processing_job(ProcessingJobName=name)

        wait_for(describe, "ProcessingJobStatus", ("Completed", "Failed"))
    failed = sm.list_processing_jobs(StatusEquals="Failed")["ProcessingJobSummaries"]
    assert [j["ProcessingJobName"] for j in failed] == ["proc-bad"]
    assert failed[0]["FailureReason"].startswith("AlgorithmError")
    by_name = sm.list_processing_jobs(SortBy="Name", SortOrder="Ascending")
    assert [j["ProcessingJobName"] for j in by_name["ProcessingJobSummaries"]] == [
        "proc-bad",
        "proc-ok",
    ]
    assert sm.list_transform_jobs(NameContains="none")["TransformJobSummaries"] == []


def test_builtin_model_loads_in_plain_xgboost_and_predicts_on_numpy(
    data: Runtime, tmp_path
) -> None:
    sm = data.sagemaker
    sm.create_training_job(**training_request("plain-xgb", {"num_round": "3"}))
    done = wait_for(
        lambda: sm.describe_training_job(TrainingJobName="plain-xgb"),
        "TrainingJobStatus",
        ("Completed", "Failed"),
    )
    assert done["TrainingJobStatus"] == "Completed", done.get("FailureReason")
    archive = data.storage.read(done["ModelArtifacts"]["S3ModelArtifacts"])
    with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
        tar.extract("xgboost-model", tmp_path, filter="data")
    booster = xgb.Booster()
    booster.load_model(bytearray((tmp_path / "xgboost-model").read_bytes()))
    assert booster.feature_names is None
    scores = booster.predict(xgb.DMatrix(np.array([[0.5, 0.1, -0.2, 0.3], [-1, -1, 0, 0]])))
    assert scores.shape == (2,) and ((scores >= 0) & (scores <= 1)).all()


def test_processing_step_without_input_names(
    rt: Runtime, restore_root_logger: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")  # the SDKs build clients (no calls)
    monkeypatch.setenv("SAGEMAKER_SUPPRESS_V2_WARNING", "1")
    from sagemaker.processing import ProcessingInput, ProcessingOutput, ScriptProcessor
    from stepfunctions.steps import Chain, ProcessingStep
    from stepfunctions.workflow import Workflow

    rt.storage.write(
        "s3://code/step.py", b"import os\nprint(os.listdir('/opt/ml/processing/input'))\n"
    )
    rt.storage.write("s3://data/raw/x.csv", b"1\n")
    processor = ScriptProcessor(
        image_uri=SKLEARN_IMAGE,
        command=["python3"],
        role=ROLE,
        instance_count=1,
        instance_type="ml.m5.large",
        sagemaker_session=_offline_session(),
    )
    step = ProcessingStep(
        "Prep",
        processor=processor,
        job_name="unnamed-inputs",
        inputs=[
            ProcessingInput(
                source="s3://code/step.py", destination="/opt/ml/processing/input/code"
            ),
            ProcessingInput(source="s3://data/raw", destination="/opt/ml/processing/input/raw"),
        ],
        outputs=[ProcessingOutput(source="/opt/ml/processing/output", destination="s3://out/p")],
        container_entrypoint=["python3", "/opt/ml/processing/input/code/step.py"],
        wait_for_completion=True,
    )
    definition = Workflow("prep", Chain([step]), ROLE).definition.to_json()
    params = json.loads(definition)["States"]["Prep"]["Parameters"]
    assert all(i.get("InputName") is None for i in params["ProcessingInputs"])
    with rt:
        sfn = rt.stepfunctions
        arn = sfn.create_state_machine(name="prep", definition=definition, roleArn=ROLE)[
            "stateMachineArn"
        ]
        execution = sfn.start_execution(stateMachineArn=arn, input="{}")["executionArn"]
        deadline = time.monotonic() + 120
        while (described := sfn.describe_execution(executionArn=execution))["status"] == "RUNNING":
            assert time.monotonic() < deadline
            time.sleep(0.2)
        assert described["status"] == "SUCCEEDED", described
        job = rt.sagemaker.describe_processing_job(ProcessingJobName="unnamed-inputs")
        assert [i["InputName"] for i in job["ProcessingInputs"]] == ["input-1", "input-2"]
        assert [o["OutputName"] for o in job["ProcessingOutputConfig"]["Outputs"]] == ["output-1"]


def _offline_session() -> Any:
    """A SageMaker SDK session that never reaches AWS (only builds request dicts here)."""
    import boto3
    import sagemaker

    boto_session = boto3.Session(
        region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x"
    )
    return sagemaker.Session(boto_session=boto_session, default_bucket="offline-bucket")


@pytest.fixture
def restore_root_logger():
    import logging

    root = logging.getLogger()
    level = root.level
    yield
    root.setLevel(level)
