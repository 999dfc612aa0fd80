"""The columns of the hotel-cluster use case, shared by its Lambdas: the one place that says
what the feature groups hold, what a streamed event is and what the model reads."""

from __future__ import annotations

from typing import Any

LABEL = "hotel_cluster"
CUSTOMER_ID = "user_id"
DESTINATION_ID = "srch_destination_id"
EVENT_TIME = "date_time"  # customers: the event's time, ISO-8601
DESTINATION_EVENT_TIME = "event_time"  # destinations: the ingestion time, ISO-8601
COMPONENTS = ("pc1", "pc2", "pc3")
DESTINATION_FEATURES = tuple(f"d{i}" for i in range(1, 150))

# A streamed event: the 22 fields of the sample's test split, in this order.
STREAM_FIELDS = (
    "site_name",
    "posa_continent",
    "user_location_country",
    "user_location_region",
    "user_location_city",
    "orig_destination_distance",
    "user_id",
    "is_mobile",
    "is_package",
    "channel",
    "srch_adults_cnt",
    "srch_children_cnt",
    "srch_rm_cnt",
    "srch_destination_id",
    "srch_destination_type_id",
    "hotel_continent",
    "hotel_country",
    "hotel_market",
    "duration",
    "days_to_trip",
    "start_of_trip_weekend",
    "end_of_trip_weekend",
)
FRACTIONAL_FIELDS = frozenset({"orig_destination_distance"})

# What the model reads, in order: the event's fields but the user id, then the components.
MODEL_FEATURES = tuple(f for f in STREAM_FIELDS if f != CUSTOMER_ID) + COMPONENTS

# The customers feature group: the event's fields, its time and the label.
CUSTOMER_COLUMNS = (EVENT_TIME, *STREAM_FIELDS, LABEL)
DESTINATION_COLUMNS = (DESTINATION_ID, *COMPONENTS, DESTINATION_EVENT_TIME)


def feature_type(name: str) -> str:
    if name in (EVENT_TIME, DESTINATION_EVENT_TIME):
        return "String"
    if name in FRACTIONAL_FIELDS or name in COMPONENTS:
        return "Fractional"
    return "Integral"


def feature_definitions(columns: tuple[str, ...]) -> list[dict[str, Any]]:
    return [{"FeatureName": c, "FeatureType": feature_type(c)} for c in columns]
