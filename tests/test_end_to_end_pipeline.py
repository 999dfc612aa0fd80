"""The inference-pipeline variant of predictive maintenance (the default), end to end.

``python -m workflows run predictive-maintenance --json``, no featurizer named, on generated
AI4I data given as a file the way the real one is published (a UTF-8 byte-order
mark, units in brackets in the header): a real scikit-learn processing job, XGBoost
training, a two-container model for batch transform and the endpoint, the baseline and the
monitoring schedule; then the endpoint with raw readings against the featurizer and the
booster applied in this process, and the drift demo.
"""

from __future__ import annotations

import codecs
import contextlib
import io
import json
import re
import tarfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import joblib
import numpy as np
import pandas as pd
import pytest
import xgboost as xgb

from localaws.runtime import Runtime
from workflows import ai4i_data, cli
from workflows import predictive_maintenance as pm
from workflows import predictive_maintenance_pipeline as pipeline
from workflows import settings as settings_module
from workflows.errors import ExitCode
from workflows.jobs import featurizer

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("end-to-end-pipeline")]

RUN = "e2e-pipeline"
EXAMPLE = "L,298.4,308.2,1582,70.7,216"


@pytest.fixture(scope="module")
def settings() -> settings_module.Settings:
    with pytest.MonkeyPatch.context() as mp:
        mp.delenv(settings_module.ENV_CONFIG, raising=False)
        return settings_module.load()


@pytest.fixture(scope="module")
def state_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("e2e-pipeline") / "state"


def run_cli(*argv: str) -> tuple[int, str]:
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        code = cli.main(list(argv))
    return code, out.getvalue()


@pytest.fixture(scope="module")
def published_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """10,000 generated rows written as the UCI file is: BOM, bracketed units."""
    path = tmp_path_factory.mktemp("data") / "ai4i2020.csv"
    frame = ai4i_data.generate(10_000, 42)
    path.write_bytes(codecs.BOM_UTF8 + frame.to_csv(index=False).encode())
    return path


@pytest.fixture(scope="module")
def run(state_dir: Path, published_file: Path) -> dict[str, Any]:
    code, printed = run_cli(
        "run", "predictive-maintenance", "--json",
        "--data", str(published_file), "--state-dir", str(state_dir), "--run-id", RUN,
    )  # fmt: skip
    assert code == ExitCode.OK, printed
    result: dict[str, Any] = json.loads(printed)
    return result


@contextlib.contextmanager
def runtime(state_dir: Path) -> Iterator[Runtime]:
    with Runtime(state_dir) as rt:
        yield rt


def in_process_scores(rt: Runtime, settings: settings_module.Settings, lines: list[str],
                      tmp_path: Path) -> np.ndarray:  # fmt: skip
    """The fitted featurizer and the trained booster applied here, without any server."""
    prepared = pm.example_input(settings, RUN)["PreparedDataUri"]
    with tarfile.open(
        fileobj=io.BytesIO(rt.storage.read(prepared + pipeline.FEATURIZER_MODEL))
    ) as tar:
        tar.extractall(tmp_path / "featurizer", filter="data")
    fitted = joblib.load(tmp_path / "featurizer" / featurizer.MODEL_FILE)
    model = pm.example_input(settings, RUN)["TrainingJobName"]
    artifact = f"{settings.data.uri(settings.data.models_prefix)}{model}/output/model.tar.gz"
    with tarfile.open(fileobj=io.BytesIO(rt.storage.read(artifact))) as tar:
        tar.extractall(tmp_path / "model", filter="data")
    booster = xgb.Booster()
    booster.load_model(bytearray((tmp_path / "model" / "xgboost-model").read_bytes()))
    features = fitted.transform(featurizer.parse_readings("\n".join(lines)))
    return np.asarray(booster.predict(xgb.DMatrix(features, feature_names=booster.feature_names)))


