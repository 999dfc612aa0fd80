"""Exact container paths: scripts open /opt/ml/... as in the container (bubblewrap), the
fallback says what it does, and S3 prefixes land where SageMaker puts them."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from sagemaker_support import ROLE, SKLEARN_IMAGE, channel, sourcedir, training_request, wait_for

from localaws import config
from localaws.runtime import Runtime
from localaws.sagemaker import forkserver, sandbox, training

PROCESS = """
import os
rows = open("/opt/ml/processing/input/raw/part.csv").read().splitlines()
nested = open("/opt/ml/processing/input/raw/sub/more.csv").read().splitlines()
os.makedirs("/opt/ml/processing/output/clean", exist_ok=True)
with open("/opt/ml/processing/output/clean/rows.txt", "w") as fh:
    fh.write(f"{len(rows) + len(nested)} {os.getcwd()}")
"""

TRAIN = """
import os
import sys
warm = "xgboost" in sys.modules  # a fork of the warm template has it imported already
rows = open("/opt/ml/input/data/train/train.csv").read().splitlines()
assert os.environ["SM_MODEL_DIR"] == "/opt/ml/model", os.environ["SM_MODEL_DIR"]
assert os.environ["SM_CHANNEL_TRAIN"] == "/opt/ml/input/data/train"
with open("/opt/ml/model/model.txt", "w") as fh:
    fh.write(f"{len(rows)} rows, cwd {os.getcwd()}, warm {warm}")
