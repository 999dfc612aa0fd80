"""Job and endpoint log files become CloudWatch Logs streams under the names the SageMaker
SDK reads (an in-process runtime: its own module, as moto's backends are one per process)."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from wiring_support import wait_for

from localaws.errors import ServiceError
from localaws.runtime import Runtime

TRAINING_GROUP = "/aws/sagemaker/TrainingJobs"


def test_job_and_endpoint_log_files_become_sagemaker_log_streams(tmp_path: Path) -> None:
    """The names the SageMaker SDK's ``logs_for_job`` reads: group
    ``/aws/sagemaker/TrainingJobs``, streams ``<job>/algo-1-<epoch>`` read from the head."""
    training = tmp_path / "logs" / "training" / "job-1.log"
    training.parent.mkdir(parents=True)
    training.write_text("[0]\ttrain-rmse:0.4\n[1]\ttrain-rmse:0.3\npartial line")
    server_log = tmp_path / "hosting" / "ep-1" / "20260101T000000-abc" / "AllTraffic" / "server.log"
    server_log.parent.mkdir(parents=True)
    server_log.write_text("model loaded\n")
    with Runtime(tmp_path) as rt:
        logs = rt.logs

        def streams(group: str, prefix: str) -> list[dict[str, Any]]:
            try:
                return list(
                    logs.describe_log_streams(logGroupName=group, logStreamNamePrefix=prefix)[
                        "logStreams"
                    ]
                )
            except ServiceError:
                return []

        [stream] = wait_for("the job's stream", lambda: streams(TRAINING_GROUP, "job-1/"))
        assert stream["logStreamName"].startswith("job-1/algo-1-")

        def events() -> list[dict[str, Any]]:
            return list(
                logs.get_log_events(
                    logGroupName=TRAINING_GROUP,
                    logStreamName=stream["logStreamName"],
                    startFromHead=True,
                )["events"]
            )

        got = wait_for("the job's lines", events)  # the stream is created before its events
        assert [e["message"] for e in got] == [
            "[0]\ttrain-rmse:0.4",
            "[1]\ttrain-rmse:0.3",
        ]
        # lines written seconds later go on in the same stream (st_ctime moved on meanwhile)
        time.sleep(1.1)
        with training.open("a") as fh:
            fh.write("\n[2]\ttrain-rmse:0.2\n")
        more = wait_for("the later lines", lambda: events()[3:])
        assert [e["message"] for e in more] == ["[2]\ttrain-rmse:0.2"]
        assert [s["logStreamName"] for s in streams(TRAINING_GROUP, "job-1/")] == [
            stream["logStreamName"]
        ]
        [endpoint] = wait_for(
            "the endpoint's stream", lambda: streams("/aws/sagemaker/Endpoints/ep-1", "AllTraffic/")
        )
        assert endpoint["logStreamName"] == "AllTraffic/20260101T000000-abc"
