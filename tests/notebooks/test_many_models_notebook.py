"""The many-models notebook, executed top to bottom against a local server the test starts
(2 dimensions x 600 rows); the executed copy is saved under ``test-artifacts/notebooks/``."""

from __future__ import annotations

import re
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient
from notebook_support import assert_built_from_its_builder
from notebook_support import outputs_of as _outputs_of
from notebook_support import text_of as _text

from localaws.server.serve import LocalServer

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("many-models")]

ROOT = Path(__file__).resolve().parents[2]
NOTEBOOKS = ROOT / "notebooks"
NOTEBOOK = NOTEBOOKS / "many_models.ipynb"
ARTIFACTS = ROOT / "test-artifacts" / "notebooks"


def test_notebook_is_built_from_the_generator() -> None:
    assert_built_from_its_builder("build_many_models.py")


def test_many_models_notebook_runs_top_to_bottom(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    nb = nbformat.read(NOTEBOOK, as_version=4)
    with LocalServer(tmp_path / "state") as server:
        monkeypatch.setenv("LOCALAWS_URL", server.url)
        monkeypatch.setenv("MANY_MODELS_DIMENSIONS", "2")
        monkeypatch.setenv("MANY_MODELS_ROWS", "600")
        monkeypatch.setenv("MPLBACKEND", "module://matplotlib_inline.backend_inline")
        for name in ("AWS_PROFILE", "AWS_ENDPOINT_URL", "AWS_CONFIG_FILE", "WORKFLOWS_CONFIG"):
            monkeypatch.delenv(name, raising=False)
        client = NotebookClient(
            nb,
            timeout=1800,
            kernel_name="python3",
            resources={"metadata": {"path": str(NOTEBOOKS)}},
        )
        try:
            client.execute()
        finally:
            ARTIFACTS.mkdir(parents=True, exist_ok=True)
            nbformat.write(nb, ARTIFACTS / "many_models.executed.ipynb")
    text = _text(nb)
    assert "fan-out SUCCEEDED; dim01 SUCCEEDED, dim02 SUCCEEDED" in text, text[-3000:]
    assert "2 model package versions" in text
    assert re.search(r"dim01: (\d+)/\1 rows scored, dim02: (\d+)/\2 rows scored", text), text[
        -2000:
    ]
    assert re.search(r"60 predictions for dim01; agreement with ground truth \d+\.\d%", text)
    assert len(_outputs_of(nb, "image/png")) >= 1  # the metrics plot
    graphs = _outputs_of(nb, "image/svg+xml")
    assert any('data-state="TrainEveryDimension" data-status="succeeded"' in g for g in graphs)
    assert any('data-state="Done" data-status="succeeded"' in g for g in graphs)
