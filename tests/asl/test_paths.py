"""JSONPath and input/output processing, with the examples of the AWS developer guide."""

from __future__ import annotations

import pytest

from localaws.asl.errors import StateFailure, StatesError
from localaws.asl.paths import (
    PathNotFound,
    apply_input_path,
    apply_output_path,
    apply_result_path,
    is_valid_path,
    parse_path,
    payload_template,
    query,
)

# From "Using JSONPath paths" in the Step Functions developer guide.
STORE = {
    "foo": 123,
    "bar": ["a", "b", "c"],
    "car": {"cdr": True},
    "items": [{"x": 1, "name": "a"}, {"x": 2, "name": "b"}, {"x": 3, "name": "c"}],
    "odd key": {"it's": 7},
}
CONTEXT = {
    "Execution": {
        "Id": "arn:aws:states:us-east-1:123456789012:execution:sm:run",
        "Input": {"Name": "n"},
    },
    "State": {"Name": "First"},
}


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        pytest.param("$", STORE, id="root"),
        pytest.param("$.foo", 123, id="dot"),
        pytest.param("$.bar", ["a", "b", "c"], id="dot-array"),
        pytest.param("$.car.cdr", True, id="nested-dot"),
        pytest.param("$['car']['cdr']", True, id="bracket"),
        pytest.param('$["car"]["cdr"]', True, id="double-quoted-bracket"),
        pytest.param("$.bar[0]", "a", id="index"),
        pytest.param("$.bar[-1]", "c", id="negative-index"),
        pytest.param("$['odd key']['it\\'s']", 7, id="escaped-quote-in-bracket"),
        pytest.param("$.items[1].name", "b", id="index-then-dot"),
        pytest.param("$.bar[0:2]", ["a", "b"], id="slice"),
        pytest.param("$.bar[*]", ["a", "b", "c"], id="wildcard"),
        pytest.param("$.items[*].x", [1, 2, 3], id="wildcard-field"),
        pytest.param("$.items[?(@.x > 1)].name", ["b", "c"], id="filter"),
        pytest.param("$.items[?(@.name == 'a')]", [{"x": 1, "name": "a"}], id="filter-string"),
        pytest.param("$.items[?(@.x > 10)]", [], id="filter-no-match-is-empty-list"),
        pytest.param("$..cdr", [True], id="descendants"),
    ],
)
def test_query(path, expected):
    assert query(path, STORE, CONTEXT) == expected


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        pytest.param("$$", CONTEXT, id="whole-context"),
        pytest.param("$$.State.Name", "First", id="dot"),
        pytest.param("$$.Execution.Input['Name']", "n", id="mixed-notation"),
    ],
)
def test_query_context_object(path, expected):
    assert query(path, STORE, CONTEXT) == expected


@pytest.mark.parametrize(
    ("path", "normalized"),
    [
        pytest.param("$.missing", "$['missing']", id="missing-field"),
        pytest.param("$.car.missing", "$['car']['missing']", id="missing-nested"),
        pytest.param("$.bar[7]", "$['bar'][7]", id="index-out-of-range"),
        pytest.param("$.foo.x", "$['foo']['x']", id="field-of-number"),
        pytest.param("$.bar.x", "$['bar']['x']", id="field-of-array"),
    ],
)
def test_query_no_match_raises_runtime_with_aws_cause(path, normalized):
    with pytest.raises(PathNotFound) as e:
        query(path, STORE, CONTEXT)
    assert e.value.error == StatesError.RUNTIME
    assert e.value.cause == f"Invalid path '{path}' : No results for path: {normalized}"


def test_parsed_paths_are_cached():
    assert parse_path("$.a.b") is parse_path("$.a.b")


