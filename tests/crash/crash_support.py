"""A `serve` subprocess to kill -9, and a small workflow whose steps wait at gates.

Each gated step (a Lambda, a training script, a model's ``model_fn``) touches
``<gates>/<gate>.started-<pid>`` and waits until ``<gates>/<gate>.go`` exists, so a test
kills the server at a known point and lets the work go on after the restart.  A model server
runs sealed, as an inference container (read-only file system, a private /tmp): its gate is a
TCP connection to the test's :class:`GateServer`, which touches and waits on its behalf."""

from __future__ import annotations

import contextlib
import io
import json
import os
import signal
import socket
import subprocess
import sys
import tarfile
import textwrap
import threading
import time
import zipfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import boto3
from botocore.config import Config

from localaws.runtime import read_owner

ROOT = Path(__file__).resolve().parents[2]
REGION = "us-east-1"
ROLE = "arn:aws:iam::123456789012:role/crash-test"
SKLEARN_IMAGE = "683313688378.dkr.ecr.us-east-1.amazonaws.com/sagemaker-scikit-learn:1.2-1-cpu-py3"
CODE = "s3://code/crash/sourcedir.tar.gz"
ENDPOINT = "crash-ep"

GATE_WAIT = """
def gate(gates, name):
    import os, pathlib, time
    root = pathlib.Path(gates)
    (root / f"{name}.started-{os.getpid()}").touch()
    while not (root / f"{name}.go").exists():
        time.sleep(0.05)
"""

HANDLER = GATE_WAIT + textwrap.dedent(
    """
    def handler(event, context):
        gate(event["gates"], event["gate"])
        return {"gate": event["gate"], "value": event.get("value")}
    """
)

TRAIN = GATE_WAIT + textwrap.dedent(
    """
    import argparse, os
    parser = argparse.ArgumentParser()
    parser.add_argument("--gates")
    args = parser.parse_args()
    gate(args.gates, "train")
    with open(os.path.join(os.environ["SM_MODEL_DIR"], "model.txt"), "w") as fh:
        fh.write("trained")
    """
)

INFERENCE = textwrap.dedent(
    """
    import os, socket

    def model_fn(model_dir):
        if os.environ.get("GATE_ADDRESS"):  # the test's GateServer; blocks until "go"
            host, port = os.environ["GATE_ADDRESS"].rsplit(":", 1)
            with socket.create_connection((host, int(port))) as conn:
                conn.sendall(f"deploy {os.getpid()}\\n".encode())
                assert conn.recv(2) == b"go"
        return open(os.path.join(model_dir, "model.txt")).read()

    def predict_fn(data, model):
        return [model]
    """
)


def tar_gz(files: dict[str, str]) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        for name, text in files.items():
            data = text.encode()
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def handler_zip() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as zf:
        zf.writestr("gate.py", HANDLER)
    return buffer.getvalue()


def lambda_task(gates: Path, gate: str, value: Any, result_path: str | None) -> dict[str, Any]:
    return {
        "Type": "Task",
        "Resource": "arn:aws:states:::lambda:invoke",
        "Parameters": {
            "FunctionName": "gate",
            "Payload": {"gates": str(gates), "gate": gate, **value},
        },
        "ResultSelector": {"out.$": "$.Payload"},
        "ResultPath": result_path,
        "Retry": [
            {"ErrorEquals": ["Lambda.ServiceException"], "IntervalSeconds": 1, "MaxAttempts": 3}
        ],
    }


