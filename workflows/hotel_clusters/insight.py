"""Lineage and feature monitoring of the hotel-cluster use case, over any target.

* :func:`lineage`: QueryLineage from the endpoint's context back to the feature groups
  (feature groups -> training-set query -> data sets -> training job -> model -> deployment
  -> endpoint), with a label per vertex; :func:`lineage_lines` and :func:`lineage_svg` draw it.
* :func:`profile`: a processing job (``jobs/profile.py``) over a snapshot of a feature
  group's offline store (latest row per id) writes per-column statistics;
  :func:`ingest_shifted` puts shifted customer rows; :func:`drift` compares two profiles.
"""

from __future__ import annotations

import json
import secrets
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from localaws.errors import ServiceError, UserError
from workflows.hotel_clusters import workflow as wf
from workflows.hotel_clusters.workflow import HotelSettings
from workflows.target import Target

PROCESSING_ROOT = wf.PROCESSING_ROOT
DRIFT_THRESHOLD = 0.5  # |mean after - mean before| in standard deviations of before


# -- lineage ----------------------------------------------------------------------------


@dataclass
class Lineage:
    start: str
    vertices: list[dict[str, Any]]
    edges: list[dict[str, Any]]
    labels: dict[str, str]


def lineage(target: Target, endpoint: str) -> Lineage:
    """Everything the endpoint descends from, by the SageMaker lineage API."""
    sm = target.sagemaker
    arn = target.arn("sagemaker", f"endpoint/{endpoint.lower()}")
    contexts = sm.list_contexts(SourceUri=arn).get("ContextSummaries", [])
    if not contexts:
        raise UserError(
            f"no lineage for endpoint {endpoint}: deploy it first "
            "(`python -m workflows run hotel-clusters`)"
        )
    start = contexts[0]["ContextArn"]
    found = sm.query_lineage(
        StartArns=[start], Direction="Ascendants", IncludeEdges=True, MaxDepth=10
    )
    vertices = [
        {"Arn": start, "Type": "Endpoint", "LineageType": "Context"},
        *found.get("Vertices", []),
    ]
    labels = {v["Arn"]: _label(sm, v) for v in vertices}
    return Lineage(start, vertices, list(found.get("Edges", [])), labels)


def _label(sm: Any, vertex: dict[str, Any]) -> str:
    arn, kind = vertex["Arn"], vertex.get("LineageType")
    try:
        if kind == "Artifact":
            return str(sm.describe_artifact(ArtifactArn=arn)["Source"]["SourceUri"])
        if kind == "Action":
            return str(sm.describe_action(ActionName=arn.rsplit("/", 1)[-1])["ActionName"])
        if kind == "Context":
            described = sm.describe_context(ContextName=arn.rsplit("/", 1)[-1])
            return str(described["Source"]["SourceUri"].rsplit("/", 1)[-1])
    except ServiceError:
        pass
    return arn.rsplit("/", 1)[-1]


def lineage_lines(graph: Lineage) -> list[str]:
    """One line per edge, source to destination, ordered from the data to the endpoint."""
    from localaws.server.lineage_svg import _columns

    column = _columns([v["Arn"] for v in graph.vertices], graph.edges)
    kinds = {v["Arn"]: v.get("Type") or v.get("LineageType") for v in graph.vertices}

    def name(arn: str) -> str:
        return f"{kinds.get(arn, '?')} {graph.labels.get(arn, arn)}"

    ordered = sorted(
        graph.edges, key=lambda e: (column.get(e["SourceArn"], 0), name(e["SourceArn"]))
    )
    return [
        f"{name(e['SourceArn'])} -[{e.get('AssociationType', '')}]-> {name(e['DestinationArn'])}"
        for e in ordered
    ]


def lineage_svg(graph: Lineage, title: str = "hotel-clusters lineage") -> str:
    from localaws.server.lineage_svg import render_lineage_svg

    return render_lineage_svg(
        graph.vertices, graph.edges, graph.labels, highlight=graph.start, title=title
    )


# -- feature monitoring -----------------------------------------------------------------


