"""Model Monitor: job definitions, monitoring schedules, their executions and the scheduler.

:class:`MonitoringApi` is mixed into the SageMaker backend: Create/Describe/List/Delete for
data-quality and model-quality job definitions and monitoring schedules, Start/Stop of
schedules, ListMonitoringExecutions.

A schedule runs on its cron (``cron(0 * ? * * *)``, AWS's six fields) through one scheduler
thread per runtime, once right away for ``ScheduleExpression: NOW`` (AWS's one-time schedule,
its window given by ``DataAnalysisStartTime``/``DataAnalysisEndTime``, e.g. ``-PT1H``/
``-PT0H``), or on demand with :meth:`MonitoringApi.run_monitoring_schedule` (the Python API
and the CLI; not an AWS operation).  An execution is a real processing job of the analyzer
image (:mod:`localaws.sagemaker.monitor_analyzer`) over the endpoint's captured data in the
window (the previous hour for a cron schedule), the baseline's constraints and statistics
and, for model quality, the ground truth; its outputs (``statistics.json``,
``constraint_violations.json``) land in ``<S3Uri>/<endpoint>/<schedule>/YYYY/MM/DD/HH``.
The execution's status is the job's, ``CompletedWithViolations`` when it found violations.
"""

from __future__ import annotations

import json
import logging
import re
import threading
import time
import uuid
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from localaws.errors import ServiceError

if TYPE_CHECKING:
    from localaws.runtime import Runtime

log = logging.getLogger(__name__)

SCHEDULE, EXECUTION = "MonitoringSchedule", "MonitoringExecution"
DATA_QUALITY, MODEL_QUALITY = "DataQuality", "ModelQuality"
DEFINITION_KINDS = {
    DATA_QUALITY: "DataQualityJobDefinition",
    MODEL_QUALITY: "ModelQualityJobDefinition",
}
CAPTURE_PATH = "/opt/ml/processing/input/endpoint"
GROUND_TRUTH_PATH = "/opt/ml/processing/groundtruth"
BASELINE_PATH = "/opt/ml/processing/baseline"
OUTPUT_PATH = "/opt/ml/processing/output"
NOW = "NOW"
_DURATION = re.compile(r"^-P(?:(\d+)D)?(?:T(?:(\d+)H)?(?:(\d+)M)?(?:(\d+)S)?)?$")


def parse_offset(value: str, where: str) -> timedelta:
    """``-PT1H``, ``-P1DT2H``, ``-PT0H`` -> a negative timedelta."""
    m = _DURATION.match(value or "")
    if not m or value in ("-P", "-PT"):
        raise ServiceError(
            "ValidationException",
            f"{where}: {value!r} is not a negative ISO-8601 duration such as -PT1H",
        )
    days, hours, minutes, seconds = (int(g or 0) for g in m.groups())
    return -timedelta(days=days, hours=hours, minutes=minutes, seconds=seconds)


def cron_iter(expression: str, start: datetime) -> Any:
    """A croniter over AWS's ``cron(min hour day-of-month month day-of-week year)``."""
    from croniter import croniter

    m = re.fullmatch(r"cron\((.+)\)", expression.strip())
    fields = m.group(1).split() if m else []
    if len(fields) != 6:
        raise ServiceError(
            "ValidationException",
            f"ScheduleConfig.ScheduleExpression: {expression!r} is neither NOW nor "
            "cron(minute hour day-of-month month day-of-week year), e.g. cron(0 * ? * * *)",
        )
    minute, hour, dom, month, dow, _year = (f.replace("?", "*") for f in fields)
    dow = re.sub(r"\d", lambda d: str((int(d.group()) - 1) % 7), dow)  # AWS: 1 = Sunday
    spec = " ".join((minute, hour, dom, month, dow))
    if not croniter.is_valid(spec):
        raise ServiceError(
            "ValidationException",
            f"ScheduleConfig.ScheduleExpression: {expression!r} is not a valid cron expression",
        )
    return croniter(spec, start)


def _iso(when: datetime) -> str:
    """``when`` in UTC, with its fraction of a second when it has one: captures stamp their
    inferenceTime to the second, so a capture at 12:00:05.3 (stamped 12:00:05) falls before a
    window's end at 12:00:05.6 and after none that starts within 12:00:05."""
    when = when.astimezone(UTC)
    return when.strftime("%Y-%m-%dT%H:%M:%S.%fZ" if when.microsecond else "%Y-%m-%dT%H:%M:%SZ")


