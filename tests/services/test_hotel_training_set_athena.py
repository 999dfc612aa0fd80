"""The hotel-cluster training set: the Athena query over the two feature groups' offline
stores (latest record per id, deleted records out) returns the same rows as a pandas join
on the same offline Parquet files."""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pandas as pd
from test_glue_athena import query, rows
from wiring_support import wait_for

LAMBDAS = Path(__file__).resolve().parents[2] / "lambdas"
if str(LAMBDAS) not in sys.path:
    sys.path.insert(0, str(LAMBDAS))

from hotel_clusters import schema  # noqa: E402
from hotel_clusters.training_set import count_query, training_query  # noqa: E402

ROLE = "arn:aws:iam::123456789012:role/featurestore"


def _group(
    sm: Any, name: str, columns: tuple[str, ...], rid: str, etime: str, uri: str
) -> dict[str, Any]:
    sm.create_feature_group(
        FeatureGroupName=name,
        RecordIdentifierFeatureName=rid,
        EventTimeFeatureName=etime,
        FeatureDefinitions=schema.feature_definitions(columns),
        OnlineStoreConfig={"EnableOnlineStore": True},
        OfflineStoreConfig={"S3StorageConfig": {"S3Uri": uri}},
        RoleArn=ROLE,
    )
    return wait_for(
        f"feature group {name}",
        lambda: (
            (d := sm.describe_feature_group(FeatureGroupName=name))["FeatureGroupStatus"]
            == "Created"
            and d
        ),
    )


def _customer(
    user: int, destination: int, when: str, cluster: int, days: int
) -> list[dict[str, str]]:
    values: dict[str, Any] = {f: (user * 7 + i) % 50 for i, f in enumerate(schema.STREAM_FIELDS)}
    values.update(
        user_id=user,
        srch_destination_id=destination,
        orig_destination_distance=user * 10.5,
        days_to_trip=days,
        date_time=when,
        hotel_cluster=cluster,
    )
    return [{"FeatureName": k, "ValueAsString": str(v)} for k, v in values.items()]


def _offline(state_dir: Path, resolved: str) -> pd.DataFrame:
    root = state_dir / "s3" / resolved.removeprefix("s3://")
    return pd.concat(
        [pd.read_parquet(p) for p in sorted(root.rglob("*.parquet"))], ignore_index=True
    )


def _latest(frame: pd.DataFrame, rid: str, etime: str) -> pd.DataFrame:
    frame = frame.sort_values([etime, "api_invocation_time", "write_time"])
    latest = frame.drop_duplicates(rid, keep="last")
    return latest[~latest["is_deleted"].astype(bool)]


def test_athena_training_set_equals_a_pandas_join_on_the_offline_files(
    server: Any, client: Callable[..., Any], name: Callable[[str], str]
) -> None:
    sm, fs, athena, s3 = (
        client("sagemaker"),
        client("sagemaker-featurestore-runtime"),
        client("athena"),
        client("s3"),
    )
    bucket = name("fs")
    s3.create_bucket(Bucket=bucket)
    customers = _group(
        sm,
        name("customers"),
        schema.CUSTOMER_COLUMNS,
        schema.CUSTOMER_ID,
        schema.EVENT_TIME,
        f"s3://{bucket}/offline",
    )
    destinations = _group(
        sm,
        name("destinations"),
        schema.DESTINATION_COLUMNS,
        schema.DESTINATION_ID,
        schema.DESTINATION_EVENT_TIME,
        f"s3://{bucket}/offline",
    )
    for d in (10, 20, 30):
        for version, when in enumerate(("2024-01-01T00:00:00Z", "2024-02-01T00:00:00Z")):
            fs.put_record(
                FeatureGroupName=destinations["FeatureGroupName"],
                Record=[
                    {"FeatureName": "srch_destination_id", "ValueAsString": str(d)},
                    {"FeatureName": "pc1", "ValueAsString": str(d / 10 + version)},
                    {"FeatureName": "pc2", "ValueAsString": str(-d / 7)},
                    {"FeatureName": "pc3", "ValueAsString": str(version * 0.5)},
                    {"FeatureName": "event_time", "ValueAsString": when},
                ],
            )
    puts = 0
    for user in range(1, 13):
        destination = (10, 20, 30, 40)[
            user % 4
        ]  # 40 has no destination record: dropped by the join
        fs.put_record(
            FeatureGroupName=customers["FeatureGroupName"],
            Record=_customer(user, destination, "2014-05-01T10:00:00Z", user % 5, 3),
        )
        puts += 1
        if user % 3 == 0:  # a later booking of the same user: the latest wins
            fs.put_record(
                FeatureGroupName=customers["FeatureGroupName"],
                Record=_customer(user, 10, "2014-06-01T10:00:00Z", 90 + user % 5, 40),
            )
            puts += 1
    fs.delete_record(
        FeatureGroupName=customers["FeatureGroupName"],
        RecordIdentifierValueAsString="5",
        EventTime="2014-07-01T00:00:00Z",
    )
    database = customers["OfflineStoreConfig"]["DataCatalogConfig"]["Database"]
    ctable = customers["OfflineStoreConfig"]["DataCatalogConfig"]["TableName"]
    dtable = destinations["OfflineStoreConfig"]["DataCatalogConfig"]["TableName"]
    output = f"s3://{bucket}/athena/"

    def flushed() -> bool:
        done = query(
            athena, count_query(database, ctable, "2000-01-01 00:00:00.000"), database, output
        )
        return int(rows(athena, done["QueryExecutionId"])[1][0] or 0) >= puts + 1

    wait_for("the offline store", flushed)

    done = query(athena, training_query(database, ctable, dtable), database, output)
    assert done["Status"]["State"] == "SUCCEEDED", done["Status"]
    result = rows(athena, done["QueryExecutionId"])
    header, body = result[0], result[1:]
    athena_frame = pd.DataFrame(body, columns=header)

    state = server.runtime.state_dir
    c = _latest(
        _offline(state, customers["OfflineStoreConfig"]["S3StorageConfig"]["ResolvedOutputS3Uri"]),
        "user_id",
        "date_time",
    )
    d = _latest(
        _offline(
            state, destinations["OfflineStoreConfig"]["S3StorageConfig"]["ResolvedOutputS3Uri"]
        ),
        "srch_destination_id",
        "event_time",
    )
    joined = c.merge(d, on="srch_destination_id", suffixes=("", "_d")).sort_values("user_id")
    expected = joined[[schema.LABEL, *schema.MODEL_FEATURES, schema.CUSTOMER_ID]]

    assert list(athena_frame.columns) == list(expected.columns)
    # 12 users; 7 and 11 book destination 40, which has no record; 5's latest is a deletion.
    assert len(athena_frame) == len(expected) == 9
    assert 5 not in set(athena_frame["user_id"].astype(int))
    for column in expected.columns:
        got = pd.to_numeric(athena_frame[column]).to_numpy()
        want = expected[column].to_numpy(dtype=float)
        assert got.tolist() == want.tolist(), column
    # The later bookings won: users 3, 6, 9, 12 have their June cluster and destination 10.
    later = athena_frame[athena_frame["user_id"].astype(int) % 3 == 0]
    assert (later["hotel_cluster"].astype(int) >= 90).all()
    assert set(later["pc1"].astype(float)) == {2.0}  # destination 10's latest record (version 1)
