"""Glue job runs that run: ``StartJobRun`` runs the job's script in a worker process.

moto keeps jobs and answers ``StartJobRun`` with a run id (and a run that succeeds at once).
Here an observer of the accepted ``StartJobRun`` records the run as ``RUNNING`` and queues it
in the ``glue.job-run`` outbox.  A run copies ``Command.ScriptLocation`` from the local S3 to
``<state dir>/glue/jobs/<run id>/`` (with ``--extra-py-files``) and runs it with the
runtime's Python in a process of its own (``pyshell.py``: a lifeline to the runtime, its own
process group), ``sys.argv`` as Glue passes it (``--JOB_ID``, ``--JOB_RUN_ID``,
``--JOB_NAME``, then the run's arguments, defaults merged by moto), ``awsglue.utils.
getResolvedOptions`` importable, and the services reachable (``AWS_ENDPOINT_URL``, the
runtime's credentials, ``LOCALAWS_S3_ROOT``).  Output goes to ``logs/glue-<command>/<run id>.log``, shipped to CloudWatch Logs
(``/aws-glue/python-jobs/output``, stream ``<run id>``) by :mod:`localaws.logs.shipper`.

``pythonshell`` jobs run as above; ``glueetl`` jobs run the same way when PySpark is
importable (the script builds its own local ``SparkSession``; AWS's ``GlueContext`` is not
provided) and are refused at ``StartJobRun`` otherwise.  ``JobRunState`` (``RUNNING`` ->
``SUCCEEDED`` / ``FAILED`` with ``ErrorMessage`` / ``STOPPED`` / ``TIMEOUT``),
``CompletedOn`` and ``ExecutionTime`` come from the ``glue.job-run`` records, overlaid on
moto's ``GetJobRun(s)``.  ``BatchStopJobRun`` kills the process; ``Timeout`` (minutes) too.
"""

from __future__ import annotations

import contextlib
import importlib.util
import logging
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from localaws import config
from localaws.errors import ServiceError, UserError
from localaws.outbox import Outbox
from localaws.store import JsonRecords

if TYPE_CHECKING:
    from localaws.motobridge.bridge import Mutation
    from localaws.runtime import Runtime

log = logging.getLogger(__name__)

CHANNEL = "glue.job-run"
RUN_KIND = "glue.job-run"
RUN_COMMANDS = ("pythonshell", "glueetl")
DEFAULT_TIMEOUT_MIN = 2880
POLL_S = 0.2
ERROR_TAIL_CHARS = 2000
PYSHELL = Path(__file__).with_name("pyshell.py")
ACTIVE = ("STARTING", "RUNNING", "STOPPING")
LOG_GROUPS = {"pythonshell": "/aws-glue/python-jobs", "glueetl": "/aws-glue/jobs"}


def spark_available() -> bool:
    return importlib.util.find_spec("pyspark") is not None


