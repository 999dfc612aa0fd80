"""Each state type's evaluation, run through the engine, with the history it records."""

from __future__ import annotations

from typing import Any

import pytest
from sfn_helpers import CALLBACK, FAIL, PASSTHROUGH, SLEEP, chain, engine_run, wait_for

from localaws.asl.engine import TaskTokens


def test_pass_chain_result_and_paths() -> None:
    definition = chain(
        ("A", {"Type": "Pass", "Result": {"x": 1}, "ResultPath": "$.r"}),
        (
            "B",
            {
                "Type": "Pass",
                "InputPath": "$.r",
                "Parameters": {"y.$": "$.x", "name.$": "$$.State.Name"},
            },
        ),
        ("C", {"Type": "Pass", "ResultPath": None, "OutputPath": "$.y"}),
    )
    r = engine_run(definition, {"keep": True})
    assert r.status == "SUCCEEDED"
    assert r.output == 1
    assert r.types() == [
        "ExecutionStarted",
        "PassStateEntered",
        "PassStateExited",
        "PassStateEntered",
        "PassStateExited",
        "PassStateEntered",
        "PassStateExited",
        "ExecutionSucceeded",
    ]
    entered = r.details("PassStateEntered")
    assert [d["name"] for d in entered] == ["A", "B", "C"]
    assert entered[1]["input"] == '{"keep":true,"r":{"x":1}}'


def test_history_ids_chain_through_previous_event_id() -> None:
    r = engine_run(chain(("A", {"Type": "Pass"}), ("B", {"Type": "Pass"})))
    r.run.flush()
    events = sorted(r.events)
    assert [e[0] for e in events] == list(range(1, len(events) + 1))
    assert [e[1] for e in events] == list(range(0, len(events)))


def test_context_object_fields() -> None:
    r = engine_run(
        chain(
            (
                "A",
                {
                    "Type": "Pass",
                    "Parameters": {
                        "id.$": "$$.Execution.Id",
                        "input.$": "$$.Execution.Input",
                        "machine.$": "$$.StateMachine.Name",
                        "retry.$": "$$.State.RetryCount",
                    },
                },
            ),
        ),
        {"k": "v"},
    )
    assert r.output == {
        "id": "arn:aws:states:us-east-1:123456789012:execution:test:run",
        "input": {"k": "v"},
        "machine": "test",
        "retry": 0,
    }


@pytest.mark.parametrize(
    ("value", "expected"),
    [(5, "big"), (1, "small"), ("x", "default")],
    ids=["first-rule", "second-rule", "default"],
)
def test_choice_follows_first_matching_rule(value: object, expected: str) -> None:
    definition = {
        "StartAt": "C",
        "States": {
            "C": {
                "Type": "Choice",
                "Choices": [
                    {"Variable": "$.v", "NumericGreaterThan": 3, "Next": "big"},
                    {"Variable": "$.v", "NumericLessThanEquals": 3, "Next": "small"},
                ],
                "Default": "default",
            },
            "big": {"Type": "Pass", "Result": "big", "End": True},
            "small": {"Type": "Pass", "Result": "small", "End": True},
            "default": {"Type": "Pass", "Result": "default", "End": True},
        },
    }
    r = engine_run(definition, {"v": value})
    assert r.output == expected
    assert r.types()[1:3] == ["ChoiceStateEntered", "ChoiceStateExited"]


def test_choice_without_match_or_default_fails() -> None:
    definition = {
        "StartAt": "C",
        "States": {
            "C": {
                "Type": "Choice",
                "Choices": [{"Variable": "$.v", "IsPresent": True, "Next": "D"}],
            },
            "D": {"Type": "Succeed"},
        },
    }
    r = engine_run(definition, {})
    assert (r.status, r.outcome.error) == ("FAILED", "States.NoChoiceMatched")


@pytest.mark.parametrize(
    "wait",
    [
        {"Seconds": 0},
        {"SecondsPath": "$.s"},
        {"Timestamp": "2016-03-14T01:59:00Z"},
        {"TimestampPath": "$.t"},
    ],
    ids=["Seconds", "SecondsPath", "Timestamp", "TimestampPath"],
)
def test_wait_forms(wait: dict[str, object]) -> None:
    r = engine_run(chain(("W", {"Type": "Wait", **wait})), {"s": 0, "t": "2020-01-01T00:00:00Z"})
    assert r.status == "SUCCEEDED"
    assert r.types()[1:3] == ["WaitStateEntered", "WaitStateExited"]


