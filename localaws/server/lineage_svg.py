"""The console's lineage graph of a model: QueryLineage's vertices and edges as an SVG.

Columns follow the edges (a vertex sits one column right of its furthest source), so that a
model reads left to right: data sets and images, the training job, the model, its
deployment, the endpoint.  Boxes name the entity's type and the end of its ARN or source.
"""

from __future__ import annotations

from html import escape
from typing import Any

BOX_W, BOX_H, GAP_X, GAP_Y, PAD = 190, 46, 60, 18, 16
COLOURS = {
    "Artifact": "#e8f1fb",
    "TrialComponent": "#fdf3e1",
    "Action": "#eaf7ea",
    "Context": "#f3eafa",
}


def _columns(arns: list[str], edges: list[dict[str, Any]]) -> dict[str, int]:
    column = dict.fromkeys(arns, 0)
    for _ in range(len(arns)):  # longest path from a source; stops early once stable
        changed = False
        for e in edges:
            src, dst = e["SourceArn"], e["DestinationArn"]
            if src in column and dst in column and column[dst] < column[src] + 1:
                column[dst] = column[src] + 1
                changed = True
        if not changed:
            break
    return column


def render_lineage_svg(
    vertices: list[dict[str, Any]],
    edges: list[dict[str, Any]],
    labels: dict[str, str],
    *,
    highlight: str | None = None,
    title: str = "",
) -> str:
    arns = [v["Arn"] for v in vertices]
    kinds = {v["Arn"]: v for v in vertices}
    column = _columns(arns, edges)
    rows: dict[int, list[str]] = {}
    for arn in sorted(arns, key=lambda a: (column[a], kinds[a]["Type"], labels.get(a, a))):
        rows.setdefault(column[arn], []).append(arn)
    place = {}
    for col, items in rows.items():
        for row, arn in enumerate(items):
            place[arn] = (PAD + col * (BOX_W + GAP_X), PAD + 24 + row * (BOX_H + GAP_Y))
    width = PAD * 2 + max(len(rows), 1) * (BOX_W + GAP_X) - GAP_X
    height = PAD * 2 + 24 + max((len(r) for r in rows.values()), default=1) * (BOX_H + GAP_Y)
    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" font-family="sans-serif" font-size="12">',
        '<defs><marker id="arrow" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="7" '
        'markerHeight="7" orient="auto"><path d="M0,0 L10,5 L0,10 z" fill="#666"/></marker></defs>',
        f'<text x="{PAD}" y="{PAD + 8}" font-weight="bold">{escape(title)}</text>',
    ]
    for e in edges:
        if e["SourceArn"] not in place or e["DestinationArn"] not in place:
            continue
        (x1, y1), (x2, y2) = place[e["SourceArn"]], place[e["DestinationArn"]]
        out.append(
            f'<line x1="{x1 + BOX_W}" y1="{y1 + BOX_H / 2}" x2="{x2}" y2="{y2 + BOX_H / 2}" '
            f'stroke="#666" marker-end="url(#arrow)"><title>'
            f"{escape(e.get('AssociationType') or '')}</title></line>"
        )
    for arn, (x, y) in place.items():
        vertex = kinds[arn]
        fill = COLOURS.get(vertex["LineageType"], "#eee")
        stroke = "#c0392b" if arn == highlight else "#888"
        label = labels.get(arn, arn.rsplit("/", 1)[-1])
        short = label if len(label) <= 28 else "…" + label[-27:]
        out.append(
            f'<g class="lineage-vertex" data-arn="{escape(arn)}"><title>{escape(arn)}\n'
            f"{escape(label)}</title>"
            f'<rect x="{x}" y="{y}" width="{BOX_W}" height="{BOX_H}" rx="6" fill="{fill}" '
            f'stroke="{stroke}" stroke-width="{2 if arn == highlight else 1}"/>'
            f'<text x="{x + 8}" y="{y + 18}" font-weight="bold">'
            f"{escape(vertex['Type'] or vertex['LineageType'])}</text>"
            f'<text x="{x + 8}" y="{y + 36}" fill="#444">{escape(short)}</text></g>'
        )
    out.append("</svg>")
    return "\n".join(out)
