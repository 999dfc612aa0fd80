"""kill -9 of `serve` while a tuning job runs under a `.sync` task: after the restart the
tuning job goes on under the same record (its finished training job kept, the interrupted
ones run again under their names, the remaining one launched) and the execution succeeds."""

from __future__ import annotations

import functools
import json
import textwrap
from pathlib import Path
from typing import Any

from crash_support import (
    GATE_WAIT,
    ROLE,
    SKLEARN_IMAGE,
    Serve,
    dead,
    open_gate,
    started,
    tar_gz,
    wait_until,
)

CODE = "s3://code/tune/sourcedir.tar.gz"
VALUES = ["a", "b", "c", "d"]  # the grid's order; d has the lowest loss
TRAIN = GATE_WAIT + textwrap.dedent(
    """
    import argparse, os
    parser = argparse.ArgumentParser()
    parser.add_argument("--gates")
    parser.add_argument("--x")
    args, _ = parser.parse_known_args()
    gate(args.gates, "train-" + args.x)
    print(f"loss={4 - 'abcd'.index(args.x)}", flush=True)
    with open(os.path.join(os.environ["SM_MODEL_DIR"], "model.txt"), "w") as fh:
        fh.write(args.x)
    """
)


def definition(gates: Path) -> dict[str, Any]:
    return {
        "StartAt": "Tune",
        "States": {
            "Tune": {
                "Type": "Task",
                "Resource": "arn:aws:states:::sagemaker:createHyperParameterTuningJob.sync",
                "Parameters": {
                    "HyperParameterTuningJobName": "tune",
                    "HyperParameterTuningJobConfig": {
                        "Strategy": "Grid",
                        "HyperParameterTuningJobObjective": {
                            "Type": "Minimize",
                            "MetricName": "loss",
                        },
                        "ResourceLimits": {
                            "MaxNumberOfTrainingJobs": len(VALUES),
                            "MaxParallelTrainingJobs": 2,
                        },
                        "ParameterRanges": {
                            "CategoricalParameterRanges": [{"Name": "x", "Values": VALUES}]
                        },
                    },
                    "TrainingJobDefinition": {
                        "StaticHyperParameters": {
                            "sagemaker_program": json.dumps("train.py"),
                            "sagemaker_submit_directory": json.dumps(CODE),
                            "gates": json.dumps(str(gates)),
                        },
                        "AlgorithmSpecification": {
                            "TrainingImage": SKLEARN_IMAGE,
                            "TrainingInputMode": "File",
                            "MetricDefinitions": [{"Name": "loss", "Regex": r"loss=([0-9\.]+)"}],
                        },
                        "RoleArn": ROLE,
                        "OutputDataConfig": {"S3OutputPath": "s3://models/tune"},
                        "ResourceConfig": {
                            "InstanceType": "ml.m5.large",
                            "InstanceCount": 1,
                            "VolumeSizeInGB": 1,
                        },
                        "StoppingCondition": {"MaxRuntimeInSeconds": 600},
                    },
                },
                "ResultSelector": {
                    "best.$": "$.BestTrainingJob.TunedHyperParameters.x",
                    "counters.$": "$.TrainingJobStatusCounters",
                },
                "End": True,
            }
        },
    }


def test_tuning_job_survives_kill_9(tmp_path: Path) -> None:
    state, gates = tmp_path / "state", tmp_path / "gates"
    gates.mkdir()
    serve = Serve(state).start()
    try:
        s3 = serve.client("s3")
        for bucket in ("code", "models"):
            s3.create_bucket(Bucket=bucket)
        s3.put_object(Bucket="code", Key="tune/sourcedir.tar.gz", Body=tar_gz({"train.py": TRAIN}))
        sfn = serve.client("stepfunctions")
        machine = sfn.create_state_machine(
            name="tune", definition=json.dumps(definition(gates)), roleArn=ROLE
        )["stateMachineArn"]
        arn = sfn.start_execution(stateMachineArn=machine, name="run")["executionArn"]
        wait_until(functools.partial(started, gates, "train-a"), 120, "trial a")
        open_gate(gates, "train-a")  # a finishes; c takes its place next to b
        interrupted = [
            wait_until(functools.partial(started, gates, f"train-{x}"), 120, f"trial {x}")[0]
            for x in ("b", "c")
        ]
        sm = serve.client("sagemaker")
        before = sm.list_training_jobs_for_hyper_parameter_tuning_job(
            HyperParameterTuningJobName="tune"
        )["TrainingJobSummaries"]
        assert sorted(j["TrainingJobStatus"] for j in before) == [
            "Completed",
            "InProgress",
            "InProgress",
        ]
        serve.kill()
        for pid in interrupted:  # the trials die with the runtime
            wait_until(functools.partial(dead, pid), 10, f"process {pid} to die")

        serve = Serve(state).start()
        for x in VALUES:
            open_gate(gates, f"train-{x}")
        sfn = serve.client("stepfunctions")
        done = wait_until(
            lambda: (d := sfn.describe_execution(executionArn=arn))["status"] != "RUNNING" and d,
            240,
            "the execution to end",
        )
        assert done["status"] == "SUCCEEDED", done
        output = json.loads(done["output"])
        assert output["best"] == "d"
        assert output["counters"]["Completed"] == len(VALUES)

        sm = serve.client("sagemaker")
        tuning = sm.describe_hyper_parameter_tuning_job(HyperParameterTuningJobName="tune")
        assert tuning["HyperParameterTuningJobStatus"] == "Completed"
        after = sm.list_training_jobs_for_hyper_parameter_tuning_job(
            HyperParameterTuningJobName="tune", MaxResults=100
        )["TrainingJobSummaries"]
        # the same three records plus the one launched after the restart; no second job
        names_before = {j["TrainingJobName"] for j in before}
        assert names_before < {j["TrainingJobName"] for j in after}
        assert len(after) == len(VALUES)
        assert sorted(j["TunedHyperParameters"]["x"] for j in after) == VALUES
        assert {j["TrainingJobStatus"] for j in after} == {"Completed"}
        assert len(sm.list_training_jobs(MaxResults=100)["TrainingJobSummaries"]) == len(VALUES)
        # the finished trial was kept, the interrupted ones ran again, d ran once
        assert [len(started(gates, f"train-{x}")) for x in VALUES] == [1, 2, 2, 1]
        events = sfn.get_execution_history(executionArn=arn, maxResults=1000)["events"]
        types = [e["type"] for e in events]
        assert types.count("TaskSubmitted") == 1 and "ExecutionFailed" not in types
    finally:
        serve.stop()