def test_run_json_reports_the_pipeline_run(run: dict[str, Any], state_dir: Path,
                                           settings: settings_module.Settings) -> None:  # fmt: skip
    assert run["status"] == "SUCCEEDED"
    assert run["featurizer"] == "pipeline"
    assert run["metrics"]["roc_auc"] >= 0.95, run["metrics"]
    assert run["endpoint"] == settings.endpoint.name
    assert run["monitoring_schedule"] == settings.monitoring.schedule
    assert run["sample_prediction"]["features"][0] in featurizer.TYPES
    with runtime(state_dir) as rt:
        manifest = json.loads(
            rt.storage.read(pm.example_input(settings, RUN)["PreparedDataUri"] + pipeline.MANIFEST)
        )
        model = rt.sagemaker.describe_model(ModelName=run["model_name"])
        schedule = rt.sagemaker.describe_monitoring_schedule(
            MonitoringScheduleName=settings.monitoring.schedule
        )
    assert manifest["rows"] == {"train": 7000, "validation": 1500, "test": 1500}
    assert manifest["dropped_rows"] == 0
    images = [c["Image"] for c in model["Containers"]]
    assert "sagemaker-scikit-learn" in images[0] and "sagemaker-xgboost" in images[1]
    assert schedule["MonitoringScheduleConfig"]["ScheduleConfig"]["ScheduleExpression"] == (
        "cron(0 * ? * * *)"
    )


def test_endpoint_takes_raw_readings_with_the_in_process_scores(
    run: dict[str, Any], state_dir: Path, settings: settings_module.Settings, tmp_path: Path
) -> None:
    with runtime(state_dir) as rt:
        prepared = pm.example_input(settings, RUN)["PreparedDataUri"]
        lines = [
            EXAMPLE,
            *rt.storage.read(prepared + pipeline.SAMPLES_FILE).decode().splitlines()[:200],
        ]
        answer = rt.sagemaker_runtime.invoke_endpoint(
            EndpointName=settings.endpoint.name, ContentType="text/csv",
            Body="\n".join(lines).encode(),
        )["Body"]  # fmt: skip
        served = np.array([float(v) for v in answer.decode().replace("\n", ",").split(",") if v])
        expected = in_process_scores(rt, settings, lines, tmp_path)
    assert served.shape == (len(lines),)
    np.testing.assert_allclose(served, expected, rtol=0, atol=1e-6)


def test_batch_transform_scored_the_raw_test_set_with_the_same_pipeline(
    run: dict[str, Any], state_dir: Path, settings: settings_module.Settings, tmp_path: Path
) -> None:
    execution = pm.example_input(settings, RUN)
    with runtime(state_dir) as rt:
        test = rt.storage.read(execution["PreparedDataUri"] + pipeline.TEST_FILE).decode()
        out = rt.storage.read(execution["TransformOutputUri"] + "test.csv.out").decode()
        readings = [line.split(",", 1)[1] for line in test.splitlines()]
        expected = in_process_scores(rt, settings, readings, tmp_path)
    scored = pd.read_csv(io.StringIO(out), header=None, names=["label", "score"])
    assert list(scored["label"]) == [int(line.split(",", 1)[0]) for line in test.splitlines()]
    np.testing.assert_allclose(scored["score"].to_numpy(), expected, rtol=0, atol=1e-6)


def test_monitor_flags_the_drifted_sensors_and_nothing_on_normal_traffic(
    run: dict[str, Any], state_dir: Path
) -> None:
    base = ("monitor", "predictive-maintenance", "--json", "--state-dir", str(state_dir))
    code, printed = run_cli(*base)
    assert code == ExitCode.OK, printed
    normal = json.loads(printed)
    assert normal["status"] == "Completed", normal
    assert normal["violations"] == []
    code, printed = run_cli(*base, "--drift")
    assert code == ExitCode.OK, printed
    drifted = json.loads(printed)
    assert drifted["status"] == "CompletedWithViolations", drifted
    assert {v["feature"] for v in drifted["violations"]} == {
        "Air temperature", "Rotational speed", "Tool wear",
    }  # fmt: skip
    assert {v["check"] for v in drifted["violations"]} == {"baseline_drift_check"}
    assert all("exceeds threshold" in v["description"] for v in drifted["violations"])


