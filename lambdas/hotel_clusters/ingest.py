"""Batch ingestion: raw Expedia-shaped events and destinations -> two feature groups.

Event (``events/hotel_ingest.json``)::

    {"events_uri": "s3://bucket/hotel/raw/<run>/train.csv",
     "destinations_uri": "s3://bucket/hotel/raw/<run>/destinations.csv",
     "customers_group": "hotel-customers", "destinations_group": "hotel-destinations",
     "offline_uri": "s3://bucket/hotel/feature-store/", "role_arn": "arn:aws:iam::...:role/...",
     "max_users": 5000, "seed": 42}

Cleans the events (drops rows missing the distance or a date, keeps bookings, ISO-8601
times), derives ``duration``, ``days_to_trip``, ``start_of_trip_weekend`` and
``end_of_trip_weekend``, samples at most ``max_users`` users, reduces ``d1..d149`` to
``pc1..pc3`` with a PCA, creates both feature groups when missing (online and offline
stores) and puts every record.  Returns the counts, the groups' Glue tables and
``ingested_after``, the time before the first record, which the training set waits for.
"""

from __future__ import annotations

import io
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any

import numpy as np
import pandas as pd
from common import objects
from common.errors import DataQualityError, InvalidEventError

from hotel_clusters import schema

PUT_THREADS = 8
CREATE_TIMEOUT_S = 300.0


class FeatureGroupFailed(Exception):
    """A feature group could not be created (its FailureReason says why)."""


@lru_cache(maxsize=1)
def _clients() -> tuple[Any, Any]:
    import boto3

    return boto3.client("sagemaker"), boto3.client("sagemaker-featurestore-runtime")


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    store = objects.storage()
    events_uri = objects.require_uri(event, "events_uri")
    destinations_uri = objects.require_uri(event, "destinations_uri")
    for field in ("customers_group", "destinations_group", "role_arn"):
        if not isinstance(event.get(field), str) or not event[field]:
            raise InvalidEventError(f"{field}: required, a non-empty string")
    offline_uri = objects.require_uri(event, "offline_uri")
    raw = pd.read_csv(
        io.BytesIO(store.read(events_uri)),
        dtype={"date_time": str, "srch_ci": str, "srch_co": str},
    )
    customers = sample_users(
        derive(clean(raw)), int(event.get("max_users") or 0), int(event.get("seed", 42))
    )
    destinations = components(pd.read_csv(io.BytesIO(store.read(destinations_uri))))
    destinations = destinations[
        destinations[schema.DESTINATION_ID].isin(customers[schema.DESTINATION_ID])
    ]
    if customers.empty:
        raise DataQualityError(
            f"{events_uri}: no booking with a distance and both dates is left after cleaning; "
            "the data needs bookings (is_booking = 1)"
        )
    sm, runtime = _clients()
    tables = {}
    for name, columns, rid, etime in (
        (event["customers_group"], schema.CUSTOMER_COLUMNS, schema.CUSTOMER_ID, schema.EVENT_TIME),
        (
            event["destinations_group"],
            schema.DESTINATION_COLUMNS,
            schema.DESTINATION_ID,
            schema.DESTINATION_EVENT_TIME,
        ),
    ):
        tables[name] = ensure_group(sm, name, columns, rid, etime, offline_uri, event["role_arn"])
    ingested_after = datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")[:-3]
    now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    destinations = destinations.assign(**{schema.DESTINATION_EVENT_TIME: now})
    put_all(runtime, event["destinations_group"], destinations, schema.DESTINATION_COLUMNS)
    put_all(runtime, event["customers_group"], customers, schema.CUSTOMER_COLUMNS)
    return {
        "raw_rows": len(raw),
        "customers": len(customers),
        "users": int(customers[schema.CUSTOMER_ID].nunique()),
        "destinations": len(destinations),
        "ingested_after": ingested_after,
        "database": tables[event["customers_group"]]["Database"],
        "customers_table": tables[event["customers_group"]]["TableName"],
        "destinations_table": tables[event["destinations_group"]]["TableName"],
        "customers_group_arn": tables[event["customers_group"]]["Arn"],
        "destinations_group_arn": tables[event["destinations_group"]]["Arn"],
    }


# -- the data ---------------------------------------------------------------------------


def clean(raw: pd.DataFrame) -> pd.DataFrame:
    """Bookings with a distance and both dates; ``date_time`` as ISO-8601 UTC text."""
    frame = raw[raw["is_booking"] == 1].dropna(
        subset=["orig_destination_distance", "srch_ci", "srch_co", "date_time"]
    )
    when = pd.to_datetime(frame["date_time"], errors="coerce", utc=True)
    ci = pd.to_datetime(frame["srch_ci"], errors="coerce")
    co = pd.to_datetime(frame["srch_co"], errors="coerce")
    ok = when.notna() & ci.notna() & co.notna() & (co > ci)
    frame = frame[ok].copy()
    frame["_when"], frame["_ci"], frame["_co"] = when[ok], ci[ok], co[ok]
    frame["date_time"] = frame["_when"].dt.strftime("%Y-%m-%dT%H:%M:%SZ")
    return frame


