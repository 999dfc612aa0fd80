"""Choice rules, with the examples of the ASL specification and the developer guide."""

from __future__ import annotations

import pytest

from localaws.asl.choice import choose, evaluate_rule, matches_wildcard, parse_timestamp
from localaws.asl.errors import StateFailure, StatesError

DATA = {
    "type": "Private",
    "value": 22,
    "price": 12.5,
    "flag": True,
    "nothing": None,
    "when": "2016-03-14T01:59:00Z",
    "later": "2016-03-14T02:59:00+01:00",  # the same instant as 01:59Z
    "file": "log-2024.txt",
    "star": "a*b",
    "limit": 20,
    "name": "Bob",
    "list": [1, 2],
}


@pytest.mark.parametrize(
    ("rule", "expected"),
    [
        pytest.param({"StringEquals": "Private"}, True, id="StringEquals"),
        pytest.param({"StringEquals": "Public"}, False, id="StringEquals-false"),
        pytest.param({"StringLessThan": "Q"}, True, id="StringLessThan"),
        pytest.param({"StringGreaterThan": "A"}, True, id="StringGreaterThan"),
        pytest.param({"StringLessThanEquals": "Private"}, True, id="StringLessThanEquals"),
        pytest.param({"StringGreaterThanEquals": "Privatf"}, False, id="StringGreaterThanEquals"),
    ],
)
def test_string_comparisons(rule, expected):
    assert evaluate_rule({"Variable": "$.type", **rule}, DATA) is expected


@pytest.mark.parametrize(
    ("rule", "expected"),
    [
        pytest.param({"NumericEquals": 22}, True, id="NumericEquals"),
        pytest.param({"NumericEquals": 22.0}, True, id="NumericEquals-float"),
        pytest.param({"NumericLessThan": 23}, True, id="NumericLessThan"),
        pytest.param({"NumericGreaterThan": 22}, False, id="NumericGreaterThan"),
        pytest.param({"NumericLessThanEquals": 22}, True, id="NumericLessThanEquals"),
        pytest.param({"NumericGreaterThanEquals": 22.5}, False, id="NumericGreaterThanEquals"),
        pytest.param({"NumericGreaterThanPath": "$.limit"}, True, id="NumericGreaterThanPath"),
        pytest.param(
            {"NumericLessThanEqualsPath": "$.price"}, False, id="NumericLessThanEqualsPath"
        ),
        pytest.param({"NumericEqualsPath": "$.value"}, True, id="NumericEqualsPath"),
    ],
)
def test_numeric_comparisons(rule, expected):
    assert evaluate_rule({"Variable": "$.value", **rule}, DATA) is expected


@pytest.mark.parametrize(
    ("rule", "expected"),
    [
        pytest.param({"TimestampEquals": "2016-03-14T01:59:00Z"}, True, id="TimestampEquals"),
        pytest.param(
            {"TimestampEquals": "2016-03-14T01:59:00.000Z"}, True, id="TimestampEquals-fraction"
        ),
        pytest.param({"TimestampEqualsPath": "$.later"}, True, id="TimestampEqualsPath-other-zone"),
        pytest.param({"TimestampLessThan": "2016-03-14T02:00:00Z"}, True, id="TimestampLessThan"),
        pytest.param(
            {"TimestampGreaterThan": "2016-03-14T02:00:00Z"}, False, id="TimestampGreaterThan"
        ),
        pytest.param(
            {"TimestampLessThanEquals": "2016-03-14T01:59:00Z"}, True, id="TimestampLessThanEquals"
        ),
        pytest.param(
            {"TimestampGreaterThanEquals": "2017-01-01T00:00:00Z"},
            False,
            id="TimestampGreaterThanEquals",
        ),
    ],
)
def test_timestamp_comparisons(rule, expected):
    assert evaluate_rule({"Variable": "$.when", **rule}, DATA) is expected


