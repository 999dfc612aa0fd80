"""Hyperparameter tuning jobs on the backend: real training jobs, strategies, early stopping,
warm start, validation (the SDK and Step Functions paths are in tests/server/test_tuning_sdk.py)."""

from __future__ import annotations

import json
import math
from typing import Any

import pytest
from sagemaker_support import ROLE, XGB_IMAGE, channel, sourcedir, wait_for

from localaws.errors import ServiceError
from localaws.runtime import Runtime
from localaws.sagemaker import search
from localaws.sagemaker.training import machine_cpus


def tuning_request(
    name: str,
    *,
    strategy: str = "Random",
    max_jobs: int = 4,
    parallel: int = 2,
    ranges: dict[str, Any] | None = None,
    metric: str = "validation:auc",
    objective_type: str = "Maximize",
    static: dict[str, str] | None = None,
    **config: Any,
) -> dict[str, Any]:
    return {
        "HyperParameterTuningJobName": name,
        "HyperParameterTuningJobConfig": {
            "Strategy": strategy,
            "HyperParameterTuningJobObjective": {"Type": objective_type, "MetricName": metric},
            "ResourceLimits": {
                "MaxNumberOfTrainingJobs": max_jobs,
                "MaxParallelTrainingJobs": parallel,
            },
            "ParameterRanges": ranges
            or {
                "IntegerParameterRanges": [{"Name": "max_depth", "MinValue": "1", "MaxValue": "6"}],
                "ContinuousParameterRanges": [
                    {
                        "Name": "eta",
                        "MinValue": "0.01",
                        "MaxValue": "0.5",
                        "ScalingType": "Logarithmic",
                    }
                ],
            },
            **config,
        },
        "TrainingJobDefinition": {
            "StaticHyperParameters": static or {"num_round": "5", "objective": "binary:logistic"},
            "AlgorithmSpecification": {"TrainingImage": XGB_IMAGE, "TrainingInputMode": "File"},
            "RoleArn": ROLE,
            "InputDataConfig": [
                channel("train", "s3://data/train/"),
                channel("validation", "s3://data/validation/"),
            ],
            "OutputDataConfig": {"S3OutputPath": "s3://models/tuning"},
            "ResourceConfig": {
                "InstanceType": "ml.m5.large",
                "InstanceCount": 1,
                "VolumeSizeInGB": 5,
            },
            "StoppingCondition": {"MaxRuntimeInSeconds": 600},
        },
    }


def wait_tuning(rt: Runtime, name: str) -> dict[str, Any]:
    return wait_for(
        lambda: rt.sagemaker.describe_hyper_parameter_tuning_job(HyperParameterTuningJobName=name),
        "HyperParameterTuningJobStatus",
        ("Completed", "Failed", "Stopped"),
        timeout=300,
    )


def wait_running(rt: Runtime, name: str, count: int) -> None:
    """Until ``count`` of the tuning job's training jobs are in progress."""
    wait_for(
        lambda: {
            "running": str(
                rt.sagemaker.describe_hyper_parameter_tuning_job(HyperParameterTuningJobName=name)[
                    "TrainingJobStatusCounters"
                ]["InProgress"]
            )
        },
        "running",
        (str(count),),
    )


def all_jobs(rt: Runtime, name: str) -> list[dict[str, Any]]:
    return rt.sagemaker.list_training_jobs_for_hyper_parameter_tuning_job(
        HyperParameterTuningJobName=name, MaxResults=100
    )["TrainingJobSummaries"]


