"""The built-in XGBoost algorithm: real small data, real training, the container's contract."""

from __future__ import annotations

import io
import tarfile

import pytest
import xgboost as xgb
from sagemaker_support import channel, classification_csv, extract, training_request, wait_for

from localaws.errors import ServiceError

HPS = {
    "num_round": "20",
    "objective": "binary:logistic",
    "eval_metric": "auc,logloss",
    "max_depth": "3",
    "eta": "0.3",
}


def run(rt, request):
    rt.sagemaker.create_training_job(**request)
    return wait_for(
        lambda: rt.sagemaker.describe_training_job(TrainingJobName=request["TrainingJobName"]),
        "TrainingJobStatus",
        ("Completed", "Failed", "Stopped"),
    )


def test_trains_and_writes_a_model_the_container_loads(data, tmp_path):
    job = run(data, training_request("xgb-ok", HPS))
    assert job["TrainingJobStatus"] == "Completed", job.get("FailureReason")
    artifact = job["ModelArtifacts"]["S3ModelArtifacts"]
    assert artifact == "s3://models/out/xgb-ok/output/model.tar.gz"
    files = extract(data.storage.read(artifact))
    assert list(files) == ["xgboost-model"]
    (tmp_path / "xgboost-model").write_bytes(files["xgboost-model"])
    booster = xgb.Booster()
    booster.load_model(str(tmp_path / "xgboost-model"))
    assert booster.num_boosted_rounds() == 20
    names = {m["MetricName"] for m in job["FinalMetricDataList"]}
    assert names == {"train:auc", "train:logloss", "validation:auc", "validation:logloss"}
    auc = next(
        m["Value"] for m in job["FinalMetricDataList"] if m["MetricName"] == "validation:auc"
    )
    assert auc > 0.9
    assert [t["Status"] for t in job["SecondaryStatusTransitions"]] == [
        "Starting",
        "Downloading",
        "Training",
        "Uploading",
        "Completed",
    ]
    assert job["TrainingStartTime"].tzinfo is not None
    assert job["TrainingEndTime"] >= job["TrainingStartTime"]
    assert all(t["EndTime"] >= t["StartTime"] for t in job["SecondaryStatusTransitions"])
    log = (data.state_dir / "logs" / "training" / "xgb-ok.log").read_text()
    assert "[0]#011train-auc:" in log and "validation-logloss:" in log


def test_early_stopping_and_default_metric(data):
    hps = {
        "num_round": "500",
        "objective": "binary:logistic",
        "early_stopping_rounds": "3",
        "eta": "0.5",
    }
    job = run(data, training_request("xgb-early", hps))
    assert job["TrainingJobStatus"] == "Completed", job.get("FailureReason")
    assert {m["MetricName"] for m in job["FinalMetricDataList"]} == {
        "train:logloss",
        "validation:logloss",
    }


def test_libsvm_channel(rt):
    lines = [f"{i % 2} 0:{i % 2 + 0.1 * (i % 7)} 2:{i % 5}" for i in range(200)]
    rt.storage.write("s3://data/svm/train.libsvm", "\n".join(lines).encode())
    request = training_request(
        "xgb-libsvm",
        {"num_round": "5", "objective": "binary:logistic"},
        channels=[channel("train", "s3://data/svm", "text/libsvm")],
    )
    job = run(rt, request)
    assert job["TrainingJobStatus"] == "Completed", job.get("FailureReason")


def test_parquet_channel(rt):
    import pandas as pd
    import pyarrow as pa
    import pyarrow.parquet as pq

    df = pd.read_csv(io.BytesIO(classification_csv(200)), header=None)
    df.columns = [f"c{i}" for i in range(df.shape[1])]
    buffer = io.BytesIO()
    pq.write_table(pa.Table.from_pandas(df), buffer)
    rt.storage.write("s3://data/pq/train.parquet", buffer.getvalue())
    request = training_request(
        "xgb-parquet",
        {"num_round": "5", "objective": "binary:logistic"},
        channels=[channel("train", "s3://data/pq/", "application/x-parquet")],
    )
    assert run(rt, request)["TrainingJobStatus"] == "Completed"


