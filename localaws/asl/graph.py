"""Draw a state machine, and an execution's progress, as a self-contained SVG.

No JavaScript and no network: the SVG renders the same in JupyterLab, classic Jupyter, a
plain browser and the console.  Layout is a layered drawing: each state sits one layer
below the deepest state that leads to it (loops are ignored for layering), states in a
layer are ordered by the mean position of their parents.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from html import escape
from typing import Any

from localaws.asl.fold import fold, statuses

# Execution status of a state (:class:`localaws.asl.fold.Status`, or not reached) -> fill
# colour and stroke.
COLORS = {
    "not_reached": "#f4f5f7",
    "running": "#cfe3ff",
    "retrying": "#ffe8b8",
    "succeeded": "#c9f0d3",
    "failed": "#ffd3cf",
    "caught": "#ffe8b8",
    "cancelled": "#e8eaed",
}
STROKES = {
    "not_reached": "#9aa3ad",
    "running": "#2f6fdb",
    "retrying": "#2f6fdb",
    "succeeded": "#1e8e3e",
    "failed": "#d93025",
    "caught": "#e37400",
    "cancelled": "#5f6368",
}
NODE_W, NODE_H, GAP_X, GAP_Y, MARGIN = 190, 44, 36, 46, 20


def edges(definition: dict[str, Any]) -> list[tuple[str, str, str]]:
    """(from, to, kind) for every transition: kind is next, choice, default or catch."""
    out: list[tuple[str, str, str]] = []
    for name, state in definition.get("States", {}).items():
        if "Next" in state:
            out.append((name, state["Next"], "next"))
        for rule in state.get("Choices", []):
            if "Next" in rule:
                out.append((name, rule["Next"], "choice"))
        if "Default" in state:
            out.append((name, state["Default"], "default"))
        for catcher in state.get("Catch", []):
            if "Next" in catcher:
                out.append((name, catcher["Next"], "catch"))
    return out


def layout(definition: dict[str, Any]) -> dict[str, tuple[int, int]]:
    """State name -> (layer, position in layer)."""
    states = list(definition.get("States", {}))
    start = definition.get("StartAt")
    children: dict[str, list[str]] = defaultdict(list)
    for a, b, _ in edges(definition):
        if b in definition.get("States", {}):
            children[a].append(b)
    # Depth-first order from StartAt marks back edges; longest path over the rest.
    order: list[str] = []
    seen: set[str] = set()
    on_stack: set[str] = set()
    back: set[tuple[str, str]] = set()

    def visit(node: str) -> None:
        seen.add(node)
        on_stack.add(node)
        for child in children[node]:
            if child in on_stack:
                back.add((node, child))
            elif child not in seen:
                visit(child)
        on_stack.discard(node)
        order.append(node)

    for root in [start, *states]:
        if root in definition.get("States", {}) and root not in seen:
            visit(root)
    layer = dict.fromkeys(states, 0)
    for node in reversed(order):
        for child in children[node]:
            if (node, child) not in back:
                layer[child] = max(layer[child], layer[node] + 1)
    rows: dict[int, list[str]] = defaultdict(list)
    for node in reversed(order):
        rows[layer[node]].append(node)
    pos: dict[str, tuple[int, int]] = {}
    parents: dict[str, list[str]] = defaultdict(list)
    for a, kids in children.items():
        for b in kids:
            parents[b].append(a)
    for depth in sorted(rows):
        row = rows[depth]
        first_seen = {n: i for i, n in enumerate(row)}

        def weight(n: str, first_seen: dict[str, int] = first_seen) -> float:
            xs = [pos[p][1] for p in parents[n] if p in pos]
            return sum(xs) / len(xs) if xs else float(first_seen[n])

        row.sort(key=weight)
        for i, node in enumerate(row):
            pos[node] = (depth, i)
    return pos


def render_execution(
    definition: dict[str, Any], events: Iterable[Mapping[str, Any]], *, title: str = ""
) -> str:
    """An SVG of ``definition`` coloured by the top-level visits of an execution's history."""
    return render_svg(definition, statuses(fold(events)), title=title)


