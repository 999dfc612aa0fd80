"""The console's actions in headless Chromium: Stop, Redrive, a new execution from an
execution's input with fresh per-run names, a definition update validated first, the
executions list filtered and paged, a Map expanded with its iteration picker, the state
inspector's stages, and the service browsers.  Screenshots: ``test-artifacts/console/``."""

from __future__ import annotations

import io
import json
import zipfile
from collections.abc import Iterator
from typing import Any

import pytest
from browser_support import launch, open_page, shot
from playwright.sync_api import Browser, Page, expect

from localaws.server.serve import LocalServer
from localaws.store import atomic_write

pytestmark = pytest.mark.slow

ROLE = "arn:aws:iam::123456789012:role/console-test"
RUN_ID = "20240101-000000-abcd"


def sleep_then(seconds: float, then: dict[str, Any]) -> dict[str, Any]:
    return {
        "StartAt": "Wait",
        "States": {
            "Wait": {
                "Type": "Task",
                "Resource": "arn:aws:states:::local:sleep",
                "Parameters": {"Seconds": seconds},
                "ResultPath": None,
                "Next": "Then",
            },
            "Then": then,
        },
    }


FAIL = {
    "Type": "Task",
    "Resource": "arn:aws:states:::local:fail",
    "Parameters": {"Error": "Data.Missing", "Cause": "no rows for 2024-01-01"},
    "End": True,
}
MAP_MACHINE = {
    "StartAt": "Shape",
    "States": {
        "Shape": {
            "Type": "Pass",
            "Result": {"items": [{"v": 1}, {"v": 2}, {"v": 3}]},
            "Next": "Both",
        },
        "Both": {
            "Type": "Parallel",
            "Branches": [
                {"StartAt": "Left", "States": {"Left": {"Type": "Pass", "End": True}}},
                {"StartAt": "Right", "States": {"Right": {"Type": "Pass", "End": True}}},
            ],
            "ResultPath": None,
            "Next": "Each",
        },
        "Each": {
            "Type": "Map",
            "ItemsPath": "$.items",
            "ItemProcessor": {
                "StartAt": "IsTwo",
                "States": {
                    "IsTwo": {
                        "Type": "Choice",
                        "Choices": [{"Variable": "$.v", "NumericEquals": 2, "Next": "Two"}],
                        "Default": "Other",
                    },
                    "Two": {"Type": "Pass", "Result": "two", "End": True},
                    "Other": {"Type": "Pass", "Result": "other", "End": True},
                },
            },
            "ResultSelector": {"count.$": "States.ArrayLength($)"},
            "ResultPath": "$.mapped",
            "End": True,
        },
    },
}
MACHINES = {
    "slow": sleep_then(120, {"Type": "Succeed"}),
    "flaky": sleep_then(0.1, FAIL),
    "quick": {"StartAt": "Done", "States": {"Done": {"Type": "Pass", "End": True}}},
    "mapper": MAP_MACHINE,
    "many": {
        "StartAt": "Each",
        "States": {
            "Each": {
                "Type": "Map",
                "ItemsPath": "$.items",
                "ItemProcessor": {
                    "StartAt": "Score",
                    "States": {"Score": {"Type": "Pass", "End": True}},
                },
                "ResultPath": None,
                "End": True,
            }
        },
    },
    "per-run": {"StartAt": "Echo", "States": {"Echo": {"Type": "Pass", "End": True}}},
    "distributed": {
        "StartAt": "Fan",
        "States": {
            "Fan": {
                "Type": "Map",
                "ItemsPath": "$.items",
                "ItemProcessor": {
                    "ProcessorConfig": {"Mode": "DISTRIBUTED", "ExecutionType": "STANDARD"},
                    "StartAt": "Item",
                    "States": {"Item": {"Type": "Pass", "End": True}},
                },
                "End": True,
            }
        },
    },
}
PER_RUN_INPUT = {
    "RunId": RUN_ID,
    "TrainingJobName": f"pm-train-{RUN_ID}",
    "RawDataUri": f"s3://data/raw/{RUN_ID}/",
    "MetricThreshold": 0.9,
}


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalServer]:
    with LocalServer(tmp_path_factory.mktemp("console-actions")) as running:
        sfn = running.runtime.stepfunctions
        for name, definition in MACHINES.items():
            sfn.create_state_machine(name=name, definition=json.dumps(definition), roleArn=ROLE)
        spec = {"runIdField": "RunId", "fields": ["TrainingJobName"]}
        path = running.runtime.layout.example_per_run("per-run")
        atomic_write(path, json.dumps(spec).encode())
        yield running


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    yield from launch()


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    yield from open_page(browser)


