"""The SageMaker API: shapes, statuses, AWS's errors, endpoints and restart."""

from __future__ import annotations

from datetime import datetime

import pytest
from hosting_support import builtin_model_tar, csv_rows, dataset, train_booster
from sagemaker_support import ROLE, XGB_IMAGE, training_request, wait_for

from localaws.errors import ServiceError
from localaws.runtime import Runtime
from localaws.sagemaker.backend import SageMakerBackend

ARN = "arn:aws:sagemaker:us-east-1:123456789012"


@pytest.fixture
def model(rt):
    X, y = dataset(100)
    rt.storage.write(
        "s3://models/m1/model.tar.gz", builtin_model_tar(train_booster(X, y, rounds=3))
    )
    rt.sagemaker.create_model(
        ModelName="m1",
        ExecutionRoleArn=ROLE,
        PrimaryContainer={"Image": XGB_IMAGE, "ModelDataUrl": "s3://models/m1/model.tar.gz"},
    )
    rt.sagemaker.create_endpoint_config(
        EndpointConfigName="c1",
        ProductionVariants=[
            {
                "VariantName": "AllTraffic",
                "ModelName": "m1",
                "InitialInstanceCount": 1,
                "InstanceType": "ml.m5.large",
            }
        ],
    )
    return rt


def invoke(rt, name, X):
    return rt.sagemaker_runtime.invoke_endpoint(
        EndpointName=name, Body=csv_rows(X[:2]), ContentType="text/csv"
    )


def test_model_and_config_shapes_and_errors(model):
    described = model.sagemaker.describe_model(ModelName="m1")
    assert described["ModelArn"] == f"{ARN}:model/m1"
    assert (
        isinstance(described["CreationTime"], datetime)
        and described["CreationTime"].tzinfo is not None
    )
    with pytest.raises(ServiceError) as info:
        model.sagemaker.create_model(
            ModelName="m1", ExecutionRoleArn=ROLE, PrimaryContainer={"Image": XGB_IMAGE}
        )
    assert info.value.message == f'Cannot create already existing model "{ARN}:model/m1".'
    with pytest.raises(ServiceError) as info:
        model.sagemaker.describe_model(ModelName="nope")
    assert (info.value.code, info.value.message) == (
        "ValidationException",
        f'Could not find model "{ARN}:model/nope".',
    )
    config = model.sagemaker.describe_endpoint_config(EndpointConfigName="c1")
    assert config["ProductionVariants"][0]["ModelName"] == "m1"
    with pytest.raises(ServiceError, match='Could not find model "'):
        model.sagemaker.create_endpoint_config(
            EndpointConfigName="c2",
            ProductionVariants=[
                {
                    "VariantName": "v",
                    "ModelName": "nope",
                    "InitialInstanceCount": 1,
                    "InstanceType": "ml.m5.large",
                }
            ],
        )
    with pytest.raises(ServiceError, match="Cannot create already existing endpoint configuration"):
        model.sagemaker.create_endpoint_config(
            EndpointConfigName="c1",
            ProductionVariants=[
                {
                    "VariantName": "v",
                    "ModelName": "m1",
                    "InitialInstanceCount": 1,
                    "InstanceType": "ml.m5.large",
                }
            ],
        )
    model.sagemaker.delete_endpoint_config(EndpointConfigName="c1")
    with pytest.raises(
        ServiceError, match=f'Could not find endpoint configuration "{ARN}:endpoint-config/c1"'
    ):
        model.sagemaker.describe_endpoint_config(EndpointConfigName="c1")
    model.sagemaker.delete_model(ModelName="m1")
    with pytest.raises(ServiceError, match="Could not find model"):
        model.sagemaker.delete_model(ModelName="m1")


def test_create_model_needs_a_container(rt):
    with pytest.raises(ServiceError, match="Either PrimaryContainer or Containers"):
        rt.sagemaker.create_model(ModelName="m", ExecutionRoleArn=ROLE)


def test_validation_error_from_the_api(rt):
    with pytest.raises(ServiceError) as info:
        rt.sagemaker.describe_endpoint(EndpointName="bad name")
    assert info.value.message.startswith(
        "1 validation error detected: Value 'bad name' at 'endpointName'"
    )


