"""What the notebook tests share: reading an executed notebook's outputs, and checking that
the committed notebook is what its builder writes."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import nbformat

NOTEBOOKS = Path(__file__).resolve().parents[2] / "notebooks"


def text_of(nb: nbformat.NotebookNode) -> str:
    """Every stream and text/plain output of the notebook, in order."""
    parts = []
    for cell in nb.cells:
        for out in cell.get("outputs", []):
            if out.get("output_type") == "stream":
                parts.append(out.get("text", ""))
            elif "data" in out:
                parts.append(out["data"].get("text/plain", ""))
    return "\n".join(parts)


def outputs_of(nb: nbformat.NotebookNode, mime: str) -> list[str]:
    """The outputs of one MIME type (``image/png``, ``text/html``...), in order."""
    return [
        out["data"][mime]
        for cell in nb.cells
        for out in cell.get("outputs", [])
        if mime in out.get("data", {})
    ]


def assert_built_from_its_builder(builder: str) -> None:
    """``notebooks/<builder> --check`` passes: the committed notebook is current."""
    result = subprocess.run(
        [sys.executable, str(NOTEBOOKS / builder), "--check"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr
