"""The built-in Factorization Machines algorithm through the server: the SageMaker SDK's
FactorizationMachines estimator trains on RecordIO-protobuf (sparse train, dense test)
with the image sagemaker.image_uris.retrieve gives, reports the container's test metrics,
and deploys an endpoint answering JSON (dense and sparse) and RecordIO-protobuf requests."""

from __future__ import annotations

import io
import json
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
import scipy.sparse as sp
from botocore.exceptions import ClientError
from sdk_support import REGION, ROLE, sdk_session

from localaws.sagemaker import recordio
from localaws.server.serve import LocalServer

BUCKET = "fm-sdk"
USERS, ITEMS = 20, 30
DIM = USERS + ITEMS


def pairs(n: int, seed: int) -> tuple[sp.csr_matrix, np.ndarray]:
    """One-hot user + one-hot item; the label is an interaction (same parity): a linear
    model cannot learn it, a factorization machine can."""
    rng = np.random.default_rng(seed)
    u, i = rng.integers(0, USERS, n), rng.integers(0, ITEMS, n)
    cols = np.column_stack([u, USERS + i]).ravel()
    x = sp.csr_matrix((np.ones(2 * n), (np.repeat(np.arange(n), 2), cols)), shape=(n, DIM))
    return x, ((u % 2) == (i % 2)).astype("float32")


def test_factorization_machines_estimator_trains_and_serves(
    server: LocalServer, monkeypatch: pytest.MonkeyPatch, client: Callable[..., Any]
) -> None:
    import sagemaker
    from sagemaker import FactorizationMachines
    from sagemaker.amazon.amazon_estimator import RecordSet
    from sagemaker.amazon.common import write_spmatrix_to_sparse_tensor
    from sagemaker.deserializers import JSONDeserializer
    from sagemaker.serializers import JSONSerializer

    session = sdk_session(server, monkeypatch, BUCKET)
    image = sagemaker.image_uris.retrieve("factorization-machines", REGION)
    x, y = pairs(2000, seed=1)
    buffer = io.BytesIO()
    write_spmatrix_to_sparse_tensor(buffer, x, y)
    client("s3").create_bucket(Bucket=BUCKET)
    client("s3").put_object(Bucket=BUCKET, Key="fm/train/part-0", Body=buffer.getvalue())
    train = RecordSet(
        f"s3://{BUCKET}/fm/train/", num_records=2000, feature_dim=DIM, s3_data_type="S3Prefix"
    )
    fm = FactorizationMachines(
        role=ROLE,
        instance_count=1,
        instance_type="ml.m5.large",
        num_factors=4,
        predictor_type="binary_classifier",
        epochs=30,
        mini_batch_size=100,
        factors_lr=0.05,
        linear_lr=0.05,
        factors_init_sigma=0.1,
        sagemaker_session=session,
    )
    assert fm.training_image_uri() == image
    xt, yt = pairs(400, seed=2)
    test = fm.record_set(xt.toarray().astype("float32"), yt, channel="test")  # dense records
    fm.fit([train, test], mini_batch_size=100, job_name="fm-sdk-train", logs=False)

    job = client("sagemaker").describe_training_job(TrainingJobName="fm-sdk-train")
    assert job["TrainingJobStatus"] == "Completed"
    assert job["AlgorithmSpecification"]["TrainingImage"] == image
    assert job["HyperParameters"]["feature_dim"] == str(DIM)
    metrics = {m["MetricName"]: m["Value"] for m in job["FinalMetricDataList"]}
    assert set(metrics) == {
        "test:binary_classification_accuracy",
        "test:binary_classification_cross_entropy",
        "test:binary_f_beta",
    }
    assert metrics["test:binary_classification_accuracy"] >= 0.95

    predictor = fm.deploy(
        initial_instance_count=1,
        instance_type="ml.m5.large",
        endpoint_name="fm-sdk",
        serializer=JSONSerializer(),
        deserializer=JSONDeserializer(),
    )
    try:
        dense = xt[:20].toarray()
        answer = predictor.predict({"instances": [{"features": row.tolist()} for row in dense]})
        predictions = answer["predictions"]
        assert len(predictions) == 20
        assert set(predictions[0]) == {"score", "predicted_label"}
        labels = [p["predicted_label"] for p in predictions]
        assert all(isinstance(v, int) for v in labels)
        assert (np.array(labels) == yt[:20]).mean() >= 0.9
        assert all((p["score"] >= 0.5) == bool(p["predicted_label"]) for p in predictions)

        # The SDK's own predictor: RecordIO-protobuf both ways, parsed by its protobuf reader.
        from sagemaker.amazon.factorization_machines import FactorizationMachinesPredictor

        records = FactorizationMachinesPredictor("fm-sdk", sagemaker_session=session).predict(
            dense.astype("float32")
        )
        assert [r.label["score"].float32_tensor.values[0] for r in records] == pytest.approx(
            [p["score"] for p in predictions], abs=1e-5
        )

        runtime = client("sagemaker-runtime")
        sparse = {
            "instances": [
                {
                    "data": {
                        "features": {
                            "keys": xt[i].indices.tolist(),
                            "shape": [DIM],
                            "values": xt[i].data.tolist(),
                        }
                    }
                }
                for i in range(20)
            ]
        }
        body = runtime.invoke_endpoint(
            EndpointName="fm-sdk", ContentType="application/json", Body=json.dumps(sparse)
        )["Body"].read()
        assert json.loads(body)["predictions"] == predictions

        buffer = io.BytesIO()
        write_spmatrix_to_sparse_tensor(buffer, xt[:20])
        response = runtime.invoke_endpoint(
            EndpointName="fm-sdk",
            ContentType="application/x-recordio-protobuf",
            Accept="application/x-recordio-protobuf",
            Body=buffer.getvalue(),
        )
        assert response["ContentType"] == "application/x-recordio-protobuf"
        records = recordio.read_records(response["Body"].read())
        scores = [float(r.label["score"].values[0]) for r in records]
        assert np.allclose(scores, [p["score"] for p in predictions], atol=1e-5)
        assert [int(r.label["predicted_label"].values[0]) for r in records] == labels

        with pytest.raises(ClientError) as refused:
            runtime.invoke_endpoint(
                EndpointName="fm-sdk",
                ContentType="application/json",
                Body=b'{"instances": [{"features": [1, 0]}]}',
            )
        assert refused.value.response["OriginalStatusCode"] == 400
        assert "feature_dim 50" in refused.value.response["Error"]["Message"]
        with pytest.raises(ClientError) as csv:
            runtime.invoke_endpoint(EndpointName="fm-sdk", ContentType="text/csv", Body=b"1,0")
        assert csv.value.response["OriginalStatusCode"] == 415
    finally:
        predictor.delete_endpoint()

    # Batch transform with the same image: one RecordIO-protobuf object, one request.
    s3 = client("s3")
    s3.put_object(Bucket=BUCKET, Key="fm/batch/part-0", Body=buffer.getvalue())
    transformer = fm.transformer(
        instance_count=1,
        instance_type="ml.m5.large",
        output_path=f"s3://{BUCKET}/fm/batch-out/",
        accept="application/json",
    )
    transformer.transform(
        f"s3://{BUCKET}/fm/batch/",
        content_type="application/x-recordio-protobuf",
        job_name="fm-sdk-transform",
        wait=True,
        logs=False,
    )
    out = s3.get_object(Bucket=BUCKET, Key="fm/batch-out/part-0.out")["Body"].read()
    assert json.loads(out)["predictions"] == predictions