class MonitoringApi:
    """Model Monitor operations of the SageMaker backend (mixed into SageMakerBackend)."""

    runtime: Runtime
    records: Any
    _lock: Any
    _running: dict[tuple[str, str], Any]

    if TYPE_CHECKING:

        def _request(self, operation: str, params: dict[str, Any]) -> dict[str, Any]: ...
        def _out(self, operation: str, record: dict[str, Any]) -> dict[str, Any]: ...
        def _list(
            self,
            kind: str,
            req: dict[str, Any],
            name_key: str,
            status_key: str,
            keys: tuple[str, ...],
        ) -> tuple[list[dict[str, Any]], str | None]: ...
        def create_processing_job(self, **request: Any) -> dict[str, Any]: ...

    _scheduler: MonitorScheduler | None = None

    # -- job definitions ------------------------------------------------------------------

    def _create_definition(self, monitoring_type: str, request: dict[str, Any]) -> dict[str, Any]:
        kind = DEFINITION_KINDS[monitoring_type]
        req = self._request(f"Create{kind}", request)
        name = req["JobDefinitionName"]
        req.pop("Tags", None)
        resource = f"{monitoring_type[0].lower()}{monitoring_type[1:]}".replace(
            "Quality", "-quality"
        )
        arn = self.runtime.arn("sagemaker", f"{resource.lower()}-job-definition/{name.lower()}")
        record = {**req, "JobDefinitionArn": arn, "CreationTime": time.time()}
        if not self.records.insert_new(kind, name, record, record["CreationTime"]):
            raise ServiceError("ResourceInUse", f"Job definition {arn} already exists")
        return {"JobDefinitionArn": arn}

    def _definition(self, monitoring_type: str, name: str) -> dict[str, Any]:
        record = self.records.get(DEFINITION_KINDS[monitoring_type], name)
        if record is None:
            raise ServiceError(
                "ResourceNotFound", f"Could not find {monitoring_type} job definition {name}"
            )
        return record

    def _describe_definition(self, monitoring_type: str, request: dict[str, Any]) -> dict[str, Any]:
        kind = DEFINITION_KINDS[monitoring_type]
        req = self._request(f"Describe{kind}", request)
        return self._out(
            f"Describe{kind}", self._definition(monitoring_type, req["JobDefinitionName"])
        )

    def _delete_definition(self, monitoring_type: str, request: dict[str, Any]) -> dict[str, Any]:
        kind = DEFINITION_KINDS[monitoring_type]
        req = self._request(f"Delete{kind}", request)
        name = req["JobDefinitionName"]
        self._definition(monitoring_type, name)
        for schedule in self.records.list(SCHEDULE):
            if schedule["MonitoringScheduleConfig"].get("MonitoringJobDefinitionName") == name:
                raise ServiceError(
                    "ValidationException",
                    f"Job definition {name} is used by monitoring schedule "
                    f"{schedule['MonitoringScheduleName']}; delete the schedule first",
                )
        self.records.delete(kind, name)
        return {}

    def _list_definitions(self, monitoring_type: str, request: dict[str, Any]) -> dict[str, Any]:
        kind = DEFINITION_KINDS[monitoring_type]
        req = self._request(f"List{kind}s", request)
        items = []
        for record in self.records.list(kind):
            endpoint = _endpoint_input(record, monitoring_type).get("EndpointName")
            if req.get("EndpointName") and endpoint != req["EndpointName"]:
                continue
            items.append(
                {
                    "MonitoringJobDefinitionName": record["JobDefinitionName"],
                    "MonitoringJobDefinitionArn": record["JobDefinitionArn"],
                    "CreationTime": record["CreationTime"],
                    "EndpointName": endpoint,
                    "JobDefinitionName": record["JobDefinitionName"],
                }
            )
        req.pop("EndpointName", None)
        page, token = _page(items, req, "MonitoringJobDefinitionName")
        out = self._out(f"List{kind}s", {"JobDefinitionSummaries": page})
        if token:
            out["NextToken"] = token
        return out

    def create_data_quality_job_definition(self, **request: Any) -> dict[str, Any]:
        return self._create_definition(DATA_QUALITY, request)

    def describe_data_quality_job_definition(self, **request: Any) -> dict[str, Any]:
        return self._describe_definition(DATA_QUALITY, request)

    def delete_data_quality_job_definition(self, **request: Any) -> dict[str, Any]:
        return self._delete_definition(DATA_QUALITY, request)

    def list_data_quality_job_definitions(self, **request: Any) -> dict[str, Any]:
        return self._list_definitions(DATA_QUALITY, request)

    def create_model_quality_job_definition(self, **request: Any) -> dict[str, Any]:
        return self._create_definition(MODEL_QUALITY, request)

    def describe_model_quality_job_definition(self, **request: Any) -> dict[str, Any]:
        return self._describe_definition(MODEL_QUALITY, request)

    def delete_model_quality_job_definition(self, **request: Any) -> dict[str, Any]:
        return self._delete_definition(MODEL_QUALITY, request)

    def list_model_quality_job_definitions(self, **request: Any) -> dict[str, Any]:
        return self._list_definitions(MODEL_QUALITY, request)

    # -- schedules ------------------------------------------------------------------------

    def _schedule(self, name: str) -> dict[str, Any]:
        record = self.records.get(SCHEDULE, name)
        if record is None:
            raise ServiceError(
                "ResourceNotFound", f"Monitoring Schedule {name} does not exist in this account"
            )
        return record

    def create_monitoring_schedule(self, **request: Any) -> dict[str, Any]:
        req = self._request("CreateMonitoringSchedule", request)
        name = req["MonitoringScheduleName"]
        endpoint, monitoring_type, expression = self._check_schedule_config(
            req["MonitoringScheduleConfig"]
        )
        req.pop("Tags", None)
        now = time.time()
        record = {
            **req,
            "MonitoringScheduleArn": self.runtime.arn(
                "sagemaker", f"monitoring-schedule/{name.lower()}"
            ),
            "MonitoringScheduleStatus": "Scheduled",
            "MonitoringType": monitoring_type,
            "EndpointName": endpoint,
            "CreationTime": now,
            "LastModifiedTime": now,
        }
        if not self.records.insert_new(SCHEDULE, name, record, now):
            raise ServiceError(
                "ResourceInUse", f"Monitoring Schedule {name} already exists in this account"
            )
        self._schedule_changed(name, expression)
        return {"MonitoringScheduleArn": record["MonitoringScheduleArn"]}

    def update_monitoring_schedule(self, **request: Any) -> dict[str, Any]:
        """Replace a schedule's configuration (its baseline, job definition or expression)."""
        req = self._request("UpdateMonitoringSchedule", request)
        name = req["MonitoringScheduleName"]
        endpoint, monitoring_type, expression = self._check_schedule_config(
            req["MonitoringScheduleConfig"]
        )
        with self._lock:
            record = self._schedule(name)
            record.update(
                MonitoringScheduleConfig=req["MonitoringScheduleConfig"],
                MonitoringType=monitoring_type,
                EndpointName=endpoint,
                MonitoringScheduleStatus="Scheduled",
                LastModifiedTime=time.time(),
            )
            self.records.put(SCHEDULE, name, record, record["CreationTime"])
        self._schedule_changed(name, expression)
        return {"MonitoringScheduleArn": record["MonitoringScheduleArn"]}

    def _schedule_changed(self, name: str, expression: str) -> None:
        if expression == NOW:
            threading.Thread(
                target=self._run_logged,
                args=(name, datetime.now(UTC)),
                name=f"monitoring-{name}",
                daemon=True,
            ).start()
        else:
            self._monitor_scheduler().wake()

    def _check_schedule_config(self, config: dict[str, Any]) -> tuple[str, str, str]:
        """(endpoint, monitoring type, schedule expression) of a MonitoringScheduleConfig,
        refused when it cannot run; fills in the default MonitoringType."""
        monitoring_type = config.get("MonitoringType", DATA_QUALITY)
        if monitoring_type not in DEFINITION_KINDS:
            raise ServiceError(
                "ValidationException",
                f"MonitoringScheduleConfig.MonitoringType: {monitoring_type} monitoring does not "
                "run locally; use DataQuality or ModelQuality",
            )
        config["MonitoringType"] = monitoring_type
        if config.get("MonitoringJobDefinitionName"):
            definition = self._definition(monitoring_type, config["MonitoringJobDefinitionName"])
        elif config.get("MonitoringJobDefinition"):
            definition = config["MonitoringJobDefinition"]
        else:
            raise ServiceError(
                "ValidationException",
                "MonitoringScheduleConfig: give MonitoringJobDefinitionName or "
                "MonitoringJobDefinition",
            )
        endpoint = _endpoint_input(definition, monitoring_type).get("EndpointName")
        if not endpoint:
            raise ServiceError(
                "ValidationException",
                "the job definition's EndpointInput.EndpointName is required locally "
                "(batch transform input is not monitored locally)",
            )
        schedule = config.get("ScheduleConfig") or {}
        expression = schedule.get("ScheduleExpression", "")
        if expression == NOW:
            for member in ("DataAnalysisStartTime", "DataAnalysisEndTime"):
                parse_offset(schedule.get(member, ""), f"ScheduleConfig.{member}")
        else:
            cron_iter(expression, datetime.now(UTC))
        return str(endpoint), monitoring_type, expression

    def describe_monitoring_schedule(self, **request: Any) -> dict[str, Any]:
        req = self._request("DescribeMonitoringSchedule", request)
        return self._out(
            "DescribeMonitoringSchedule", self._schedule(req["MonitoringScheduleName"])
        )

    def _set_schedule_status(self, name: str, status: str) -> None:
        with self._lock:
            record = self._schedule(name)
            record["MonitoringScheduleStatus"] = status
            record["LastModifiedTime"] = time.time()
            self.records.put(SCHEDULE, name, record, record["CreationTime"])
        if self._scheduler is not None:
            self._scheduler.wake()

    def stop_monitoring_schedule(self, **request: Any) -> dict[str, Any]:
        req = self._request("StopMonitoringSchedule", request)
        self._set_schedule_status(req["MonitoringScheduleName"], "Stopped")
        return {}

    def start_monitoring_schedule(self, **request: Any) -> dict[str, Any]:
        req = self._request("StartMonitoringSchedule", request)
        self._set_schedule_status(req["MonitoringScheduleName"], "Scheduled")
        return {}

    def delete_monitoring_schedule(self, **request: Any) -> dict[str, Any]:
        req = self._request("DeleteMonitoringSchedule", request)
        name = req["MonitoringScheduleName"]
        self._schedule(name)
        self.records.delete(SCHEDULE, name)
        if self._scheduler is not None:
            self._scheduler.wake()
        return {}

    def list_monitoring_schedules(self, **request: Any) -> dict[str, Any]:
        req = self._request("ListMonitoringSchedules", request)
        items = [
            {
                **{
                    k: r.get(k)
                    for k in (
                        "MonitoringScheduleName",
                        "MonitoringScheduleArn",
                        "CreationTime",
                        "LastModifiedTime",
                        "MonitoringScheduleStatus",
                        "EndpointName",
                        "MonitoringType",
                    )
                },
                "MonitoringJobDefinitionName": r["MonitoringScheduleConfig"].get(
                    "MonitoringJobDefinitionName"
                ),
            }
            for r in self.records.list(SCHEDULE)
        ]
        items = _filter(
            items,
            req,
            {
                "EndpointName": "EndpointName",
                "StatusEquals": "MonitoringScheduleStatus",
                "MonitoringJobDefinitionName": "MonitoringJobDefinitionName",
                "MonitoringTypeEquals": "MonitoringType",
            },
        )
        page, token = _page(items, req, "MonitoringScheduleName", "MonitoringScheduleStatus")
        out = self._out("ListMonitoringSchedules", {"MonitoringScheduleSummaries": page})
        if token:
            out["NextToken"] = token
        return out

    def list_monitoring_executions(self, **request: Any) -> dict[str, Any]:
        req = self._request("ListMonitoringExecutions", request)
        items = _filter(
            self.records.list(EXECUTION),
            req,
            {
                "MonitoringScheduleName": "MonitoringScheduleName",
                "EndpointName": "EndpointName",
                "StatusEquals": "MonitoringExecutionStatus",
                "MonitoringJobDefinitionName": "MonitoringJobDefinitionName",
                "MonitoringTypeEquals": "MonitoringType",
            },
        )
        for member, test in (
            ("ScheduledTimeAfter", lambda r, t: r["ScheduledTime"] > t),
            ("ScheduledTimeBefore", lambda r, t: r["ScheduledTime"] < t),
        ):
            if req.get(member) is not None:
                items = [r for r in items if test(r, req[member])]
        if req.get("SortBy") == "ScheduledTime":
            req["SortBy"] = "ScheduledTime"
        page, token = _page(items, req, "ScheduledTime", "MonitoringExecutionStatus")
        out = self._out("ListMonitoringExecutions", {"MonitoringExecutionSummaries": page})
        if token:
            out["NextToken"] = token
        return out

    # -- executions -------------------------------------------------------------------------

    def run_monitoring_schedule(
        self,
        MonitoringScheduleName: str,
        ScheduledTime: datetime | None = None,
        DataAnalysisStartTime: datetime | None = None,
        DataAnalysisEndTime: datetime | None = None,
    ) -> dict[str, Any]:
        """Run one execution of the schedule now and wait for it; return its summary.

        The window defaults to the schedule's: the hour before ``ScheduledTime`` (now) for a
        cron schedule, the offsets of a NOW schedule or of a model-quality EndpointInput.
        """
        return self._run_execution(
            MonitoringScheduleName,
            ScheduledTime or datetime.now(UTC),
            (DataAnalysisStartTime, DataAnalysisEndTime),
        )

    def _run_logged(self, name: str, scheduled: datetime) -> None:
        try:
            self._run_execution(name, scheduled, (None, None))
        except Exception:
            log.exception("monitoring schedule %s: the execution failed to start", name)

    def _run_execution(
        self,
        name: str,
        scheduled: datetime,
        window: tuple[datetime | None, datetime | None],
    ) -> dict[str, Any]:
        schedule = self._schedule(name)
        config = schedule["MonitoringScheduleConfig"]
        monitoring_type = schedule["MonitoringType"]
        definition_name = config.get("MonitoringJobDefinitionName")
        definition = (
            self._definition(monitoring_type, definition_name)
            if definition_name
            else config["MonitoringJobDefinition"]
        )
        start, end = self._window(config, definition, monitoring_type, scheduled, window)
        job_name = f"model-monitoring-{scheduled:%Y%m%d%H%M}-{uuid.uuid4().hex[:8]}"
        now = time.time()
        execution = {
            "MonitoringScheduleName": name,
            "ScheduledTime": scheduled.timestamp(),
            "CreationTime": now,
            "LastModifiedTime": now,
            "MonitoringExecutionStatus": "Pending",
            "EndpointName": schedule["EndpointName"],
            "MonitoringType": monitoring_type,
            "ProcessingJobName": job_name,
        }
        if definition_name:
            execution["MonitoringJobDefinitionName"] = definition_name
        try:
            request = self._processing_request(
                job_name, schedule, definition, monitoring_type, scheduled, start, end
            )
            arn = self.create_processing_job(**request)["ProcessingJobArn"]
        except ServiceError as e:
            execution.update(MonitoringExecutionStatus="Failed", FailureReason=e.message)
            self._put_execution(name, job_name, execution)
            return execution
        execution.update(ProcessingJobArn=arn, MonitoringExecutionStatus="InProgress")
        self._put_execution(name, job_name, execution)
        running = self._running.get(("ProcessingJob", job_name))
        if running is not None and running.thread is not None:
            running.thread.join()
        job = self.records.get("ProcessingJob", job_name)
        status = job["ProcessingJobStatus"]
        if status == "Completed":
            output = request["ProcessingOutputConfig"]["Outputs"][0]["S3Output"]["S3Uri"]
            violations_uri = f"{output}/constraint_violations.json"
            found = []
            if self.runtime.storage.exists(violations_uri):
                found = json.loads(self.runtime.storage.read(violations_uri))["violations"]
            execution["MonitoringExecutionStatus"] = (
                "CompletedWithViolations" if found else "Completed"
            )
        else:
            execution["MonitoringExecutionStatus"] = status
            if job.get("FailureReason"):
                execution["FailureReason"] = job["FailureReason"]
        execution["LastModifiedTime"] = time.time()
        self._put_execution(name, job_name, execution)
        return self._out("ListMonitoringExecutions", {"MonitoringExecutionSummaries": [execution]})[
            "MonitoringExecutionSummaries"
        ][0]

    def _put_execution(self, schedule: str, job_name: str, execution: dict[str, Any]) -> None:
        self.records.put(EXECUTION, job_name, execution, execution["CreationTime"])
        with self._lock:
            record = self.records.get(SCHEDULE, schedule)
            if record is not None:
                record["LastMonitoringExecutionSummary"] = execution
                self.records.put(SCHEDULE, schedule, record, record["CreationTime"])

    @staticmethod
    def _window(
        config: dict[str, Any],
        definition: dict[str, Any],
        monitoring_type: str,
        scheduled: datetime,
        window: tuple[datetime | None, datetime | None],
    ) -> tuple[datetime, datetime]:
        schedule = config.get("ScheduleConfig") or {}
        endpoint_input = _endpoint_input(definition, monitoring_type)
        if schedule.get("ScheduleExpression") == NOW:
            start = scheduled + parse_offset(
                schedule["DataAnalysisStartTime"], "DataAnalysisStartTime"
            )
            end = scheduled + parse_offset(schedule["DataAnalysisEndTime"], "DataAnalysisEndTime")
        elif endpoint_input.get("StartTimeOffset"):
            start = scheduled + parse_offset(endpoint_input["StartTimeOffset"], "StartTimeOffset")
            end = scheduled + parse_offset(
                endpoint_input.get("EndTimeOffset", "-PT0H"), "EndTimeOffset"
            )
        else:
            hour = scheduled.replace(minute=0, second=0, microsecond=0)
            start, end = hour - timedelta(hours=1), hour
            if window == (None, None) and scheduled != hour:  # on demand: the last hour
                start, end = scheduled - timedelta(hours=1), scheduled + timedelta(seconds=1)
        return window[0] or start, window[1] or end

    def _processing_request(
        self,
        job_name: str,
        schedule: dict[str, Any],
        definition: dict[str, Any],
        monitoring_type: str,
        scheduled: datetime,
        start: datetime,
        end: datetime,
    ) -> dict[str, Any]:
        endpoint = schedule["EndpointName"]
        endpoint_input = _endpoint_input(definition, monitoring_type)
        capture = self._capture_destination(endpoint)
        if monitoring_type == MODEL_QUALITY:
            app = definition["ModelQualityAppSpecification"]
            baseline = definition.get("ModelQualityBaselineConfig") or {}
            outputs = definition["ModelQualityJobOutputConfig"]
        elif "DataQualityAppSpecification" in definition:
            app = definition["DataQualityAppSpecification"]
            baseline = definition.get("DataQualityBaselineConfig") or {}
            outputs = definition["DataQualityJobOutputConfig"]
        else:  # an inline MonitoringJobDefinition
            app = definition["MonitoringAppSpecification"]
            baseline = definition.get("BaselineConfig") or {}
            outputs = definition["MonitoringOutputConfig"]
        env = {
            **(definition.get("Environment") or {}),
            **(app.get("Environment") or {}),
            "dataset_format": json.dumps(
                {"sagemakerCaptureJson": {"captureIndexNames": ["endpointInput", "endpointOutput"]}}
            ),
            "dataset_source": CAPTURE_PATH,
            "output_path": OUTPUT_PATH,
            "publish_cloudwatch_metrics": "Disabled",
            "sagemaker_endpoint_name": endpoint,
            "sagemaker_monitoring_schedule_name": schedule["MonitoringScheduleName"],
            "start_time": _iso(start),
            "end_time": _iso(end),
            "metric_time": _iso(scheduled),
        }
        inputs = [
            {
                "InputName": "endpoint_input_1",
                "S3Input": {
                    "S3Uri": f"{capture.rstrip('/')}/{endpoint}",
                    "LocalPath": CAPTURE_PATH,
                    "S3DataType": "S3Prefix",
                    "S3InputMode": "File",
                },
            }
        ]
        for key, kind, env_name in (
            ("ConstraintsResource", "constraints", "baseline_constraints"),
            ("StatisticsResource", "statistics", "baseline_statistics"),
        ):
            uri = (baseline.get(key) or {}).get("S3Uri")
            if uri:
                local_path = f"{BASELINE_PATH}/{kind}"
                inputs.append(
                    {
                        "InputName": kind,
                        "S3Input": {
                            "S3Uri": uri,
                            "LocalPath": local_path,
                            "S3DataType": "S3Prefix",
                            "S3InputMode": "File",
                        },
                    }
                )
                env[env_name] = local_path
        if monitoring_type == MODEL_QUALITY:
            env["analysis_type"] = "MODEL_QUALITY"
            env["problem_type"] = app.get("ProblemType", "BinaryClassification")
            for member, env_name in (
                ("InferenceAttribute", "inference_attribute"),
                ("ProbabilityAttribute", "probability_attribute"),
                ("ProbabilityThresholdAttribute", "probability_threshold_attribute"),
            ):
                if endpoint_input.get(member) is not None:
                    env[env_name] = str(endpoint_input[member])
            inputs.append(
                {
                    "InputName": "groundtruth_input_1",
                    "S3Input": {
                        "S3Uri": definition["ModelQualityJobInput"]["GroundTruthS3Input"]["S3Uri"],
                        "LocalPath": GROUND_TRUTH_PATH,
                        "S3DataType": "S3Prefix",
                        "S3InputMode": "File",
                    },
                }
            )
            env["ground_truth_source"] = GROUND_TRUTH_PATH
        destination = outputs["MonitoringOutputs"][0]["S3Output"]["S3Uri"].rstrip("/")
        output_uri = (
            f"{destination}/{endpoint}/{schedule['MonitoringScheduleName']}/{scheduled:%Y/%m/%d/%H}"
        )
        request: dict[str, Any] = {
            "ProcessingJobName": job_name,
            "ProcessingInputs": inputs,
            "ProcessingOutputConfig": {
                "Outputs": [
                    {
                        "OutputName": "monitoring_output",
                        "S3Output": {
                            "S3Uri": output_uri,
                            "LocalPath": OUTPUT_PATH,
                            "S3UploadMode": "EndOfJob",
                        },
                    }
                ]
            },
            "ProcessingResources": definition.get("JobResources")
            or definition.get("MonitoringResources")
            or {
                "ClusterConfig": {
                    "InstanceCount": 1,
                    "InstanceType": "ml.m5.large",
                    "VolumeSizeInGB": 20,
                }
            },
            "AppSpecification": {
                k: v
                for k, v in app.items()
                if k in ("ImageUri", "ContainerEntrypoint", "ContainerArguments")
            },
            "Environment": env,
            "RoleArn": definition.get("RoleArn") or "arn:aws:iam::000000000000:role/local",
        }
        if definition.get("StoppingCondition"):
            request["StoppingCondition"] = definition["StoppingCondition"]
        return request

    def _capture_destination(self, endpoint: str) -> str:
        record = self.records.get("Endpoint", endpoint)
        if record is None:
            raise ServiceError(
                "ValidationException", f"Could not find endpoint {endpoint!r} to monitor"
            )
        config = self.records.get("EndpointConfig", record["EndpointConfigName"]) or {}
        capture = config.get("DataCaptureConfig")
        if not capture or not capture.get("EnableCapture", True):
            raise ServiceError(
                "ValidationException",
                f"endpoint {endpoint}: its endpoint config {record['EndpointConfigName']} does not "
                "capture data; add DataCaptureConfig with EnableCapture",
            )
        return str(capture["DestinationS3Uri"])

    # -- the scheduler -------------------------------------------------------------------------

    def _monitor_scheduler(self) -> MonitorScheduler:
        with self._lock:
            if self._scheduler is None:
                self._scheduler = MonitorScheduler(self)
                self._scheduler.start()
            return self._scheduler

    def recover_monitoring(self) -> None:
        """After a restart: executions that were running failed; schedules run again."""
        for execution in self.records.list(EXECUTION):
            if execution["MonitoringExecutionStatus"] in ("Pending", "InProgress"):
                job = self.records.get("ProcessingJob", execution["ProcessingJobName"]) or {}
                execution["MonitoringExecutionStatus"] = "Failed"
                execution["FailureReason"] = job.get("FailureReason") or "the runtime stopped"
                self.records.put(
                    EXECUTION, execution["ProcessingJobName"], execution, execution["CreationTime"]
                )
        if any(s["MonitoringScheduleStatus"] == "Scheduled" for s in self.records.list(SCHEDULE)):
            self._monitor_scheduler()

    def close_monitoring(self) -> None:
        if self._scheduler is not None:
            self._scheduler.stop()
            self._scheduler = None