def test_wait_really_waits() -> None:
    r = engine_run(chain(("W", {"Type": "Wait", "Seconds": 1})))
    assert r.status == "SUCCEEDED"
    (entered,), (exited,) = r.times("WaitStateEntered"), r.times("WaitStateExited")
    assert exited - entered >= 1


def test_succeed_ends_and_applies_paths() -> None:
    definition = {
        "StartAt": "S",
        "States": {
            "S": {"Type": "Succeed", "InputPath": "$.a"},
            "Never": {"Type": "Pass", "End": True},
        },
    }
    r = engine_run(definition, {"a": [1]})
    assert r.output == [1]
    assert r.types() == [
        "ExecutionStarted",
        "SucceedStateEntered",
        "SucceedStateExited",
        "ExecutionSucceeded",
    ]


@pytest.mark.parametrize(
    ("fail", "error", "cause"),
    [
        ({"Error": "E", "Cause": "because"}, "E", "because"),
        ({"ErrorPath": "$.e", "CausePath": "$.c"}, "FromInput", "cause text"),
    ],
    ids=["static", "paths"],
)
def test_fail_state(fail: dict[str, str], error: str, cause: str) -> None:
    r = engine_run(
        {"StartAt": "F", "States": {"F": {"Type": "Fail", **fail}}},
        {"e": "FromInput", "c": "cause text"},
    )
    assert (r.status, r.outcome.error, r.outcome.cause) == ("FAILED", error, cause)
    assert r.types() == ["ExecutionStarted", "FailStateEntered", "ExecutionFailed"]
    assert r.details("ExecutionFailed") == [{"error": error, "cause": cause}]


def test_task_history_events() -> None:
    r = engine_run(
        chain(
            (
                "T",
                {
                    "Type": "Task",
                    "Resource": PASSTHROUGH,
                    "Parameters": {"v.$": "$.v"},
                    "ResultPath": "$.r",
                },
            )
        ),
        {"v": 7},
    )
    assert r.output == {"v": 7, "r": {"v": 7}}
    assert r.types() == [
        "ExecutionStarted",
        "TaskStateEntered",
        "TaskScheduled",
        "TaskStarted",
        "TaskSucceeded",
        "TaskStateExited",
        "ExecutionSucceeded",
    ]
    (scheduled,) = r.details("TaskScheduled")
    assert scheduled == {
        "resourceType": "local",
        "resource": "passthrough",
        "region": "us-east-1",
        "parameters": '{"v":7}',
    }


def test_task_result_selector() -> None:
    r = engine_run(
        chain(
            (
                "T",
                {
                    "Type": "Task",
                    "Resource": PASSTHROUGH,
                    "Parameters": {"a": {"b": 1}},
                    "ResultSelector": {"picked.$": "$.a.b"},
                },
            )
        )
    )
    assert r.output == {"picked": 1}


def test_parallel_outputs_in_branch_order() -> None:
    definition = chain(
        (
            "P",
            {
                "Type": "Parallel",
                "Branches": [
                    {
                        "StartAt": "Slow",
                        "States": {
                            "Slow": {"Type": "Wait", "Seconds": 0, "Next": "One"},
                            "One": {"Type": "Pass", "Result": 1, "End": True},
                        },
                    },
                    {
                        "StartAt": "Two",
                        "States": {"Two": {"Type": "Pass", "Result": 2, "End": True}},
                    },
                ],
            },
        )
    )
    r = engine_run(definition)
    assert r.output == [1, 2]
    types = r.types()
    assert types[:3] == ["ExecutionStarted", "ParallelStateEntered", "ParallelStateStarted"]
    assert types[-3:] == ["ParallelStateSucceeded", "ParallelStateExited", "ExecutionSucceeded"]


