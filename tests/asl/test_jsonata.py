"""JSONata states: AWS's documented examples, its added functions, errors and their causes."""

from __future__ import annotations

import re
from typing import Any

import pytest
from sfn_helpers import FAIL, PASSTHROUGH, chain, engine_run

from localaws.asl.jsonata import Expression, QueryEvaluationError
from localaws.asl.validate import validate_definition


def jsonata(definition: dict[str, Any]) -> dict[str, Any]:
    """The definition with QueryLanguage JSONata at the top, validated as at creation."""
    definition = {"QueryLanguage": "JSONata", **definition}
    validate_definition(definition)
    return definition


def run(definition: dict[str, Any], input: Any = None):
    return engine_run(jsonata(definition), input)


def test_aws_conversion_example_arguments() -> None:
    # "Transforming data with JSONata": the JSONPath Parameters converted to Arguments; with
    # input {"title": "Doctor"} and customerName = "María" both give the same result.
    done = run(
        chain(
            ("Name", {"Type": "Pass", "Assign": {"customerName": "María"}}),
            (
                "Greet",
                {
                    "Type": "Task",
                    "Resource": PASSTHROUGH,
                    "Arguments": {
                        "static": "Hello",
                        "title": "{% $states.input.title %}",
                        "name": "{% $customerName %}",
                        "not-evaluated": "$customerName",
                    },
                },
            ),
        ),
        {"title": "Doctor"},
    )
    assert done.status == "SUCCEEDED", done.outcome
    assert done.output == {
        "static": "Hello",
        "title": "Doctor",
        "name": "María",
        "not-evaluated": "$customerName",
    }


def test_jsonpath_original_of_the_conversion_example_gives_the_same() -> None:
    definition = chain(
        ("Name", {"Type": "Pass", "Assign": {"customerName": "María"}}),
        (
            "Greet",
            {
                "Type": "Task",
                "Resource": PASSTHROUGH,
                "Parameters": {
                    "static": "Hello",
                    "title.$": "$.title",
                    "name.$": "$customerName",
                    "not-evaluated": "$customerName",
                },
            },
        ),
    )
    validate_definition(definition)
    done = engine_run(definition, {"title": "Doctor"})
    assert done.output == {
        "static": "Hello",
        "title": "Doctor",
        "name": "María",
        "not-evaluated": "$customerName",
    }


def test_task_output_defaults_to_result_and_output_reads_it() -> None:
    done = run(
        chain(
            ("Call", {"Type": "Task", "Resource": PASSTHROUGH, "Arguments": {"n": 2}}),
            (
                "Shape",
                {
                    "Type": "Task",
                    "Resource": PASSTHROUGH,
                    "Arguments": {"n": "{% $states.input.n * 10 %}"},
                    "Output": {"got": "{% $states.result.n %}", "was": "{% $states.input %}"},
                },
            ),
        )
    )
    assert done.output == {"got": 20, "was": {"n": 2}}


def test_pass_output_whole_expression_and_context() -> None:
    done = run(
        chain(
            (
                "P",
                {
                    "Type": "Pass",
                    "Output": "{% {'sum': $sum($states.input.xs), 'state': "
                    "$states.context.State.Name, 'run': $states.context.Execution.Name} %}",
                },
            )
        ),
        {"xs": [1, 2, 3.5]},
    )
    assert done.output == {"sum": 6.5, "state": "P", "run": "run"}


@pytest.mark.parametrize(
    ("expression", "expected"),
    [
        # AWS's functions, with the examples the developer guide gives
        ("$partition([1, 2, 3, 4, 5, 6, 7, 8, 9], 3)", [[1, 2, 3], [4, 5, 6], [7, 8, 9]]),
        ("$partition([1, 2, 3, 4], 3)", [[1, 2, 3], [4]]),
        ("$range(0, 10, 2)", [0, 2, 4, 6, 8, 10]),
        ("$range(5, 1, -2)", [5, 3, 1]),
        (
            "$hash('abc', 'SHA-256')",  # FIPS 180-2 test vector
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad",
        ),
        ("$hash('abc', 'MD5')", "900150983cd24fb0d6963f7d28e17f72"),  # RFC 1321 test vector
        ("$parse('{\"a\": [1, null, true]}')", {"a": [1, None, True]}),
        ("$random(42) = $random(42)", True),
        ("$random() >= 0 and $random() < 1", True),
        ("$string(1.0)", "1"),
        ("$states.input.missing = null", False),
    ],
)
def test_functions(expression: str, expected: Any) -> None:
    done = run(chain(("P", {"Type": "Pass", "Output": {"v": "{% " + expression + " %}"}})))
    assert done.status == "SUCCEEDED", done.outcome
    assert done.output == {"v": expected}


