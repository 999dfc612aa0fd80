"""ML lineage over HTTP: entities created by hand and automatically for a training job and the
endpoint that serves its model, queried with boto3 and with the SageMaker SDK's lineage API."""

from __future__ import annotations

import io
import time
from collections.abc import Callable
from typing import Any, cast

import boto3
import botocore.exceptions
import numpy as np
import pytest

ROLE = "arn:aws:iam::123456789012:role/lineage"
XGB_IMAGE = "683313688378.dkr.ecr.us-east-1.amazonaws.com/sagemaker-xgboost:1.7-1"
TRAIN_URI = "s3://lineage-data/train/"


def wait_for(check: Callable[[], Any], what: str, timeout: float = 180) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


def training_csv() -> bytes:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(200, 3))
    y = (x[:, 0] > 0).astype(int)
    buffer = io.StringIO()
    np.savetxt(buffer, np.column_stack([y, x]), delimiter=",", fmt="%.6g")
    return buffer.getvalue().encode()


def test_manual_entities_associations_and_query(client: Callable[..., Any]) -> None:
    sm = client("sagemaker")
    data = sm.create_artifact(
        ArtifactName="raw", Source={"SourceUri": "s3://b/raw.csv"}, ArtifactType="DataSet"
    )["ArtifactArn"]
    clean = sm.create_artifact(Source={"SourceUri": "s3://b/clean.csv"}, ArtifactType="DataSet")[
        "ArtifactArn"
    ]
    action = sm.create_action(
        ActionName="cleaning", Source={"SourceUri": "s3://b/clean.py"}, ActionType="Processing"
    )["ActionArn"]
    context = sm.create_context(
        ContextName="project", Source={"SourceUri": "urn:project"}, ContextType="Project"
    )["ContextArn"]
    sm.add_association(SourceArn=data, DestinationArn=action, AssociationType="ContributedTo")
    sm.add_association(SourceArn=action, DestinationArn=clean, AssociationType="Produced")
    sm.add_association(SourceArn=clean, DestinationArn=context, AssociationType="AssociatedWith")
    assert sm.describe_artifact(ArtifactArn=data)["ArtifactName"] == "raw"
    assert sm.describe_action(ActionName="cleaning")["ActionType"] == "Processing"
    assert sm.describe_context(ContextName="project")["ContextArn"] == context
    listed = sm.list_associations(SourceArn=action)["AssociationSummaries"]
    assert [(a["DestinationArn"], a["DestinationType"], a["AssociationType"]) for a in listed] == [
        (clean, "DataSet", "Produced")
    ]
    up = sm.query_lineage(StartArns=[context], Direction="Ascendants", IncludeEdges=True)
    assert {v["Arn"] for v in up["Vertices"]} == {data, clean, action}
    assert len(up["Edges"]) == 3
    only_actions = sm.query_lineage(
        StartArns=[context], Direction="Ascendants", Filters={"LineageTypes": ["Action"]}
    )
    assert only_actions["Vertices"] == [
        {"Arn": action, "Type": "Processing", "LineageType": "Action"}
    ]
    shallow = sm.query_lineage(StartArns=[context], Direction="Ascendants", MaxDepth=1)
    assert {v["Arn"] for v in shallow["Vertices"]} == {clean}
    down = sm.query_lineage(StartArns=[data], Direction="Descendants", IncludeEdges=False)
    assert {v["Arn"] for v in down["Vertices"]} == {action, clean, context}
    sm.delete_association(SourceArn=action, DestinationArn=clean)
    cut = sm.query_lineage(StartArns=[context], Direction="Ascendants")
    assert {v["Arn"] for v in cut["Vertices"]} == {clean}
    with pytest.raises(botocore.exceptions.ClientError) as e:
        sm.add_association(SourceArn=data, DestinationArn=context.replace("project", "nope"))
    assert "DestinationArn" in e.value.response["Error"]["Message"]