def profile(
    target: Target,
    s: HotelSettings,
    group: str,
    *,
    label: str,
    id_column: str,
    time_column: str,
    timeout: float = 600.0,
) -> dict[str, Any]:
    """Run the profiling job over the group's offline store; its profile.json."""
    described = target.sagemaker.describe_feature_group(FeatureGroupName=group)
    offline = described["OfflineStoreConfig"]["S3StorageConfig"]["ResolvedOutputS3Uri"]
    name = f"hotel-profile-{label}-{secrets.token_hex(3)}"[:63]
    output = s.uri("profiles", name)
    code = s.uri("code", "profile.py")
    if not target.storage.exists(code):
        target.storage.write(code, (wf.JOBS_DIR / "profile.py").read_bytes())
    image = _image(s)
    target.sagemaker.create_processing_job(
        ProcessingJobName=name,
        RoleArn=s.sagemaker_role,
        AppSpecification={
            "ImageUri": image,
            "ContainerEntrypoint": ["python3", f"{PROCESSING_ROOT}/code/profile.py"],
            "ContainerArguments": [
                PROCESSING_ROOT,
                "--id-column",
                id_column,
                "--time-column",
                time_column,
                "--label",
                label,
            ],
        },
        ProcessingInputs=[
            _input("code", code, "code"),
            _input("offline-store", offline + "/", "input"),
        ],
        ProcessingOutputConfig={
            "Outputs": [
                {
                    "OutputName": "profile",
                    "S3Output": {
                        "S3Uri": output,
                        "LocalPath": f"{PROCESSING_ROOT}/profile",
                        "S3UploadMode": "EndOfJob",
                    },
                }
            ]
        },
        ProcessingResources={
            "ClusterConfig": {
                "InstanceCount": 1,
                "InstanceType": s.instance_type,
                "VolumeSizeInGB": 10,
            }
        },
        StoppingCondition={"MaxRuntimeInSeconds": 1800},
    )
    deadline = time.monotonic() + timeout
    while True:
        job = target.sagemaker.describe_processing_job(ProcessingJobName=name)
        status = job["ProcessingJobStatus"]
        if status == "Completed":
            break
        if status in ("Failed", "Stopped") or time.monotonic() > deadline:
            raise RuntimeError(f"profiling job {name}: {status}: {job.get('FailureReason', '')}")
        time.sleep(0.2)
    result: dict[str, Any] = json.loads(target.storage.read(f"{output}/profile.json"))
    result["job"] = name
    return result


def _image(s: HotelSettings) -> str:
    from workflows import sdk

    return str(sdk.sagemaker.image_uris.retrieve("xgboost", s.region, version=s.xgboost_version))


def _input(name: str, uri: str, local: str) -> dict[str, Any]:
    return {
        "InputName": name,
        "S3Input": {
            "S3Uri": uri,
            "LocalPath": f"{PROCESSING_ROOT}/{local}",
            "S3DataType": "S3Prefix",
            "S3InputMode": "File",
        },
    }


def ingest_shifted(
    target: Target,
    s: HotelSettings,
    events: list[dict[str, Any]],
    *,
    column: str = "days_to_trip",
    add: int = 365,
    timeout: float = 120.0,
) -> int:
    """Put a newer record for each event's user with ``column`` shifted by ``add``; wait
    until the offline store has written them all (its new Parquet objects hold as many rows:
    the store flushes on its own clock, so one new object may hold only the first few).
    Returns the number of records."""
    fs = target.backend("sagemaker-featurestore-runtime")
    described = target.sagemaker.describe_feature_group(FeatureGroupName=s.customers_group)
    offline = described["OfflineStoreConfig"]["S3StorageConfig"]["ResolvedOutputS3Uri"] + "/"
    before = set(target.storage.list(offline))
    now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    for event in events:
        fields = dict(event["event"])
        fields[column] = int(fields[column]) + add
        fs.put_record(
            FeatureGroupName=s.customers_group,
            Record=[
                {"FeatureName": k, "ValueAsString": str(v)}
                for k, v in {
                    **fields,
                    "date_time": now,
                    "hotel_cluster": event["hotel_cluster"],
                }.items()
                if v is not None
            ],
        )
    deadline = time.monotonic() + timeout
    counted: dict[str, int] = {}
    while True:
        for uri in set(target.storage.list(offline)) - before - counted.keys():
            if uri.endswith(".parquet"):
                counted[uri] = _parquet_rows(target.storage.read(uri))
        if sum(counted.values()) >= len(events):
            return len(events)
        if time.monotonic() > deadline:
            raise RuntimeError(
                f"{offline}: {sum(counted.values())} of {len(events)} records written "
                f"to the offline store after {timeout:.0f} s"
            )
        time.sleep(0.2)


def _parquet_rows(data: bytes) -> int:
    import pyarrow as pa
    import pyarrow.parquet as pq

    return int(pq.read_metadata(pa.BufferReader(data)).num_rows)


def drift(
    before: dict[str, Any], after: dict[str, Any], threshold: float = DRIFT_THRESHOLD
) -> list[dict[str, Any]]:
    """Per numeric column: the means, the shift in standard deviations of ``before``, and
    whether it exceeds ``threshold``."""
    rows = []
    for name, b in before["columns"].items():
        a = after["columns"].get(name) or {}
        if b.get("mean") is None or a.get("mean") is None:
            continue
        spread = b.get("std") or 1.0
        shift = abs(a["mean"] - b["mean"]) / spread
        rows.append(
            {
                "column": name,
                "mean_before": b["mean"],
                "mean_after": a["mean"],
                "shift_std": round(shift, 3),
                "drifted": shift > threshold,
            }
        )
    return rows
