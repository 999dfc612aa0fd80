"""Definition validation: every invalid definition is refused with the state and field named."""

from __future__ import annotations

import copy
import json

import pytest

from localaws.asl.integrations import IntegrationRegistry, UnknownResource
from localaws.asl.validate import InvalidDefinition, validate_definition
from localaws.errors import UserError


def machine(**states):
    """A definition whose StartAt is the first state given."""
    return {"StartAt": next(iter(states)), "States": states}


PASS_END = {"Type": "Pass", "End": True}
PASS_ARN = "arn:aws:states:::lambda:invoke"
TASK = {"Type": "Task", "Resource": "arn:aws:states:::lambda:invoke", "End": True}

VALID = {
    "Comment": "Every state type, paths, intrinsics, Retry/Catch",
    "StartAt": "Prepare",
    "TimeoutSeconds": 3600,
    "Version": "1.0",
    "States": {
        "Prepare": {
            "Type": "Pass",
            "Parameters": {
                "id.$": "$$.Execution.Id",
                "greeting.$": "States.Format('Hello {}', $.name)",
                "items.$": "$.items[?(@.x > 1)]",
                "static": {"nested.$": "$.a['b'][0]"},
            },
            "ResultPath": "$.prepared",
            "Next": "Decide",
        },
        "Decide": {
            "Type": "Choice",
            "Choices": [
                {
                    "And": [
                        {"Variable": "$.value", "IsNumeric": True},
                        {"Not": {"Variable": "$.value", "NumericLessThanPath": "$.min"}},
                    ],
                    "Next": "Train",
                },
                {
                    "Variable": "$.when",
                    "TimestampLessThan": "2016-03-14T01:59:00Z",
                    "Next": "Pause",
                },
                {"Variable": "$.file", "StringMatches": "*.csv", "Next": "Fan"},
            ],
            "Default": "Bad",
        },
        "Pause": {"Type": "Wait", "SecondsPath": "$.wait", "Next": "Train"},
        "Train": {
            "Type": "Task",
            "Resource": "arn:aws:states:::sagemaker:createTrainingJob.sync",
            "TimeoutSeconds": 600,
            "HeartbeatSeconds": 60,
            "ResultSelector": {"name.$": "$.TrainingJobName"},
            "Retry": [
                {
                    "ErrorEquals": ["SageMaker.ThrottlingException"],
                    "IntervalSeconds": 2,
                    "MaxAttempts": 3,
                    "BackoffRate": 2.0,
                    "MaxDelaySeconds": 30,
                    "JitterStrategy": "FULL",
                },
                {"ErrorEquals": ["States.ALL"]},
            ],
            "Catch": [{"ErrorEquals": ["States.ALL"], "ResultPath": "$.error", "Next": "Bad"}],
            "Next": "Fan",
        },
        "Fan": {
            "Type": "Parallel",
            "Branches": [
                {"StartAt": "B1", "States": {"B1": PASS_END}},
                {"StartAt": "B2", "States": {"B2": {"Type": "Succeed"}}},
            ],
            "Next": "Each",
        },
        "Each": {
            "Type": "Map",
            "ItemsPath": "$.items",
            "ItemSelector": {"item.$": "$$.Map.Item.Value"},
            "MaxConcurrency": 4,
            "ToleratedFailurePercentage": 10,
            "ItemProcessor": {
                "ProcessorConfig": {"Mode": "INLINE"},
                "StartAt": "Inner",
                "States": {"Inner": PASS_END},
            },
            "Next": "Legacy",
        },
        "Legacy": {
            "Type": "Map",
            "Iterator": {"StartAt": "Old", "States": {"Old": PASS_END}},
            "End": True,
        },
        "Bad": {
            "Type": "Fail",
            "ErrorPath": "$.error.Error",
            "CausePath": "States.Format('{}', $.x)",
        },
    },
}


def test_valid_definition_is_returned_parsed():
    assert validate_definition(json.dumps(VALID)) == VALID
    assert validate_definition(VALID) is VALID


def with_state(name, **changes):
    """VALID with one state's fields changed (a value of None removes the field)."""
    d = copy.deepcopy(VALID)
    for key, value in changes.items():
        if value is None:
            d["States"][name].pop(key, None)
        else:
            d["States"][name][key] = value
    return d