def test_endpoint_lifecycle_update_and_restart(model, tmp_path):
    X, _ = dataset(10)
    sm = model.sagemaker
    assert sm.create_endpoint(EndpointName="e1", EndpointConfigName="c1") == {
        "EndpointArn": f"{ARN}:endpoint/e1"
    }
    with pytest.raises(ServiceError) as info:
        sm.create_endpoint(EndpointName="e1", EndpointConfigName="c1")
    assert info.value.message == f'Cannot create already existing endpoint "{ARN}:endpoint/e1".'
    endpoint = wait_for(
        lambda: sm.describe_endpoint(EndpointName="e1"),
        "EndpointStatus",
        ("InService", "Failed"),
        60,
    )
    assert endpoint["EndpointStatus"] == "InService", endpoint.get("FailureReason")
    assert endpoint["ProductionVariants"][0]["DeployedImages"][0]["SpecifiedImage"] == XGB_IMAGE
    assert invoke(model, "e1", X)["ContentType"]
    sm.create_endpoint_config(
        EndpointConfigName="c2",
        ProductionVariants=[
            {
                "VariantName": "v2",
                "ModelName": "m1",
                "InitialInstanceCount": 1,
                "InstanceType": "ml.m5.large",
            }
        ],
    )
    sm.update_endpoint(EndpointName="e1", EndpointConfigName="c2")
    assert sm.describe_endpoint(EndpointName="e1")["EndpointStatus"] in ("Updating", "InService")
    endpoint = wait_for(
        lambda: sm.describe_endpoint(EndpointName="e1"), "EndpointStatus", ("InService",), 60
    )
    assert endpoint["EndpointConfigName"] == "c2"
    listed = sm.list_endpoints(NameContains="e")["Endpoints"]
    assert [e["EndpointName"] for e in listed] == ["e1"]

    # the process that owned the state dir goes away; a new backend brings the endpoint back
    sm.close()
    model.__dict__.pop("sagemaker")
    model.__dict__.pop("sagemaker_runtime", None)
    again = SageMakerBackend(model)
    model.__dict__["sagemaker"] = again
    again.recover()
    assert again.describe_endpoint(EndpointName="e1")["EndpointStatus"] == "InService"
    assert invoke(model, "e1", X)["ContentType"]
    again.delete_endpoint(EndpointName="e1")
    with pytest.raises(ServiceError, match=f'Could not find endpoint "{ARN}:endpoint/e1"'):
        again.describe_endpoint(EndpointName="e1")


def test_a_quick_deploy_answers_in_service(model, monkeypatch):
    """CreateEndpoint / UpdateEndpoint answer once a local deploy is up within the settle
    time: the first DescribeEndpoint reads InService (a workflow's loop needs no Wait)."""
    from localaws.sagemaker import backend

    monkeypatch.setattr(backend, "DEPLOY_SETTLE_S", 60.0)  # however loaded the machine
    sm = model.sagemaker
    sm.create_endpoint(EndpointName="quick", EndpointConfigName="c1")
    assert sm.describe_endpoint(EndpointName="quick")["EndpointStatus"] == "InService"
    sm.update_endpoint(EndpointName="quick", EndpointConfigName="c1")
    assert sm.describe_endpoint(EndpointName="quick")["EndpointStatus"] == "InService"
    monkeypatch.setattr(backend, "DEPLOY_SETTLE_S", 0.0)  # AWS's answer: at once
    sm.create_endpoint(EndpointName="later", EndpointConfigName="c1")
    assert sm.describe_endpoint(EndpointName="later")["EndpointStatus"] in ("Creating", "InService")
    wait_for(
        lambda: sm.describe_endpoint(EndpointName="later"), "EndpointStatus", ("InService",), 60
    )


def test_endpoint_with_a_broken_model_fails(rt):
    rt.storage.write("s3://models/bad/model.tar.gz", b"not a tarball")
    rt.sagemaker.create_model(
        ModelName="bad",
        ExecutionRoleArn=ROLE,
        PrimaryContainer={"Image": XGB_IMAGE, "ModelDataUrl": "s3://models/bad/model.tar.gz"},
    )
    rt.sagemaker.create_endpoint_config(
        EndpointConfigName="cbad",
        ProductionVariants=[
            {
                "VariantName": "v",
                "ModelName": "bad",
                "InitialInstanceCount": 1,
                "InstanceType": "ml.m5.large",
            }
        ],
    )
    rt.sagemaker.create_endpoint(EndpointName="ebad", EndpointConfigName="cbad")
    endpoint = wait_for(
        lambda: rt.sagemaker.describe_endpoint(EndpointName="ebad"),
        "EndpointStatus",
        ("InService", "Failed"),
        60,
    )
    assert endpoint["EndpointStatus"] == "Failed"
    assert endpoint["FailureReason"]


def test_transform_job(model):
    X, _ = dataset(20)
    model.storage.write("s3://batch/in/rows.csv", csv_rows(X))
    request = {
        "TransformJobName": "t1",
        "ModelName": "m1",
        "TransformInput": {
            "DataSource": {"S3DataSource": {"S3DataType": "S3Prefix", "S3Uri": "s3://batch/in/"}},
            "ContentType": "text/csv",
            "SplitType": "Line",
        },
        "TransformOutput": {"S3OutputPath": "s3://batch/out/", "AssembleWith": "Line"},
        "TransformResources": {"InstanceType": "ml.m5.large", "InstanceCount": 1},
    }
    assert model.sagemaker.create_transform_job(**request) == {
        "TransformJobArn": f"{ARN}:transform-job/t1"
    }
    job = wait_for(
        lambda: model.sagemaker.describe_transform_job(TransformJobName="t1"),
        "TransformJobStatus",
        ("Completed", "Failed"),
        60,
    )
    assert job["TransformJobStatus"] == "Completed", job.get("FailureReason")
    assert len(model.storage.read("s3://batch/out/rows.csv.out").splitlines()) == 20
    with pytest.raises(ServiceError) as info:
        model.sagemaker.create_transform_job(**request)
    assert info.value.code == "ResourceInUse"
    with pytest.raises(ServiceError, match="Could not find requested job with name nope"):
        model.sagemaker.describe_transform_job(TransformJobName="nope")