def test_parallel_branch_failure_fails_the_state_with_its_error() -> None:
    definition = chain(
        (
            "P",
            {
                "Type": "Parallel",
                "Branches": [
                    {
                        "StartAt": "Long",
                        "States": {
                            "Long": {
                                "Type": "Task",
                                "Resource": SLEEP,
                                "Parameters": {"Seconds": 30},
                                "End": True,
                            }
                        },
                    },
                    {
                        "StartAt": "Boom",
                        "States": {"Boom": {"Type": "Fail", "Error": "Boom", "Cause": "c"}},
                    },
                ],
            },
        )
    )
    r = engine_run(definition)
    assert (r.status, r.outcome.error, r.outcome.cause) == ("FAILED", "Boom", "c")
    assert "ParallelStateFailed" in r.types()
    assert "TaskStateAborted" in r.types()


def _map(**fields: Any) -> dict[str, object]:
    processor = fields.pop(
        "processor", {"StartAt": "P", "States": {"P": {"Type": "Pass", "End": True}}}
    )
    return chain(
        (
            "M",
            {
                "Type": "Map",
                "ItemProcessor": {"ProcessorConfig": {"Mode": "INLINE"}, **processor},
                **fields,
            },
        )
    )


def test_map_items_path_and_item_selector() -> None:
    definition = _map(
        ItemsPath="$.items",
        ItemSelector={
            "index.$": "$$.Map.Item.Index",
            "value.$": "$$.Map.Item.Value",
            "shared.$": "$.shared",
        },
    )
    r = engine_run(definition, {"items": ["a", "b"], "shared": 1})
    assert r.output == [
        {"index": 0, "value": "a", "shared": 1},
        {"index": 1, "value": "b", "shared": 1},
    ]
    types = r.types()
    assert types[:3] == ["ExecutionStarted", "MapStateEntered", "MapStateStarted"]
    assert types.count("MapIterationStarted") == 2 and types.count("MapIterationSucceeded") == 2
    assert r.details("MapStateStarted") == [{"length": 2}]
    assert sorted(d["index"] for d in r.details("MapIterationStarted")) == [0, 1]


def test_map_legacy_iterator_and_parameters() -> None:
    definition = chain(
        (
            "M",
            {
                "Type": "Map",
                "Iterator": {"StartAt": "P", "States": {"P": {"Type": "Pass", "End": True}}},
                "Parameters": {"v.$": "$$.Map.Item.Value"},
                "ResultPath": "$.out",
            },
        )
    )
    r = (
        engine_run(definition, [1, 2])
        if False
        else engine_run(
            {**definition, "States": {"M": {**definition["States"]["M"], "ItemsPath": "$.xs"}}},
            {"xs": [1, 2]},
        )
    )
    assert r.output == {"xs": [1, 2], "out": [{"v": 1}, {"v": 2}]}


def test_map_empty_array() -> None:
    assert engine_run(_map(), []).output == []


def test_map_items_path_must_be_an_array() -> None:
    r = engine_run(_map(ItemsPath="$.x"), {"x": 1})
    assert (r.status, r.outcome.error) == ("FAILED", "States.Runtime")
    assert "expected an array" in str(r.outcome.cause)


# Each iteration waits for its task token, so the test decides when iterations end.
_CALLBACK_PROCESSOR = {
    "StartAt": "S",
    "States": {
        "S": {
            "Type": "Task",
            "Resource": CALLBACK,
            "Parameters": {"token.$": "$$.Task.Token", "item.$": "$"},
            "End": True,
        }
    },
}


def test_map_max_concurrency_runs_iterations_at_once() -> None:
    tokens = TaskTokens()
    definition = _map(processor=_CALLBACK_PROCESSOR, MaxConcurrency=4)
    r = engine_run(definition, [1, 2, 3, 4], tokens=tokens, background=True)
    # All four wait for their token at the same time: none has been answered yet.
    wait_for(lambda: r.types().count("TaskSubmitted") == 4, what="four iterations waiting")
    for token in r.tokens():
        tokens.succeed(token, {"done": True})
    r.join()
    assert r.status == "SUCCEEDED"
    assert r.output == [{"done": True}] * 4