def test_uuid_is_version_4() -> None:
    done = run(chain(("P", {"Type": "Pass", "Output": "{% $uuid() %}"})))
    assert re.fullmatch(
        r"[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}", done.output
    )


def test_undefined_result_is_query_evaluation_error_with_aws_cause() -> None:
    # Recorded on AWS: "An error occurred while executing the state 'Run S3 Data Push'
    # (entered at the event id #6). The JSONata expression '$states.input.pushLocation'
    # specified for the field 'Arguments/Input/pushLocation' returned nothing (undefined)."
    done = run(
        chain(
            (
                "Run S3 Data Push",
                {
                    "Type": "Task",
                    "Resource": PASSTHROUGH,
                    "Arguments": {"Input": {"pushLocation": "{% $states.input.pushLocation %}"}},
                },
            )
        ),
        {"other": 1},
    )
    assert done.status == "FAILED"
    assert done.outcome.error == "States.QueryEvaluationError"
    assert done.outcome.cause == (
        "An error occurred while executing the state 'Run S3 Data Push' (entered at the event "
        "id #2). The JSONata expression '$states.input.pushLocation' specified for the field "
        "'Arguments/Input/pushLocation' returned nothing (undefined)."
    )
    [failed] = done.details("EvaluationFailed")
    assert failed["location"] == "Arguments/Input/pushLocation"
    assert failed["state"] == "Run S3 Data Push"
    assert failed["error"] == "States.QueryEvaluationError"


def test_evaluation_error_names_jsonata_error() -> None:
    done = run(chain(("P", {"Type": "Pass", "Output": "{% 'a' + 1 %}"})))
    assert done.outcome.error == "States.QueryEvaluationError"
    assert "specified for the field 'Output' threw an error during evaluation" in str(
        done.outcome.cause
    )
    assert "T2001" in str(done.outcome.cause)


def test_eval_is_not_available() -> None:
    done = run(chain(("P", {"Type": "Pass", "Output": "{% $eval('1 + 1') %}"})))
    assert done.outcome.error == "States.QueryEvaluationError"
    assert "use $parse" in str(done.outcome.cause)


def test_query_evaluation_error_can_be_caught_and_error_output_is_the_default() -> None:
    done = run(
        chain(
            (
                "P",
                {
                    "Type": "Task",
                    "Resource": PASSTHROUGH,
                    "Output": "{% $states.input.nope %}",
                    "Catch": [{"ErrorEquals": ["States.QueryEvaluationError"], "Next": "Caught"}],
                },
            ),
            ("Caught", {"Type": "Pass"}),
        )
    )
    assert done.status == "SUCCEEDED"
    assert done.output["Error"] == "States.QueryEvaluationError"
    assert "returned nothing (undefined)" in done.output["Cause"]


def test_catch_output_and_assign_read_error_output() -> None:
    done = run(
        chain(
            (
                "Boom",
                {
                    "Type": "Task",
                    "Resource": FAIL,
                    "Arguments": {"Error": "My.Error", "Cause": "bad"},
                    "Catch": [
                        {
                            "ErrorEquals": ["States.ALL"],
                            "Assign": {"lastError": "{% $states.errorOutput.Error %}"},
                            "Output": {
                                "cause": "{% $states.errorOutput.Cause %}",
                                "input": "{% $states.input %}",
                            },
                            "Next": "After",
                        }
                    ],
                },
            ),
            (
                "After",
                {"Type": "Pass", "Output": {"v": "{% $lastError %}", "o": "{% $states.input %}"}},
            ),
        ),
        {"k": 1},
    )
    assert done.output == {"v": "My.Error", "o": {"cause": "bad", "input": {"k": 1}}}