@pytest.mark.parametrize(
    ("rule", "expected"),
    [
        pytest.param({"Variable": "$.flag", "BooleanEquals": True}, True, id="BooleanEquals"),
        pytest.param(
            {"Variable": "$.flag", "BooleanEquals": False}, False, id="BooleanEquals-false"
        ),
        pytest.param(
            {"Variable": "$.flag", "BooleanEqualsPath": "$.flag"}, True, id="BooleanEqualsPath"
        ),
        pytest.param(
            {"Variable": "$.type", "StringEqualsPath": "$.type"}, True, id="StringEqualsPath"
        ),
        pytest.param(
            {"Variable": "$.name", "StringLessThanPath": "$.type"}, True, id="StringLessThanPath"
        ),
    ],
)
def test_boolean_and_path_comparisons(rule, expected):
    assert evaluate_rule(rule, DATA) is expected


@pytest.mark.parametrize(
    ("rule", "expected"),
    [
        pytest.param(
            {"Variable": "$.type", "NumericEquals": 22}, False, id="NumericEquals-on-string"
        ),
        pytest.param(
            {"Variable": "$.value", "StringEquals": "22"}, False, id="StringEquals-on-number"
        ),
        pytest.param(
            {"Variable": "$.flag", "NumericEquals": 1}, False, id="NumericEquals-on-boolean"
        ),
        pytest.param(
            {"Variable": "$.value", "BooleanEquals": True}, False, id="BooleanEquals-on-number"
        ),
        pytest.param(
            {"Variable": "$.type", "TimestampEquals": "2016-03-14T01:59:00Z"},
            False,
            id="Timestamp-on-non-timestamp",
        ),
        pytest.param(
            {"Variable": "$.nothing", "StringEquals": "null"}, False, id="StringEquals-on-null"
        ),
        pytest.param(
            {"Variable": "$.value", "NumericEqualsPath": "$.type"},
            False,
            id="Path-operand-of-wrong-type",
        ),
    ],
)
def test_type_mismatch_is_false(rule, expected):
    assert evaluate_rule(rule, DATA) is expected


@pytest.mark.parametrize(
    ("variable", "test", "expected"),
    [
        pytest.param("$.type", "IsPresent", True, id="IsPresent"),
        pytest.param("$.missing", "IsPresent", False, id="IsPresent-missing"),
        pytest.param("$.nothing", "IsPresent", True, id="IsPresent-null-is-present"),
        pytest.param("$.nothing", "IsNull", True, id="IsNull"),
        pytest.param("$.value", "IsNull", False, id="IsNull-number"),
        pytest.param("$.value", "IsNumeric", True, id="IsNumeric"),
        pytest.param("$.price", "IsNumeric", True, id="IsNumeric-float"),
        pytest.param("$.flag", "IsNumeric", False, id="IsNumeric-boolean"),
        pytest.param("$.type", "IsString", True, id="IsString"),
        pytest.param("$.list", "IsString", False, id="IsString-array"),
        pytest.param("$.flag", "IsBoolean", True, id="IsBoolean"),
        pytest.param("$.value", "IsBoolean", False, id="IsBoolean-number"),
        pytest.param("$.when", "IsTimestamp", True, id="IsTimestamp"),
        pytest.param("$.type", "IsTimestamp", False, id="IsTimestamp-string"),
    ],
)
def test_type_tests(variable, test, expected):
    assert evaluate_rule({"Variable": variable, test: True}, DATA) is expected
    assert evaluate_rule({"Variable": variable, test: False}, DATA) is (not expected)


@pytest.mark.parametrize(
    ("value", "pattern", "expected"),
    [
        pytest.param("log-2024.txt", "log-*.txt", True, id="star-middle"),
        pytest.param("log-2024.txt", "*.txt", True, id="star-start"),
        pytest.param("log-2024.txt", "log*", True, id="star-end"),
        pytest.param("log-2024.txt", "*", True, id="star-only"),
        pytest.param("log-2024.txt", "log-*.csv", False, id="no-match"),
        pytest.param("a*b", "a\\*b", True, id="escaped-star"),
        pytest.param("axxb", "a\\*b", False, id="escaped-star-is-literal"),
        pytest.param("a\\b", "a\\\\b", True, id="escaped-backslash"),
        pytest.param("a.b", "a?b", False, id="question-mark-is-literal"),
        pytest.param("a+b", "a+b", True, id="regex-chars-are-literal"),
        pytest.param("line1\nline2", "line1*", True, id="star-crosses-newline"),
    ],
)
def test_string_matches(value, pattern, expected):
    assert matches_wildcard(value, pattern) is expected
    assert evaluate_rule({"Variable": "$.v", "StringMatches": pattern}, {"v": value}) is expected


