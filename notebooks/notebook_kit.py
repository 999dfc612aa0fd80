"""What every notebook builder in this folder shares: its cells become a notebook, written
next to the builder, or checked (``--check``: exit 1 when the committed notebook is stale).

A builder keeps only its ``CELLS`` (``("md" | "code", source)`` pairs) and calls
:func:`main`; the builders run as scripts, so this module is imported from their folder.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

import nbformat

Cells = Sequence[tuple[str, str]]


def build(cells: Cells) -> nbformat.NotebookNode:
    """A notebook of ``cells``, with stable cell ids (``cell-00``, ...)."""
    nb = nbformat.v4.new_notebook()
    nb.metadata = {
        "kernelspec": {"display_name": "Python 3", "language": "python", "name": "python3"},
        "language_info": {"name": "python"},
    }
    for i, (kind, source) in enumerate(cells):
        cell = (
            nbformat.v4.new_markdown_cell(source)
            if kind == "md"
            else nbformat.v4.new_code_cell(source)
        )
        cell["id"] = f"cell-{i:02d}"
        nb.cells.append(cell)
    return nb


def render(cells: Cells) -> str:
    """The notebook's file text."""
    return nbformat.writes(build(cells)) + "\n"


def main(argv: list[str] | None, cells: Cells, notebook: Path, builder: str, doc: str) -> int:
    """The builder's command line: write ``notebook``, or ``--check`` it is current."""
    parser = argparse.ArgumentParser(description=doc.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="exit 1 when the notebook is stale")
    args = parser.parse_args(argv)
    text = render(cells)
    if args.check:
        current = notebook.read_text(encoding="utf-8") if notebook.exists() else ""
        if current != text:
            print(
                f"{notebook} is stale: run python notebooks/{Path(builder).name}", file=sys.stderr
            )
            return 1
        return 0
    notebook.write_text(text, encoding="utf-8")
    print(f"wrote {notebook}")
    return 0
