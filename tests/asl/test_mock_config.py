"""Mocked service integrations in AWS Step Functions Local's MockConfigFile format."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sfn_helpers import PASSTHROUGH, chain, create, open_backend

from localaws.asl.mock_config import MockConfig, MockConfigError
from localaws.errors import ServiceError
from localaws.stepfunctions.backend import StepFunctionsBackend

# The example of the AWS developer guide ("Configuration file for mocked service integrations").
CONFIG: dict[str, Any] = {
    "StateMachines": {
        "LambdaSQSIntegration": {
            "TestCases": {
                "HappyPath": {"LambdaState": "MockedLambdaSuccess", "SQSState": "MockedSQSSuccess"},
                "RetryPath": {"LambdaState": "MockedLambdaRetry", "SQSState": "MockedSQSSuccess"},
                "HybridPath": {"LambdaState": "MockedLambdaSuccess"},
            }
        }
    },
    "MockedResponses": {
        "MockedLambdaSuccess": {
            "0": {
                "Return": {
                    "StatusCode": 200,
                    "Payload": {"StatusCode": 200, "body": "Hello from Lambda!"},
                }
            }
        },
        "LambdaMockedResourceNotReady": {
            "0": {
                "Throw": {
                    "Error": "Lambda.ResourceNotReadyException",
                    "Cause": "Lambda resource is not ready.",
                }
            }
        },
        "MockedSQSSuccess": {
            "0": {"Return": {"MD5OfMessageBody": "3bcb6e8e", "MessageId": "3bcb6e8e-8b51"}}
        },
        "MockedLambdaRetry": {
            "0": {
                "Throw": {
                    "Error": "Lambda.ResourceNotReadyException",
                    "Cause": "Lambda resource is not ready.",
                }
            },
            "1-2": {"Throw": {"Error": "Lambda.TimeoutException", "Cause": "Lambda timed out."}},
            "3": {
                "Return": {
                    "StatusCode": 200,
                    "Payload": {"StatusCode": 200, "body": "Hello from Lambda!"},
                }
            },
        },
    },
}

# Pass-through tasks stand in for Lambda and SQS: mocked states never call them.
DEFINITION = chain(
    (
        "LambdaState",
        {
            "Type": "Task",
            "Resource": PASSTHROUGH,
            "Parameters": {"real": "call"},
            "ResultSelector": {"body.$": "$.Payload.body"},
            "Retry": [
                {
                    "ErrorEquals": ["Lambda.ResourceNotReadyException", "Lambda.TimeoutException"],
                    "IntervalSeconds": 1,
                    "MaxAttempts": 3,
                    "BackoffRate": 1,
                }
            ],
            "ResultPath": "$.lambda",
        },
    ),
    (
        "SQSState",
        {
            "Type": "Task",
            "Resource": PASSTHROUGH,
            "Parameters": {"sent.$": "$.lambda.body"},
            "ResultPath": "$.sqs",
        },
    ),
)


@pytest.fixture
def sfn(tmp_path: Path) -> Iterator[StepFunctionsBackend]:
    yield from open_backend(tmp_path)


@pytest.fixture
def mocked(sfn: StepFunctionsBackend, tmp_path: Path) -> tuple[StepFunctionsBackend, str]:
    path = tmp_path / "MockConfigFile.json"
    path.write_text(json.dumps(CONFIG))
    sfn.set_mock_config(path)
    return sfn, create(sfn, DEFINITION, "LambdaSQSIntegration")


def run_case(mocked: tuple[StepFunctionsBackend, str], case: str) -> dict[str, Any]:
    backend, arn = mocked
    ex = backend.start_execution(stateMachineArn=f"{arn}#{case}", input="{}")
    return backend.wait(ex["executionArn"], timeout=20)


def test_happy_path_uses_mocked_returns(mocked: tuple[StepFunctionsBackend, str]) -> None:
    done = run_case(mocked, "HappyPath")
    assert json.loads(done["output"]) == {
        "lambda": {"body": "Hello from Lambda!"},
        "sqs": {"MD5OfMessageBody": "3bcb6e8e", "MessageId": "3bcb6e8e-8b51"},
    }
    events = mocked[0].get_execution_history(executionArn=done["executionArn"])["events"]
    assert [e["type"] for e in events].count("TaskSucceeded") == 2


def test_hybrid_path_calls_the_real_integration_for_unmocked_states(
    mocked: tuple[StepFunctionsBackend, str],
) -> None:
    done = run_case(mocked, "HybridPath")
    assert json.loads(done["output"])["sqs"] == {"sent": "Hello from Lambda!"}


@pytest.mark.slow
def test_retry_path_walks_the_attempt_ranges(mocked: tuple[StepFunctionsBackend, str]) -> None:
    done = run_case(mocked, "RetryPath")  # three 1-second retries
    assert done["status"] == "SUCCEEDED"
    events = mocked[0].get_execution_history(executionArn=done["executionArn"])["events"]
    assert [e["taskFailedEventDetails"]["error"] for e in events if e["type"] == "TaskFailed"] == [
        "Lambda.ResourceNotReadyException",
        "Lambda.TimeoutException",
        "Lambda.TimeoutException",
    ]


def test_attempt_ranges_and_last_response_reused() -> None:
    session = MockConfig(CONFIG).session("LambdaSQSIntegration", "RetryPath")
    errors = []
    for _ in range(3):
        with pytest.raises(Exception) as e:
            session.call("LambdaState")
        errors.append(e.value.error)  # type: ignore[attr-defined]
    assert errors == [
        "Lambda.ResourceNotReadyException",
        "Lambda.TimeoutException",
        "Lambda.TimeoutException",
    ]
    assert session.call("LambdaState")["StatusCode"] == 200
    assert session.call("LambdaState")["StatusCode"] == 200
    assert not session.mocks("Other")


def test_unknown_test_case_is_refused_at_start(mocked: tuple[StepFunctionsBackend, str]) -> None:
    backend, arn = mocked
    with pytest.raises(ServiceError) as e:
        backend.start_execution(stateMachineArn=f"{arn}#NoSuchCase")
    assert e.value.code == "ValidationException"
    assert 'no test case "NoSuchCase"' in e.value.message and "HappyPath" in e.value.message


def test_test_case_without_mock_config_is_refused(sfn: StepFunctionsBackend) -> None:
    arn = create(sfn, DEFINITION)
    with pytest.raises(ServiceError) as e:
        sfn.start_execution(stateMachineArn=f"{arn}#HappyPath")
    assert "no mock config is loaded" in e.value.message


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"StateMachines": {}, "Mocked": {}}, "unknown top-level fields ['Mocked']"),
        (
            {"StateMachines": {"M": {"TestCases": {"C": {"S": "Missing"}}}}},
            'no mocked response named "Missing"',
        ),
        ({"MockedResponses": {"R": {"zero": {"Return": 1}}}}, 'attempt key "zero" is not a number'),
        (
            {"MockedResponses": {"R": {"0": {"Return": 1, "Throw": {}}}}},
            'exactly one of "Return" or "Throw"',
        ),
        ({"MockedResponses": {"R": {"0": {"Throw": {"Cause": "c"}}}}}, '{"Error": "<name>"'),
        (
            {"MockedResponses": {"R": {"0-2": {"Return": 1}, "2": {"Return": 2}}}},
            "overlap at attempt 2",
        ),
    ],
    ids=[
        "unknown-field",
        "missing-response",
        "bad-key",
        "both-kinds",
        "throw-without-error",
        "overlap",
    ],
)
def test_bad_mock_configs_are_refused_with_the_field_named(
    body: dict[str, Any], message: str
) -> None:
    with pytest.raises(MockConfigError) as e:
        MockConfig(body)
    assert message in str(e.value)


def test_load_from_missing_file(tmp_path: Path) -> None:
    with pytest.raises(MockConfigError, match="file not found"):
        MockConfig.load(tmp_path / "nope.json")
