"""The web console in a real browser: headless Chromium (Debian's ``chromium``) via Playwright.

A real server on a free port over a tmp state dir runs a small workflow: sleeps so states
take visible time, real XGBoost training, a model, a batch transform, an endpoint, and a
failing check that a Catch routes on.  The test starts it from the console's form, watches
the graph turn green state by state, opens the caught state's error, follows the training
log and the transform output, and sends a test record to the endpoint the workflow deployed.
Screenshots land in ``test-artifacts/console/``.
"""

from __future__ import annotations

import itertools
import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from playwright.sync_api import Browser, Locator, Page, expect, sync_playwright

from localaws.server.serve import LocalServer
from localaws.store import atomic_write

pytestmark = pytest.mark.slow

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "console"
ROLE = "arn:aws:iam::123456789012:role/console-test"
XGB_IMAGE = "683313688378.dkr.ecr.us-east-1.amazonaws.com/sagemaker-xgboost:1.7-1"
INSTANCE = "ml.m5.large"
MACHINE = "console-demo"
FAILING = "console-fails"
N_FEATURES = 4

DEMO_STATES = [
    "Prepare",
    "Train",
    "CreateModel",
    "Transform",
    "EndpointConfig",
    "Deploy",
    "Check",
    "RecordFailure",
    "Done",
]


def _task(resource: str, parameters: dict[str, Any], nxt: str, **extra: Any) -> dict[str, Any]:
    return {
        "Type": "Task",
        "Resource": f"arn:aws:states:::{resource}",
        "Parameters": parameters,
        "Next": nxt,
        **extra,
    }


def demo_definition() -> dict[str, Any]:
    """Sleep, train, model, transform, deploy, then a check that fails into a Catch."""
    channel = {
        "ChannelName": "train",
        "ContentType": "text/csv",
        "DataSource": {
            "S3DataSource": {
                "S3DataType": "S3Prefix",
                "S3Uri": "s3://data/train/",
                "S3DataDistributionType": "FullyReplicated",
            }
        },
    }
    return {
        "Comment": "The console's browser test: visible progress, real SageMaker work, a Catch.",
        "StartAt": "Prepare",
        "States": {
            "Prepare": _task(
                "local:sleep", {"Seconds": 1.5, "Rows.$": "$.Rows"}, "Train", ResultPath="$.prepare"
            ),
            "Train": _task(
                "sagemaker:createTrainingJob.sync",
                {
                    "TrainingJobName.$": "$.TrainingJobName",
                    "RoleArn": ROLE,
                    "AlgorithmSpecification": {
                        "TrainingImage": XGB_IMAGE,
                        "TrainingInputMode": "File",
                    },
                    "HyperParameters": {"objective": "binary:logistic", "num_round": "10"},
                    "InputDataConfig": [channel],
                    "OutputDataConfig": {"S3OutputPath": "s3://models/out"},
                    "ResourceConfig": {
                        "InstanceType": INSTANCE,
                        "InstanceCount": 1,
                        "VolumeSizeInGB": 1,
                    },
                    "StoppingCondition": {"MaxRuntimeInSeconds": 300},
                },
                "CreateModel",
                ResultPath="$.train",
            ),
            "CreateModel": _task(
                "sagemaker:createModel",
                {
                    "ModelName.$": "$.ModelName",
                    "ExecutionRoleArn": ROLE,
                    "PrimaryContainer": {
                        "Image": XGB_IMAGE,
                        "ModelDataUrl.$": "$.train.ModelArtifacts.S3ModelArtifacts",
                    },
                },
                "Transform",
                ResultPath="$.model",
            ),
            "Transform": _task(
                "sagemaker:createTransformJob.sync",
                {
                    "TransformJobName.$": "$.TransformJobName",
                    "ModelName.$": "$.ModelName",
                    "TransformInput": {
                        "DataSource": {
                            "S3DataSource": {"S3DataType": "S3Prefix", "S3Uri": "s3://data/test/"}
                        },
                        "ContentType": "text/csv",
                        "SplitType": "Line",
                    },
                    "TransformOutput": {"S3OutputPath": "s3://data/transform/"},
                    "TransformResources": {"InstanceType": INSTANCE, "InstanceCount": 1},
                },
                "EndpointConfig",
                ResultPath="$.transform",
            ),
            "EndpointConfig": _task(
                "sagemaker:createEndpointConfig",
                {
                    "EndpointConfigName.$": "$.EndpointConfigName",
                    "ProductionVariants": [
                        {
                            "VariantName": "AllTraffic",
                            "ModelName": "console-model",
                            "InitialInstanceCount": 1,
                            "InstanceType": INSTANCE,
                        }
                    ],
                },
                "Deploy",
                ResultPath="$.endpoint_config",
            ),
            "Deploy": _task(
                "sagemaker:createEndpoint",
                {
                    "EndpointName.$": "$.EndpointName",
                    "EndpointConfigName.$": "$.EndpointConfigName",
                },
                "Check",
                ResultPath="$.endpoint",
            ),
            "Check": _task(
                "local:fail",
                {"Error": "Check.Drift", "Cause": "feature drift 0.31 is above the limit 0.2"},
                "Done",
                Catch=[
                    {
                        "ErrorEquals": ["Check.Drift"],
                        "ResultPath": "$.failure",
                        "Next": "RecordFailure",
                    }
                ],
            ),
            "RecordFailure": _task(
                "local:sleep", {"Seconds": 1, "Failure.$": "$.failure"}, "Done", ResultPath=None
            ),
            "Done": {"Type": "Succeed"},
        },
    }


