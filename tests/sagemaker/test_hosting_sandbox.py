"""A model server runs as in SageMaker's inference container: its model at /opt/ml/model,
read-only, and nothing writable outside its own /opt/ml and a private /tmp (where bubblewrap
works; elsewhere it runs as before and its log says so)."""

from __future__ import annotations

import json
import uuid
from pathlib import Path
from typing import Any

import pytest
from hosting_support import tar_gz

from localaws.runtime import Runtime
from localaws.sagemaker import sandbox
from localaws.sagemaker.hosting import EndpointManager

pytestmark = pytest.mark.slow

HOST_DIR = Path(__file__).resolve().parent
SKLEARN_IMAGE = "683313688378.dkr.ecr.us-east-1.amazonaws.com/sagemaker-scikit-learn:1.2-1-cpu-py3"
PROBE = '''
"""Reports, on every invocation, what the server's process sees and may write."""
import errno
import json
import os


def _write(path):
    try:
        with open(path, "w") as fh:
            fh.write("x")
        return "written"
    except OSError as e:
        return errno.errorcode.get(e.errno, str(e.errno))


def model_fn(model_dir):
    with open(os.path.join(model_dir, "factor.json")) as fh:
        factor = json.load(fh)["factor"]
    return {
        "model_dir": model_dir,
        "sm_model_dir": os.environ.get("SM_MODEL_DIR"),
        "factor": factor,
        "container_model": sorted(os.listdir("/opt/ml/model")) if os.path.isdir("/opt/ml/model") else None,
        "write_model": _write(os.path.join(model_dir, "new.txt")),
        "write_host": _write(os.path.join(os.environ["PROBE_HOST_DIR"], os.environ["PROBE_NAME"])),
        "write_tmp": _write(os.path.join("/tmp", os.environ["PROBE_NAME"])),
        "write_own": _write("/opt/ml/own.txt"),
    }


def input_fn(body, content_type):
    return body


def predict_fn(data, model):
    return model


def output_fn(prediction, accept):
    return json.dumps(prediction)
'''


def probe_model(runtime: Runtime, host_dir: Path, tmp_name: str) -> dict[str, Any]:
    runtime.storage.write(
        "s3://models/probe/model.tar.gz", tar_gz({"factor.json": b'{"factor": 3}'})
    )
    runtime.storage.write("s3://code/probe/sourcedir.tar.gz", tar_gz({"probe.py": PROBE.encode()}))
    return {
        "ModelName": "probe",
        "PrimaryContainer": {
            "Image": SKLEARN_IMAGE,
            "ModelDataUrl": "s3://models/probe/model.tar.gz",
            "Environment": {
                "SAGEMAKER_PROGRAM": "probe.py",
                "SAGEMAKER_SUBMIT_DIRECTORY": "s3://code/probe/sourcedir.tar.gz",
                "PROBE_HOST_DIR": str(host_dir),
                "PROBE_NAME": tmp_name,
            },
        },
    }


def deploy_probe(tmp_path: Path) -> tuple[dict[str, Any], EndpointManager, Runtime, str]:
    runtime = Runtime(tmp_path / "state")
    runtime.state_dir.mkdir(parents=True)
    host_dir = HOST_DIR  # a directory of the host's, outside /tmp
    tmp_name = f"probe-{uuid.uuid4().hex}.txt"
    manager = EndpointManager(runtime)
    model = probe_model(runtime, host_dir, tmp_name)
    manager.deploy("probe", [{"VariantName": "AllTraffic", "ModelName": "probe", "Model": model}])
    response = runtime.sagemaker_runtime.invoke_endpoint(
        EndpointName="probe", Body=b"{}", ContentType="application/json"
    )
    return json.loads(response["Body"]), manager, runtime, tmp_name


@pytest.mark.skipif(not sandbox.available(), reason=f"no sandbox: {sandbox.unavailable_reason()}")
@pytest.mark.parametrize("warm", ["1", "0"], ids=["warm-fork", "bwrap"])
def test_the_server_sees_its_model_read_only_and_writes_only_its_own_directories(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, warm: str
) -> None:
    monkeypatch.setenv("LOCALAWS_WARM_WORKERS", warm)
    seen, manager, runtime, tmp_name = deploy_probe(tmp_path)
    try:
        (server,) = manager.servers("probe")
        assert seen == {
            "model_dir": "/opt/ml/model",
            "sm_model_dir": "/opt/ml/model",
            "factor": 3,
            "container_model": ["factor.json"],
            "write_model": "EROFS",  # the model is read-only, as in the inference container
            "write_host": "EROFS",  # nothing outside its own directories
            "write_tmp": "written",  # a private /tmp
            "write_own": "written",
        }
        assert not (HOST_DIR / tmp_name).exists()
        assert not (Path("/tmp") / tmp_name).exists()
        own = list(server.workdir.glob("container-*/own.txt"))
        assert len(own) == 1  # its /opt/ml is its container's directory
        assert not list(server.workdir.glob("container-*/model/new.txt"))
        assert "Running in a mount namespace" in server.log_tail()
    finally:
        (HOST_DIR / tmp_name).unlink(missing_ok=True)
        manager.close()
        runtime.sagemaker_runtime.close()


def test_without_a_sandbox_the_server_runs_as_before_and_says_so(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sandbox, "unavailable_reason", lambda: "bwrap is not installed")
    seen, manager, runtime, tmp_name = deploy_probe(tmp_path)
    (HOST_DIR / tmp_name).unlink(missing_ok=True)  # it could write there: no sandbox
    (Path("/tmp") / tmp_name).unlink(missing_ok=True)
    try:
        (server,) = manager.servers("probe")
        assert seen["factor"] == 3
        assert seen["model_dir"] == str(next(server.workdir.glob("container-*/model")))
        assert "bubblewrap (bwrap) is not available here (bwrap is not installed)" in (
            server.log_tail()
        )
    finally:
        manager.close()
        runtime.sagemaker_runtime.close()
