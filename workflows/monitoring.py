"""Run a Model Monitor schedule now, wherever the state directory is served.

In this process (nobody owns the state directory) the runtime runs one execution of the
schedule directly (:meth:`localaws.sagemaker.monitor.MonitoringApi.run_monitoring_schedule`,
the window: the last hour).  Through a server, the way AWS offers: a one-time copy of the
schedule (``ScheduleExpression: NOW`` over ``-PT1H`` .. ``-PT0H``) named
``<schedule>-now-<epoch>``, waited for and then deleted; its execution stays listed under
the copy's name.
"""

from __future__ import annotations

import copy
import time
from typing import Any

TERMINAL = ("Completed", "CompletedWithViolations", "Failed", "Stopped")


def run_schedule_now(backend: Any, name: str, *, timeout: float = 3600.0) -> dict[str, Any]:
    """One execution of schedule ``name`` over the last hour; its MonitoringExecutionSummary."""
    sagemaker = backend.sagemaker
    run = getattr(sagemaker, "run_monitoring_schedule", None)
    if run is not None:
        return dict(run(MonitoringScheduleName=name))
    described = sagemaker.describe_monitoring_schedule(MonitoringScheduleName=name)
    config = copy.deepcopy(described["MonitoringScheduleConfig"])
    config["ScheduleConfig"] = {
        "ScheduleExpression": "NOW",
        "DataAnalysisStartTime": "-PT1H",
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