def failing_definition() -> dict[str, Any]:
    return {
        "StartAt": "Warmup",
        "States": {
            "Warmup": _task("local:sleep", {"Seconds": 1}, "Explode"),
            "Explode": {
                "Type": "Task",
                "Resource": "arn:aws:states:::local:fail",
                "Parameters": {"Error": "Data.Corrupt", "Cause": "row 17: torque is 'n/a'"},
                "End": True,
            },
        },
    }


EXAMPLE_INPUT = {
    "Rows": 400,
    "TrainingJobName": "console-train",
    "ModelName": "console-model",
    "TransformJobName": "console-transform",
    "EndpointConfigName": "console-epc",
    "EndpointName": "console-endpoint",
}


def classification_csv(rows: int, seed: int, *, label: bool = True) -> bytes:
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(rows, N_FEATURES))
    y = (x[:, 0] + 0.5 * x[:, 1] > 0).astype(int)
    table = np.column_stack([y, x]) if label else x
    return "\n".join(",".join(f"{v:.6g}" for v in row) for row in table).encode() + b"\n"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalServer]:
    with LocalServer(tmp_path_factory.mktemp("console-state")) as running:
        rt = running.runtime
        rt.storage.write("s3://data/train/train.csv", classification_csv(400, seed=1))
        rt.storage.write("s3://data/test/test.csv", classification_csv(50, seed=2, label=False))
        for name, definition in ((MACHINE, demo_definition()), (FAILING, failing_definition())):
            rt.stepfunctions.create_state_machine(
                name=name, definition=json.dumps(definition), roleArn=ROLE
            )
        atomic_write(rt.layout.example(MACHINE), json.dumps(EXAMPLE_INPUT).encode())
        yield running


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    tab = context.new_page()
    errors: list[str] = []
    tab.on("pageerror", lambda e: errors.append(str(e)))
    yield tab
    context.close()
    assert not errors, f"JavaScript errors in the console: {errors}"


def shot(page: Page, name: str) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


def graph_statuses(page: Page) -> dict[str, str]:
    return page.eval_on_selector_all(
        "#graph g.state",
        "els => Object.fromEntries(els.map(e => [e.dataset.state, e.dataset.status]))",
    )


def open_link(page: Page, link: Locator) -> str:
    """Click a console link that opens a tab, as a user does; the new tab's text."""
    with page.context.expect_page() as opened:
        link.click()
    tab = opened.value
    tab.wait_for_load_state()
    text = tab.locator("body").inner_text()
    tab.close()
    return text


def start_from_form(page: Page, server: LocalServer, machine: str) -> None:
    page.goto(server.url + "/")
    page.get_by_role("link", name=machine, exact=True).click()
    expect(page.locator("#graph svg")).to_be_visible()
    page.get_by_role("button", name="Start execution").click()
    expect(page.locator("#exec-status .badge")).to_be_visible()


