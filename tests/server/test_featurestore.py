"""SageMaker Feature Store over HTTP: feature groups, the online store, the offline store's
Parquet layout, and the SageMaker SDK's FeatureGroup."""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import botocore.exceptions
import pandas as pd
import pyarrow.parquet as pq
import pytest

from localaws.botocore_model import validate_request
from localaws.errors import ServiceError
from localaws.sagemaker.featurestore import glue_table_input

ROLE = "arn:aws:iam::123456789012:role/fs"
DEFINITIONS = [
    {"FeatureName": "customer_id", "FeatureType": "String"},
    {"FeatureName": "event_time", "FeatureType": "String"},
    {"FeatureName": "age", "FeatureType": "Integral"},
    {"FeatureName": "score", "FeatureType": "Fractional"},
]


def wait_created(sm: Any, name: str) -> dict[str, Any]:
    waiter_deadline = time.monotonic() + 30
    while time.monotonic() < waiter_deadline:
        described = sm.describe_feature_group(FeatureGroupName=name)
        if described["FeatureGroupStatus"] != "Creating":
            return described
        time.sleep(0.05)
    raise AssertionError(f"feature group {name} still Creating")


def create_group(sm: Any, name: str, *, offline: bool = True) -> dict[str, Any]:
    request: dict[str, Any] = {
        "FeatureGroupName": name,
        "RecordIdentifierFeatureName": "customer_id",
        "EventTimeFeatureName": "event_time",
        "FeatureDefinitions": DEFINITIONS,
        "OnlineStoreConfig": {"EnableOnlineStore": True},
        "RoleArn": ROLE,
    }
    if offline:
        request["OfflineStoreConfig"] = {"S3StorageConfig": {"S3Uri": "s3://fs-bucket/offline"}}
    sm.create_feature_group(**request)
    return wait_created(sm, name)


def record(cid: str, when: str, age: int, score: float) -> list[dict[str, str]]:
    values = {"customer_id": cid, "event_time": when, "age": str(age), "score": str(score)}
    return [{"FeatureName": k, "ValueAsString": v} for k, v in values.items()]


def as_dict(rec: list[dict[str, str]]) -> dict[str, str]:
    return {f["FeatureName"]: f["ValueAsString"] for f in rec}


def parquet_files(server: Any, described: dict[str, Any]) -> list[Path]:
    uri = described["OfflineStoreConfig"]["S3StorageConfig"]["ResolvedOutputS3Uri"]
    root = Path(server.runtime.state_dir) / "s3" / uri[len("s3://") :]
    return sorted(root.rglob("*.parquet"))


def test_feature_group_lifecycle_and_describe(client: Callable[..., Any]) -> None:
    sm = client("sagemaker")
    described = create_group(sm, "customers")
    assert described["FeatureGroupStatus"] == "Created"
    assert described["OfflineStoreStatus"] == {"Status": "Active"}
    ts = int(described["CreationTime"].timestamp())
    assert described["OfflineStoreConfig"]["S3StorageConfig"]["ResolvedOutputS3Uri"] == (
        f"s3://fs-bucket/offline/123456789012/sagemaker/us-east-1/offline-store/customers-{ts}/data"
    )
    assert described["OfflineStoreConfig"]["DataCatalogConfig"] == {
        "TableName": f"customers-{ts}",
        "Catalog": "AwsDataCatalog",
        "Database": "sagemaker_featurestore",
    }
    names = [s["FeatureGroupName"] for s in sm.list_feature_groups()["FeatureGroupSummaries"]]
    assert "customers" in names
    with pytest.raises(botocore.exceptions.ClientError) as e:
        create_group(sm, "customers")
    assert e.value.response["Error"]["Code"] == "ResourceInUse"
    sm.delete_feature_group(FeatureGroupName="customers")
    with pytest.raises(botocore.exceptions.ClientError) as e:
        sm.describe_feature_group(FeatureGroupName="customers")
    assert e.value.response["Error"]["Code"] == "ResourceNotFound"


def test_create_refuses_unknown_record_identifier(client: Callable[..., Any]) -> None:
    sm = client("sagemaker")
    with pytest.raises(botocore.exceptions.ClientError) as e:
        sm.create_feature_group(
            FeatureGroupName="bad",
            RecordIdentifierFeatureName="nope",
            EventTimeFeatureName="event_time",
            FeatureDefinitions=DEFINITIONS,
            OnlineStoreConfig={"EnableOnlineStore": True},
        )
    message = e.value.response["Error"]["Message"]
    assert "RecordIdentifierFeatureName" in message and "'nope'" in message


