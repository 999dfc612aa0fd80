"""A backend's own bug is a 500 (logged), not the caller's ValidationException; a member AWS
has and the local runtime does not take is refused by name before the backend runs."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import pytest
from botocore.exceptions import ClientError

from localaws.server.serve import LocalServer


def test_a_type_error_inside_a_backend_is_an_internal_failure(
    server: LocalServer,
    client: Callable[..., Any],
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    def buggy(*, maxResults: int | None = None, nextToken: str | None = None) -> dict[str, Any]:
        return {"stateMachines": sorted([1, "a"])}  # TypeError: a bug, not a bad request

    monkeypatch.setattr(server.runtime.stepfunctions, "list_state_machines", buggy)
    with caplog.at_level(logging.ERROR), pytest.raises(ClientError) as info:
        client("stepfunctions").list_state_machines()
    error = info.value.response
    assert error["ResponseMetadata"]["HTTPStatusCode"] == 500
    assert error["Error"]["Code"] in ("InternalServerError", "InternalFailure")
    assert "TypeError" in error["Error"]["Message"]
    assert any("ListStateMachines failed" in r.getMessage() for r in caplog.records)


def test_a_member_the_backend_does_not_take_is_refused_by_name(
    server: LocalServer, client: Callable[..., Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    called: list[str] = []

    def narrow(*, stateMachineArn: str) -> dict[str, Any]:
        called.append(stateMachineArn)
        return {}

    monkeypatch.setattr(server.runtime.stepfunctions, "describe_state_machine", narrow)
    with pytest.raises(ClientError) as info:
        client("stepfunctions").describe_state_machine(
            stateMachineArn="arn:aws:states:us-east-1:123456789012:stateMachine:x",
            includedData="ALL_DATA",
        )
    error = info.value.response["Error"]
    assert error["Code"] == "ValidationException"
    assert "includedData" in error["Message"]
    assert called == []