def test_run_watch_inspect_and_invoke(page: Page, server: LocalServer) -> None:
    page.goto(server.url + "/")
    expect(page.get_by_role("link", name=MACHINE, exact=True)).to_be_visible()
    shot(page, "01-state-machines")

    page.get_by_role("link", name=MACHINE, exact=True).click()
    expect(page.locator("#graph g.state")).to_have_count(len(DEMO_STATES))
    expect(page.locator("#example-note")).to_have_text(
        "prefilled with the workflow's example input"
    )
    assert json.loads(page.locator("#exec-input").input_value()) == EXAMPLE_INPUT
    shot(page, "02-state-machine")

    page.locator("#exec-name").fill("run-1")
    page.get_by_role("button", name="Start execution").click()
    expect(page.locator("h1")).to_have_text("run-1")

    # Watch the graph: record every distinct colouring until the execution ends.
    seen: list[dict[str, str]] = []
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        statuses = graph_statuses(page)
        if statuses and (not seen or statuses != seen[-1]):
            seen.append(statuses)
            if len(seen) == 3:
                shot(page, "03-execution-running")
        if page.locator("#exec-status .badge").text_content() == "SUCCEEDED":
            break
        page.wait_for_timeout(150)
    expect(page.locator("#exec-status .badge")).to_have_text("SUCCEEDED")
    # The page refreshes itself: the last graph shows the end without a reload.
    expect(page.locator('#graph g.state[data-state="Done"]')).to_have_attribute(
        "data-status", "succeeded"
    )
    final = graph_statuses(page)
    assert final == {
        **dict.fromkeys(DEMO_STATES, "succeeded"),
        "Check": "caught",
    }

    # State by state: Prepare was running before anything else had run, and each state
    # turned green before the one after it did.
    assert any(s.get("Prepare") == "running" and s.get("Train") == "not_reached" for s in seen)
    # (Train, a warm-started job, may be quicker than one refresh: it must never run before
    # Prepare has succeeded.)
    assert all(s.get("Prepare") == "succeeded" for s in seen if s.get("Train") == "running")
    for earlier, later in itertools.pairwise(DEMO_STATES):
        # A state quicker than one poll may show up only in the final graph (index len(seen)).
        first_later = next(
            (i for i, s in enumerate(seen) if s.get(later) not in (None, "not_reached")),
            len(seen),
        )
        first_earlier = next(
            (i for i, s in enumerate(seen) if s.get(earlier) in ("succeeded", "caught")),
            len(seen),
        )
        assert first_earlier <= first_later, (earlier, later)

    # The caught state's error and cause, from the history.
    page.locator('#graph g.state[data-state="Check"]').click()
    panel = page.locator("#state-panel")
    expect(panel.locator("h2")).to_contain_text("Check")
    expect(panel.locator("#state-error")).to_have_text("Check.Drift")
    expect(panel).to_contain_text("feature drift 0.31 is above the limit 0.2")
    expect(panel.locator(".badge")).to_have_text("caught")
    # Input and output of a state
    page.locator('#states tr[data-state="Prepare"]').click()
    expect(panel).to_contain_text('"Rows": 400')
    expect(page.locator("#events tbody tr")).not_to_have_count(0)

    # Training job card: metrics and its log.
    training = page.locator("#res-training")
    expect(training).to_contain_text("Completed")
    expect(training).to_contain_text("train:")  # a FinalMetricDataList entry
    log_href = training.locator("#training-log").get_attribute("href")
    assert log_href == "/console/api/logs/training/console-train"
    log = open_link(page, training.locator("#training-log"))
    assert log.strip() and "__type" not in log

    # The training job's own page: hyperparameters, instance, metric curve from the log, the
    # model made from its artifact, and the execution that made it (links both ways).
    page.locator('#graph g.state[data-state="Train"]').click()
    page.locator("#state-made a").click()
    expect(page.locator("h1")).to_have_text("console-train")
    expect(page.locator("#hyperparameters")).to_contain_text("num_round")
    expect(page.locator("#res-main")).to_contain_text(f"1 x {INSTANCE}")
    expect(page.locator("#curves .curve svg polyline").first).to_be_attached(timeout=30_000)
    expect(page.locator("#made-by")).to_contain_text(f"{MACHINE} / run-1")
    shot(page, "07-training-job-page")
    page.locator("#made-by a").click()
    expect(page.locator("h1")).to_have_text("run-1")
    page.locator('#graph g.state[data-state="CreateModel"]').click()
    page.locator("#state-made a").click()
    expect(page.locator("#res-side")).to_contain_text("console-train")  # trained by
    page.locator("#res-side").get_by_role("link", name="console-train").click()
    expect(page.locator("h1")).to_have_text("console-train")
    page.locator("#made-by a").click()

    expect(page.locator("#res-model")).to_contain_text("s3://models/out/console-train/")
    transform = page.locator("#res-transform")
    expect(transform).to_contain_text("Completed")
    output = open_link(page, transform.locator("#transform-output"))
    assert "s3://data/transform/test.csv.out" in output

    # The endpoint the workflow deployed: wait for InService, send a record.
    endpoint = page.locator("#res-endpoint")
    expect(endpoint.locator(".badge")).to_have_text("InService", timeout=60_000)
    shot(page, "04-execution-succeeded")
    page.locator("#invoke-body").fill("1.2,0.4,-0.3,0.8")
    page.get_by_role("button", name="Send").click()
    expect(page.locator("#invoke-result")).not_to_have_text("sending…")
    score = float(page.locator("#invoke-result").text_content() or "nan")
    assert 0.5 < score <= 1.0  # x0 + 0.5 * x1 > 0: a positive
    page.locator("#invoke-body").fill("not,a,number")
    page.get_by_role("button", name="Send").click()
    expect(page.locator("#invoke-result")).to_have_class("errorbox")
    expect(page.locator("#invoke-result")).to_contain_text("ModelError")
    page.locator("#invoke-body").fill("-2,-1,0,0")
    page.get_by_role("button", name="Send").click()
    expect(page.locator("#invoke-result")).not_to_have_class("errorbox")
    expect(page.locator("#invoke-result")).not_to_have_text("sending…")
    assert float(page.locator("#invoke-result").text_content() or "nan") < 0.5
    page.locator("#res-endpoint").scroll_into_view_if_needed()
    shot(page, "05-endpoint-invoked")

    # The endpoints page lists it and offers the same form.
    page.get_by_role("link", name="Endpoints").click()
    page.get_by_role("link", name="console-endpoint").click()
    expect(page.locator("#res-endpoint .badge")).to_have_text("InService")
    # Its own page: the variants' model, and from there the training job (links down).
    page.get_by_role("link", name="variants, data capture, monitors, logs").click()
    expect(page.locator("#variants")).to_contain_text("console-model")
    shot(page, "08-endpoint-page")
    page.locator("#variants").get_by_role("link", name="console-model").click()
    expect(page.locator("#res-side")).to_contain_text("console-train")

    # Back on the state machine: the execution is listed with its status and duration.
    page.goto(server.url + "/")
    page.get_by_role("link", name=MACHINE, exact=True).click()
    row = page.locator("#executions tbody tr", has_text="run-1")
    expect(row.locator(".badge")).to_have_text("SUCCEEDED")
    expect(row.locator("td").nth(3)).to_contain_text(" s")


