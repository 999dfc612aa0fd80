"""The SageMaker SDK against the local server: a Session whose clients all reach the server."""

from __future__ import annotations

import io
from typing import Any

import boto3
import numpy as np
import pytest

from localaws.server.serve import LocalServer

REGION = "us-east-1"
ROLE = "arn:aws:iam::123456789012:role/local-test"
XGB_IMAGE = "683313688378.dkr.ecr.us-east-1.amazonaws.com/sagemaker-xgboost:1.7-1"


def classification_csv(rows: int = 300, features: int = 4, seed: int = 0) -> bytes:
    """Label in column 0, no header: the built-in algorithm's CSV format."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(rows, features))
    y = (x[:, 0] + 0.5 * x[:, 1] + rng.normal(scale=0.5, size=rows) > 0).astype(int)
    buffer = io.StringIO()
    np.savetxt(buffer, np.column_stack([y, x]), delimiter=",", fmt="%.6g")
    return buffer.getvalue().encode()


FAST_POLL = 0.1
POLLING_WAITS = ("wait_for_job", "wait_for_tuning_job", "wait_for_model_package")


def sdk_session(server: LocalServer, monkeypatch: pytest.MonkeyPatch, bucket: str) -> Any:
    """A ``sagemaker.Session`` over the local server (every boto3 client: AWS_ENDPOINT_URL).

    The SDK's waits sleep 5 s before each describe; locally jobs end in seconds, so their
    default polling interval is shortened for the test (the calls themselves are unchanged).
    """
    import sagemaker

    monkeypatch.setenv("AWS_ENDPOINT_URL", server.url)
    for name in POLLING_WAITS:
        monkeypatch.setattr(getattr(sagemaker.Session, name), "__defaults__", (FAST_POLL,))
    boto_session = boto3.Session(region_name=REGION)
    return sagemaker.Session(
        boto_session=boto_session,
        sagemaker_client=boto_session.client("sagemaker"),
        sagemaker_runtime_client=boto_session.client("sagemaker-runtime"),
        default_bucket=bucket,
    )


def upload_classification_data(server: LocalServer, bucket: str) -> None:
    storage = server.runtime.storage
    storage.write(f"s3://{bucket}/data/train/train.csv", classification_csv(400, seed=1))
    storage.write(f"s3://{bucket}/data/validation/validation.csv", classification_csv(200, seed=2))
