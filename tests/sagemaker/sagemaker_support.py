"""Factories for the SageMaker API tests: a runtime, small real data, requests."""

from __future__ import annotations

import io
import tarfile
import time
from collections.abc import Callable
from typing import Any

import numpy as np

ROLE = "arn:aws:iam::123456789012:role/SageMakerRole"
XGB_IMAGE = "683313688378.dkr.ecr.us-east-1.amazonaws.com/sagemaker-xgboost:1.7-1"
SKLEARN_IMAGE = "683313688378.dkr.ecr.us-east-1.amazonaws.com/sagemaker-scikit-learn:1.2-1-cpu-py3"


def classification_csv(rows: int = 400, features: int = 4, seed: int = 0) -> bytes:
    """Label in column 0, no header: the built-in algorithm's CSV format."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(rows, features))
    y = (x[:, 0] + 0.5 * x[:, 1] > 0).astype(int)
    buffer = io.StringIO()
    np.savetxt(buffer, np.column_stack([y, x]), delimiter=",", fmt="%.6g")
    return buffer.getvalue().encode()


def channel(name: str, uri: str, content_type: str | None = "text/csv") -> dict[str, Any]:
    item: dict[str, Any] = {
        "ChannelName": name,
        "DataSource": {
            "S3DataSource": {
                "S3DataType": "S3Prefix",
                "S3Uri": uri,
                "S3DataDistributionType": "FullyReplicated",
            }
        },
    }
    if content_type:
        item["ContentType"] = content_type
    return item


def training_request(
    name: str,
    hyperparameters: dict[str, str],
    *,
    channels: list[dict[str, Any]] | None = None,
    **extra: Any,
) -> dict[str, Any]:
    request = {
        "TrainingJobName": name,
        "RoleArn": ROLE,
        "AlgorithmSpecification": {"TrainingImage": XGB_IMAGE, "TrainingInputMode": "File"},
        "HyperParameters": hyperparameters,
        "InputDataConfig": channels
        if channels is not None
        else [channel("train", "s3://data/train/"), channel("validation", "s3://data/validation/")],
        "OutputDataConfig": {"S3OutputPath": "s3://models/out"},
        "ResourceConfig": {"InstanceType": "ml.m5.large", "InstanceCount": 1, "VolumeSizeInGB": 5},
        "StoppingCondition": {"MaxRuntimeInSeconds": 600},
    }
    request.update(extra)
    return request


def wait_for(
    describe: Callable[[], dict[str, Any]], key: str, done: tuple[str, ...], timeout: float = 120
) -> dict[str, Any]:
    end = time.monotonic() + timeout
    while True:
        result = describe()
        if result[key] in done:
            return result
        if time.monotonic() > end:
            raise AssertionError(f"still {result[key]} after {timeout}s: {result}")
        time.sleep(0.1)


def sourcedir(files: dict[str, str]) -> bytes:
    """A sourcedir.tar.gz as the SageMaker SDK uploads it."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        for name, text in files.items():
            data = text.encode()
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def extract(data: bytes) -> dict[str, bytes]:
    with tarfile.open(fileobj=io.BytesIO(data)) as tar:
        members = [m for m in tar.getmembers() if m.isfile()]
        return {m.name: _read(tar, m) for m in members}


def _read(tar: tarfile.TarFile, member: tarfile.TarInfo) -> bytes:
    fh = tar.extractfile(member)
    assert fh is not None, f"{member.name} is not a regular file"
    return fh.read()
