from __future__ import annotations

import importlib
import sys

import pytest

from workflows.functions import LAMBDAS_DIR, FunctionsFileError, function, load_functions


def test_the_four_functions_and_their_handlers():
    specs = load_functions()
    assert [s.role for s in specs] == ["prepare", "evaluate", "predict", "api"]
    assert [s.handler for s in specs] == [
        "prepare.handler", "evaluate.handler", "predict.handler", "api.handler",
    ]  # fmt: skip
    for spec in specs:
        assert spec.name.startswith("predictive-maintenance-")
        assert 1 <= spec.timeout <= 900 and 128 <= spec.memory <= 10240
        assert spec.code_dir == LAMBDAS_DIR and spec.runtime == "python3.12"
    assert function("predict").environment == {"PREDICTIONS_TABLE": "predictions"}
    assert function("predictive-maintenance-prepare").permissions == ("s3_read", "s3_write")
    assert function("api").environment == {"ENDPOINT_NAME": "predictive-maintenance"}
    assert function("api").permissions == ("sagemaker_invoke",)


def test_every_handler_is_importable_from_the_code_dir(monkeypatch):
    monkeypatch.syspath_prepend(str(LAMBDAS_DIR))
    for spec in load_functions():
        module = importlib.import_module(spec.module)
        assert callable(getattr(module, spec.handler.rsplit(".", 1)[1]))
    assert str(LAMBDAS_DIR) in sys.path


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        (
            "- {name: f, handler: nodots, timeout: 3, memory: 128}",
            "f.handler: 'nodots' is not <module>.<function>",
        ),
        (
            "- {name: f, handler: a.b, timeout: 0, memory: 128}",
            "f.timeout: expected an integer from 1 to 900, got 0",
        ),
        (
            "- {name: f, handler: a.b, timeout: 3, memory: 64}",
            "f.memory: expected an integer from 128 to 10240, got 64",
        ),
        ("- {name: f, handler: a.b, timeout: 3, memory: 128, size: 1}", "unknown fields ['size']"),
        (
            "- {name: f, handler: a.b, timeout: 3, memory: 128, permissions: [root]}",
            "permissions: unknown ['root']",
        ),
        (
            "- {name: 'bad name', handler: a.b, timeout: 3, memory: 128}",
            "name: 'bad name' is not a function name",
        ),
    ],
    ids=["handler", "timeout", "memory", "unknown-field", "permission", "name"],
)
def test_malformed_entries_name_the_function_and_field(tmp_path, entry, message):
    path = tmp_path / "functions.yaml"
    path.write_text("functions:\n  " + entry + "\n")
    with pytest.raises(FunctionsFileError) as info:
        load_functions(path)
    assert message in str(info.value)


def test_duplicate_names_are_refused(tmp_path):
    path = tmp_path / "functions.yaml"
    path.write_text("functions:\n" + "  - {name: f, handler: a.b, timeout: 3, memory: 128}\n" * 2)
    with pytest.raises(FunctionsFileError, match=r"duplicated: \['f'\]"):
        load_functions(path)
