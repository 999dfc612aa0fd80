"""The console's own endpoints over real HTTP: graph, folded execution, examples, logs, objects."""

from __future__ import annotations

import json
from collections.abc import Iterator

import boto3
import httpx
import pytest

from localaws.server.serve import LocalServer
from localaws.store import atomic_write

ROLE = "arn:aws:iam::123456789012:role/console-test"
DEFINITION = {
    "StartAt": "Check",
    "States": {
        "Check": {
            "Type": "Task",
            "Resource": "arn:aws:states:::local:fail",
            "Parameters": {"Error": "Check.Drift", "Cause": "drift 0.3"},
            "Catch": [
                {"ErrorEquals": ["States.ALL"], "ResultPath": "$.failure", "Next": "Recover"}
            ],
            "End": True,
        },
        "Recover": {"Type": "Pass", "Next": "Unused"},
        "Unused": {"Type": "Succeed"},
    },
}


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalServer]:
    with LocalServer(tmp_path_factory.mktemp("state")) as running:
        yield running


@pytest.fixture(scope="module")
def http(server: LocalServer) -> Iterator[httpx.Client]:
    """The console's own requests: same origin, with the header its page sends on every fetch."""
    with httpx.Client(
        base_url=server.url, timeout=30, headers={"X-Localaws-Console": "1"}
    ) as client:
        yield client


@pytest.fixture(scope="module")
def execution(server: LocalServer) -> str:
    sfn = server.runtime.stepfunctions
    arn = sfn.create_state_machine(name="caught", definition=json.dumps(DEFINITION), roleArn=ROLE)[
        "stateMachineArn"
    ]
    started = sfn.start_execution(stateMachineArn=arn, name="run-1", input='{"a": 1}')
    sfn.wait(started["executionArn"], timeout=30)
    return str(started["executionArn"])


def test_index_and_assets_are_served_locally(http: httpx.Client) -> None:
    page = http.get("/")
    assert page.status_code == 200
    assert "text/html" in page.headers["content-type"]
    assets = ["/console/static/app.js", "/console/static/style.css"]
    for asset in assets:
        assert asset in page.text
        assert http.get(asset).status_code == 200
    # Nothing comes from another host.
    for text in [page.text, *(http.get(a).text for a in assets)]:
        assert "http://" not in text.replace("http://www.w3.org", "")
        assert "https://" not in text
    assert http.get("/console/static/../console.py").status_code == 404


def test_graph_of_machine_and_execution(http: httpx.Client, execution: str) -> None:
    machine = execution.replace(":execution:", ":stateMachine:").rsplit(":", 1)[0]
    plain = http.get("/console/api/graph", params={"stateMachineArn": machine})
    assert plain.headers["content-type"].startswith("image/svg+xml")
    assert plain.text.count('data-status="not_reached"') == 3
    coloured = http.get("/console/api/graph", params={"executionArn": execution}).text
    assert 'data-state="Check" data-status="caught"' in coloured
    assert 'data-state="Recover" data-status="succeeded"' in coloured
    assert 'data-state="Unused" data-status="succeeded"' in coloured


def test_execution_view_folds_the_history(http: httpx.Client, execution: str) -> None:
    view = http.get("/console/api/execution", params={"executionArn": execution}).json()
    assert view["execution"]["status"] == "SUCCEEDED"
    assert isinstance(view["execution"]["startDate"], float)
    check, recover, unused = view["states"]
    assert (check["name"], check["status"], check["error"], check["cause"]) == (
        "Check",
        "caught",
        "Check.Drift",
        "drift 0.3",
    )
    assert json.loads(check["input"]) == {"a": 1}
    assert json.loads(recover["output"])["failure"] == {
        "Error": "Check.Drift",
        "Cause": "drift 0.3",
    }
    assert unused["status"] == "succeeded"
    assert view["events"][0]["type"] == "ExecutionStarted"
    assert view["resources"] == {}


