"""Automatic model tuning: hyperparameter tuning jobs over real, parallel training jobs.

:class:`TuningApi` is mixed into the SageMaker backend (it uses the backend's records,
locks, job threads and ``create_training_job``).  A tuning job is a supervisor thread that

1. asks its strategy (:mod:`localaws.sagemaker.search`) for points, up to
   ``MaxNumberOfTrainingJobs`` in all and ``MaxParallelTrainingJobs`` at a time, each started
   as a training job named as AWS names them, ``<tuning job>-<NNN>-<8 hex>``, with the static
   hyperparameters, the tuned ones and ``_tuning_objective_metric``;
2. reads the objective from each finished job's ``FinalMetricDataList`` (the built-in
   XGBoost's ``validation:auc``, or a script's ``MetricDefinitions``) and, while jobs run,
   from their logs round by round: ``TrainingJobEarlyStoppingType: Auto`` stops a job whose
   value is worse than the median of the earlier jobs' running averages at the same round
   (AWS's documented rule); the Hyperband strategy stops jobs by successive halving;
3. keeps the Describe shape current: status counters, ``BestTrainingJob`` (and, with warm
   start, ``OverallBestTrainingJob``), and ends Completed, Stopped (StopHyperParameterTuningJob)
   or Failed (no training job reported the objective).

Warm start seeds the search with the parent tuning jobs' results (their points and
objectives are the first observations of the Bayesian search).  Only one training job
definition per tuning job runs locally (``TrainingJobDefinitions`` with several entries is
refused at create time).
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from typing import TYPE_CHECKING, Any

from localaws.errors import ServiceError, UserError
from localaws.sagemaker import metrics, search, training

if TYPE_CHECKING:
    from localaws.runtime import Runtime
    from localaws.store import JsonRecords

log = logging.getLogger(__name__)

TUNING = "HyperParameterTuningJob"
TRAINING = "TrainingJob"
POLL_SECONDS = 0.1
DEFAULT_MAX_JOBS = 100
TUNING_OBJECTIVE_HP = "_tuning_objective_metric"
# HyperParameterTrainingJobDefinition members that a CreateTrainingJob request takes as they are.
COPIED = (
    "RoleArn",
    "InputDataConfig",
    "VpcConfig",
    "OutputDataConfig",
    "ResourceConfig",
    "StoppingCondition",
    "EnableNetworkIsolation",
    "EnableInterContainerTrafficEncryption",
    "EnableManagedSpotTraining",
    "CheckpointConfig",
    "RetryStrategy",
    "Environment",
)
TERMINAL = ("Completed", "Failed", "Stopped")


@dataclass
class _Trial:
    name: str
    point: search.Point
    tuned: dict[str, str]
    series: list[float] = field(default_factory=list)  # the objective, to minimise
    objective: float | None = None  # as reported (not sign-flipped)
    status: str = "InProgress"
    early_stopped: bool = False
    rungs_judged: int = 0  # Hyperband: how many of the rungs this job has been judged at


class TuningApi:
    """CreateHyperParameterTuningJob & co.; mixed into ``SageMakerBackend``."""

    runtime: Runtime
    records: JsonRecords
    _lock: Any
    _running: dict[tuple[str, str], Any]
    _start: Callable[..., Any]
    _finish: Callable[[str, str], None]
    _request: Callable[[str, dict[str, Any]], dict[str, Any]]
    _out: Callable[[str, dict[str, Any]], dict[str, Any]]
    _edit: Callable[..., Any]
    _list: Callable[..., tuple[list[dict[str, Any]], str | None]]
    create_training_job: Callable[..., dict[str, Any]]
    stop_training_job: Callable[..., dict[str, Any]]
    _keep_tags: Callable[[str, list[dict[str, str]] | None], None]

    # -- API ----------------------------------------------------------------------------

    def create_hyper_parameter_tuning_job(self, **request: Any) -> dict[str, Any]:
        req = self._request("CreateHyperParameterTuningJob", request)
        name = req["HyperParameterTuningJobName"]
        try:
            definition = _definition(req)
            parents = self._parents(req.get("WarmStartConfig"))
            _check(req, definition)
        except UserError as e:
            raise ServiceError("ValidationException", str(e)) from e
        config = req["HyperParameterTuningJobConfig"]
        objective = config.get("HyperParameterTuningJobObjective") or definition["TuningObjective"]
        static = definition.setdefault("StaticHyperParameters", {})
        static[TUNING_OBJECTIVE_HP] = objective["MetricName"]  # as AWS records it
        definition["OutputDataConfig"].setdefault("KmsKeyId", "")
        if _is_builtin(definition):  # AWS fills in the algorithm's metrics
            spec = definition["AlgorithmSpecification"]
            spec.setdefault("MetricDefinitions", metrics.builtin_xgboost_definitions())
        tuning_resources = definition.get("HyperParameterTuningResourceConfig") or {}
        if "ResourceConfig" not in definition and "InstanceType" in tuning_resources:
            # AWS describes a single-instance-type definition with ResourceConfig too (the
            # SDK's HyperparameterTuner.attach reads it)
            definition["ResourceConfig"] = {
                k: tuning_resources[k]
                for k in ("InstanceType", "InstanceCount", "VolumeSizeInGB", "VolumeKmsKeyId")
                if k in tuning_resources
            }
        if "TrainingJobDefinitions" in req:
            req["TrainingJobDefinitions"] = [definition]
        else:
            req["TrainingJobDefinition"] = definition
        tags = req.pop("Tags", None)
        now = time.time()
        limits = config["ResourceLimits"]
        record = {
            **req,
            "HyperParameterTuningJobArn": self._tuning_arn(name),
            "HyperParameterTuningJobStatus": "InProgress",
            "CreationTime": now,
            "LastModifiedTime": now,
            "TrainingJobStatusCounters": _counters([]),
            "ObjectiveStatusCounters": _objective_counters([]),
            "Strategy": config["Strategy"],
            "ResourceLimits": limits,
            "Trials": [],
            "Parents": [p["HyperParameterTuningJobName"] for p in parents],
        }
        if not self.records.insert_new(TUNING, name, record, now):
            raise ServiceError("ResourceInUse", f"Hyperparameter tuning job {name} already exists")
        self._keep_tags(record["HyperParameterTuningJobArn"], tags)
        self._start(TUNING, name, lambda running: self._run_tuning(name, running))
        return {"HyperParameterTuningJobArn": record["HyperParameterTuningJobArn"]}

    def describe_hyper_parameter_tuning_job(self, **request: Any) -> dict[str, Any]:
        req = self._request("DescribeHyperParameterTuningJob", request)
        record = self._tuning_record(req["HyperParameterTuningJobName"])
        return self._out("DescribeHyperParameterTuningJob", record)

    def stop_hyper_parameter_tuning_job(self, **request: Any) -> dict[str, Any]:
        req = self._request("StopHyperParameterTuningJob", request)
        name = req["HyperParameterTuningJobName"]
        with self._lock:
            record = self._tuning_record(name)
            if record["HyperParameterTuningJobStatus"] != "InProgress":
                raise ServiceError(
                    "ValidationException",
                    f"The hyperparameter tuning job {name} is in status "
                    f"{record['HyperParameterTuningJobStatus']}; only an InProgress job can be stopped",
                )
            running = self._running.get((TUNING, name))
            with self._edit(TUNING, name) as rec:
                rec["HyperParameterTuningJobStatus"] = "Stopping" if running else "Stopped"
        if running is not None:
            running.cancelled.set()
        return {}

    def list_hyper_parameter_tuning_jobs(self, **request: Any) -> dict[str, Any]:
        req = self._request("ListHyperParameterTuningJobs", request)
        keys = (
            "HyperParameterTuningJobName",
            "HyperParameterTuningJobArn",
            "HyperParameterTuningJobStatus",
            "Strategy",
            "CreationTime",
            "HyperParameterTuningEndTime",
            "LastModifiedTime",
            "TrainingJobStatusCounters",
            "ObjectiveStatusCounters",
            "ResourceLimits",
        )
        items, token = self._list(
            TUNING, req, "HyperParameterTuningJobName", "HyperParameterTuningJobStatus", keys
        )
        out = self._out("ListHyperParameterTuningJobs", {"HyperParameterTuningJobSummaries": items})
        if token:
            out["NextToken"] = token
        return out

    def list_training_jobs_for_hyper_parameter_tuning_job(self, **request: Any) -> dict[str, Any]:
        req = self._request("ListTrainingJobsForHyperParameterTuningJob", request)
        record = self._tuning_record(req["HyperParameterTuningJobName"])
        items = self._summaries(record)
        if req.get("StatusEquals"):
            items = [s for s in items if s["TrainingJobStatus"] == req["StatusEquals"]]
        sort_by = req.get("SortBy", "Name")
        descending = req.get("SortOrder", "Descending") == "Descending"
        if sort_by == "FinalObjectiveMetricValue":
            # jobs without an objective come last in either order, as on AWS
            with_value = [s for s in items if "FinalHyperParameterTuningJobObjectiveMetric" in s]
            without = [s for s in items if "FinalHyperParameterTuningJobObjectiveMetric" not in s]
            with_value.sort(
                key=lambda s: s["FinalHyperParameterTuningJobObjectiveMetric"]["Value"],
                reverse=descending,
            )
            items = with_value + without
        else:
            key = {"Name": "TrainingJobName", "Status": "TrainingJobStatus"}.get(
                sort_by, "CreationTime"
            )
            items.sort(key=lambda s: s.get(key) or 0, reverse=descending)
        try:
            start = int(req.get("NextToken") or 0)
        except ValueError:
            raise ServiceError(
                "ValidationException", f"Invalid pagination token {req['NextToken']!r}"
            ) from None
        limit = int(req.get("MaxResults") or 10)
        out = self._out(
            "ListTrainingJobsForHyperParameterTuningJob",
            {"TrainingJobSummaries": items[start : start + limit]},
        )
        if start + limit < len(items):
            out["NextToken"] = str(start + limit)
        return out

    # -- records ------------------------------------------------------------------------

    def _tuning_arn(self, name: str) -> str:
        return self.runtime.arn("sagemaker", f"hyper-parameter-tuning-job/{name.lower()}")

    def _tuning_record(self, name: str) -> dict[str, Any]:
        record = self.records.get(TUNING, name)
        if record is None:
            raise ServiceError(
                "ResourceNotFound", f"Amazon SageMaker can't find a tuning job named {name}"
            )
        return record

    def _parents(self, warm_start: dict[str, Any] | None) -> list[dict[str, Any]]:
        parents = []
        for i, parent in enumerate((warm_start or {}).get("ParentHyperParameterTuningJobs") or []):
            pname = parent.get("HyperParameterTuningJobName", "")
            record = self.records.get(TUNING, pname)
            where = f"WarmStartConfig.ParentHyperParameterTuningJobs[{i}]"
            if record is None:
                raise UserError(f"{where}: no hyperparameter tuning job named {pname!r}")
            if record["HyperParameterTuningJobStatus"] not in TERMINAL:
                raise UserError(
                    f"{where}: parent tuning job {pname!r} is "
                    f"{record['HyperParameterTuningJobStatus']}; a parent must have ended "
                    "(Completed, Stopped or Failed)"
                )
            parents.append(record)
        return parents

    def _summaries(self, record: dict[str, Any]) -> list[dict[str, Any]]:
        """HyperParameterTrainingJobSummary of each of the tuning job's training jobs."""
        objective = _objective(record)
        definition = _definition(record)
        out = []
        for trial in record.get("Trials") or []:
            job = self.records.get(TRAINING, trial["TrainingJobName"])
            if job is None:
                continue
            summary: dict[str, Any] = {
                "TrainingJobName": job["TrainingJobName"],
                "TrainingJobArn": job["TrainingJobArn"],
                "TuningJobName": record["HyperParameterTuningJobName"],
                "CreationTime": job["CreationTime"],
                "TrainingJobStatus": job["TrainingJobStatus"],
                "TunedHyperParameters": trial["TunedHyperParameters"],
            }
            if definition.get("DefinitionName"):
                summary["TrainingJobDefinitionName"] = definition["DefinitionName"]
            for key in ("TrainingStartTime", "TrainingEndTime", "FailureReason"):
                if key in job:
                    summary[key] = job[key]
            if trial.get("Objective") is not None:
                summary["FinalHyperParameterTuningJobObjectiveMetric"] = {
                    "Type": objective["Type"],
                    "MetricName": objective["MetricName"],
                    "Value": trial["Objective"],
                }
                summary["ObjectiveStatus"] = "Succeeded"
            elif job["TrainingJobStatus"] in TERMINAL:
                summary["ObjectiveStatus"] = "Failed"
            else:
                summary["ObjectiveStatus"] = "Pending"
            out.append(summary)
        return out

    def _best(self, record: dict[str, Any]) -> dict[str, Any] | None:
        """The best summary: completed jobs first (they have a model), by the objective."""
        sign = 1.0 if _objective(record)["Type"] == "Minimize" else -1.0
        scored = [
            s
            for s in self._summaries(record)
            if "FinalHyperParameterTuningJobObjectiveMetric" in s
            and s["TrainingJobStatus"] in ("Completed", "Stopped")
        ]
        if not scored:
            return None
        return min(
            scored,
            key=lambda s: (
                s["TrainingJobStatus"] != "Completed",
                sign * s["FinalHyperParameterTuningJobObjectiveMetric"]["Value"],
            ),
        )

    def _publish(
        self, name: str, trials: list[_Trial], status: str | None = None, reason: str | None = None
    ) -> None:
        """Write the tuning job's progress into its record (counters, best job, status)."""
        with self._edit(TUNING, name) as record:
            record["Trials"] = [
                {
                    "TrainingJobName": t.name,
                    "TunedHyperParameters": t.tuned,
                    "Objective": t.objective,
                }
                for t in trials
            ]
            record["TrainingJobStatusCounters"] = _counters([t.status for t in trials])
            record["ObjectiveStatusCounters"] = _objective_counters(trials)
            best = self._best(record)
            if best is not None:
                record["BestTrainingJob"] = best
                overall = [best]
                for parent in record.get("Parents") or []:
                    parent_record = self.records.get(TUNING, parent)
                    if parent_record and parent_record.get("BestTrainingJob"):
                        overall.append(parent_record["BestTrainingJob"])
                if record.get("Parents"):
                    sign = 1.0 if _objective(record)["Type"] == "Minimize" else -1.0
                    record["OverallBestTrainingJob"] = min(
                        overall,
                        key=lambda s: (
                            sign * s["FinalHyperParameterTuningJobObjectiveMetric"]["Value"]
                        ),
                    )
            if status is not None:
                record["HyperParameterTuningJobStatus"] = status
                now = time.time()
                record["HyperParameterTuningEndTime"] = now
                record["ConsumedResources"] = {
                    "RuntimeInSeconds": max(0, round(now - record["CreationTime"]))
                }
                if reason:
                    record["FailureReason"] = reason

    # -- the supervisor -----------------------------------------------------------------

    def _run_tuning(self, name: str, running: Any) -> None:
        try:
            self._tune(name, running)
        except Exception as e:  # the tuning job fails; the server goes on
            log.exception("tuning job %s: unexpected error", name)
            with contextlib.suppress(KeyError), self._edit(TUNING, name) as record:
                record["HyperParameterTuningJobStatus"] = "Failed"
                record["HyperParameterTuningEndTime"] = time.time()
                record["FailureReason"] = f"InternalServerError: {type(e).__name__}: {e}"
        finally:
            self._finish(TUNING, name)

    def _tune(self, name: str, running: Any) -> None:
        record = self._tuning_record(name)
        config = record["HyperParameterTuningJobConfig"]
        definition = _definition(record)
        objective = _objective(record)
        sign = 1.0 if objective["Type"] == "Minimize" else -1.0
        space = search.parse_space(
            config.get("ParameterRanges") or definition.get("HyperParameterRanges"),
            "ParameterRanges",
        )
        strategy_name = config["Strategy"]
        strategy = search.make_strategy(strategy_name, space, config.get("RandomSeed"))
        limits = config["ResourceLimits"]
        max_jobs = limits.get("MaxNumberOfTrainingJobs") or (
            search.grid_size(space) if strategy_name == "Grid" else DEFAULT_MAX_JOBS
        )
        parallel = limits["MaxParallelTrainingJobs"]
        deadline = (  # counted from the creation, so a resumed job keeps its budget
            time.monotonic()
            + limits["MaxRuntimeInSeconds"]
            - (time.time() - record["CreationTime"])
            if limits.get("MaxRuntimeInSeconds")
            else None
        )
        regex = _objective_regex(definition, objective["MetricName"])
        early = config.get("TrainingJobEarlyStoppingType", "Off") == "Auto"
        hyperband = (config.get("StrategyConfig") or {}).get("HyperbandStrategyConfig") or {}
        rungs = (
            search.hyperband_rungs(
                hyperband.get("MinResource", 1), hyperband.get("MaxResource", 10**6)
            )
            if strategy_name == "Hyperband"
            else []
        )
        criteria = config.get("TuningJobCompletionCriteria") or {}
        observed = self._warm_start_observations(record, space, sign)
        trials = self._recorded_trials(record, space, sign, observed)
        if strategy_name == "Grid":  # the grid goes on after the points already launched
            for _ in trials:
                strategy.suggest(observed, [])
        exhausted = False
        stop_reason: str | None = None

        def active() -> list[_Trial]:
            return [t for t in trials if t.status not in TERMINAL]

        while True:
            if running.cancelled.is_set():
                self._stop_trials(active(), running)
                self._refresh(trials, regex, sign, running)
                closing = getattr(running, "closing", False)
                self._publish(
                    name,
                    trials,
                    "Failed" if closing else "Stopped",
                    "InternalServerError: the local runtime was closed while the job was running"
                    if closing
                    else None,
                )
                return
            if deadline is not None and time.monotonic() >= deadline and stop_reason is None:
                stop_reason = "MaxRuntimeInSeconds"
                self._stop_trials(active(), None)
            while (
                stop_reason is None
                and not exhausted
                and len(active()) < parallel
                and len(trials) < max_jobs
            ):
                pending = [t.point for t in active()]
                point = strategy.suggest(observed, pending)
                if point is None:
                    exhausted = True
                    break
                trials.append(
                    self._launch(
                        name,
                        record,
                        definition,
                        space,
                        point,
                        len(trials) + 1,
                        min(parallel, max_jobs),
                    )
                )
                self._publish(name, trials)
            changed = self._refresh(trials, regex, sign, running)
            for trial in changed:
                if trial.objective is not None:
                    observed.append((trial.point, sign * trial.objective))
            if changed:
                self._publish(name, trials)
                if stop_reason is None and _criteria_met(criteria, trials, sign):
                    stop_reason = "TuningJobCompletionCriteria"
            if early or rungs:
                finished = [t.series for t in trials if t.status == "Completed" and t.series]
                for trial in active():
                    if trial.early_stopped or not trial.series:
                        continue
                    if (early and search.median_rule_stops(trial.series, finished)) or (
                        rungs and not self._hyperband_keeps(trial, trials, rungs)
                    ):
                        trial.early_stopped = True
                        self._stop_trials([trial], None)
            if not active() and (stop_reason or exhausted or len(trials) >= max_jobs):
                break
            if changed:  # a training ended: start the next one now, not after the poll
                continue
            # woken at once when one of the trainings ends (``_Running.wake``)
            running.wake.wait(POLL_SECONDS)
            running.wake.clear()
        succeeded = [t for t in trials if t.objective is not None]
        if not succeeded:
            reasons = sorted({self._failure(t.name) for t in trials} - {""})
            self._publish(
                name,
                trials,
                "Failed",
                "No training job reported the objective metric "
                f"{objective['MetricName']!r}" + (f": {reasons[0]}" if reasons else ""),
            )
        else:
            self._publish(name, trials, "Completed")

    def _recorded_trials(
        self,
        record: dict[str, Any],
        space: list[search.Parameter],
        sign: float,
        observed: list[tuple[search.Point, float]],
    ) -> list[_Trial]:
        """The trials a resumed tuning job had launched (none for a new one): ended ones keep
        their status and objective (added to ``observed``); the others are the training jobs
        the restart runs again under the same name, followed by :meth:`_refresh`."""
        trials = []
        for stored in record.get("Trials") or []:
            tuned = stored["TunedHyperParameters"]
            point = {p.name: p.parse(tuned.get(p.name, "")) for p in space}
            trial = _Trial(stored["TrainingJobName"], point, tuned)
            job = self.records.get(TRAINING, trial.name) or {}
            status = job.get("TrainingJobStatus", "Failed")
            if status in TERMINAL:
                trial.status = status
                trial.objective = stored.get("Objective")
                if trial.objective is not None:
                    observed.append((point, sign * trial.objective))
            trials.append(trial)
        return trials

    @staticmethod
    def _hyperband_keeps(trial: _Trial, trials: list[_Trial], rungs: list[int]) -> bool:
        """Judge the job once at each rung it has reached since the last look (its metric
        may pass several between two polls), on its value at that rung."""
        others = [t.series for t in trials if t is not trial]
        while trial.rungs_judged < len(rungs) and len(trial.series) >= rungs[trial.rungs_judged]:
            rung = rungs[trial.rungs_judged]
            trial.rungs_judged += 1
            if not search.hyperband_keeps(trial.series[:rung], others, rungs):
                return False
        return True

    def _failure(self, job_name: str) -> str:
        job = self.records.get(TRAINING, job_name)
        return (job or {}).get("FailureReason", "")

    def _launch(
        self,
        name: str,
        record: dict[str, Any],
        definition: dict[str, Any],
        space: list[search.Parameter],
        point: search.Point,
        number: int,
        concurrent: int,
    ) -> _Trial:
        """Start the training job of ``point``; it runs alongside up to ``concurrent - 1``
        others of this tuning job, and so gets that share of the CPUs (``CpuShare``)."""
        tuned = {p.name: p.format(point[p.name]) for p in space}
        digest = hashlib.sha256(
            f"{name}/{number}/{sorted(tuned.items())}/{time.time_ns()}".encode()
        )
        job_name = f"{name}-{number:03d}-{digest.hexdigest()[:8]}"
        request = _training_request(definition, tuned, job_name)
        training.CPU_SHARE.expect(job_name, concurrent)
        try:
            self.create_training_job(**request)
        except BaseException:
            training.CPU_SHARE.forget(job_name)
            raise
        with self._edit(TRAINING, job_name) as job:
            job["TuningJobArn"] = record["HyperParameterTuningJobArn"]
        return _Trial(job_name, point, tuned)

    def _refresh(self, trials: list[_Trial], regex: str, sign: float, running: Any) -> list[_Trial]:
        """Read running jobs' objective series; return the trials that just ended."""
        ended = []
        for trial in trials:
            if trial.status in TERMINAL:
                continue
            job = self.records.get(TRAINING, trial.name) or {}
            status = job.get("TrainingJobStatus", "Failed")
            path = training.log_path(self.runtime, "training", trial.name)
            if path.is_file():
                trial.series = [
                    sign * v for v in metrics.series(path.read_text(errors="replace"), regex)
                ]
            if status not in TERMINAL:
                continue
            trial.status = status
            final = {m["MetricName"]: m["Value"] for m in job.get("FinalMetricDataList") or []}
            value = final.get(_objective_name(job))
            if value is None and status == "Stopped" and trial.series:
                value = sign * trial.series[-1]  # an early-stopped job: its last report
            if value is not None and math.isfinite(value):
                trial.objective = float(value)
            ended.append(trial)
        return ended

    def _stop_trials(self, trials: list[_Trial], running: Any) -> None:
        for trial in trials:
            with contextlib.suppress(ServiceError):  # it may end between the check and the stop
                self.stop_training_job(TrainingJobName=trial.name)
        if running is None:
            return
        wait_until = time.monotonic() + 60
        while time.monotonic() < wait_until:
            jobs = [self.records.get(TRAINING, t.name) or {} for t in trials]
            if all(j.get("TrainingJobStatus", "Failed") in TERMINAL for j in jobs):
                return
            time.sleep(POLL_SECONDS)

    def _warm_start_observations(
        self, record: dict[str, Any], space: list[search.Parameter], sign: float
    ) -> list[tuple[search.Point, float]]:
        observed = []
        for parent_name in record.get("Parents") or []:
            parent = self.records.get(TUNING, parent_name)
            if parent is None:
                continue
            parent_static = _definition(parent).get("StaticHyperParameters") or {}
            for trial in parent.get("Trials") or []:
                if trial.get("Objective") is None:
                    continue
                hps = {**parent_static, **trial["TunedHyperParameters"]}
                point = {p.name: p.parse(hps.get(p.name, "")) for p in space}
                if any(v is None for v in point.values()):
                    continue  # outside this job's ranges (transfer learning)
                observed.append((point, sign * trial["Objective"]))
        return observed

    def _recover_tuning(self) -> None:
        """After a restart: a tuning job that was running goes on under the same record (its
        ended training jobs kept, the interrupted ones already restarted by ``recover``, the
        remaining ones launched as before); one that was Stopping finishes its stop."""
        for record in self.records.list(TUNING):
            if record["HyperParameterTuningJobStatus"] not in ("InProgress", "Stopping"):
                continue
            name = record["HyperParameterTuningJobName"]
            if (TUNING, name) in self._running:
                continue
            stopping = record["HyperParameterTuningJobStatus"] == "Stopping"
            self._start(TUNING, name, partial(self._resume_tuning, name, stopping))

    def _resume_tuning(self, name: str, stopping: bool, running: Any) -> None:
        if stopping:
            running.cancelled.set()
        self._run_tuning(name, running)


