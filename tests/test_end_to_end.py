"""The Lambda-featurised predictive-maintenance workflow on the local runtime, through the CLI.

(``--featurizer lambda``; the default, the inference pipeline, is ``test_end_to_end_pipeline.py``.)

Generated AI4I data (5,000 rows), real Lambdas in worker processes, real XGBoost training,
batch transform and a real endpoint; then the failure paths: a threshold no model reaches,
and raw data the prepare Lambda refuses.
"""

from __future__ import annotations

import contextlib
import io
import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from localaws.runtime import Runtime
from workflows import cli
from workflows import predictive_maintenance as pm
from workflows import settings as settings_module
from workflows.errors import ExitCode
from workflows.target import ExecutionView, view_of

# One module fixture runs the workflow; keep the module on one xdist worker (--dist loadgroup).
pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("end-to-end")]

ROWS = "5000"
HAPPY_RUN = "e2e-happy"
LAMBDA = ("--featurizer", "lambda")
SUCCESS_PATH = [
    pm.PREPARE, pm.TRAIN, pm.CREATE_MODEL, pm.TRANSFORM, pm.EVALUATE, pm.CHECK_METRIC,
    pm.ENDPOINT_CONFIG, pm.ENDPOINT_EXISTS, pm.CREATE_ENDPOINT, pm.DESCRIBE_ENDPOINT,
    pm.ENDPOINT_READY, pm.PREDICT, pm.DONE,
]  # fmt: skip
# What waiting for the endpoint adds, as many times as it takes (one state visit each).
ENDPOINT_POLL = [pm.WAIT_FOR_ENDPOINT, pm.DESCRIBE_ENDPOINT, pm.ENDPOINT_READY]


def without_polls(names: list[str]) -> list[str]:
    out: list[str] = []
    for name in names:
        out.append(name)
        if out[-len(ENDPOINT_POLL) :] == ENDPOINT_POLL:
            del out[-len(ENDPOINT_POLL) :]
    return out


@pytest.fixture(scope="module")
def settings() -> settings_module.Settings:
    with pytest.MonkeyPatch.context() as mp:
        mp.delenv(settings_module.ENV_CONFIG, raising=False)
        return settings_module.load(overrides={"featurizer.mode": LAMBDA[1]})


@pytest.fixture(scope="module")
def state_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("e2e") / "state"


def run_cli(*argv: str) -> tuple[int, str]:
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        code = cli.main(list(argv))
    return code, out.getvalue()


@pytest.fixture(scope="module")
def happy(state_dir: Path) -> tuple[int, str]:
    """`python -m workflows run` on generated data: exit code and what it printed."""
    return run_cli(
        "run", *LAMBDA, "--rows", ROWS, "--seed", "7", "--state-dir", str(state_dir),
        "--run-id", HAPPY_RUN,
    )  # fmt: skip


@contextlib.contextmanager
def runtime(state_dir: Path) -> Iterator[Runtime]:
    with Runtime(state_dir) as rt:
        yield rt


def execution(rt: Runtime, settings: settings_module.Settings, run_id: str) -> ExecutionView:
    return view_of(rt.stepfunctions, rt.arn("states", f"execution:{settings.name}:{run_id}"))


def wait_in_service(rt: Runtime, name: str, timeout: float = 60) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        desc = rt.sagemaker.describe_endpoint(EndpointName=name)
        if desc["EndpointStatus"] == "InService" or time.monotonic() > deadline:
            return desc
        time.sleep(0.2)


def test_run_succeeds_through_every_state_and_prints_the_summary(
    happy: tuple[int, str], state_dir: Path, settings: settings_module.Settings
) -> None:
    code, printed = happy
    assert code == ExitCode.OK, printed
    with runtime(state_dir) as rt:
        view = execution(rt, settings, HAPPY_RUN)
    assert view.status == "SUCCEEDED"
    assert without_polls([s.name for s in view.states]) == SUCCESS_PATH
    assert {s.status for s in view.states} == {"succeeded"}
    for text in ("SUCCEEDED", "metrics: roc_auc", "model artifact: s3://", "endpoint: predictive-maintenance",
                 "sample prediction:"):  # fmt: skip
        assert text in printed


def test_model_has_test_roc_auc_above_0_9(happy: tuple[int, str], state_dir: Path,
                                          settings: settings_module.Settings) -> None:  # fmt: skip
    with runtime(state_dir) as rt:
        view = execution(rt, settings, HAPPY_RUN)
        metrics = view.output["evaluate"]["Payload"]
        assert metrics["roc_auc"] > 0.9
        stored = json.loads(rt.storage.read(metrics["evaluation_uri"]))
    assert stored["roc_auc"] == metrics["roc_auc"]
    artifact = view.output["train"]["ModelArtifacts"]["S3ModelArtifacts"]
    assert artifact.endswith(f"{settings.name}-train-{HAPPY_RUN}/output/model.tar.gz")


def test_endpoint_answers(
    happy: tuple[int, str], state_dir: Path, settings: settings_module.Settings
) -> None:
    with runtime(state_dir) as rt:
        view = execution(rt, settings, HAPPY_RUN)
        desc = wait_in_service(rt, settings.endpoint.name)
        assert desc["EndpointStatus"] == "InService"
        assert desc["EndpointConfigName"] == view.output["EndpointConfigName"]
        record = view.output["predict"]["Payload"]["predictions"][0]["features"]
        response = rt.sagemaker_runtime.invoke_endpoint(
            EndpointName=settings.endpoint.name,
            ContentType="text/csv",
            Body=",".join(str(v) for v in record).encode(),
        )
        body = response["Body"]
        score = float((body.read() if hasattr(body, "read") else body).decode().strip())
    assert 0.0 <= score <= 1.0


