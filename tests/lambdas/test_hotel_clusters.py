"""The hotel-cluster Lambdas' plain functions: cleaning, derived features, PCA, decoding a
streamed search, the model's CSV row, the endpoint's answer."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hotel_clusters import ingest, schema, stream

from workflows import hotel_data

EVENTS = Path(__file__).resolve().parents[2] / "lambdas" / "events"


def _raw(**overrides: object) -> pd.DataFrame:
    row: dict[str, object] = {c: 1 for c in hotel_data.EVENT_COLUMNS}
    row.update(
        date_time="2014-08-01 10:00:00",  # a Friday
        srch_ci="2014-08-09",  # Saturday
        srch_co="2014-08-12",  # Tuesday
        orig_destination_distance=12.5,
        is_booking=1,
    )
    row.update(overrides)
    return pd.DataFrame([row])


def test_clean_keeps_bookings_with_distance_and_dates_and_writes_iso_times() -> None:
    raw = pd.concat(
        [
            _raw(),
            _raw(is_booking=0),
            _raw(orig_destination_distance=np.nan),
            _raw(srch_ci=None),
            _raw(srch_co="2014-08-01"),  # check-out before check-in
        ],
        ignore_index=True,
    )
    cleaned = ingest.clean(raw)
    assert len(cleaned) == 1
    assert cleaned["date_time"].tolist() == ["2014-08-01T10:00:00Z"]


def test_derived_features() -> None:
    derived = ingest.derive(ingest.clean(_raw()))
    row = derived.iloc[0]
    assert (row["duration"], row["days_to_trip"]) == (3, 8)
    assert (row["start_of_trip_weekend"], row["end_of_trip_weekend"]) == (1, 0)
    assert list(derived.columns) == list(schema.CUSTOMER_COLUMNS)


def test_sample_users_keeps_every_row_of_the_chosen_users() -> None:
    frame = pd.DataFrame({"user_id": [1, 1, 2, 3, 3, 3, 4], "x": range(7)})
    sampled = ingest.sample_users(frame, 2, seed=1)
    assert sampled["user_id"].nunique() == 2
    for user in sampled["user_id"].unique():
        assert (sampled["user_id"] == user).sum() == (frame["user_id"] == user).sum()
    assert len(ingest.sample_users(frame, 0, seed=1)) == len(frame)


def test_pca_components_separate_the_destination_types() -> None:
    data = hotel_data.generate(200, seed=3, destinations=60)
    pcs = ingest.components(data.destinations)
    assert list(pcs.columns) == [schema.DESTINATION_ID, *schema.COMPONENTS]
    # Destinations of one type sit together: the spread within a type is small against the
    # spread between types, in the first two components.
    first_ids = data.events.drop_duplicates("srch_destination_id")
    clusters = first_ids.set_index("srch_destination_id")["hotel_cluster"] // 10
    joined = pcs.set_index(schema.DESTINATION_ID).join(clusters, how="inner")
    within = joined.groupby("hotel_cluster")[["pc1", "pc2"]].std().mean().mean()
    between = joined[["pc1", "pc2"]].std().mean()
    assert within < between / 3


def _search() -> dict[str, object]:
    return json.loads((EVENTS / "hotel_stream_kinesis.json").read_text())["search"]


def test_decode_a_search_event() -> None:
    search = _search()
    data = base64.b64encode(json.dumps(search).encode()).decode()
    decoded = stream.decode(data, "Records[0]")
    assert list(decoded) == list(schema.STREAM_FIELDS)
    assert decoded["user_id"] == search["user_id"]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("{not json", "not JSON"),
        ("[1, 2]", "JSON object"),
        (json.dumps({"site_name": 2}), "missing"),
        (json.dumps({**_search(), "channel": "nine"}), "channel"),
        (json.dumps({**_search(), "srch_rm_cnt": 1.5}), "not an integer"),
        (json.dumps({**_search(), "is_mobile": True}), "is_mobile"),
    ],
    ids=["not-json", "array", "missing-fields", "text-value", "fraction", "boolean"],
)
def test_a_bad_search_event_is_refused_naming_the_field(text: str, message: str) -> None:
    with pytest.raises(stream.BadSearchEvent, match=message):
        stream.decode_text(text, "Records[3]")


def test_the_model_row_is_the_event_without_the_user_then_the_components() -> None:
    search = stream.decode_text(json.dumps(_search()), "body")
    row = stream.csv_row(search, ["0.5", "-1.25", "2.0"]).split(",")
    assert len(row) == len(schema.MODEL_FEATURES)
    assert row[-3:] == ["0.5", "-1.25", "2.0"]
    assert "user_id" not in schema.MODEL_FEATURES
    assert row[schema.MODEL_FEATURES.index("hotel_market")] == str(search["hotel_market"])
    # An unknown destination leaves the components empty: XGBoost's missing value.
    assert stream.csv_row(search, None).endswith(",,,")


def test_the_endpoint_answer_is_one_class_per_row() -> None:
    assert stream.parse_predictions(b"12.0\n3.0\n", 2) == [12, 3]
    with pytest.raises(stream.EndpointError, match="1 predictions for 2 rows"):
        stream.parse_predictions(b"12.0", 2)
