"""``python -m workflows`` as a user runs it (a subprocess): every expected failure is one
line on stderr and the exit code the README's table names."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from localaws.runtime import read_owner
from workflows.errors import ExitCode

REPO = Path(__file__).resolve().parents[2]
WAIT_A_MINUTE = {"StartAt": "Nap", "States": {"Nap": {"Type": "Wait", "Seconds": 60, "End": True}}}
HOLD = (
    "import sys\n"
    "from localaws.runtime import Runtime\n"
    "rt = Runtime(sys.argv[1]).start(url=sys.argv[2] or None)\n"
    "print('owned', flush=True)\n"
    "sys.stdin.read()\n"
)


def env(tmp_path: Path, **extra: str) -> dict[str, str]:
    """A clean environment: no AWS credentials or config, no instance metadata."""
    base = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(tmp_path),
        "PYTHONPATH": str(REPO),
        "AWS_CONFIG_FILE": os.devnull,
        "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
        "AWS_EC2_METADATA_DISABLED": "true",
        "SAGEMAKER_SUPPRESS_V2_WARNING": "1",
    }
    return base | extra


def cli(tmp_path: Path, *argv: str, timeout: float = 120, **extra: str) -> tuple[int, str]:
    done = subprocess.run(
        [sys.executable, "-m", "workflows", *argv],
        cwd=tmp_path, env=env(tmp_path, **extra), capture_output=True, text=True,
        timeout=timeout, check=False,
    )  # fmt: skip
    return done.returncode, done.stderr


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def holder(tmp_path: Path) -> Iterator[object]:
    """Hold a state dir from another process: ``holder(state_dir, url)``."""
    procs: list[subprocess.Popen[str]] = []

    def hold(state: Path, url: str = "") -> None:
        proc = subprocess.Popen(
            [sys.executable, "-c", HOLD, str(state), url],
            env=env(tmp_path), stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
        )  # fmt: skip
        procs.append(proc)
        assert proc.stdout is not None and proc.stdout.readline().strip() == "owned"

    yield hold
    for proc in procs:
        proc.communicate(timeout=30)


def one_line(stderr: str) -> str:
    assert stderr.count("\n") == 1, stderr
    assert "Traceback" not in stderr
    return stderr.strip()


def test_a_server_that_does_not_answer_is_named(tmp_path: Path, holder: object) -> None:
    url = f"http://127.0.0.1:{free_port()}"
    holder(tmp_path / "state", url)  # type: ignore[operator]
    code, err = cli(tmp_path, "status", "--state-dir", str(tmp_path / "state"))
    assert code == ExitCode.UNREACHABLE
    assert url in one_line(err)


def test_a_server_killed_mid_run_is_one_line_naming_its_url(tmp_path: Path) -> None:
    state = tmp_path / "state"
    definition = tmp_path / "wait.json"
    definition.write_text(json.dumps(WAIT_A_MINUTE))
    port = free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "workflows", "serve", "--state-dir", str(state), "--port", str(port)],
        env=env(tmp_path), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        start_new_session=True,
    )  # fmt: skip
    run = None
    try:
        deadline = time.monotonic() + 60
        while not (read_owner(state) or {}).get("url"):
            assert server.poll() is None, "the server did not start"
            assert time.monotonic() < deadline, "the server did not take the state dir"
            time.sleep(0.1)
        url = read_owner(state)["url"]  # type: ignore[index]
        run = subprocess.Popen(
            [sys.executable, "-m", "workflows", "exec", str(definition), "--state-dir", str(state)],
            cwd=tmp_path, env=env(tmp_path), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
            text=True,
        )  # fmt: skip
        import boto3

        sfn = boto3.client(
            "stepfunctions", endpoint_url=url, region_name="us-east-1",
            aws_access_key_id="local", aws_secret_access_key="local",
        )  # fmt: skip
        while True:  # wait until the execution is running on the server
            assert run.poll() is None, run.communicate()
            machines = sfn.list_state_machines()["stateMachines"]
            if (
                machines
                and sfn.list_executions(stateMachineArn=machines[0]["stateMachineArn"])[
                    "executions"
                ]
            ):
                break
            assert time.monotonic() < deadline, "the execution did not start"
            time.sleep(0.1)
        os.killpg(server.pid, signal.SIGKILL)
        _, err = run.communicate(timeout=120)
        assert run.returncode == ExitCode.UNREACHABLE
        line = one_line(err)
        assert url in line and line.startswith("error: lost the connection to the local server")
    finally:
        if server.poll() is None:
            os.killpg(server.pid, signal.SIGKILL)
        server.wait(timeout=30)
        if run is not None and run.poll() is None:
            run.kill()
            run.wait(timeout=30)


def test_aws_commands_without_credentials(tmp_path: Path) -> None:
    code, err = cli(tmp_path, "execute", "--stack-name", "pm", AWS_DEFAULT_REGION="eu-west-1")
    assert code == ExitCode.AWS_CREDENTIALS
    assert "no AWS credentials" in one_line(err)


def test_aws_commands_without_a_region(tmp_path: Path) -> None:
    code, err = cli(tmp_path, "execute", "--stack-name", "pm", AWS_ACCESS_KEY_ID="x",
                    AWS_SECRET_ACCESS_KEY="y")  # fmt: skip
    assert code == ExitCode.AWS_CREDENTIALS
    assert "no AWS region" in one_line(err)


def test_bad_usage_is_2_and_a_missing_definition_is_named(tmp_path: Path) -> None:
    code, err = cli(tmp_path, "exec", str(tmp_path / "missing.json"), "--state-dir", "s")
    assert code == ExitCode.USAGE
    assert "missing.json" in one_line(err)


def test_an_execution_still_running_at_timeout_is_4(tmp_path: Path) -> None:
    definition = tmp_path / "wait.json"
    definition.write_text(json.dumps(WAIT_A_MINUTE))
    code, err = cli(tmp_path, "exec", str(definition), "--timeout", "0.5", "--state-dir", "s")
    assert code == ExitCode.STILL_RUNNING, err
