"""The whole compiled definition of each featurizer variant, compared with its reviewed snapshot.

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

SNAPSHOTS = Path(__file__).parent / "snapshots"
# featurizer.mode -> its snapshot (pipeline is the default, lambda the Lambda-featurised variant).
SNAPSHOT_OF = {
    "pipeline": SNAPSHOTS / "predictive_maintenance_pipeline.asl.json",
    "lambda": SNAPSHOTS / "predictive_maintenance.asl.json",
}


def render(definition: dict) -> str:
    return json.dumps(definition, indent=2, sort_keys=True) + "\n"


def test_the_default_featurizer_is_the_pipeline(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(settings_module.ENV_CONFIG, raising=False)
    assert settings_module.load().featurizer.mode == "pipeline"


@pytest.mark.parametrize("mode", sorted(SNAPSHOT_OF))
def test_definition_matches_the_snapshot(monkeypatch: pytest.MonkeyPatch, mode: str) -> None:
    monkeypatch.delenv(settings_module.ENV_CONFIG, raising=False)
    snapshot = SNAPSHOT_OF[mode]
    actual = render(pm.definition(settings_module.load(overrides={"featurizer.mode": mode})))
    if os.environ.get("UPDATE_SNAPSHOTS") == "1":
        snapshot.write_text(actual, encoding="utf-8")
    expected = snapshot.read_text(encoding="utf-8")
    if actual != expected:
        diff = "".join(
            difflib.unified_diff(
                expected.splitlines(keepends=True),
                actual.splitlines(keepends=True),
                fromfile=str(snapshot),
                tofile=f"definition(featurizer.mode: {mode})",
            )
        )
        pytest.fail(
            f"the definition changed; review and regenerate with UPDATE_SNAPSHOTS=1\n{diff}"
        )


@pytest.mark.parametrize("mode", sorted(SNAPSHOT_OF))
def test_snapshot_is_a_definition_the_local_engine_accepts(tmp_path: Path, mode: str) -> None:
    from localaws.runtime import Runtime

    with Runtime(tmp_path / "state") as rt:
        created = rt.stepfunctions.create_state_machine(
            name="snapshot",
            definition=SNAPSHOT_OF[mode].read_text(encoding="utf-8"),
            roleArn="arn:aws:iam::123456789012:role/snapshot",
        )
    assert created["stateMachineArn"].endswith(":stateMachine:snapshot")
