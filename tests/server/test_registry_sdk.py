"""The model registry through the server with the SageMaker SDK: Model.register into a group,
approval with boto3, ModelPackage.deploy to a local endpoint that answers predictions."""

from __future__ import annotations

import io
import tarfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from sdk_support import ROLE, XGB_IMAGE, sdk_session

from localaws.server.serve import LocalServer

BUCKET = "registry-sdk"
GROUP = "sdk-models"


def model_tar(tmp_path: Path) -> tuple[bytes, Any, np.ndarray]:
    """A model.tar.gz as the built-in algorithm writes it (``xgboost-model``), its booster
    and a few rows to predict."""
    import xgboost as xgb

    rng = np.random.default_rng(3)
    x = rng.normal(size=(200, 3))
    y = (x[:, 0] > 0).astype(int)
    booster = xgb.train({"objective": "binary:logistic"}, xgb.DMatrix(x, label=y), 5)
    path = tmp_path / "model.ubj"  # the format recent containers write, without the suffix
    booster.save_model(str(path))
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        tar.add(path, arcname="xgboost-model")
    return buffer.getvalue(), booster, x[:4]


def test_register_approve_and_deploy_a_model_package(
    server: LocalServer,
    monkeypatch: pytest.MonkeyPatch,
    client: Callable[..., Any],
    tmp_path: Path,
) -> None:
    import xgboost as xgb
    from sagemaker import MetricsSource, ModelMetrics
    from sagemaker.model import Model, ModelPackage
    from sagemaker.predictor import Predictor
    from sagemaker.serializers import CSVSerializer

    data, booster, rows = model_tar(tmp_path)
    server.runtime.storage.write(f"s3://{BUCKET}/model/model.tar.gz", data)
    server.runtime.storage.write(f"s3://{BUCKET}/eval/evaluation.json", b"{}")
    session = sdk_session(server, monkeypatch, BUCKET)
    sm = client("sagemaker")
    sm.create_model_package_group(ModelPackageGroupName=GROUP)

    model = Model(
        image_uri=XGB_IMAGE,
        model_data=f"s3://{BUCKET}/model/model.tar.gz",
        role=ROLE,
        sagemaker_session=session,
    )
    metrics = ModelMetrics(
        model_statistics=MetricsSource(
            content_type="application/json", s3_uri=f"s3://{BUCKET}/eval/evaluation.json"
        )
    )
    package = model.register(
        content_types=["text/csv"],
        response_types=["text/csv"],
        inference_instances=["ml.m5.large"],
        transform_instances=["ml.m5.large"],
        model_package_group_name=GROUP,
        approval_status="PendingManualApproval",
        model_metrics=metrics,
        customer_metadata_properties={"team": "churn"},
    )
    arn = package.model_package_arn
    assert arn.endswith(f":model-package/{GROUP}/1")
    described = sm.describe_model_package(ModelPackageName=arn)
    assert described["ModelApprovalStatus"] == "PendingManualApproval"
    assert described["ModelMetrics"]["ModelQuality"]["Statistics"]["S3Uri"].endswith(
        "evaluation.json"
    )
    assert described["CustomerMetadataProperties"] == {"team": "churn"}

    sm.update_model_package(ModelPackageArn=arn, ModelApprovalStatus="Approved")
    approved = sm.list_model_packages(ModelPackageGroupName=GROUP, ModelApprovalStatus="Approved")
    assert [p["ModelPackageArn"] for p in approved["ModelPackageSummaryList"]] == [arn]

    deployable = ModelPackage(
        role=ROLE, model_package_arn=arn, sagemaker_session=session, predictor_cls=Predictor
    )
    predictor = deployable.deploy(
        initial_instance_count=1,
        instance_type="ml.m5.large",
        endpoint_name="registry-endpoint",
        serializer=CSVSerializer(),
        wait=False,  # the SDK polls every 30 s; wait here on the status instead
    )
    try:
        deadline = time.monotonic() + 120
        while sm.describe_endpoint(EndpointName="registry-endpoint")["EndpointStatus"] == (
            "Creating"
        ):
            assert time.monotonic() < deadline, "the endpoint did not come up"
            time.sleep(0.1)
        body = predictor.predict(rows).decode()
        scores = [float(v) for v in body.replace("\n", ",").split(",") if v.strip()]
        expected = booster.predict(xgb.DMatrix(rows))
        assert scores == pytest.approx(expected.tolist(), rel=1e-5)
    finally:
        predictor.delete_endpoint(delete_endpoint_config=True)