def definition(gates: Path, gate_address: str) -> dict[str, Any]:
    """Invoke (Lambda) -> Train (.sync) -> Fan (Map of Lambdas) -> model, config, UpdateEndpoint
    -> wait on DescribeEndpoint until InService."""
    model_b = {
        "ModelName": "crash-model-b",
        "ExecutionRoleArn": ROLE,
        "PrimaryContainer": {
            "Image": SKLEARN_IMAGE,
            "ModelDataUrl.$": "$.train.model",
            "Environment": {
                "SAGEMAKER_PROGRAM": "inference.py",
                "SAGEMAKER_SUBMIT_DIRECTORY": CODE,
                "GATE_ADDRESS": gate_address,
            },
        },
    }
    item = lambda_task(gates, "map", {"value.$": "$"}, "$")
    item["End"] = True
    item["ResultSelector"] = {"v.$": "$.Payload.value"}
    return {
        "StartAt": "Invoke",
        "States": {
            "Invoke": {**lambda_task(gates, "invoke", {"value": 1}, "$.invoke"), "Next": "Train"},
            "Train": {
                "Type": "Task",
                "Resource": "arn:aws:states:::sagemaker:createTrainingJob.sync",
                "Parameters": {
                    "TrainingJobName": "crash-train",
                    "RoleArn": ROLE,
                    "AlgorithmSpecification": {
                        "TrainingImage": SKLEARN_IMAGE,
                        "TrainingInputMode": "File",
                    },
                    "HyperParameters": {
                        "sagemaker_program": json.dumps("train.py"),
                        "sagemaker_submit_directory": json.dumps(CODE),
                        "gates": json.dumps(str(gates)),
                    },
                    "OutputDataConfig": {"S3OutputPath": "s3://models/crash"},
                    "ResourceConfig": {
                        "InstanceType": "ml.m5.large",
                        "InstanceCount": 1,
                        "VolumeSizeInGB": 1,
                    },
                    "StoppingCondition": {"MaxRuntimeInSeconds": 600},
                },
                "ResultSelector": {"model.$": "$.ModelArtifacts.S3ModelArtifacts"},
                "ResultPath": "$.train",
                "Next": "Fan",
            },
            "Fan": {
                "Type": "Map",
                "ItemsPath": "$.items",
                "MaxConcurrency": 2,
                "Iterator": {"StartAt": "Item", "States": {"Item": item}},
                "ResultPath": "$.fan",
                "Next": "CreateModel",
            },
            "CreateModel": {
                "Type": "Task",
                "Resource": "arn:aws:states:::sagemaker:createModel",
                "Parameters": model_b,
                "ResultPath": None,
                "Next": "CreateConfig",
            },
            "CreateConfig": {
                "Type": "Task",
                "Resource": "arn:aws:states:::sagemaker:createEndpointConfig",
                "Parameters": {
                    "EndpointConfigName": "crash-config-b",
                    "ProductionVariants": [
                        {
                            "VariantName": "AllTraffic",
                            "ModelName": "crash-model-b",
                            "InitialInstanceCount": 1,
                            "InstanceType": "ml.m5.large",
                        }
                    ],
                },
                "ResultPath": None,
                "Next": "Update",
            },
            "Update": {
                "Type": "Task",
                "Resource": "arn:aws:states:::sagemaker:updateEndpoint",
                "Parameters": {"EndpointName": ENDPOINT, "EndpointConfigName": "crash-config-b"},
                "ResultPath": None,
                "Next": "Describe",
            },
            "Describe": {
                "Type": "Task",
                "Resource": "arn:aws:states:::aws-sdk:sagemaker:describeEndpoint",
                "Parameters": {"EndpointName": ENDPOINT},
                "ResultSelector": {"status.$": "$.EndpointStatus"},
                "ResultPath": "$.endpoint",
                "Next": "Ready?",
            },
            "Ready?": {
                "Type": "Choice",
                "Choices": [
                    {"Variable": "$.endpoint.status", "StringEquals": "InService", "Next": "Done"},
                    {"Variable": "$.endpoint.status", "StringEquals": "Failed", "Next": "Broken"},
                ],
                "Default": "Wait",
            },
            "Wait": {"Type": "Wait", "Seconds": 1, "Next": "Describe"},
            "Broken": {"Type": "Fail", "Error": "EndpointFailed"},
            "Done": {"Type": "Pass", "End": True},
        },
    }


class Serve:
    """``python -m workflows serve`` over a state directory, in a subprocess."""

    def __init__(self, state_dir: Path):
        self.state_dir = state_dir
        self.process: subprocess.Popen[bytes] | None = None
        self.url = ""

    def start(self, timeout: float = 120) -> Serve:
        env = {**os.environ, "PYTHONPATH": str(ROOT)}
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "workflows",
                "serve",
                "--port",
                "0",
                "--state-dir",
                str(self.state_dir),
            ],
            cwd=ROOT,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=open(self.state_dir.parent / "serve.log", "ab"),  # noqa: SIM115
        )
        process = self.process

        def recorded() -> str | None:
            assert process.poll() is None, "serve exited; see serve.log"
            owner = read_owner(self.state_dir)
            return owner.get("url") if owner and owner.get("pid") == process.pid else None

        self.url = wait_until(recorded, timeout, "the server to record its URL")
        return self

    def kill(self) -> None:
        assert self.process is not None
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(30)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(60)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()

    def client(self, service: str) -> Any:
        return boto3.client(
            service,
            endpoint_url=self.url,
            region_name=REGION,
            aws_access_key_id="test",
            aws_secret_access_key="test",
            config=Config(retries={"max_attempts": 1}, read_timeout=120),
        )


def wait_until(probe: Callable[[], Any], timeout: float, what: str) -> Any:
    """Poll ``probe`` until it returns something truthy (the event waited on)."""
    deadline = time.monotonic() + timeout
    while True:
        value = probe()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