@pytest.mark.parametrize(
    ("value", "expected"), [(7, "Big"), (1, "Small"), ("x", "Other")], ids=["big", "small", "other"]
)
def test_choice_conditions(value: Any, expected: str) -> None:
    definition = {
        "StartAt": "C",
        "States": {
            "C": {
                "Type": "Choice",
                "Choices": [
                    {
                        "Condition": "{% $type($states.input.v) = 'number' and $states.input.v > 5 %}",
                        "Next": "Big",
                        "Output": {"rule": 1},
                    },
                    {"Condition": "{% $type($states.input.v) = 'number' %}", "Next": "Small"},
                ],
                "Default": "Other",
            },
            "Big": {
                "Type": "Pass",
                "Output": {"went": "Big", "in": "{% $states.input %}"},
                "End": True,
            },
            "Small": {"Type": "Pass", "Output": {"went": "Small"}, "End": True},
            "Other": {"Type": "Pass", "Output": {"went": "Other"}, "End": True},
        },
    }
    done = run(definition, {"v": value})
    assert done.output["went"] == expected
    if expected == "Big":
        assert done.output["in"] == {"rule": 1}  # the matched rule's Output


def test_choice_condition_must_be_boolean() -> None:
    definition = {
        "StartAt": "C",
        "States": {
            "C": {
                "Type": "Choice",
                "Choices": [{"Condition": "{% 'yes' %}", "Next": "D"}],
                "Default": "D",
            },
            "D": {"Type": "Succeed"},
        },
    }
    done = run(definition)
    assert done.outcome.error == "States.QueryEvaluationError"
    assert "Expected a boolean" in str(done.outcome.cause)


def test_wait_seconds_and_timestamp_expressions() -> None:
    done = run(
        chain(
            ("W1", {"Type": "Wait", "Seconds": "{% $states.input.s %}"}),
            ("W2", {"Type": "Wait", "Timestamp": "{% $states.input.t %}", "Output": {"ok": True}}),
        ),
        {"s": 0, "t": "2016-03-14T01:59:00Z"},
    )
    assert done.status == "SUCCEEDED", done.outcome
    assert done.output == {"ok": True}


def test_fail_error_and_cause_expressions() -> None:
    done = run(
        chain(
            (
                "F",
                {
                    "Type": "Fail",
                    "Error": "{% 'Order.' & $states.input.code %}",
                    "Cause": "{% 'order ' & $string($states.input.id) & ' rejected' %}",
                },
            )
        ),
        {"code": "Rejected", "id": 7},
    )
    assert (done.outcome.error, done.outcome.cause) == ("Order.Rejected", "order 7 rejected")


def test_map_items_item_selector_and_output() -> None:
    definition = {
        "StartAt": "M",
        "States": {
            "M": {
                "Type": "Map",
                "Items": "{% $states.input.orders %}",
                "ItemSelector": {
                    "id": "{% $states.context.Map.Item.Value.id %}",
                    "index": "{% $states.context.Map.Item.Index %}",
                    "currency": "{% $states.input.currency %}",
                },
                "MaxConcurrency": "{% 2 %}",
                "ItemProcessor": {
                    "StartAt": "Price",
                    "States": {
                        "Price": {
                            "Type": "Pass",
                            "Output": "{% $states.input.currency & ':' & $string($states.input.id) %}",
                            "End": True,
                        }
                    },
                },
                "Output": {"labels": "{% $states.result %}", "n": "{% $count($states.result) %}"},
                "End": True,
            }
        },
    }
    done = run(definition, {"orders": [{"id": 1}, {"id": 2}], "currency": "EUR"})
    assert done.output == {"labels": ["EUR:1", "EUR:2"], "n": 2}


def test_map_items_must_be_an_array() -> None:
    definition = {
        "StartAt": "M",
        "States": {
            "M": {
                "Type": "Map",
                "Items": "{% $states.input.one %}",
                "ItemProcessor": {"StartAt": "P", "States": {"P": {"Type": "Pass", "End": True}}},
                "End": True,
            }
        },
    }
    done = run(definition, {"one": {"a": 1}})
    assert done.outcome.error == "States.QueryEvaluationError"


