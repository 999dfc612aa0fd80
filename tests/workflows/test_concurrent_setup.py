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


def test_serves_start_hook_leaves_a_machine_a_run_has_put(tmp_path: Path) -> None:
    """``serve`` then ``run --featurizer lambda``: the hook (the pipeline, the default) must not
    replace the machine the run put meanwhile, or the run starts the other variant's
    definition with its own input (it failed with States.Runtime at once)."""
    import json

    from workflows import predictive_maintenance as pm
    from workflows.settings import load

    settings = load()
    lambda_variant = settings.replace(**{"featurizer.mode": "lambda"})
    assert pm.pipeline_mode(settings) and not pm.pipeline_mode(lambda_variant)
    with LocalTarget(tmp_path / "state") as target:
        arn = local.deploy_state_machine(target, lambda_variant, pm.definition(lambda_variant))
        assert local.prepare_console(target, settings) == arn
        described = target.stepfunctions.describe_state_machine(stateMachineArn=arn)
        assert json.loads(described["definition"]) == pm.definition(lambda_variant)
        assert not target.runtime.layout.example(settings.name).exists()  # the run writes it
