"""The many-models use case end to end on the local runtime, through the CLI.

Three generated dimensions x 2,000 rows: the upload of each training file starts its
training workflow (S3 -> EventBridge rule -> StartExecution), each ends with an approved
model package and an endpoint InService; the inference files are split into SQS messages,
scored by the consumer Lambda (event source mapping) and written to DynamoDB, one item per
row.  Then a second upload to one dimension: a second version, checked against the first's
data-quality baseline, deployed by UpdateEndpoint while requests keep flowing, none failing,
the previous config and model retired.
"""

from __future__ import annotations

import contextlib
import io
import json
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from localaws.errors import ServiceError
from workflows import churn_data, cli
from workflows import many_models as mm
from workflows import many_models_run as mmr
from workflows.many_models_settings import ManyModels, load
from workflows.target import LocalTarget, view_of

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("many-models")]

DIMENSIONS = 3
ROWS = 2000


@pytest.fixture(scope="module")
def settings() -> ManyModels:
    with pytest.MonkeyPatch.context() as mp:
        mp.delenv("WORKFLOWS_CONFIG", raising=False)
        return load()


@pytest.fixture(scope="module")
def state_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("many-models") / "state"


@pytest.fixture(scope="module")
def first_run(state_dir: Path) -> tuple[int, dict[str, Any]]:
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        code = cli.main(
            [
                "run",
                "many-models",
                "--dimensions",
                str(DIMENSIONS),
                "--rows",
                str(ROWS),
                "--json",
                "--timeout",
                "1200",
                "--state-dir",
                str(state_dir),
            ]
        )
    return code, json.loads(out.getvalue())


@pytest.fixture
def target(state_dir: Path, first_run: Any) -> Iterator[LocalTarget]:
    with LocalTarget(state_dir) as t:
        yield t


def test_every_dimension_is_trained_registered_deployed_and_scored(
    first_run: tuple[int, dict[str, Any]], target: LocalTarget, settings: ManyModels
) -> None:
    code, summary = first_run
    assert code == 0, summary
    assert summary["succeeded"] is True
    assert sorted(summary["dimensions"]) == churn_data.dimension_names(DIMENSIONS)
    c = mmr.clients(target)
    sm, ddb, s3 = c("sagemaker"), c("dynamodb"), c("s3")
    items = ddb.scan(TableName=settings.inference.table)["Items"]
    for name, result in summary["dimensions"].items():
        assert result["status"] == "SUCCEEDED"
        assert result["auc"] > 0.7 and 0.5 < result["accuracy"] <= 1.0
        endpoint = sm.describe_endpoint(EndpointName=settings.endpoint_name(name))
        assert endpoint["EndpointStatus"] == "InService"
        packages = sm.list_model_packages(ModelPackageGroupName=settings.group_name(name))
        summaries = packages["ModelPackageSummaryList"]
        assert [p["ModelApprovalStatus"] for p in summaries] == ["Approved"]
        package = sm.describe_model_package(ModelPackageName=summaries[0]["ModelPackageArn"])
        assert package["ModelMetrics"]["ModelQuality"]["Statistics"]["S3Uri"].endswith(
            "model-quality/statistics.json"
        )
        assert "ModelDataQuality" in package["DriftCheckBaselines"]
        # One item per inference row, each with its ground truth and a probability.
        mine = [i for i in items if i["dimension"]["S"] == name]
        assert len(mine) == result["rows_sent"] == ROWS // 10
        assert len({i["id"]["S"] for i in mine}) == len(mine)
        assert all(0.0 <= float(i["probability"]["N"]) <= 1.0 for i in mine)
        assert {i["ground_truth"]["N"] for i in mine} == {"0", "1"}
        assert {"prediction", "features", "created_at"} <= set(mine[0])
    # The inference files moved to processed/.
    listed = s3.list_objects_v2(Bucket=settings.data.bucket, Prefix=settings.data.inference_prefix)
    assert listed.get("KeyCount", 0) == 0
    processed = s3.list_objects_v2(
        Bucket=settings.data.bucket, Prefix=settings.data.processed_prefix
    )
    assert processed["KeyCount"] == DIMENSIONS
    assert summary["dead_letters"] == 0


