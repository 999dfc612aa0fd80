"""Fixtures of the SageMaker tests."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sagemaker_support import classification_csv

from localaws.runtime import Runtime


@pytest.fixture
def rt(tmp_path) -> Iterator[Runtime]:
    """A runtime over a fresh state dir; its SageMaker backend is closed afterwards."""
    runtime = Runtime(tmp_path / "state")
    yield runtime
    backend = runtime.__dict__.get("sagemaker")
    if backend is not None:
        backend.close()
    runtime.db.close()


@pytest.fixture
def data(rt: Runtime) -> Runtime:
    """Train and validation CSV channels under s3://data/."""
    rt.storage.write("s3://data/train/part-0.csv", classification_csv(300, seed=1))
    rt.storage.write("s3://data/train/part-1.csv", classification_csv(200, seed=2))
    rt.storage.write("s3://data/validation/val.csv", classification_csv(150, seed=3))
    return rt
