"""The local SageMaker API: training, processing and transform jobs, models, endpoints.

:class:`SageMakerBackend` follows the backend convention (docs/architecture.md): AWS's
operations as snake_case methods taking the request members as keyword arguments, returning
AWS's response shapes.  Every request is validated against botocore's SageMaker model first.
Records persist in the runtime's database (:class:`localaws.store.JsonRecords`) in their
Describe shape, timestamps as epoch seconds, turned into tz-aware datetimes on the way out.

Jobs run in background threads that supervise a worker process (see ``training.py``,
``processing.py``), so StopXxxJob and MaxRuntimeInSeconds can kill them.  Endpoints are
served by :class:`localaws.sagemaker.hosting.EndpointManager`.
"""

from __future__ import annotations

import functools
import logging
import shutil
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from botocore.model import Shape

from localaws.botocore_model import service_model, validate_request
from localaws.errors import LocalAwsError, ServiceError, UserError
from localaws.sagemaker import forkserver, processing, training
from localaws.sagemaker.capture import capture_summary
from localaws.sagemaker.featurestore import FeatureGroupApi
from localaws.sagemaker.lineage import LineageApi
from localaws.sagemaker.monitor import MonitoringApi
from localaws.sagemaker.registry import RegistryApi
from localaws.sagemaker.tags import TagsApi
from localaws.sagemaker.tuning import TUNING, TuningApi
from localaws.store import JsonRecords

if TYPE_CHECKING:
    from localaws.runtime import Runtime
    from localaws.sagemaker.hosting import EndpointManager

log = logging.getLogger(__name__)

SERVICE = "sagemaker"
TRAINING, PROCESSING, TRANSFORM = "TrainingJob", "ProcessingJob", "TransformJob"
MODEL, ENDPOINT_CONFIG, ENDPOINT = "Model", "EndpointConfig", "Endpoint"
RUNNING = ("InProgress", "Stopping")
TERMINAL = ("Completed", "Failed", "Stopped")
RESTART_MESSAGE = "Restarting: the local runtime that ran this job stopped before it finished"
CLOSE_REASON = "InternalServerError: the local runtime was closed while the job was running"
# How long CreateEndpoint / UpdateEndpoint wait for the local deploy before answering (_settle).
DEPLOY_SETTLE_S = 0.5


@dataclass
class _Running:
    cancelled: threading.Event = field(default_factory=threading.Event)
    closing: bool = False
    wake: threading.Event = field(default_factory=threading.Event)  # a tuning job: a training ended
    thread: threading.Thread | None = None


def _now() -> float:
    return time.time()


def to_wire(shape: Shape | None, value: Any) -> Any:
    """A stored record -> the response shape: epoch timestamps become UTC datetimes."""
    if shape is None or value is None:
        return value
    kind = shape.type_name
    if kind == "timestamp" and isinstance(value, int | float):
        return datetime.fromtimestamp(value, tz=UTC)
    if kind == "structure" and isinstance(value, dict):
        members = shape.members
        return {k: to_wire(members[k], v) for k, v in value.items() if k in members}
    if kind == "list" and isinstance(value, list):
        return [to_wire(shape.member, v) for v in value]
    if kind == "map" and isinstance(value, dict):
        return {k: to_wire(shape.value, v) for k, v in value.items()}
    return value


def to_record(value: Any) -> Any:
    """Request values -> JSON-able record values (datetimes as epoch seconds)."""
    if isinstance(value, datetime):
        return value.timestamp()
    if isinstance(value, dict):
        return {k: to_record(v) for k, v in value.items() if v is not None}
    if isinstance(value, list | tuple):
        return [to_record(v) for v in value]
    return value