def _training_execution(target: LocalTarget, settings: ManyModels, dimension: str) -> Any:
    arn = target.arn("states", f"stateMachine:{settings.training_machine}")
    for ex in target.stepfunctions.list_executions(stateMachineArn=arn)["executions"]:
        view = view_of(target.stepfunctions, ex["executionArn"])
        if mmr.execution_dimension(settings, view.input) == dimension:
            yield view


def test_a_second_upload_adds_a_version_and_updates_the_endpoint_without_a_failed_request(
    first_run: Any, target: LocalTarget, settings: ManyModels
) -> None:
    dimension = churn_data.dimension_names(DIMENSIONS)[0]
    endpoint = settings.endpoint_name(dimension)
    c = mmr.clients(target)
    sm, s3 = c("sagemaker"), c("s3")
    before = sm.describe_endpoint(EndpointName=endpoint)
    old_config = before["EndpointConfigName"]
    old_model = sm.describe_endpoint_config(EndpointConfigName=old_config)["ProductionVariants"][0][
        "ModelName"
    ]
    features = _one_feature_row(target, settings, dimension)

    stop = threading.Event()
    ok: list[float] = []
    failed: list[str] = []

    def keep_invoking() -> None:
        while not stop.is_set():
            try:
                reply = target.sagemaker_runtime.invoke_endpoint(
                    EndpointName=endpoint, ContentType="text/csv", Body=features.encode()
                )
                body = reply["Body"]
                float((body.read() if hasattr(body, "read") else body).decode().strip())
                ok.append(1.0)
            except Exception as e:  # every failure is recorded and fails the test
                failed.append(f"{type(e).__name__}: {e}")

    invoker = threading.Thread(target=keep_invoking, daemon=True)
    invoker.start()
    started = datetime.now(UTC)
    fresh = churn_data.generate(dimension, ROWS, seed=99)
    s3.put_object(
        Bucket=settings.data.bucket,
        Key=f"{settings.data.training_prefix}{dimension}/{dimension}-2.csv",
        Body=fresh.to_csv(index=False).encode(),
    )
    deployed = mmr.Deployed(
        training_arn=target.arn("states", f"stateMachine:{settings.training_machine}"),
        fanout_arn="",
        queue_url="",
        dead_letter_url="",
    )
    [result] = mmr.wait_for_training(target, settings, deployed, [dimension], started, timeout=1200)
    stop.set()
    invoker.join(timeout=30)
    assert result.status == "SUCCEEDED", result.error
    assert failed == [] and len(ok) > 0

    after = sm.describe_endpoint(EndpointName=endpoint)
    assert after["EndpointStatus"] == "InService"
    assert after["EndpointConfigName"] != old_config
    packages = sm.list_model_packages(ModelPackageGroupName=settings.group_name(dimension))
    statuses = [p["ModelApprovalStatus"] for p in packages["ModelPackageSummaryList"]]
    assert statuses == ["Approved", "Approved"]
    with pytest.raises(ServiceError):
        target.sagemaker.describe_endpoint_config(EndpointConfigName=old_config)
    with pytest.raises(ServiceError):
        target.sagemaker.describe_model(ModelName=old_model)
    # The first run registered the data-quality baseline; the second was checked against it.
    runs = sorted(_training_execution(target, settings, dimension), key=lambda v: v.started)
    visited = [{v.name for v in view.states} for view in runs]
    assert mm.CHECK_DATA_QUALITY not in visited[0] and mm.CHECK_DATA_QUALITY in visited[-1]
    assert mm.UPDATE_ENDPOINT in visited[-1] and mm.CREATE_ENDPOINT in visited[0]


