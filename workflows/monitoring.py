"""Run a Model Monitor schedule now, wherever the state directory is served.

In this process (nobody owns the state directory) the runtime runs one execution of the
schedule directly (:meth:`localaws.sagemaker.monitor.MonitoringApi.run_monitoring_schedule`,
the window: the last hour).  Through a server, the way AWS offers: a one-time copy of the
schedule (``ScheduleExpression: NOW`` over ``-PT1H`` .. ``-PT0H``) named
``<schedule>-now-<epoch>``, waited for and then deleted; its execution stays listed under
the copy's name.

:func:`drift_demo` is ``python -m workflows monitor predictive-maintenance [--drift]``: it sends
the latest run's test readings (shifted on three sensors with ``--drift``) to the pipeline
endpoint, which captures them, runs the data-quality schedule now over exactly that traffic
and returns its violations.
"""

from __future__ import annotations

import copy
import csv
import io
import json
import math
import random
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

TERMINAL = ("Completed", "CompletedWithViolations", "Failed", "Stopped")


def run_schedule_now(
    backend: Any, name: str, *, timeout: float = 3600.0, since: datetime | None = None
) -> dict[str, Any]:
    """One execution of schedule ``name`` over the last hour (or the time ``since``); its
    MonitoringExecutionSummary."""
    sagemaker = backend.sagemaker
    run = getattr(sagemaker, "run_monitoring_schedule", None)
    if run is not None:
        window = {}
        if since is not None:  # from then to now (the window's end is exclusive)
            window = {
                "DataAnalysisStartTime": since,
                "DataAnalysisEndTime": datetime.now(UTC) + timedelta(seconds=1),
            }
        return dict(run(MonitoringScheduleName=name, **window))
    described = sagemaker.describe_monitoring_schedule(MonitoringScheduleName=name)
    config = copy.deepcopy(described["MonitoringScheduleConfig"])
    config["ScheduleConfig"] = {
        "ScheduleExpression": "NOW",
        "DataAnalysisStartTime": "-PT1H" if since is None else _offset(since),
        "DataAnalysisEndTime": "-PT0H",
    }
    once = f"{name[:40]}-now-{int(time.time())}"
    sagemaker.create_monitoring_schedule(
        MonitoringScheduleName=once, MonitoringScheduleConfig=config
    )
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            found = sagemaker.list_monitoring_executions(MonitoringScheduleName=once)
            for execution in found["MonitoringExecutionSummaries"]:
                if execution["MonitoringExecutionStatus"] in TERMINAL:
                    return dict(execution)
            time.sleep(0.5)
        raise TimeoutError(f"monitoring schedule {once} did not finish within {timeout:.0f} s")
    finally:
        sagemaker.delete_monitoring_schedule(MonitoringScheduleName=once)


def _offset(since: datetime) -> str:
    """``since`` as a NOW schedule's start offset, rounded up and one second earlier: the
    server places it before its own clock's now, which is later than ours."""
    seconds = max(math.ceil((datetime.now(UTC) - since).total_seconds()) + 1, 1)
    return f"-PT{seconds}S"


def window_start() -> datetime:
    """The start of a window holding only the traffic sent from now on.

    Captured events carry their inferenceTime to the second, so earlier traffic (the previous
    demo's, a moment ago) is kept out by starting at a whole second at least two seconds after
    the last second it can carry; this waits until that second has begun."""
    now = datetime.now(UTC)
    start = now.replace(microsecond=0) + timedelta(seconds=2)
    time.sleep(max((start - datetime.now(UTC)).total_seconds(), 0.0))
    return start


# -- the predictive-maintenance drift demo ---------------------------------------------------

# Shifts of the drifted readings: a hotter hall, faster spindles, tools run past their life.
DRIFT = {"Air temperature": 6.0, "Rotational speed": 400.0, "Tool wear": 120.0}
READING = (
    "Type",
    "Air temperature",
    "Process temperature",
    "Rotational speed",
    "Torque",
    "Tool wear",
)
BATCH = 100  # readings per InvokeEndpoint request


