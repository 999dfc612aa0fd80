"""Intrinsic functions, with the examples of the AWS developer guide."""

from __future__ import annotations

import re

import pytest

from localaws.asl.errors import StateFailure, StatesError
from localaws.asl.intrinsics import Call, IntrinsicSyntaxError, Literal, PathArg, evaluate, parse


def run(expr, data=None, context=None):
    return evaluate(parse(expr), data if data is not None else {}, context or {})


@pytest.mark.parametrize(
    ("expr", "data", "expected"),
    [
        # Arrays
        pytest.param("States.Array($.Id)", {"Id": 123456}, [123456], id="Array"),
        pytest.param(
            "States.Array('a', 1, true, null, $.o)",
            {"o": {"k": 1}},
            ["a", 1, True, None, {"k": 1}],
            id="Array-mixed",
        ),
        pytest.param("States.Array()", {}, [], id="Array-empty"),
        pytest.param(
            "States.ArrayPartition($.inputArray, 4)",
            {"inputArray": [1, 2, 3, 4, 5, 6, 7, 8, 9]},
            [[1, 2, 3, 4], [5, 6, 7, 8], [9]],
            id="ArrayPartition",
        ),
        pytest.param(
            "States.ArrayContains($.inputArray, $.lookingFor)",
            {"inputArray": [1, 2, 3, 4, 5, 6, 7, 8, 9], "lookingFor": 5},
            True,
            id="ArrayContains",
        ),
        pytest.param(
            "States.ArrayContains($.a, 1)", {"a": [True]}, False, id="ArrayContains-bool-is-not-1"
        ),
        pytest.param("States.ArrayRange(1, 9, 2)", {}, [1, 3, 5, 7, 9], id="ArrayRange"),
        pytest.param("States.ArrayRange(5, 1, -2)", {}, [5, 3, 1], id="ArrayRange-down"),
        pytest.param(
            "States.ArrayGetItem($.inputArray, $.index)",
            {"inputArray": [1, 2, 3, 4, 5, 6, 7, 8, 9], "index": 5},
            6,
            id="ArrayGetItem",
        ),
        pytest.param(
            "States.ArrayLength($.inputArray)",
            {"inputArray": [1, 2, 3, 4, 5, 6, 7, 8, 9]},
            9,
            id="ArrayLength",
        ),
        pytest.param(
            "States.ArrayUnique($.inputArray)",
            {"inputArray": [1, 2, 3, 3, 3, 3, 3, 3, 4]},
            [1, 2, 3, 4],
            id="ArrayUnique",
        ),
        # Encoding
        pytest.param(
            "States.Base64Encode($.input)",
            {"input": "Data to encode"},
            "RGF0YSB0byBlbmNvZGU=",
            id="Base64Encode",
        ),
        pytest.param(
            "States.Base64Decode($.base64)",
            {"base64": "RGF0YSB0byBlbmNvZGU="},
            "Data to encode",
            id="Base64Decode",
        ),
        # Hash
        pytest.param(
            "States.Hash($.Data, $.Algorithm)",
            {"Data": "input data", "Algorithm": "SHA-1"},
            "aaff4a450a104cd177d28d18d74485e8cae074b7",
            id="Hash-SHA-1",
        ),
        pytest.param(
            "States.Hash('abc', 'MD5')", {}, "900150983cd24fb0d6963f7d28e17f72", id="Hash-MD5"
        ),
        pytest.param(
            "States.Hash('abc', 'SHA-256')",
            {},
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad",
            id="Hash-SHA-256",
        ),
        # JSON
        pytest.param(
            "States.JsonMerge($.json1, $.json2, false)",
            {
                "json1": {"a": {"a1": 1, "a2": 2}, "b": 2},
                "json2": {"a": {"a3": 1, "a4": 2}, "c": 3},
            },
            {"a": {"a3": 1, "a4": 2}, "b": 2, "c": 3},
            id="JsonMerge-shallow",
        ),
        pytest.param(
            "States.StringToJson($.escapedJsonString)",
            {"escapedJsonString": '{"foo": "bar"}'},
            {"foo": "bar"},
            id="StringToJson",
        ),
        pytest.param(
            "States.JsonToString($.unescapedJson)",
            {"unescapedJson": {"foo": "bar"}},
            '{"foo":"bar"}',
            id="JsonToString",
        ),
        # Math
        pytest.param(
            "States.MathAdd($.value1, $.step)", {"value1": 111, "step": -1}, 110, id="MathAdd"
        ),
        # Strings
        pytest.param(
            "States.StringSplit($.inputString, $.splitter)",
            {"inputString": "1,2,3,4,5", "splitter": ","},
            ["1", "2", "3", "4", "5"],
            id="StringSplit",
        ),
        pytest.param(
            "States.StringSplit($.inputString, $.splitter)",
            {"inputString": "This.is+a,test=string", "splitter": ".+,="},
            ["This", "is", "a", "test", "string"],
            id="StringSplit-several-delimiters",
        ),
        # Format
        pytest.param(
            "States.Format('Hello, my name is {}.', $.name)",
            {"name": "Arnav"},
            "Hello, my name is Arnav.",
            id="Format",
        ),
        pytest.param(
            "States.Format('{} {} {} {}', 1, true, null, 'x')",
            {},
            "1 true null x",
            id="Format-scalars",
        ),
        pytest.param(
            "States.Format('it\\'s \\{literal\\} {}', 'v')",
            {},
            "it's {literal} v",
            id="Format-escapes",
        ),
        pytest.param(
            "States.Format('{}', States.Format('{}-{}', 'a', States.MathAdd(1, 2)))",
            {},
            "a-3",
            id="Format-nested",
        ),
    ],
)
def test_intrinsic_examples(expr, data, expected):
    assert run(expr, data) == expected