def test_monitor_prints_the_violations_table(run: dict[str, Any], state_dir: Path) -> None:
    code, printed = run_cli("monitor", "predictive-maintenance", "--drift", "--rows", "500",
                            "--state-dir", str(state_dir))  # fmt: skip
    assert code == ExitCode.OK, printed
    assert "CompletedWithViolations" in printed
    for text in ("feature", "check", "description", "Tool wear", "baseline_drift_check"):
        assert text in printed


# -- the HTTP API at its local URL, and the technicians' page in a browser ---------------------


@pytest.fixture(scope="module")
def served(run: dict[str, Any], state_dir: Path) -> Iterator[Any]:
    """The run's state directory behind a real server (API Gateway's URLs served)."""
    from localaws.server.serve import LocalServer

    with LocalServer(state_dir) as server:
        yield server


@pytest.fixture(scope="module")
def api_url(run: dict[str, Any], served: Any) -> str:
    from workflows.http_api import ROUTE_PATH, invoke_url

    api_id = run["api_url"].split("/restapis/", 1)[1].split("/", 1)[0]
    return invoke_url(served.url, api_id, "$default") + ROUTE_PATH


def test_run_prints_the_api_url(run: dict[str, Any]) -> None:
    assert re.fullmatch(
        r"http://127\.0\.0\.1:\d+/restapis/\w+/\$default/_user_request_/predict", run["api_url"]
    ), run["api_url"]
    assert re.fullmatch(r"http://127\.0\.0\.1:\d+/web/predictive-maintenance/", run["page_url"])


def test_http_api_answers_post_options_bad_rows_and_other_methods(
    api_url: str, served: Any, settings: settings_module.Settings
) -> None:
    import httpx

    ok = httpx.post(api_url, content=EXAMPLE, headers={"Content-Type": "text/plain"}, timeout=60)
    assert ok.status_code == 200, ok.text
    body = ok.json()
    direct = served.runtime.sagemaker_runtime.invoke_endpoint(
        EndpointName=settings.endpoint.name, ContentType="text/csv", Body=EXAMPLE.encode()
    )["Body"]
    assert body["probability"] == pytest.approx(float(direct.decode()), abs=1e-6)
    assert body["label"] in ("failure likely: inspect the machine", "no failure expected")
    as_csv = httpx.post(api_url, content=EXAMPLE, headers={"Content-Type": "text/csv"}, timeout=60)
    assert as_csv.json()["probability"] == body["probability"]

    bad = httpx.post(api_url, content="L,298.4,hot,1582,70.7,216",
                     headers={"Content-Type": "text/csv"}, timeout=60)  # fmt: skip
    assert bad.status_code == 400
    assert bad.json()["message"] == "Process temperature 'hot' is not a number"

    options = httpx.options(api_url, timeout=60)
    assert options.status_code == 204
    assert options.headers["access-control-allow-methods"] == "POST,OPTIONS"
    preflight = httpx.options(api_url, timeout=60, headers={
        "Origin": "http://127.0.0.1:9", "Access-Control-Request-Method": "POST"})  # fmt: skip
    assert preflight.status_code == 204
    assert "POST" in preflight.headers["access-control-allow-methods"]

    for method in ("GET", "PUT", "DELETE"):
        other = httpx.request(method, api_url, content=EXAMPLE, timeout=60)
        assert other.status_code == 405, (method, other.text)
        assert other.headers["allow"] == "POST,OPTIONS"


CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                 "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync"]  # fmt: skip


@pytest.fixture(scope="module")
def page_url(run: dict[str, Any], served: Any) -> str:
    """The page as ``serve`` offers it, next to the console; ``run`` published it with the
    API's URL in its config.js (the URL printed names the default port: this server's differs)."""
    path = "/" + run["page_url"].split("/", 3)[3]
    assert path == "/web/predictive-maintenance/", run["page_url"]
    return f"{served.url}{path}"


