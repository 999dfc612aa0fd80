"""Setting a use case up while another process does the same (``serve``'s start hook and a
``run`` started right after it): a resource created between our describe and our create is
taken as there, not an error. Each test makes the describe miss a resource that exists."""

from __future__ import annotations

import io
import zipfile
from pathlib import Path
from typing import Any

import pytest

from localaws.errors import ServiceError
from workflows import local
from workflows.functions import FunctionSpec
from workflows.target import LocalTarget

ROLE = "arn:aws:iam::123456789012:role/x"


def missing(code: str) -> Any:
    def describe(**_: Any) -> Any:
        raise ServiceError(code, "not there (as seen before the other process created it)")

    return describe


def handler_zip() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as zf:
        zf.writestr("h.py", "def handler(event, context):\n    return event\n")
    return buffer.getvalue()


def test_a_table_created_meanwhile(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with LocalTarget(tmp_path / "state") as target:
        local.ensure_predictions_table(target, "predictions")
        dynamodb = target.backend("dynamodb")
        monkeypatch.setattr(dynamodb, "describe_table", missing("ResourceNotFoundException"))
        local.ensure_predictions_table(target, "predictions")
        monkeypatch.undo()
        assert dynamodb.describe_table(TableName="predictions")["Table"]["TableName"]


def test_a_function_created_meanwhile_is_updated(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    spec = FunctionSpec(name="f", handler="h.handler", description="d", timeout=3, memory=128)
    with LocalTarget(tmp_path / "state") as target:
        local.put_function(target, spec, handler_zip(), ROLE, {"STAGE": "1"})
        monkeypatch.setattr(target.lambda_, "get_function", missing("ResourceNotFoundException"))
        local.put_function(target, spec, handler_zip(), ROLE, {"STAGE": "2"})
        monkeypatch.undo()
        config = target.lambda_.get_function(FunctionName="f")["Configuration"]
        assert config["Environment"]["Variables"] == {"STAGE": "2"}


def test_a_state_machine_created_meanwhile_is_updated(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    first = {"StartAt": "A", "States": {"A": {"Type": "Pass", "End": True}}}
    second = {"StartAt": "B", "States": {"B": {"Type": "Pass", "End": True}}}
    with LocalTarget(tmp_path / "state") as target:
        arn = target.put_state_machine("m", first, ROLE)
        monkeypatch.setattr(
            target.stepfunctions, "describe_state_machine", missing("StateMachineDoesNotExist")
        )
        assert target.put_state_machine("m", second, ROLE) == arn
        monkeypatch.undo()
        described = target.stepfunctions.describe_state_machine(stateMachineArn=arn)
        assert '"B"' in described["definition"]


def test_a_package_group_created_meanwhile(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with LocalTarget(tmp_path / "state") as target:
        local.ensure_model_package_group(target, "g")
        real = target.sagemaker.describe_model_package_group
        calls = iter([missing("ValidationException"), real])
        monkeypatch.setattr(
            target.sagemaker,
            "describe_model_package_group",
            lambda **kw: next(calls)(**kw),
        )
        local.ensure_model_package_group(target, "g")
