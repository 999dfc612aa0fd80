"""Step Functions' Lambda integration over the local Lambda backend."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from localaws.asl.errors import StateFailure
from localaws.asl.integrations import IntegrationRegistry, Pattern, TaskRequest
from localaws.runtime import Runtime
from localaws.stepfunctions.integrations.lambda_ import LambdaIntegration

Create = Callable[..., dict[str, Any]]
INVOKE = "arn:aws:states:::lambda:invoke"
ARN = "arn:aws:lambda:us-east-1:123456789012:function:{}"


@pytest.fixture
def run_task(runtime: Runtime) -> Callable[..., Any]:
    registry = IntegrationRegistry([LambdaIntegration(runtime)])

    def run(resource: str, parameters: Any, cancelled: threading.Event | None = None) -> Any:
        resolved = registry.resolve(resource)
        request = TaskRequest(
            resource=resource,
            service=resolved.service,
            action=resolved.action,
            pattern=resolved.pattern,
            parameters=parameters,
            execution_arn="arn:aws:states:us-east-1:123456789012:execution:sm:run",
            state_name="Invoke",
        )
        if cancelled is not None:
            request.cancelled = cancelled
        return resolved.integration.run(request)

    return run


def test_optimized_result_shape(create_function: Create, run_task: Callable[..., Any]) -> None:
    create_function("fn-a", "basic.echo")
    result = run_task(INVOKE, {"FunctionName": "fn-a", "Payload": {"rows": 3}})
    assert list(result) == [
        "ExecutedVersion",
        "Payload",
        "SdkHttpMetadata",
        "SdkResponseMetadata",
        "StatusCode",
    ]
    assert result["ExecutedVersion"] == "$LATEST"
    assert result["Payload"] == {"event": {"rows": 3}}
    assert result["StatusCode"] == 200
    meta = result["SdkHttpMetadata"]
    assert meta["HttpStatusCode"] == 200
    assert meta["HttpHeaders"]["X-Amz-Executed-Version"] == "$LATEST"
    assert meta["AllHttpHeaders"]["Content-Type"] == ["application/json"]
    request_id = result["SdkResponseMetadata"]["RequestId"]
    assert meta["HttpHeaders"]["x-amzn-RequestId"] == request_id and len(request_id) == 36


@pytest.mark.parametrize(
    "name",
    [
        "fn-a",
        "fn-a:$LATEST",
        "123456789012:function:fn-a",
        ARN.format("fn-a"),
        ARN.format("fn-a") + ":$LATEST",
    ],
)
def test_function_name_forms(
    create_function: Create, run_task: Callable[..., Any], name: str
) -> None:
    create_function("fn-a", "basic.echo")
    assert run_task(INVOKE, {"FunctionName": name, "Payload": {}})["Payload"] == {"event": {}}


def test_legacy_function_arn_returns_payload(
    create_function: Create, run_task: Callable[..., Any]
) -> None:
    create_function("fn-a", "basic.echo")
    assert run_task(ARN.format("fn-a"), {"x": 1}) == {"event": {"x": 1}}


def test_function_error_fails_with_error_type(
    create_function: Create, run_task: Callable[..., Any]
) -> None:
    create_function("fn-fail", "basic.fail")
    with pytest.raises(StateFailure) as info:
        run_task(INVOKE, {"FunctionName": "fn-fail", "Payload": {"why": "empty file"}})
    assert info.value.error == "ValueError"
    cause = json.loads(info.value.cause)
    assert cause["errorType"] == "ValueError"
    assert cause["errorMessage"] == "bad input: empty file"
    assert cause["stackTrace"]


def test_custom_exception_class_is_the_error_name(
    create_function: Create, run_task: Callable[..., Any]
) -> None:
    create_function("fn-nr", "basic.not_ready")
    with pytest.raises(StateFailure) as info:
        run_task(ARN.format("fn-nr"), {})
    assert info.value.error == "ModelNotReadyError"


def test_timeout_fails_with_sandbox_timedout(
    create_function: Create, run_task: Callable[..., Any]
) -> None:
    create_function("fn-slow", "basic.sleep", Timeout=1)
    with pytest.raises(StateFailure) as info:
        run_task(INVOKE, {"FunctionName": "fn-slow", "Payload": {"seconds": 30}})
    assert info.value.error == "Sandbox.Timedout"
    assert "Task timed out after 1.00 seconds" in json.loads(info.value.cause)["errorMessage"]


def test_missing_function(run_task: Callable[..., Any]) -> None:
    with pytest.raises(StateFailure) as info:
        run_task(INVOKE, {"FunctionName": "nope"})
    assert info.value.error == "Lambda.ResourceNotFoundException"
    assert "function:nope" in info.value.cause


def test_bad_function_name_is_a_lambda_error(run_task: Callable[..., Any]) -> None:
    with pytest.raises(StateFailure) as info:
        run_task(INVOKE, {"FunctionName": "not a name"})
    assert info.value.error == "Lambda.ValidationException"


def test_payload_without_error_type_is_lambda_unknown(
    runtime: Runtime,
    create_function: Create,
    run_task: Callable[..., Any],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from localaws.lambda_.backend import Invocation

    create_function("fn-a", "basic.echo")
    monkeypatch.setattr(
        runtime.lambda_,
        "invoke_function",
        lambda *a, **k: Invocation(b'{"errorMessage": "old-style timeout"}', "Unhandled", "id"),
    )
    with pytest.raises(StateFailure) as info:
        run_task(INVOKE, {"FunctionName": "fn-a"})
    assert info.value.error == "Lambda.Unknown"
    assert info.value.cause.startswith(
        "The cause could not be determined because Lambda did not return an error type."
    )


def test_cancel_kills_the_worker(
    runtime: Runtime, create_function: Create, run_task: Callable[..., Any], tmp_path: Path
) -> None:
    create_function("fn-slow", "basic.sleep", Timeout=60)
    cancelled = threading.Event()
    outcome: list[BaseException] = []
    started = tmp_path / "started"
    payload = {"seconds": 60, "started_file": str(started)}

    def work() -> None:
        try:
            run_task(INVOKE, {"FunctionName": "fn-slow", "Payload": payload}, cancelled)
        except BaseException as e:
            outcome.append(e)

    thread = threading.Thread(target=work)
    thread.start()
    deadline = time.monotonic() + 30
    while not started.exists() and time.monotonic() < deadline:
        time.sleep(0.02)
    assert started.exists(), "the handler did not start"
    assert runtime.lambda_.worker_pids("fn-slow")
    cancelled.set()
    thread.join(timeout=5)
    assert not thread.is_alive()
    assert isinstance(outcome[0], StateFailure)
    assert runtime.lambda_.worker_pids("fn-slow") == []


def test_wait_for_task_token_invokes_and_returns(
    create_function: Create, run_task: Callable[..., Any]
) -> None:
    create_function("fn-a", "basic.echo")
    result = run_task(
        INVOKE + ".waitForTaskToken", {"FunctionName": "fn-a", "Payload": {"Token": "t-1"}}
    )
    assert result["Payload"] == {"event": {"Token": "t-1"}}


def test_event_invocation_type(create_function: Create, run_task: Callable[..., Any]) -> None:
    create_function("fn-a", "basic.echo")
    result = run_task(INVOKE, {"FunctionName": "fn-a", "InvocationType": "Event", "Payload": {}})
    assert result["StatusCode"] == 202
    assert result["Payload"] is None
    assert "ExecutedVersion" not in result


def test_registry_resolves_actions_and_refuses_sync(runtime: Runtime) -> None:
    registry = IntegrationRegistry([LambdaIntegration(runtime)])
    assert registry.resolve(INVOKE).pattern is Pattern.REQUEST_RESPONSE
    assert registry.resolve(INVOKE + ".waitForTaskToken").pattern is Pattern.WAIT_FOR_TASK_TOKEN
    assert registry.resolve(ARN.format("fn-a") + ":$LATEST").action == "legacy"
    with pytest.raises(Exception, match="does not support the sync"):
        registry.resolve(INVOKE + ".sync")


@pytest.mark.parametrize(
    ("parameters", "problem"),
    [
        ({"Payload": {}}, "Parameters/FunctionName: required"),
        ({"FunctionName": 3}, "FunctionName: must be a string"),
        ({"FunctionName": "f", "Bogus": 1}, "Parameters/Bogus: not a parameter of lambda:invoke"),
        ({"FunctionName": "f", "InvocationType": "Sync"}, "InvocationType: 'Sync' is not one of"),
    ],
    ids=["missing-name", "name-type", "unknown-parameter", "invocation-type"],
)
def test_validate_static_parameters(
    runtime: Runtime, parameters: dict[str, Any], problem: str
) -> None:
    problems = LambdaIntegration(runtime).validate(
        "invoke", Pattern.REQUEST_RESPONSE, parameters, "/States/Invoke/Parameters"
    )
    assert len(problems) == 1
    assert problem in problems[0]
    assert problems[0].startswith("/States/Invoke/Parameters")
    assert "Parameters.Parameters" not in problems[0]


def test_validate_accepts_dynamic_function_name(runtime: Runtime) -> None:
    integration = LambdaIntegration(runtime)
    assert (
        integration.validate(
            "invoke", Pattern.REQUEST_RESPONSE, {"FunctionName.$": "$.fn", "Payload.$": "$"}, "S"
        )
        == []
    )