class MonitorScheduler:
    """One thread: sleeps until the next cron time of any Scheduled schedule, then runs it."""

    def __init__(self, api: MonitoringApi):
        self.api = api
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._last: dict[str, datetime] = {}
        self._thread = threading.Thread(target=self._loop, name="monitoring-scheduler", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def wake(self) -> None:
        self._wake.set()

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()
        self._thread.join()

    def _due(self, now: datetime) -> tuple[list[tuple[str, datetime]], float]:
        due, wait = [], 3600.0
        for schedule in self.api.records.list(SCHEDULE):
            name = schedule["MonitoringScheduleName"]
            expression = (
                schedule["MonitoringScheduleConfig"]
                .get("ScheduleConfig", {})
                .get("ScheduleExpression")
            )
            if schedule["MonitoringScheduleStatus"] != "Scheduled" or expression == NOW:
                continue
            since = self._last.setdefault(name, now)
            fire = cron_iter(expression, since).get_next(datetime)
            if fire <= now:
                due.append((name, fire))
                self._last[name] = fire
            else:
                wait = min(wait, (fire - now).total_seconds())
        return due, wait

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                due, wait = self._due(datetime.now(UTC))
            except Exception:
                log.exception("monitoring scheduler: reading the schedules failed")
                due, wait = [], 60.0
            for name, fire in due:
                threading.Thread(
                    target=self.api._run_logged,
                    args=(name, fire),
                    name=f"monitoring-{name}",
                    daemon=True,
                ).start()
            self._wake.wait(max(0.05, wait) if not due else 0.05)
            self._wake.clear()


def _endpoint_input(definition: dict[str, Any], monitoring_type: str) -> dict[str, Any]:
    for key in ("DataQualityJobInput", "ModelQualityJobInput"):
        if key in definition:
            return definition[key].get("EndpointInput") or {}
    for item in definition.get("MonitoringInputs") or []:
        if item.get("EndpointInput"):
            return item["EndpointInput"]
    return {}


def _filter(
    items: list[dict[str, Any]], req: dict[str, Any], fields: dict[str, str]
) -> list[dict[str, Any]]:
    for member, key in fields.items():
        if req.get(member):
            items = [i for i in items if i.get(key) == req[member]]
    for member, test in (
        ("CreationTimeAfter", lambda r, t: r["CreationTime"] > t),
        ("CreationTimeBefore", lambda r, t: r["CreationTime"] < t),
        ("LastModifiedTimeAfter", lambda r, t: r.get("LastModifiedTime", 0) > t),
        ("LastModifiedTimeBefore", lambda r, t: r.get("LastModifiedTime", 0) < t),
        (
            "NameContains",
            lambda r, t: (
                t in (r.get("MonitoringScheduleName") or r.get("MonitoringJobDefinitionName") or "")
            ),
        ),
    ):
        if req.get(member) is not None:
            bound = req[member].timestamp() if isinstance(req[member], datetime) else req[member]
            items = [r for r in items if test(r, bound)]
    return items


def _page(
    items: list[dict[str, Any]], req: dict[str, Any], name_key: str, status_key: str = ""
) -> tuple[list[dict[str, Any]], str | None]:
    items = _filter(
        items, {k: v for k, v in req.items() if k.startswith(("CreationTime", "NameContains"))}, {}
    )
    sort = req.get("SortBy", "CreationTime")
    key = {"Name": name_key, "Status": status_key, "ScheduledTime": "ScheduledTime"}.get(
        sort, "CreationTime"
    )
    items.sort(
        key=lambda r: r.get(key) or 0, reverse=req.get("SortOrder", "Descending") == "Descending"
    )
    start = int(req.get("NextToken") or 0)
    limit = int(req.get("MaxResults") or 10)
    token = str(start + limit) if start + limit < len(items) else None
    return items[start : start + limit], token