"""


def processing_request(name: str, raw_uri: str) -> dict:
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
            "ContainerEntrypoint": ["python3", "/opt/ml/processing/input/code/process.py"],
        },
        "ProcessingInputs": [
            {
                "InputName": "code",
                "S3Input": {
                    "S3Uri": "s3://code/process.py",
                    "LocalPath": "/opt/ml/processing/input/code",
                    "S3DataType": "S3Prefix",
                    "S3InputMode": "File",
                },
            },
            {
                "InputName": "raw",
                "S3Input": {
                    "S3Uri": raw_uri,
                    "LocalPath": "/opt/ml/processing/input/raw",
                    "S3DataType": "S3Prefix",
                    "S3InputMode": "File",
                },
            },
        ],
        "ProcessingOutputConfig": {
            "Outputs": [
                {
                    "OutputName": "clean",
                    "S3Output": {
                        "S3Uri": "s3://out/clean",
                        "LocalPath": "/opt/ml/processing/output/clean",
                        "S3UploadMode": "EndOfJob",
                    },
                }
            ]
        },
    }


def run_processing(rt: Runtime, name: str, raw_uri: str) -> dict:
    rt.storage.write("s3://code/process.py", PROCESS.encode())
    rt.storage.write("s3://data/raw/part.csv", b"1\n2\n3\n")
    rt.storage.write("s3://data/raw/sub/more.csv", b"4\n")
    rt.sagemaker.create_processing_job(**processing_request(name, raw_uri))
    return wait_for(
        lambda: rt.sagemaker.describe_processing_job(ProcessingJobName=name),
        "ProcessingJobStatus",
        ("Completed", "Failed", "Stopped"),
    )


def test_bubblewrap_is_installed_here() -> None:
    assert sandbox.unavailable_reason() is None  # `make tools` installs it


@pytest.mark.parametrize("raw_uri", ["s3://data/raw", "s3://data/raw/"], ids=["no-slash", "slash"])
def test_processing_script_opens_container_paths(rt: Runtime, raw_uri: str) -> None:
    done = run_processing(rt, "exact-paths", raw_uri)
    assert done["ProcessingJobStatus"] == "Completed", done.get("FailureReason")
    assert rt.storage.read("s3://out/clean/rows.txt").decode().startswith("4 ")
    log = training.log_path(rt, "processing", "exact-paths").read_text()
    assert "mount namespace: /opt/ml is this job's directory" in log


@pytest.mark.parametrize("warm", [True, False], ids=["warm-fork", "bwrap"])
def test_training_script_opens_container_paths(
    rt: Runtime, monkeypatch: pytest.MonkeyPatch, warm: bool
) -> None:
    """A warm worker enters the namespace itself; with warm workers off, bwrap runs python."""
    monkeypatch.setenv(config.ENV_WARM_WORKERS, "1" if warm else "0")
    rt.storage.write("s3://code/train/sourcedir.tar.gz", sourcedir({"train.py": TRAIN}))
    rt.storage.write("s3://data/train/train.csv", b"1,2\n3,4\n")
    request = training_request(
        "exact-train",
        {
            "sagemaker_program": '"train.py"',
            "sagemaker_submit_directory": '"s3://code/train/sourcedir.tar.gz"',
        },
        channels=[channel("train", "s3://data/train")],
        AlgorithmSpecification={"TrainingImage": SKLEARN_IMAGE, "TrainingInputMode": "File"},
    )
    rt.sagemaker.create_training_job(**request)
    done = wait_for(
        lambda: rt.sagemaker.describe_training_job(TrainingJobName="exact-train"),
        "TrainingJobStatus",
        ("Completed", "Failed", "Stopped"),
    )
    assert done["TrainingJobStatus"] == "Completed", done.get("FailureReason")
    import io
    import tarfile

    archive = rt.storage.read(done["ModelArtifacts"]["S3ModelArtifacts"])
    with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
        member = tar.extractfile("model.txt")
        assert member is not None
        text = member.read().decode()
    assert text == f"2 rows, cwd /opt/ml/code, warm {warm}"


def test_without_bubblewrap_arguments_are_rewritten_and_the_log_says_so(
    rt: Runtime, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sandbox, "unavailable_reason", lambda: "bwrap is not installed")
    script = (
        "import sys\n"
        "rows = open(sys.argv[1] + '/part.csv').read().split()\n"
        "open(sys.argv[2] + '/rows.txt', 'w').write(str(len(rows)))\n"
    )
    rt.storage.write("s3://code/process.py", script.encode())
    rt.storage.write("s3://data/raw/part.csv", b"1\n2\n3\n")
    request = processing_request("rewritten", "s3://data/raw")
    request["AppSpecification"]["ContainerArguments"] = [
        "/opt/ml/processing/input/raw",
        "/opt/ml/processing/output/clean",
    ]
    rt.sagemaker.create_processing_job(**request)
    done = wait_for(
        lambda: rt.sagemaker.describe_processing_job(ProcessingJobName="rewritten"),
        "ProcessingJobStatus",
        ("Completed", "Failed", "Stopped"),
    )
    assert done["ProcessingJobStatus"] == "Completed", done.get("FailureReason")
    assert rt.storage.read("s3://out/clean/rows.txt") == b"3"
    log = training.log_path(rt, "processing", "rewritten").read_text()
    assert "bubblewrap (bwrap) is not available here (bwrap is not installed)" in log


@pytest.mark.parametrize(
    ("uri", "expected"),
    [
        ("s3://bkt/data/train", ["sub/nested.csv", "train.csv"]),
        ("s3://bkt/data/train/", ["sub/nested.csv", "train.csv"]),
        ("s3://bkt/data/train/train.csv", ["train.csv"]),
        ("s3://bkt/data/tr", ["ain/sub/nested.csv", "ain/train.csv"]),
    ],
    ids=["prefix", "prefix-slash", "one-object", "partial-key"],
)
def test_download_prefix_keeps_keys_relative_to_the_prefix(
    rt: Runtime, tmp_path, uri: str, expected: list[str]
) -> None:
    rt.storage.write("s3://bkt/data/train/train.csv", b"x")
    rt.storage.write("s3://bkt/data/train/sub/nested.csv", b"y")
    dest = tmp_path / "dest"
    assert training.download_prefix(rt, uri, dest) == len(expected)
    assert sorted(p.relative_to(dest).as_posix() for p in dest.rglob("*") if p.is_file()) == (
        expected
    )


def test_a_shell_entrypoint_runs_under_bwrap_with_container_paths(rt: Runtime) -> None:
    """Not this interpreter, so not a warm fork: the command runs under bwrap."""
    rt.storage.write("s3://data/raw/part.csv", b"1\n2\n3\n")
    request = processing_request("shell-paths", "s3://data/raw")
    request["ProcessingInputs"] = request["ProcessingInputs"][1:]  # no code: a shell command
    request["AppSpecification"]["ContainerEntrypoint"] = [
        "/bin/sh",
        "-c",
        "wc -l < /opt/ml/processing/input/raw/part.csv > /opt/ml/processing/output/clean/n.txt"
        " && pwd >> /opt/ml/processing/output/clean/n.txt",
    ]
    rt.sagemaker.create_processing_job(**request)
    done = wait_for(
        lambda: rt.sagemaker.describe_processing_job(ProcessingJobName="shell-paths"),
        "ProcessingJobStatus",
        ("Completed", "Failed", "Stopped"),
    )
    assert done["ProcessingJobStatus"] == "Completed", done.get("FailureReason")
    assert rt.storage.read("s3://out/clean/n.txt").decode().split() == ["3", "/opt/ml"]


def test_a_warm_fork_refused_a_namespace_execs_bwrap_instead(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Where the kernel refuses ``unshare`` in the fork but allows bwrap, the child runs its
    command under bwrap: same paths, no warm start."""
    job = tmp_path / "job"
    (job / "input").mkdir(parents=True)
    (job / "input" / "x.txt").write_text("seen")

    def refuse(root: Path) -> None:
        raise PermissionError(1, "unshare: Operation not permitted")

    pid = os.fork()
    if pid == 0:  # what the template's child does, with the namespace refused
        try:
            monkeypatch.setattr(sandbox, "enter", refuse)
            os.dup2(os.open(os.devnull, os.O_WRONLY), 2)
            forkserver._enter_sandbox(
                {
                    "opt_ml": str(job),
                    "cwd": "/opt/ml/input",
                    "args": ["/bin/sh", "-c", "cat x.txt > /opt/ml/copied.txt"],
                    "env": {"PATH": os.environ["PATH"]},
                }
            )
        finally:
            os._exit(70)  # _enter_sandbox execs and never returns
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    assert (job / "copied.txt").read_text() == "seen"


