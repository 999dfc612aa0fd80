"""Step Functions over HTTP: boto3 and the Data Science SDK against the local server."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any

import botocore.exceptions
import pytest
from conftest import ROLE
from server_shapes import assert_output_shape

PASS_CHAIN = {
    "StartAt": "First",
    "States": {
        "First": {"Type": "Pass", "Result": {"x": 1}, "ResultPath": "$.first", "Next": "Second"},
        "Second": {"Type": "Pass", "End": True},
    },
}
WAITING = {"StartAt": "Wait", "States": {"Wait": {"Type": "Wait", "Seconds": 60, "End": True}}}


def call(client: Any, operation: str, **params: Any) -> dict[str, Any]:
    """Call the operation and check the response against botocore's output shape."""
    from botocore import xform_name

    response = getattr(client, xform_name(operation))(**params)
    assert_output_shape(client, operation, response)
    return response  # type: ignore[no-any-return]


def wait_done(sfn: Any, arn: str, timeout: float = 20) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        desc = call(sfn, "DescribeExecution", executionArn=arn)
        if desc["status"] != "RUNNING":
            return desc
        assert time.monotonic() < deadline, f"{arn} still running"
        time.sleep(0.05)


def test_state_machine_lifecycle_and_execution(client: Callable[..., Any]) -> None:
    sfn = client("stepfunctions")
    created = call(
        sfn, "CreateStateMachine", name="lifecycle", definition=json.dumps(PASS_CHAIN), roleArn=ROLE
    )
    arn = created["stateMachineArn"]
    assert arn == "arn:aws:states:us-east-1:123456789012:stateMachine:lifecycle"
    described = call(sfn, "DescribeStateMachine", stateMachineArn=arn)
    assert json.loads(described["definition"]) == PASS_CHAIN
    assert described["status"] == "ACTIVE"
    listed = call(sfn, "ListStateMachines")
    assert arn in [m["stateMachineArn"] for m in listed["stateMachines"]]

    started = call(sfn, "StartExecution", stateMachineArn=arn, name="run-1", input='{"a": 1}')
    desc = wait_done(sfn, started["executionArn"])
    assert desc["status"] == "SUCCEEDED"
    assert json.loads(desc["output"]) == {"a": 1, "first": {"x": 1}}

    history = call(sfn, "GetExecutionHistory", executionArn=started["executionArn"])
    types = [e["type"] for e in history["events"]]
    assert types[0] == "ExecutionStarted" and types[-1] == "ExecutionSucceeded"
    assert types.count("PassStateExited") == 2
    executions = call(sfn, "ListExecutions", stateMachineArn=arn)
    assert [e["name"] for e in executions["executions"]] == ["run-1"]

    call(sfn, "UpdateStateMachine", stateMachineArn=arn, definition=json.dumps(WAITING))
    call(sfn, "DeleteStateMachine", stateMachineArn=arn)


def test_stop_execution(client: Callable[..., Any]) -> None:
    sfn = client("stepfunctions")
    arn = sfn.create_state_machine(name="waiting", definition=json.dumps(WAITING), roleArn=ROLE)[
        "stateMachineArn"
    ]
    started = sfn.start_execution(stateMachineArn=arn)
    assert (
        call(sfn, "DescribeExecution", executionArn=started["executionArn"])["status"] == "RUNNING"
    )
    stopped = call(
        sfn, "StopExecution", executionArn=started["executionArn"], error="Test", cause="stopped"
    )
    assert stopped["stopDate"]
    desc = wait_done(sfn, started["executionArn"])
    assert (desc["status"], desc.get("error"), desc.get("cause")) == ("ABORTED", "Test", "stopped")


@pytest.mark.parametrize(
    ("operation", "params", "code"),
    [
        (
            "describe_state_machine",
            {"stateMachineArn": "arn:aws:states:us-east-1:123456789012:stateMachine:nope"},
            "StateMachineDoesNotExist",
        ),
        (
            "start_execution",
            {"stateMachineArn": "arn:aws:states:us-east-1:123456789012:stateMachine:nope"},
            "StateMachineDoesNotExist",
        ),
        (
            "describe_execution",
            {"executionArn": "arn:aws:states:us-east-1:123456789012:execution:nope:x"},
            "ExecutionDoesNotExist",
        ),
        (
            "create_state_machine",
            {"name": "bad", "definition": '{"StartAt": "Missing", "States": {}}', "roleArn": ROLE},
            "InvalidDefinition",
        ),
        ("describe_state_machine", {"stateMachineArn": "not-an-arn"}, "InvalidArn"),
    ],
    ids=[
        "unknown-machine",
        "start-unknown-machine",
        "unknown-execution",
        "bad-definition",
        "bad-arn",
    ],
)
def test_error_codes(
    client: Callable[..., Any], operation: str, params: dict[str, Any], code: str
) -> None:
    sfn = client("stepfunctions")
    with pytest.raises(botocore.exceptions.ClientError) as caught:
        getattr(sfn, operation)(**params)
    error = caught.value.response["Error"]
    assert error["Code"] == code
    assert error["Message"]
    assert caught.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400
    assert getattr(sfn.exceptions, code, None) is None or isinstance(
        caught.value, getattr(sfn.exceptions, code)
    )


def test_execution_already_exists(client: Callable[..., Any]) -> None:
    sfn = client("stepfunctions")
    arn = sfn.create_state_machine(name="dupes", definition=json.dumps(PASS_CHAIN), roleArn=ROLE)[
        "stateMachineArn"
    ]
    sfn.start_execution(stateMachineArn=arn, name="same", input="{}")
    with pytest.raises(sfn.exceptions.ExecutionAlreadyExists):
        sfn.start_execution(stateMachineArn=arn, name="same", input='{"other": true}')


def test_data_science_sdk_workflow(client: Callable[..., Any], restore_root_logger: None) -> None:
    from stepfunctions.steps import Chain, Choice, ChoiceRule, Pass
    from stepfunctions.workflow import Workflow

    high = Pass("High", result={"label": "high"}, result_path="$.verdict")
    low = Pass("Low", result={"label": "low"}, result_path="$.verdict")
    decide = Choice("Decide")
    decide.add_choice(ChoiceRule.NumericGreaterThan(variable="$.value", value=10), next_step=high)
    decide.default_choice(low)
    definition = Chain([Pass("Start"), decide])

    sfn = client("stepfunctions")
    workflow = Workflow("sdk-choice", definition=definition, role=ROLE, client=sfn)
    arn = workflow.create()
    assert arn.endswith(":stateMachine:sdk-choice")

    execution = workflow.execute(inputs={"value": 42})
    assert execution.get_output(wait=True) == {"value": 42, "verdict": {"label": "high"}}
    events = execution.list_events()
    assert events[0]["type"] == "ExecutionStarted"
    assert "ChoiceStateEntered" in {e["type"] for e in events}
    assert [
        e["stateEnteredEventDetails"]["name"] for e in events if "stateEnteredEventDetails" in e
    ] == [
        "Start",
        "Decide",
        "High",
    ]

    low_run = workflow.execute(inputs={"value": 1})
    assert low_run.get_output(wait=True)["verdict"] == {"label": "low"}
    assert {e.execution_arn for e in workflow.list_executions()} >= {
        execution.execution_arn,
        low_run.execution_arn,
    }
    attached = Workflow.attach(arn, client=sfn)
    assert json.loads(attached.definition.to_json()) == json.loads(workflow.definition.to_json())
