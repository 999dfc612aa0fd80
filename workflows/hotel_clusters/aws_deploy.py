"""The hotel-cluster use case on AWS: ``deploy hotel-clusters`` and ``execute hotel-clusters
--target aws``.

* :func:`deploy`: the Lambda package uploaded, then the stack of ``cfn/hotel-clusters.yaml``
  (rendered by :mod:`workflows.hotel_clusters.aws`) created or updated with parameters from
  the settings, through the same path as every stack (:func:`workflows.aws.deploy_template`).
* :func:`execute`: the data (generated, or ``--data DIR``) and the evaluation scripts uploaded
  to the stack's bucket, then the stack's ingestion state machine, then its training state
  machine with ingestion's result, each started and followed through
  :class:`workflows.target.AwsTarget` (the CLI's own start / follow / summary path); then,
  as a local run does, a sample of the test split streamed through the stack's Kinesis
  stream (with one poisoned record) and read back from its table (:func:`stream_test_events`).

Names come from the stack's outputs (bucket, SageMaker role, table, stream); the settings
that the stack fixes as parameters (feature groups, endpoint) must agree with them.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from localaws.errors import UserError
from workflows.errors import ExitCode
from workflows.hotel_clusters import workflow as wf
from workflows.hotel_clusters.workflow import HotelSettings
from workflows.target import AwsTarget, Printer, ProgressLines, new_run_id, summary_lines

STREAM_LIMIT = 200  # test events streamed after training, as a local run does
STREAM_WAIT_S = 300.0  # for their items, without --timeout

# Settings a stack fixes as parameters: settings field -> (stack parameter, stack output).
STACK_FIXED = {
    "customers_group": ("CustomersFeatureGroup", "CustomersFeatureGroupName"),
    "destinations_group": ("DestinationsFeatureGroup", "DestinationsFeatureGroupName"),
    "endpoint": ("EndpointName", "EndpointName"),
}


def stack_parameters(
    s: HotelSettings, overrides: Mapping[str, str] | None = None
) -> dict[str, str]:
    """The stack's parameters from the settings; ``overrides`` (``--parameter K=V``) win.
    ``ProjectName`` is the use case's name: job, model and model-package-group names in the
    execution input start with it, and the state machine's role allows only those."""
    params = {"ProjectName": wf.NAME}
    params.update({param: getattr(s, key) for key, (param, _) in STACK_FIXED.items()})
    params.update(overrides or {})
    return params


def deploy(
    session: Any,
    s: HotelSettings,
    *,
    stack_name: str = wf.NAME,
    code_bucket: str | None = None,
    parameters: Mapping[str, str] | None = None,
    out: Printer = print,
    waiter_delay: int = 10,
) -> dict[str, str]:
    """Create or update the hotel-cluster stack; returns its outputs."""
    from workflows import aws
    from workflows.hotel_clusters import aws as template

    return aws.deploy_template(
        session,
        template.render(),
        stack_name=stack_name,
        project_name=wf.NAME,
        parameters=stack_parameters(s, parameters),
        code_bucket=code_bucket,
        out=out,
        waiter_delay=waiter_delay,
    )


def aws_settings(s: HotelSettings, outputs: Mapping[str, str], region: str) -> HotelSettings:
    """The settings with the stack's region, bucket, SageMaker role, table and stream."""
    if outputs.get("ProjectName") != wf.NAME:
        raise UserError(
            f"stack parameter ProjectName: {outputs.get('ProjectName')!r}; the execution input "
            f"names jobs and models {wf.NAME}-..., which the stack's role allows only with "
            f"ProjectName {wf.NAME}: deploy again without --parameter ProjectName"
        )
    if s.model_package_group != wf.NAME:
        raise UserError(
            f"{wf.SECTION}.model_package_group: {s.model_package_group!r}; the stack's role "
            f"allows only the group {wf.NAME}: remove it from the configuration"
        )
    for key, (param, output) in STACK_FIXED.items():
        if getattr(s, key) != outputs[output]:
            raise UserError(
                f"{wf.SECTION}.{key}: {getattr(s, key)!r}, but the stack's {param} is "
                f"{outputs[output]!r}; use the same configuration for deploy and execute"
            )
    return dataclasses.replace(
        s,
        region=region,
        bucket=outputs["DataBucketName"],
        sagemaker_role=outputs["SageMakerExecutionRoleArn"],
        table=outputs["PredictionsTableName"],
        stream=outputs["SearchStreamName"],
    )