@pytest.mark.parametrize(
    ("path", "params", "status", "code"),
    [
        ("/console/api/graph", {}, 400, "ValidationException"),
        ("/console/api/execution", {}, 400, "ValidationException"),
        (
            "/console/api/execution",
            {"executionArn": "arn:aws:states:us-east-1:123456789012:execution:caught:nope"},
            400,
            "ExecutionDoesNotExist",
        ),
        ("/console/api/example/nothing-here", {}, 404, "NotFound"),
        ("/console/api/logs/training/no-such-job", {}, 404, "NotFound"),
        ("/console/api/logs/secrets/job", {}, 400, "ValidationException"),
        (
            "/console/api/object",
            {"uri": "s3://bucket/../../etc/passwd"},
            400,
            "ValidationException",
        ),
        ("/console/api/object", {"uri": "s3://bucket/missing.csv"}, 404, "NoSuchKey"),
    ],
    ids=[
        "graph-without-arn",
        "execution-without-arn",
        "unknown-execution",
        "no-example",
        "no-log",
        "bad-log-kind",
        "object-traversal",
        "missing-object",
    ],
)
def test_errors_are_json_with_a_code(
    http: httpx.Client, path: str, params: dict[str, str], status: int, code: str
) -> None:
    response = http.get(path, params=params)
    assert response.status_code == status, response.text
    assert response.json()["__type"] == code
    assert "Traceback" not in response.text


def test_example_logs_and_objects(http: httpx.Client, server: LocalServer) -> None:
    rt = server.runtime
    atomic_write(rt.layout.example("caught"), b'{"Threshold": 0.9}')
    assert http.get("/console/api/example/caught").json() == {"Threshold": 0.9}
    atomic_write(rt.layout.log("training", "job-1"), b"[0]\ttrain-auc:0.9\n")
    assert http.get("/console/api/logs/training/job-1").text == "[0]\ttrain-auc:0.9\n"
    rt.storage.write("s3://bucket/out/a.csv.out", b"0.1\n0.9\n")
    assert http.get("/console/api/object", params={"uri": "s3://bucket/out/a.csv.out"}).text == (
        "0.1\n0.9\n"
    )
    listing = http.get("/console/api/object", params={"uri": "s3://bucket/out/"}).text
    assert listing == "s3://bucket/out/a.csv.out"


def test_signed_requests_still_reach_the_aws_apis(server: LocalServer) -> None:
    """The console owns unsigned GET /; S3's ListBuckets (signed GET /) is not shadowed."""
    s3 = boto3.client(
        "s3",
        endpoint_url=server.url,
        region_name="us-east-1",
        aws_access_key_id="test",
        aws_secret_access_key="test",
    )
    s3.create_bucket(Bucket="console")
    assert "console" in [b["Name"] for b in s3.list_buckets()["Buckets"]]
    s3.put_object(Bucket="console", Key="api/graph", Body=b"x")
    assert s3.get_object(Bucket="console", Key="api/graph")["Body"].read() == b"x"


def test_a_stopped_execution_marks_its_state_cancelled(
    http: httpx.Client, server: LocalServer
) -> None:
    sfn = server.runtime.stepfunctions
    definition = {
        "StartAt": "Nap",
        "States": {
            "Nap": {
                "Type": "Task",
                "Resource": "arn:aws:states:::local:sleep",
                "Parameters": {"Seconds": 60},
                "End": True,
            }
        },
    }
    arn = sfn.create_state_machine(name="napper", definition=json.dumps(definition), roleArn=ROLE)[
        "stateMachineArn"
    ]
    execution = sfn.start_execution(stateMachineArn=arn)["executionArn"]
    running = http.get("/console/api/graph", params={"executionArn": execution}).text
    assert 'data-state="Nap" data-status="running"' in running
    sfn.stop_execution(executionArn=execution, error="User.Stop", cause="enough")
    sfn.wait(execution, timeout=30)
    stopped = http.get("/console/api/graph", params={"executionArn": execution}).text
    assert 'data-state="Nap" data-status="cancelled"' in stopped
    view = http.get("/console/api/execution", params={"executionArn": execution}).json()
    assert view["execution"]["status"] == "ABORTED"
    (nap,) = view["states"]
    assert (nap["status"], nap["error"], nap["cause"]) == ("cancelled", "User.Stop", "enough")


def test_a_map_failure_is_the_maps_and_its_inner_state_is_nested(
    http: httpx.Client, server: LocalServer
) -> None:
    sfn = server.runtime.stepfunctions
    definition = {
        "StartAt": "Items",
        "States": {
            "Items": {
                "Type": "Map",
                "ItemProcessor": {
                    "StartAt": "Each",
                    "States": {
                        "Each": {
                            "Type": "Task",
                            "Resource": "arn:aws:states:::local:fail",
                            "Parameters": {"Error": "Item.Bad"},
                            "End": True,
                        }
                    },
                },
                "End": True,
            }
        },
    }
    arn = sfn.create_state_machine(name="mapper", definition=json.dumps(definition), roleArn=ROLE)[
        "stateMachineArn"
    ]
    execution = sfn.start_execution(stateMachineArn=arn, input="[1]")["executionArn"]
    sfn.wait(execution, timeout=30)
    graph = http.get("/console/api/graph", params={"executionArn": execution}).text
    assert 'data-state="Items" data-status="failed"' in graph
    view = http.get("/console/api/execution", params={"executionArn": execution}).json()
    rows = [(s["name"], s["depth"], s["status"], s["error"]) for s in view["states"]]
    assert rows == [("Items", 0, "failed", "Item.Bad"), ("Each", 1, "failed", "Item.Bad")]


