"""Fixtures of the service tests: a real server on a free port over a tmp state dir, boto3
clients pointed at it with dummy credentials, unique resource names."""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator
from typing import Any

import boto3
import pytest
from botocore.config import Config

from localaws.server.serve import LocalServer

REGION = "us-east-1"
ACCOUNT = "123456789012"


@pytest.fixture(autouse=True)
def aws_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """Dummy credentials and region: the server never checks signatures."""
    for name, value in {
        "AWS_ACCESS_KEY_ID": "test",
        "AWS_SECRET_ACCESS_KEY": "test",
        "AWS_DEFAULT_REGION": REGION,
        "AWS_REGION": REGION,
        "SAGEMAKER_SUPPRESS_V2_WARNING": "1",
    }.items():
        monkeypatch.setenv(name, value)
    for name in (
        "AWS_PROFILE",
        "AWS_SESSION_TOKEN",
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
    """``client("dynamodb")``: a boto3 client of the local server."""

    def make(service: str) -> Any:
        return boto3.client(
            service,
            endpoint_url=server.url,
            region_name=REGION,
            config=Config(retries={"max_attempts": 1}),
        )

    return make


_counter = itertools.count()


@pytest.fixture
def name(request: pytest.FixtureRequest) -> Callable[[str], str]:
    """``name("queue")``: a resource name unique within the module."""

    def make(kind: str) -> str:
        return f"{kind}-{request.node.originalname.replace('_', '-')[:40]}-{next(_counter)}"

    return make