@pytest.mark.parametrize(
    ("hyperparameters", "content_type", "message"),
    [
        (
            {"num_factors": "4", "predictor_type": "binary_classifier"},
            None,
            "feature_dim: required",
        ),
        (
            {"feature_dim": "5", "num_factors": "4", "predictor_type": "classifier"},
            None,
            "predictor_type: value 'classifier' is not supported",
        ),
        (
            {"feature_dim": "5", "num_factors": "4", "predictor_type": "regressor", "depth": "2"},
            None,
            "depth: value '2': not a hyperparameter",
        ),
        (
            {"feature_dim": "5", "num_factors": "4", "predictor_type": "regressor"},
            "text/csv",
            "trains on application/x-recordio-protobuf",
        ),
    ],
    ids=["missing-feature-dim", "bad-predictor-type", "unknown", "csv-channel"],
)
def test_bad_job_is_refused_with_the_field_named(
    server: LocalServer,
    client: Callable[..., Any],
    hyperparameters: dict[str, str],
    content_type: str | None,
    message: str,
) -> None:
    import sagemaker

    channel: dict[str, Any] = {
        "ChannelName": "train",
        "DataSource": {"S3DataSource": {"S3DataType": "S3Prefix", "S3Uri": f"s3://{BUCKET}/x/"}},
    }
    if content_type:
        channel["ContentType"] = content_type
    with pytest.raises(ClientError) as refused:
        client("sagemaker").create_training_job(
            TrainingJobName="fm-bad",
            AlgorithmSpecification={
                "TrainingImage": sagemaker.image_uris.retrieve("factorization-machines", REGION),
                "TrainingInputMode": "File",
            },
            RoleArn=ROLE,
            HyperParameters=hyperparameters,
            InputDataConfig=[channel],
            OutputDataConfig={"S3OutputPath": f"s3://{BUCKET}/out/"},
            ResourceConfig={"InstanceCount": 1, "InstanceType": "ml.m5.large", "VolumeSizeInGB": 5},
            StoppingCondition={"MaxRuntimeInSeconds": 600},
        )
    assert message in refused.value.response["Error"]["Message"]