def test_training_job_and_endpoint_lineage_with_the_sdk(
    client: Callable[..., Any],
    server: Any,
    monkeypatch: pytest.MonkeyPatch,
    restore_root_logger: None,
) -> None:
    from sagemaker.lineage.context import EndpointContext
    from sagemaker.lineage.query import (
        LineageEntityEnum,
        LineageFilter,
        LineageQuery,
        LineageQueryDirectionEnum,
        LineageSourceEnum,
    )
    from sagemaker.session import Session

    s3, sm = client("s3"), client("sagemaker")
    s3.create_bucket(Bucket="lineage-data")
    s3.put_object(Bucket="lineage-data", Key="train/train.csv", Body=training_csv())
    sm.create_training_job(
        TrainingJobName="lineage-train",
        RoleArn=ROLE,
        AlgorithmSpecification={"TrainingImage": XGB_IMAGE, "TrainingInputMode": "File"},
        HyperParameters={"objective": "binary:logistic", "num_round": "3"},
        InputDataConfig=[
            {
                "ChannelName": "train",
                "ContentType": "text/csv",
                "DataSource": {"S3DataSource": {"S3DataType": "S3Prefix", "S3Uri": TRAIN_URI}},
            }
        ],
        OutputDataConfig={"S3OutputPath": "s3://lineage-data/models"},
        ResourceConfig={"InstanceType": "ml.m5.large", "InstanceCount": 1, "VolumeSizeInGB": 5},
        StoppingCondition={"MaxRuntimeInSeconds": 600},
    )
    job = wait_for(
        lambda: (
            (d := sm.describe_training_job(TrainingJobName="lineage-train"))["TrainingJobStatus"]
            in ("Completed", "Failed")
            and d
        ),
        "the training job",
    )
    assert job["TrainingJobStatus"] == "Completed", job.get("FailureReason")
    model_uri = job["ModelArtifacts"]["S3ModelArtifacts"]
    sm.create_model(
        ModelName="lineage-model",
        PrimaryContainer={"Image": XGB_IMAGE, "ModelDataUrl": model_uri},
        ExecutionRoleArn=ROLE,
    )
    sm.create_endpoint_config(
        EndpointConfigName="lineage-config",
        ProductionVariants=[
            {
                "VariantName": "AllTraffic",
                "ModelName": "lineage-model",
                "InitialInstanceCount": 1,
                "InstanceType": "ml.m5.large",
            }
        ],
    )
    endpoint_arn = sm.create_endpoint(
        EndpointName="lineage-ep", EndpointConfigName="lineage-config"
    )["EndpointArn"]
    wait_for(
        lambda: sm.describe_endpoint(EndpointName="lineage-ep")["EndpointStatus"] == "InService",
        "the endpoint",
    )
    [model_artifact] = sm.list_artifacts(SourceUri=model_uri)["ArtifactSummaries"]
    assert model_artifact["ArtifactType"] == "Model"
    [context] = sm.list_contexts(SourceUri=endpoint_arn)["ContextSummaries"]
    assert context["ContextType"] == "Endpoint"

    monkeypatch.setenv("AWS_ENDPOINT_URL", server.url)
    session = Session(
        boto_session=boto3.Session(region_name="us-east-1"),
        sagemaker_client=sm,
        default_bucket="lineage-data",
    )
    endpoint_context = cast(
        EndpointContext,
        EndpointContext.load(context["ContextName"], sagemaker_session=session),
    )
    datasets = endpoint_context.dataset_artifacts()
    assert [d.source.source_uri for d in datasets] == [TRAIN_URI]
    assert endpoint_context.training_job_arns() == [job["TrainingJobArn"]]
    # From the model artifact down to the endpoint that serves it.
    result = LineageQuery(session).query(
        start_arns=[model_artifact["ArtifactArn"]],
        direction=LineageQueryDirectionEnum.DESCENDANTS,
        query_filter=LineageFilter(
            entities=[LineageEntityEnum.CONTEXT], sources=[LineageSourceEnum.ENDPOINT]
        ),
    )
    assert [v.arn for v in result.vertices] == [context["ContextArn"]]

    # The console draws the graph of the model and of the endpoint.
    import urllib.error
    import urllib.request

    def console_get(query: str) -> urllib.request.Request:
        # The console's API answers its own page only: the same-origin header it sends.
        return urllib.request.Request(
            f"{server.url}/console/api/lineage?{query}", headers={"X-Localaws-Console": "1"}
        )

    for query in ("model=lineage-model", "endpoint=lineage-ep"):
        with urllib.request.urlopen(console_get(query)) as resp:
            assert resp.headers["Content-Type"].startswith("image/svg+xml")
            svg = resp.read().decode()
        for text in ("DataSet", "TrainingJob", "Model", "ModelDeployment", "Endpoint", TRAIN_URI):
            assert text in svg, (query, text)
        assert (
            svg.count('class="lineage-vertex"') == 6
        )  # data, image, job, model, deployment, endpoint
    with pytest.raises(urllib.error.HTTPError) as missing:
        urllib.request.urlopen(console_get("model=nope"))
    assert missing.value.code == 400