def machine_arn(server: LocalServer, name: str) -> str:
    return server.runtime.arn("states", f"stateMachine:{name}")


def open_execution(page: Page, server: LocalServer, machine: str, name: str, body: Any) -> str:
    started = server.runtime.stepfunctions.start_execution(
        stateMachineArn=machine_arn(server, machine), name=name, input=json.dumps(body)
    )
    arn = str(started["executionArn"])
    page.goto(f"{server.url}/#/execution/{arn}")
    return arn


def test_stop_with_error_and_cause(page: Page, server: LocalServer) -> None:
    arn = open_execution(page, server, "slow", "to-stop", {})
    expect(page.locator("#exec-status .badge").first).to_have_text("RUNNING")
    expect(page.locator("#act-redrive")).to_be_disabled()
    page.locator("#act-stop").click()
    page.locator("#stop-error").fill("Operator.Stopped")
    page.locator("#stop-cause").fill("wrong data window")
    page.locator("#stop-confirm").click()
    expect(page.locator("#exec-status .badge").first).to_have_text("ABORTED")
    expect(page.locator("#exec-output")).to_contain_text("Operator.Stopped")
    expect(page.locator("#exec-output")).to_contain_text("wrong data window")
    expect(page.locator("#act-stop")).to_be_disabled()
    described = server.runtime.stepfunctions.describe_execution(executionArn=arn)
    assert (described["status"], described["error"]) == ("ABORTED", "Operator.Stopped")
    shot(page, "10-stopped")


def test_redrive_a_failed_execution(page: Page, server: LocalServer) -> None:
    arn = open_execution(page, server, "flaky", "to-redrive", {})
    expect(page.locator("#exec-status .badge").first).to_have_text("FAILED")
    expect(page.locator("#act-redrive")).to_be_enabled()
    page.locator("#act-redrive").click()
    expect(page.locator("#redrive-marker")).to_have_text("redriven x1")
    expect(page.locator("#exec-status .badge").first).to_have_text("FAILED")
    assert server.runtime.stepfunctions.describe_execution(executionArn=arn)["redriveCount"] == 1
    # The rerun of the failed state is marked with its redrive.
    expect(page.locator('#states tr[data-node="Then"]').last).to_contain_text("↻1")
    shot(page, "11-redriven")


def test_new_execution_from_input_has_fresh_names(page: Page, server: LocalServer) -> None:
    open_execution(page, server, "per-run", "first-run", PER_RUN_INPUT)
    expect(page.locator("#exec-status .badge").first).to_have_text("SUCCEEDED")
    page.locator("#act-new").click()
    expect(page.locator("h1")).to_have_text("per-run")
    expect(page.locator("#example-note")).to_contain_text("fresh RunId, TrainingJobName")
    fresh = json.loads(page.locator("#exec-input").input_value())
    assert fresh["RunId"] != RUN_ID and len(fresh["RunId"]) == len(RUN_ID)
    assert fresh["TrainingJobName"] == f"pm-train-{fresh['RunId']}"
    assert fresh["RawDataUri"] == PER_RUN_INPUT["RawDataUri"]  # not a per-run field
    assert fresh["MetricThreshold"] == 0.9
    shot(page, "12-new-from-input")
    page.get_by_role("button", name="Start execution").click()
    expect(page.locator("#exec-status .badge").first).to_have_text("SUCCEEDED")
    assert json.loads(page.locator("#exec-input").text_content() or "{}") == fresh