INVALID = [
    # (id, definition, location, words in the message)
    (
        "next-typo",
        with_state("Prepare", Next="Decde"),
        "/States/Prepare/Next",
        'no state named "Decde"; did you mean "Decide"?',
    ),
    (
        "startat-missing-state",
        {**machine(A=PASS_END), "StartAt": "Z"},
        "/StartAt",
        'no state named "Z"',
    ),
    ("no-startat", {"States": {"A": PASS_END}}, "/StartAt", "required"),
    ("no-states", {"StartAt": "A"}, "/States", "required"),
    ("empty-states", {"StartAt": "A", "States": {}}, "/States", "non-empty"),
    (
        "unknown-top-field",
        {**machine(A=PASS_END), "Startat": "A"},
        "/Startat",
        'field "Startat" is not allowed',
    ),
    (
        "top-timeout-zero",
        {**machine(A=PASS_END), "TimeoutSeconds": 0},
        "/TimeoutSeconds",
        "integer from 1",
    ),
    ("no-next-or-end", machine(A={"Type": "Pass"}), "/States/A", 'needs "Next"'),
    (
        "next-and-end",
        machine(A={"Type": "Pass", "Next": "A", "End": True}),
        "/States/A/End",
        "either Next or End",
    ),
    ("end-false", machine(A={"Type": "Pass", "End": False}), "/States/A/End", "must be true"),
    ("missing-type", machine(A={"End": True}), "/States/A/Type", "required"),
    (
        "unknown-type",
        machine(A={"Type": "Taks", "End": True}),
        "/States/A/Type",
        'did you mean "Task"?',
    ),
    (
        "pass-retry",
        machine(A={**PASS_END, "Retry": []}),
        "/States/A/Retry",
        'field "Retry" is not allowed in a Pass state',
    ),
    (
        "field-typo",
        machine(A={**PASS_END, "Paramaters": {}}),
        "/States/A/Paramaters",
        'did you mean "Parameters"?',
    ),
    (
        "choice-end",
        with_state("Decide", End=True),
        "/States/Decide/End",
        "not allowed in a Choice state",
    ),
    (
        "choice-default-typo",
        with_state("Decide", Default="Bda"),
        "/States/Decide/Default",
        'no state named "Bda"',
    ),
    ("choice-no-choices", with_state("Decide", Choices=None), "/States/Decide/Choices", "required"),
    (
        "choice-two-operators",
        with_state(
            "Decide",
            Choices=[{"Variable": "$.x", "StringEquals": "a", "NumericEquals": 1, "Next": "Bad"}],
        ),
        "/States/Decide/Choices/0",
        "exactly one comparison operator",
    ),
    (
        "choice-no-operator",
        with_state("Decide", Choices=[{"Variable": "$.x", "Next": "Bad"}]),
        "/States/Decide/Choices/0",
        "found none",
    ),
    (
        "choice-rule-no-next",
        with_state("Decide", Choices=[{"Variable": "$.x", "IsNull": True}]),
        "/States/Decide/Choices/0/Next",
        "required",
    ),
    (
        "choice-nested-next",
        with_state(
            "Decide",
            Choices=[{"Not": {"Variable": "$.x", "IsNull": True, "Next": "Bad"}, "Next": "Bad"}],
        ),
        "/States/Decide/Choices/0/Not/Next",
        "only a top-level",
    ),
    (
        "choice-not-list",
        with_state(
            "Decide", Choices=[{"Not": [{"Variable": "$.x", "IsNull": True}], "Next": "Bad"}]
        ),
        "/States/Decide/Choices/0/Not",
        "one choice rule",
    ),
    (
        "choice-and-empty",
        with_state("Decide", Choices=[{"And": [], "Next": "Bad"}]),
        "/States/Decide/Choices/0/And",
        "non-empty array",
    ),
    (
        "choice-operand-type",
        with_state("Decide", Choices=[{"Variable": "$.x", "NumericEquals": "1", "Next": "Bad"}]),
        "/States/Decide/Choices/0/NumericEquals",
        "must be a number",
    ),
    (
        "choice-bad-timestamp",
        with_state(
            "Decide", Choices=[{"Variable": "$.x", "TimestampEquals": "yesterday", "Next": "Bad"}]
        ),
        "/States/Decide/Choices/0/TimestampEquals",
        "RFC 3339",
    ),
    (
        "choice-no-variable",
        with_state("Decide", Choices=[{"StringEquals": "x", "Next": "Bad"}]),
        "/States/Decide/Choices/0/Variable",
        "required with StringEquals",
    ),
    (
        "choice-bad-variable-path",
        with_state("Decide", Choices=[{"Variable": "x", "IsNull": True, "Next": "Bad"}]),
        "/States/Decide/Choices/0/Variable",
        "must start with '$'",
    ),
    (
        "choice-operator-typo",
        with_state("Decide", Choices=[{"Variable": "$.x", "StringEqual": "x", "Next": "Bad"}]),
        "/States/Decide/Choices/0/StringEqual",
        'did you mean "StringEquals"?',
    ),
    (
        "wait-two-fields",
        with_state("Pause", Seconds=5),
        "/States/Pause",
        "exactly one of Seconds, Timestamp",
    ),
    ("wait-no-field", with_state("Pause", SecondsPath=None), "/States/Pause", "found none"),
    (
        "wait-negative",
        with_state("Pause", SecondsPath=None, Seconds=-1),
        "/States/Pause/Seconds",
        "integer from 0",
    ),
    (
        "wait-bad-timestamp",
        with_state("Pause", SecondsPath=None, Timestamp="2016-03-14 01:59"),
        "/States/Pause/Timestamp",
        "RFC 3339",
    ),
    (
        "wait-seconds-path-not-reference",
        with_state("Pause", SecondsPath="$.a[*]"),
        "/States/Pause/SecondsPath",
        "reference path",
    ),
    (
        "fail-error-and-errorpath",
        with_state("Bad", Error="E"),
        "/States/Bad/ErrorPath",
        "Error and ErrorPath cannot both be set",
    ),
    (
        "fail-causepath-bad-intrinsic",
        with_state("Bad", CausePath="States.Format('{}', $.x"),
        "/States/Bad/CausePath",
        "invalid intrinsic function",
    ),
    (
        "fail-next",
        with_state("Bad", Next="Train"),
        "/States/Bad/Next",
        "not allowed in a Fail state",
    ),
    ("task-no-resource", with_state("Train", Resource=None), "/States/Train/Resource", "required"),
    (
        "task-timeout-and-path",
        with_state("Train", TimeoutSecondsPath="$.t"),
        "/States/Train/TimeoutSecondsPath",
        "cannot both be set",
    ),
    (
        "task-heartbeat-not-below-timeout",
        with_state("Train", HeartbeatSeconds=600),
        "/States/Train/HeartbeatSeconds",
        "smaller than TimeoutSeconds (600)",
    ),
    (
        "task-timeout-zero",
        with_state("Train", TimeoutSeconds=0, HeartbeatSeconds=None),
        "/States/Train/TimeoutSeconds",
        "integer from 1",
    ),
    (
        "retry-empty-errorequals",
        with_state("Train", Retry=[{"ErrorEquals": []}]),
        "/States/Train/Retry/0/ErrorEquals",
        "non-empty array",
    ),
    (
        "retry-all-not-alone",
        with_state("Train", Retry=[{"ErrorEquals": ["States.ALL", "X"]}]),
        "/States/Train/Retry/0/ErrorEquals",
        "States.ALL must appear alone",
    ),
    (
        "retry-all-not-last",
        with_state("Train", Retry=[{"ErrorEquals": ["States.ALL"]}, {"ErrorEquals": ["X"]}]),
        "/States/Train/Retry/0/ErrorEquals",
        "must be the last",
    ),
    (
        "retry-negative-attempts",
        with_state("Train", Retry=[{"ErrorEquals": ["X"], "MaxAttempts": -1}]),
        "/States/Train/Retry/0/MaxAttempts",
        "integer from 0",
    ),
    (
        "retry-backoff-below-one",
        with_state("Train", Retry=[{"ErrorEquals": ["X"], "BackoffRate": 0.5}]),
        "/States/Train/Retry/0/BackoffRate",
        ">= 1.0",
    ),
    (
        "retry-interval-zero",
        with_state("Train", Retry=[{"ErrorEquals": ["X"], "IntervalSeconds": 0}]),
        "/States/Train/Retry/0/IntervalSeconds",
        "integer from 1",
    ),
    (
        "retry-jitter",
        with_state("Train", Retry=[{"ErrorEquals": ["X"], "JitterStrategy": "HALF"}]),
        "/States/Train/Retry/0/JitterStrategy",
        "FULL or NONE",
    ),
    (
        "retry-max-delay-zero",
        with_state("Train", Retry=[{"ErrorEquals": ["X"], "MaxDelaySeconds": 0}]),
        "/States/Train/Retry/0/MaxDelaySeconds",
        "integer from 1",
    ),
    (
        "retry-unknown-field",
        with_state("Train", Retry=[{"ErrorEquals": ["X"], "MaxAttempt": 1}]),
        "/States/Train/Retry/0/MaxAttempt",
        'did you mean "MaxAttempts"?',
    ),
    (
        "retry-unknown-states-error",
        with_state("Train", Retry=[{"ErrorEquals": ["States.Timeot"]}]),
        "/States/Train/Retry/0/ErrorEquals/0",
        'did you mean "States.Timeout"?',
    ),
    (
        "catch-next-typo",
        with_state("Train", Catch=[{"ErrorEquals": ["States.ALL"], "Next": "Bda"}]),
        "/States/Train/Catch/0/Next",
        'no state named "Bda"',
    ),
    (
        "catch-no-next",
        with_state("Train", Catch=[{"ErrorEquals": ["States.ALL"]}]),
        "/States/Train/Catch/0/Next",
        "required",
    ),
    (
        "catch-resultpath-not-reference",
        with_state(
            "Train", Catch=[{"ErrorEquals": ["States.ALL"], "ResultPath": "$.e[*]", "Next": "Bad"}]
        ),
        "/States/Train/Catch/0/ResultPath",
        "reference path",
    ),
    (
        "resultpath-context",
        with_state("Prepare", ResultPath="$$.Execution"),
        "/States/Prepare/ResultPath",
        "not the context object",
    ),
    (
        "inputpath-syntax",
        with_state("Prepare", InputPath="$.a["),
        "/States/Prepare/InputPath",
        "not a valid JSONPath",
    ),
    (
        "parameters-bad-path",
        with_state("Prepare", Parameters={"x.$": "$.a[?(@.b >)]"}),
        "/States/Prepare/Parameters/x.$",
        "not a valid JSONPath",
    ),
    (
        "parameters-not-a-path",
        with_state("Prepare", Parameters={"x.$": "hello"}),
        "/States/Prepare/Parameters/x.$",
        "drop the .$",
    ),
    (
        "parameters-bad-intrinsic",
        with_state("Prepare", Parameters={"nested": {"x.$": "States.Nope()"}}),
        "/States/Prepare/Parameters/nested/x.$",
        "unknown function 'States.Nope'",
    ),
    (
        "parameters-dollar-key-not-string",
        with_state("Prepare", Parameters={"x.$": 5}),
        "/States/Prepare/Parameters/x.$",
        "takes a JSONPath",
    ),
    (
        "result-selector-not-object",
        with_state("Train", ResultSelector=[1]),
        "/States/Train/ResultSelector",
        "must be an object",
    ),
    (
        "parallel-no-branches",
        with_state("Fan", Branches=[]),
        "/States/Fan/Branches",
        "non-empty array",
    ),
    (
        "parallel-branch-next-typo",
        with_state(
            "Fan",
            Branches=[
                {"StartAt": "A", "States": {"A": {"Type": "Pass", "Next": "Bee"}, "Be": PASS_END}}
            ],
        ),
        "/States/Fan/Branches/0/States/A/Next",
        'did you mean "Be"?',
    ),
    (
        "parallel-branch-cannot-leave",
        with_state(
            "Fan", Branches=[{"StartAt": "A", "States": {"A": {"Type": "Pass", "Next": "Train"}}}]
        ),
        "/States/Fan/Branches/0/States/A/Next",
        'no state named "Train"',
    ),
    (
        "parallel-branch-no-startat",
        with_state("Fan", Branches=[{"States": {"A": PASS_END}}]),
        "/States/Fan/Branches/0/StartAt",
        "required",
    ),
    (
        "map-distributed",
        with_state(
            "Each",
            ItemProcessor={
                "ProcessorConfig": {"Mode": "DISTRIBUTED", "ExecutionType": "FAST"},
                "StartAt": "I",
                "States": {"I": PASS_END},
            },
        ),
        "/States/Each/ItemProcessor/ProcessorConfig/ExecutionType",
        "must be STANDARD or EXPRESS",
    ),
    (
        "map-item-reader-inline",
        with_state("Each", ItemReader={"Resource": "arn:aws:states:::s3:getObject"}),
        "/States/Each/ItemReader",
        "only a Distributed Map",
    ),
    (
        "map-both-processors",
        with_state("Each", Iterator={"StartAt": "I2", "States": {"I2": PASS_END}}),
        "/States/Each/Iterator",
        "not both",
    ),
    (
        "map-no-processor",
        with_state("Each", ItemProcessor=None),
        "/States/Each/ItemProcessor",
        "required",
    ),
    (
        "map-negative-concurrency",
        with_state("Each", MaxConcurrency=-1),
        "/States/Each/MaxConcurrency",
        "integer >= 0",
    ),
    (
        "map-percentage-range",
        with_state("Each", ToleratedFailurePercentage=150),
        "/States/Each/ToleratedFailurePercentage",
        "from 0 to 100",
    ),
    (
        "map-negative-count",
        with_state("Each", ToleratedFailureCount=-2),
        "/States/Each/ToleratedFailureCount",
        "integer >= 0",
    ),
    (
        "map-selector-and-parameters",
        with_state("Each", Parameters={"a": 1}),
        "/States/Each/Parameters",
        "cannot both be set",
    ),
    (
        "map-items-path-filter",
        with_state("Each", ItemsPath="$.items[?(@.x)]"),
        "/States/Each/ItemsPath",
        "reference path",
    ),
    (
        "map-inner-next-typo",
        with_state(
            "Each", ItemProcessor={"StartAt": "I", "States": {"I": {"Type": "Pass", "Next": "J"}}}
        ),
        "/States/Each/ItemProcessor/States/I/Next",
        'no state named "J"',
    ),
    (
        "state-name-too-long",
        machine(**{"A" * 81: PASS_END}),
        "/States/" + "A" * 81,
        "the limit is 80",
    ),
    ("unreachable-state", machine(A=PASS_END, B=PASS_END), "/States/B", "not reachable"),
    (
        "duplicate-name-in-branch",
        with_state("Fan", Branches=[{"StartAt": "Train", "States": {"Train": PASS_END}}]),
        "/States/Fan/Branches/0/States/Train",
        "already used at /States/Train",
    ),
    (
        "unknown-query-language",
        {**machine(A=PASS_END), "QueryLanguage": "JMESPath"},
        "/QueryLanguage",
        'must be "JSONPath" or "JSONata"',
    ),
    (
        "jsonpath-state-in-jsonata-machine",
        {**machine(A={**PASS_END, "QueryLanguage": "JSONPath"}), "QueryLanguage": "JSONata"},
        "/States/A/QueryLanguage",
        'a state cannot use "JSONPath"',
    ),
    (
        "jsonata-state-with-parameters",
        machine(A={**PASS_END, "QueryLanguage": "JSONata", "Parameters": {"a": 1}}),
        "/States/A/Parameters",
        'the field "Parameters" is not supported in a JSONata state (QueryLanguage "JSONata"); '
        "use Arguments",
    ),
    (
        "jsonata-machine-with-result-path",
        {
            **machine(A={"Type": "Task", "Resource": PASS_ARN, "ResultPath": "$.r", "End": True}),
            "QueryLanguage": "JSONata",
        },
        "/States/A/ResultPath",
        "use Output (and Assign)",
    ),
    (
        "jsonata-state-with-items-path",
        {
            **machine(
                M={
                    "Type": "Map",
                    "ItemsPath": "$.items",
                    "ItemProcessor": machine(P=PASS_END),
                    "End": True,
                }
            ),
            "QueryLanguage": "JSONata",
        },
        "/States/M/ItemsPath",
        "use Items",
    ),
    (
        "jsonata-state-with-input-path",
        machine(A={**PASS_END, "QueryLanguage": "JSONata", "InputPath": "$.a"}),
        "/States/A/InputPath",
        'the field "InputPath" is not supported in a JSONata state',
    ),
    (
        "jsonata-choice-with-variable",
        {
            **machine(
                C={
                    "Type": "Choice",
                    "Choices": [{"Variable": "$.a", "IsPresent": True, "Next": "B"}],
                    "Default": "B",
                },
                B=PASS_END,
            ),
            "QueryLanguage": "JSONata",
        },
        "/States/C/Choices/0/Variable",
        '"Condition": "{% ... %}"',
    ),
    (
        "jsonpath-state-with-arguments",
        machine(A={"Type": "Task", "Resource": PASS_ARN, "Arguments": {}, "End": True}),
        "/States/A/Arguments",
        'the field "Arguments" is only supported in a JSONata state; use Parameters',
    ),
    (
        "jsonpath-state-with-output",
        machine(A={**PASS_END, "Output": {"a": 1}}),
        "/States/A/Output",
        "use OutputPath or ResultSelector",
    ),
    (
        "jsonpath-choice-with-condition",
        machine(
            C={
                "Type": "Choice",
                "Choices": [{"Condition": "{% true %}", "Next": "B"}],
                "Default": "B",
            },
            B=PASS_END,
        ),
        "/States/C/Choices/0",
        "exactly one comparison operator",
    ),
    (
        "jsonata-syntax-error",
        machine(A={**PASS_END, "QueryLanguage": "JSONata", "Output": {"x": "{% $a + %}"}}),
        "/States/A/Output/x",
        "the JSONata expression {% $a + %} does not parse",
    ),
    (
        "jsonata-root-dollar",
        machine(A={**PASS_END, "QueryLanguage": "JSONata", "Output": {"x": "{% $.a %}"}}),
        "/States/A/Output/x",
        '"$" at the top of an expression reads nothing; use $states.input',
    ),
    (
        "jsonata-bare-field-name",
        machine(A={**PASS_END, "QueryLanguage": "JSONata", "Output": "{% order.id %}"}),
        "/States/A/Output",
        'the field name "order" at the top of an expression reads nothing; use $states.input.order',
    ),
    (
        "jsonata-condition-missing",
        {
            **machine(C={"Type": "Choice", "Choices": [{"Next": "B"}], "Default": "B"}, B=PASS_END),
            "QueryLanguage": "JSONata",
        },
        "/States/C/Choices/0/Condition",
        "required",
    ),
    (
        "jsonata-wait-seconds-string",
        {**machine(W={"Type": "Wait", "Seconds": "ten", "End": True}), "QueryLanguage": "JSONata"},
        "/States/W/Seconds",
        "or a {% %} expression",
    ),
    (
        "assign-not-object",
        machine(A={**PASS_END, "Assign": [1]}),
        "/States/A/Assign",
        "must be an object of variable names to values",
    ),
    (
        "assign-reserved-name",
        machine(A={**PASS_END, "Assign": {"states": 1}}),
        "/States/A/Assign/states",
        '"states" is reserved',
    ),
    (
        "assign-dollar-name",
        machine(A={**PASS_END, "Assign": {"$x": 1}}),
        "/States/A/Assign/$x",
        "is not a valid variable name",
    ),
    (
        "assign-name-too-long",
        machine(A={**PASS_END, "Assign": {"v" * 81: 1}}),
        "/States/A/Assign/" + "v" * 81,
        "the limit is 80",
    ),
    (
        "assign-twice",
        machine(A={**PASS_END, "Assign": {"x": 1, "x.$": "$.a"}}),
        "/States/A/Assign/x.$",
        'the variable "x" is assigned twice',
    ),
    (
        "assign-bad-path",
        machine(A={**PASS_END, "Assign": {"x.$": "$.a["}}),
        "/States/A/Assign/x.$",
        "not a valid JSONPath",
    ),
    (
        "assign-on-fail",
        machine(F={"Type": "Fail", "Assign": {"x": 1}}),
        "/States/F/Assign",
        'field "Assign" is not allowed in a Fail state',
    ),
    (
        "inner-scope-assigns-outer-variable",
        machine(
            Set={"Type": "Pass", "Assign": {"total": 0}, "Next": "P"},
            P={
                "Type": "Parallel",
                "Branches": [machine(B={**PASS_END, "Assign": {"total": 1}})],
                "End": True,
            },
        ),
        "/States/P/Branches/0/States/B/Assign/total",
        'the variable "total" is assigned in an enclosing scope',
    ),
    (
        "result-path-into-variable",
        machine(A={**PASS_END, "ResultPath": "$x.y"}),
        "/States/A/ResultPath",
        "not the context object ($$) or a variable",
    ),
    (
        "format-too-few-arguments",
        machine(A={**PASS_END, "Parameters": {"v.$": "States.Format('{} and {}', $.a)"}}),
        "/States/A/Parameters/v.$",
        "has 2 placeholder(s) {} but only 1 value argument(s)",
    ),
    ("state-not-object", machine(A=[1]), "/States/A", "must be an object"),
    (
        "slash-in-name-is-escaped",
        machine(**{"a/b": {"Type": "Pass", "Next": "c"}}),
        "/States/a~1b/Next",
        'no state named "c"',
    ),
]