def test_stages_of_a_task_through_its_paths(http: httpx.Client, server: LocalServer) -> None:
    """The inspector: Parameters as sent, the result, then ResultSelector, ResultPath and
    OutputPath recomputed; the last stage equals the state's output in the history."""
    sfn = server.runtime.stepfunctions
    definition = {
        "StartAt": "Nap",
        "States": {
            "Nap": {
                "Type": "Task",
                "Resource": "arn:aws:states:::local:sleep",
                "Parameters": {"Seconds": 0, "Rows.$": "$.rows"},
                "ResultSelector": {"slept.$": "$.Seconds"},
                "ResultPath": "$.nap",
                "OutputPath": "$.nap",
                "End": True,
            }
        },
    }
    arn = sfn.create_state_machine(name="stages", definition=json.dumps(definition), roleArn=ROLE)
    execution = sfn.start_execution(stateMachineArn=arn["stateMachineArn"], input='{"rows": 7}')
    sfn.wait(execution["executionArn"], timeout=30)
    view = http.get("/console/api/execution", params=execution).json()
    assert view["states"][0]["hasParameters"] is True
    stages = http.get("/console/api/stages", params={**execution, "visit": "0"}).json()["stages"]
    by_name = {s["stage"]: s["value"] for s in stages}
    assert by_name["Input"] == {"rows": 7}
    assert by_name["Parameters as sent"] == {"Seconds": 0, "Rows": 7}
    assert "Result" in by_name
    assert by_name["After ResultPath ($.nap)"] == {
        "rows": 7,
        "nap": by_name["After ResultSelector"],
    }
    assert by_name["After OutputPath ($.nap)"] == by_name["Output"]
    missing = http.get("/console/api/stages", params={**execution, "visit": "9"})
    assert (missing.status_code, missing.json()["__type"]) == (404, "NotFound")


def test_executions_filtered_and_fresh_input(http: httpx.Client, server: LocalServer) -> None:
    sfn = server.runtime.stepfunctions
    definition = {"StartAt": "P", "States": {"P": {"Type": "Pass", "End": True}}}
    arn = sfn.create_state_machine(name="fresh", definition=json.dumps(definition), roleArn=ROLE)[
        "stateMachineArn"
    ]
    run_input = {"RunId": "20240101-000000-abcd", "Job": "train-20240101-000000-abcd", "Raw": "r"}
    for i in range(3):
        done = sfn.start_execution(stateMachineArn=arn, name=f"x-{i}", input=json.dumps(run_input))
        sfn.wait(done["executionArn"], timeout=30)
    page = http.get(
        "/console/api/executions", params={"stateMachineArn": arn, "name": "X-", "limit": "2"}
    ).json()
    assert (page["total"], [e["name"] for e in page["executions"]]) == (3, ["x-2", "x-1"])
    assert page["executions"][0]["redriveCount"] == 0
    none = http.get(
        "/console/api/executions", params={"stateMachineArn": arn, "status": "FAILED"}
    ).json()
    assert none["total"] == 0
    bad = http.get("/console/api/executions", params={"stateMachineArn": arn, "from": "noon"})
    assert bad.status_code == 400 and "epoch seconds" in bad.json()["message"]

    # Without a per-run spec the input comes back as it was; with one, fresh names.
    plain = http.get("/console/api/fresh-input", params=done).json()
    assert plain == {"input": run_input, "freshened": []}
    spec = {"runIdField": "RunId", "fields": ["Job"]}
    atomic_write(server.runtime.layout.example_per_run("fresh"), json.dumps(spec).encode())
    fresh = http.get("/console/api/fresh-input", params=done).json()
    assert fresh["freshened"] == ["RunId", "Job"]
    assert fresh["input"]["Job"] == f"train-{fresh['input']['RunId']}"
    assert fresh["input"]["Raw"] == "r" and fresh["input"]["RunId"] != run_input["RunId"]
