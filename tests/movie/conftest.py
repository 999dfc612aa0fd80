"""Fixtures of the movie-recommender tests: lambdas/ and the job code on sys.path (as in a
Lambda zip and a script-mode container), generated data, a local server with boto3 clients."""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.config import Config

from localaws.server.serve import LocalServer
from workflows import movielens_data

REPO = Path(__file__).resolve().parents[2]
for extra in (REPO / "lambdas", REPO / "jobs" / "movie_recommender"):
    if str(extra) not in sys.path:
        sys.path.insert(0, str(extra))

REGION = "us-east-1"


@pytest.fixture(autouse=True)
def aws_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in {
        "AWS_ACCESS_KEY_ID": "test",
        "AWS_SECRET_ACCESS_KEY": "test",
        "AWS_DEFAULT_REGION": REGION,
        "AWS_REGION": REGION,
    }.items():
        monkeypatch.setenv(name, value)
    for name in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_ENDPOINT_URL", "LOCALAWS_S3_ROOT"):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture(scope="module")
def small() -> movielens_data.MovieLens:
    """60 users, 300 movies: about 3,500 ratings."""
    return movielens_data.generate(60, 300, seed=5)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalServer]:
    with LocalServer(tmp_path_factory.mktemp("state")) as running:
        yield running


@pytest.fixture
def client(server: LocalServer, aws_env: None) -> Callable[..., Any]:
    def make(service: str) -> Any:
        return boto3.client(
            service,
            endpoint_url=server.url,
            region_name=REGION,
            config=Config(retries={"max_attempts": 2}),
        )

    return make