def test_and_or_not_from_developer_guide():
    rule = {
        "And": [
            {"Variable": "$.value", "IsPresent": True},
            {"Variable": "$.value", "IsNumeric": True},
            {"Variable": "$.value", "NumericGreaterThanEquals": 20},
            {"Variable": "$.value", "NumericLessThan": 30},
        ],
        "Next": "ValueInTwenties",
    }
    assert evaluate_rule(rule, DATA) is True
    assert evaluate_rule(rule, {"value": 35}) is False
    not_rule = {"Not": {"Variable": "$.type", "StringEquals": "Private"}, "Next": "Public"}
    assert evaluate_rule(not_rule, DATA) is False
    or_rule = {
        "Or": [
            {"Variable": "$.value", "NumericEquals": 1},
            {"Variable": "$.type", "StringMatches": "Pri*"},
        ]
    }
    assert evaluate_rule(or_rule, DATA) is True


def test_and_short_circuits_before_a_missing_path():
    rule = {
        "And": [
            {"Variable": "$.missing", "IsPresent": True},
            {"Variable": "$.missing", "StringEquals": "x"},
        ]
    }
    assert evaluate_rule(rule, DATA) is False


# From the Choice state example in the developer guide.
CHOICES = [
    {"Not": {"Variable": "$.type", "StringEquals": "Private"}, "Next": "Public"},
    {"Variable": "$.value", "NumericEquals": 0, "Next": "ValueIsZero"},
    {
        "And": [
            {"Variable": "$.value", "NumericGreaterThanEquals": 20},
            {"Variable": "$.value", "NumericLessThan": 30},
        ],
        "Next": "ValueInTwenties",
    },
]


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        pytest.param({"type": "Public", "value": 0}, "Public", id="first-rule-wins"),
        pytest.param({"type": "Private", "value": 0}, "ValueIsZero", id="second"),
        pytest.param({"type": "Private", "value": 25}, "ValueInTwenties", id="third"),
        pytest.param({"type": "Private", "value": 99}, None, id="none-matches-default"),
    ],
)
def test_choose(data, expected):
    rule = choose(CHOICES, data, {})
    assert (rule["Next"] if rule is not None else None) == expected


def test_context_object_variable():
    rule = {"Variable": "$$.Execution.Input.mode", "StringEquals": "fast"}
    assert evaluate_rule(rule, {}, {"Execution": {"Input": {"mode": "fast"}}}) is True


@pytest.mark.parametrize(
    "rule",
    [
        pytest.param({"Variable": "$.missing", "StringEquals": "x"}, id="missing-variable"),
        pytest.param({"Variable": "$.missing", "IsNull": True}, id="missing-under-IsNull"),
        pytest.param(
            {"Variable": "$.type", "StringEqualsPath": "$.missing"}, id="missing-operand-path"
        ),
    ],
)
def test_missing_path_is_states_runtime(rule):
    with pytest.raises(StateFailure) as e:
        evaluate_rule(rule, DATA)
    assert e.value.error == StatesError.RUNTIME
    assert e.value.cause == (
        "Invalid path '$.missing': The choice state's condition path references an invalid value."
    )


@pytest.mark.parametrize(
    ("text", "valid"),
    [
        pytest.param("2016-03-14T01:59:00Z", True, id="utc"),
        pytest.param("2016-03-14T01:59:00.123Z", True, id="millis"),
        pytest.param("2016-03-14T01:59:00.123456789+05:30", True, id="nanos-offset"),
        pytest.param("2016-03-14t01:59:00Z", False, id="lower-t"),
        pytest.param("2016-03-14T01:59:00", False, id="no-zone"),
        pytest.param("2016-03-14", False, id="date-only"),
        pytest.param("2016-02-30T00:00:00Z", False, id="no-such-day"),
        pytest.param(1457920740, False, id="number"),
    ],
)
def test_parse_timestamp(text, valid):
    assert (parse_timestamp(text) is not None) is valid