# -- request helpers ------------------------------------------------------------------------


def _definition(req: dict[str, Any]) -> dict[str, Any]:
    if req.get("TrainingJobDefinition"):
        return req["TrainingJobDefinition"]
    definitions = req.get("TrainingJobDefinitions") or []
    if len(definitions) == 1:
        return definitions[0]
    if not definitions:
        raise UserError(
            "TrainingJobDefinition: required (or TrainingJobDefinitions); describe the training "
            "jobs the tuning job launches"
        )
    raise UserError(
        f"TrainingJobDefinitions: {len(definitions)} definitions; locally a tuning job runs one "
        "training job definition; give TrainingJobDefinition or a single entry"
    )


def _objective(record: dict[str, Any]) -> dict[str, Any]:
    config = record["HyperParameterTuningJobConfig"]
    found = config.get("HyperParameterTuningJobObjective") or _definition(record).get(
        "TuningObjective"
    )
    assert found is not None
    return found


def _objective_name(job: dict[str, Any]) -> str:
    return (job.get("HyperParameters") or {}).get(TUNING_OBJECTIVE_HP, "")


def _objective_regex(definition: dict[str, Any], metric_name: str) -> str:
    spec = definition["AlgorithmSpecification"]
    for item in spec.get("MetricDefinitions") or []:
        if item["Name"] == metric_name:
            return str(item["Regex"])
    return metrics.builtin_xgboost_regex(metric_name)


