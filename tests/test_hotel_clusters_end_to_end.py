"""The hotel-cluster use case end to end on the local runtime: ingestion into two feature
groups, the Athena training set, XGBoost, evaluation, deployment, then the test split
streamed through Kinesis -> Lambda -> DynamoDB with one poisoned record; lineage from the
feature groups to the endpoint; feature profiles before and after shifted rows."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from workflows.hotel_clusters import insight, run
from workflows.hotel_clusters import workflow as wf
from workflows.target import LocalTarget

EVENTS = Path(__file__).resolve().parents[1] / "lambdas" / "events"


@pytest.fixture(scope="module")
def target(tmp_path_factory: pytest.TempPathFactory) -> Any:
    with LocalTarget(tmp_path_factory.mktemp("hotel-state")) as t:
        yield t


@pytest.fixture(scope="module")
def result(target: LocalTarget) -> run.HotelRun:
    return run.run(target, wf.HotelSettings(), rows=4000, stream_limit=1000)


def test_every_streamed_event_becomes_exactly_one_item(result: run.HotelRun) -> None:
    assert result.ingestion.status == "SUCCEEDED"
    assert result.training is not None and result.training.status == "SUCCEEDED", result.report()
    stream = result.stream
    assert stream["events"] == result.training.output["training_set"]["Payload"]["rows"]["test"]
    assert stream["items"] == stream["events"] == stream["users_with_one_item"]
    # The stream scored the whole test split with the deployed model: the same accuracy as
    # the evaluation job's, from the model's margins.
    assert stream["stream_accuracy"] == round(result.metrics["accuracy"], 4)
    assert 0 <= result.metrics["accuracy"] <= result.metrics["top5_accuracy"] <= 1
    assert stream["latency_p50_ms"] > 0


def test_the_poisoned_record_is_isolated_by_bisection(
    target: LocalTarget, result: run.HotelRun
) -> None:
    """Bisection narrowed the failing batch down to the one bad record, which reached the
    failure queue; every other record of its batches was written (the test above)."""
    assert result.stream["failure_destination_messages"] == 1
    [batch] = result.stream["failed_batches"]
    assert batch["batchSize"] == 1
    kinesis = target.backend("kinesis")
    iterator = kinesis.get_shard_iterator(
        StreamName=wf.HotelSettings().stream,
        ShardId=batch["shardId"],
        ShardIteratorType="AT_SEQUENCE_NUMBER",
        StartingSequenceNumber=batch["startSequenceNumber"],
    )["ShardIterator"]
    record = kinesis.get_records(ShardIterator=iterator, Limit=1)["Records"][0]
    assert record["Data"] == run.POISON


def test_the_http_api_answers_one_event_synchronously(
    target: LocalTarget, result: run.HotelRun
) -> None:
    """POST /predict on the HTTP API (API Gateway serving, payload format 2.0) runs the same
    Lambda, which answers the item it wrote; a bad body is a 400 naming the problem."""
    import requests

    search = json.loads((EVENTS / "hotel_stream_http.json").read_text())["body"]
    reply = requests.post(result.predict_url, data=search, timeout=120)
    assert reply.status_code == 200, reply.text
    item = reply.json()
    assert item["user_id"] == json.loads(search)["user_id"]
    assert isinstance(item["hotel_cluster_predicted"], int)
    stored = target.backend("dynamodb").get_item(
        TableName=wf.HotelSettings().table,
        Key={"user_id": {"N": str(item["user_id"])}, "date_time": {"S": item["date_time"]}},
    )["Item"]
    assert int(stored["hotel_cluster_predicted"]["N"]) == item["hotel_cluster_predicted"]
    bad = requests.post(result.predict_url, data=b"{not json", timeout=120)
    assert bad.status_code == 400 and "not JSON" in bad.json()["message"]


def test_the_lambda_answers_the_example_http_event(
    target: LocalTarget, result: run.HotelRun
) -> None:
    event = json.loads((EVENTS / "hotel_stream_http.json").read_text())
    reply = target.lambda_.invoke(
        FunctionName=wf.function_names()["stream"], Payload=json.dumps(event).encode()
    )
    body = reply["Payload"]
    payload = json.loads(body.read() if hasattr(body, "read") else body)
    assert payload["statusCode"] == 200, payload


def test_lineage_runs_from_the_feature_groups_to_the_endpoint(
    target: LocalTarget, result: run.HotelRun
) -> None:
    s = wf.HotelSettings()
    graph = insight.lineage(target, s.endpoint)
    kinds = {v["Arn"]: v["Type"] for v in graph.vertices}
    edges = {(kinds[e["SourceArn"]], kinds[e["DestinationArn"]]) for e in graph.edges}
    assert {
        ("FeatureGroup", "AthenaQuery"),
        ("AthenaQuery", "DataSet"),
        ("DataSet", "TrainingJob"),
        ("TrainingJob", "Model"),
        ("Model", "ModelDeployment"),
        ("ModelDeployment", "Endpoint"),
    } <= edges
    groups = {graph.labels[a] for a, k in kinds.items() if k == "FeatureGroup"}
    assert groups == {s.customers_group, s.destinations_group}
    assert "<svg" in insight.lineage_svg(graph)


def test_profiles_flag_the_shifted_column(target: LocalTarget, result: run.HotelRun) -> None:
    s = wf.HotelSettings()
    before = insight.profile(
        target, s, s.customers_group, label="before", id_column="user_id", time_column="date_time"
    )
    assert before["rows"] == result.ingest["users"]
    events = run.test_events(target, result.test_events_uri, 10_000)
    insight.ingest_shifted(target, s, events)
    after = insight.profile(
        target, s, s.customers_group, label="after", id_column="user_id", time_column="date_time"
    )
    assert after["rows"] == before["rows"]
    flagged = {row["column"] for row in insight.drift(before, after) if row["drifted"]}
    assert flagged == {"days_to_trip"}


def test_the_deployed_model_is_registered_approved(
    target: LocalTarget, result: run.HotelRun
) -> None:
    s = wf.HotelSettings()
    packages = target.sagemaker.list_model_packages(ModelPackageGroupName=s.model_package_group)[
        "ModelPackageSummaryList"
    ]
    assert [p["ModelApprovalStatus"] for p in packages] == ["Approved"]
    described = target.sagemaker.describe_model_package(
        ModelPackageName=packages[0]["ModelPackageArn"]
    )
    [container] = described["InferenceSpecification"]["Containers"]
    assert result.training is not None
    artifact = result.training.output["train"]["ModelArtifacts"]["S3ModelArtifacts"]
    assert container["ModelDataUrl"] == artifact
