// Lay out state machines with the console's graph.js in node, for tests/console/test_graph_geometry.py.
// stdin: a JSON object {name: definition}; stdout: {name: layout}.
"use strict";
const fs = require("fs");
const path = require("path");
const vm = require("vm");

const STATIC = path.join(__dirname, "..", "..", "localaws", "server", "static");
vm.runInThisContext(fs.readFileSync(path.join(STATIC, "dagre.min.js"), "utf8"));
const SfnGraph = require(path.join(STATIC, "graph.js"));

const definitions = JSON.parse(fs.readFileSync(0, "utf8"));
const out = {};
for (const [name, definition] of Object.entries(definitions)) {
  out[name] = SfnGraph.layout(definition);
}
process.stdout.write(JSON.stringify(out));