@pytest.mark.parametrize(
    ("path", "reference", "valid"),
    [
        pytest.param("$", True, True, id="root"),
        pytest.param("$.a.b", True, True, id="dot"),
        pytest.param("$['a'][0]", True, True, id="bracket-index"),
        pytest.param("$.a[*]", True, False, id="wildcard-not-reference"),
        pytest.param("$.a[*]", False, True, id="wildcard-path"),
        pytest.param("$.a[?(@.x > 1)]", False, True, id="filter"),
        pytest.param("$.a[0:2]", True, False, id="slice-not-reference"),
        pytest.param("a.b", False, False, id="no-dollar"),
        pytest.param("$.a[", False, False, id="unclosed-bracket"),
        pytest.param("$.", False, False, id="trailing-dot"),
        pytest.param("$.a b", False, False, id="space"),
    ],
)
def test_is_valid_path(path, reference, valid):
    assert is_valid_path(path, reference=reference) is valid


# ---------------------------------------------------------------- InputPath / OutputPath

INPUTPATH_EXAMPLE = {
    "comment": "Example for InputPath.",
    "dataset1": {"val1": 1, "val2": 2, "val3": 3},
    "dataset2": {"val1": "a", "val2": "b", "val3": "c"},
}


def test_input_path_example_from_developer_guide():
    assert apply_input_path(INPUTPATH_EXAMPLE, "$.dataset2") == {
        "val1": "a",
        "val2": "b",
        "val3": "c",
    }


def test_input_path_slice_yields_list():
    assert apply_input_path({"a": [1, 2, 3, 4]}, "$.a[0:2]") == [1, 2]


@pytest.mark.parametrize("apply", [apply_input_path, apply_output_path], ids=["input", "output"])
def test_null_path_gives_empty_object(apply):
    assert apply({"a": 1}, None) == {}


@pytest.mark.parametrize("apply", [apply_input_path, apply_output_path], ids=["input", "output"])
def test_dollar_path_passes_everything(apply):
    data = {"a": 1}
    assert apply(data, "$") is data


@pytest.mark.parametrize("apply", [apply_input_path, apply_output_path], ids=["input", "output"])
def test_missing_input_or_output_path_is_states_runtime(apply):
    with pytest.raises(StateFailure) as e:
        apply({"a": 1}, "$.missing")
    assert e.value.error == "States.Runtime"
    assert e.value.cause == "Invalid path '$.missing' : No results for path: $['missing']"


# ---------------------------------------------------------------- Parameters

PARAMETERS_EXAMPLE_INPUT = {
    "comment": "Example for Parameters.",
    "product": {
        "details": {"color": "blue", "size": "small", "material": "cotton"},
        "availability": "in stock",
        "sku": "2317",
        "cost": "$23",
    },
}


def test_parameters_example_from_developer_guide():
    template = {
        "comment": "Selecting what I care about.",
        "MyDetails": {
            "size.$": "$.product.details.size",
            "exists.$": "$.product.availability",
            "StaticValue": "foo",
        },
    }
    assert payload_template(template, PARAMETERS_EXAMPLE_INPUT, {}) == {
        "comment": "Selecting what I care about.",
        "MyDetails": {"size": "small", "exists": "in stock", "StaticValue": "foo"},
    }


def test_parameters_context_object_and_intrinsic():
    template = {
        "execution.$": "$$.Execution.Id",
        "greeting.$": "States.Format('Hello, {}', $$.Execution.Input.Name)",
        "list": [{"sku.$": "$.product.sku"}, "static"],
        "cost": "$.not.a.path.because.no.suffix",
    }
    assert payload_template(template, PARAMETERS_EXAMPLE_INPUT, CONTEXT) == {
        "execution": CONTEXT["Execution"]["Id"],
        "greeting": "Hello, n",
        "list": [{"sku": "2317"}, "static"],
        "cost": "$.not.a.path.because.no.suffix",
    }


def test_parameters_does_not_mutate_template():
    template = {"a.$": "$.x", "nested": {"b.$": "$.x"}}
    payload_template(template, {"x": 1}, {})
    assert template == {"a.$": "$.x", "nested": {"b.$": "$.x"}}


