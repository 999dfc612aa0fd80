"""CloudWatch Logs written by what runs locally: Lambda invocations, SageMaker jobs, endpoints.

Lambda workers, training/processing/transform jobs and endpoint model servers write plain
log files in the state directory.  The shipper tails them and puts their new whole lines into
CloudWatch Logs (moto's, durable through the journal) under AWS's names, so
``aws logs tail /aws/lambda/<fn>``, ``filter_log_events`` and the SageMaker SDK's
``Estimator.fit(logs="All")`` read them:

=======================================================  ===================================  =========================================
file                                                     group                                stream
=======================================================  ===================================  =========================================
``lambda/<fn>/logs/<YYYY-MM-DD>-<id>.log``               ``/aws/lambda/<fn>``                 ``YYYY/MM/DD/[$LATEST]<id>``
``logs/training/<job>.log``                              ``/aws/sagemaker/TrainingJobs``      ``<job>/algo-1-<epoch seconds>``
``logs/processing/<job>.log``                            ``/aws/sagemaker/ProcessingJobs``    ``<job>/algo-1-<epoch seconds>``
``logs/transform/<job>.log``                             ``/aws/sagemaker/TransformJobs``     ``<job>/algo-1-<epoch seconds>``
``hosting/<endpoint>/<deployment>/<variant>/server.log`` ``/aws/sagemaker/Endpoints/<name>``  ``<variant>/<deployment>``
``logs/glue-pythonshell/<run id>.log``                   ``/aws-glue/python-jobs/output``     ``<run id>``
``logs/glue-crawlers/<crawler>.log``                     ``/aws-glue/crawlers``               ``<crawler>``
=======================================================  ===================================  =========================================

Lambda's own ``START``/``END``/``REPORT`` lines are in the worker's file already.  How far
each file has been shipped, and the stream it ships to, is kept in the runtime's database, so
a restart neither loses nor repeats lines, and a job's stream keeps the epoch of its first
shipped line as its log grows.  The shipper runs while the services bridge is open (it starts with it).
"""

from __future__ import annotations

import logging
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING

from localaws.errors import ServiceError
from localaws.store import JsonRecords

if TYPE_CHECKING:
    from localaws.runtime import Runtime

log = logging.getLogger(__name__)

KIND = "logs.shipped"
TICK_S = 0.5
MAX_BATCH = 1000
JOB_GROUPS = {
    "training": "/aws/sagemaker/TrainingJobs",
    "processing": "/aws/sagemaker/ProcessingJobs",
    "transform": "/aws/sagemaker/TransformJobs",
}
# Glue job runs (localaws/glue/jobs.py): logs/glue-<command>/<run id>.log -> stream <run id>;
# crawls (localaws/glue/crawler.py): logs/glue-crawlers/<crawler>.log -> stream <crawler>.
GLUE_GROUPS = {
    "glue-pythonshell": "/aws-glue/python-jobs/output",
    "glue-glueetl": "/aws-glue/jobs/output",
    "glue-crawlers": "/aws-glue/crawlers",  # logs/glue-crawlers/<crawler>.log -> <crawler>
}


class LogShipper(threading.Thread):
    def __init__(self, runtime: Runtime):
        super().__init__(name="logs shipper", daemon=True)
        self.runtime = runtime
        self.records = JsonRecords(runtime.db)
        self._stop_event = threading.Event()
        self._known: set[tuple[str, str]] = set()

    def stop(self) -> None:
        self._stop_event.set()

    def run(self) -> None:
        while not self._stop_event.wait(TICK_S):
            try:
                self.ship()
            except Exception:
                if self._stop_event.is_set():
                    return
                log.exception("shipping logs to CloudWatch Logs failed; retrying")

    def sources(self) -> list[tuple[Path, str, str]]:
        """(file, group, stream) of every log file the runtime has written."""
        root = self.runtime.state_dir
        found: list[tuple[Path, str, str]] = []
        for path in root.glob("lambda/*/logs/*.log"):
            function = path.parent.parent.name
            day, _, stream_id = path.stem.rpartition("-")
            found.append(
                (path, f"/aws/lambda/{function}", f"{day.replace('-', '/')}/[$LATEST]{stream_id}")
            )
        for kind, group in JOB_GROUPS.items():
            for path in root.glob(f"logs/{kind}/*.log"):
                # the epoch a job's stream is named with, until its first line is shipped
                # (then the stream kept with the offset: a later write changes st_ctime)
                found.append((path, group, f"{path.stem}/algo-1-{int(time.time())}"))
        for kind, group in GLUE_GROUPS.items():
            for path in root.glob(f"logs/{kind}/*.log"):
                found.append((path, group, path.stem))
        for path in root.glob("hosting/*/*/*/server.log"):
            variant, deployment, endpoint = (
                path.parent.name,
                path.parent.parent.name,
                path.parent.parent.parent.name,
            )
            found.append((path, f"/aws/sagemaker/Endpoints/{endpoint}", f"{variant}/{deployment}"))
        return found

    def ship(self) -> int:
        """Put every new whole line into its stream; returns how many lines were shipped."""
        shipped = 0
        for path, group, stream in self.sources():
            shipped += self._ship_file(path, group, stream)
        return shipped

    def _ship_file(self, path: Path, group: str, stream: str) -> int:
        state = self.records.get(KIND, str(path)) or {"offset": 0}
        offset = int(state["offset"])
        stream = state.get("stream", stream)  # the file's stream once it has one
        try:
            size = path.stat().st_size
        except FileNotFoundError:
            return 0
        if size <= offset:
            return 0
        with open(path, "rb") as fh:
            fh.seek(offset)
            chunk = fh.read(size - offset)
        end = chunk.rfind(b"\n")
        if end < 0:
            return 0
        lines = chunk[: end + 1].decode("utf-8", "replace").splitlines()
        self._ensure(group, stream)
        now = int(time.time() * 1000)
        events = [{"timestamp": now, "message": line or " "} for line in lines]
        for start in range(0, len(events), MAX_BATCH):
            self.runtime.logs.put_log_events(
                logGroupName=group,
                logStreamName=stream,
                logEvents=events[start : start + MAX_BATCH],
            )
        self.records.put(
            KIND, str(path), {"offset": offset + end + 1, "stream": stream}, time.time()
        )
        return len(lines)

    def _ensure(self, group: str, stream: str) -> None:
        if (group, stream) in self._known:
            return
        logs = self.runtime.logs
        for create, args in (
            (logs.create_log_group, {"logGroupName": group}),
            (logs.create_log_stream, {"logGroupName": group, "logStreamName": stream}),
        ):
            try:
                create(**args)
            except ServiceError as e:
                if e.code != "ResourceAlreadyExistsException":
                    raise
        self._known.add((group, stream))
