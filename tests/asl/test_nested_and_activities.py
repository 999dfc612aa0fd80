"""states:startExecution (request-response, .sync, .sync:2, .waitForTaskToken) and
activities (CreateActivity ... GetActivityTask, SendTask*), with their history events."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from typing import Any

import pytest
from sfn_helpers import chain, create, history, wait_for

from localaws.asl.integrations import IntegrationRegistry
from localaws.errors import ServiceError
from localaws.runtime import Runtime
from localaws.stepfunctions.backend import StepFunctionsBackend
from localaws.stepfunctions.integrations.activity import ActivityIntegration
from localaws.stepfunctions.integrations.passthrough import PassthroughIntegration
from localaws.stepfunctions.integrations.states import StatesIntegration


@pytest.fixture
def sfn(tmp_path: Any) -> Iterator[StepFunctionsBackend]:
    registry = IntegrationRegistry(
        [PassthroughIntegration(), StatesIntegration(), ActivityIntegration()]
    )
    backend = StepFunctionsBackend(Runtime(tmp_path / "state"), registry)
    yield backend
    backend.close()
    backend.db.close()


def child_machine(sfn: StepFunctionsBackend, fail: bool = False) -> str:
    states: dict[str, Any] = (
        {"Boom": {"Type": "Fail", "Error": "Child.Error", "Cause": "child failed"}}
        if fail
        else {
            "Echo": {"Type": "Pass", "Parameters": {"got.$": "$", "by.$": "$.parent"}, "End": True}
        }
    )
    return create(sfn, {"StartAt": next(iter(states)), "States": states}, name="child")


def run(sfn: StepFunctionsBackend, definition: dict[str, Any], input: Any = None) -> dict[str, Any]:
    arn = create(sfn, definition, name="parent")
    started = sfn.start_execution(stateMachineArn=arn, input=json.dumps(input or {}))
    return sfn.wait(started["executionArn"], timeout=20)


def start_child(child: str, pattern: str = "", **extra: Any) -> dict[str, Any]:
    return {
        "Type": "Task",
        "Resource": f"arn:aws:states:::states:startExecution{pattern}",
        "Parameters": {
            "StateMachineArn": child,
            "Input": {
                "parent.$": "$$.Execution.Id",
                "AWS_STEP_FUNCTIONS_STARTED_BY_EXECUTION_ID.$": "$$.Execution.Id",
            },
            **extra,
        },
    }


def test_start_execution_request_response_returns_arn_and_start_date(
    sfn: StepFunctionsBackend,
) -> None:
    child = child_machine(sfn)
    done = run(sfn, chain(("Start", start_child(child))))
    out = json.loads(done["output"])
    assert set(out) == {"ExecutionArn", "StartDate"}
    assert ":execution:child:" in out["ExecutionArn"]
    assert isinstance(out["StartDate"], int)
    finished = sfn.wait(out["ExecutionArn"], timeout=10)
    assert json.loads(finished["output"])["by"] == done["executionArn"]


def test_sync_returns_describe_execution_with_output_as_string(sfn: StepFunctionsBackend) -> None:
    child = child_machine(sfn)
    done = run(sfn, chain(("Start", start_child(child, ".sync"))))
    assert done["status"] == "SUCCEEDED", done
    out = json.loads(done["output"])
    assert out["Status"] == "SUCCEEDED"
    assert out["StateMachineArn"] == child
    assert isinstance(out["Output"], str)
    assert json.loads(out["Output"])["by"] == done["executionArn"]
    assert out["OutputDetails"] == {"Included": True}
    events = history(sfn, done["executionArn"])
    types = [e["type"] for e in events]
    assert types[:7] == [
        "ExecutionStarted",
        "TaskStateEntered",
        "TaskScheduled",
        "TaskStarted",
        "TaskSubmitted",
        "TaskSucceeded",
        "TaskStateExited",
    ]
    submitted = next(e for e in events if e["type"] == "TaskSubmitted")
    details = submitted["taskSubmittedEventDetails"]
    assert details["resource"] == "startExecution.sync"
    assert json.loads(details["output"])["ExecutionArn"] == out["ExecutionArn"]


def test_sync2_parses_output(sfn: StepFunctionsBackend) -> None:
    child = child_machine(sfn)
    done = run(sfn, chain(("Start", start_child(child, ".sync:2"))))
    out = json.loads(done["output"])
    assert out["Output"]["by"] == done["executionArn"]
    assert out["Input"]["AWS_STEP_FUNCTIONS_STARTED_BY_EXECUTION_ID"] == done["executionArn"]


def test_sync_child_failure_fails_the_task_with_the_description(sfn: StepFunctionsBackend) -> None:
    child = child_machine(sfn, fail=True)
    done = run(sfn, chain(("Start", start_child(child, ".sync"))))
    assert done["status"] == "FAILED"
    assert done["error"] == "States.TaskFailed"
    cause = json.loads(done["cause"])
    assert cause["Status"] == "FAILED" and cause["Error"] == "Child.Error"


def test_wait_for_task_token_child_answers_with_the_token(sfn: StepFunctionsBackend) -> None:
    child = create(
        sfn,
        chain(
            (
                "Answer",
                {
                    "Type": "Task",
                    "Resource": "arn:aws:states:::local:passthrough",
                    "Parameters": {"token.$": "$.token"},
                },
            )
        ),
        name="callback-child",
    )
    parent = create(
        sfn,
        chain(
            (
                "Start",
                {
                    "Type": "Task",
                    "Resource": "arn:aws:states:::states:startExecution.waitForTaskToken",
                    "Parameters": {"StateMachineArn": child, "Input": {"token.$": "$$.Task.Token"}},
                },
            )
        ),
        name="callback-parent",
    )
    started = sfn.start_execution(stateMachineArn=parent)

    def child_token() -> str | None:
        runs = sfn.list_executions(stateMachineArn=child)["executions"]
        if not runs or runs[0]["status"] != "SUCCEEDED":
            return None
        return json.loads(sfn.describe_execution(executionArn=runs[0]["executionArn"])["output"])[
            "token"
        ]

    token = wait_for(child_token, what="the child's output")
    sfn.send_task_success(taskToken=token, output='{"answer": 42}')
    done = sfn.wait(started["executionArn"], timeout=10)
    assert json.loads(done["output"]) == {"answer": 42}


def test_unknown_parameter_is_refused_at_creation(sfn: StepFunctionsBackend) -> None:
    with pytest.raises(ServiceError) as e:
        create(sfn, chain(("Start", start_child("arn:x", Bogus=1))))
    assert "Bogus" in e.value.message


def test_activity_task_round_trip_with_activity_events(sfn: StepFunctionsBackend) -> None:
    activity = sfn.create_activity(name="review")["activityArn"]
    assert sfn.create_activity(name="review")["activityArn"] == activity  # idempotent
    assert sfn.describe_activity(activityArn=activity)["name"] == "review"
    assert [a["activityArn"] for a in sfn.list_activities()["activities"]] == [activity]
    arn = create(
        sfn, chain(("Review", {"Type": "Task", "Resource": activity, "HeartbeatSeconds": 30}))
    )
    started = sfn.start_execution(stateMachineArn=arn, input='{"doc": 7}')
    task = sfn.get_activity_task(activityArn=activity, workerName="worker-1")
    assert json.loads(task["input"]) == {"doc": 7}
    sfn.send_task_heartbeat(taskToken=task["taskToken"])
    sfn.send_task_success(taskToken=task["taskToken"], output='{"approved": true}')
    done = sfn.wait(started["executionArn"], timeout=10)
    assert json.loads(done["output"]) == {"approved": True}
    events = history(sfn, started["executionArn"])
    assert [e["type"] for e in events] == [
        "ExecutionStarted",
        "TaskStateEntered",
        "ActivityScheduled",
        "ActivityStarted",
        "ActivitySucceeded",
        "TaskStateExited",
        "ExecutionSucceeded",
    ]
    assert events[2]["activityScheduledEventDetails"]["resource"] == activity
    assert events[2]["activityScheduledEventDetails"]["heartbeatInSeconds"] == 30
    assert events[3]["activityStartedEventDetails"] == {"workerName": "worker-1"}


def test_activity_failure_and_empty_poll(sfn: StepFunctionsBackend) -> None:
    activity = sfn.create_activity(name="flaky")["activityArn"]
    sfn.activities.long_poll_seconds = 0.2
    assert sfn.get_activity_task(activityArn=activity) == {}
    arn = create(sfn, chain(("Work", {"Type": "Task", "Resource": activity})))
    started = sfn.start_execution(stateMachineArn=arn)
    sfn.activities.long_poll_seconds = 10
    got: list[dict[str, Any]] = []
    poller = threading.Thread(
        target=lambda: got.append(sfn.get_activity_task(activityArn=activity))
    )
    poller.start()
    poller.join(15)
    sfn.send_task_failure(taskToken=got[0]["taskToken"], error="Worker.Crashed", cause="oom")
    done = sfn.wait(started["executionArn"], timeout=10)
    assert (done["status"], done["error"], done["cause"]) == ("FAILED", "Worker.Crashed", "oom")
    failed = [e for e in history(sfn, started["executionArn"]) if e["type"] == "ActivityFailed"]
    assert failed[0]["activityFailedEventDetails"] == {"error": "Worker.Crashed", "cause": "oom"}
    sfn.delete_activity(activityArn=activity)
    with pytest.raises(ServiceError) as e:
        sfn.describe_activity(activityArn=activity)
    assert e.value.code == "ActivityDoesNotExist"
