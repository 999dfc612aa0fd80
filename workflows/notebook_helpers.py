"""What the walkthrough notebook needs beyond the SDK: clients of a target, a live graph.

The notebook runs against the local server (``TARGET = "local"``) or AWS (``"aws"``) with
the same code: :func:`connect` returns a :class:`Backend` of boto3 clients, pointed at the
server's URL or at AWS.  The backend has the attributes ``workflows.local`` works with
(``stepfunctions``, ``lambda_``, ``sagemaker``, ``sagemaker_runtime``, ``storage``), whose
methods raise :class:`localaws.errors.ServiceError` like the in-process runtime does, so
registering the Lambdas and uploading data reuse the CLI's own functions.
"""

from __future__ import annotations

import io
import json
import tarfile
import time
from dataclasses import dataclass
from typing import Any

from localaws import config
from localaws.asl.graph import Graph, render_svg, statuses_from_history
from localaws.errors import ServiceError
from localaws.lambdakit.storage import S3Storage

TARGETS = ("local", "aws")
TERMINAL = frozenset({"SUCCEEDED", "FAILED", "TIMED_OUT", "ABORTED"})
# Dummy credentials for the local server, which does not check signatures.


class _Translating:
    """A boto3 client whose ``ClientError`` becomes :class:`ServiceError` (code, message)."""

    def __init__(self, client: Any):
        self._client = client

    def __getattr__(self, name: str) -> Any:
        method = getattr(self._client, name)
        if not callable(method):
            return method

        def call(*args: Any, **kwargs: Any) -> Any:
            from botocore.exceptions import ClientError

            try:
                return method(*args, **kwargs)
            except ClientError as e:
                error = e.response.get("Error", {})
                status = e.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 400)
                raise ServiceError(
                    error.get("Code", "Unknown"), error.get("Message", str(e)), status=status
                ) from e

        return call


@dataclass
class Backend:
    """boto3 clients of one target, shaped like the local runtime's backends."""

    target: str
    region: str
    endpoint_url: str | None
    session: Any

    def client(self, service: str) -> Any:
        """A plain boto3 client of this target (for the SDK's ``Workflow``)."""
        extra = {"endpoint_url": self.endpoint_url} if self.endpoint_url else {}
        return self.session.client(service, **extra)

    def __post_init__(self) -> None:
        self.stepfunctions = _Translating(self.client("stepfunctions"))
        self.lambda_ = _Translating(self.client("lambda"))
        self.sagemaker = _Translating(self.client("sagemaker"))
        self.sagemaker_runtime = _Translating(self.client("sagemaker-runtime"))
        self.storage = S3Storage(self.client("s3"))
        self.account_id = config.account_id() if self.target == "local" else self._aws_account_id()

    def _aws_account_id(self) -> str:
        return str(self.session.client("sts").get_caller_identity()["Account"])

    def arn(self, service: str, resource: str) -> str:
        partition = "aws"
        return f"arn:{partition}:{service}:{self.region}:{self.account_id}:{resource}"


def connect(target: str, *, endpoint_url: str | None = None, region: str | None = None) -> Backend:
    """Clients of the local server at ``endpoint_url`` (``target="local"``) or of AWS."""
    import boto3

    if target not in TARGETS:
        raise ValueError(f"TARGET: {target!r} is not one of {', '.join(TARGETS)}")
    region = region or config.region()
    if target == "local":
        url = endpoint_url or f"http://{config.DEFAULT_HOST}:{config.DEFAULT_PORT}"
        from localaws.server.sigv4 import client_credentials

        key, secret = client_credentials()
        session = boto3.Session(
            region_name=region, aws_access_key_id=key, aws_secret_access_key=secret
        )
        return Backend(target, region, url, session)
    return Backend(target, region, None, boto3.Session(region_name=region))


def ensure_bucket(backend: Backend, bucket: str) -> None:
    """Create the data bucket on the local server when it does not exist yet."""
    from botocore.exceptions import ClientError

    s3 = backend.client("s3")
    try:
        s3.head_bucket(Bucket=bucket)
    except ClientError as e:
        if e.response.get("Error", {}).get("Code") not in ("404", "NoSuchBucket", "NotFound"):
            raise
        s3.create_bucket(Bucket=bucket)


# -- watching an execution ----------------------------------------------------------------


def progress_graph(
    definition: dict[str, Any], events: list[dict[str, Any]], title: str = ""
) -> Graph:
    """The definition's SVG, coloured by the states' status in ``events``."""
    return Graph(render_svg(definition, statuses_from_history(events), title=title))


def watch(
    execution: Any,
    definition: dict[str, Any],
    *,
    poll_seconds: float = 1.0,
    timeout: float = 900,
) -> dict[str, Any]:
    """Show the execution's graph and redraw it until the execution ends; return Describe.

    ``execution`` is the SDK's ``stepfunctions.workflow.Execution``.
    """
    from IPython.display import display

    handle = display(progress_graph(definition, []), display_id=True)
    deadline = time.monotonic() + timeout
    while True:
        desc = execution.describe()
        events = execution.list_events()
        title = f"{desc['name']}: {desc['status']}"
        if handle is not None:
            handle.update(progress_graph(definition, events, title))
        if desc["status"] in TERMINAL or time.monotonic() > deadline:
            return dict(desc)
        time.sleep(poll_seconds)


def state_table(events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One row per state: its status and seconds from entry to exit."""
    statuses = statuses_from_history(events)
    entered: dict[str, Any] = {}
    rows: dict[str, dict[str, Any]] = {}
    for event in events:
        details = event.get("stateEnteredEventDetails") or event.get("stateExitedEventDetails")
        if not details:
            continue
        name, ts = details["name"], event["timestamp"]
        if "stateEnteredEventDetails" in event:
            entered[name] = ts
            rows[name] = {"state": name, "status": statuses.get(name), "seconds": None}
        elif name in entered:
            rows[name]["seconds"] = round((ts - entered[name]).total_seconds(), 2)
    return list(rows.values())


# -- reading what the workflow wrote ------------------------------------------------------


def load_booster(storage: Any, artifact_uri: str) -> Any:
    """The XGBoost booster in a SageMaker ``model.tar.gz`` (file ``xgboost-model``)."""
    import xgboost as xgb

    with tarfile.open(fileobj=io.BytesIO(storage.read(artifact_uri))) as tar:
        member = tar.extractfile("xgboost-model")
        if member is None:
            raise ValueError(f"{artifact_uri}: no xgboost-model file in the archive")
        raw = member.read()
    booster = xgb.Booster()
    booster.load_model(bytearray(raw))
    return booster


def read_json(storage: Any, uri: str) -> Any:
    return json.loads(storage.read(uri))


def predictions(backend: Backend, table: str) -> Any:
    """The predictions table (DynamoDB: the local server's or AWS's) as a DataFrame ordered by
    timestamp, with ``score`` a float and ``features`` a list."""
    import pandas as pd
    from boto3.dynamodb.types import TypeDeserializer

    client, decode = backend.client("dynamodb"), TypeDeserializer().deserialize
    rows = []
    for page in client.get_paginator("scan").paginate(TableName=table):
        for item in page["Items"]:
            row = {k: decode(v) for k, v in item.items()}
            row["score"] = float(row["score"])
            row["features"] = json.loads(row["features"])
            rows.append(row)
    frame = pd.DataFrame(rows)
    return frame.sort_values("timestamp", ignore_index=True) if rows else frame