def test_deeply_nested_calls_like_the_developer_guide_example():
    split = "States.StringSplit(States.ArrayGetItem(States.StringSplit($.ImageRecipe.Arn, '/'), 2), '.')"
    expr = (
        f"States.Format('{{}}.{{}}.{{}}', States.ArrayGetItem({split}, 0), "
        f"States.ArrayGetItem({split}, 1), States.ArrayGetItem({split}, 2))"
    )
    data = {
        "ImageRecipe": {"Arn": "arn:aws:imagebuilder:us-east-1:123456789012:image-recipe/x/1.0.2"}
    }
    assert run(expr, data) == "1.0.2"


def test_context_object_argument():
    assert (
        run("States.Format('{}', $$.Execution.Name)", {}, {"Execution": {"Name": "run-1"}})
        == "run-1"
    )


def test_uuid_is_a_v4_uuid():
    value = run("States.UUID()")
    assert re.fullmatch(
        r"[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}", value
    )
    assert run("States.UUID()") != value


def test_math_random_range_and_seed():
    values = {run("States.MathRandom(1, 5)") for _ in range(200)}
    assert values <= {1, 2, 3, 4}
    assert run("States.MathRandom(1, 999, 42)") == run("States.MathRandom(1, 999, 42)")


def test_parse_builds_a_tree():
    call = parse("States.Array('a\\'b', -1.5, $.x, States.UUID())")
    assert call.name == "States.Array"
    assert call.args[0] == Literal("a'b", "a\\'b")
    assert call.args[1] == Literal(-1.5)
    assert call.args[2] == PathArg("$.x")
    assert isinstance(call.args[3], Call) and call.args[3].name == "States.UUID"


def test_path_argument_with_brackets_commas_and_quotes():
    call = parse("States.Array($.items[?(@.v == 'a,b)')], $['k,)'])")
    assert call.args == (PathArg("$.items[?(@.v == 'a,b)')]"), PathArg("$['k,)']"))
    assert run("States.Array($['k,)'])", {"k,)": 1}) == [1]


def test_parse_is_cached():
    assert parse("States.UUID()") is parse("States.UUID()")


@pytest.mark.parametrize(
    ("expr", "message"),
    [
        pytest.param("States.Nope(1)", "unknown function 'States.Nope'", id="unknown-function"),
        pytest.param("States.Array(1, 2", "expected ',' or ')'", id="unclosed-call"),
        pytest.param(
            "States.Format('abc)", "unterminated string literal", id="unterminated-string"
        ),
        pytest.param(
            "States.Array(1) x", "unexpected text after the closing ')'", id="trailing-text"
        ),
        pytest.param("States.Array(foo)", "unknown function 'foo'", id="bare-word"),
        pytest.param(
            "States.ArrayLength()", "States.ArrayLength takes 1 argument(s), got 0", id="arity"
        ),
        pytest.param(
            "States.MathAdd(1, 2, 3)",
            "States.MathAdd takes 2 argument(s), got 3",
            id="arity-too-many",
        ),
        pytest.param("States.Array($.a[)", "not a valid JSONPath", id="bad-path"),
        pytest.param("States.Array(1,)", "expected an argument", id="trailing-comma"),
        pytest.param(
            "States.Format('{} {}', 1)",
            "has 2 placeholder(s) {} but only 1 value argument(s)",
            id="format-too-few-args",
        ),
        pytest.param("States.Array(--1)", "invalid number", id="bad-number"),
        pytest.param(
            "States.Array(" * 11 + ")" * 11,
            "more than 10 nested intrinsic functions",
            id="too-deep",
        ),
    ],
)
def test_syntax_errors(expr, message):
    with pytest.raises(IntrinsicSyntaxError) as e:
        parse(expr)
    assert message in str(e.value)
    assert expr in str(e.value)


