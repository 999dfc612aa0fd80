"""The walkthrough notebook, executed top to bottom against a local server the test starts.

The kernel is ``python3`` from this virtual environment (nbclient starts it with
``sys.executable``); the notebook reads the server's URL and state directory from
``LOCALAWS_URL`` and ``LOCALAWS_STATE_DIR`` and the data size from ``WALKTHROUGH_ROWS``.
The executed notebook is saved under ``test-artifacts/notebooks/``.
"""

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

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]
NOTEBOOKS = ROOT / "notebooks"
NOTEBOOK = NOTEBOOKS / "walkthrough.ipynb"
ARTIFACTS = ROOT / "test-artifacts" / "notebooks"
ROWS = 3000


def test_notebook_is_built_from_the_generator() -> None:
    assert_built_from_its_builder("build_walkthrough.py")


def test_walkthrough_runs_top_to_bottom(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    nb = nbformat.read(NOTEBOOK, as_version=4)
    assert 'TARGET = "local"' in nb.cells[1].source
    with LocalServer(tmp_path / "state") as server:
        monkeypatch.setenv("LOCALAWS_URL", server.url)
        monkeypatch.setenv("LOCALAWS_STATE_DIR", str(server.runtime.state_dir))
        monkeypatch.setenv("WALKTHROUGH_ROWS", str(ROWS))
        monkeypatch.setenv("MPLBACKEND", "module://matplotlib_inline.backend_inline")
        for name in ("AWS_PROFILE", "AWS_ENDPOINT_URL", "AWS_CONFIG_FILE"):
            monkeypatch.delenv(name, raising=False)
        client = NotebookClient(
            nb,
            timeout=600,
            kernel_name="python3",
            resources={"metadata": {"path": str(NOTEBOOKS)}},
        )
        try:
            client.execute()
        finally:
            ARTIFACTS.mkdir(parents=True, exist_ok=True)
            nbformat.write(nb, ARTIFACTS / "walkthrough.executed.ipynb")
    text = _text(nb)

    m = re.search(r"ROC AUC: (\d\.\d+)", text)
    assert m, f"no ROC AUC printed:\n{text[-3000:]}"
    assert float(m.group(1)) > 0.9
    assert re.search(r"^SUCCEEDED in \d+\.\d s", text, re.M)
    assert f"{ROWS:,} rows" in text
    assert re.search(r"\d+ predictions in table 'predictions'", text)
    assert re.search(r"score 0\.\d{4}", text)  # the endpoint answered
    # The inference pipeline: raw readings, drift on the three shifted sensors, the HTTP API.
    assert "pipeline run: SUCCEEDED" in text
    assert re.search(r"L,298\.4,308\.2,1582,70\.7,216 +failure probability 0\.\d{4}", text)
    assert "normal traffic: Completed, 0 violations" in text
    assert "drifted traffic: CompletedWithViolations, 3 violations" in text
    assert "baseline_drift_check" in text and "Tool wear" in text
    assert "POST 'L,298.4,308.2,1582,70.7,216': 200" in text
    assert "POST 'L,298.4,hot,1582,70.7,216': 400" in text
    assert re.search(
        r"POST http://127\.0\.0\.1:\d+/restapis/\w+/\$default/_user_request_/predict: 200 \{", text
    )
    # Exploration: the crawled table and Athena's answers over this run's partition.
    assert "tables: ['raw']" in text
    assert re.search(rf"readings\s+0\s+{ROWS}", text), text[-2000:]
    assert re.search(r"type\s+machines\s+failure_rate", text)
    # Plots (class balance, features, ROC and importance) and our own SVG graphs.
    assert len(_outputs_of(nb, "image/png")) >= 3
    graphs = _outputs_of(nb, "image/svg+xml")
    assert len(graphs) >= 2
    final_graph = graphs[-1]
    assert 'data-state="Done" data-status="succeeded"' in final_graph
    assert 'data-status="running"' not in final_graph