class JobRuns:
    """Runs Glue jobs and keeps their runs' state."""

    def __init__(self, runtime: Runtime):
        self.runtime = runtime
        self.records = JsonRecords(runtime.db)
        self.outbox = Outbox(runtime.db, CHANNEL, self._deliver, workers=2)
        self.closing = threading.Event()

    def close(self) -> None:
        """Kill the runs in flight; their outbox rows stay, so they run again at the next
        start (the outbox is stopped first)."""
        self.closing.set()
        self.outbox.stop()

    # -- the API's side ----------------------------------------------------------------

    def observe(self, mutation: Mutation) -> None:
        if mutation.service != "glue":
            return
        from localaws.motobridge.services import json_body

        if mutation.operation == "StartJobRun":
            request = json_body(mutation.body)
            run_id = json_body(mutation.reply.body).get("JobRunId", "")
            record = {"JobName": request.get("JobName", ""), "JobRunState": "RUNNING"}
            record["StartedOn"] = time.time()
            self.records.put(RUN_KIND, run_id, record, time.time())
            self.outbox.put({"JobName": record["JobName"], "JobRunId": run_id})

    def batch_stop_job_run(
        self, request: dict[str, Any], moto: Callable[[], dict[str, Any]]
    ) -> dict[str, Any]:
        """Served here (moto has no BatchStopJobRun): active runs are marked STOPPING and
        their processes killed by the runner."""
        name = request.get("JobName", "")
        stopped, errors = [], []
        for run_id in request.get("JobRunIds", []):
            found = self.records.get(RUN_KIND, run_id)
            if found is None or found.get("JobName") != name:
                errors.append(
                    {
                        "JobName": name,
                        "JobRunId": run_id,
                        "ErrorDetail": {
                            "ErrorCode": "EntityNotFoundException",
                            "ErrorMessage": f"Job run {run_id} of job {name} not found",
                        },
                    }
                )
                continue
            if found["JobRunState"] in ("STARTING", "RUNNING"):
                found["JobRunState"] = "STOPPING"
                self.records.put(RUN_KIND, run_id, found, found["StartedOn"])
            stopped.append({"JobName": name, "JobRunId": run_id})
        return {"SuccessfulSubmissions": stopped, "Errors": errors}

    def start_job_run(
        self, request: dict[str, Any], moto: Callable[[], dict[str, Any]]
    ) -> dict[str, Any]:
        """Refuse what cannot run here before moto records the run."""
        name = request.get("JobName", "")
        job = self.runtime.glue.get_job(JobName=name)["Job"]
        command = (job.get("Command") or {}).get("Name", "")
        if command == "glueetl" and not spark_available():
            raise ServiceError(
                "InvalidInputException",
                f"job {name} is a glueetl (Spark) job; the local runtime runs Spark jobs on "
                "PySpark in local mode, which is not installed: pip install pyspark (the "
                "optional extra), or make it a pythonshell job",
            )
        if command not in RUN_COMMANDS:
            raise ServiceError(
                "InvalidInputException",
                f"job {name}: Command.Name {command!r} does not run locally; use pythonshell "
                "(or glueetl with PySpark installed)",
            )
        limit = int((job.get("ExecutionProperty") or {}).get("MaxConcurrentRuns", 1))
        running = sum(
            1
            for r in self.records.list(RUN_KIND)
            if r.get("JobName") == name and r.get("JobRunState") in ACTIVE
        )
        if running >= limit:
            raise ServiceError(
                "ConcurrentRunsExceededException", f"Job with name {name} already running"
            )
        return moto()

    def apply(self, run: dict[str, Any]) -> None:
        record = self.records.get(RUN_KIND, run.get("Id", ""))
        if record is None:
            return
        run["JobRunState"] = record["JobRunState"]
        run["StartedOn"] = record["StartedOn"]
        run["LastModifiedOn"] = record.get("CompletedOn", record["StartedOn"])
        end = record.get("CompletedOn")
        run["ExecutionTime"] = int((end or time.time()) - record["StartedOn"])
        if end is not None:
            run["CompletedOn"] = end
        else:
            run.pop("CompletedOn", None)
        if "ErrorMessage" in record:
            run["ErrorMessage"] = record["ErrorMessage"]
        if "LogGroupName" in record:
            run["LogGroupName"] = record["LogGroupName"]
        run["Attempt"] = 0

    def overlay_one(
        self, request: dict[str, Any], moto: Callable[[], dict[str, Any]]
    ) -> dict[str, Any]:
        result = moto()
        self.apply(result.get("JobRun", {}))
        return result

    def overlay_many(
        self, request: dict[str, Any], moto: Callable[[], dict[str, Any]]
    ) -> dict[str, Any]:
        result = moto()
        for run in result.get("JobRuns", []):
            self.apply(run)
        return result

    # -- a run (an outbox worker) -----------------------------------------------------------

    def _finish(self, run_id: str, state: str, message: str | None = None) -> None:
        record = self.records.get(RUN_KIND, run_id) or {"StartedOn": time.time()}
        record.update(JobRunState=state, CompletedOn=time.time())
        if message:
            record["ErrorMessage"] = message
        self.records.put(RUN_KIND, run_id, record, record["StartedOn"])

    def _deliver(self, body: dict[str, Any], attempt: int) -> float | None:
        name, run_id = body["JobName"], body["JobRunId"]
        record = self.records.get(RUN_KIND, run_id)
        if record is None or record["JobRunState"] not in ACTIVE:
            return None
        if record["JobRunState"] == "STOPPING":
            self._finish(run_id, "STOPPED")
            return None
        try:
            state, message = self.run(name, run_id)
        except (UserError, ServiceError) as e:
            state, message = "FAILED", str(e)
        except Exception as e:  # a bug here: the run fails (logged), never retried forever
            log.exception("Glue job run %s failed in the local runtime", run_id)
            state, message = "FAILED", f"Internal error: {type(e).__name__}"
        if self.closing.is_set():
            return None  # the outbox is stopped: the row stays for the next start
        self._finish(run_id, state, message)
        return None

    def run(self, name: str, run_id: str) -> tuple[str, str | None]:
        """Run the job's script; its final state and error message."""
        glue = self.runtime.glue
        job = glue.get_job(JobName=name)["Job"]
        run = glue.get_job_run(JobName=name, RunId=run_id)["JobRun"]
        command = job.get("Command") or {}
        kind = command.get("Name", "")
        script_uri = command.get("ScriptLocation", "")
        work = self.runtime.layout.made(self.runtime.layout.glue_job_run(run_id))
        storage = self.runtime.storage
        try:
            script = work / Path(script_uri).name
            storage.download_to(script_uri, script)
        except (UserError, FileNotFoundError, KeyError) as e:
            raise UserError(
                f"job {name}: Command.ScriptLocation {script_uri!r} cannot be read ({e}); upload "
                "the script there"
            ) from e
        arguments = dict(run.get("Arguments") or {})
        pythonpath = [str(work)]
        for uri in filter(None, arguments.get("--extra-py-files", "").split(",")):
            local = work / "extra" / Path(uri.strip()).name
            storage.download_to(uri.strip(), local)
            pythonpath.append(str(local if local.suffix != ".py" else local.parent))
        argv = [
            "--JOB_ID",
            f"j_{name}",
            "--JOB_RUN_ID",
            run_id,
            "--JOB_NAME",
            name,
        ]
        for key, value in arguments.items():
            argv += [key if key.startswith("--") else f"--{key}", str(value)]
        timeout_s = 60.0 * float(run.get("Timeout") or job.get("Timeout") or DEFAULT_TIMEOUT_MIN)
        log_path = self.runtime.layout.log(f"glue-{kind}", run_id)
        log_path.parent.mkdir(parents=True, exist_ok=True)
        record = self.records.get(RUN_KIND, run_id) or {}
        record["LogGroupName"] = LOG_GROUPS.get(kind, "/aws-glue/jobs")
        self.records.put(RUN_KIND, run_id, record, record.get("StartedOn", time.time()))
        return self._execute(run_id, [str(script), *argv], work, pythonpath, log_path, timeout_s)

    def environment(self, pythonpath: list[str]) -> dict[str, str]:
        rt = self.runtime
        return {
            "PATH": os.environ.get("PATH", "/usr/local/bin:/usr/bin:/bin"),
            "HOME": os.environ.get("HOME", "/tmp"),
            "LANG": os.environ.get("LANG", "C.UTF-8"),
            "TZ": ":UTC",
            "PYTHONPATH": os.pathsep.join(pythonpath),
            "PYTHONUNBUFFERED": "1",
            "AWS_REGION": rt.region,
            "AWS_DEFAULT_REGION": rt.region,
            "AWS_ACCESS_KEY_ID": rt.credentials[0],
            "AWS_SECRET_ACCESS_KEY": rt.credentials[1],
            config.ENV_S3_ROOT: str(rt.layout.s3),
            config.ENV_ENDPOINT_URL: rt.api_url(),
        }

    def _execute(
        self,
        run_id: str,
        argv: list[str],
        work: Path,
        pythonpath: list[str],
        log_path: Path,
        timeout_s: float,
    ) -> tuple[str, str | None]:
        life_read, life_write = os.pipe()
        try:
            with open(log_path, "ab") as out:
                proc = subprocess.Popen(
                    [sys.executable, str(PYSHELL), str(life_read), *argv],
                    cwd=work,
                    env=self.environment(pythonpath),
                    stdin=subprocess.DEVNULL,
                    stdout=out,
                    stderr=subprocess.STDOUT,
                    pass_fds=(life_read,),
                    start_new_session=True,
                )
        finally:
            os.close(life_read)
        deadline = time.monotonic() + timeout_s
        state: str | None = None
        try:
            while proc.poll() is None:
                record = self.records.get(RUN_KIND, run_id) or {}
                if self.closing.is_set():
                    state = "RUNNING"
                elif record.get("JobRunState") == "STOPPING":
                    state = "STOPPED"
                elif time.monotonic() > deadline:
                    state = "TIMEOUT"
                if state is not None:
                    _kill_group(proc)
                    break
                with contextlib.suppress(subprocess.TimeoutExpired):
                    proc.wait(POLL_S)
        finally:
            os.close(life_write)
            if proc.poll() is None:
                _kill_group(proc)
        if state == "STOPPED":
            return state, None
        if state == "TIMEOUT":
            return state, f"Job run timed out after {timeout_s / 60:g} minutes"
        if proc.returncode == 0:
            return "SUCCEEDED", None
        return "FAILED", _error_message(log_path, proc.returncode)


def _kill_group(proc: subprocess.Popen[bytes]) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()


def _error_message(log_path: Path, code: int) -> str:
    """The script's last error line (``ValueError: ...``), as Glue's ErrorMessage."""
    try:
        with open(log_path, "rb") as fh:
            fh.seek(max(0, log_path.stat().st_size - ERROR_TAIL_CHARS))
            lines = [line for line in fh.read().decode("utf-8", "replace").splitlines() if line]
    except OSError:
        lines = []
    last = lines[-1] if lines else ""
    return last or f"the script exited with code {code}"