@pytest.mark.parametrize(
    ("expr", "data", "message"),
    [
        pytest.param(
            "States.ArrayGetItem($.a, 3)",
            {"a": [1]},
            "index 3 is out of bounds",
            id="get-item-bounds",
        ),
        pytest.param(
            "States.ArrayLength($.a)",
            {"a": "x"},
            "argument 1 must be a JSON array, got string",
            id="length-not-array",
        ),
        pytest.param(
            "States.ArrayPartition($.a, 0)",
            {"a": [1]},
            "chunk size must be a positive integer",
            id="partition-zero",
        ),
        pytest.param(
            "States.ArrayRange(1, 2, 0)", {}, "the step must not be 0", id="range-step-zero"
        ),
        pytest.param("States.ArrayRange(0, 2000, 1)", {}, "at most 1000", id="range-too-long"),
        pytest.param(
            "States.JsonMerge($.a, $.b, true)",
            {"a": {}, "b": {}},
            "deep merging is not supported",
            id="deep-merge",
        ),
        pytest.param(
            "States.JsonMerge($.a, $.b, false)",
            {"a": [], "b": {}},
            "must be a JSON object",
            id="merge-not-object",
        ),
        pytest.param("States.StringToJson('{nope')", {}, "not valid JSON", id="string-to-json"),
        pytest.param("States.Base64Decode('***')", {}, "not valid base64", id="base64"),
        pytest.param(
            "States.Hash('x', 'SHA-3')",
            {},
            "unsupported hash algorithm 'SHA-3'",
            id="hash-algorithm",
        ),
        pytest.param(
            "States.MathAdd(1.5, 1)", {}, "argument 1 must be an integer", id="math-add-float"
        ),
        pytest.param(
            "States.MathAdd(2147483648, 1)", {}, "outside the range", id="math-add-overflow"
        ),
        pytest.param(
            "States.MathRandom(5, 5)", {}, "must be less than the end", id="random-empty-range"
        ),
        pytest.param(
            "States.Format('{}', 1, 2)",
            {},
            "1 placeholder(s) but 2 argument(s)",
            id="format-too-many-args",
        ),
        pytest.param("States.Format('{}', $.o)", {"o": {"a": 1}}, "got object", id="format-object"),
        pytest.param(
            "States.StringSplit('a', '')", {}, "delimiter must not be empty", id="split-empty"
        ),
    ],
)
def test_evaluation_errors_are_intrinsic_failures(expr, data, message):
    with pytest.raises(StateFailure) as e:
        run(expr, data)
    assert e.value.error == StatesError.INTRINSIC_FAILURE
    assert message in e.value.cause


@pytest.mark.parametrize(
    ("expr", "data", "cause"),
    [
        # AWS's recorded causes (after the "An error occurred while executing the state" prefix)
        pytest.param(
            "States.Format('{}', $.nope)",
            {"other": 1},
            "The function 'States.Format('{}', $.nope)' had the following error: The JsonPath "
            "argument for the field '$.nope' could not be found in the input '{\"other\":1}'",
            id="format",
        ),
        pytest.param(
            "States.Format('{}', States.Format('{}', $.nope))",
            {"other": 1},
            "The function 'States.Format('{}', States.Format('{}', $.nope))' had the following "
            "error: The JsonPath argument for the field '$.nope' could not be found in the "
            "input '{\"other\":1}'",
            id="nested-names-whole-expression",
        ),
    ],
)
def test_missing_path_argument_is_runtime_error(expr, data, cause):
    with pytest.raises(StateFailure) as e:
        run(expr, data)
    assert e.value.error == StatesError.RUNTIME
    assert e.value.cause == cause