def test_definition_is_validated_then_updated(page: Page, server: LocalServer) -> None:
    page.goto(f"{server.url}/#/machine/{machine_arn(server, 'quick')}")
    page.get_by_role("button", name="Definition (ASL JSON)").click()
    expect(page.locator("#asl")).to_have_value(json.dumps(MACHINES["quick"], indent=2))
    page.locator("#asl-edit").click()
    broken = {"StartAt": "Done", "States": {"Done": {"Type": "Pass", "Next": "Nowhere"}}}
    page.locator("#asl").fill(json.dumps(broken))
    page.locator("#asl-save").click()
    expect(page.locator("#asl-diagnostics")).to_contain_text("Nowhere")
    shot(page, "13-definition-invalid")
    fixed = {
        "StartAt": "Done",
        "States": {"Done": {"Type": "Pass", "Next": "Finish"}, "Finish": {"Type": "Succeed"}},
    }
    page.locator("#asl").fill(json.dumps(fixed))
    page.locator("#asl-publish").check()
    page.locator("#asl-save").click()
    expect(page.locator("#asl-updated")).to_contain_text("version 1")
    expect(page.locator("#version-list")).to_contain_text("quick:1")
    page.get_by_role("button", name="Graph").click()
    expect(page.locator('#graph g.state[data-state="Finish"]')).to_have_count(1)
    described = server.runtime.stepfunctions.describe_state_machine(
        stateMachineArn=machine_arn(server, "quick")
    )
    assert json.loads(described["definition"]) == fixed
    shot(page, "14-definition-updated")


def test_executions_filtered_and_paged(page: Page, server: LocalServer) -> None:
    sfn = server.runtime.stepfunctions
    for i in range(30):
        started = sfn.start_execution(
            stateMachineArn=machine_arn(server, "flaky" if i % 10 == 0 else "per-run"),
            name=f"batch-{i:02d}",
            input="{}",
        )
        sfn.wait(started["executionArn"], timeout=30)
    arn = machine_arn(server, "per-run")
    listed = sfn.list_executions(stateMachineArn=arn, maxResults=1000)["executions"]
    total = len(listed)  # 27 batch runs + what other tests of this module started
    succeeded = sum(e["status"] == "SUCCEEDED" for e in listed)
    failed = sum(e["status"] == "FAILED" for e in listed)
    assert 25 < total <= 50
    page.goto(f"{server.url}/#/machine/{arn}")
    rows = page.locator("#executions tbody tr")
    expect(rows).to_have_count(25)
    expect(page.locator("#page-info")).to_have_text(f"1-25 of {total}")
    page.locator("#page-next").click()
    expect(rows).to_have_count(total - 25)
    expect(page.locator("#page-info")).to_have_text(f"26-{total} of {total}")
    page.locator("#f-name").fill("batch-1")
    expect(page.locator("#page-info")).to_have_text("1-9 of 9")  # batch-11..19
    page.locator("#f-name").fill("")
    page.locator("#f-status").select_option("SUCCEEDED")
    expect(page.locator("#page-info")).to_have_text(f"1-{min(succeeded, 25)} of {succeeded}")
    page.locator("#f-status").select_option("FAILED")
    if failed:
        expect(page.locator("#page-info")).to_have_text(f"1-{failed} of {failed}")
    else:
        expect(rows.first).to_contain_text("No executions")
    page.locator("#f-status").select_option("")
    page.locator("#f-from").fill("2999-01-01T00:00")
    expect(rows.first).to_contain_text("No executions")
    page.locator("#f-from").fill("")
    expect(page.locator("#page-info")).to_have_text(f"1-25 of {total}")
    shot(page, "15-executions-filtered")


