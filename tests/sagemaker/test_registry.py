"""The model registry on the backend: groups, versioned packages, approval, listing, events,
CreateModel from a package."""

from __future__ import annotations

import json
from typing import Any

import pytest
from sagemaker_support import XGB_IMAGE

from localaws.errors import ServiceError
from localaws.runtime import Runtime
from localaws.sagemaker import registry

GROUP = "churn-models"


def inference(model_data: str = "s3://models/m1/model.tar.gz") -> dict[str, Any]:
    return {
        "Containers": [
            {"Image": XGB_IMAGE, "ModelDataUrl": model_data, "Environment": {"A": "1", "B": "2"}}
        ],
        "SupportedContentTypes": ["text/csv"],
        "SupportedResponseMIMETypes": ["text/csv"],
    }


def register(rt: Runtime, **extra: Any) -> str:
    return rt.sagemaker.create_model_package(
        ModelPackageGroupName=GROUP, InferenceSpecification=inference(), **extra
    )["ModelPackageArn"]


def test_versioned_packages_in_a_group(rt: Runtime) -> None:
    group_arn = rt.sagemaker.create_model_package_group(
        ModelPackageGroupName=GROUP, ModelPackageGroupDescription="churn"
    )["ModelPackageGroupArn"]
    assert group_arn.endswith(":model-package-group/churn-models")
    group = rt.sagemaker.describe_model_package_group(ModelPackageGroupName=GROUP)
    assert group["ModelPackageGroupStatus"] == "Completed"
    metrics = {
        "ModelQuality": {
            "Statistics": {"ContentType": "application/json", "S3Uri": "s3://m/stats.json"}
        }
    }
    baselines = {
        "ModelDataQuality": {
            "Constraints": {"ContentType": "application/json", "S3Uri": "s3://m/constraints.json"}
        }
    }
    first = register(
        rt,
        ModelMetrics=metrics,
        DriftCheckBaselines=baselines,
        CustomerMetadataProperties={"owner": "ml"},
    )
    second = register(rt, ModelApprovalStatus="Approved")
    assert first.endswith(":model-package/churn-models/1")
    assert second.endswith(":model-package/churn-models/2")
    described = rt.sagemaker.describe_model_package(ModelPackageName=first)
    assert described["ModelPackageVersion"] == 1
    assert described["ModelPackageGroupName"] == GROUP
    assert described["ModelApprovalStatus"] == "PendingManualApproval"
    assert described["ModelPackageStatus"] == "Completed"
    assert described["ModelMetrics"] == metrics
    assert described["DriftCheckBaselines"] == baselines
    assert described["CustomerMetadataProperties"] == {"owner": "ml"}
    assert described["InferenceSpecification"]["Containers"][0]["Image"] == XGB_IMAGE

    updated = rt.sagemaker.update_model_package(
        ModelPackageArn=first,
        ModelApprovalStatus="Approved",
        ApprovalDescription="good AUC",
        CustomerMetadataProperties={"stage": "prod"},
        CustomerMetadataPropertiesToRemove=["owner"],
    )
    assert updated == {"ModelPackageArn": first}
    described = rt.sagemaker.describe_model_package(ModelPackageName=first)
    assert described["ModelApprovalStatus"] == "Approved"
    assert described["ApprovalDescription"] == "good AUC"
    assert described["CustomerMetadataProperties"] == {"stage": "prod"}
    assert described["LastModifiedTime"] >= described["CreationTime"]


def test_list_model_packages_sorts_and_filters(rt: Runtime) -> None:
    rt.sagemaker.create_model_package_group(ModelPackageGroupName=GROUP)
    rt.sagemaker.create_model_package_group(ModelPackageGroupName="other")
    arns = [register(rt) for _ in range(3)]
    rt.sagemaker.update_model_package(ModelPackageArn=arns[1], ModelApprovalStatus="Approved")
    rt.sagemaker.create_model_package(
        ModelPackageGroupName="other", InferenceSpecification=inference()
    )
    listed = rt.sagemaker.list_model_packages(ModelPackageGroupName=GROUP)[
        "ModelPackageSummaryList"
    ]
    assert [p["ModelPackageVersion"] for p in listed] == [3, 2, 1]  # newest first
    ascending = rt.sagemaker.list_model_packages(
        ModelPackageGroupName=GROUP, SortBy="CreationTime", SortOrder="Ascending"
    )["ModelPackageSummaryList"]
    assert [p["ModelPackageArn"] for p in ascending] == arns
    approved = rt.sagemaker.list_model_packages(
        ModelPackageGroupName=GROUP, ModelApprovalStatus="Approved"
    )["ModelPackageSummaryList"]
    assert [p["ModelPackageArn"] for p in approved] == [arns[1]]
    page = rt.sagemaker.list_model_packages(MaxResults=2)
    rest = rt.sagemaker.list_model_packages(MaxResults=2, NextToken=page["NextToken"])
    assert len(page["ModelPackageSummaryList"]) == 2
    assert len(rest["ModelPackageSummaryList"]) == 2 and "NextToken" not in rest
    groups = rt.sagemaker.list_model_package_groups(SortBy="Name", SortOrder="Ascending")
    assert [g["ModelPackageGroupName"] for g in groups["ModelPackageGroupSummaryList"]] == [
        GROUP,
        "other",
    ]


