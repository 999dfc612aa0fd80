"""A small XGBoost endpoint deployed with boto3 through a test server, and its data."""

from __future__ import annotations

import io
import tarfile
import time
from collections.abc import Callable
from typing import Any

import boto3
import numpy as np
import xgboost as xgb

ROLE = "arn:aws:iam::123456789012:role/monitor"
XGB_IMAGE = "683313688378.dkr.ecr.us-east-1.amazonaws.com/sagemaker-xgboost:1.7-1"
FEATURES = ["f0", "f1", "f2", "f3"]


def features(rows: int, seed: int, drifted: set[str] = frozenset()) -> np.ndarray:  # type: ignore[assignment]
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(rows, len(FEATURES)))
    for i, name in enumerate(FEATURES):
        if name in drifted:
            X[:, i] += 3.0
    return X


def csv_text(X: np.ndarray) -> str:
    return "\n".join(",".join(f"{v:.6f}" for v in row) for row in X)


def model_tar(X: np.ndarray) -> bytes:
    y = (X[:, 0] > 0).astype(float)
    booster = xgb.train(
        {"objective": "binary:logistic", "max_depth": 2, "nthread": 1}, xgb.DMatrix(X, label=y), 5
    )
    raw = bytes(booster.save_raw(raw_format="ubj"))
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        info = tarfile.TarInfo("xgboost-model")
        info.size = len(raw)
        tar.addfile(info, io.BytesIO(raw))
    return buffer.getvalue()


def wait_for(check: Callable[[], Any], what: str, timeout: float = 120) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


def deploy_endpoint(
    server: Any, name: str, bucket: str, capture: dict[str, Any] | None = None
) -> str:
    """An XGBoost endpoint ``name`` (model in ``bucket``), built with boto3 through the
    server as a user does; with ``capture``, its DataCaptureConfig."""
    kwargs = {
        "endpoint_url": server.url,
        "region_name": "us-east-1",
        "aws_access_key_id": "test",
        "aws_secret_access_key": "test",
    }
    s3, sm = boto3.client("s3", **kwargs), boto3.client("sagemaker", **kwargs)
    s3.create_bucket(Bucket=bucket)
    s3.put_object(Bucket=bucket, Key=f"{name}/model.tar.gz", Body=model_tar(features(300, 0)))
    sm.create_model(
        ModelName=name,
        PrimaryContainer={"Image": XGB_IMAGE, "ModelDataUrl": f"s3://{bucket}/{name}/model.tar.gz"},
        ExecutionRoleArn=ROLE,
    )
    config: dict[str, Any] = {
        "EndpointConfigName": name,
        "ProductionVariants": [
            {
                "VariantName": "AllTraffic",
                "ModelName": name,
                "InitialInstanceCount": 1,
                "InstanceType": "ml.m5.large",
            }
        ],
    }
    if capture is not None:
        config["DataCaptureConfig"] = capture
    sm.create_endpoint_config(**config)
    sm.create_endpoint(EndpointName=name, EndpointConfigName=name)
    wait_for(
        lambda: sm.describe_endpoint(EndpointName=name)["EndpointStatus"] == "InService",
        "the endpoint",
    )
    return name