def test_parameters_missing_path_is_runtime_error():
    # AWS: States.Runtime (not States.ParameterPathFailure), with this cause
    with pytest.raises(StateFailure) as e:
        payload_template({"missing.$": "$.nope.deep"}, {"other": 1}, {})
    assert e.value.error == StatesError.RUNTIME
    assert e.value.cause == (
        "The JSONPath '$.nope.deep' specified for the field 'missing.$' could not be found "
        "in the input '{\"other\":1}'"
    )


def test_parameters_intrinsic_failure():
    with pytest.raises(StateFailure) as e:
        payload_template({"x.$": "States.ArrayGetItem($.a, 5)"}, {"a": [1]}, {})
    assert e.value.error == StatesError.INTRINSIC_FAILURE


def test_result_selector_example_from_developer_guide():
    # The EMR AddStep example: ResultSelector picks fields of the task's raw result.
    result = {
        "resourceType": "elasticmapreduce",
        "resource": "createCluster.sync",
        "output": {
            "SdkHttpMetadata": {"HttpStatusCode": 200},
            "SdkResponseMetadata": {"RequestId": "1234-5678-9012"},
            "ClusterId": "AKIAIOSFODNN7EXAMPLE",
        },
    }
    selector = {"ClusterId.$": "$.output.ClusterId", "ResourceType.$": "$.resourceType"}
    assert payload_template(selector, result, {}) == {
        "ClusterId": "AKIAIOSFODNN7EXAMPLE",
        "ResourceType": "elasticmapreduce",
    }


# ---------------------------------------------------------------- ResultPath

RESULTPATH_INPUT = {
    "comment": "This is a test of the input and output of a Task state.",
    "details": "Default example",
    "who": "AWS Step Functions",
}
RESULT = "Hello, AWS Step Functions!"


@pytest.mark.parametrize(
    ("result_path", "expected"),
    [
        pytest.param("$", RESULT, id="replace-input"),
        pytest.param(None, RESULTPATH_INPUT, id="discard-result"),
        pytest.param("$.taskresult", {**RESULTPATH_INPUT, "taskresult": RESULT}, id="add-field"),
        pytest.param(
            "$.strings.lambdaresult",
            {**RESULTPATH_INPUT, "strings": {"lambdaresult": RESULT}},
            id="create-nested",
        ),
        pytest.param("$.details", {**RESULTPATH_INPUT, "details": RESULT}, id="overwrite-field"),
        pytest.param("$['who']", {**RESULTPATH_INPUT, "who": RESULT}, id="bracket"),
    ],
)
def test_result_path_examples_from_developer_guide(result_path, expected):
    assert apply_result_path(RESULTPATH_INPUT, result_path, RESULT) == expected


def test_result_path_does_not_mutate_input():
    state_input = {"a": {"b": 1}}
    out = apply_result_path(state_input, "$.a.c", 2)
    assert state_input == {"a": {"b": 1}}
    assert out == {"a": {"b": 1, "c": 2}}


def test_result_path_into_array_index():
    assert apply_result_path({"a": [1, 2]}, "$.a[1]", 9) == {"a": [1, 9]}


@pytest.mark.parametrize(
    ("state_input", "result_path"),
    [
        pytest.param("a string", "$.x", id="input-is-string"),
        pytest.param({"a": 5}, "$.a.b", id="field-of-number"),
        pytest.param({"a": [1]}, "$.a.b", id="field-of-array"),
        pytest.param({"a": [1]}, "$.a[3]", id="index-out-of-range"),
    ],
)
def test_result_path_into_non_object_is_match_failure(state_input, result_path):
    with pytest.raises(StateFailure) as e:
        apply_result_path(state_input, result_path, 1)
    assert e.value.error == StatesError.RESULT_PATH_MATCH_FAILURE
    assert f"Unable to apply ResultPath '{result_path}'" in e.value.cause


def test_output_path_example():
    data = {**RESULTPATH_INPUT, "taskresult": RESULT}
    assert apply_output_path(data, "$.taskresult") == RESULT


def test_query_evaluates_an_intrinsic_for_fields_that_take_either():
    assert query("States.Format('{} failed', $.name)", {"name": "Train"}, {}) == "Train failed"