def test_map_max_concurrency_one_runs_iterations_in_turn() -> None:
    tokens = TaskTokens()
    definition = _map(processor=_CALLBACK_PROCESSOR, MaxConcurrency=1)
    r = engine_run(definition, [1, 2, 3, 4], tokens=tokens, background=True)
    for i in range(4):
        wait_for(lambda i=i: r.types().count("TaskSubmitted") > i, what=f"iteration {i}")
        tokens.succeed(r.tokens()[i], i)
    r.join()
    assert (r.status, r.output) == ("SUCCEEDED", [0, 1, 2, 3])
    # Each iteration's task was scheduled only after the previous one succeeded.
    tasks = [t for t in r.types() if t in ("TaskScheduled", "TaskSucceeded")]
    assert tasks == ["TaskScheduled", "TaskSucceeded"] * 4


def test_map_iteration_failure_aborts_the_others() -> None:
    processor = {
        "StartAt": "C",
        "States": {
            "C": {
                "Type": "Choice",
                "Choices": [{"Variable": "$", "NumericEquals": 0, "Next": "Pause"}],
                "Default": "Slow",
            },
            "Pause": {
                "Type": "Task",
                "Resource": SLEEP,
                "Parameters": {"Seconds": 0.2},
                "Next": "Bad",
            },
            "Bad": {
                "Type": "Task",
                "Resource": FAIL,
                "Parameters": {"Error": "Item.Bad", "Cause": "zero"},
                "End": True,
            },
            "Slow": {"Type": "Task", "Resource": SLEEP, "Parameters": {"Seconds": 30}, "End": True},
        },
    }
    r = engine_run(_map(processor=processor), [0, 1, 2])
    assert (r.status, r.outcome.error, r.outcome.cause) == ("FAILED", "Item.Bad", "zero")
    types = r.types()
    assert (
        "MapIterationFailed" in types
        and "MapIterationAborted" in types
        and "MapStateFailed" in types
    )


@pytest.mark.parametrize(
    ("tolerance", "status", "error"),
    [
        ({"ToleratedFailureCount": 1}, "SUCCEEDED", None),
        ({"ToleratedFailureCount": 0}, "FAILED", "States.ExceedToleratedFailureThreshold"),
        ({"ToleratedFailurePercentage": 50}, "SUCCEEDED", None),
        ({"ToleratedFailurePercentage": 10}, "FAILED", "States.ExceedToleratedFailureThreshold"),
    ],
    ids=["count-ok", "count-exceeded", "percentage-ok", "percentage-exceeded"],
)
def test_map_tolerated_failures(tolerance: dict[str, int], status: str, error: str | None) -> None:
    processor = {
        "StartAt": "C",
        "States": {
            "C": {
                "Type": "Choice",
                "Choices": [{"Variable": "$", "NumericEquals": 0, "Next": "Bad"}],
                "Default": "Ok",
            },
            "Bad": {"Type": "Fail", "Error": "Item.Bad"},
            "Ok": {"Type": "Pass", "End": True},
        },
    }
    r = engine_run(_map(processor=processor, MaxConcurrency=1, **tolerance), [0, 1, 2])
    assert (r.status, r.outcome.error) == (status, error)
    if status == "SUCCEEDED":
        assert r.output == [{"Error": "Item.Bad", "Cause": ""}, 1, 2]


def test_nested_map_in_parallel() -> None:
    inner = {
        "StartAt": "P",
        "States": {
            "P": {
                "Type": "Pass",
                "Parameters": {"doubled.$": "States.MathAdd($.v, $.v)"},
                "End": True,
            }
        },
    }
    definition = chain(
        (
            "Par",
            {
                "Type": "Parallel",
                "Branches": [
                    {
                        "StartAt": "M",
                        "States": {
                            "M": {
                                "Type": "Map",
                                "ItemSelector": {"v.$": "$$.Map.Item.Value"},
                                "ItemProcessor": inner,
                                "End": True,
                            }
                        },
                    },
                    {"StartAt": "Q", "States": {"Q": {"Type": "Pass", "Result": "q", "End": True}}},
                ],
            },
        )
    )
    r = engine_run(definition, [1, 2, 3])
    assert r.output == [[{"doubled": 2}, {"doubled": 4}, {"doubled": 6}], "q"]