def test_failed_execution_shows_the_error(page: Page, server: LocalServer) -> None:
    start_from_form(page, server, FAILING)
    expect(page.locator("#exec-status .badge")).to_have_text("FAILED", timeout=30_000)
    expect(page.locator('#graph g.state[data-state="Explode"]')).to_have_attribute(
        "data-status", "failed"
    )
    expect(page.locator('#graph g.state[data-state="Warmup"]')).to_have_attribute(
        "data-status", "succeeded"
    )
    page.locator('#graph g.state[data-state="Explode"]').click()
    expect(page.locator("#state-error")).to_have_text("Data.Corrupt")
    expect(page.locator("#state-panel")).to_contain_text("row 17: torque is 'n/a'")
    expect(page.locator("#exec-output")).to_contain_text("Data.Corrupt")
    shot(page, "06-execution-failed")


def test_bad_input_is_refused_in_the_form(page: Page, server: LocalServer) -> None:
    page.goto(server.url + "/")
    page.get_by_role("link", name=FAILING, exact=True).click()
    # No example input for this machine: the form starts with {}.
    expect(page.locator("#exec-input")).to_have_value("{}")
    page.locator("#exec-input").fill("{not json")
    page.get_by_role("button", name="Start execution").click()
    expect(page.locator("#start-error")).to_contain_text("not valid JSON")
    page.locator("#exec-input").fill("{}")
    page.locator("#exec-name").fill("bad name with spaces")
    page.get_by_role("button", name="Start execution").click()
    expect(page.locator("#start-error")).to_contain_text("InvalidName")