def execute(
    session: Any,
    s: HotelSettings,
    *,
    stack_name: str = wf.NAME,
    run_id: str | None = None,
    data_dir: str | Path | None = None,
    timeout: float | None = None,
    poll_seconds: float = 5.0,
    stream_limit: int = STREAM_LIMIT,
    out: Printer = print,
) -> ExitCode:
    """Upload the data, run ingestion, then training on the stack, then stream a sample of
    the test split through the stack's stream; returns the exit code."""
    from workflows import aws, hotel_data
    from workflows.hotel_clusters import run

    target = AwsTarget(session)
    outputs = aws.stack_outputs(target.client("cloudformation"), stack_name)
    s = aws_settings(s, outputs, target.region)
    run_id = run_id or new_run_id()
    deadline = None if timeout is None else time.monotonic() + timeout

    data = (
        hotel_data.read(data_dir) if data_dir is not None else hotel_data.generate(s.rows, s.seed)
    )
    inputs = run.upload_data(target, s, run_id, data)
    out(
        f"uploaded {len(data.events):,} events and {len(data.destinations):,} destinations "
        f"to {s.uri('raw', run_id)}/"
    )

    def follow(state_machine: str, execution_input: dict[str, Any]) -> Any:
        arn = target.start(outputs[state_machine], execution_input, name=run_id)
        out(f"started execution {arn}")
        left = None if deadline is None else max(0.0, deadline - time.monotonic())
        view = target.follow(arn, ProgressLines(out), poll_seconds=poll_seconds, timeout=left)
        for line in summary_lines(view, timeout=timeout):
            out(line)
        return view

    ingestion = follow("IngestionStateMachineArn", inputs)
    if ingestion.status != "SUCCEEDED":
        return ingestion.exit_code
    training = follow(
        "TrainingStateMachineArn",
        training_input(target, s, run_id, ingestion.output["ingest"]["Payload"]),
    )
    if training.status != "SUCCEEDED":
        return training.exit_code
    metrics = training.output["evaluation"]["metrics"]
    out(
        f"test accuracy {metrics['accuracy']:.4f}, top-5 accuracy "
        f"{metrics['top5_accuracy']:.4f}; endpoint {s.endpoint}; stream "
        f"{s.stream} -> table {s.table}"
    )
    left = STREAM_WAIT_S if deadline is None else max(1.0, deadline - time.monotonic())
    summary = stream_test_events(
        target,
        s,
        outputs,
        training.output["training_set"]["Payload"]["test_events_uri"],
        limit=stream_limit,
        timeout=left,
        out=out,
    )
    complete = summary["items"] == summary["events"] and summary["failure_destination_messages"]
    return ExitCode.OK if complete else ExitCode.FAILED


def stream_test_events(
    target: AwsTarget,
    s: HotelSettings,
    outputs: Mapping[str, str],
    test_events_uri: str,
    *,
    limit: int = STREAM_LIMIT,
    timeout: float = STREAM_WAIT_S,
    out: Printer = print,
) -> dict[str, Any]:
    """Put up to ``limit`` events of the test split (and one poisoned record) on the
    stack's stream; wait (up to ``timeout`` s) for an item per event in its table and the
    poisoned record's batch in its failure queue; returns :func:`run.summarize`'s result."""
    from workflows.hotel_clusters import run

    events = run.test_events(target, test_events_uri, limit)
    out(f"streaming {len(events)} test events and one poisoned record through {s.stream}")
    wiring = {"queue_url": outputs["FailedSearchesQueueUrl"]}
    summary = run.stream_events(target, s, events, wiring, timeout=timeout)
    out(run.stream_line(summary))
    if summary["items"] < summary["events"]:
        out(
            f"only {summary['items']} of {summary['events']} items reached table {s.table} "
            f"within {timeout:.0f} s: see the logs of {outputs['StreamFunctionName']} and "
            f"the mapping of {s.stream}"
        )
    return summary


def training_input(
    target: AwsTarget, s: HotelSettings, run_id: str, ingest: dict[str, Any]
) -> dict[str, Any]:
    """The training execution's input from ingestion's result; the endpoint is updated
    when it exists."""
    from workflows.hotel_clusters import run

    exists = run.endpoint_exists(target, s.endpoint)
    return wf.training_input(s, run_id, ingest, endpoint_exists=exists)
