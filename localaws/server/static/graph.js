// A state machine as a graph: the definition -> a compound graph laid out by dagre (vendored,
// dagre.min.js) -> an SVG, coloured by an execution's state visits (localaws.asl.fold).
//
// Parallel and Map states are drawn in place: a cluster holding the state's own box (its
// head), its branches (Parallel) or its item processor (Map), and a join dot the next edge
// leaves from.  Choice edges carry their rule, the Default edge says so, Catch edges name
// their errors.  Node ids are paths: "Name" at the top, "P/1/Name" in branch 1 of Parallel
// P, "M/*/Name" in Map M's processor (which iteration is shown is picked by the page).
//
// Edges are routed so that no segment crosses a box: within a rank's band (the height of
// its tallest box) an edge runs vertically, at its source's or target's x or at the x dagre
// gave its dummy node (which dagre keeps apart from the boxes of that rank); it turns only in
// the free gap between two bands.  tests/console/test_graph_geometry.py checks this for the
// shipped workflows and generated nested machines, in node.
//
// Works in the browser (global SfnGraph, needs the global dagre) and in node (module.exports).
"use strict";

const SfnGraph = (() => {
  const STATE_W = 180;
  const STATE_H = 40;
  const HEAD_H = 36;
  const JOIN = 12;
  const TERMINAL_W = 56;
  const TERMINAL_H = 24;
  const LABEL_CHARS = 34;
  const CHAR_W = 6.2;
  const LABEL_H = 16;
  const COLORS = {
    not_reached: ["#f4f5f7", "#9aa3ad"], running: ["#cfe3ff", "#2f6fdb"],
    retrying: ["#ffe8b8", "#2f6fdb"], succeeded: ["#c9f0d3", "#1e8e3e"],
    failed: ["#ffd3cf", "#d93025"], caught: ["#ffe8b8", "#e37400"],
    cancelled: ["#e8eaed", "#5f6368"],
  };
  const CONTAINERS = new Set(["Parallel", "Map"]);

  const esc = (v) => String(v ?? "").replace(/[&<>"']/g, (c) => (
    { "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" }[c]));
  const clip = (text, n) => (text.length <= n ? text : `${text.slice(0, n - 1)}…`);

  // -- Choice rules as text ------------------------------------------------------------------

  const OPS = [
    ["StringEquals", "=="], ["StringLessThan", "<"], ["StringGreaterThan", ">"],
    ["StringLessThanEquals", "<="], ["StringGreaterThanEquals", ">="], ["StringMatches", "matches"],
    ["NumericEquals", "=="], ["NumericLessThan", "<"], ["NumericGreaterThan", ">"],
    ["NumericLessThanEquals", "<="], ["NumericGreaterThanEquals", ">="],
    ["BooleanEquals", "=="], ["TimestampEquals", "=="], ["TimestampLessThan", "<"],
    ["TimestampGreaterThan", ">"], ["TimestampLessThanEquals", "<="],
    ["TimestampGreaterThanEquals", ">="],
  ];

  function ruleText(rule) {
    if (typeof rule.Condition === "string") return rule.Condition.replace(/^\{%\s*|\s*%\}$/g, "");
    if (Array.isArray(rule.And)) return rule.And.map(ruleText).join(" and ");
    if (Array.isArray(rule.Or)) return rule.Or.map(ruleText).join(" or ");
    if (rule.Not) return `not (${ruleText(rule.Not)})`;
    const v = rule.Variable || "?";
    for (const [key, op] of OPS) {
      if (key in rule) return `${v} ${op} ${JSON.stringify(rule[key])}`;
      if (`${key}Path` in rule) return `${v} ${op} ${rule[`${key}Path`]}`;
    }
    for (const key of ["IsPresent", "IsNull", "IsString", "IsNumeric", "IsBoolean", "IsTimestamp"]) {
      if (key in rule) return `${rule[key] ? "" : "not "}${key.slice(2).toLowerCase()}(${v})`;
    }
    return "rule";
  }

  // -- the graph -----------------------------------------------------------------------------

  // nodes: id -> {id, name, type, kind: state|head|join|start|end, parent (cluster id), path}
  // clusters: id -> {id, node (head id), type, parent, kind: container|branch}
  // edges: [{from, to, kind, label, title}]
  function model(definition) {
    const nodes = new Map();
    const clusters = new Map();
    const edges = [];
    const isContainer = (st) => CONTAINERS.has(st && st.Type);
    const exitOf = (id, st) => (isContainer(st) ? `${id}#end` : id);

    function scope(states, startAt, prefix, parent, entryFrom, exitTo) {
      for (const [name, st] of Object.entries(states || {})) {
        const id = prefix + name;
        if (isContainer(st)) {
          const cid = `${id}#c`;
          clusters.set(cid, { id: cid, node: id, type: st.Type, parent, kind: "container" });
          nodes.set(id, { id, name, type: st.Type, kind: "head", parent: cid, state: st });
          nodes.set(`${id}#end`, { id: `${id}#end`, name, type: st.Type, kind: "join", parent: cid });
          if (st.Type === "Parallel") {
            (st.Branches || []).forEach((branch, i) => {
              const bid = `${id}/${i}#c`;
              clusters.set(bid, { id: bid, node: id, type: "Branch", parent: cid, kind: "branch" });
              scope(branch.States, branch.StartAt, `${id}/${i}/`, bid, id, `${id}#end`);
            });
          } else {
            const proc = st.ItemProcessor || st.Iterator || {};
            scope(proc.States, proc.StartAt, `${id}/*/`, cid, id, `${id}#end`);
          }
        } else {
          nodes.set(id, { id, name, type: st.Type, kind: "state", parent, state: st });
        }
      }
      const at = (name) => ((states || {})[name] ? prefix + name : null);
      if (startAt && at(startAt)) edges.push({ from: entryFrom, to: at(startAt), kind: "start" });
      for (const [name, st] of Object.entries(states || {})) {
        const from = exitOf(prefix + name, st);
        const to = (target, kind, label) => {
          if (at(target)) edges.push({ from, to: at(target), kind, label: label || "", title: label || "" });
        };
        if (st.Next) to(st.Next, "next");
        (st.Choices || []).forEach((rule) => to(rule.Next, "choice", ruleText(rule)));
        if (st.Default) to(st.Default, "default", "Default");
        (st.Catch || []).forEach((c) => to(c.Next, "catch", (c.ErrorEquals || []).join(", ")));
        if (st.End || st.Type === "Succeed" || st.Type === "Fail") {
          edges.push({ from, to: exitTo, kind: "end" });
        }
      }
    }

    nodes.set("#start", { id: "#start", name: "Start", type: "Start", kind: "start", parent: null });
    nodes.set("#end", { id: "#end", name: "End", type: "End", kind: "end", parent: null });
    scope(definition.States, definition.StartAt, "", null, "#start", "#end");
    return { nodes, clusters, edges };
  }

  const definitionOf = (m, id) => m.nodes.get(id).state || {};

  function size(node) {
    if (node.kind === "join") return [JOIN, JOIN];
    if (node.kind === "start" || node.kind === "end") return [TERMINAL_W, TERMINAL_H];
    return [STATE_W, node.kind === "head" ? HEAD_H : STATE_H];
  }

  // -- layout --------------------------------------------------------------------------------

  function layout(definition) {
    const m = model(definition);
    const g = new dagre.graphlib.Graph({ compound: true, multigraph: true });
    g.setGraph({ rankdir: "TB", nodesep: 36, ranksep: 34, edgesep: 14, marginx: 14, marginy: 14 });
    g.setDefaultEdgeLabel(() => ({}));
    for (const c of m.clusters.values()) g.setNode(c.id, {});
    for (const n of m.nodes.values()) {
      const [width, height] = size(n);
      g.setNode(n.id, { width, height });
    }
    for (const c of m.clusters.values()) if (c.parent) g.setParent(c.id, c.parent);
    for (const n of m.nodes.values()) if (n.parent) g.setParent(n.id, n.parent);
    m.edges.forEach((e, i) => {
      const label = e.label ? clip(e.label, LABEL_CHARS) : "";
      e.short = label;
      const attrs = label
        ? { width: label.length * CHAR_W + 8, height: LABEL_H, labelpos: "c" }
        : {};
      g.setEdge(e.from, e.to, attrs, `e${i}`);
    });
    // Parallel branches left to right in definition order: dagre's ordering sweeps keep
    // each branch cluster left of the next (its own crossing heuristic would not).
    const constraints = [];
    for (const c of m.clusters.values()) {
      if (c.type !== "Parallel") continue;
      const n = (definitionOf(m, c.node).Branches || []).length;
      for (let i = 1; i < n; i += 1) constraints.push({ left: `${c.node}/${i - 1}#c`, right: `${c.node}/${i}#c` });
    }
    dagre.layout(g, { constraints });

    const box = (id) => {
      const n = g.node(id);
      return { x: n.x - n.width / 2, y: n.y - n.height / 2, w: n.width, h: n.height, cx: n.x, cy: n.y };
    };
    const nodes = [...m.nodes.values()].map((n) => ({ ...n, state: undefined, ...box(n.id) }));
    const clusters = [...m.clusters.values()].map((c) => ({ ...c, ...box(c.id) }));

    // The band of each rank: the extent of its tallest box (states, joins, edge labels).
    const bands = new Map();
    const widen = (cy, half) => {
      const key = Math.round(cy);
      bands.set(key, Math.max(bands.get(key) || 0, half));
    };
    for (const n of nodes) widen(n.cy, n.h / 2);
    m.edges.forEach((e, i) => {
      const label = g.edge(e.from, e.to, `e${i}`);
      if (e.short && label.x !== undefined) widen(label.y, LABEL_H / 2);
    });
    const half = (y) => bands.get(Math.round(y)) || 0;

    const byId = new Map(nodes.map((n) => [n.id, n]));
    const edges = m.edges.map((e, i) => {
      const d = g.edge(e.from, e.to, `e${i}`);
      const a = byId.get(e.from);
      const b = byId.get(e.to);
      const out = { from: e.from, to: e.to, kind: e.kind, label: e.short || "", title: e.title || "" };
      if (e.short && d.x !== undefined) out.labelBox = { x: d.x - d.width / 2, y: d.y - LABEL_H / 2, w: d.width, h: LABEL_H };
      out.points = e.from === e.to ? selfLoop(a) : route(a, b, (d.points || []).slice(1, -1), half);
      return out;
    });
    const graph = g.graph();
    return { width: graph.width, height: graph.height, nodes, clusters, edges };
  }

  function route(a, b, inner, half) {
    // Vertical within each band, turning only in the gaps between bands.
    const s = (inner.length ? inner[0].y : b.cy) >= a.cy ? 1 : -1;
    const pts = [[a.cx, a.cy + s * a.h / 2], [a.cx, a.cy + s * half(a.cy)]];
    let y0 = a.cy;
    for (const p of inner) {
      const d = p.y >= y0 ? 1 : -1;
      pts.push([p.x, p.y - d * half(p.y)], [p.x, p.y + d * half(p.y)]);
      y0 = p.y;
    }
    const t = b.cy >= y0 ? 1 : -1;
    pts.push([b.cx, b.cy - t * half(b.cy)], [b.cx, b.cy - t * b.h / 2]);
    return pts.filter((p, i) => i === 0 || p[0] !== pts[i - 1][0] || p[1] !== pts[i - 1][1]);
  }

  function selfLoop(n) {
    const right = n.x + n.w;
    const top = n.y;
    return [[right, n.cy], [right + 14, n.cy], [right + 14, top + 6], [right, top + 6]];
  }

  // -- statuses ------------------------------------------------------------------------------

  // The node a visit is drawn on, or null when it belongs to another Map iteration than the
  // one picked (picks: Map node id -> iteration index).
  function nodeOf(visit, types, picks) {
    let prefix = "";
    for (const [container, index] of visit.path || []) {
      const id = prefix + container;
      if (types.get(id) === "Map") {
        if ((picks[id] ?? 0) !== index) return null;
        prefix = `${id}/*/`;
      } else {
        prefix = `${id}/${index}/`;
      }
    }
    return prefix + visit.name;
  }

  function containerTypes(lay) {
    return new Map(lay.nodes.filter((n) => n.kind === "head").map((n) => [n.id, n.type]));
  }

  // Node id -> the last visit drawn on it.
  function visitsByNode(lay, visits, picks) {
    const types = containerTypes(lay);
    const out = {};
    for (const v of visits || []) {
      const id = nodeOf(v, types, picks || {});
      if (id) out[id] = v;
    }
    return out;
  }

  // Map node id -> the iteration indexes run (for the picker).
  function iterations(lay, visits) {
    const types = containerTypes(lay);
    const out = {};
    for (const v of visits || []) {
      let prefix = "";
      for (const [container, index] of v.path || []) {
        const id = prefix + container;
        if (types.get(id) === "Map") {
          (out[id] = out[id] || new Set()).add(index);
          prefix = `${id}/*/`;
        } else prefix = `${id}/${index}/`;
      }
    }
    return Object.fromEntries(Object.entries(out).map(([k, s]) => [k, [...s].sort((x, y) => x - y)]));
  }

  // -- SVG -----------------------------------------------------------------------------------

  function render(lay, visits, opts = {}) {
    const byNode = visitsByNode(lay, visits, opts.picks);
    const notes = opts.notes || {}; // node id -> a second line (Distributed Map item counts)
    const parts = [
      `<svg xmlns="http://www.w3.org/2000/svg" width="${lay.width}" height="${lay.height}" ` +
        `viewBox="0 0 ${lay.width} ${lay.height}" font-family="Helvetica, Arial, sans-serif" font-size="13">`,
      '<defs><marker id="arrow" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7" markerHeight="7" orient="auto">' +
        '<path d="M0,0 L10,5 L0,10 z" fill="#5f6368"/></marker>' +
        '<marker id="arrow-catch" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7" markerHeight="7" orient="auto">' +
        '<path d="M0,0 L10,5 L0,10 z" fill="#e37400"/></marker></defs>',
    ];
    for (const c of lay.clusters) {
      const branch = c.kind === "branch";
      parts.push(`<rect class="cluster cluster-${branch ? "branch" : "container"}" data-node="${esc(c.node)}" ` +
        `x="${c.x}" y="${c.y}" width="${c.w}" height="${c.h}" rx="8" ` +
        `fill="${branch ? "none" : "#fafbfc"}" stroke="#b8c0c8" stroke-width="1"${branch ? ' stroke-dasharray="4,3"' : ""}/>`);
    }
    for (const e of lay.edges) {
      const catchEdge = e.kind === "catch";
      const color = catchEdge ? "#e37400" : "#5f6368";
      const d = e.points.map(([x, y], i) => `${i ? "L" : "M"}${x.toFixed(1)},${y.toFixed(1)}`).join(" ");
      parts.push(`<path class="edge edge-${e.kind}" data-from="${esc(e.from)}" data-to="${esc(e.to)}" d="${d}" ` +
        `fill="none" stroke="${color}" stroke-width="1.4"${catchEdge ? ' stroke-dasharray="5,4"' : ""} ` +
        `marker-end="url(#${catchEdge ? "arrow-catch" : "arrow"})"><title>${esc(e.title)}</title></path>`);
      if (e.labelBox) {
        const b = e.labelBox;
        parts.push(`<g class="edge-label edge-label-${e.kind}"><title>${esc(e.title)}</title>` +
          `<rect x="${b.x}" y="${b.y}" width="${b.w}" height="${b.h}" rx="3" fill="#fff" stroke="${catchEdge ? "#f3c58a" : "#dadce0"}"/>` +
          `<text x="${b.x + b.w / 2}" y="${b.y + 12}" text-anchor="middle" font-size="10.5" fill="${catchEdge ? "#b05a00" : "#3c4043"}">${esc(e.label)}</text></g>`);
      }
    }
    for (const n of lay.nodes) {
      const visit = byNode[n.kind === "join" ? n.id.slice(0, -4) : n.id];
      const status = visit ? visit.status : "not_reached";
      const [fill, stroke] = COLORS[status] || COLORS.not_reached;
      if (n.kind === "start" || n.kind === "end") {
        parts.push(`<g class="marker marker-${n.kind}"><rect x="${n.x}" y="${n.y}" width="${n.w}" height="${n.h}" ` +
          `rx="${n.h / 2}" fill="#fff" stroke="#9aa3ad"/><text x="${n.cx}" y="${n.cy + 4}" text-anchor="middle" ` +
          `font-size="11" fill="#5f6368">${n.name}</text></g>`);
      } else if (n.kind === "join") {
        parts.push(`<circle class="join" cx="${n.cx}" cy="${n.cy}" r="${n.w / 2}" fill="${fill}" stroke="${stroke}" stroke-width="1.4"/>`);
      } else {
        const rx = n.type === "Succeed" || n.type === "Fail" ? n.h / 2 : 6;
        const sub = notes[n.id] || (n.kind === "head" ? `${n.type} ▾` : n.type);
        parts.push(`<g class="state${n.id.includes("/") ? " nested" : ""}" data-state="${esc(n.name)}" ` +
          `data-node="${esc(n.id)}" data-status="${status}"><title>${esc(n.name)} (${esc(n.type)}): ${status.replace("_", " ")}</title>` +
          `<rect x="${n.x}" y="${n.y}" width="${n.w}" height="${n.h}" rx="${rx}" fill="${fill}" stroke="${stroke}" stroke-width="1.6"/>` +
          `<text x="${n.cx}" y="${n.y + 17}" text-anchor="middle">${esc(clip(n.name, 24))}</text>` +
          `<text x="${n.cx}" y="${n.y + n.h - 7}" text-anchor="middle" font-size="10" fill="#5f6368">${esc(sub)}</text></g>`);
      }
    }
    parts.push("</svg>");
    return parts.join("");
  }

  return { layout, render, visitsByNode, iterations, ruleText, model, COLORS };
})();

if (typeof module !== "undefined") module.exports = SfnGraph;