def test_the_technicians_page_shows_the_failure_probability(
    page_url: str, served: Any, settings: settings_module.Settings
) -> None:
    from playwright.sync_api import expect, sync_playwright

    worn = "L,298.4,308.2,1582,70.7,216"
    direct = served.runtime.sagemaker_runtime.invoke_endpoint(
        EndpointName=settings.endpoint.name, ContentType="text/csv", Body=worn.encode()
    )["Body"]
    expected = f"{float(direct.decode()) * 100:.1f} %"
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page()
            page.goto(page_url)  # no ?api=: the served config.js names the API
            page.get_by_role("button", name="Worn tool, high torque").click()
            expect(page.locator("#probability")).to_have_text(expected, timeout=60_000)
            label = page.locator("#label").inner_text()
            assert label in ("failure likely: inspect the machine", "no failure expected")
            page.fill("#air", "298.4")
            page.select_option("#type", "H")
            page.fill("#wear", "3")
            page.get_by_role("button", name="Check the machine").click()
            expect(page.locator("#detail")).to_have_text(
                "reading H,298.4,308.2,1582,70.7,3", timeout=60_000
            )
            assert page.locator("#probability").inner_text().endswith(" %")
            page.fill("#torque", "")
            page.evaluate("document.getElementById('torque').removeAttribute('required')")
            page.get_by_role("button", name="Check the machine").click()
            expect(page.locator("#probability")).to_have_text("Reading refused", timeout=60_000)
            expect(page.locator("#label")).to_contain_text("Torque")
        finally:
            browser.close()


def test_the_run_registers_a_version_with_its_metrics_and_deploys_the_newest_approved(
    run: dict[str, Any], served: Any, settings: settings_module.Settings
) -> None:
    execution = pm.example_input(settings, RUN)
    with contextlib.nullcontext(served.runtime) as rt:
        packages = rt.sagemaker.list_model_packages(
            ModelPackageGroupName=settings.registry.group, SortBy="CreationTime",
            SortOrder="Descending",
        )["ModelPackageSummaryList"]  # fmt: skip
        package = rt.sagemaker.describe_model_package(
            ModelPackageName=packages[0]["ModelPackageArn"]
        )
        config = rt.sagemaker.describe_endpoint_config(
            EndpointConfigName=execution["EndpointConfigName"]
        )
        deployed = rt.sagemaker.describe_model(ModelName=execution["DeployModelName"])
    assert package["ModelApprovalStatus"] == "Approved"
    assert package["CustomerMetadataProperties"]["RunId"] == RUN
    assert float(package["CustomerMetadataProperties"]["roc_auc"]) == run["metrics"]["roc_auc"]
    statistics = package["ModelMetrics"]["ModelQuality"]["Statistics"]
    assert statistics["S3Uri"] == execution["EvaluationUri"] + "evaluation.json"
    assert len(package["InferenceSpecification"]["Containers"]) == 2
    assert config["ProductionVariants"][0]["ModelName"] == execution["DeployModelName"]
    assert [c["Image"] for c in deployed["Containers"]] == [
        c["Image"] for c in package["InferenceSpecification"]["Containers"]
    ]


def test_deployment_asks_the_registry_for_the_newest_approved_version(
    settings: settings_module.Settings,
) -> None:
    states = pm.definition(settings)["States"]
    assert states[pipeline.LATEST_APPROVED]["Parameters"] == {
        "ModelPackageGroupName": settings.registry.group, "ModelApprovalStatus": "Approved",
        "SortBy": "CreationTime", "SortOrder": "Descending", "MaxResults": 1,
    }  # fmt: skip
    assert states[pipeline.CREATE_DEPLOY_MODEL]["Parameters"]["PrimaryContainer"] == {
        "ModelPackageName.$": pipeline.APPROVED
    }