def _is_builtin(definition: dict[str, Any]) -> bool:
    spec = definition["AlgorithmSpecification"]
    image = spec.get("TrainingImage") or ""
    static = definition.get("StaticHyperParameters") or {}
    return (
        training.image_repository(image) == training.BUILTIN_XGBOOST_REPOSITORY
        and "sagemaker_program" not in static
    )


def _check(req: dict[str, Any], definition: dict[str, Any]) -> None:
    """What CreateHyperParameterTuningJob refuses up front (AWS's rules), member named."""
    config = req["HyperParameterTuningJobConfig"]
    objective = config.get("HyperParameterTuningJobObjective") or definition.get("TuningObjective")
    if objective is None:
        raise UserError(
            "HyperParameterTuningJobConfig.HyperParameterTuningJobObjective: required; give "
            "the metric to optimise, e.g. {'Type': 'Maximize', 'MetricName': 'validation:auc'}"
        )
    ranges = config.get("ParameterRanges") or definition.get("HyperParameterRanges")
    space = search.parse_space(ranges, "HyperParameterTuningJobConfig.ParameterRanges")
    if not space:
        raise UserError(
            "HyperParameterTuningJobConfig.ParameterRanges: give at least one range to tune"
        )
    strategy = config["Strategy"]
    if strategy == "Grid" and any(p.kind != search.CATEGORICAL for p in space):
        raise UserError(
            "HyperParameterTuningJobConfig.ParameterRanges: the Grid strategy searches "
            "categorical ranges only; make each range a CategoricalParameterRange or use Random"
        )
    if strategy == "Hyperband" and config.get("TrainingJobEarlyStoppingType", "Off") != "Off":
        raise UserError(
            "HyperParameterTuningJobConfig.TrainingJobEarlyStoppingType: must be Off with the "
            "Hyperband strategy (it stops jobs early itself)"
        )
    limits = config["ResourceLimits"]
    if (
        limits.get("MaxNumberOfTrainingJobs")
        and limits["MaxParallelTrainingJobs"] > limits["MaxNumberOfTrainingJobs"]
    ):
        raise UserError(
            "HyperParameterTuningJobConfig.ResourceLimits.MaxParallelTrainingJobs "
            f"{limits['MaxParallelTrainingJobs']}: cannot exceed MaxNumberOfTrainingJobs "
            f"{limits['MaxNumberOfTrainingJobs']}"
        )
    metric_name = objective["MetricName"]
    spec = definition["AlgorithmSpecification"]
    problems = metrics.check_definitions(
        spec.get("MetricDefinitions") or [],
        "TrainingJobDefinition.AlgorithmSpecification.MetricDefinitions",
    )
    if problems:
        raise UserError(problems[0])
    defined = {m["Name"] for m in spec.get("MetricDefinitions") or []}
    if _is_builtin(definition):
        channel, _, metric = metric_name.partition(":")
        channels = {c["ChannelName"] for c in definition.get("InputDataConfig") or []}
        if not metric or channel not in channels:
            raise UserError(
                f"HyperParameterTuningJobObjective.MetricName {metric_name!r}: the built-in "
                "XGBoost algorithm reports '<channel>:<metric>' for its channels "
                f"({', '.join(sorted(channels))}), e.g. 'validation:auc'"
            )
    elif metric_name not in defined:
        raise UserError(
            f"HyperParameterTuningJobObjective.MetricName {metric_name!r}: not defined in "
            "TrainingJobDefinition.AlgorithmSpecification.MetricDefinitions; add "
            "{'Name': ..., 'Regex': ...} for it"
        )
    for p in space:
        if p.name in (definition.get("StaticHyperParameters") or {}):
            raise UserError(
                f"TrainingJobDefinition.StaticHyperParameters.{p.name}: also a tuned range; "
                "remove it from the static hyperparameters"
            )
    # The training job a sample point would start must be one the backend accepts.
    sample = search.Strategy(space, 0).random_point()
    tuned = {p.name: p.format(sample[p.name]) for p in space}
    job = _training_request(
        {
            **definition,
            "StaticHyperParameters": {
                **(definition.get("StaticHyperParameters") or {}),
                TUNING_OBJECTIVE_HP: metric_name,
            },
        },
        tuned,
        "sample",
    )
    try:
        training.check_job(job)
    except UserError as e:
        raise UserError(f"TrainingJobDefinition: {e}") from e


