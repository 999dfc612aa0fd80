"""Fixtures of the AWS-side tests: settings, the rendered template, checkov, moto."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from workflows import aws
from workflows import aws_template as tpl

REPO = Path(__file__).resolve().parents[2]
FIXTURES = Path(__file__).with_name("fixtures")
CHECKOV_VENV = REPO / "build" / "checkov-venv"
CHECKOV_REQUIREMENTS = REPO / "cfn" / "requirements-checkov.txt"
ASL_VALIDATOR_DIR = REPO / "build" / "asl-validator"
ASL_VALIDATOR_PACKAGE = "asl-validator@3.16.0"  # npm; needs node and npm on PATH
REGION = "us-east-1"


@pytest.fixture(scope="session")
def settings() -> Any:
    from workflows.settings import load

    return load(None)


@pytest.fixture(scope="session")
def functions() -> list[tpl.LambdaSpec]:
    return aws.lambda_specs()


@pytest.fixture(scope="session")
def template(settings: Any, functions: list[tpl.LambdaSpec]) -> dict[str, Any]:
    return aws.render(settings, functions)


@pytest.fixture(scope="session")
def lambda_template(settings: Any, functions: list[tpl.LambdaSpec]) -> dict[str, Any]:
    """The stack of the Lambda-featurised variant (``--featurizer lambda``)."""
    return aws.render(settings.replace(**{"featurizer.mode": "lambda"}), functions)


@pytest.fixture(scope="session")
def rendered_dir(tmp_path_factory: pytest.TempPathFactory, template: dict[str, Any]) -> Path:
    """The template as `build` writes it and as `package` leaves it, side by side."""
    root = tmp_path_factory.mktemp("cfn")
    (root / "template.yaml").write_text(tpl.dump_template(template), encoding="utf-8")
    packaged = aws.with_code_location(template, "deploy-bucket", "stack/lambda-0123.zip")
    (root / "packaged.yaml").write_text(tpl.dump_template(packaged), encoding="utf-8")
    return root


@pytest.fixture(scope="session")
def definition(template: dict[str, Any]) -> dict[str, Any]:
    return json.loads(template["Resources"]["StateMachine"]["Properties"]["DefinitionString"])


@pytest.fixture(scope="session")
def checkov() -> Path:
    """The checkov executable, installed into its own venv (see cfn/requirements-checkov.txt)."""
    exe = CHECKOV_VENV / "bin" / "checkov"
    if not exe.exists():
        subprocess.run([sys.executable, "-m", "venv", str(CHECKOV_VENV)], check=True)
        subprocess.run(
            [str(CHECKOV_VENV / "bin" / "pip"), "install", "-q", "-r", str(CHECKOV_REQUIREMENTS)],
            check=True,
        )
    return exe


@pytest.fixture(scope="session")
def asl_validator() -> Path:
    """The asl-validator CLI, installed from the npm registry into build/ when missing."""
    exe = ASL_VALIDATOR_DIR / "node_modules" / ".bin" / "asl-validator"
    if not exe.exists():
        ASL_VALIDATOR_DIR.mkdir(parents=True, exist_ok=True)
        subprocess.run(
            [
                "npm",
                "install",
                "--no-audit",
                "--no-fund",
                "--prefix",
                str(ASL_VALIDATOR_DIR),
                ASL_VALIDATOR_PACKAGE,
            ],
            check=True,
        )
    return exe


@pytest.fixture
def aws_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """Fake credentials and a region for moto; nothing real is reachable."""
    for key in ("AWS_PROFILE", "AWS_DEFAULT_PROFILE", "AWS_SESSION_TOKEN"):
        monkeypatch.delenv(key, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    monkeypatch.setenv("AWS_REGION", REGION)
    monkeypatch.setenv("AWS_CONFIG_FILE", os.devnull)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", os.devnull)


@pytest.fixture
def moto(aws_env: None) -> Iterator[Any]:
    from moto import mock_aws

    with mock_aws():
        yield aws.boto_session(REGION)


@pytest.fixture
def stop_when_started() -> Callable[[Any, str], threading.Thread]:
    """``stop_when_started(sfn, state_machine_arn)``: a started thread that stops the state
    machine's first execution as soon as it is listed (moto never finishes an execution by
    itself); join it after the call."""
    return _stop_when_started


def _stop_when_started(sfn: Any, state_machine_arn: str) -> threading.Thread:
    def stop() -> None:
        for _ in range(600):
            executions = sfn.list_executions(stateMachineArn=state_machine_arn)["executions"]
            if executions:
                sfn.stop_execution(
                    executionArn=executions[0]["executionArn"], error="Test", cause="stopped"
                )
                return
            threading.Event().wait(0.05)

    thread = threading.Thread(target=stop)
    thread.start()
    return thread
