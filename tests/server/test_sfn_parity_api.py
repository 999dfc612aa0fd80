"""The Step Functions API beyond the basics, over HTTP: boto3, the AWS CLI and the Data
Science SDK against the local server (Distributed Map with S3, nested workflows,
activities, versions and aliases, tags, validation, TestState, Express executions)."""

from __future__ import annotations

import json
import os
import subprocess
import threading
from collections.abc import Callable
from typing import Any

import botocore.exceptions
import pytest
from botocore.config import Config
from conftest import ROLE
from server_shapes import assert_output_shape

from localaws.server.serve import LocalServer

PASS: dict[str, Any] = {"StartAt": "P", "States": {"P": {"Type": "Pass", "End": True}}}


def call(client: Any, operation: str, **params: Any) -> dict[str, Any]:
    """Call the operation and check the response against botocore's output shape."""
    from botocore import xform_name

    response = getattr(client, xform_name(operation))(**params)
    assert_output_shape(client, operation, response)
    return response  # type: ignore[no-any-return]


def wait_done(sfn: Any, arn: str) -> dict[str, Any]:
    waiter_done = threading.Event()
    while not waiter_done.wait(0.05):
        desc = sfn.describe_execution(executionArn=arn)
        if desc["status"] != "RUNNING":
            return desc  # type: ignore[no-any-return]
    raise AssertionError("unreachable")