def test_put_get_latest_by_event_time_batch_and_delete(client: Callable[..., Any]) -> None:
    sm, fs = client("sagemaker"), client("sagemaker-featurestore-runtime")
    create_group(sm, "online", offline=False)
    fs.put_record(FeatureGroupName="online", Record=record("c1", "2026-01-01T10:00:00Z", 30, 0.5))
    fs.put_record(FeatureGroupName="online", Record=record("c1", "2026-01-01T12:00:00Z", 31, 0.7))
    # An older event does not replace the newer record.
    fs.put_record(FeatureGroupName="online", Record=record("c1", "2026-01-01T11:00:00Z", 99, 9.9))
    got = fs.get_record(FeatureGroupName="online", RecordIdentifierValueAsString="c1")
    assert as_dict(got["Record"])["age"] == "31"
    some = fs.get_record(
        FeatureGroupName="online", RecordIdentifierValueAsString="c1", FeatureNames=["score", "age"]
    )
    assert as_dict(some["Record"]) == {"score": "0.7", "age": "31"}
    assert "Record" not in fs.get_record(
        FeatureGroupName="online", RecordIdentifierValueAsString="zz"
    )
    fs.put_record(FeatureGroupName="online", Record=record("c2", "2026-01-01T12:00:00Z", 40, 0.1))
    batch = fs.batch_get_record(
        Identifiers=[{"FeatureGroupName": "online", "RecordIdentifiersValueAsString": ["c1", "c2"]}]
    )
    assert sorted(r["RecordIdentifierValueAsString"] for r in batch["Records"]) == ["c1", "c2"]
    fs.delete_record(
        FeatureGroupName="online",
        RecordIdentifierValueAsString="c1",
        EventTime="2026-01-02T00:00:00Z",
    )
    assert "Record" not in fs.get_record(
        FeatureGroupName="online", RecordIdentifierValueAsString="c1"
    )


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        ({"customer_id": "c", "event_time": "2026-01-01T00:00:00Z", "nope": "1"}, "'nope'"),
        ({"customer_id": "c", "event_time": "yesterday"}, "event time"),
        ({"customer_id": "c", "event_time": "2026-01-01T00:00:00Z", "age": "x"}, "Integral"),
        ({"event_time": "2026-01-01T00:00:00Z"}, "customer_id"),
    ],
    ids=["unknown-feature", "bad-event-time", "bad-integral", "no-identifier"],
)
def test_put_record_refuses_bad_records(
    client: Callable[..., Any], values: dict[str, str], expected: str
) -> None:
    sm, fs = client("sagemaker"), client("sagemaker-featurestore-runtime")
    if "strict" not in [
        g["FeatureGroupName"] for g in sm.list_feature_groups()["FeatureGroupSummaries"]
    ]:
        create_group(sm, "strict", offline=False)
    with pytest.raises(botocore.exceptions.ClientError) as e:
        fs.put_record(
            FeatureGroupName="strict",
            Record=[{"FeatureName": k, "ValueAsString": v} for k, v in values.items()],
        )
    assert e.value.response["Error"]["Code"] == "ValidationError"
    assert expected in e.value.response["Error"]["Message"]


def test_offline_store_parquet_layout_and_extra_columns(
    client: Callable[..., Any], server: Any
) -> None:
    sm, fs = client("sagemaker"), client("sagemaker-featurestore-runtime")
    described = create_group(sm, "offline")
    fs.put_record(FeatureGroupName="offline", Record=record("a", "2026-03-04T05:06:07Z", 20, 1.5))
    fs.put_record(FeatureGroupName="offline", Record=record("b", "2026-03-04T07:00:00Z", 21, 2.5))
    fs.delete_record(
        FeatureGroupName="offline",
        RecordIdentifierValueAsString="a",
        EventTime="2026-03-04T05:30:00Z",
    )
    deadline = time.monotonic() + 30
    files = parquet_files(server, described)
    while sum(pq.read_metadata(f).num_rows for f in files) < 3 and time.monotonic() < deadline:
        time.sleep(0.1)
        files = parquet_files(server, described)
    rel = [f.relative_to(f.parents[4]).as_posix() for f in files]
    for path in rel:
        assert re.fullmatch(
            r"year=2026/month=03/day=04/hour=0[57]/\d{8}T\d{6}Z_[\w-]+\.parquet", path
        ), path
    table = pd.concat([pq.read_table(f).to_pandas() for f in files], ignore_index=True)
    assert list(table.columns) == [
        "customer_id",
        "event_time",
        "age",
        "score",
        "write_time",
        "api_invocation_time",
        "is_deleted",
    ]
    assert sorted(table.customer_id) == ["a", "a", "b"]
    assert table[table.is_deleted].customer_id.tolist() == ["a"]
    schema = pq.read_schema(files[0])
    assert str(schema.field("age").type) == "int64" and str(schema.field("score").type) == "double"
    assert str(schema.field("write_time").type) == "timestamp[ms, tz=UTC]"
    # The layout reads as a hive-partitioned dataset, as Athena reads the Glue table.
    import pyarrow.dataset as ds

    dataset = ds.dataset(files[0].parents[4], format="parquet", partitioning="hive")
    live = dataset.to_table(filter=(ds.field("hour") == 7) & ~ds.field("is_deleted"))
    assert live.column("customer_id").to_pylist() == ["b"]