def test_package_state_change_events_are_queued_in_order(rt: Runtime) -> None:
    """Each created package and each approval change queues one event; a change of another
    member (here the description) queues none.  Delivery: tests/server/test_registry_events.py."""
    rt.sagemaker.create_model_package_group(ModelPackageGroupName=GROUP)
    arn = register(rt)
    rt.sagemaker.update_model_package(ModelPackageArn=arn, ModelApprovalStatus="Approved")
    rt.sagemaker.update_model_package(ModelPackageArn=arn, ApprovalDescription="no change")
    rows = rt.db.query(
        "SELECT body FROM outbox WHERE channel = ? ORDER BY id", (registry.EVENT_CHANNEL,)
    )
    events = [json.loads(row["body"]) for row in rows]
    details = [json.loads(event["Detail"]) for event in events]
    assert [d["ModelApprovalStatus"] for d in details] == ["PendingManualApproval", "Approved"]
    for event, detail in zip(events, details, strict=True):
        assert event["Source"] == "aws.sagemaker"
        assert event["DetailType"] == "SageMaker Model Package State Change"
        assert event["Resources"] == [arn]
        assert detail["ModelPackageGroupName"] == GROUP
        assert isinstance(detail["CreationTime"], int)


def test_a_package_and_its_event_commit_together(
    rt: Runtime, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The package, the group's version counter and the state-change event are one
    transaction: when queueing the event fails, nothing of the three is left."""
    rt.sagemaker.create_model_package_group(ModelPackageGroupName=GROUP)
    first = register(rt)
    outbox = rt.sagemaker.event_outbox

    def broken(*args: Any, **kwargs: Any) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(outbox, "put_in", broken)
    with pytest.raises(OSError):
        register(rt)
    with pytest.raises(OSError):
        rt.sagemaker.update_model_package(ModelPackageArn=first, ModelApprovalStatus="Approved")
    monkeypatch.undo()
    listed = rt.sagemaker.list_model_packages(ModelPackageGroupName=GROUP)
    assert [p["ModelPackageArn"] for p in listed["ModelPackageSummaryList"]] == [first]
    described = rt.sagemaker.describe_model_package(ModelPackageName=first)
    assert described["ModelApprovalStatus"] == "PendingManualApproval"
    assert register(rt).endswith("/2")  # the failed one did not use up version 2
    rows = rt.db.query("SELECT body FROM outbox WHERE channel = ?", (registry.EVENT_CHANNEL,))
    assert len(rows) == 2


def test_create_model_from_a_package(rt: Runtime) -> None:
    rt.sagemaker.create_model_package_group(ModelPackageGroupName=GROUP)
    arn = register(rt)
    rt.sagemaker.create_model(
        ModelName="from-package",
        PrimaryContainer={"ModelPackageName": arn, "Environment": {"B": "override"}},
        ExecutionRoleArn="arn:aws:iam::123456789012:role/r",
    )
    container = rt.sagemaker.describe_model(ModelName="from-package")["PrimaryContainer"]
    assert container["ModelPackageName"] == arn
    assert container["Image"] == XGB_IMAGE
    assert container["ModelDataUrl"] == "s3://models/m1/model.tar.gz"
    assert container["Environment"] == {"A": "1", "B": "override"}
    with pytest.raises(ServiceError, match="does not exist"):
        rt.sagemaker.create_model(
            ModelName="missing",
            Containers=[{"ModelPackageName": arn[:-1] + "9"}],
            ExecutionRoleArn="arn:aws:iam::123456789012:role/r",
        )


def test_registry_errors(rt: Runtime) -> None:
    with pytest.raises(ServiceError, match="ModelPackageGroup nope does not exist"):
        rt.sagemaker.create_model_package(
            ModelPackageGroupName="nope", InferenceSpecification=inference()
        )
    rt.sagemaker.create_model_package_group(ModelPackageGroupName=GROUP)
    with pytest.raises(ServiceError, match="already exists"):
        rt.sagemaker.create_model_package_group(ModelPackageGroupName=GROUP)
    arn = register(rt)
    with pytest.raises(ServiceError) as info:
        rt.sagemaker.delete_model_package_group(ModelPackageGroupName=GROUP)
    assert info.value.code == "ConflictException"
    rt.sagemaker.delete_model_package(ModelPackageName=arn)
    rt.sagemaker.delete_model_package_group(ModelPackageGroupName=GROUP)
    assert rt.sagemaker.list_model_package_groups()["ModelPackageGroupSummaryList"] == []


def test_a_registered_package_joins_the_lineage_of_its_model(rt: Runtime) -> None:
    """The package gets a ModelPackage context; its model's artifact ContributedTo it."""
    rt.sagemaker.create_model_package_group(ModelPackageGroupName=GROUP)
    arn = register(rt)
    [context] = rt.sagemaker.list_contexts(ContextType="ModelPackage")["ContextSummaries"]
    assert context["Source"]["SourceUri"] == arn
    [artifact] = rt.sagemaker.list_artifacts(SourceUri="s3://models/m1/model.tar.gz")[
        "ArtifactSummaries"
    ]
    found = rt.sagemaker.query_lineage(
        StartArns=[artifact["ArtifactArn"]], Direction="Descendants", IncludeEdges=True
    )
    assert context["ContextArn"] in [v["Arn"] for v in found["Vertices"]]
    assert {
        "SourceArn": artifact["ArtifactArn"],
        "DestinationArn": context["ContextArn"],
        "AssociationType": "ContributedTo",
    } in found["Edges"]
