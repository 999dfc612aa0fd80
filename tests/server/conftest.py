"""Fixtures of the server tests: a real uvicorn server on a free port over a tmp state dir,
and boto3 clients pointed at it with dummy credentials."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from typing import Any

import boto3
import pytest
from botocore.config import Config

from localaws.server.serve import LocalServer

REGION = "us-east-1"
ROLE = "arn:aws:iam::123456789012:role/local-test"


@pytest.fixture(autouse=True)
def aws_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """Dummy credentials and region: the server never checks signatures."""
    for name, value in {
        "AWS_ACCESS_KEY_ID": "test",
        "AWS_SECRET_ACCESS_KEY": "test",
        "AWS_SESSION_TOKEN": "test",
        "AWS_DEFAULT_REGION": REGION,
        "AWS_REGION": REGION,
        "SAGEMAKER_SUPPRESS_V2_WARNING": "1",
    }.items():
        monkeypatch.setenv(name, value)
    for name in (
        "AWS_PROFILE",
        "AWS_ENDPOINT_URL",
        "AWS_CONFIG_FILE",
        "AWS_SHARED_CREDENTIALS_FILE",
    ):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalServer]:
    """One server per test module, over its own state directory."""
    with LocalServer(tmp_path_factory.mktemp("state")) as running:
        yield running


@pytest.fixture
def client(server: LocalServer, aws_env: None) -> Callable[..., Any]:
    """``client("s3")``: a boto3 client of the local server."""

    def make(service: str, **config: Any) -> Any:
        return boto3.client(
            service,
            endpoint_url=server.url,
            region_name=REGION,
            config=Config(retries={"max_attempts": 1}, **config),
        )

    return make


@pytest.fixture
def restore_root_logger() -> Iterator[None]:
    """Importing the Data Science SDK sets the root logger to ERROR; put it back."""
    root = logging.getLogger()
    level = root.level
    yield
    root.setLevel(level)
