"""Workflow variables: Assign in both query languages, evaluation order, scope, limits,
history events and redrive."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sfn_helpers import (
    CALLBACK,
    FAIL,
    PASSTHROUGH,
    chain,
    create,
    engine_run,
    history,
    open_backend,
    wait_for,
)

from localaws.asl.validate import validate_definition
from localaws.asl.variables import MAX_VARIABLE_BYTES
from localaws.stepfunctions.backend import StepFunctionsBackend


def run(definition: dict[str, Any], input: Any = None, *, language: str = "JSONPath"):
    definition = {"QueryLanguage": language, **definition}
    validate_definition(definition)
    return engine_run(definition, input)


@pytest.fixture
def sfn(tmp_path: Path) -> Iterator[StepFunctionsBackend]:
    yield from open_backend(tmp_path)


def test_assignments_of_one_state_see_the_old_values() -> None:
    # AWS: all the assignments in one Assign block (and the state's Output) are evaluated
    # with the variables' values from before the state; swapping two variables works.
    done = run(
        chain(
            ("Init", {"Type": "Pass", "Assign": {"x": 1, "y": 2}}),
            (
                "Swap",
                {
                    "Type": "Pass",
                    "Assign": {"x": "{% $y %}", "y": "{% $x %}", "z": "{% $x + $y %}"},
                    "Output": {"x": "{% $x %}", "y": "{% $y %}"},
                },
            ),
            (
                "Read",
                {
                    "Type": "Pass",
                    "Output": {
                        "before": "{% $states.input %}",
                        "x": "{% $x %}",
                        "y": "{% $y %}",
                        "z": "{% $z %}",
                    },
                },
            ),
        ),
        language="JSONata",
    )
    assert done.output == {"before": {"x": 1, "y": 2}, "x": 2, "y": 1, "z": 3}


def test_jsonpath_assign_reads_the_result_and_variables() -> None:
    done = run(
        chain(
            ("Init", {"Type": "Pass", "Assign": {"factor": 10, "label.$": "$.name"}}),
            (
                "Call",
                {
                    "Type": "Task",
                    "Resource": PASSTHROUGH,
                    "Parameters": {"price": 4, "qty.$": "$.qty"},
                    "ResultSelector": {"total.$": "States.MathAdd($.price, $.qty)"},
                    # $ is the result after ResultSelector; $$ the context; $name a variable
                    "Assign": {
                        "total.$": "$.total",
                        "state.$": "$$.State.Name",
                        "again.$": "$label",
                    },
                    "ResultPath": None,
                },
            ),
            (
                "Read",
                {
                    "Type": "Pass",
                    "Parameters": {
                        "total.$": "$total",
                        "state.$": "$state",
                        "again.$": "$again",
                        "factor.$": "$factor",
                        "qtyFromInput.$": "$.qty",
                    },
                },
            ),
        ),
        {"name": "widget", "qty": 3},
    )
    assert done.status == "SUCCEEDED", done.outcome
    assert done.output == {
        "total": 7,
        "state": "Call",
        "again": "widget",
        "factor": 10,
        "qtyFromInput": 3,
    }


def test_jsonata_task_assigns_from_states_result() -> None:
    done = run(
        chain(
            (
                "Call",
                {
                    "Type": "Task",
                    "Resource": PASSTHROUGH,
                    "Arguments": {"id": "{% $states.input.id %}", "status": "ok"},
                    "Assign": {"lastStatus": "{% $states.result.status %}"},
                    "Output": "{% $states.input %}",
                },
            ),
            (
                "Read",
                {"Type": "Pass", "Output": {"s": "{% $lastStatus %}", "in": "{% $states.input %}"}},
            ),
        ),
        {"id": 9},
        language="JSONata",
    )
    assert done.output == {"s": "ok", "in": {"id": 9}}


def test_catch_assign_reads_the_error_output_jsonpath() -> None:
    done = run(
        chain(
            (
                "Boom",
                {
                    "Type": "Task",
                    "Resource": FAIL,
                    "Parameters": {"Error": "Bad.Thing", "Cause": "because"},
                    "Assign": {"never": 1},
                    "Catch": [
                        {
                            "ErrorEquals": ["States.ALL"],
                            "Assign": {"err.$": "$.Error", "why.$": "$.Cause"},
                            "ResultPath": "$.failure",
                            "Next": "Read",
                        }
                    ],
                },
            ),
            (
                "Read",
                {"Type": "Pass", "Parameters": {"err.$": "$err", "why.$": "$why", "in.$": "$"}},
            ),
        ),
        {"a": 1},
    )
    assert done.output == {
        "err": "Bad.Thing",
        "why": "because",
        "in": {"a": 1, "failure": {"Error": "Bad.Thing", "Cause": "because"}},
    }


def test_choice_rule_and_state_assign() -> None:
    definition = {
        "StartAt": "C",
        "States": {
            "C": {
                "Type": "Choice",
                "Choices": [
                    {
                        "Variable": "$.n",
                        "NumericGreaterThan": 5,
                        "Assign": {"size": "big"},
                        "Next": "Done",
                    }
                ],
                "Default": "Done",
                "Assign": {"size": "small"},
            },
            "Done": {"Type": "Pass", "Parameters": {"size.$": "$size"}, "End": True},
        },
    }
    assert run(definition, {"n": 9}).output == {"size": "big"}
    assert run(definition, {"n": 1}).output == {"size": "small"}


def test_outer_variables_are_read_in_parallel_branches_and_map_iterations() -> None:
    def branch(name: str) -> dict[str, Any]:
        return {
            "StartAt": name,
            "States": {
                name: {
                    "Type": "Pass",
                    "Assign": {"inner": "{% $outer & '-' & $states.context.State.Name %}"},
                    "Next": name + "Read",
                },
                name + "Read": {"Type": "Pass", "Output": "{% $inner %}", "End": True},
            },
        }

    done = run(
        chain(
            ("Set", {"Type": "Pass", "Assign": {"outer": "o"}}),
            ("P", {"Type": "Parallel", "Branches": [branch("A"), branch("B")]}),
            (
                "M",
                {
                    "Type": "Map",
                    "Items": [1, 2],
                    "Assign": {"fromMap": "{% $states.result %}"},
                    "ItemProcessor": {
                        "StartAt": "I",
                        "States": {
                            "I": {
                                "Type": "Pass",
                                "Output": "{% $outer & $string($states.input) %}",
                                "End": True,
                            }
                        },
                    },
                    "Output": {"branches": "{% $states.input %}"},
                },
            ),
            (
                "After",
                {
                    "Type": "Pass",
                    "Output": {
                        "branches": "{% $states.input.branches %}",
                        "map": "{% $fromMap %}",
                        "innerVisible": "{% $exists($inner) %}",
                    },
                },
            ),
        ),
        language="JSONata",
    )
    assert done.status == "SUCCEEDED", done.outcome
    assert done.output == {"branches": ["o-A", "o-B"], "map": ["o1", "o2"], "innerVisible": False}


def test_inner_variable_is_not_visible_outside_jsonpath() -> None:
    definition = chain(
        (
            "P",
            {
                "Type": "Parallel",
                "Branches": [
                    {
                        "StartAt": "B",
                        "States": {"B": {"Type": "Pass", "Assign": {"inner": 1}, "End": True}},
                    }
                ],
            },
        ),
        ("Read", {"Type": "Pass", "Parameters": {"v.$": "$inner"}}),
    )
    done = run(definition)
    assert done.outcome.error == "States.Runtime"
    assert "the variable 'inner' is not assigned" in str(done.outcome.cause)


def test_assigned_variables_in_state_exited_events() -> None:
    done = run(
        chain(
            ("A", {"Type": "Pass", "Assign": {"n": 1, "obj": {"k": [1, "x"]}, "s": "text"}}),
            ("B", {"Type": "Pass"}),
        )
    )
    [a_exit, b_exit] = done.details("PassStateExited")
    assert a_exit["assignedVariables"] == {"n": "1", "obj": '{"k":[1,"x"]}', "s": '"text"'}
    assert a_exit["assignedVariablesDetails"] == {"truncated": False}
    assert "assignedVariables" not in b_exit


def test_variable_over_256_kib_is_data_limit_exceeded_and_not_caught_by_all() -> None:
    big = "x" * MAX_VARIABLE_BYTES
    definition = chain(
        (
            "Big",
            {
                "Type": "Task",
                "Resource": PASSTHROUGH,
                "Parameters": {"v": big},
                "Assign": {"huge.$": "$.v"},
                "Catch": [{"ErrorEquals": ["States.ALL"], "Next": "Caught"}],
            },
        ),
        ("Caught", {"Type": "Succeed"}),
    )
    done = run(definition)
    assert done.outcome.error == "States.DataLimitExceeded"
    assert "holds at most 262144 bytes" in str(done.outcome.cause)


def test_unassigned_variable_in_jsonata_is_undefined() -> None:
    done = run(chain(("P", {"Type": "Pass", "Output": "{% $nope %}"})), language="JSONata")
    assert done.outcome.error == "States.QueryEvaluationError"
    assert "returned nothing (undefined)" in str(done.outcome.cause)


def test_redrive_restores_variables(sfn: StepFunctionsBackend) -> None:
    definition = chain(
        ("Set", {"Type": "Pass", "Assign": {"runId": "r-1", "count": 1}}),
        (
            "Flaky",
            {
                "Type": "Task",
                "Resource": CALLBACK,
                "Parameters": {"token.$": "$$.Task.Token"},
                "Assign": {"count": 2},
                "ResultPath": None,
            },
        ),
        ("Read", {"Type": "Pass", "Parameters": {"runId.$": "$runId", "count.$": "$count"}}),
    )
    arn = create(sfn, definition)
    ex = sfn.start_execution(stateMachineArn=arn, input="{}")["executionArn"]

    def token(n: int) -> str:
        def find() -> str | None:
            tokens = [
                json.loads(e["taskScheduledEventDetails"]["parameters"])["token"]
                for e in history(sfn, ex)
                if e["type"] == "TaskScheduled"
            ]
            return tokens[n] if len(tokens) > n else None

        return wait_for(find, what=f"token {n}")

    sfn.send_task_failure(taskToken=token(0), error="Flaky.Error", cause="first try")
    assert sfn.wait(ex, timeout=10)["status"] == "FAILED"
    sfn.redrive_execution(executionArn=ex)
    sfn.send_task_success(taskToken=token(1), output="{}")
    done = sfn.wait(ex, timeout=10)
    assert done["status"] == "SUCCEEDED", done
    assert json.loads(done["output"]) == {"runId": "r-1", "count": 2}
    exits = [e for e in history(sfn, ex) if e["type"] == "TaskStateExited"]
    assert exits[-1]["stateExitedEventDetails"]["assignedVariables"] == {"count": "2"}


def test_assign_block_and_execution_limits() -> None:
    from localaws.asl.errors import StateFailure
    from localaws.asl.variables import MAX_TOTAL_BYTES, Variables

    scope = Variables()
    half = "x" * (MAX_VARIABLE_BYTES // 2)
    with pytest.raises(StateFailure) as e:
        scope.assign({"a": half, "b": half})  # each fits; together over 256 KiB
    assert e.value.error == "States.DataLimitExceeded"
    assert "one Assign sets at most 262144 bytes" in e.value.cause
    assert scope.values == {}  # nothing assigned by a refused Assign
    chunk = "y" * (MAX_VARIABLE_BYTES - 10)
    for i in range(MAX_TOTAL_BYTES // MAX_VARIABLE_BYTES - 1):
        scope.assign({f"v{i}": chunk})
    inner = scope.child()  # the enclosing scope's bytes count in a branch too
    inner.assign({"last": chunk})
    with pytest.raises(StateFailure) as e:
        inner.assign({"more": chunk})
    assert "the limit is 10485760 bytes" in e.value.cause
    scope.assign({"v0": "small"})  # replacing a variable frees its bytes
    assert scope.get("v0") == "small"


def test_history_detail_members_are_botocores(sfn: StepFunctionsBackend) -> None:
    import botocore.session

    from localaws.asl.history import DETAILS_MEMBER

    model = botocore.session.get_session().get_service_model("stepfunctions")
    definition = {
        "QueryLanguage": "JSONata",
        **chain(
            ("Set", {"Type": "Pass", "Assign": {"x": {"a": 1}}}),
            ("Boom", {"Type": "Pass", "Output": "{% $states.input.missing %}"}),
        ),
    }
    arn = create(sfn, definition)
    ex = sfn.start_execution(stateMachineArn=arn, input="{}")["executionArn"]
    assert sfn.wait(ex, timeout=10)["status"] == "FAILED"
    events = history(sfn, ex)
    types = [e["type"] for e in events]
    assert "EvaluationFailed" in types
    for event in events:
        member = DETAILS_MEMBER[event["type"]]
        if member is None:
            continue
        shape = model.shape_for("HistoryEvent").members[member]
        assert set(event[member]) <= set(shape.members), (event["type"], event[member])
    [exited] = [e for e in events if e["type"] == "PassStateExited"]
    assert exited["stateExitedEventDetails"]["assignedVariables"] == {"x": '{"a":1}'}


def test_item_selector_path_failure_names_the_map_state() -> None:
    definition = chain(
        (
            "M",
            {
                "Type": "Map",
                "ItemSelector": {"v.$": "$missing.x"},
                "ItemProcessor": {"StartAt": "P", "States": {"P": {"Type": "Pass", "End": True}}},
            },
        )
    )
    done = run(definition, [1])
    assert done.outcome.error == "States.Runtime"
    assert str(done.outcome.cause).startswith(
        "An error occurred while executing the state 'M' (entered at the event id #2). "
        "The JSONPath '$missing.x' specified for the field 'v.$' could not be found"
    )