def test_map_iterations_and_parallel_branches_in_place(page: Page, server: LocalServer) -> None:
    open_execution(page, server, "mapper", "mapped", {})
    expect(page.locator("#exec-status .badge").first).to_have_text("SUCCEEDED")
    graph = page.locator("#graph")
    for node in ("Both/0/Left", "Both/1/Right"):
        expect(graph.locator(f'g.state[data-node="{node}"]')).to_have_attribute(
            "data-status", "succeeded"
        )
    expect(graph.locator(".edge-label-choice")).to_contain_text("$.v == 2")
    expect(graph.locator(".edge-label-default")).to_contain_text("Default")
    picker = page.locator('#pickers select[data-map="Each"]')
    expect(picker.locator("option")).to_have_count(3)
    expect(graph.locator('g.state[data-node="Each/*/Other"]')).to_have_attribute(
        "data-status", "succeeded"
    )
    expect(graph.locator('g.state[data-node="Each/*/Two"]')).to_have_attribute(
        "data-status", "not_reached"
    )
    picker.select_option("1")
    expect(graph.locator('g.state[data-node="Each/*/Two"]')).to_have_attribute(
        "data-status", "succeeded"
    )
    expect(graph.locator('g.state[data-node="Each/*/Other"]')).to_have_attribute(
        "data-status", "not_reached"
    )
    shot(page, "16-map-iteration")
    # The state inspector: the Map's result through ResultSelector and ResultPath.
    graph.locator('g.state[data-node="Each"]').click()
    stages = page.locator("#state-stages")
    expect(stages).to_contain_text("After ResultSelector")
    expect(stages).to_contain_text('"count": 3')
    expect(stages).to_contain_text("After ResultPath ($.mapped)")
    # A nested row of the table selects its iteration in the graph.
    page.locator('#states tr[data-node="Each/*/Two"]').click()
    expect(page.locator("#state-panel h2")).to_contain_text("Two")
    expect(page.locator("#state-panel")).to_contain_text("Each[1]")


def test_long_history_tables_show_more(page: Page, server: LocalServer) -> None:
    # 260 Map items: 261 state visits and 1,046 events, more than the 200 rows drawn at first;
    # more Map iterations than a picker lists as options.
    items = [{"i": i, "note": "n" * 60} for i in range(260)]
    open_execution(page, server, "many", "long", {"items": items})
    expect(page.locator("#exec-status .badge").first).to_have_text("SUCCEEDED")
    # The input (about 27,000 characters pretty-printed) shows its head, then all of it.
    shown_input = page.locator("#exec-input")
    expect(shown_input).to_contain_text('"i": 0,')
    expect(shown_input).not_to_contain_text('"i": 259,')
    page.locator("#exec-input + button.text-more").click()
    expect(shown_input).to_contain_text('"i": 259,')
    expect(page.locator("#exec-input + button.text-more")).to_have_count(0)
    events = page.locator("#events tbody tr:not(.more-row)")
    expect(page.locator("#events")).to_have_attribute("data-total", "1046")
    expect(events).to_have_count(200)
    expect(page.locator("#events .more-row")).to_contain_text("200 of 1046 shown")
    page.locator("#events button.show-more").click()
    expect(events).to_have_count(400)
    expect(events.nth(399).locator("td").first).to_have_text("400")
    # An event's details are drawn when opened.
    opened = events.nth(1).locator("details")
    opened.locator("summary").click()
    expect(opened.locator("pre")).to_contain_text('"name": "Each"')
    page.locator("#events button.show-all").click()
    expect(events).to_have_count(1046)
    expect(events.last.locator("td").nth(1)).to_have_text("ExecutionSucceeded")
    expect(page.locator("#events .more-row")).to_have_count(0)
    # The states table: the Map, then its first 199 iterations; the rest on demand.
    states = page.locator("#states tbody tr[data-node]")
    expect(states).to_have_count(200)
    page.locator("#states button.show-more").click()
    expect(states).to_have_count(261)
    expect(states.last).to_contain_text("Each[259]")
    states.last.click()
    expect(page.locator('#pickers input[data-map="Each"]')).to_have_value("259")
    shot(page, "17-long-history")