def test_cli_invoke_sends_a_record_to_the_endpoint(happy: tuple[int, str], state_dir: Path) -> None:
    code, printed = run_cli(
        "invoke", "--state-dir", str(state_dir), "301.8,311.1,1298,57,120,1,0,0"
    )
    assert code == ExitCode.OK
    assert 0.0 <= float(printed.strip()) <= 1.0


def test_predictions_table_holds_the_sample_predictions(
    happy: tuple[int, str], state_dir: Path, settings: settings_module.Settings
) -> None:
    with runtime(state_dir) as rt:
        view = execution(rt, settings, HAPPY_RUN)
        returned = view.output["predict"]["Payload"]["predictions"]
        assert len(returned) == settings.prediction.sample_records
        items = rt.backend("dynamodb").scan(TableName=settings.prediction.table)["Items"]
    stored = {
        i["prediction_id"]["S"]: i
        for i in items
        if i["model_name"]["S"] == view.output["ModelName"]
    }
    assert set(stored) == {p["prediction_id"] for p in returned}
    for p in returned:
        item = stored[p["prediction_id"]]
        assert item["endpoint_name"]["S"] == settings.endpoint.name
        assert float(item["score"]["N"]) == pytest.approx(p["score"])
        assert json.loads(item["features"]["S"]) == p["features"]


def test_status_and_history_show_the_run(happy: tuple[int, str], state_dir: Path) -> None:
    code, printed = run_cli("status", "--state-dir", str(state_dir))
    assert code == ExitCode.OK
    assert HAPPY_RUN in printed
    code, printed = run_cli("history", HAPPY_RUN, "--state-dir", str(state_dir))
    assert code == ExitCode.OK
    assert pm.PREDICT in printed


def test_threshold_above_any_auc_ends_in_fail_stating_the_metric(
    happy: tuple[int, str], state_dir: Path, settings: settings_module.Settings
) -> None:
    run_id = "e2e-threshold"
    code, printed = run_cli("run", *LAMBDA, "--rows", ROWS, "--threshold", "1.01", "--state-dir", str(state_dir),
                            "--run-id", run_id)  # fmt: skip
    assert code == ExitCode.FAILED
    with runtime(state_dir) as rt:
        view = execution(rt, settings, run_id)
    assert view.status == "FAILED"
    assert view.states[-1].name == pm.MODEL_REJECTED
    assert pm.ENDPOINT_CONFIG not in [s.name for s in view.states]
    roc_auc = view.output_of(pm.EVALUATE)["evaluate"]["Payload"]["roc_auc"]
    assert view.error == pm.REJECTED_ERROR
    assert view.cause is not None
    assert view.cause.startswith(f"roc_auc = {roc_auc} on the test set is below the threshold 1.01")
    assert view.cause in printed


@pytest.mark.parametrize(
    ("body", "error"),
    [
        (b"\x00\x9f\x92\x96garbage\xff" * 100, "DataQualityError"),
        (b"UDI,Product ID,Type,Air temperature [K]\n1,M14860,M,298.1\n", "SchemaError"),
    ],
    ids=["not-text", "missing-columns"],
)
def test_corrupted_raw_file_fails_in_prepare_and_writes_nothing_prepared(
    happy: tuple[int, str], state_dir: Path, settings: settings_module.Settings, tmp_path: Path,
    body: bytes, error: str,
) -> None:  # fmt: skip
    run_id = f"e2e-corrupt-{error.lower()}"
    raw = tmp_path / "ai4i2020.csv"
    raw.write_bytes(body)
    code, _ = run_cli(
        "run", *LAMBDA, "--data", str(raw), "--state-dir", str(state_dir), "--run-id", run_id
    )
    assert code == ExitCode.FAILED
    with runtime(state_dir) as rt:
        view = execution(rt, settings, run_id)
        prepared = pm.example_input(settings, run_id)["PreparedDataUri"]
        left = rt.storage.list(prepared)
    assert view.status == "FAILED"
    assert [(s.name, s.status) for s in view.states] == [
        (pm.PREPARE, "caught"),
        (pm.RECORD_FAILURE, "succeeded"),
        (pm.WORKFLOW_FAILED, "failed"),
    ]
    assert view.error == error
    assert view.cause is not None
    assert json.loads(view.cause)["errorType"] == error
    assert left == []


def test_run_leaves_the_next_runs_input_for_the_console(
    happy: tuple[int, str], state_dir: Path, settings: settings_module.Settings
) -> None:
    example = json.loads((state_dir / "examples" / f"{settings.name}.json").read_text())
    assert example["EndpointName"] == settings.endpoint.name
    # The raw data of the latest run (other tests here run too), so the console can start it...
    with runtime(state_dir) as rt:
        assert rt.storage.list(example["RawDataUri"])
    # ...with job and model names no run has used.
    del example["RawDataUri"]
    assert HAPPY_RUN not in json.dumps(example)
    assert "e2e-" not in json.dumps(example)
