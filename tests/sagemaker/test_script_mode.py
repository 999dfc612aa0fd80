"""Script mode: the user's entry point runs with the training toolkit's contract."""

from __future__ import annotations

import json
import textwrap

import xgboost as xgb
from sagemaker_support import SKLEARN_IMAGE, XGB_IMAGE, channel, extract, training_request, wait_for

TRAIN_SCRIPT = textwrap.dedent(
    """
    import argparse, json, os, glob
    import numpy as np
    import xgboost as xgb

    parser = argparse.ArgumentParser()
    parser.add_argument("--num_round", type=int)
    parser.add_argument("--max_depth", type=int)
    parser.add_argument("--note", type=str)
    parser.add_argument("--model-dir", dest="model_dir", default=os.environ["SM_MODEL_DIR"])
    args = parser.parse_args()
    files = glob.glob(os.path.join(os.environ["SM_CHANNEL_TRAIN"], "*.csv"))
    data = np.vstack([np.loadtxt(f, delimiter=",") for f in files])
    booster = xgb.train({"max_depth": args.max_depth, "objective": "binary:logistic"},
                        xgb.DMatrix(data[:, 1:], label=data[:, 0]), num_boost_round=args.num_round)
    booster.save_model(os.path.join(args.model_dir, "xgboost-model"))
    seen = {k: v for k, v in os.environ.items() if k.startswith("SM_") or k == "TRAINING_JOB_NAME"}
    seen["argv"] = __import__("sys").argv[1:]
    with open(os.path.join(os.environ["SM_OUTPUT_DATA_DIR"], "env.json"), "w") as fh:
        json.dump(seen, fh)
    """
)


def script_job(rt, name, script, image=XGB_IMAGE, hps=None):
    from sagemaker_support import sourcedir

    rt.storage.write(f"s3://code/{name}/sourcedir.tar.gz", sourcedir({"train.py": script}))
    hyperparameters = {
        "sagemaker_program": json.dumps("train.py"),
        "sagemaker_submit_directory": json.dumps(f"s3://code/{name}/sourcedir.tar.gz"),
        "sagemaker_region": json.dumps("us-east-1"),
        **(hps or {}),
    }
    request = training_request(
        name, hyperparameters, channels=[channel("train", "s3://data/train/")]
    )
    request["AlgorithmSpecification"]["TrainingImage"] = image
    rt.sagemaker.create_training_job(**request)
    return wait_for(
        lambda: rt.sagemaker.describe_training_job(TrainingJobName=name),
        "TrainingJobStatus",
        ("Completed", "Failed", "Stopped"),
    )


def test_script_runs_with_the_container_environment(data, tmp_path):
    hps = {"num_round": "4", "max_depth": "2", "note": json.dumps("hello world")}
    job = script_job(data, "script-ok", TRAIN_SCRIPT, hps=hps)
    assert job["TrainingJobStatus"] == "Completed", job.get("FailureReason")
    files = extract(data.storage.read(job["ModelArtifacts"]["S3ModelArtifacts"]))
    (tmp_path / "m").write_bytes(files["xgboost-model"])
    booster = xgb.Booster()
    booster.load_model(str(tmp_path / "m"))
    assert booster.num_boosted_rounds() == 4
    output = extract(data.storage.read("s3://models/out/script-ok/output/output.tar.gz"))
    env = json.loads(output["env.json"])
    assert env["argv"] == ["--max_depth", "2", "--note", "hello world", "--num_round", "4"]
    assert json.loads(env["SM_HPS"]) == {"num_round": 4, "max_depth": 2, "note": "hello world"}
    assert env["SM_HP_NUM_ROUND"] == "4" and env["SM_HP_NOTE"] == "hello world"
    assert json.loads(env["SM_CHANNELS"]) == ["train"]
    assert env["SM_CHANNEL_TRAIN"] == "/opt/ml/input/data/train"  # the container's paths
    assert env["SM_MODEL_DIR"] == "/opt/ml/model"
    assert json.loads(env["SM_HOSTS"]) == ["algo-1"] and env["SM_CURRENT_HOST"] == "algo-1"
    assert int(env["SM_NUM_CPUS"]) >= 1 and env["SM_NUM_GPUS"] == "0"
    training_env = json.loads(env["SM_TRAINING_ENV"])
    assert (
        training_env["job_name"] == "script-ok" and training_env["user_entry_point"] == "train.py"
    )
    assert "train" in json.loads(env["SM_INPUT_DATA_CONFIG"])
    assert env["TRAINING_JOB_NAME"] == "script-ok"


def test_sklearn_script_failure_reports_the_error(data):
    script = "import sys\nprint('loading')\nraise ValueError('column price is missing')\n"
    job = script_job(data, "script-fail", script, image=SKLEARN_IMAGE)
    assert job["TrainingJobStatus"] == "Failed"
    reason = job["FailureReason"]
    assert reason.startswith('AlgorithmError: ExecuteUserScriptError: Command "train.py"')
    assert "ValueError: column price is missing" in reason
    assert not data.storage.exists("s3://models/out/script-fail/output/model.tar.gz")
    log = (data.state_dir / "logs" / "training" / "script-fail.log").read_text()
    assert "loading" in log and "Traceback" in log


def test_failure_file_becomes_the_reason(data):
    script = (
        "import os\n"
        "open(os.path.join(os.environ['SM_OUTPUT_DIR'], 'failure'), 'w').write('bad input: no rows')\n"
        "raise SystemExit(3)\n"
    )
    job = script_job(data, "script-failfile", script)
    assert job["FailureReason"] == "bad input: no rows"


def test_missing_entry_point(data):
    from sagemaker_support import sourcedir

    data.storage.write("s3://code/x/sourcedir.tar.gz", sourcedir({"other.py": "pass"}))
    request = training_request(
        "script-missing",
        {
            "sagemaker_program": '"train.py"',
            "sagemaker_submit_directory": '"s3://code/x/sourcedir.tar.gz"',
        },
        channels=[channel("train", "s3://data/train/")],
    )
    data.sagemaker.create_training_job(**request)
    job = wait_for(
        lambda: data.sagemaker.describe_training_job(TrainingJobName="script-missing"),
        "TrainingJobStatus",
        ("Failed", "Completed"),
    )
    assert "sagemaker_program 'train.py': not found" in job["FailureReason"]
