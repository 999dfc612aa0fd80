"""A fresh ``python -m workflows serve`` lists the shipped use case's state machine in the
console, with an example input whose per-run names are fresh on every fetch, and the
example starts (twice, without a name clash)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import boto3
import httpx
import pytest

from localaws.runtime import read_owner

pytestmark = pytest.mark.slow

MACHINE = "predictive-maintenance"
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    state = tmp_path_factory.mktemp("fresh-serve")
    env = {**os.environ, "SAGEMAKER_SUPPRESS_V2_WARNING": "1"}
    env.pop("WORKFLOWS_CONFIG", None)
    proc = subprocess.Popen(
        [sys.executable, "-m", "workflows", "serve", "--state-dir", str(state), "--port", "0"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        deadline = time.monotonic() + 60
        owner = None
        while owner is None or not owner.get("url"):
            assert proc.poll() is None, proc.stderr.read().decode() if proc.stderr else ""
            assert time.monotonic() < deadline, "the server did not start"
            time.sleep(0.2)
            owner = read_owner(state)
        yield str(owner["url"])
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def test_fresh_serve_lists_and_starts_the_use_case(served: str) -> None:
    sfn = boto3.client(
        "stepfunctions",
        endpoint_url=served,
        region_name="us-east-1",
        aws_access_key_id="x",
        aws_secret_access_key="x",
    )
    console = httpx.Client(base_url=served, headers={"X-Localaws-Console": "1"}, timeout=60)
    # The start hook registers the use case in the background: wait for its example input,
    # written last.
    deadline = time.monotonic() + 600
    while console.get(f"/console/api/example/{MACHINE}").status_code != 200:
        assert time.monotonic() < deadline, "the use case was not registered"
        time.sleep(1)
    machines = {m["name"]: m["stateMachineArn"] for m in sfn.list_state_machines()["stateMachines"]}
    assert MACHINE in machines

    first = console.get(f"/console/api/example/{MACHINE}").json()
    second = console.get(f"/console/api/example/{MACHINE}").json()
    assert first["RunId"] != second["RunId"]
    for example in (first, second):
        assert example["RunId"] in example["TrainingJobName"]
        assert example["RunId"] in example["TransformOutputUri"]
        assert example["EndpointExists"] is False
    assert first["RawDataUri"] == second["RawDataUri"]  # the data uploaded once

    # Both start: their names do not clash.  (Stopped at once: the whole run is the
    # end-to-end test's.)
    for example in (first, second):
        arn = sfn.start_execution(stateMachineArn=machines[MACHINE], input=json.dumps(example))[
            "executionArn"
        ]
        sfn.stop_execution(executionArn=arn, error="Test.Done")
        assert sfn.describe_execution(executionArn=arn)["status"] == "ABORTED", (
            sfn.get_execution_history(executionArn=arn, reverseOrder=True, maxResults=1)["events"]
        )
