"""The Step Functions API: request/response shapes, errors, persistence, redrive, callbacks."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import botocore.session
import pytest
from sfn_helpers import (
    CALLBACK,
    FAIL,
    PASSTHROUGH,
    ROLE,
    SLEEP,
    chain,
    create,
    execute,
    history,
    open_backend,
    registry,
    wait_for,
)

from localaws.asl.history import DETAILS_MEMBER, EventType
from localaws.errors import ServiceError
from localaws.runtime import Runtime
from localaws.stepfunctions.backend import StepFunctionsBackend

MODEL = botocore.session.get_session().get_service_model("stepfunctions")
PASS = chain(("A", {"Type": "Pass"}))


@pytest.fixture
def sfn(tmp_path: Path) -> Iterator[StepFunctionsBackend]:
    yield from open_backend(tmp_path)


def members(shape: str) -> set[str]:
    return set(MODEL.shape_for(shape).members)


def error_code(fn: Any, **kwargs: Any) -> str:
    with pytest.raises(ServiceError) as e:
        fn(**kwargs)
    return e.value.code


def test_history_event_types_and_detail_members_are_botocores() -> None:
    event = MODEL.shape_for("HistoryEvent")
    assert {t.value for t in EventType} <= set(event.members["type"].enum)
    for member in DETAILS_MEMBER.values():
        assert member is None or member in event.members


def test_create_describe_list_update_delete(sfn: StepFunctionsBackend) -> None:
    created = sfn.create_state_machine(name="m1", definition=json.dumps(PASS), roleArn=ROLE)
    assert set(created) <= members("CreateStateMachineOutput")
    arn = created["stateMachineArn"]
    assert arn == "arn:aws:states:us-east-1:123456789012:stateMachine:m1"
    assert created["creationDate"].tzinfo is not None
    described = sfn.describe_state_machine(stateMachineArn=arn)
    assert set(described) <= members("DescribeStateMachineOutput")
    assert (described["name"], described["type"], described["status"]) == (
        "m1",
        "STANDARD",
        "ACTIVE",
    )
    # idempotent create with the same definition, refused with another
    assert (
        sfn.create_state_machine(name="m1", definition=json.dumps(PASS), roleArn=ROLE)[
            "stateMachineArn"
        ]
        == arn
    )
    other = json.dumps(chain(("B", {"Type": "Pass"})))
    assert (
        error_code(sfn.create_state_machine, name="m1", definition=other, roleArn=ROLE)
        == "StateMachineAlreadyExists"
    )
    updated = sfn.update_state_machine(stateMachineArn=arn, definition=other)
    assert isinstance(updated["updateDate"], datetime)
    assert sfn.describe_state_machine(stateMachineArn=arn)["definition"] == other
    create(sfn, PASS, "m2")
    page = sfn.list_state_machines(maxResults=1)
    assert [m["name"] for m in page["stateMachines"]] == ["m1"]
    rest = sfn.list_state_machines(nextToken=page["nextToken"])
    assert [m["name"] for m in rest["stateMachines"]] == ["m2"] and "nextToken" not in rest
    sfn.delete_state_machine(stateMachineArn=arn)
    assert error_code(sfn.describe_state_machine, stateMachineArn=arn) == "StateMachineDoesNotExist"


@pytest.mark.parametrize(
    ("kwargs", "code"),
    [
        ({"name": "bad name"}, "InvalidName"),
        ({"name": "x" * 81}, "InvalidName"),
        ({"definition": "{not json"}, "InvalidDefinition"),
        (
            {
                "definition": json.dumps(
                    {"StartAt": "Nope", "States": {"A": {"Type": "Pass", "End": True}}}
                )
            },
            "InvalidDefinition",
        ),
        (
            {
                "definition": json.dumps(
                    chain(("T", {"Type": "Task", "Resource": "arn:aws:states:::nosuch:thing"}))
                )
            },
            "InvalidDefinition",
        ),
        ({"roleArn": "not-a-role"}, "InvalidArn"),
        ({"type": "FAST"}, "ValidationException"),
    ],
    ids=[
        "space-in-name",
        "long-name",
        "not-json",
        "bad-start",
        "unknown-resource",
        "bad-role",
        "bad-type",
    ],
)
def test_create_state_machine_refusals(
    sfn: StepFunctionsBackend, kwargs: dict[str, Any], code: str
) -> None:
    request = {"name": "m", "definition": json.dumps(PASS), "roleArn": ROLE, **kwargs}
    assert error_code(sfn.create_state_machine, **request) == code


def test_invalid_definition_message_names_the_state(sfn: StepFunctionsBackend) -> None:
    definition = {"StartAt": "A", "States": {"A": {"Type": "Pass", "Next": "Trian"}}}
    with pytest.raises(ServiceError) as e:
        create(sfn, definition)
    assert e.value.code == "InvalidDefinition"
    assert "/States/A/Next" in e.value.message


def test_execution_shapes(sfn: StepFunctionsBackend) -> None:
    arn = create(sfn, PASS)
    started = sfn.start_execution(stateMachineArn=arn, name="e1", input='{"a": 1}')
    assert set(started) == members("StartExecutionOutput")
    assert started["executionArn"] == "arn:aws:states:us-east-1:123456789012:execution:machine:e1"
    done = sfn.wait(started["executionArn"], timeout=10)
    assert set(done) <= members("DescribeExecutionOutput")
    assert done["status"] == "SUCCEEDED"
    assert json.loads(done["output"]) == {"a": 1}
    assert done["stopDate"] >= done["startDate"]
    assert (done["redriveStatus"], done["redriveCount"]) == ("NOT_REDRIVABLE", 0)
    events = history(sfn, started["executionArn"])
    for event in events:
        assert set(event) <= members("HistoryEvent")
    assert [e["type"] for e in events] == [
        "ExecutionStarted",
        "PassStateEntered",
        "PassStateExited",
        "ExecutionSucceeded",
    ]
    listed = sfn.list_executions(stateMachineArn=arn)["executions"]
    assert set(listed[0]) <= members("ExecutionListItem")


def test_start_execution_refusals(sfn: StepFunctionsBackend) -> None:
    arn = create(sfn, chain(("W", {"Type": "Wait", "Seconds": 30})))
    assert (
        error_code(sfn.start_execution, stateMachineArn=arn, input="{bad")
        == "InvalidExecutionInput"
    )
    assert error_code(sfn.start_execution, stateMachineArn=arn, name="a/b") == "InvalidName"
    assert error_code(sfn.start_execution, stateMachineArn="nope") == "InvalidArn"
    missing = arn.replace(":machine", ":other")
    assert error_code(sfn.start_execution, stateMachineArn=missing) == "StateMachineDoesNotExist"
    first = sfn.start_execution(stateMachineArn=arn, name="same", input='{"x": 1}')
    # AWS: an identical-input start of a running execution returns the same execution
    again = sfn.start_execution(stateMachineArn=arn, name="same", input='{"x": 1}')
    assert again == first
    assert (
        error_code(sfn.start_execution, stateMachineArn=arn, name="same", input='{"x": 2}')
        == "ExecutionAlreadyExists"
    )
    sfn.stop_execution(executionArn=first["executionArn"])
    assert (
        error_code(sfn.start_execution, stateMachineArn=arn, name="same", input='{"x": 1}')
        == "ExecutionAlreadyExists"
    )
    assert (
        error_code(sfn.describe_execution, executionArn=first["executionArn"] + "x")
        == "ExecutionDoesNotExist"
    )


def test_start_execution_holds_no_backend_lock_across_the_database_write(
    sfn: StepFunctionsBackend,
) -> None:
    """A StartExecution waiting for the database (another writer holds it) must not block
    the API calls that only need the backend's in-memory state, nor other starts' checks."""
    import threading

    arn = create(sfn, chain(("W", {"Type": "Wait", "Seconds": 30})))
    finished = sfn.start_execution(stateMachineArn=create(sfn, PASS, "quick"), name="q")
    sfn.wait(finished["executionArn"], timeout=10)
    results: dict[str, Any] = {}

    def start(key: str, name: str, input: str) -> None:
        try:
            results[key] = sfn.start_execution(stateMachineArn=arn, name=name, input=input)
        except ServiceError as e:
            results[key] = e.code

    with sfn.db._write_lock:  # another writer is in the middle of a transaction
        writer = threading.Thread(target=start, args=("first", "e", "{}"))
        writer.start()
        execution = arn.replace(":stateMachine:", ":execution:") + ":e"
        wait_for(lambda: sfn.runner.active(execution), what="the start to reserve its ARN")
        # the backend lock is free: these return while the INSERT still waits
        others = [
            threading.Thread(target=start, args=("same", "e", "{}")),
            threading.Thread(target=start, args=("different", "e", '{"x": 1}')),
            threading.Thread(
                target=lambda: results.setdefault(
                    "history", sfn.get_execution_history(executionArn=finished["executionArn"])
                )
            ),
        ]
        for thread in others:
            thread.start()
        for thread in others:
            thread.join(10)
        assert not any(t.is_alive() for t in others)
        assert "first" not in results
    writer.join(10)
    assert results["first"]["executionArn"] == execution
    assert results["same"] == results["first"]
    assert results["different"] == "ExecutionAlreadyExists"
    assert results["history"]["events"]
    assert sfn.describe_execution(executionArn=execution)["status"] == "RUNNING"
    sfn.stop_execution(executionArn=execution)
    assert sfn.describe_execution(executionArn=execution)["status"] == "ABORTED"


def test_list_executions_filter_and_pages(sfn: StepFunctionsBackend) -> None:
    arn = create(
        sfn,
        {
            "StartAt": "C",
            "States": {
                "C": {
                    "Type": "Choice",
                    "Choices": [{"Variable": "$.ok", "BooleanEquals": True, "Next": "Y"}],
                    "Default": "N",
                },
                "Y": {"Type": "Succeed"},
                "N": {"Type": "Fail", "Error": "No"},
            },
        },
    )
    for i, ok in enumerate([True, False, True]):
        ex = sfn.start_execution(stateMachineArn=arn, name=f"e{i}", input=json.dumps({"ok": ok}))
        sfn.wait(ex["executionArn"], timeout=10)
    failed = sfn.list_executions(stateMachineArn=arn, statusFilter="FAILED")["executions"]
    assert [e["name"] for e in failed] == ["e1"]
    page = sfn.list_executions(stateMachineArn=arn, maxResults=2)
    rest = sfn.list_executions(stateMachineArn=arn, maxResults=2, nextToken=page["nextToken"])
    assert len(page["executions"]) == 2 and len(rest["executions"]) == 1
    assert (
        error_code(sfn.list_executions, stateMachineArn=arn, statusFilter="DONE")
        == "ValidationException"
    )
    assert (
        error_code(sfn.list_executions, stateMachineArn=arn, nextToken="garbage!") == "InvalidToken"
    )


def test_history_paging_reverse_and_execution_data(sfn: StepFunctionsBackend) -> None:
    done = execute(sfn, chain(("A", {"Type": "Pass"}), ("B", {"Type": "Pass"})), {"secret": 1})
    arn = done["executionArn"]
    first = sfn.get_execution_history(executionArn=arn, maxResults=2)
    assert [e["id"] for e in first["events"]] == [1, 2]
    second = sfn.get_execution_history(executionArn=arn, maxResults=2, nextToken=first["nextToken"])
    assert [e["id"] for e in second["events"]] == [3, 4]
    reverse = sfn.get_execution_history(executionArn=arn, reverseOrder=True)["events"]
    assert reverse[0]["type"] == "ExecutionSucceeded" and reverse[-1]["type"] == "ExecutionStarted"
    quiet = sfn.get_execution_history(executionArn=arn, includeExecutionData=False)["events"]
    assert "input" not in quiet[0]["executionStartedEventDetails"]
    assert quiet[1]["stateEnteredEventDetails"]["name"] == "A"


def test_stop_execution_aborts_running_task(sfn: StepFunctionsBackend) -> None:
    arn = create(
        sfn, chain(("T", {"Type": "Task", "Resource": SLEEP, "Parameters": {"Seconds": 60}}))
    )
    ex = sfn.start_execution(stateMachineArn=arn)["executionArn"]
    wait_for(lambda: any(e["type"] == "TaskStarted" for e in history(sfn, ex)), what="TaskStarted")
    stopped = sfn.stop_execution(executionArn=ex, error="Stop.Requested", cause="test")
    assert isinstance(stopped["stopDate"], datetime)
    described = sfn.describe_execution(executionArn=ex)
    assert (described["status"], described["error"], described["cause"]) == (
        "ABORTED",
        "Stop.Requested",
        "test",
    )
    assert described["redriveStatus"] == "REDRIVABLE"
    assert [e["type"] for e in history(sfn, ex)][-2:] == ["TaskStateAborted", "ExecutionAborted"]


def test_callback_through_the_api(sfn: StepFunctionsBackend) -> None:
    arn = create(
        sfn,
        chain(
            (
                "T",
                {"Type": "Task", "Resource": CALLBACK, "Parameters": {"token.$": "$$.Task.Token"}},
            )
        ),
    )
    ex = sfn.start_execution(stateMachineArn=arn)["executionArn"]

    def token() -> str | None:
        for e in history(sfn, ex):
            if e["type"] == "TaskScheduled":
                return json.loads(e["taskScheduledEventDetails"]["parameters"])["token"]
        return None

    t = wait_for(token, what="the task token")
    sfn.send_task_heartbeat(taskToken=t)
    assert error_code(sfn.send_task_success, taskToken=t, output="{bad") == "InvalidOutput"
    sfn.send_task_success(taskToken=t, output='{"done": true}')
    assert json.loads(sfn.wait(ex, timeout=10)["output"]) == {"done": True}
    assert error_code(sfn.send_task_failure, taskToken=t, error="E") == "TaskTimedOut"
    assert error_code(sfn.send_task_heartbeat, taskToken="unknown") == "InvalidToken"
    assert error_code(sfn.send_task_success, taskToken="x" * 64, output="{}") == "TaskDoesNotExist"


def test_redrive_resumes_from_the_failed_state(sfn: StepFunctionsBackend) -> None:
    definition = chain(
        (
            "First",
            {
                "Type": "Task",
                "Resource": PASSTHROUGH,
                "Parameters": {"step": 1},
                "ResultPath": "$.first",
            },
        ),
        (
            "Flaky",
            {
                "Type": "Task",
                "Resource": CALLBACK,
                "Parameters": {"token.$": "$$.Task.Token"},
                "ResultPath": "$.flaky",
            },
        ),
        ("Last", {"Type": "Pass"}),
    )
    arn = create(sfn, definition)
    ex = sfn.start_execution(stateMachineArn=arn, input='{"in": 1}')["executionArn"]
    assert error_code(sfn.redrive_execution, executionArn=ex) == "ExecutionNotRedrivable"

    def open_token(n: int) -> str:
        def find() -> str | None:
            tokens = [
                json.loads(e["taskScheduledEventDetails"]["parameters"]).get("token")
                for e in history(sfn, ex)
                if e["type"] == "TaskScheduled"
            ]
            return tokens[n] if len(tokens) > n else None

        return wait_for(find, what=f"token {n}")

    sfn.send_task_failure(taskToken=open_token(1), error="Flaky.Error", cause="first try")
    failed = sfn.wait(ex, timeout=10)
    assert (failed["status"], failed["error"], failed["redriveStatus"]) == (
        "FAILED",
        "Flaky.Error",
        "REDRIVABLE",
    )
    redriven = sfn.redrive_execution(executionArn=ex)
    assert isinstance(redriven["redriveDate"], datetime)
    sfn.send_task_success(taskToken=open_token(2), output='"ok"')
    done = sfn.wait(ex, timeout=10)
    assert done["status"] == "SUCCEEDED"
    assert json.loads(done["output"]) == {"in": 1, "first": {"step": 1}, "flaky": "ok"}
    assert done["redriveCount"] == 1 and "redriveDate" in done
    events = history(sfn, ex)
    types = [e["type"] for e in events]
    assert types.count("ExecutionRedriven") == 1
    after = types[types.index("ExecutionRedriven") :]
    assert after[1] == "TaskStateEntered"
    assert [
        e["stateEnteredEventDetails"]["name"]
        for e in events[types.index("ExecutionRedriven") :]
        if e["type"] == "TaskStateEntered"
    ] == ["Flaky"]
    assert [e["id"] for e in events] == list(range(1, len(events) + 1))
    assert (
        sfn.list_executions(stateMachineArn=arn, redriveFilter="REDRIVEN")["executions"][0][
            "redriveCount"
        ]
        == 1
    )


def test_redrive_map_reruns_only_failed_iterations(sfn: StepFunctionsBackend) -> None:
    processor = {
        "StartAt": "T",
        "States": {
            "T": {
                "Type": "Task",
                "Resource": CALLBACK,
                "Parameters": {"token.$": "$$.Task.Token", "item.$": "$"},
                "End": True,
            }
        },
    }
    definition = chain(("M", {"Type": "Map", "ItemProcessor": processor}))
    arn = create(sfn, definition)
    ex = sfn.start_execution(stateMachineArn=arn, input="[0, 1, 2]")["executionArn"]

    def scheduled() -> list[dict[str, Any]]:
        return [
            json.loads(e["taskScheduledEventDetails"]["parameters"])
            for e in history(sfn, ex)
            if e["type"] == "TaskScheduled"
        ]

    # TaskSubmitted: the task's token is open (TaskScheduled comes before it opens).
    wait_for(
        lambda: [e["type"] for e in history(sfn, ex)].count("TaskSubmitted") == 3,
        what="three tasks waiting for their tokens",
    )
    by_item = {p["item"]: p["token"] for p in scheduled()}
    sfn.send_task_success(taskToken=by_item[0], output='"r0"')
    sfn.send_task_success(taskToken=by_item[2], output='"r2"')
    wait_for(
        lambda: [e["type"] for e in history(sfn, ex)].count("MapIterationSucceeded") == 2,
        what="two iterations recorded as succeeded",
    )
    sfn.send_task_failure(taskToken=by_item[1], error="Item.Failed")
    assert sfn.wait(ex, timeout=10)["status"] == "FAILED"
    sfn.redrive_execution(executionArn=ex)
    wait_for(lambda: len(scheduled()) == 4, what="the rescheduled task")
    retry = scheduled()[3]
    assert retry["item"] == 1
    sfn.send_task_success(taskToken=retry["token"], output='"r1"')
    done = sfn.wait(ex, timeout=10)
    assert json.loads(done["output"]) == ["r0", "r1", "r2"]


def test_not_redrivable_when_succeeded(sfn: StepFunctionsBackend) -> None:
    done = execute(sfn, PASS)
    assert (
        error_code(sfn.redrive_execution, executionArn=done["executionArn"])
        == "ExecutionNotRedrivable"
    )


def test_state_survives_a_new_backend(tmp_path: Any) -> None:
    first = StepFunctionsBackend(Runtime(tmp_path), registry())
    done = execute(
        first, chain(("T", {"Type": "Task", "Resource": FAIL, "Parameters": {"Error": "E"}}))
    )
    first.close()
    second = StepFunctionsBackend(Runtime(tmp_path), registry())
    try:
        again = second.describe_execution(executionArn=done["executionArn"])
        assert (again["status"], again["error"]) == ("FAILED", "E")
        assert [e["type"] for e in history(second, done["executionArn"])][-2:] == [
            "TaskFailed",
            "ExecutionFailed",
        ]
    finally:
        second.close()


def test_close_interrupts_running_executions_which_stay_redrivable(tmp_path: Any) -> None:
    backend = StepFunctionsBackend(Runtime(tmp_path), registry())
    arn = create(
        backend, chain(("W", {"Type": "Wait", "Seconds": 60}), ("After", {"Type": "Pass"}))
    )
    ex = backend.start_execution(stateMachineArn=arn)["executionArn"]
    wait_for(
        lambda: any(e["type"] == "WaitStateEntered" for e in history(backend, ex)),
        what="the Wait state",
    )
    backend.close()
    described = backend.describe_execution(executionArn=ex)
    assert (described["status"], described["error"]) == ("FAILED", "States.Runtime")
    assert described["redriveStatus"] == "REDRIVABLE"


def test_long_pass_chain_records_every_transition(sfn: StepFunctionsBackend) -> None:
    n = 200
    states: dict[str, dict[str, Any]] = {
        f"S{i}": {"Type": "Pass", "Next": f"S{i + 1}"} for i in range(n - 1)
    }
    states[f"S{n - 1}"] = {"Type": "Pass", "End": True}
    arn = create(sfn, {"StartAt": "S0", "States": states})
    # Speed is measured by bench/asl_overhead.py; here, only what a long chain records.
    ex = sfn.start_execution(stateMachineArn=arn, name="run")
    assert sfn.wait(ex["executionArn"], timeout=60)["status"] == "SUCCEEDED"
    assert len(history(sfn, ex["executionArn"])) == 2 * n + 2


def test_thousand_item_map_of_pass_states(sfn: StepFunctionsBackend) -> None:
    definition = chain(
        (
            "M",
            {
                "Type": "Map",
                "ItemProcessor": {"StartAt": "P", "States": {"P": {"Type": "Pass", "End": True}}},
            },
        )
    )
    arn = create(sfn, definition)
    ex = sfn.start_execution(stateMachineArn=arn, input=json.dumps(list(range(1000))))
    done = sfn.wait(ex["executionArn"], timeout=60)
    assert json.loads(done["output"]) == list(range(1000))