def test_glue_table_input_is_valid_for_glue() -> None:
    group = {
        "FeatureGroupName": "g",
        "FeatureDefinitions": DEFINITIONS,
        "OfflineStoreConfig": {
            "S3StorageConfig": {"S3Uri": "s3://b/p", "ResolvedOutputS3Uri": "s3://b/p/x/data"},
            "DataCatalogConfig": {
                "TableName": "g-1",
                "Catalog": "AwsDataCatalog",
                "Database": "sagemaker_featurestore",
            },
        },
    }
    table = glue_table_input(group)
    validate_request(
        "glue", "CreateTable", {"DatabaseName": "sagemaker_featurestore", "TableInput": table}
    )
    assert [c["Type"] for c in table["StorageDescriptor"]["Columns"]] == [
        "string",
        "string",
        "bigint",
        "double",
        "timestamp",
        "timestamp",
        "boolean",
    ]
    with pytest.raises(ServiceError):
        validate_request("glue", "CreateTable", {"DatabaseName": "x", "TableInput": {"Name": 3}})


def test_sagemaker_sdk_feature_group_ingest_and_get_record(
    client: Callable[..., Any], server: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    import boto3
    from sagemaker.feature_store.feature_group import FeatureGroup
    from sagemaker.session import Session

    monkeypatch.setenv("AWS_ENDPOINT_URL", server.url)  # ingest makes its own clients
    session = Session(
        boto_session=boto3.Session(region_name="us-east-1"),
        sagemaker_client=client("sagemaker"),
        sagemaker_featurestore_runtime_client=client("sagemaker-featurestore-runtime"),
        default_bucket="fs-bucket",
    )
    frame = pd.DataFrame(
        {
            "customer_id": [f"c{i}" for i in range(40)],
            "event_time": [float(1_767_225_600 + i) for i in range(40)],
            "age": list(range(40)),
            "score": [i / 10 for i in range(40)],
        }
    )
    frame["customer_id"] = frame["customer_id"].astype("string")
    group = FeatureGroup(name="sdk-group", sagemaker_session=session)
    group.load_feature_definitions(data_frame=frame)
    group.create(
        s3_uri="s3://fs-bucket/sdk",
        record_identifier_name="customer_id",
        event_time_feature_name="event_time",
        role_arn=ROLE,
        enable_online_store=True,
    )
    wait_created(client("sagemaker"), "sdk-group")
    manager = group.ingest(data_frame=frame, max_workers=3, wait=True)
    assert manager.failed_rows == []
    got = session.sagemaker_featurestore_runtime_client.get_record(
        FeatureGroupName="sdk-group", RecordIdentifierValueAsString="c7"
    )
    assert as_dict(got["Record"]) == {
        "customer_id": "c7",
        "event_time": str(float(1_767_225_607)),
        "age": "7",
        "score": "0.7",
    }
    assert group.describe()["FeatureGroupStatus"] == "Created"


def test_records_survive_kill_9_of_the_server(tmp_path: Path) -> None:
    """Online records and rows queued for the offline store outlive the server process."""
    import signal
    import subprocess
    import sys

    import boto3

    from localaws.runtime import read_owner

    root = Path(__file__).resolve().parents[2]

    def start() -> tuple[subprocess.Popen[str], str]:
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "workflows",
                "serve",
                "--state-dir",
                str(tmp_path),
                "--port",
                "0",
            ],
            cwd=root,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            assert process.poll() is None, process.communicate()[1]
            owner = read_owner(tmp_path)
            if owner and owner.get("url") and owner.get("pid") == process.pid:
                return process, str(owner["url"])
            time.sleep(0.1)
        process.kill()
        raise AssertionError("the server did not start")

    def make(url: str, service: str) -> Any:
        return boto3.client(
            service,
            endpoint_url=url,
            region_name="us-east-1",
            aws_access_key_id="t",
            aws_secret_access_key="t",
        )

    process, url = start()
    try:
        described = create_group(make(url, "sagemaker"), "durable")
        fs = make(url, "sagemaker-featurestore-runtime")
        for i in range(20):
            fs.put_record(
                FeatureGroupName="durable", Record=record(f"c{i}", "2026-05-01T00:00:00Z", i, i / 2)
            )
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
    process, url = start()
    try:
        got = make(url, "sagemaker-featurestore-runtime").get_record(
            FeatureGroupName="durable", RecordIdentifierValueAsString="c13"
        )
        assert as_dict(got["Record"])["age"] == "13"
        # Whatever was queued for the offline store when the server died is written on restart.
        uri = described["OfflineStoreConfig"]["S3StorageConfig"]["ResolvedOutputS3Uri"]
        files = sorted((tmp_path / "s3" / uri[len("s3://") :]).rglob("*.parquet"))
        deadline = time.monotonic() + 30
        while sum(pq.read_metadata(f).num_rows for f in files) < 20 and time.monotonic() < deadline:
            time.sleep(0.1)
            files = sorted((tmp_path / "s3" / uri[len("s3://") :]).rglob("*.parquet"))
        ids = pd.concat([pq.read_table(f).to_pandas() for f in files]).customer_id
        assert sorted(ids) == sorted(f"c{i}" for i in range(20))
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=30)