def _training_request(
    definition: dict[str, Any], tuned: dict[str, str], job_name: str
) -> dict[str, Any]:
    spec = definition["AlgorithmSpecification"]
    request: dict[str, Any] = {
        "TrainingJobName": job_name,
        "AlgorithmSpecification": {
            k: spec[k]
            for k in ("TrainingImage", "AlgorithmName", "TrainingInputMode", "MetricDefinitions")
            if k in spec and not (k == "MetricDefinitions" and _is_builtin(definition))
        },
        "HyperParameters": {**(definition.get("StaticHyperParameters") or {}), **tuned},
    }
    for key in COPIED:
        if key in definition:
            request[key] = definition[key]
    if "ResourceConfig" not in request:
        if _is_builtin(definition):  # AWS fills in the algorithm's metrics
            spec = definition["AlgorithmSpecification"]
            spec.setdefault("MetricDefinitions", metrics.builtin_xgboost_definitions())
        tuning_resources = definition.get("HyperParameterTuningResourceConfig") or {}
        request["ResourceConfig"] = {
            "InstanceType": tuning_resources.get("InstanceType", "ml.m5.large"),
            "InstanceCount": tuning_resources.get("InstanceCount", 1),
            "VolumeSizeInGB": tuning_resources.get("VolumeSizeInGB", 30),
        }
    return request