def render_svg(
    definition: dict[str, Any], statuses: dict[str, str] | None = None, *, title: str = ""
) -> str:
    """An SVG of ``definition``; ``statuses`` colours states (see COLORS for the keys); an
    execution's come from :func:`localaws.asl.fold.statuses`."""
    statuses = statuses or {}
    pos = layout(definition)
    if not pos:
        return '<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10"></svg>'
    widest = max(sum(1 for p in pos.values() if p[0] == d) for d in {p[0] for p in pos.values()})
    depth = max(p[0] for p in pos.values()) + 1
    width = MARGIN * 2 + widest * NODE_W + (widest - 1) * GAP_X
    top = MARGIN + (24 if title else 0)
    height = top + MARGIN + depth * NODE_H + (depth - 1) * GAP_Y
    row_len: defaultdict[int, int] = defaultdict(int)
    for d, _ in pos.values():
        row_len[d] += 1

    def xy(name: str) -> tuple[float, float]:
        d, i = pos[name]
        row_width = row_len[d] * NODE_W + (row_len[d] - 1) * GAP_X
        x0 = (width - row_width) / 2
        return x0 + i * (NODE_W + GAP_X), top + d * (NODE_H + GAP_Y)

    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" font-family="Helvetica, Arial, sans-serif" font-size="13">',
        "<defs>"
        '<marker id="arrow" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7" markerHeight="7" orient="auto">'
        '<path d="M0,0 L10,5 L0,10 z" fill="#5f6368"/></marker></defs>',
    ]
    if title:
        parts.append(
            f'<text x="{MARGIN}" y="{MARGIN + 4}" font-weight="bold">{escape(title)}</text>'
        )
    for a, b, kind in edges(definition):
        if a not in pos or b not in pos:
            continue
        ax, ay = xy(a)
        bx, by = xy(b)
        x1, y1 = ax + NODE_W / 2, ay + NODE_H
        x2, y2 = bx + NODE_W / 2, by
        if by <= ay:  # a loop back up: route around the right side
            x1, y1, x2, y2 = ax + NODE_W, ay + NODE_H / 2, bx + NODE_W, by + NODE_H / 2
            path = f"M{x1},{y1} C{x1 + 60},{y1} {x2 + 60},{y2} {x2 + 2},{y2}"
        else:
            path = f"M{x1},{y1} C{x1},{(y1 + y2) / 2} {x2},{(y1 + y2) / 2} {x2},{y2 - 2}"
        # Catch edges are dashed and faint: a workflow with a Catch on every task would
        # otherwise be drawn as a fan of lines over the happy path.
        dash = ' stroke-dasharray="5,4" stroke-opacity="0.45"' if kind == "catch" else ""
        color = "#e37400" if kind == "catch" else "#5f6368"
        parts.append(
            f'<path class="edge edge-{kind}" d="{path}" fill="none" stroke="{color}"{dash} '
            'stroke-width="1.4" marker-end="url(#arrow)"/>'
        )
    for name, state in definition.get("States", {}).items():
        x, y = xy(name)
        status = statuses.get(name, "not_reached")
        fill, stroke = (
            COLORS.get(status, COLORS["not_reached"]),
            STROKES.get(status, STROKES["not_reached"]),
        )
        kind = state.get("Type", "")
        rx = NODE_H / 2 if kind in ("Succeed", "Fail") else 6
        label = name if len(name) <= 24 else name[:23] + "…"
        parts.append(
            f'<g class="state" data-state="{escape(name)}" data-status="{status}">'
            f"<title>{escape(name)} ({escape(kind)}): {status.replace('_', ' ')}</title>"
            f'<rect x="{x}" y="{y}" width="{NODE_W}" height="{NODE_H}" rx="{rx}" fill="{fill}" '
            f'stroke="{stroke}" stroke-width="1.6"/>'
            f'<text x="{x + NODE_W / 2}" y="{y + 19}" text-anchor="middle">{escape(label)}</text>'
            f'<text x="{x + NODE_W / 2}" y="{y + 35}" text-anchor="middle" font-size="10" '
            f'fill="#5f6368">{escape(kind)}</text></g>'
        )
    parts.append("</svg>")
    return "".join(parts)


class Graph:
    """Wraps an SVG so notebooks display it inline (``_repr_svg_``, ``_repr_html_``)."""

    def __init__(self, svg: str):
        self.svg = svg

    def _repr_svg_(self) -> str:
        return self.svg

    def _repr_html_(self) -> str:
        return self.svg

    def __str__(self) -> str:
        return self.svg