def test_training_job_errors_and_listing(data):
    sm = data.sagemaker
    with pytest.raises(ServiceError) as info:
        sm.describe_training_job(TrainingJobName="missing")
    assert (info.value.code, info.value.message) == (
        "ValidationException",
        "Requested resource not found.",
    )
    sm.create_training_job(**training_request("list-a", {"num_round": "2"}))
    with pytest.raises(ServiceError) as info:
        sm.create_training_job(**training_request("list-a", {"num_round": "2"}))
    assert info.value.code == "ResourceInUse"
    sm.create_training_job(**training_request("list-b", {"num_round": "2"}))
    for name in ("list-a", "list-b"):
        wait_for(
            lambda n=name: sm.describe_training_job(TrainingJobName=n),
            "TrainingJobStatus",
            ("Completed",),
        )
    page = sm.list_training_jobs(MaxResults=1, SortBy="Name", SortOrder="Ascending")
    assert [j["TrainingJobName"] for j in page["TrainingJobSummaries"]] == ["list-a"]
    rest = sm.list_training_jobs(
        MaxResults=1, SortBy="Name", SortOrder="Ascending", NextToken=page["NextToken"]
    )
    assert [j["TrainingJobName"] for j in rest["TrainingJobSummaries"]] == ["list-b"]
    assert sm.list_training_jobs(StatusEquals="Failed")["TrainingJobSummaries"] == []


def test_restart_runs_jobs_left_in_progress(data):
    """A job a dead runtime left InProgress runs again under the same name and record."""
    now = 1_700_000_000.0
    request = training_request("orphan", {"num_round": "2"})
    data.sagemaker.records.put(
        "TrainingJob",
        "orphan",
        {
            **request,
            "TrainingJobArn": f"{ARN}:training-job/orphan",
            "TrainingJobStatus": "InProgress",
            "SecondaryStatus": "Training",
            "CreationTime": now,
            "LastModifiedTime": now,
            "SecondaryStatusTransitions": [
                {"Status": "Training", "StartTime": now, "StatusMessage": "Training"}
            ],
        },
        now,
    )
    leftover = data.layout.jobs("training") / "dead-job"
    leftover.mkdir(parents=True)
    backend = SageMakerBackend(data)
    data.__dict__["sagemaker"] = backend
    backend.recover()
    assert not leftover.exists()  # a dead job's directory is cleaned at start
    job = wait_for(
        lambda: backend.describe_training_job(TrainingJobName="orphan"),
        "TrainingJobStatus",
        ("Completed", "Failed", "Stopped"),
    )
    assert job["TrainingJobStatus"] == "Completed", job.get("FailureReason")
    assert job["CreationTime"].timestamp() == now
    messages = [t["StatusMessage"] for t in job["SecondaryStatusTransitions"]]
    assert any("Restarting" in m for m in messages)
    assert [j["TrainingJobName"] for j in backend.list_training_jobs()["TrainingJobSummaries"]] == [
        "orphan"
    ]


def test_runtime_start_recovers(tmp_path):
    """A CLI command (shared start) leaves an interrupted job for the next owner, which runs it."""
    state = tmp_path / "s"
    job = {
        "ProcessingJobName": "p",
        "ProcessingJobStatus": "InProgress",
        "CreationTime": 1.0,
        "RoleArn": ROLE,
        "AppSpecification": {"ImageUri": "x", "ContainerEntrypoint": ["python3", "-c", "pass"]},
        "ProcessingResources": {
            "ClusterConfig": {
                "InstanceCount": 1,
                "InstanceType": "ml.m5.large",
                "VolumeSizeInGB": 1,
            }
        },
        "StoppingCondition": {"MaxRuntimeInSeconds": 60},
    }
    with Runtime(state) as rt:
        rt.sagemaker.records.put("ProcessingJob", "p", job, 1.0)
    shared = Runtime(state).start(shared=True)
    try:
        status = shared.sagemaker.describe_processing_job(ProcessingJobName="p")
        assert status["ProcessingJobStatus"] == "InProgress"
    finally:
        shared.close()
    with Runtime(state) as rt:
        done = wait_for(
            lambda: rt.sagemaker.describe_processing_job(ProcessingJobName="p"),
            "ProcessingJobStatus",
            ("Completed", "Failed", "Stopped"),
        )
        assert done["ProcessingJobStatus"] == "Completed", done.get("FailureReason")
