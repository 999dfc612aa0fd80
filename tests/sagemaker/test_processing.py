"""Processing jobs: inputs to LocalPaths, the container command, outputs uploaded."""

from __future__ import annotations

import textwrap

import pytest
from sagemaker_support import ROLE, SKLEARN_IMAGE, wait_for

from localaws.errors import ServiceError

SCRIPT = textwrap.dedent(
    """
    import argparse, os
    parser = argparse.ArgumentParser()
    parser.add_argument("--ratio", type=float)
    parser.add_argument("--out", default="/opt/ml/processing/train")
    args = parser.parse_args()
    src = args.out.rsplit("/", 1)[0] + "/input/raw/data.csv"
    rows = open(src).read().splitlines()
    cut = int(len(rows) * args.ratio)
    os.makedirs(os.path.join(args.out, "sub"), exist_ok=True)
    open(os.path.join(args.out, "sub", "train.csv"), "w").write("\\n".join(rows[:cut]))
    print("wrote", cut, "rows", os.environ["GREETING"])
    """
)


def processing_request(name, entrypoint=None, arguments=None):
    return {
        "ProcessingJobName": name,
        "RoleArn": ROLE,
        "ProcessingResources": {
            "ClusterConfig": {
                "InstanceCount": 1,
                "InstanceType": "ml.m5.large",
                "VolumeSizeInGB": 5,
            }
        },
        "AppSpecification": {
            "ImageUri": SKLEARN_IMAGE,
            "ContainerEntrypoint": entrypoint
            or ["python3", "/opt/ml/processing/input/code/prep.py"],
            "ContainerArguments": arguments
            or ["--ratio", "0.5", "--out", "/opt/ml/processing/train"],
        },
        "ProcessingInputs": [
            {
                "InputName": "code",
                "S3Input": {
                    "S3Uri": "s3://code/prep.py",
                    "LocalPath": "/opt/ml/processing/input/code",
                    "S3DataType": "S3Prefix",
                    "S3InputMode": "File",
                },
            },
            {
                "InputName": "raw",
                "S3Input": {
                    "S3Uri": "s3://data/raw/",
                    "LocalPath": "/opt/ml/processing/input/raw",
                    "S3DataType": "S3Prefix",
                    "S3InputMode": "File",
                },
            },
        ],
        "ProcessingOutputConfig": {
            "Outputs": [
                {
                    "OutputName": "train",
                    "S3Output": {
                        "S3Uri": "s3://data/processed/train",
                        "LocalPath": "/opt/ml/processing/train",
                        "S3UploadMode": "EndOfJob",
                    },
                }
            ]
        },
        "Environment": {"GREETING": "hi"},
        "StoppingCondition": {"MaxRuntimeInSeconds": 60},
    }


@pytest.fixture
def inputs(rt):
    rt.storage.write("s3://code/prep.py", SCRIPT.encode())
    rt.storage.write("s3://data/raw/data.csv", "\n".join(str(i) for i in range(10)).encode())
    return rt


def run(rt, request):
    rt.sagemaker.create_processing_job(**request)
    return wait_for(
        lambda: rt.sagemaker.describe_processing_job(
            ProcessingJobName=request["ProcessingJobName"]
        ),
        "ProcessingJobStatus",
        ("Completed", "Failed", "Stopped"),
    )


def test_processing_job_maps_paths_and_uploads_outputs(inputs):
    job = run(inputs, processing_request("prep-ok"))
    assert job["ProcessingJobStatus"] == "Completed", job.get("FailureReason")
    assert inputs.storage.read("s3://data/processed/train/sub/train.csv") == b"0\n1\n2\n3\n4"
    assert job["ProcessingEndTime"] >= job["ProcessingStartTime"]
    log = (inputs.state_dir / "logs" / "processing" / "prep-ok.log").read_text()
    assert "wrote 5 rows hi" in log


def test_failing_command(inputs):
    job = run(inputs, processing_request("prep-fail", arguments=["--ratio", "oops"]))
    assert job["ProcessingJobStatus"] == "Failed"
    assert job["FailureReason"].startswith(
        "AlgorithmError: See job logs for more information (exit code 2)"
    )
    assert "invalid float value" in job["FailureReason"]
    assert not inputs.storage.exists("s3://data/processed/train/sub/train.csv")


def test_timeout_stops(inputs):
    request = processing_request(
        "prep-slow", entrypoint=["python3", "-c", "import time; time.sleep(60)"], arguments=["x"]
    )
    request["StoppingCondition"] = {"MaxRuntimeInSeconds": 1}
    job = run(inputs, request)
    assert job["ProcessingJobStatus"] == "Stopped"
    assert "MaxRuntimeInSeconds" in job["FailureReason"]


def test_stop_processing_job(inputs):
    request = processing_request(
        "prep-stop", entrypoint=["python3", "-c", "import time; time.sleep(60)"], arguments=["x"]
    )
    inputs.sagemaker.create_processing_job(**request)
    inputs.sagemaker.stop_processing_job(ProcessingJobName="prep-stop")
    job = wait_for(
        lambda: inputs.sagemaker.describe_processing_job(ProcessingJobName="prep-stop"),
        "ProcessingJobStatus",
        ("Stopped",),
        20,
    )
    assert job["ProcessingJobStatus"] == "Stopped"


@pytest.mark.parametrize(
    ("change", "message"),
    [
        pytest.param(
            lambda r: r["AppSpecification"].pop("ContainerEntrypoint"),
            "AppSpecification.ContainerEntrypoint: required locally",
            id="no-entrypoint",
        ),
        pytest.param(
            lambda r: r["ProcessingInputs"][0]["S3Input"].update(LocalPath="/tmp/code"),
            "ProcessingInputs[0].S3Input.LocalPath '/tmp/code': must be under /opt/ml/processing/",
            id="local-path",
        ),
        pytest.param(
            lambda r: r["ProcessingInputs"][0]["S3Input"].update(
                LocalPath="/opt/ml/processing/../../etc"
            ),
            "'..' is not allowed",
            id="traversal",
        ),
    ],
)
def test_refused_at_create(inputs, change, message):
    request = processing_request("prep-bad")
    change(request)
    with pytest.raises(
        ServiceError, match=message.replace("[", r"\[").replace("]", r"\]").replace(".", r"\.")
    ):
        inputs.sagemaker.create_processing_job(**request)