def test_random_tuning_runs_real_jobs_and_picks_the_best(data: Runtime) -> None:
    rt = data
    arn = rt.sagemaker.create_hyper_parameter_tuning_job(**tuning_request("tune-rand"))[
        "HyperParameterTuningJobArn"
    ]
    assert arn.endswith(":hyper-parameter-tuning-job/tune-rand")
    done = wait_tuning(rt, "tune-rand")
    assert done["HyperParameterTuningJobStatus"] == "Completed", done.get("FailureReason")
    assert done["TrainingJobStatusCounters"] == {
        "Completed": 4,
        "InProgress": 0,
        "RetryableError": 0,
        "NonRetryableError": 0,
        "Stopped": 0,
    }
    assert done["ObjectiveStatusCounters"] == {"Succeeded": 4, "Pending": 0, "Failed": 0}
    static = done["TrainingJobDefinition"]["StaticHyperParameters"]
    assert static["_tuning_objective_metric"] == "validation:auc"
    jobs = all_jobs(rt, "tune-rand")
    assert len(jobs) == 4
    for job in jobs:
        assert job["TrainingJobName"].startswith("tune-rand-0")
        number, digest = job["TrainingJobName"].split("-")[2:]
        assert len(number) == 3 and len(digest) == 8
        depth = int(job["TunedHyperParameters"]["max_depth"])
        eta = float(job["TunedHyperParameters"]["eta"])
        assert 1 <= depth <= 6 and 0.01 <= eta <= 0.5
        described = rt.sagemaker.describe_training_job(TrainingJobName=job["TrainingJobName"])
        assert described["TuningJobArn"] == arn
        assert described["HyperParameters"]["max_depth"] == job["TunedHyperParameters"]["max_depth"]
        auc = {m["MetricName"]: m["Value"] for m in described["FinalMetricDataList"]}
        assert job["FinalHyperParameterTuningJobObjectiveMetric"]["Value"] == auc["validation:auc"]
        # two trainings at a time share the CPUs from the start (no OpenMP oversubscription)
        spec = json.loads(
            (rt.layout.jobs("training") / job["TrainingJobName"] / "spec.json").read_text()
        )
        assert spec["nthread"] == max(1, machine_cpus() // 2)
    best = done["BestTrainingJob"]
    values = [j["FinalHyperParameterTuningJobObjectiveMetric"]["Value"] for j in jobs]
    assert best["FinalHyperParameterTuningJobObjectiveMetric"]["Value"] == max(values)
    assert best["ObjectiveStatus"] == "Succeeded"
    ordered = rt.sagemaker.list_training_jobs_for_hyper_parameter_tuning_job(
        HyperParameterTuningJobName="tune-rand", SortBy="FinalObjectiveMetricValue"
    )["TrainingJobSummaries"]
    assert ordered[0]["TrainingJobName"] == best["TrainingJobName"]
    listed = rt.sagemaker.list_hyper_parameter_tuning_jobs(NameContains="rand")
    assert [
        s["HyperParameterTuningJobName"] for s in listed["HyperParameterTuningJobSummaries"]
    ] == ["tune-rand"]
    assert listed["HyperParameterTuningJobSummaries"][0]["Strategy"] == "Random"


def test_grid_runs_every_categorical_combination(data: Runtime) -> None:
    rt = data
    ranges = {
        "CategoricalParameterRanges": [
            {"Name": "max_depth", "Values": ["2", "3"]},
            {"Name": "eta", "Values": ["0.1", "0.3"]},
        ]
    }
    request = tuning_request("tune-grid", strategy="Grid", ranges=ranges, parallel=2)
    del request["HyperParameterTuningJobConfig"]["ResourceLimits"]["MaxNumberOfTrainingJobs"]
    rt.sagemaker.create_hyper_parameter_tuning_job(**request)
    done = wait_tuning(rt, "tune-grid")
    assert done["HyperParameterTuningJobStatus"] == "Completed"
    seen = sorted(
        (j["TunedHyperParameters"]["max_depth"], j["TunedHyperParameters"]["eta"])
        for j in all_jobs(rt, "tune-grid")
    )
    assert seen == [("2", "0.1"), ("2", "0.3"), ("3", "0.1"), ("3", "0.3")]


def test_bayesian_with_warm_start_seeds_from_the_parent(data: Runtime) -> None:
    rt = data
    rt.sagemaker.create_hyper_parameter_tuning_job(
        **tuning_request(
            "tune-parent",
            max_jobs=4,
            parallel=2,
            metric="validation:logloss",
            objective_type="Minimize",
        )
    )
    parent = wait_tuning(rt, "tune-parent")
    assert parent["HyperParameterTuningJobStatus"] == "Completed"
    child = tuning_request(
        "tune-child",
        strategy="Bayesian",
        max_jobs=2,
        parallel=1,
        metric="validation:logloss",
        objective_type="Minimize",
    )
    child["WarmStartConfig"] = {
        "ParentHyperParameterTuningJobs": [{"HyperParameterTuningJobName": "tune-parent"}],
        "WarmStartType": "IdenticalDataAndAlgorithm",
    }
    rt.sagemaker.create_hyper_parameter_tuning_job(**child)
    done = wait_tuning(rt, "tune-child")
    assert done["HyperParameterTuningJobStatus"] == "Completed", done.get("FailureReason")
    overall = done["OverallBestTrainingJob"]["FinalHyperParameterTuningJobObjectiveMetric"]["Value"]
    own = done["BestTrainingJob"]["FinalHyperParameterTuningJobObjectiveMetric"]["Value"]
    parent_best = parent["BestTrainingJob"]["FinalHyperParameterTuningJobObjectiveMetric"]["Value"]
    assert overall == min(own, parent_best)
    assert done["WarmStartConfig"]["WarmStartType"] == "IdenticalDataAndAlgorithm"


EARLY_STOP_SCRIPT = """
import argparse, os, time
parser = argparse.ArgumentParser()
parser.add_argument("--quality", type=float)
args, _ = parser.parse_known_args()
for epoch in range(40):
    print(f"epoch {epoch} loss={10 - args.quality + epoch * 0.001:.4f}", flush=True)
    time.sleep(0.05 if args.quality >= 5 else 0.2)
open(os.path.join(os.environ["SM_MODEL_DIR"], "model.txt"), "w").write(str(args.quality))
"""


def test_auto_early_stopping_stops_jobs_worse_than_the_median(rt: Runtime) -> None:
    rt.storage.write("s3://code/es/sourcedir.tar.gz", sourcedir({"train.py": EARLY_STOP_SCRIPT}))
    request = tuning_request(
        "tune-es",
        strategy="Grid",
        ranges={"CategoricalParameterRanges": [{"Name": "quality", "Values": ["8", "9", "1"]}]},
        metric="loss",
        objective_type="Minimize",
        parallel=1,
        max_jobs=3,
        static={
            "sagemaker_program": '"train.py"',
            "sagemaker_submit_directory": '"s3://code/es/sourcedir.tar.gz"',
        },
        TrainingJobEarlyStoppingType="Auto",
    )
    definition = request["TrainingJobDefinition"]
    definition["AlgorithmSpecification"]["TrainingImage"] = XGB_IMAGE
    definition["AlgorithmSpecification"]["MetricDefinitions"] = [
        {"Name": "loss", "Regex": r"loss=([0-9\.]+)"}
    ]
    del definition["InputDataConfig"]
    rt.sagemaker.create_hyper_parameter_tuning_job(**request)
    done = wait_tuning(rt, "tune-es")
    jobs = {j["TunedHyperParameters"]["quality"]: j for j in all_jobs(rt, "tune-es")}
    assert jobs["9"]["TrainingJobStatus"] == "Completed"
    assert jobs["8"]["TrainingJobStatus"] == "Completed"
    assert jobs["1"]["TrainingJobStatus"] == "Stopped"  # worse than the median from round 1
    assert done["TrainingJobStatusCounters"]["Stopped"] == 1
    assert done["BestTrainingJob"]["TunedHyperParameters"] == {"quality": "9"}
    assert done["BestTrainingJob"]["FinalHyperParameterTuningJobObjectiveMetric"]["Value"] == (
        pytest.approx(1.039)
    )


HYPERBAND_SCRIPT = """
import argparse, os, time
parser = argparse.ArgumentParser()
parser.add_argument("--quality", type=float)
args, _ = parser.parse_known_args()
for epoch in range(20):
    print(f"epoch {epoch} loss={10 - args.quality + epoch * 0.001:.4f}", flush=True)
    time.sleep(0.05)
open(os.path.join(os.environ["SM_MODEL_DIR"], "model.txt"), "w").write(str(args.quality))
"""


def test_hyperband_stops_jobs_outside_the_best_third_at_a_rung(rt: Runtime) -> None:
    """One job at a time: from the third on, a job goes past rung 1 only if its loss there is
    the best of the jobs that reached it (eta = 3, so 1 of 3 goes on)."""
    rt.storage.write("s3://code/hb/sourcedir.tar.gz", sourcedir({"train.py": HYPERBAND_SCRIPT}))
    request = tuning_request(
        "tune-hb",
        strategy="Hyperband",
        ranges={
            "ContinuousParameterRanges": [{"Name": "quality", "MinValue": "1", "MaxValue": "9"}]
        },
        metric="loss",
        objective_type="Minimize",
        parallel=1,
        max_jobs=5,
        static={
            "sagemaker_program": '"train.py"',
            "sagemaker_submit_directory": '"s3://code/hb/sourcedir.tar.gz"',
        },
        RandomSeed=11,
        StrategyConfig={"HyperbandStrategyConfig": {"MinResource": 1, "MaxResource": 20}},
    )
    definition = request["TrainingJobDefinition"]
    definition["AlgorithmSpecification"]["MetricDefinitions"] = [
        {"Name": "loss", "Regex": r"loss=([0-9\.]+)"}
    ]
    del definition["InputDataConfig"]
    rt.sagemaker.create_hyper_parameter_tuning_job(**request)
    done = wait_tuning(rt, "tune-hb")
    assert done["HyperParameterTuningJobStatus"] == "Completed", done.get("FailureReason")
    jobs = sorted(all_jobs(rt, "tune-hb"), key=lambda j: j["TrainingJobName"])
    quality = [float(j["TunedHyperParameters"]["quality"]) for j in jobs]
    expected = [
        "Completed" if i < 2 or q > max(quality[:i]) else "Stopped" for i, q in enumerate(quality)
    ]
    assert [j["TrainingJobStatus"] for j in jobs] == expected
    assert "Stopped" in expected  # the seed gives a job to stop
    assert (
        done["BestTrainingJob"]["TunedHyperParameters"]["quality"]
        == (jobs[quality.index(max(quality))]["TunedHyperParameters"]["quality"])
    )


def test_stop_tuning_job_stops_its_training_jobs(rt: Runtime) -> None:
    script = "import time\nprint('loss=1.0', flush=True)\ntime.sleep(60)\n"
    rt.storage.write("s3://code/slow/sourcedir.tar.gz", sourcedir({"train.py": script}))
    request = tuning_request(
        "tune-stop",
        ranges={"IntegerParameterRanges": [{"Name": "x", "MinValue": "1", "MaxValue": "9"}]},
        metric="loss",
        objective_type="Minimize",
        static={
            "sagemaker_program": '"train.py"',
            "sagemaker_submit_directory": '"s3://code/slow/sourcedir.tar.gz"',
        },
    )
    request["TrainingJobDefinition"]["AlgorithmSpecification"]["MetricDefinitions"] = [
        {"Name": "loss", "Regex": r"loss=([0-9\.]+)"}
    ]
    del request["TrainingJobDefinition"]["InputDataConfig"]
    rt.sagemaker.create_hyper_parameter_tuning_job(**request)
    wait_running(rt, "tune-stop", 2)
    rt.sagemaker.stop_hyper_parameter_tuning_job(HyperParameterTuningJobName="tune-stop")
    done = wait_tuning(rt, "tune-stop")
    assert done["HyperParameterTuningJobStatus"] == "Stopped"
    assert {j["TrainingJobStatus"] for j in all_jobs(rt, "tune-stop")} == {"Stopped"}


@pytest.mark.parametrize(
    ("change", "message"),
    [
        pytest.param(
            lambda r: r["HyperParameterTuningJobConfig"].update(Strategy="Grid"),
            "the Grid strategy searches categorical ranges only",
            id="grid-needs-categorical",
        ),
        pytest.param(
            lambda r: r["HyperParameterTuningJobConfig"].update(
                Strategy="Hyperband", TrainingJobEarlyStoppingType="Auto"
            ),
            "must be Off with the Hyperband strategy",
            id="hyperband-own-early-stopping",
        ),
        pytest.param(
            lambda r: r["HyperParameterTuningJobConfig"]["HyperParameterTuningJobObjective"].update(
                MetricName="test:auc"
            ),
            "'<channel>:<metric>' for its channels (train, validation)",
            id="objective-channel",
        ),
        pytest.param(
            lambda r: r["HyperParameterTuningJobConfig"]["ParameterRanges"][
                "ContinuousParameterRanges"
            ][0].update(MinValue="0"),
            "ScalingType Logarithmic: needs MinValue > 0",
            id="log-scale-zero",
        ),
        pytest.param(
            lambda r: r["TrainingJobDefinition"]["StaticHyperParameters"].pop("num_round"),
            "TrainingJobDefinition: Hyperparameter num_round: required",
            id="static-missing-required",
        ),
        pytest.param(
            lambda r: r["HyperParameterTuningJobConfig"]["ResourceLimits"].update(
                MaxParallelTrainingJobs=9
            ),
            "cannot exceed MaxNumberOfTrainingJobs 4",
            id="parallel-above-max",
        ),
    ],
)
def test_create_refuses_what_aws_refuses(rt: Runtime, change, message: str) -> None:
    request = tuning_request("tune-bad")
    change(request)
    with pytest.raises(ServiceError) as info:
        rt.sagemaker.create_hyper_parameter_tuning_job(**request)
    assert info.value.code == "ValidationException"
    assert message in info.value.message
    assert rt.sagemaker.list_hyper_parameter_tuning_jobs()["HyperParameterTuningJobSummaries"] == []


def test_describe_unknown_tuning_job(rt: Runtime) -> None:
    with pytest.raises(ServiceError) as info:
        rt.sagemaker.describe_hyper_parameter_tuning_job(HyperParameterTuningJobName="nope")
    assert info.value.code == "ResourceNotFound"


@pytest.mark.parametrize(
    ("scaling", "low", "high"),
    [("Linear", 1.0, 5.0), ("Logarithmic", 0.001, 10.0), ("ReverseLogarithmic", 0.5, 0.999)],
)
def test_scalings_stay_in_range_and_round_trip(scaling: str, low: float, high: float) -> None:
    param = search.Parameter("p", search.CONTINUOUS, low, high, scaling)
    for u in (0.0, 0.25, 0.5, 0.75, 1.0):
        value = param.from_unit(u)
        assert low <= value <= high
        assert param.to_unit(value)[0] == pytest.approx(u, abs=1e-9)
    log_mid = search.Parameter("p", search.CONTINUOUS, 0.001, 10.0, "Logarithmic").from_unit(0.5)
    assert log_mid == pytest.approx(math.sqrt(0.001 * 10.0))


def test_bayesian_search_moves_towards_the_optimum() -> None:
    space = [search.Parameter("x", search.CONTINUOUS, 0.0, 1.0)]
    strategy = search.make_strategy("Bayesian", space, seed=7)
    observed: list[tuple[dict[str, Any], float]] = []
    for _ in range(12):
        point = strategy.suggest(observed, [])
        assert point is not None
        observed.append((point, (point["x"] - 0.3) ** 2))
    assert min(abs(p["x"] - 0.3) for p, _ in observed[-5:]) < 0.05


def test_median_rule() -> None:
    finished = [[1.0, 0.8, 0.6], [2.0, 1.8, 1.6], [3.0, 2.5, 2.0]]
    assert search.median_rule_stops([5.0], finished)
    assert not search.median_rule_stops([1.5], finished)
    assert not search.median_rule_stops([1.0, 1.0, 1.0, 1.0], finished)  # no one got this far


def test_hyperband_keeps_the_best_third_at_each_rung() -> None:
    rungs = search.hyperband_rungs(1, 30)
    assert rungs == [1, 3, 9, 27]
    peers = [[0.1], [0.2], [0.3], [0.4], [0.5]]
    assert search.hyperband_keeps([0.15], peers, rungs)  # among the best third
    assert not search.hyperband_keeps([0.45], peers, rungs)
    assert search.hyperband_keeps([0.45, 0.4], peers, rungs)  # round 2 is not a rung
    assert search.hyperband_keeps([9.0], [[0.1]], rungs)  # too few peers to judge


def test_closing_the_runtime_fails_a_running_tuning_job(rt: Runtime) -> None:
    script = "import time\nprint('loss=1.0', flush=True)\ntime.sleep(60)\n"
    rt.storage.write("s3://code/slow/sourcedir.tar.gz", sourcedir({"train.py": script}))
    request = tuning_request(
        "tune-close",
        ranges={"IntegerParameterRanges": [{"Name": "x", "MinValue": "1", "MaxValue": "9"}]},
        metric="loss",
        objective_type="Minimize",
        parallel=1,
        max_jobs=2,
        static={
            "sagemaker_program": '"train.py"',
            "sagemaker_submit_directory": '"s3://code/slow/sourcedir.tar.gz"',
        },
    )
    request["TrainingJobDefinition"]["AlgorithmSpecification"]["MetricDefinitions"] = [
        {"Name": "loss", "Regex": r"loss=([0-9\.]+)"}
    ]
    del request["TrainingJobDefinition"]["InputDataConfig"]
    rt.sagemaker.create_hyper_parameter_tuning_job(**request)
    wait_running(rt, "tune-close", 1)
    rt.sagemaker.close()
    done = rt.sagemaker.describe_hyper_parameter_tuning_job(
        HyperParameterTuningJobName="tune-close"
    )
    assert done["HyperParameterTuningJobStatus"] == "Failed"
    assert "closed while the job was running" in done["FailureReason"]