@pytest.mark.parametrize(
    ("definition", "location", "words"), [pytest.param(*case[1:], id=case[0]) for case in INVALID]
)
def test_invalid_definitions_name_state_and_field(definition, location, words):
    with pytest.raises(InvalidDefinition) as e:
        validate_definition(definition)
    matching = [p for p in e.value.problems if p.startswith(location + ": ")]
    assert matching, f"no problem at {location}: {e.value.problems}"
    assert any(words in p for p in matching), matching
    assert isinstance(e.value, UserError)


def test_at_least_thirty_invalid_cases():
    assert len(INVALID) >= 30


def test_every_problem_is_reported_at_once():
    d = machine(A={"Type": "Pass", "Next": "Wiat"}, Wait={"Type": "Wait", "End": True})
    with pytest.raises(InvalidDefinition) as e:
        validate_definition(d)
    assert e.value.problems == [
        '/States/A/Next: no state named "Wiat"; did you mean "Wait"?',
        "/States/Wait: a Wait state needs exactly one of Seconds, Timestamp, SecondsPath or TimestampPath; found none",
        '/States/Wait: state "Wait" is not reachable from StartAt "A"; remove it or add a Next that leads to it',
    ]
    assert str(e.value) == "Invalid State Machine Definition: " + "; ".join(e.value.problems)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        pytest.param("{not json", "/: the definition is not valid JSON", id="not-json"),
        pytest.param(
            "[1, 2]", "/: the definition must be a JSON object, not an array", id="not-object"
        ),
    ],
)
def test_unparseable_definitions(text, message):
    with pytest.raises(InvalidDefinition) as e:
        validate_definition(text)
    assert e.value.problems[0].startswith(message)