def started(gates: Path, gate: str) -> list[int]:
    """PIDs of the processes that reached ``gate``."""
    return [int(p.name.rsplit("-", 1)[1]) for p in gates.glob(f"{gate}.started-*")]


def open_gate(gates: Path, gate: str) -> None:
    (gates / f"{gate}.go").touch()


def dead(pid: int) -> bool:
    return not alive(pid)


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:  # a zombie is dead
        return Path(f"/proc/{pid}/stat").read_text().split(")")[-1].split()[0] != "Z"
    except OSError:
        return False


@contextmanager
def serving(state_dir: Path) -> Iterator[Serve]:
    serve = Serve(state_dir).start()
    try:
        yield serve
    finally:
        serve.stop()


class GateServer:
    """The gate of processes that cannot write to ``gates`` (a sealed model server): each
    connection sends ``<gate> <pid>``; the server touches ``<gate>.started-<pid>`` for it and
    answers ``go`` once ``<gate>.go`` exists (or drops it when the process is gone)."""

    def __init__(self, gates: Path):
        self.gates = gates
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.address = f"127.0.0.1:{self.listener.getsockname()[1]}"
        self.closed = threading.Event()
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while not self.closed.is_set():
            try:
                conn, _ = self.listener.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, conn: socket.socket) -> None:
        with conn:
            gate, pid = conn.makefile().readline().split()
            (self.gates / f"{gate}.started-{pid}").touch()
            while not (self.gates / f"{gate}.go").exists():
                if self.closed.wait(0.05):
                    return
            with contextlib.suppress(OSError):  # the process may have been killed
                conn.sendall(b"go")

    def close(self) -> None:
        self.closed.set()
        self.listener.close()


def set_up(serve: Serve, gates: Path, gate_address: str) -> str:
    """The function, the code, endpoint A (InService) and the state machine; its ARN."""
    s3 = serve.client("s3")
    for bucket in ("code", "models"):
        s3.create_bucket(Bucket=bucket)
    s3.put_object(
        Bucket="code",
        Key="crash/sourcedir.tar.gz",
        Body=tar_gz({"train.py": TRAIN, "inference.py": INFERENCE}),
    )
    s3.put_object(Bucket="models", Key="a/model.tar.gz", Body=tar_gz({"model.txt": "a"}))
    serve.client("lambda").create_function(
        FunctionName="gate",
        Runtime="python3.12",
        Role=ROLE,
        Handler="gate.handler",
        Code={"ZipFile": handler_zip()},
        Timeout=300,
    )
    sm = serve.client("sagemaker")
    sm.create_model(
        ModelName="crash-model-a",
        ExecutionRoleArn=ROLE,
        PrimaryContainer={
            "Image": SKLEARN_IMAGE,
            "ModelDataUrl": "s3://models/a/model.tar.gz",
            "Environment": {
                "SAGEMAKER_PROGRAM": "inference.py",
                "SAGEMAKER_SUBMIT_DIRECTORY": CODE,
            },
        },
    )
    sm.create_endpoint_config(
        EndpointConfigName="crash-config-a",
        ProductionVariants=[
            {
                "VariantName": "AllTraffic",
                "ModelName": "crash-model-a",
                "InitialInstanceCount": 1,
                "InstanceType": "ml.m5.large",
            }
        ],
    )
    sm.create_endpoint(EndpointName=ENDPOINT, EndpointConfigName="crash-config-a")
    wait_until(
        lambda: sm.describe_endpoint(EndpointName=ENDPOINT)["EndpointStatus"] == "InService",
        120,
        "endpoint A",
    )
    return serve.client("stepfunctions").create_state_machine(
        name="crash", definition=json.dumps(definition(gates, gate_address)), roleArn=ROLE
    )["stateMachineArn"]


def resources(serve: Serve) -> dict[str, Any]:
    """What the run left: jobs, models, configs, endpoints, executions."""
    sm = serve.client("sagemaker")
    sfn = serve.client("stepfunctions")
    machines = sfn.list_state_machines()["stateMachines"]
    return {
        "training": [
            (j["TrainingJobName"], j["TrainingJobStatus"])
            for j in sm.list_training_jobs()["TrainingJobSummaries"]
        ],
        "model_b": sm.describe_model(ModelName="crash-model-b")["ModelName"],
        "endpoints": [
            (e["EndpointName"], e["EndpointStatus"]) for e in sm.list_endpoints()["Endpoints"]
        ],
        "endpoint_config": sm.describe_endpoint(EndpointName=ENDPOINT)["EndpointConfigName"],
        "executions": [
            (e["name"], e["status"])
            for m in machines
            for e in sfn.list_executions(stateMachineArn=m["stateMachineArn"])["executions"]
        ],
    }