@dataclass
class MonitorReport:
    """What one demo run sent and what the monitor found."""

    endpoint: str
    schedule: str
    drifted: bool
    readings: int
    execution: dict[str, Any]
    violations: list[dict[str, Any]] = field(default_factory=list)
    report_uri: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return {
            "endpoint": self.endpoint,
            "schedule": self.schedule,
            "drifted": self.drifted,
            "readings": self.readings,
            "status": self.execution.get("MonitoringExecutionStatus"),
            "violations": self.violations,
            "report_uri": self.report_uri,
        }


def latest_readings_uri(target: Any, settings: Any) -> str:
    """The test readings of the latest successful pipeline run."""
    from localaws.errors import UserError
    from workflows import predictive_maintenance_pipeline as pipeline
    from workflows.local import state_machine_arn

    arn = state_machine_arn(target, settings.name)
    try:
        found = target.stepfunctions.list_executions(
            stateMachineArn=arn, statusFilter="SUCCEEDED", maxResults=20
        )["executions"]
    except Exception as e:
        raise UserError(
            f"no runs of {settings.name!r} yet; start one with `python -m workflows run` "
            "(featurizer.mode: pipeline)"
        ) from e
    for execution in found:
        described = target.stepfunctions.describe_execution(executionArn=execution["executionArn"])
        given = json.loads(described.get("input") or "{}")
        if "FeaturizerJobName" in given:
            return str(given["PreparedDataUri"]) + pipeline.SAMPLES_FILE
    raise UserError(
        f"no successful pipeline run of {settings.name!r}: monitoring needs the pipeline "
        "endpoint; run `python -m workflows run` with featurizer.mode: pipeline"
    )


def readings(text: str, *, drift: bool, limit: int, seed: int) -> list[list[str]]:
    """Up to ``limit`` readings (a seeded sample), shifted on the DRIFT sensors when ``drift``."""
    rows = [r for r in csv.reader(io.StringIO(text)) if r]
    if len(rows) > limit:
        rows = random.Random(seed).sample(rows, limit)
    if not drift:
        return rows
    shifted = []
    for row in rows:
        row = list(row)
        for name, delta in DRIFT.items():
            i = READING.index(name)
            row[i] = f"{float(row[i]) + delta:.10g}"
        shifted.append(row)
    return shifted


def drift_demo(
    target: Any, settings: Any, *, drift: bool, limit: int = 2000, seed: int = 0
) -> MonitorReport:
    """Send readings to the endpoint, run the monitoring schedule over them, read its report."""
    endpoint = settings.endpoint.name
    uri = latest_readings_uri(target, settings)
    rows = readings(target.storage.read(uri).decode(), drift=drift, limit=limit, seed=seed)
    since = window_start()
    for start in range(0, len(rows), BATCH):
        body = "\n".join(",".join(r) for r in rows[start : start + BATCH]).encode()
        target.sagemaker_runtime.invoke_endpoint(
            EndpointName=endpoint, ContentType="text/csv", Accept="text/csv", Body=body
        )
    # The analyzer's window ends before the second in which the schedule runs (its times are
    # to the second, the end excluded): let the second of the last request pass first.
    last = datetime.now(UTC)
    time.sleep(max((last.replace(microsecond=0) + timedelta(seconds=1) - last).total_seconds(), 0))
    execution = run_schedule_now(target, settings.monitoring.schedule, since=since)
    report = MonitorReport(endpoint, settings.monitoring.schedule, drift, len(rows), execution)
    job_arn = execution.get("ProcessingJobArn")
    if job_arn:
        job = target.sagemaker.describe_processing_job(ProcessingJobName=job_arn.rsplit("/", 1)[1])
        output = job["ProcessingOutputConfig"]["Outputs"][0]["S3Output"]["S3Uri"].rstrip("/")
        report.report_uri = f"{output}/constraint_violations.json"
        if target.storage.exists(report.report_uri):
            found = json.loads(target.storage.read(report.report_uri))
            report.violations = [
                {
                    "feature": v.get("feature_name", ""),
                    "check": v.get("constraint_check_type", ""),
                    "description": v.get("description", ""),
                }
                for v in found.get("violations", [])
            ]
    return report