def test_parallel_arguments_and_result() -> None:
    def branch(name: str) -> dict[str, Any]:
        output = {"Type": "Pass", "Output": "{% $states.input.x * 2 %}", "End": True}
        return {"StartAt": name, "States": {name: output}}

    definition = {
        "StartAt": "P",
        "States": {
            "P": {
                "Type": "Parallel",
                "Arguments": {"x": "{% $states.input.base + 1 %}"},
                "Branches": [branch("B1"), branch("B2")],
                "Output": "{% $sum($states.result) %}",
                "End": True,
            }
        },
    }
    assert run(definition, {"base": 4}).output == 20


def test_task_timeout_expression() -> None:
    done = run(
        chain(
            (
                "T",
                {
                    "Type": "Task",
                    "Resource": PASSTHROUGH,
                    "TimeoutSeconds": "{% $states.input.limit %}",
                    "Arguments": {"a": 1},
                },
            )
        ),
        {"limit": 30},
    )
    assert done.status == "SUCCEEDED"
    [scheduled] = done.details("TaskScheduled")
    assert scheduled["timeoutInSeconds"] == 30


def test_jsonpath_and_jsonata_states_mix_in_one_machine() -> None:
    definition = chain(
        ("Path", {"Type": "Pass", "Parameters": {"a.$": "$.in"}}),
        (
            "Ata",
            {
                "Type": "Pass",
                "QueryLanguage": "JSONata",
                "Output": {"b": "{% $states.input.a + 1 %}"},
            },
        ),
        ("Path2", {"Type": "Pass", "OutputPath": "$.b"}),
    )
    validate_definition(definition)
    assert engine_run(definition, {"in": 1}).output == 2


# -- the direct lookup agrees with the interpreter ------------------------------------

BINDINGS = {
    "states": {
        "input": {
            "a": {"b": {"c": 1}},
            "nothing": None,
            "list": [1, 2],
            "one": [5],
            "empty": [],
            "objs": [{"k": 1}, {"k": [2, 3]}],
            "s": "text",
            "zero": 0,
            "f": False,
        }
    },
    "myVar": {"nested": {"v": "x"}, "items": [{"id": 1}]},
}


def _outcome(expression: Expression) -> Any:
    try:
        return expression.evaluate(BINDINGS, "Output")
    except QueryEvaluationError as e:
        return ("error", e.cause)


@pytest.mark.parametrize(
    "expression",
    [
        "$states.input",
        "$states.input.a",
        "$states.input.a.b.c",
        "$states.input.nothing",
        "$states.input.list",
        "$states.input.one",
        "$states.input.empty",
        "$states.input.objs.k",
        "$states.input.s",
        "$states.input.s.x",
        "$states.input.zero",
        "$states.input.f",
        "$myVar.nested.v",
        "$myVar.items.id",
        "$myVar",
        "$states.input.a.b.c + 1",
        "$states.input.a.b.c * 2.5 - 1",
        "$states.input.zero / 4",
        "7 / 2",
        "8 / 4",
        "-7 % 3",
        "7 % 3",
        "1 / 0",
        "$states.input.s + 1",
        "$states.input.missing + 1",
        "$states.input.nothing + 1",
        "$states.input.s & '!'",
        "$states.input.zero & 'x'",
        "$states.input.s = 'text'",
        "$states.input.zero = '0'",
        "$states.input.f = false",
        "$states.input.list = 1",
        "$states.input.missing = 1",
        "$states.input.zero != 1",
        "$states.input.zero < 1",
        "'a' < 'b'",
        "$states.input.s > 1",
        "$states.input.f and true",
        "$states.input.zero and true",
        "$states.input.zero > -1 or $states.input.missing",
        "9007199254740991 + 2",
    ],
)
def test_direct_lookup_matches_interpreter(expression: str) -> None:
    text = "{% " + expression + " %}"
    direct = Expression(text)
    assert direct.fast is not None, "not compiled: the test would prove nothing"
    interpreted = Expression(text)
    interpreted.fast = None
    assert _outcome(direct) == _outcome(interpreted)


def test_states_handed_on_whole_includes_the_context() -> None:
    done = run(chain(("P", {"Type": "Pass", "Output": "{% $join($keys($states), ',') %}"})))
    assert done.output == "input,context"