def _one_feature_row(target: LocalTarget, settings: ManyModels, dimension: str) -> str:
    """The features of one scored row (from the table), as the endpoint takes them."""
    ddb = mmr.clients(target)("dynamodb")
    items = ddb.scan(TableName=settings.inference.table)["Items"]
    return next(i["features"]["S"] for i in items if i["dimension"]["S"] == dimension)


def test_tuning_when_configured_on_the_samples_folder_shape(
    tmp_path: Path, settings: ManyModels
) -> None:
    """``--data DIR`` shaped as the AWS sample's dataset/ (an inference header with stray
    quotes, a dimension named like a region), trained by a tuning job when configured."""
    data = tmp_path / "dataset"
    churn_data.write_tree(data, ["Region-A"], 400, seed=4)
    path = data / "inference-dataset" / "Region-A" / "Region-A.csv"
    header, _, rest = path.read_text().partition("\n")
    path.write_text(",".join(f' "{name}"' for name in header.split(",")) + "\n" + rest)
    config = tmp_path / "config.yaml"
    config.write_text("many_models:\n  tuning:\n    enabled: true\n    max_jobs: 2\n")
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        code = cli.main(
            ["run", "many-models", "--data", str(data), "--json", "--config", str(config),
             "--state-dir", str(tmp_path / "state")]
        )  # fmt: skip
    summary = json.loads(out.getvalue())
    assert code == 0, summary
    result = summary["dimensions"]["Region-A"]
    assert result["rows_scored"] == result["rows_sent"] == 40
    with LocalTarget(tmp_path / "state") as target:
        [view] = _training_execution(target, settings, "Region-A")
        visited = {v.name for v in view.states}
        assert {mm.TUNE, mm.DESCRIBE_BEST} <= visited and mm.TRAIN not in visited
        tuning = target.sagemaker.list_hyper_parameter_tuning_jobs()
        assert len(tuning["HyperParameterTuningJobSummaries"]) == 1


def test_rows_of_a_dimension_without_an_endpoint_go_to_the_dead_letter_queue(
    tmp_path: Path,
) -> None:
    """The score Lambda reports each failed row; SQS moves it to the DLQ after 2 receives,
    and the uploaded file still moves to processed/."""
    config = tmp_path / "config.yaml"
    config.write_text("many_models:\n  inference:\n    visibility_timeout_seconds: 1\n")
    settings = load(str(config))
    data = tmp_path / "data"
    [dim] = churn_data.write_tree(data, ["nowhere"], 100, seed=1)
    with LocalTarget(tmp_path / "state") as target:
        deployed = mmr.deploy(target, settings)
        c = mmr.clients(target)
        sent = mmr.send_inference(c, settings, [dim])
        sqs, s3 = c("sqs"), c("s3")
        deadline = time.monotonic() + 300
        while True:
            attrs = sqs.get_queue_attributes(
                QueueUrl=deployed.dead_letter_url, AttributeNames=["ApproximateNumberOfMessages"]
            )["Attributes"]
            dead = int(attrs["ApproximateNumberOfMessages"])
            if dead >= sent["nowhere"] or time.monotonic() > deadline:
                break
            time.sleep(0.5)
        assert dead == sent["nowhere"] == 10
        messages = sqs.receive_message(
            QueueUrl=deployed.dead_letter_url,
            MaxNumberOfMessages=1,
            AttributeNames=["ApproximateReceiveCount"],
        )["Messages"]
        assert json.loads(messages[0]["Body"])["dimension"] == "nowhere"
        moved = s3.list_objects_v2(
            Bucket=settings.data.bucket, Prefix=settings.data.processed_prefix
        )
        assert [o["Key"] for o in moved["Contents"]] == ["processed/nowhere/nowhere.csv"]
        assert c("dynamodb").scan(TableName=settings.inference.table)["Count"] == 0