def test_resource_resolution_failure_is_a_problem_at_the_resource():
    registry = IntegrationRegistry()
    with pytest.raises(InvalidDefinition) as e:
        validate_definition(machine(T=TASK), registry.resolve)
    (problem,) = e.value.problems
    assert problem.startswith(
        "/States/T/Resource: Resource 'arn:aws:states:::lambda:invoke': no local integration"
    )


def test_resolver_is_called_for_nested_tasks():
    seen = []

    def resolve(resource):
        seen.append(resource)
        if resource.endswith("bad"):
            raise UnknownResource(f"Resource {resource!r}: unknown")
        return object()

    d = machine(
        Fan={
            "Type": "Parallel",
            "Branches": [{"StartAt": "T", "States": {"T": {**TASK, "Resource": "arn:bad"}}}],
            "End": True,
        }
    )
    with pytest.raises(InvalidDefinition) as e:
        validate_definition(d, resolve)
    assert seen == ["arn:bad"]
    assert e.value.problems == [
        "/States/Fan/Branches/0/States/T/Resource: Resource 'arn:bad': unknown"
    ]


def test_choice_and_terminal_states_need_no_next():
    d = machine(
        C={
            "Type": "Choice",
            "Choices": [{"Variable": "$.x", "IsPresent": True, "Next": "S"}],
            "Default": "F",
        },
        S={"Type": "Succeed"},
        F={"Type": "Fail", "Error": "E", "Cause": "c"},
    )
    assert validate_definition(d) is d