def test_an_unprivileged_process_enters_the_namespace() -> None:
    """What a warm fork does, as an ordinary user (the suite may run as root: the child
    drops to nobody first): /opt/ml is the job's directory, the host's /opt entries are still
    there, and what the job writes belongs to the user."""
    import shutil
    import tempfile

    job = Path(tempfile.mkdtemp(prefix="sandbox-"))  # under /tmp, which the user nobody can reach
    job.chmod(0o777)
    try:
        _enter_as_a_user(job)
    finally:
        shutil.rmtree(job)


def _enter_as_a_user(job: Path) -> None:
    import ctypes

    host_opt = sorted(os.listdir("/opt"))
    uid = 65534 if os.getuid() == 0 else os.getuid()
    pid = os.fork()
    if pid == 0:
        code = 70
        try:
            if os.getuid() == 0:
                os.setgroups([])
                os.setgid(65534)
                os.setuid(65534)
                ctypes.CDLL(None).prctl(4, 1)  # PR_SET_DUMPABLE, as a user's process is
            sandbox.enter(job)
            with open("/opt/ml/written.txt", "w") as fh:
                fh.write(" ".join(sorted(os.listdir("/opt"))))
            code = 0
        finally:
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    written = job / "written.txt"
    assert written.read_text().split() == sorted({*host_opt, "ml"})
    assert written.stat().st_uid == uid
    assert not Path("/opt/ml").exists()  # nothing was created on the host