def aws_cli(server: LocalServer, *args: str) -> Any:
    """Run the AWS CLI against the server; return its parsed JSON output."""
    env = {**os.environ, "AWS_DISABLE_HOST_PREFIX_INJECTION": "true"}
    done = subprocess.run(
        ["aws", "--endpoint-url", server.url, "--output", "json", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout) if done.stdout.strip() else None


def test_distributed_map_over_s3_csv_with_map_run_api(client: Callable[..., Any]) -> None:
    s3, sfn = client("s3"), client("stepfunctions")
    s3.create_bucket(Bucket="dmap")
    rows = "id,score\n" + "".join(f"{i},{i * 10}\n" for i in range(12))
    s3.put_object(Bucket="dmap", Key="in/rows.csv", Body=rows.encode())
    definition = {
        "StartAt": "Each",
        "States": {
            "Each": {
                "Type": "Map",
                "ItemReader": {
                    "Resource": "arn:aws:states:::s3:getObject",
                    "ReaderConfig": {"InputType": "CSV", "CSVHeaderLocation": "FIRST_ROW"},
                    "Parameters": {"Bucket": "dmap", "Key": "in/rows.csv"},
                },
                "ItemBatcher": {"MaxItemsPerBatch": 5},
                "ItemProcessor": {
                    "ProcessorConfig": {"Mode": "DISTRIBUTED", "ExecutionType": "EXPRESS"},
                    "StartAt": "Count",
                    "States": {
                        "Count": {
                            "Type": "Pass",
                            "Parameters": {"n.$": "States.ArrayLength($.Items)"},
                            "End": True,
                        }
                    },
                },
                "ResultWriter": {
                    "Resource": "arn:aws:states:::s3:putObject",
                    "Parameters": {"Bucket": "dmap", "Prefix": "out"},
                },
                "Label": "rows",
                "End": True,
            }
        },
    }
    arn = call(
        sfn, "CreateStateMachine", name="dmap", definition=json.dumps(definition), roleArn=ROLE
    )["stateMachineArn"]
    run = call(sfn, "StartExecution", stateMachineArn=arn)["executionArn"]
    done = wait_done(sfn, run)
    assert done["status"] == "SUCCEEDED", done
    output = json.loads(done["output"])
    map_runs = call(sfn, "ListMapRuns", executionArn=run)["mapRuns"]
    assert [m["mapRunArn"] for m in map_runs] == [output["MapRunArn"]]
    described = call(sfn, "DescribeMapRun", mapRunArn=output["MapRunArn"])
    assert described["itemCounts"]["succeeded"] == 12
    assert described["executionCounts"]["succeeded"] == 3
    children = call(sfn, "ListExecutions", mapRunArn=output["MapRunArn"])["executions"]
    assert len(children) == 3
    call(sfn, "UpdateMapRun", mapRunArn=output["MapRunArn"], maxConcurrency=2)
    manifest = json.loads(
        s3.get_object(Bucket="dmap", Key=output["ResultWriterDetails"]["Key"])["Body"].read()
    )
    succeeded = json.loads(
        s3.get_object(Bucket="dmap", Key=manifest["ResultFiles"]["SUCCEEDED"][0]["Key"])[
            "Body"
        ].read()
    )
    assert sorted(json.loads(e["Output"])["n"] for e in succeeded) == [2, 5, 5]
    machine = call(
        sfn, "DescribeStateMachineForExecution", executionArn=children[0]["executionArn"]
    )
    assert machine["mapRunArn"] == output["MapRunArn"]
    assert machine["label"] == "rows"


def test_nested_workflow_sync2_and_data_science_sdk_step(
    client: Callable[..., Any], restore_root_logger: None
) -> None:
    from stepfunctions.steps import Chain, StepFunctionsStartExecutionStep
    from stepfunctions.steps.integration_resources import IntegrationPattern
    from stepfunctions.workflow import Workflow

    sfn = client("stepfunctions")
    child = sfn.create_state_machine(
        name="nested-child",
        definition=json.dumps(
            {
                "StartAt": "Double",
                "States": {
                    "Double": {
                        "Type": "Pass",
                        "Parameters": {"twice.$": "States.MathAdd($.n, $.n)"},
                        "End": True,
                    }
                },
            }
        ),
        roleArn=ROLE,
    )["stateMachineArn"]
    step = StepFunctionsStartExecutionStep(
        "Run child",
        integration_pattern=IntegrationPattern.WaitForCompletion,
        parameters={"StateMachineArn": child, "Input": {"n.$": "$.n"}},
    )
    workflow = Workflow(
        "nested-parent",
        definition=Chain([step]),
        role=ROLE,
        client=sfn,
        tags=[{"key": "team", "value": "ml"}],
    )
    parent = workflow.create()
    assert (
        json.loads(sfn.describe_state_machine(stateMachineArn=parent)["definition"])["States"][
            "Run child"
        ]["Resource"]
        == "arn:aws:states:::states:startExecution.sync:2"
    )
    execution = workflow.execute(inputs={"n": 21})
    out = execution.get_output(wait=True)
    assert out["Status"] == "SUCCEEDED"
    assert out["Output"] == {"twice": 42}  # .sync:2 parses the child's output
    types = [e["type"] for e in execution.list_events()]
    assert "TaskSubmitted" in types
    assert call(sfn, "ListTagsForResource", resourceArn=parent)["tags"] == [
        {"key": "team", "value": "ml"}
    ]


def test_activities_over_http(client: Callable[..., Any]) -> None:
    sfn = client("stepfunctions")
    activity = call(sfn, "CreateActivity", name="approve")["activityArn"]
    call(sfn, "DescribeActivity", activityArn=activity)
    assert activity in [a["activityArn"] for a in call(sfn, "ListActivities")["activities"]]
    arn = sfn.create_state_machine(
        name="with-activity",
        definition=json.dumps(
            {"StartAt": "A", "States": {"A": {"Type": "Task", "Resource": activity, "End": True}}}
        ),
        roleArn=ROLE,
    )["stateMachineArn"]
    run = sfn.start_execution(stateMachineArn=arn, input='{"q": 1}')["executionArn"]
    task = call(sfn, "GetActivityTask", activityArn=activity, workerName="w1")
    assert json.loads(task["input"]) == {"q": 1}
    call(sfn, "SendTaskSuccess", taskToken=task["taskToken"], output='{"ok": true}')
    assert json.loads(wait_done(sfn, run)["output"]) == {"ok": True}
    with pytest.raises(botocore.exceptions.ClientError) as e:
        sfn.send_task_success(taskToken="not-a-token", output="{}")
    assert e.value.response["Error"]["Code"] == "InvalidToken"
    call(sfn, "DeleteActivity", activityArn=activity)


def test_versions_aliases_and_tags(client: Callable[..., Any]) -> None:
    sfn = client("stepfunctions")
    created = call(
        sfn,
        "CreateStateMachine",
        name="versioned",
        definition=json.dumps(
            {"StartAt": "P", "States": {"P": {"Type": "Pass", "Result": 1, "End": True}}}
        ),
        roleArn=ROLE,
        publish=True,
        tags=[{"key": "stage", "value": "dev"}],
    )
    arn = created["stateMachineArn"]
    assert created["stateMachineVersionArn"] == f"{arn}:1"
    call(
        sfn,
        "UpdateStateMachine",
        stateMachineArn=arn,
        definition=json.dumps(
            {"StartAt": "P", "States": {"P": {"Type": "Pass", "Result": 2, "End": True}}}
        ),
    )
    v2 = call(sfn, "PublishStateMachineVersion", stateMachineArn=arn, description="two")
    assert v2["stateMachineVersionArn"] == f"{arn}:2"
    versions = call(sfn, "ListStateMachineVersions", stateMachineArn=arn)["stateMachineVersions"]
    assert [v["stateMachineVersionArn"] for v in versions] == [f"{arn}:2", f"{arn}:1"]
    alias = call(
        sfn,
        "CreateStateMachineAlias",
        name="live",
        routingConfiguration=[{"stateMachineVersionArn": f"{arn}:1", "weight": 100}],
    )["stateMachineAliasArn"]
    assert alias == f"{arn}:live"
    by_alias = sfn.start_execution(stateMachineArn=alias)["executionArn"]
    assert json.loads(wait_done(sfn, by_alias)["output"]) == 1
    by_version = sfn.start_execution(stateMachineArn=f"{arn}:2")["executionArn"]
    assert json.loads(wait_done(sfn, by_version)["output"]) == 2
    call(
        sfn,
        "UpdateStateMachineAlias",
        stateMachineAliasArn=alias,
        routingConfiguration=[
            {"stateMachineVersionArn": f"{arn}:1", "weight": 0},
            {"stateMachineVersionArn": f"{arn}:2", "weight": 100},
        ],
    )
    described = call(sfn, "DescribeStateMachineAlias", stateMachineAliasArn=alias)
    assert [r["weight"] for r in described["routingConfiguration"]] == [0, 100]
    assert (
        json.loads(
            wait_done(sfn, sfn.start_execution(stateMachineArn=alias)["executionArn"])["output"]
        )
        == 2
    )
    assert [
        a["stateMachineAliasArn"]
        for a in call(sfn, "ListStateMachineAliases", stateMachineArn=arn)["stateMachineAliases"]
    ] == [alias]
    with pytest.raises(botocore.exceptions.ClientError) as e:
        sfn.delete_state_machine_version(stateMachineVersionArn=f"{arn}:2")
    assert e.value.response["Error"]["Code"] == "ConflictException"
    call(sfn, "DeleteStateMachineAlias", stateMachineAliasArn=alias)
    call(sfn, "DeleteStateMachineVersion", stateMachineVersionArn=f"{arn}:1")

    assert call(sfn, "ListTagsForResource", resourceArn=arn)["tags"] == [
        {"key": "stage", "value": "dev"}
    ]
    call(sfn, "TagResource", resourceArn=arn, tags=[{"key": "owner", "value": "ml"}])
    call(sfn, "UntagResource", resourceArn=arn, tagKeys=["stage"])
    assert sfn.list_tags_for_resource(resourceArn=arn)["tags"] == [{"key": "owner", "value": "ml"}]


def test_validate_state_machine_definition(client: Callable[..., Any]) -> None:
    sfn = client("stepfunctions")
    ok = call(sfn, "ValidateStateMachineDefinition", definition=json.dumps(PASS))
    assert ok["result"] == "OK" and ok["diagnostics"] == []
    bad = call(
        sfn,
        "ValidateStateMachineDefinition",
        definition=json.dumps(
            {"StartAt": "P", "States": {"P": {"Type": "Pass", "Next": "Nowhere"}}}
        ),
    )
    assert bad["result"] == "FAIL"
    [diagnostic] = bad["diagnostics"]
    assert diagnostic["severity"] == "ERROR"
    assert diagnostic["code"] == "SCHEMA_VALIDATION_FAILED"
    assert diagnostic["location"] == "/States/P/Next"
    assert "Nowhere" in diagnostic["message"]
    not_json = call(sfn, "ValidateStateMachineDefinition", definition="{nope")
    assert not_json["diagnostics"][0]["code"] == "INVALID_JSON_DESCRIPTION"


def test_test_state_inspection_levels_and_catch(client: Callable[..., Any]) -> None:
    sfn = client("stepfunctions", inject_host_prefix=False)
    state = {
        "Type": "Pass",
        "InputPath": "$.order",
        "Parameters": {"sku.$": "$.sku"},
        "ResultPath": "$.picked",
        "Next": "Ship",
    }
    info = call(
        sfn,
        "TestState",
        definition=json.dumps(state),
        roleArn=ROLE,
        input='{"order": {"sku": "a1"}}',
    )
    assert info["status"] == "SUCCEEDED"
    assert info["nextState"] == "Ship"
    assert json.loads(info["output"]) == {"order": {"sku": "a1"}, "picked": {"sku": "a1"}}
    assert "inspectionData" not in info
    debug = call(
        sfn,
        "TestState",
        definition=json.dumps(state),
        roleArn=ROLE,
        input='{"order": {"sku": "a1"}}',
        inspectionLevel="DEBUG",
    )
    data = debug["inspectionData"]
    assert json.loads(data["afterInputPath"]) == {"sku": "a1"}
    assert json.loads(data["afterParameters"]) == {"sku": "a1"}
    assert json.loads(data["afterResultPath"]) == {"order": {"sku": "a1"}, "picked": {"sku": "a1"}}
    failing = {
        "Type": "Task",
        "Resource": "arn:aws:states:::lambda:invoke",
        "Parameters": {"FunctionName": "does-not-exist"},
        "Catch": [{"ErrorEquals": ["States.ALL"], "ResultPath": "$.error", "Next": "Handle"}],
        "End": True,
    }
    caught = call(sfn, "TestState", definition=json.dumps(failing), roleArn=ROLE, input="{}")
    assert caught["status"] == "CAUGHT_ERROR"
    assert caught["nextState"] == "Handle"
    assert json.loads(caught["output"])["error"]["Error"] == caught["error"]
    failing["Retry"] = [{"ErrorEquals": ["States.ALL"]}]
    retriable = call(sfn, "TestState", definition=json.dumps(failing), roleArn=ROLE, input="{}")
    assert retriable["status"] == "RETRIABLE"


def test_express_sync_execution(client: Callable[..., Any]) -> None:
    sfn = client("stepfunctions", inject_host_prefix=False)
    express = sfn.create_state_machine(
        name="express", definition=json.dumps(PASS), roleArn=ROLE, type="EXPRESS"
    )["stateMachineArn"]
    done = call(sfn, "StartSyncExecution", stateMachineArn=express, input='{"a": 1}')
    assert done["status"] == "SUCCEEDED"
    assert json.loads(done["output"]) == {"a": 1}
    assert ":express:express:" in done["executionArn"]
    with pytest.raises(botocore.exceptions.ClientError) as e:
        sfn.describe_execution(executionArn=done["executionArn"])
    assert e.value.response["Error"]["Code"] == "InvalidArn"
    standard = sfn.create_state_machine(name="standard", definition=json.dumps(PASS), roleArn=ROLE)[
        "stateMachineArn"
    ]
    with pytest.raises(botocore.exceptions.ClientError) as e:
        sfn.start_sync_execution(stateMachineArn=standard)
    assert e.value.response["Error"]["Code"] == "StateMachineTypeNotSupported"


def test_default_host_prefix_needs_disabling(client: Callable[..., Any]) -> None:
    """boto3 sends StartSyncExecution and TestState to sync-<host>; against a local address
    that name does not resolve, so clients turn the prefix off (documented)."""
    sfn = client("stepfunctions")
    with pytest.raises(botocore.exceptions.EndpointConnectionError):
        sfn.test_state(definition=json.dumps(PASS["States"]["P"]), roleArn=ROLE)


def test_aws_cli_drives_the_new_apis(server: LocalServer) -> None:
    machine = aws_cli(
        server,
        "stepfunctions",
        "create-state-machine",
        "--name",
        "cli-express",
        "--type",
        "EXPRESS",
        "--role-arn",
        ROLE,
        "--definition",
        json.dumps(PASS),
        "--tags",
        "key=via,value=cli",
    )["stateMachineArn"]
    assert (
        aws_cli(
            server,
            "stepfunctions",
            "validate-state-machine-definition",
            "--definition",
            json.dumps(PASS),
        )["result"]
        == "OK"
    )
    done = aws_cli(
        server,
        "stepfunctions",
        "start-sync-execution",
        "--state-machine-arn",
        machine,
        "--input",
        '{"x": 2}',
    )
    assert json.loads(done["output"]) == {"x": 2}
    tested = aws_cli(
        server,
        "stepfunctions",
        "test-state",
        "--definition",
        json.dumps(PASS["States"]["P"]),
        "--role-arn",
        ROLE,
        "--input",
        '{"y": 3}',
        "--inspection-level",
        "DEBUG",
    )
    assert tested["status"] == "SUCCEEDED" and "inspectionData" in tested
    tags = aws_cli(server, "stepfunctions", "list-tags-for-resource", "--resource-arn", machine)
    assert tags["tags"] == [{"key": "via", "value": "cli"}]
    activity = aws_cli(server, "stepfunctions", "create-activity", "--name", "cli-activity")[
        "activityArn"
    ]
    assert (
        aws_cli(server, "stepfunctions", "describe-activity", "--activity-arn", activity)["name"]
        == "cli-activity"
    )
    assert (
        aws_cli(
            server, "stepfunctions", "publish-state-machine-version", "--state-machine-arn", machine
        )["stateMachineVersionArn"]
        == f"{machine}:1"
    )


def test_client_config_is_plain_botocore() -> None:
    assert Config(inject_host_prefix=False).inject_host_prefix is False


def test_server_accepts_the_sync_host_prefix(server: LocalServer) -> None:
    """A client whose sync-<host> resolves (a hosts entry, a proxy) reaches the same API."""
    import http.client
    from urllib.parse import urlsplit

    from botocore.auth import SigV4Auth
    from botocore.awsrequest import AWSRequest
    from botocore.credentials import Credentials

    port = urlsplit(server.url).port
    body = json.dumps({"definition": json.dumps(PASS["States"]["P"]), "input": '{"k": 1}'})
    request = AWSRequest(
        method="POST",
        url=f"http://sync-localhost:{port}/",
        data=body,
        headers={
            "Content-Type": "application/x-amz-json-1.0",
            "X-Amz-Target": "AWSStepFunctions.TestState",
        },
    )
    SigV4Auth(Credentials("test", "test"), "states", "us-east-1").add_auth(request)
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    conn.request("POST", "/", body=body, headers=dict(request.headers.items()))
    response = conn.getresponse()
    answer = json.loads(response.read())
    assert response.status == 200, answer
    assert answer["status"] == "SUCCEEDED" and json.loads(answer["output"]) == {"k": 1}