def derive(frame: pd.DataFrame) -> pd.DataFrame:
    """Add duration (nights), days_to_trip, and whether the trip starts/ends on a weekend."""
    out = frame.copy()
    booked = out["_when"].dt.tz_localize(None).dt.normalize()
    out["duration"] = (out["_co"] - out["_ci"]).dt.days
    out["days_to_trip"] = (out["_ci"] - booked).dt.days.clip(lower=0)
    out["start_of_trip_weekend"] = (out["_ci"].dt.day_of_week >= 5).astype(int)
    out["end_of_trip_weekend"] = (out["_co"].dt.day_of_week >= 5).astype(int)
    return out[list(schema.CUSTOMER_COLUMNS)].reset_index(drop=True)


def sample_users(frame: pd.DataFrame, max_users: int, seed: int) -> pd.DataFrame:
    """Every row of at most ``max_users`` users drawn at random (0: all users)."""
    users = frame[schema.CUSTOMER_ID].unique()
    if max_users <= 0 or len(users) <= max_users:
        return frame
    chosen = np.random.default_rng(seed).choice(np.sort(users), size=max_users, replace=False)
    return frame[frame[schema.CUSTOMER_ID].isin(chosen)].reset_index(drop=True)


def components(destinations: pd.DataFrame) -> pd.DataFrame:
    """``srch_destination_id, pc1, pc2, pc3``: a PCA over d1..d149 (SVD of the centred
    matrix; each component's sign makes its largest loading positive)."""
    missing = [c for c in schema.DESTINATION_FEATURES if c not in destinations.columns]
    if missing:
        raise DataQualityError(f"destinations: columns {missing[:3]} are missing (d1..d149)")
    values = destinations[list(schema.DESTINATION_FEATURES)].to_numpy(dtype=float)
    centred = values - values.mean(axis=0)
    _, _, vt = np.linalg.svd(centred, full_matrices=False)
    loadings = vt[: len(schema.COMPONENTS)]
    signs = np.sign(loadings[np.arange(len(loadings)), np.abs(loadings).argmax(axis=1)])
    scores = centred @ (loadings * signs[:, None]).T
    out = pd.DataFrame(scores, columns=list(schema.COMPONENTS))
    out.insert(0, schema.DESTINATION_ID, destinations[schema.DESTINATION_ID].to_numpy())
    return out


# -- the feature store ------------------------------------------------------------------


def ensure_group(
    sm: Any,
    name: str,
    columns: tuple[str, ...],
    record_id: str,
    event_time: str,
    offline_uri: str,
    role_arn: str,
) -> dict[str, str]:
    """Create the group (online + offline) when missing; wait until Created; return its
    Glue database and table and its ARN."""
    try:
        described = sm.describe_feature_group(FeatureGroupName=name)
    except sm.exceptions.ResourceNotFound:
        sm.create_feature_group(
            FeatureGroupName=name,
            RecordIdentifierFeatureName=record_id,
            EventTimeFeatureName=event_time,
            FeatureDefinitions=schema.feature_definitions(columns),
            OnlineStoreConfig={"EnableOnlineStore": True},
            OfflineStoreConfig={"S3StorageConfig": {"S3Uri": offline_uri}},
            RoleArn=role_arn,
            Description=f"hotel-cluster use case: {', '.join(columns[:4])} ...",
        )
        described = sm.describe_feature_group(FeatureGroupName=name)
    deadline = time.monotonic() + CREATE_TIMEOUT_S
    while described["FeatureGroupStatus"] == "Creating" and time.monotonic() < deadline:
        time.sleep(0.5)
        described = sm.describe_feature_group(FeatureGroupName=name)
    if described["FeatureGroupStatus"] != "Created":
        raise FeatureGroupFailed(
            f"feature group {name}: {described['FeatureGroupStatus']} "
            f"({described.get('FailureReason', 'no reason given')})"
        )
    have = [d["FeatureName"] for d in described["FeatureDefinitions"]]
    if have != list(columns):
        raise FeatureGroupFailed(
            f"feature group {name} exists with features {have[:4]}...; this code needs "
            f"{list(columns[:4])}...: delete the group or choose another name"
        )
    catalog = described["OfflineStoreConfig"]["DataCatalogConfig"]
    return {
        "Database": catalog["Database"],
        "TableName": catalog["TableName"],
        "Arn": described["FeatureGroupArn"],
    }


def records(frame: pd.DataFrame, columns: tuple[str, ...]) -> list[list[dict[str, str]]]:
    """PutRecord's Record for every row (a missing value is left out: null)."""
    out = []
    for row in frame[list(columns)].itertuples(index=False):
        out.append(
            [
                {"FeatureName": name, "ValueAsString": _text(value, schema.feature_type(name))}
                for name, value in zip(columns, row, strict=True)
                if not (isinstance(value, float) and np.isnan(value))
            ]
        )
    return out


def put_all(runtime: Any, group: str, frame: pd.DataFrame, columns: tuple[str, ...]) -> None:
    def put(record: list[dict[str, str]]) -> None:
        runtime.put_record(FeatureGroupName=group, Record=record)

    with ThreadPoolExecutor(PUT_THREADS) as pool:
        list(pool.map(put, records(frame, columns)))


def _text(value: Any, feature_type: str) -> str:
    if feature_type == "Integral":
        return str(int(value))
    if isinstance(value, float | np.floating):
        return repr(float(value))
    if isinstance(value, np.integer):
        return str(int(value))
    return str(value)
