"""The whole compiled definition, compared with the reviewed snapshot.

When the workflow changes on purpose, regenerate the snapshot and review its diff::

    UPDATE_SNAPSHOTS=1 .venv/bin/pytest tests/workflows/test_definition_snapshot.py
"""

from __future__ import annotations

import difflib
import json
import os
from pathlib import Path

import pytest

from workflows import predictive_maintenance as pm
from workflows import settings as settings_module

SNAPSHOT = Path(__file__).parent / "snapshots" / "predictive_maintenance.asl.json"


def render(definition: dict) -> str:
    return json.dumps(definition, indent=2, sort_keys=True) + "\n"


def test_definition_matches_the_snapshot(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(settings_module.ENV_CONFIG, raising=False)
    actual = render(pm.definition(settings_module.load()))
    if os.environ.get("UPDATE_SNAPSHOTS") == "1":
        SNAPSHOT.write_text(actual, encoding="utf-8")
    expected = SNAPSHOT.read_text(encoding="utf-8")
    if actual != expected:
        diff = "".join(
            difflib.unified_diff(
                expected.splitlines(keepends=True),
                actual.splitlines(keepends=True),
                fromfile=str(SNAPSHOT),
                tofile="definition(settings.load())",
            )
        )
        pytest.fail(
            f"the definition changed; review and regenerate with UPDATE_SNAPSHOTS=1\n{diff}"
        )


def test_snapshot_is_a_definition_the_local_engine_accepts(tmp_path: Path) -> None:
    from localaws.runtime import Runtime

    with Runtime(tmp_path / "state") as rt:
        created = rt.stepfunctions.create_state_machine(
            name="snapshot",
            definition=SNAPSHOT.read_text(encoding="utf-8"),
            roleArn="arn:aws:iam::123456789012:role/snapshot",
        )
    assert created["stateMachineArn"].endswith(":stateMachine:snapshot")
