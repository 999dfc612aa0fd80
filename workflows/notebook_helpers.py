"""What the walkthrough notebook needs beyond the SDK: a target, a live graph, a table.

The notebook runs against the local server (``TARGET = "local"``) or AWS (``"aws"``) with
the same code: :func:`connect` returns a :class:`workflows.target.Target` (boto3 clients of
the server's URL, or of AWS), so registering the Lambdas and uploading data reuse the CLI's
own functions.  The graph and the state table render :func:`localaws.asl.fold.fold`, and
:func:`watch` follows through the same loop as the CLI (:func:`workflows.target.follow_execution`).
"""

from __future__ import annotations

import io
import json
import tarfile
from typing import Any

from localaws import config
from localaws.asl.fold import fold
from localaws.asl.graph import Graph, render_execution, render_svg
from workflows.target import AwsTarget, ExecutionView, ServerTarget, Target, follow_execution

__all__ = [
    "Graph",
    "connect",
    "ensure_bucket",
    "progress_graph",
    "render_svg",
    "state_table",
    "watch",
]

TARGETS = ("local", "aws")


def connect(target: str, *, endpoint_url: str | None = None, region: str | None = None) -> Target:
    """The local server at ``endpoint_url`` (``target="local"``), or AWS."""
    import boto3

    if target not in TARGETS:
        raise ValueError(f"TARGET: {target!r} is not one of {', '.join(TARGETS)}")
    if target == "local":
        url = endpoint_url or f"http://{config.DEFAULT_HOST}:{config.DEFAULT_PORT}"
        return ServerTarget(url, region=region)
    return AwsTarget(boto3.Session(region_name=region or config.region()))


def ensure_bucket(target: Target, bucket: str) -> None:
    """Create the data bucket on the local server when it does not exist yet."""
    target.ensure_bucket(bucket)


# -- watching an execution ----------------------------------------------------------------


def progress_graph(
    definition: dict[str, Any], events: list[dict[str, Any]], title: str = ""
) -> Graph:
    """The definition's SVG, coloured by the fold of ``events``."""
    return Graph(render_execution(definition, events, title=title))


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

    handle = display(Graph(render_svg(definition)), display_id=True)
    sfn = execution.client

    def redraw(view: ExecutionView) -> None:
        if handle is not None:
            graph = Graph(
                render_svg(definition, _statuses(view), title=f"{view.name}: {view.status}")
            )
            handle.update(graph)

    follow_execution(
        sfn, execution.execution_arn, redraw, poll_seconds=poll_seconds, timeout=timeout
    )
    return dict(sfn.describe_execution(executionArn=execution.execution_arn))


def _statuses(view: ExecutionView) -> dict[str, str]:
    return {v.name: v.status.value for v in view.states}


def state_table(events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One row per state visit (nested ones indented): status, attempts, seconds, error."""
    return [
        {
            "state": "  " * v.depth + v.name,
            "status": v.status.value,
            "attempts": v.attempts,
            "seconds": None if v.seconds is None else round(v.seconds, 2),
            "error": v.error,
        }
        for v in fold(events)
    ]


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


def predictions(target: Target, table: str) -> Any:
    """The predictions table (DynamoDB: the local server's or AWS's) as a DataFrame ordered by
    timestamp, with ``score`` a float and ``features`` a list."""
    import pandas as pd
    from boto3.dynamodb.types import TypeDeserializer

    assert isinstance(target, ServerTarget | AwsTarget), "the notebook connects through boto3"
    client, decode = target.client("dynamodb"), TypeDeserializer().deserialize
    rows = []
    for page in client.get_paginator("scan").paginate(TableName=table):
        for item in page["Items"]:
            row = {k: decode(v) for k, v in item.items()}
            row["score"] = float(row["score"])
            row["features"] = json.loads(row["features"])
            rows.append(row)
    frame = pd.DataFrame(rows)
    return frame.sort_values("timestamp", ignore_index=True) if rows else frame