def test_service_browsers(page: Page, server: LocalServer) -> None:
    rt = server.runtime
    rt.dynamodb.create_table(
        TableName="predictions",
        KeySchema=[{"AttributeName": "run", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "run", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    for run, score in (("r1", "0.9"), ("r2", "0.4")):
        rt.dynamodb.put_item(
            TableName="predictions", Item={"run": {"S": run}, "score": {"N": score}}
        )
    queue = rt.sqs.create_queue(QueueName="work")["QueueUrl"]
    rt.sqs.send_message(QueueUrl=queue, MessageBody='{"job": 7}')
    page.goto(f"{server.url}/#/services")
    # The first call to each service loads its moto backend: the page fills in as they come.
    for section in ("sqs-queues", "kinesis-streams", "apis", "glue-databases", "log-groups"):
        expect(page.locator(f"#{section}")).to_be_visible(timeout=60_000)
    expect(page.locator("#sqs-queues")).to_contain_text("work")
    shot(page, "17-services")
    page.locator("#ddb-tables").get_by_role("link", name="predictions").click()
    expect(page.locator("#ddb-item-table tbody tr")).to_have_count(2)
    page.locator("#ddb-value").fill("r2")
    page.get_by_role("button", name="Query").click()
    expect(page.locator("#ddb-item-table tbody tr")).to_have_count(1)
    expect(page.locator("#ddb-item-table")).to_contain_text("0.4")
    page.goto(f"{server.url}/#/services")
    page.locator("#sqs-queues").get_by_role("link", name="work").click()
    page.get_by_role("button", name="Peek").click()
    expect(page.locator("#sqs-message-table")).to_contain_text('"job": 7')
    expect(page.locator("#sqs-attrs")).to_contain_text("ApproximateNumberOfMessages")


def test_distributed_map_shows_its_item_counts(page: Page, server: LocalServer) -> None:
    open_execution(page, server, "distributed", "fan-out", {"items": [1, 2, 3, 4]})
    expect(page.locator("#exec-status .badge").first).to_have_text("SUCCEEDED")
    expect(page.locator('#graph g.state[data-node="Fan"]')).to_contain_text(
        "Distributed Map · 4/4 items"
    )
    expect(page.locator('#graph g.state[data-node="Fan/*/Item"]')).to_have_count(1)
    shot(page, "18-distributed-map")


HANDLER = """
def handler(event, context):
    print("scoring", event.get("rows"))
    if event.get("rows", 0) < 0:
        raise ValueError("rows must be >= 0")
    return {"scored": event["rows"] * 2}
"""


def test_lambda_function_page_invokes_and_shows_logs(page: Page, server: LocalServer) -> None:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("app.py", HANDLER)
    server.runtime.lambda_.create_function(
        FunctionName="scorer",
        Runtime="python3.11",
        Role=ROLE,
        Handler="app.handler",
        Code={"ZipFile": buf.getvalue()},
    )
    page.goto(f"{server.url}/#/lambda/scorer")
    expect(page.locator("#fn-config")).to_contain_text("app.handler")
    page.locator("#fn-event").fill('{"rows": 21}')
    page.get_by_role("button", name="Invoke").click()
    expect(page.locator("#fn-result")).to_contain_text('"scored": 42')
    page.locator("#fn-event").fill('{"rows": -1}')
    page.get_by_role("button", name="Invoke").click()
    expect(page.locator("#fn-result")).to_have_class("errorbox")
    expect(page.locator("#fn-result")).to_contain_text("rows must be >= 0")
    expect(page.locator("#fn-logs")).to_contain_text("scoring 21", timeout=60_000)
    shot(page, "19-lambda-function")
