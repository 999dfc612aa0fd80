"""The movie-recommender notebook, built from its generator and executed against a local
server the test starts (60 users, 300 movies)."""

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
NOTEBOOK = NOTEBOOKS / "movie_recommender.ipynb"
ARTIFACTS = ROOT / "test-artifacts" / "notebooks"


def test_notebook_is_built_from_the_generator() -> None:
    assert_built_from_its_builder("build_movie_walkthrough.py")


def test_movie_walkthrough_runs_top_to_bottom(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    nb = nbformat.read(NOTEBOOK, as_version=4)
    with LocalServer(tmp_path / "state") as server:
        monkeypatch.setenv("LOCALAWS_URL", server.url)
        monkeypatch.setenv("MOVIES_USERS", "60")
        monkeypatch.setenv("MOVIES_MOVIES", "300")
        monkeypatch.setenv("MPLBACKEND", "module://matplotlib_inline.backend_inline")
        for name in ("AWS_PROFILE", "AWS_ENDPOINT_URL", "AWS_CONFIG_FILE"):
            monkeypatch.delenv(name, raising=False)
        client = NotebookClient(
            nb, timeout=900, kernel_name="python3",
            resources={"metadata": {"path": str(NOTEBOOKS)}},
        )  # fmt: skip
        try:
            client.execute()
        finally:
            ARTIFACTS.mkdir(parents=True, exist_ok=True)
            nbformat.write(nb, ARTIFACTS / "movie_recommender.executed.ipynb")
    text = _text(nb)
    assert re.search(r"^SUCCEEDED in \d+\.\d s", text, re.M), text[-3000:]
    m = re.search(r"precision@10: model (\d\.\d+), popularity (\d\.\d+)", text)
    assert m and float(m.group(1)) > float(m.group(2))
    athena = re.search(r"Athena: (\d+) streamed records, Firehose delivered (\d+)", text)
    assert athena and athena.group(1) == athena.group(2)
    assert "existing user" in text and "new user: users with the same likes" in text
    assert text.count("https://www.imdb.com/title/tt") >= 10