class SageMakerBackend(FeatureGroupApi, MonitoringApi, LineageApi, TuningApi, RegistryApi, TagsApi):
    """The SageMaker API of the local runtime (tuning jobs: :mod:`localaws.sagemaker.tuning`)."""

    def __init__(self, runtime: Runtime):
        self.runtime = runtime
        self.records = JsonRecords(runtime.db)
        self._lock = threading.RLock()
        self._job_ended = threading.Condition(self._lock)
        self._running: dict[tuple[str, str], _Running] = {}
        self._hosting: EndpointManager | None = None
        self._model = service_model(SERVICE)

    # -- plumbing ----------------------------------------------------------------------

    @property
    def hosting(self) -> EndpointManager:
        if self._hosting is None:
            from localaws.sagemaker.hosting import EndpointManager

            self._hosting = EndpointManager(self.runtime)
        return self._hosting

    def _arn(self, kind: str, name: str) -> str:
        resource = {
            TRAINING: "training-job",
            PROCESSING: "processing-job",
            TRANSFORM: "transform-job",
            MODEL: "model",
            ENDPOINT_CONFIG: "endpoint-config",
            ENDPOINT: "endpoint",
        }[kind]
        return self.runtime.arn("sagemaker", f"{resource}/{name.lower()}")

    def _request(self, operation: str, params: dict[str, Any]) -> dict[str, Any]:
        validate_request(SERVICE, operation, params)
        return to_record(params)

    def _out(self, operation: str, record: dict[str, Any]) -> dict[str, Any]:
        return to_wire(self._model.operation_model(operation).output_shape, record)

    def _get(self, kind: str, name: str, missing: Callable[[], ServiceError]) -> dict[str, Any]:
        record = self.records.get(kind, name)
        if record is None:
            raise missing()
        return record

    @contextmanager
    def _edit(self, kind: str, name: str) -> Iterator[dict[str, Any]]:
        """Read-modify-write one record under the backend's lock."""
        with self._lock:
            record = self.records.get(kind, name)
            if record is None:
                raise KeyError((kind, name))
            yield record
            record["LastModifiedTime"] = _now()
            self.records.put(kind, name, record, record.get("CreationTime", _now()))

    def _start(self, kind: str, name: str, target: Callable[[_Running], None]) -> _Running:
        running = _Running()
        thread = threading.Thread(
            target=target, args=(running,), name=f"sagemaker-{kind}-{name}", daemon=True
        )
        running.thread = thread
        with self._lock:
            self._running[(kind, name)] = running
        thread.start()
        return running

    def _finish(self, kind: str, name: str) -> None:
        with self._lock:
            self._running.pop((kind, name), None)
            self._job_ended.notify_all()

    def wait_for_a_job_end(self, timeout: float) -> None:
        """Return when a job run here ends (its status is then final), or after ``timeout``
        seconds: what a waiter for a job's terminal state sleeps on between Describes, so that
        it sees the end at once rather than up to a poll interval later."""
        with self._lock:
            self._job_ended.wait(timeout)

    @staticmethod
    def _not_found() -> ServiceError:
        return ServiceError("ValidationException", "Requested resource not found.")

    def _job_not_found(self, name: str) -> Callable[[], ServiceError]:
        return lambda: ServiceError(
            "ValidationException", f"Could not find requested job with name {name}"
        )

    def _exists(self, kind: str, name: str) -> ServiceError:
        return ServiceError(
            "ResourceInUse",
            f"{'Training job' if kind == TRAINING else 'Job'} names must be unique within an AWS account and region, "
            f"and a {'training job' if kind == TRAINING else 'job'} with this name already exists ({self._arn(kind, name)})",
        )

    def _insert(self, kind: str, name: str, record: dict[str, Any]) -> None:
        if not self.records.insert_new(kind, name, record, record["CreationTime"]):
            raise self._exists(kind, name)

    @staticmethod
    def _refuse(e: UserError) -> ServiceError:
        return ServiceError("ValidationException", str(e))

    # -- training jobs -----------------------------------------------------------------

    def create_training_job(self, **request: Any) -> dict[str, Any]:
        job = self._request("CreateTrainingJob", request)
        try:
            training.check_job(job)
        except UserError as e:
            raise self._refuse(e) from e
        name = job["TrainingJobName"]
        now = _now()
        job.setdefault("StoppingCondition", {}).setdefault("MaxRuntimeInSeconds", 86400)
        job["OutputDataConfig"].setdefault("KmsKeyId", "")  # AWS returns it, empty by default
        job.setdefault("EnableNetworkIsolation", False)
        job.setdefault("EnableInterContainerTrafficEncryption", False)
        job.setdefault("EnableManagedSpotTraining", False)
        tags = job.pop("Tags", None)
        record = {
            **job,
            "TrainingJobArn": self._arn(TRAINING, name),
            "TrainingJobStatus": "InProgress",
            "SecondaryStatus": "Starting",
            "CreationTime": now,
            "LastModifiedTime": now,
            "SecondaryStatusTransitions": [
                {
                    "Status": "Starting",
                    "StartTime": now,
                    "StatusMessage": "Launching requested ML instances",
                }
            ],
        }
        self._insert(TRAINING, name, record)
        self._keep_tags(record["TrainingJobArn"], tags)
        self._start(TRAINING, name, lambda running: self._run_training(name, running))
        return {"TrainingJobArn": record["TrainingJobArn"]}

    def _transition(
        self, record: dict[str, Any], status: str, message: str, now: float | None = None
    ) -> None:
        now = _now() if now is None else now
        transitions = record.setdefault("SecondaryStatusTransitions", [])
        if transitions and "EndTime" not in transitions[-1]:
            transitions[-1]["EndTime"] = now
        transitions.append({"Status": status, "StartTime": now, "StatusMessage": message})
        record["SecondaryStatus"] = status

    def _run_training(self, name: str, running: _Running) -> None:
        try:
            job = self.records.get(TRAINING, name)
            assert job is not None
            deadline = time.monotonic() + job["StoppingCondition"]["MaxRuntimeInSeconds"]

            def report(status: str, message: str) -> None:
                with self._edit(TRAINING, name) as record:
                    if record["TrainingJobStatus"] != "InProgress":
                        return
                    if status == "Downloading":
                        record.setdefault("TrainingStartTime", _now())
                    self._transition(record, status, message)

            status, secondary, message, result, reason = (
                "Completed",
                "Completed",
                "Training job completed",
                None,
                None,
            )
            try:
                result = training.run_training_job(
                    self.runtime, job, cancelled=running.cancelled, deadline=deadline, report=report
                )
            except training.JobInterrupted as e:
                if running.closing:
                    status, secondary, message, reason = (
                        "Failed",
                        "Failed",
                        "Training job failed",
                        CLOSE_REASON,
                    )
                elif e.reason == "timeout":
                    status, secondary = "Stopped", "MaxRuntimeExceeded"
                    message = "Training job exceeded the MaxRuntimeInSeconds provided"
                else:
                    status, secondary, message = "Stopped", "Stopped", "Training job stopped"
            except LocalAwsError as e:
                status, secondary, message, reason = (
                    "Failed",
                    "Failed",
                    "Training job failed",
                    str(e),
                )
            except Exception as e:
                log.exception("training job %s: unexpected error", name)
                status, secondary, message = "Failed", "Failed", "Training job failed"
                reason = f"InternalServerError: {type(e).__name__}: {e}"
            with self._edit(TRAINING, name) as record:
                now = _now()
                record.setdefault("TrainingStartTime", now)
                record["TrainingJobStatus"] = status
                self._transition(record, secondary, message, now)
                record["SecondaryStatusTransitions"][-1]["EndTime"] = now
                record["TrainingEndTime"] = now
                seconds = max(1, round(now - record["TrainingStartTime"]))
                record["TrainingTimeInSeconds"] = seconds
                record["BillableTimeInSeconds"] = seconds
                if reason:
                    record["FailureReason"] = reason
                if result is not None:
                    record["ModelArtifacts"] = result["ModelArtifacts"]
                    record["FinalMetricDataList"] = [
                        {**m, "Timestamp": now} for m in result["FinalMetricDataList"]
                    ]
            self._wake_tuning_jobs()
            if status == "Completed":
                self.record_lineage(TRAINING, name)
        finally:
            self._finish(TRAINING, name)

    def _wake_tuning_jobs(self) -> None:
        """A training job ended: running tuning jobs look at once (one may start the next)."""
        with self._lock:
            for (kind, _), running in self._running.items():
                if kind == TUNING:
                    running.wake.set()

    def describe_training_job(self, **request: Any) -> dict[str, Any]:
        req = self._request("DescribeTrainingJob", request)
        record = self._get(TRAINING, req["TrainingJobName"], self._not_found)
        return self._out("DescribeTrainingJob", record)

    def _stop_job(
        self, kind: str, name: str, status_key: str, missing: Callable[[], ServiceError]
    ) -> None:
        with self._lock:
            record = self._get(kind, name, missing)
            if record[status_key] != "InProgress":
                raise ServiceError(
                    "ValidationException",
                    f"The request was rejected because the {kind[:-3].lower()} job {name} is in status "
                    f"{record[status_key]}; only an InProgress job can be stopped",
                )
            running = self._running.get((kind, name))
            with self._edit(kind, name) as rec:
                if running is None:
                    rec[status_key] = "Stopped"
                else:
                    rec[status_key] = "Stopping"
                if kind == TRAINING:
                    self._transition(
                        rec, "Stopping" if running else "Stopped", "Stopping the training job"
                    )
        if running is not None:
            running.cancelled.set()

    def stop_training_job(self, **request: Any) -> dict[str, Any]:
        req = self._request("StopTrainingJob", request)
        self._stop_job(TRAINING, req["TrainingJobName"], "TrainingJobStatus", self._not_found)
        return {}

    def list_training_jobs(self, **request: Any) -> dict[str, Any]:
        req = self._request("ListTrainingJobs", request)
        keys = (
            "TrainingJobName",
            "TrainingJobArn",
            "CreationTime",
            "TrainingEndTime",
            "LastModifiedTime",
            "TrainingJobStatus",
            "SecondaryStatus",
        )
        items, token = self._list(TRAINING, req, "TrainingJobName", "TrainingJobStatus", keys)
        out = self._out("ListTrainingJobs", {"TrainingJobSummaries": items})
        if token:
            out["NextToken"] = token
        return out

    def _list_page(
        self,
        operation: str,
        request: dict[str, Any],
        kind: str,
        member: str,
        name_key: str,
        status_key: str,
        keys: tuple[str, ...],
    ) -> dict[str, Any]:
        """A List* operation over one kind of record: filters, sort, one page."""
        req = self._request(operation, request)
        items, token = self._list(kind, req, name_key, status_key, keys)
        out = self._out(operation, {member: items})
        if token:
            out["NextToken"] = token
        return out

    def list_processing_jobs(self, **request: Any) -> dict[str, Any]:
        keys = (
            "ProcessingJobName",
            "ProcessingJobArn",
            "CreationTime",
            "ProcessingEndTime",
            "LastModifiedTime",
            "ProcessingJobStatus",
            "FailureReason",
            "ExitMessage",
        )
        return self._list_page(
            "ListProcessingJobs",
            request,
            PROCESSING,
            "ProcessingJobSummaries",
            "ProcessingJobName",
            "ProcessingJobStatus",
            keys,
        )

    def list_transform_jobs(self, **request: Any) -> dict[str, Any]:
        keys = (
            "TransformJobName",
            "TransformJobArn",
            "CreationTime",
            "TransformEndTime",
            "LastModifiedTime",
            "TransformJobStatus",
            "FailureReason",
        )
        return self._list_page(
            "ListTransformJobs",
            request,
            TRANSFORM,
            "TransformJobSummaries",
            "TransformJobName",
            "TransformJobStatus",
            keys,
        )

    def list_models(self, **request: Any) -> dict[str, Any]:
        keys = ("ModelName", "ModelArn", "CreationTime")
        return self._list_page(
            "ListModels", request, MODEL, "Models", "ModelName", "ModelStatus", keys
        )

    def list_endpoint_configs(self, **request: Any) -> dict[str, Any]:
        keys = ("EndpointConfigName", "EndpointConfigArn", "CreationTime")
        return self._list_page(
            "ListEndpointConfigs",
            request,
            ENDPOINT_CONFIG,
            "EndpointConfigs",
            "EndpointConfigName",
            "EndpointConfigStatus",
            keys,
        )

    def _list(
        self, kind: str, req: dict[str, Any], name_key: str, status_key: str, keys: tuple[str, ...]
    ) -> tuple[list[dict[str, Any]], str | None]:
        items = self.records.list(kind)
        if req.get("NameContains"):
            items = [r for r in items if req["NameContains"] in r[name_key]]
        if req.get("StatusEquals"):
            items = [r for r in items if r[status_key] == req["StatusEquals"]]
        for member, op in (
            ("CreationTimeAfter", lambda r, t: r["CreationTime"] > t),
            ("CreationTimeBefore", lambda r, t: r["CreationTime"] < t),
            ("LastModifiedTimeAfter", lambda r, t: r.get("LastModifiedTime", 0) > t),
            ("LastModifiedTimeBefore", lambda r, t: r.get("LastModifiedTime", 0) < t),
        ):
            if req.get(member) is not None:
                bound = req[member]
                items = [r for r in items if op(r, bound)]
        sort_key = {"Name": name_key, "Status": status_key}.get(
            req.get("SortBy", "CreationTime"), "CreationTime"
        )
        items.sort(
            key=lambda r: r.get(sort_key) or 0,
            reverse=req.get("SortOrder", "Descending") == "Descending",
        )
        try:
            start = int(req.get("NextToken") or 0)
        except ValueError:
            raise ServiceError(
                "ValidationException", f"Invalid pagination token {req['NextToken']!r}"
            ) from None
        limit = int(req.get("MaxResults") or 10)
        page = items[start : start + limit]
        token = str(start + limit) if start + limit < len(items) else None
        return [{k: r[k] for k in keys if k in r} for r in page], token

    # -- processing jobs -----------------------------------------------------------------

    def create_processing_job(self, **request: Any) -> dict[str, Any]:
        job = self._request(
            "CreateProcessingJob", processing.default_names("CreateProcessingJob", request)
        )
        try:
            processing.check_job(job)
        except UserError as e:
            raise self._refuse(e) from e
        name = job["ProcessingJobName"]
        now = _now()
        tags = job.pop("Tags", None)
        job.setdefault("StoppingCondition", {}).setdefault("MaxRuntimeInSeconds", 86400)
        record = {
            **job,
            "ProcessingJobArn": self._arn(PROCESSING, name),
            "ProcessingJobStatus": "InProgress",
            "CreationTime": now,
            "LastModifiedTime": now,
        }
        self._insert(PROCESSING, name, record)
        self._keep_tags(record["ProcessingJobArn"], tags)
        self._start(PROCESSING, name, lambda running: self._run_processing(name, running))
        return {"ProcessingJobArn": record["ProcessingJobArn"]}

    def _run_processing(self, name: str, running: _Running) -> None:
        try:
            job = self.records.get(PROCESSING, name)
            assert job is not None
            deadline = time.monotonic() + job["StoppingCondition"]["MaxRuntimeInSeconds"]
            with self._edit(PROCESSING, name) as record:
                record["ProcessingStartTime"] = _now()
            status, reason = "Completed", None
            try:
                processing.run_processing_job(
                    self.runtime, job, cancelled=running.cancelled, deadline=deadline
                )
            except training.JobInterrupted as e:
                if running.closing:
                    status, reason = "Failed", CLOSE_REASON
                elif e.reason == "timeout":
                    status, reason = (
                        "Stopped",
                        "Processing job exceeded the MaxRuntimeInSeconds provided",
                    )
                else:
                    status = "Stopped"
            except LocalAwsError as e:
                status, reason = "Failed", str(e)
            except Exception as e:
                log.exception("processing job %s: unexpected error", name)
                status, reason = "Failed", f"InternalServerError: {type(e).__name__}: {e}"
            self._end_job(
                PROCESSING, name, "ProcessingJobStatus", "ProcessingEndTime", status, reason
            )
            if status == "Completed":
                self.record_lineage(PROCESSING, name)
        finally:
            self._finish(PROCESSING, name)

    def _end_job(
        self, kind: str, name: str, status_key: str, end_key: str, status: str, reason: str | None
    ) -> None:
        with self._edit(kind, name) as record:
            record[status_key] = status
            record[end_key] = _now()
            if reason:
                record["FailureReason"] = reason
                if kind == PROCESSING:
                    record["ExitMessage"] = reason

    def describe_processing_job(self, **request: Any) -> dict[str, Any]:
        req = self._request("DescribeProcessingJob", request)
        name = req["ProcessingJobName"]
        return self._out(
            "DescribeProcessingJob", self._get(PROCESSING, name, self._job_not_found(name))
        )

    def stop_processing_job(self, **request: Any) -> dict[str, Any]:
        req = self._request("StopProcessingJob", request)
        name = req["ProcessingJobName"]
        self._stop_job(PROCESSING, name, "ProcessingJobStatus", self._job_not_found(name))
        return {}

    # -- models ----------------------------------------------------------------------------

    def _model_missing(self, name: str) -> Callable[[], ServiceError]:
        return lambda: ServiceError(
            "ValidationException", f'Could not find model "{self._arn(MODEL, name)}".'
        )

    def create_model(self, **request: Any) -> dict[str, Any]:
        req = self.resolve_package_containers(self._request("CreateModel", request))
        name = req["ModelName"]
        if not req.get("PrimaryContainer") and not req.get("Containers"):
            raise ServiceError(
                "ValidationException",
                "Either PrimaryContainer or Containers must be specified for a model.",
            )
        if req.get("PrimaryContainer") and req.get("Containers"):
            raise ServiceError(
                "ValidationException",
                "PrimaryContainer and Containers cannot both be specified for a model.",
            )
        tags = req.pop("Tags", None)
        record = {**req, "ModelArn": self._arn(MODEL, name), "CreationTime": _now()}
        record.setdefault("EnableNetworkIsolation", False)
        if not self.records.insert_new(MODEL, name, record, record["CreationTime"]):
            raise ServiceError(
                "ValidationException",
                f'Cannot create already existing model "{record["ModelArn"]}".',
            )
        self._keep_tags(record["ModelArn"], tags)
        return {"ModelArn": record["ModelArn"]}

    def describe_model(self, **request: Any) -> dict[str, Any]:
        req = self._request("DescribeModel", request)
        name = req["ModelName"]
        return self._out("DescribeModel", self._get(MODEL, name, self._model_missing(name)))

    def delete_model(self, **request: Any) -> dict[str, Any]:
        req = self._request("DeleteModel", request)
        name = req["ModelName"]
        if not self.records.delete(MODEL, name):
            raise self._model_missing(name)()
        return {}

    # -- endpoint configs --------------------------------------------------------------------

    def _config_missing(self, name: str) -> Callable[[], ServiceError]:
        return lambda: ServiceError(
            "ValidationException",
            f'Could not find endpoint configuration "{self._arn(ENDPOINT_CONFIG, name)}".',
        )

    def create_endpoint_config(self, **request: Any) -> dict[str, Any]:
        req = self._request("CreateEndpointConfig", request)
        name = req["EndpointConfigName"]
        for variant in req["ProductionVariants"]:
            model = variant.get("ModelName")
            if model and self.records.get(MODEL, model) is None:
                raise self._model_missing(model)()
        tags = req.pop("Tags", None)
        record = {
            **req,
            "EndpointConfigArn": self._arn(ENDPOINT_CONFIG, name),
            "CreationTime": _now(),
        }
        if not self.records.insert_new(ENDPOINT_CONFIG, name, record, record["CreationTime"]):
            raise ServiceError(
                "ValidationException",
                f'Cannot create already existing endpoint configuration "{record["EndpointConfigArn"]}".',
            )
        self._keep_tags(record["EndpointConfigArn"], tags)
        return {"EndpointConfigArn": record["EndpointConfigArn"]}

    def describe_endpoint_config(self, **request: Any) -> dict[str, Any]:
        req = self._request("DescribeEndpointConfig", request)
        name = req["EndpointConfigName"]
        return self._out(
            "DescribeEndpointConfig", self._get(ENDPOINT_CONFIG, name, self._config_missing(name))
        )

    def delete_endpoint_config(self, **request: Any) -> dict[str, Any]:
        req = self._request("DeleteEndpointConfig", request)
        name = req["EndpointConfigName"]
        if not self.records.delete(ENDPOINT_CONFIG, name):
            raise self._config_missing(name)()
        return {}

    # -- endpoints ---------------------------------------------------------------------------

    def _endpoint_missing(self, name: str) -> Callable[[], ServiceError]:
        return lambda: ServiceError(
            "ValidationException", f'Could not find endpoint "{self._arn(ENDPOINT, name)}".'
        )

    def _variants(self, config_name: str) -> list[dict[str, Any]]:
        config = self._get(ENDPOINT_CONFIG, config_name, self._config_missing(config_name))
        variants = []
        for variant in config["ProductionVariants"]:
            model_name = variant["ModelName"]
            model = self._get(MODEL, model_name, self._model_missing(model_name))
            variants.append({**variant, "Model": self._out("DescribeModel", model)})
        return variants

    def create_endpoint(self, **request: Any) -> dict[str, Any]:
        req = self._request("CreateEndpoint", request)
        name = req["EndpointName"]
        config = req["EndpointConfigName"]
        variants = self._variants(config)
        now = _now()
        record = {
            "EndpointName": name,
            "EndpointArn": self._arn(ENDPOINT, name),
            "EndpointConfigName": config,
            "EndpointStatus": "Creating",
            "CreationTime": now,
            "LastModifiedTime": now,
        }
        if not self.records.insert_new(ENDPOINT, name, record, now):
            raise ServiceError(
                "ValidationException",
                f'Cannot create already existing endpoint "{record["EndpointArn"]}".',
            )
        self._keep_tags(record["EndpointArn"], req.get("Tags"))
        self._settle(
            self._start(
                ENDPOINT, name, lambda running: self._deploy(name, config, variants, "Creating")
            )
        )
        return {"EndpointArn": record["EndpointArn"]}

    @staticmethod
    def _settle(running: _Running) -> None:
        """Answer CreateEndpoint / UpdateEndpoint once the local model servers are up when that
        takes under :data:`DEPLOY_SETTLE_S` (a local deploy takes ~0.1 s): the caller's first
        DescribeEndpoint then reads InService, and a workflow's describe-and-wait loop ends
        without a Wait.  A slower deploy (a heavy model_fn) answers Creating / Updating, as
        AWS always does, and goes on in the background."""
        if running.thread is not None:
            running.thread.join(DEPLOY_SETTLE_S)

    def _deploy(self, name: str, config: str, variants: list[dict[str, Any]], phase: str) -> None:
        try:
            reason = None
            try:
                self.hosting.deploy(name, variants)
            except LocalAwsError as e:
                reason = str(e)
            except Exception as e:
                log.exception("endpoint %s: unexpected error while deploying", name)
                reason = f"InternalServerError: {type(e).__name__}: {e}"
            with self._edit(ENDPOINT, name) as record:
                record.pop("PendingDeploymentSummary", None)
                if reason is None:
                    now = _now()
                    record["EndpointStatus"] = "InService"
                    record["EndpointConfigName"] = config
                    record.pop("FailureReason", None)
                    record["DataCaptureConfig"] = capture_summary(
                        self.records.get(ENDPOINT_CONFIG, config)
                    )
                    record["ProductionVariants"] = [
                        {
                            "VariantName": v["VariantName"],
                            "DeployedImages": [
                                {
                                    "SpecifiedImage": c["Image"],
                                    "ResolvedImage": c["Image"],
                                    "ResolutionTime": now,
                                }
                                for c in (
                                    [v["Model"]["PrimaryContainer"]]
                                    if v["Model"].get("PrimaryContainer")
                                    else v["Model"].get("Containers", [])
                                )
                                if c.get("Image")
                            ],
                            "CurrentWeight": float(v.get("InitialVariantWeight", 1.0)),
                            "DesiredWeight": float(v.get("InitialVariantWeight", 1.0)),
                            "CurrentInstanceCount": v.get("InitialInstanceCount", 1),
                            "DesiredInstanceCount": v.get("InitialInstanceCount", 1),
                        }
                        for v in variants
                    ]
                elif phase == "Creating":
                    record["EndpointStatus"] = "Failed"
                    record["FailureReason"] = reason
                else:  # a failed update leaves the old deployment serving, as AWS rolls back
                    record["EndpointStatus"] = "InService"
                    record["FailureReason"] = reason
            if reason is None:
                self.record_lineage(ENDPOINT, name, variants)
        except KeyError:
            pass  # deleted while deploying
        finally:
            self._finish(ENDPOINT, name)

    def update_endpoint(self, **request: Any) -> dict[str, Any]:
        req = self._request("UpdateEndpoint", request)
        name = req["EndpointName"]
        config = req["EndpointConfigName"]
        with self._lock:
            record = self._get(ENDPOINT, name, self._endpoint_missing(name))
            if record["EndpointStatus"] not in ("InService", "Failed"):
                raise ServiceError(
                    "ValidationException",
                    f'Cannot update in-progress endpoint "{record["EndpointArn"]}".',
                )
            variants = self._variants(config)
            with self._edit(ENDPOINT, name) as rec:
                rec["EndpointStatus"] = "Updating"
                rec["PendingDeploymentSummary"] = {
                    "EndpointConfigName": config,
                    "StartTime": _now(),
                }
        self._settle(
            self._start(
                ENDPOINT, name, lambda running: self._deploy(name, config, variants, "Updating")
            )
        )
        return {"EndpointArn": record["EndpointArn"]}

    def describe_endpoint(self, **request: Any) -> dict[str, Any]:
        req = self._request("DescribeEndpoint", request)
        name = req["EndpointName"]
        return self._out(
            "DescribeEndpoint", self._get(ENDPOINT, name, self._endpoint_missing(name))
        )

    def delete_endpoint(self, **request: Any) -> dict[str, Any]:
        req = self._request("DeleteEndpoint", request)
        name = req["EndpointName"]
        with self._lock:
            self._get(ENDPOINT, name, self._endpoint_missing(name))
            with self._edit(ENDPOINT, name) as record:
                record["EndpointStatus"] = "Deleting"
            running = self._running.get((ENDPOINT, name))
        if running is not None and running.thread is not None:
            running.thread.join()
        self.hosting.undeploy(name)
        self.records.delete(ENDPOINT, name)
        return {}

    def list_endpoints(self, **request: Any) -> dict[str, Any]:
        req = self._request("ListEndpoints", request)
        keys = ("EndpointName", "EndpointArn", "CreationTime", "LastModifiedTime", "EndpointStatus")
        items, token = self._list(ENDPOINT, req, "EndpointName", "EndpointStatus", keys)
        out = self._out("ListEndpoints", {"Endpoints": items})
        if token:
            out["NextToken"] = token
        return out

    # -- transform jobs ------------------------------------------------------------------------

    def create_transform_job(self, **request: Any) -> dict[str, Any]:
        job = self._request("CreateTransformJob", request)
        name = job["TransformJobName"]
        self._get(MODEL, job["ModelName"], self._model_missing(job["ModelName"]))
        tags = job.pop("Tags", None)
        now = _now()
        record = {
            **job,
            "TransformJobArn": self._arn(TRANSFORM, name),
            "TransformJobStatus": "InProgress",
            "CreationTime": now,
        }
        self._insert(TRANSFORM, name, record)
        self._keep_tags(record["TransformJobArn"], tags)
        self._start(TRANSFORM, name, lambda running: self._run_transform(name, running))
        return {"TransformJobArn": record["TransformJobArn"]}

    def _run_transform(self, name: str, running: _Running) -> None:
        from localaws.sagemaker.transform import run_transform_job

        try:
            job = self.records.get(TRANSFORM, name)
            assert job is not None
            with self._edit(TRANSFORM, name) as record:
                record["TransformStartTime"] = _now()
            request = {
                k: v
                for k, v in job.items()
                if k in self._model.operation_model("CreateTransformJob").input_shape.members
            }
            log_file = training.log_path(self.runtime, "transform", name)
            log_file.write_text("")

            def write_log(line: str) -> None:
                with open(log_file, "a") as fh:
                    fh.write(line.rstrip("\n") + "\n")

            status, reason = "Completed", None
            try:
                model = self._out(
                    "DescribeModel",
                    self._get(MODEL, job["ModelName"], self._model_missing(job["ModelName"])),
                )
                run_transform_job(self.runtime, request, model, running.cancelled, write_log)
                if running.cancelled.is_set():
                    status, reason = (
                        ("Failed", CLOSE_REASON) if running.closing else ("Stopped", None)
                    )
            except (LocalAwsError, ServiceError) as e:
                if running.cancelled.is_set() and not running.closing:
                    status = "Stopped"
                else:
                    status, reason = "Failed", e.message if isinstance(e, ServiceError) else str(e)
            except Exception as e:
                log.exception("transform job %s: unexpected error", name)
                status, reason = "Failed", f"InternalServerError: {type(e).__name__}: {e}"
            self._end_job(TRANSFORM, name, "TransformJobStatus", "TransformEndTime", status, reason)
        finally:
            self._finish(TRANSFORM, name)

    def describe_transform_job(self, **request: Any) -> dict[str, Any]:
        req = self._request("DescribeTransformJob", request)
        name = req["TransformJobName"]
        return self._out(
            "DescribeTransformJob", self._get(TRANSFORM, name, self._job_not_found(name))
        )

    def stop_transform_job(self, **request: Any) -> dict[str, Any]:
        req = self._request("StopTransformJob", request)
        name = req["TransformJobName"]
        self._stop_job(TRANSFORM, name, "TransformJobStatus", self._job_not_found(name))
        return {}

    # -- lifecycle -------------------------------------------------------------------------------

    def _clean_leftovers(self) -> None:
        """What dead jobs left: working directories of jobs that did not complete (an
        interrupted job restarts in a fresh one) and every transform temp directory."""
        for kind, directory in ((TRAINING, "training"), (PROCESSING, "processing")):
            root = self.runtime.layout.jobs(directory)
            if not root.is_dir():
                continue
            status_key = f"{kind}Status"
            for path in root.iterdir():
                record = self.records.get(kind, path.name)
                if record is None or record[status_key] != "Completed":
                    shutil.rmtree(path, ignore_errors=True)
        temp = self.runtime.layout.transform
        if temp.is_dir():
            for path in temp.iterdir():
                shutil.rmtree(path, ignore_errors=True)

    def recover(self) -> None:
        """After a restart: interrupted jobs run again under the same name and record (as
        SageMaker replaces a lost instance), endpoints that were serving come back and
        endpoints that were Creating or Updating finish their transition.

        Jobs are restarted only by a runtime that owns the state directory alone
        (``Runtime.resumes``); a CLI command sharing it leaves them for the next owner."""
        forkserver.warm()  # the job template imports the ML stack while the runtime starts
        self.event_outbox.start()  # queued model package events go on to the default bus
        resumes = getattr(self.runtime, "resumes", True)
        if resumes:
            self._clean_leftovers()
        runners: dict[str, Callable[[str, _Running], None]] = {
            TRAINING: self._run_training,
            PROCESSING: self._run_processing,
            TRANSFORM: self._run_transform,
        }
        for kind, status_key, end_key in (
            (TRAINING, "TrainingJobStatus", "TrainingEndTime"),
            (PROCESSING, "ProcessingJobStatus", "ProcessingEndTime"),
            (TRANSFORM, "TransformJobStatus", "TransformEndTime"),
        ):
            for record in self.records.list(kind):
                if record[status_key] not in RUNNING or not resumes:
                    continue
                name = record[f"{kind}Name"]
                if (kind, name) in self._running:
                    continue
                with self._edit(kind, name) as rec:
                    if rec[status_key] == "Stopping":  # the stop the user asked for, done
                        rec[status_key] = "Stopped"
                        rec[end_key] = _now()
                        if kind == TRAINING:
                            self._transition(rec, "Stopped", "Training job stopped")
                            rec["SecondaryStatusTransitions"][-1]["EndTime"] = rec[end_key]
                        continue
                    if kind == TRAINING:
                        self._transition(rec, "Starting", RESTART_MESSAGE)
                self._start(kind, name, functools.partial(runners[kind], name))
        if resumes:  # after the training jobs: a tuning job's supervisor follows its trials
            self._recover_tuning()
        threads = []
        for record in self.records.list(ENDPOINT):
            name, status = record["EndpointName"], record["EndpointStatus"]
            if status == "Deleting":
                self.hosting.undeploy(name)
                self.records.delete(ENDPOINT, name)
            elif status in ("Creating", "InService", "Updating", "SystemUpdating"):
                # Updating: the update the endpoint was making (PendingDeploymentSummary)
                pending = (record.get("PendingDeploymentSummary") or {}).get("EndpointConfigName")
                config = (
                    pending if status == "Updating" and pending else record["EndpointConfigName"]
                )
                try:
                    variants = self._variants(config)
                except ServiceError as e:
                    with self._edit(ENDPOINT, name) as rec:
                        rec["EndpointStatus"] = "Failed"
                        rec["FailureReason"] = e.message
                    continue
                if status in ("InService", "SystemUpdating"):
                    with self._edit(ENDPOINT, name) as rec:
                        rec["EndpointStatus"] = "SystemUpdating"
                phase = "Updating" if status == "Updating" else "Creating"
                thread = threading.Thread(
                    target=self._deploy,
                    args=(name, config, variants, phase),
                    name=f"recover-{name}",
                    daemon=True,
                )
                thread.start()
                threads.append(thread)
        for thread in threads:
            thread.join()
        self.recover_monitoring()

    def close(self) -> None:
        """Stop running jobs (recorded as Failed: the runtime closed) and every endpoint server."""
        if "event_outbox" in self.__dict__:
            self.event_outbox.stop()  # what is queued waits in the database
        self.close_monitoring()
        with self._lock:
            running = list(self._running.items())
        for (kind, _), job in running:
            if kind != ENDPOINT:
                job.closing = True
                job.cancelled.set()
        for _, job in running:
            if job.thread is not None:
                job.thread.join(timeout=30)
        if self._hosting is not None:
            self._hosting.close()