@pytest.mark.parametrize(
    ("hps", "reason"),
    [
        pytest.param(
            {"objective": "binary:logistic"},
            "ClientError: Hyperparameter num_round: required by the built-in XGBoost algorithm; "
            "add it to the estimator's hyperparameters",
            id="num_round-missing",
        ),
        pytest.param(
            {"num_round": "ten"},
            "ClientError: Hyperparameter num_round: value 'ten' is not an integer",
            id="num_round-malformed",
        ),
        pytest.param(
            {"num_round": "5", "eta": "1.5"},
            "ClientError: Hyperparameter eta: value '1.5' is out of range; it must be in [0, 1]",
            id="eta-range",
        ),
        pytest.param(
            {"num_round": "5", "objective": "binary:logistc"},
            "ClientError: Hyperparameter objective: value 'binary:logistc' is not supported; choose one of:",
            id="objective-unknown",
        ),
        pytest.param(
            {"num_round": "5", "objective": "multi:softmax"},
            "ClientError: Hyperparameter num_class: required when objective is 'multi:softmax'",
            id="num_class-missing",
        ),
        pytest.param(
            {"num_round": "5", "objective": "reg:squarederror", "eval_metric": "auc"},
            "ClientError: Hyperparameter eval_metric: metric 'auc' needs a classification or ranking objective",
            id="auc-regression",
        ),
        pytest.param(
            {"num_round": "5", "eval_metric": "rmse,bogus"},
            "ClientError: Hyperparameter eval_metric: value 'bogus' is not a metric",
            id="eval_metric-unknown",
        ),
        pytest.param(
            {"num_round": "5", "max_dept": "3"},
            "ClientError: Hyperparameter max_dept: value '3': not a hyperparameter of the built-in XGBoost algorithm",
            id="unknown",
        ),
        pytest.param(
            {"num_round": "5", "scale_pos_weight": "0"},
            "ClientError: Hyperparameter scale_pos_weight: value '0' is out of range",
            id="scale_pos_weight",
        ),
    ],
)
def test_bad_hyperparameter_is_refused_with_its_name_value_and_fix(data, hps, reason):
    with pytest.raises(ServiceError) as info:
        data.sagemaker.create_training_job(**training_request("xgb-bad", hps))
    assert info.value.code == "ValidationException"
    assert f"ClientError: {info.value.message}".startswith(reason)
    with pytest.raises(ServiceError):
        data.sagemaker.describe_training_job(TrainingJobName="xgb-bad")


def test_early_stopping_needs_validation_channel(data):
    request = training_request(
        "xgb-es",
        {"num_round": "5", "early_stopping_rounds": "2"},
        channels=[channel("train", "s3://data/train/")],
    )
    with pytest.raises(ServiceError, match="early_stopping_rounds: needs a validation channel"):
        data.sagemaker.create_training_job(**request)


def test_bad_data_fails_the_job_and_leaves_no_artifact(rt):
    rt.storage.write("s3://data/bad/train.csv", b"1,2,3\n0,abc,4\n")
    job = run(
        rt,
        training_request(
            "xgb-baddata", {"num_round": "3"}, channels=[channel("train", "s3://data/bad/")]
        ),
    )
    assert job["TrainingJobStatus"] == "Failed"
    assert job["FailureReason"].startswith(
        "ClientError: channel 'train': column 1 of the csv data is not numeric"
    )
    assert job["SecondaryStatus"] == "Failed"
    assert "ModelArtifacts" not in job
    assert not rt.storage.exists("s3://models/out/xgb-baddata/output/model.tar.gz")


def test_empty_channel_fails(rt):
    job = run(
        rt,
        training_request(
            "xgb-empty", {"num_round": "3"}, channels=[channel("train", "s3://data/none/")]
        ),
    )
    assert job["TrainingJobStatus"] == "Failed"
    assert "channel 'train': no objects under s3://data/none/" in job["FailureReason"]


def big_job(rt, name, seconds):
    rt.storage.write("s3://data/big/train.csv", classification_csv(20000, features=10))
    hps = {"num_round": "100000", "max_depth": "10", "eta": "0.01"}
    request = training_request(name, hps, channels=[channel("train", "s3://data/big/")])
    request["StoppingCondition"] = {"MaxRuntimeInSeconds": seconds}
    return request


def test_max_runtime_stops_the_job(rt):
    job = run(rt, big_job(rt, "xgb-timeout", 3))
    assert job["TrainingJobStatus"] == "Stopped"
    assert job["SecondaryStatus"] == "MaxRuntimeExceeded"
    assert (job["TrainingEndTime"] - job["TrainingStartTime"]).total_seconds() < 15
    assert not rt.storage.exists("s3://models/out/xgb-timeout/output/model.tar.gz")


def test_stop_training_job(rt):
    rt.sagemaker.create_training_job(**big_job(rt, "xgb-stop", 600))
    wait_for(
        lambda: rt.sagemaker.describe_training_job(TrainingJobName="xgb-stop"),
        "SecondaryStatus",
        ("Training",),
    )
    rt.sagemaker.stop_training_job(TrainingJobName="xgb-stop")
    assert rt.sagemaker.describe_training_job(TrainingJobName="xgb-stop")["TrainingJobStatus"] in (
        "Stopping",
        "Stopped",
    )
    job = wait_for(
        lambda: rt.sagemaker.describe_training_job(TrainingJobName="xgb-stop"),
        "TrainingJobStatus",
        ("Stopped",),
        20,
    )
    assert [t["Status"] for t in job["SecondaryStatusTransitions"]][-2:] == ["Stopping", "Stopped"]
    with pytest.raises(ServiceError, match="is in status Stopped"):
        rt.sagemaker.stop_training_job(TrainingJobName="xgb-stop")


def test_model_tar_is_packed_like_the_container(data):
    job = run(data, training_request("xgb-tar", {"num_round": "2"}))
    with tarfile.open(
        fileobj=io.BytesIO(data.storage.read(job["ModelArtifacts"]["S3ModelArtifacts"]))
    ) as tar:
        assert tar.getnames() == ["xgboost-model"]