def _counters(statuses: list[str]) -> dict[str, int]:
    return {
        "Completed": statuses.count("Completed"),
        "InProgress": sum(s not in TERMINAL for s in statuses),
        "RetryableError": 0,
        "NonRetryableError": statuses.count("Failed"),
        "Stopped": statuses.count("Stopped"),
    }


def _objective_counters(trials: list[_Trial]) -> dict[str, int]:
    return {
        "Succeeded": sum(t.objective is not None for t in trials),
        "Pending": sum(t.status not in TERMINAL for t in trials),
        "Failed": sum(t.status in TERMINAL and t.objective is None for t in trials),
    }


def _criteria_met(criteria: dict[str, Any], trials: list[_Trial], sign: float) -> bool:
    """TuningJobCompletionCriteria: the target reached, or the best not improving for N jobs."""
    scored = [t for t in trials if t.objective is not None]
    if not scored:
        return False
    target = criteria.get("TargetObjectiveMetricValue")
    if (
        target is not None
        and min(sign * t.objective for t in scored if t.objective is not None) <= sign * target
    ):
        return True
    patience = (criteria.get("BestObjectiveNotImproving") or {}).get(
        "MaxNumberOfTrainingJobsNotImproving"
    )
    if patience and len(scored) > patience:
        values = [sign * t.objective for t in scored if t.objective is not None]
        return min(values[:-patience]) <= min(values[-patience:])
    return False
