"""The hotel-clusters notebook, executed top to bottom against a local server."""

from __future__ import annotations

import re
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient
from notebook_support import assert_built_from_its_builder
from notebook_support import text_of as _text

from localaws.server.serve import LocalServer

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]
NOTEBOOKS = ROOT / "notebooks"
NOTEBOOK = NOTEBOOKS / "hotel_clusters.ipynb"
ARTIFACTS = ROOT / "test-artifacts" / "notebooks"
ROWS = 4000


def test_notebook_is_built_from_the_generator() -> None:
    assert_built_from_its_builder("build_hotel_clusters.py")


def test_notebook_runs_top_to_bottom(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    nb = nbformat.read(NOTEBOOK, as_version=4)
    with LocalServer(tmp_path / "state") as server:
        monkeypatch.setenv("LOCALAWS_URL", server.url)
        monkeypatch.setenv("HOTEL_ROWS", str(ROWS))
        monkeypatch.setenv("MPLBACKEND", "module://matplotlib_inline.backend_inline")
        for name in ("AWS_PROFILE", "AWS_ENDPOINT_URL", "AWS_CONFIG_FILE"):
            monkeypatch.delenv(name, raising=False)
        client = NotebookClient(
            nb, timeout=900, kernel_name="python3", resources={"metadata": {"path": str(NOTEBOOKS)}}
        )
        try:
            client.execute()
        finally:
            ARTIFACTS.mkdir(parents=True, exist_ok=True)
            nbformat.write(nb, ARTIFACTS / "hotel_clusters.executed.ipynb")
    text = _text(nb)
    assert "ingestion SUCCEEDED, training SUCCEEDED" in text
    m = re.search(r"stream: (\d+) events -> (\d+) items", text)
    assert m and m.group(1) == m.group(2), text[-2000:]
    assert "poisoned records: 1, on the failure queue: 1 (batch sizes [1])" in text
    assert re.search(r"\d+ items in table 'hotel-cluster-predictions'", text)
    assert "FeatureGroup hotel-customers -[ContributedTo]-> AthenaQuery" in text
    assert "drifted: ['days_to_trip']" in text
    svgs = [
        o for c in nb.cells for o in c.get("outputs", []) if "image/svg+xml" in o.get("data", {})
    ]
    assert svgs
