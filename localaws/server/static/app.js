// Local AWS console: state machines, executions and what they created.
// Vanilla JS, no dependencies. AWS operations go to this server's own AWS JSON APIs;
// the graph, the folded execution view, logs and objects come from /console/api/.
"use strict";

const POLL_MS = 1000;
const TERMINAL = new Set(["SUCCEEDED", "FAILED", "TIMED_OUT", "ABORTED"]);
// The statuses of localaws.asl.fold (and of the graph, localaws.asl.graph.COLORS).
const STATUS_LABELS = {
  not_reached: "not reached", running: "running", retrying: "retrying", succeeded: "succeeded",
  failed: "failed", caught: "caught", cancelled: "cancelled",
};
const GRAPH_COLORS = {
  not_reached: ["#f4f5f7", "#9aa3ad"], running: ["#cfe3ff", "#2f6fdb"],
  succeeded: ["#c9f0d3", "#1e8e3e"], failed: ["#ffd3cf", "#d93025"], caught: ["#ffe8b8", "#e37400"],
  cancelled: ["#e8eaed", "#5f6368"],
};

// -- helpers ---------------------------------------------------------------------------

const $ = (sel, root = document) => root.querySelector(sel);
const esc = (v) => String(v ?? "").replace(/[&<>"']/g, (c) => (
  { "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" }[c]));
const badge = (status) => `<span class="badge ${esc(status)}">${esc(STATUS_LABELS[status] || status)}</span>`;
const when = (epoch) => (epoch ? new Date(epoch * 1000).toLocaleString() : "");

function duration(start, stop) {
  if (!start) return "";
  const s = Math.max(0, (stop || Date.now() / 1000) - start);
  if (s < 60) return `${s.toFixed(1)} s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m} min ${Math.round(s % 60)} s`;
  return `${Math.floor(m / 60)} h ${m % 60} min`;
}

function pretty(text) {
  if (text === null || text === undefined || text === "") return "";
  try { return JSON.stringify(typeof text === "string" ? JSON.parse(text) : text, null, 2); }
  catch { return String(text); }
}

// A long text (an execution's input or output of thousands of items) shows its first
// TEXT_CHARS and a button for the rest: laying out megabytes of wrapped text is slow.
const TEXT_CHARS = 16000;
function showText(pre, text) {
  let more = pre.nextElementSibling;
  if (!more || !more.classList.contains("text-more")) more = null;
  if (text.length <= TEXT_CHARS || pre.dataset.whole) {
    pre.textContent = text;
    if (more) more.remove();
    return;
  }
  const cut = text.lastIndexOf("\n", TEXT_CHARS);
  pre.textContent = `${text.slice(0, cut > 0 ? cut : TEXT_CHARS)}\n…`;
  if (!more) {
    pre.insertAdjacentHTML("afterend", '<button type="button" class="secondary text-more"></button>');
    more = pre.nextElementSibling;
  }
  more.textContent = `Show all (${text.length.toLocaleString()} characters)`;
  more.onclick = () => { pre.dataset.whole = "1"; showText(pre, text); };
}

// The server answers the console's own calls only when they carry this header, which a page
// of another site cannot send (the browser would ask first, and the server never agrees).
const CONSOLE_HEADERS = { "X-Localaws-Console": "1" };

async function aws(target, body = {}) {
  const json11 = target.startsWith("SageMaker.");
  const resp = await fetch("/", {
    method: "POST",
    headers: {
      ...CONSOLE_HEADERS,
      "X-Amz-Target": target,
      "Content-Type": json11 ? "application/x-amz-json-1.1" : "application/x-amz-json-1.0",
    },
    body: JSON.stringify(body),
  });
  const data = await resp.json().catch(() => ({}));
  if (!resp.ok) throw new Error(`${data.__type || resp.status}: ${data.message || resp.statusText}`);
  return data;
}

async function consoleApi(path, as = "json") {
  const resp = await fetch(path, { cache: "no-store", headers: CONSOLE_HEADERS });
  if (!resp.ok) {
    const data = await resp.json().catch(() => ({}));
    const err = new Error(`${data.__type || resp.status}: ${data.message || resp.statusText}`);
    err.status = resp.status;
    throw err;
  }
  return as === "json" ? resp.json() : resp.text();
}

async function listAll(target, body, key) {
  const out = [];
  let token;
  do {
    const page = await aws(target, token ? { ...body, nextToken: token } : body);
    out.push(...(page[key] || []));
    token = page.nextToken;
  } while (token);
  return out;
}

// -- routing and polling -----------------------------------------------------------------

let timer = null;
let pageToken = 0;

function poll(fn) {
  // Run fn now and every POLL_MS until it returns false or the page changes.
  const token = pageToken;
  $("#live").classList.add("on");
  const tick = async () => {
    if (token !== pageToken) return;
    let again = true;
    try { again = (await fn()) !== false; }
    catch (e) { showProblem(e); }
    if (token !== pageToken) return;
    if (again) timer = setTimeout(tick, POLL_MS);
    else $("#live").classList.remove("on");
  };
  tick();
}

function showProblem(e) {
  const box = $("#problem");
  if (box) box.textContent = e ? String(e.message || e) : "";
}

function route() {
  clearTimeout(timer);
  pageToken += 1;
  $("#live").classList.remove("on");
  const hash = decodeURIComponent(location.hash.slice(1) || "/");
  const [, kind, ...rest] = hash.split("/");
  const arg = rest.join("/");
  if (kind === "machine" && arg) return machinePage(arg);
  if (kind === "execution" && arg) return executionPage(arg);
  if (kind === "endpoints") return endpointsPage();
  if (kind === "endpoint" && arg) return endpointPage(arg);
  if (typeof resourceRoute === "function") {
    const page = resourceRoute(kind, arg);
    if (page) return page;
  }
  return machinesPage();
}

window.addEventListener("hashchange", route);
window.addEventListener("DOMContentLoaded", route);

const link = (kind, arn) => `#/${kind}/${encodeURIComponent(arn)}`;
const nameOf = (arn) => arn.split(":").pop();

// -- state machines ----------------------------------------------------------------------

async function machinesPage() {
  $("#view").innerHTML = `
    <div class="pagehead"><h1>State machines</h1></div>
    <div class="card"><table id="machines"><thead><tr>
      <th>Name</th><th>Type</th><th>Created</th></tr></thead><tbody></tbody></table>
    <p id="problem" class="error"></p></div>`;
  poll(async () => {
    const machines = await listAll("AWSStepFunctions.ListStateMachines", {}, "stateMachines");
    $("#machines tbody").innerHTML = machines.length
      ? machines.map((m) => `<tr><td><a href="${link("machine", m.stateMachineArn)}">${esc(m.name)}</a></td>
          <td>${esc(m.type)}</td><td>${when(m.creationDate)}</td></tr>`).join("")
      : `<tr><td colspan="3" class="muted">No state machines yet. Create one with
          <code>python -m workflows run</code> or any Step Functions client.</td></tr>`;
  });
}

// -- the graph ----------------------------------------------------------------------------

// A laid-out definition (SfnGraph over dagre), cached by definition text: a poll only
// recolours it.
const layouts = new Map();
function layoutOf(definitionText) {
  if (!layouts.has(definitionText)) {
    if (layouts.size > 20) layouts.clear();
    layouts.set(definitionText, SfnGraph.layout(JSON.parse(definitionText)));
  }
  return layouts.get(definitionText);
}

// -- one state machine: graph, definition, start form, executions -------------------------

const EXEC_STATUSES = ["RUNNING", "SUCCEEDED", "FAILED", "TIMED_OUT", "ABORTED", "PENDING_REDRIVE"];
const PAGE_ROWS = 25;
const PICKER_OPTIONS = 200; // a Map with more iterations is picked by a number field
const TABLE_ROWS = 200; // rows of an execution's states and events tables drawn at first

async function machinePage(arn) {
  const name = nameOf(arn);
  $("#view").innerHTML = `
    <div class="crumbs"><a href="#/">State machines</a> /</div>
    <div class="pagehead"><h1>${esc(name)}</h1><span class="meta mono">${esc(arn)}</span></div>
    <p id="problem" class="error"></p>
    <div class="grid">
      <div class="card"><div class="tabs"><button type="button" class="tab on" data-tab="graph">Graph</button>
        <button type="button" class="tab" data-tab="asl">Definition (ASL JSON)</button></div>
        <div id="tab-graph"><div id="graph" class="graph"></div></div>
        <div id="tab-asl" hidden>
          <textarea id="asl" rows="24" spellcheck="false" readonly></textarea>
          <div class="row"><button type="button" id="asl-edit" class="secondary">Edit</button>
            <label class="inline" hidden id="asl-publish-label"><input type="checkbox" id="asl-publish"> publish a new version</label>
            <button type="button" id="asl-save" hidden>Validate and update</button>
            <button type="button" id="asl-cancel" class="secondary" hidden>Cancel</button></div>
          <div id="asl-result"></div>
        </div>
        <div id="versions"></div>
      </div>
      <div class="card">
        <h2>Start an execution</h2>
        <form id="start">
          <label for="exec-name">Name (optional)</label>
          <input type="text" id="exec-name" placeholder="generated when empty">
          <label for="exec-input">Input (JSON) <span id="example-note" class="muted"></span></label>
          <textarea id="exec-input" rows="14" spellcheck="false">{}</textarea>
          <button type="submit" id="start-button">Start execution</button>
          <div id="start-error" class="error"></div>
        </form>
      </div>
    </div>
    <div class="card"><h2>Executions</h2>
      <form id="exec-filter" class="filters">
        <select id="f-status"><option value="">any status</option>${EXEC_STATUSES.map((s) => `<option>${s}</option>`).join("")}</select>
        <input type="text" id="f-name" placeholder="name contains">
        <label>from <input type="datetime-local" id="f-from"></label>
        <label>to <input type="datetime-local" id="f-to"></label>
        <select id="f-redrive"><option value="">redriven or not</option><option value="REDRIVEN">redriven</option><option value="NOT_REDRIVEN">not redriven</option></select>
      </form>
      <table id="executions"><thead><tr><th>Name</th><th>Status</th><th>Started</th>
        <th>Duration</th><th>Redrives</th></tr></thead><tbody></tbody></table>
      <div class="pager"><button type="button" class="secondary" id="page-prev">Previous</button>
        <span id="page-info" class="muted"></span>
        <button type="button" class="secondary" id="page-next">Next</button></div></div>`;

  let described = null;
  let editing = false;
  const showDefinition = (desc) => {
    described = desc;
    if (!editing) $("#asl").value = pretty(desc.definition);
    try { $("#graph").innerHTML = SfnGraph.render(layoutOf(desc.definition), []); }
    catch (e) { showProblem(e); }
  };
  const loadDefinition = () => aws("AWSStepFunctions.DescribeStateMachine", { stateMachineArn: arn })
    .then(showDefinition).catch(showProblem);
  loadDefinition();
  loadVersions(arn);

  document.querySelectorAll(".tabs .tab").forEach((tab) => tab.addEventListener("click", () => {
    document.querySelectorAll(".tabs .tab").forEach((t) => t.classList.toggle("on", t === tab));
    $("#tab-graph").hidden = tab.dataset.tab !== "graph";
    $("#tab-asl").hidden = tab.dataset.tab !== "asl";
  }));
  const setEditing = (on) => {
    editing = on;
    $("#asl").readOnly = !on;
    $("#asl-edit").hidden = on;
    $("#asl-save").hidden = !on;
    $("#asl-cancel").hidden = !on;
    $("#asl-publish-label").hidden = !on;
  };
  $("#asl-edit").addEventListener("click", () => { setEditing(true); $("#asl").focus(); });
  $("#asl-cancel").addEventListener("click", () => {
    setEditing(false); $("#asl-result").innerHTML = ""; if (described) showDefinition(described);
  });
  $("#asl-save").addEventListener("click", async () => {
    const out = $("#asl-result");
    const text = $("#asl").value;
    try { JSON.parse(text); }
    catch (e) { out.innerHTML = `<p class="error">The definition is not valid JSON: ${esc(e.message)}</p>`; return; }
    try {
      const check = await aws("AWSStepFunctions.ValidateStateMachineDefinition", { definition: text, type: described.type });
      if (check.result !== "OK") {
        out.innerHTML = `<p class="error">Not updated: the definition has errors.</p><ul id="asl-diagnostics">${(check.diagnostics || []).map((d) =>
          `<li class="error"><b>${esc(d.code)}</b> ${esc(d.message)}${d.location ? ` <span class="mono">(${esc(d.location)})</span>` : ""}</li>`).join("")}</ul>`;
        return;
      }
      const body = { stateMachineArn: arn, definition: text };
      if ($("#asl-publish").checked) body.publish = true;
      const updated = await aws("AWSStepFunctions.UpdateStateMachine", body);
      out.innerHTML = `<p class="ok" id="asl-updated">Updated ${when(updated.updateDate)}${updated.stateMachineVersionArn ? `: version ${esc(nameOf(updated.stateMachineVersionArn))}` : ""}.</p>`;
      setEditing(false);
      loadDefinition();
      loadVersions(arn);
    } catch (e) {
      out.innerHTML = `<p class="error">${esc(e.message)}</p>`;
    }
  });

  // The start form: a new execution from another one's input, else the workflow's example.
  const handed = JSON.parse(sessionStorage.getItem("localaws.newInput") || "null");
  sessionStorage.removeItem("localaws.newInput");
  if (handed && handed.machineArn === arn) {
    $("#exec-input").value = JSON.stringify(handed.input, null, 2);
    $("#example-note").textContent = `from ${handed.from}${handed.freshened.length ? `; fresh ${handed.freshened.join(", ")}` : ""}`;
  } else {
    consoleApi(`/console/api/example/${encodeURIComponent(name)}`)
      .then((example) => {
        $("#exec-input").value = JSON.stringify(example, null, 2);
        $("#example-note").textContent = "prefilled with the workflow's example input";
      })
      .catch(() => {});
  }

  $("#start").addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const error = $("#start-error");
    error.textContent = "";
    const text = $("#exec-input").value;
    try { JSON.parse(text); }
    catch (e) { error.textContent = `The input is not valid JSON: ${e.message}`; return; }
    const body = { stateMachineArn: arn, input: text };
    const execName = $("#exec-name").value.trim();
    if (execName) body.name = execName;
    $("#start-button").disabled = true;
    try {
      const started = await aws("AWSStepFunctions.StartExecution", body);
      location.hash = link("execution", started.executionArn);
    } catch (e) {
      error.textContent = e.message;
      $("#start-button").disabled = false;
    }
  });

  // Executions: filters and pages, refreshed every second.
  let offset = 0;
  let total = 0;
  const epoch = (id) => ($(id).value ? String(new Date($(id).value).getTime() / 1000) : "");
  const query = () => new URLSearchParams({
    stateMachineArn: arn, status: $("#f-status").value, name: $("#f-name").value.trim(),
    from: epoch("#f-from"), to: epoch("#f-to"), redriven: $("#f-redrive").value,
    offset: String(offset), limit: String(PAGE_ROWS),
  });
  const refresh = async () => {
    const data = await consoleApi(`/console/api/executions?${query()}`);
    total = data.total;
    const rows = data.executions || [];
    $("#executions tbody").innerHTML = rows.length
      ? rows.map((x) => `<tr><td><a href="${link("execution", x.executionArn)}">${esc(x.name)}</a></td>
          <td>${badge(x.status)}</td><td>${when(x.startDate)}</td>
          <td>${duration(x.startDate, x.stopDate)}</td><td>${x.redriveCount || ""}</td></tr>`).join("")
      : `<tr><td colspan="5" class="muted">No executions${total || offset ? " on this page" : " match"}.</td></tr>`;
    $("#page-info").textContent = total ? `${offset + 1}-${offset + rows.length} of ${total}` : "";
    $("#page-prev").disabled = offset === 0;
    $("#page-next").disabled = offset + PAGE_ROWS >= total;
  };
  $("#exec-filter").addEventListener("input", () => { offset = 0; refresh().catch(showProblem); });
  $("#exec-filter").addEventListener("submit", (ev) => ev.preventDefault());
  $("#page-prev").addEventListener("click", () => { offset = Math.max(0, offset - PAGE_ROWS); refresh().catch(showProblem); });
  $("#page-next").addEventListener("click", () => { if (offset + PAGE_ROWS < total) offset += PAGE_ROWS; refresh().catch(showProblem); });
  poll(refresh);
}

async function loadVersions(arn) {
  try {
    const [versions, aliases] = await Promise.all([
      aws("AWSStepFunctions.ListStateMachineVersions", { stateMachineArn: arn }),
      aws("AWSStepFunctions.ListStateMachineAliases", { stateMachineArn: arn }),
    ]);
    const v = versions.stateMachineVersions || [];
    const a = aliases.stateMachineAliases || [];
    $("#versions").innerHTML = (v.length ? `<h3>Versions</h3><table id="version-list"><tbody>${v.map((x) =>
      `<tr><td class="mono">${esc(x.stateMachineVersionArn.split(":").slice(-2).join(":"))}</td><td>${when(x.creationDate)}</td></tr>`).join("")}</tbody></table>` : "")
      + (a.length ? `<h3>Aliases</h3><table id="alias-list"><tbody>${a.map((x) =>
      `<tr><td class="mono">${esc(x.stateMachineAliasArn.split(":").slice(-2).join(":"))}</td><td>${when(x.creationDate)}</td></tr>`).join("")}</tbody></table>` : "");
  } catch (e) { showProblem(e); }
}

// -- one execution -----------------------------------------------------------------------

async function executionPage(arn) {
  const machineArn = arn.replace(":execution:", ":stateMachine:").split(":").slice(0, -1).join(":");
  let selected = null; // a graph node id ("Name", "P/0/Name", "M/*/Name")
  let view = null;
  let definitionText = null;
  const picks = {}; // Map node id -> the iteration shown
  const notes = {}; // Map node id -> item counts of its Distributed Map run
  const shown = new Set(); // resource cards already built (their forms keep what was typed)
  const shownRows = {}; // table id -> rows shown ("show more" raises it; TABLE_ROWS at first)

  $("#view").innerHTML = `
    <div class="crumbs"><a href="#/">State machines</a> /
      <a href="${link("machine", machineArn)}">${esc(nameOf(machineArn))}</a> /</div>
    <div class="pagehead"><h1>${esc(nameOf(arn))}</h1><span id="exec-status"></span>
      <span class="meta" id="exec-times"></span>
      <span class="actions"><button type="button" id="act-stop" class="danger" disabled>Stop</button>
        <button type="button" id="act-redrive" class="secondary" disabled>Redrive</button>
        <button type="button" id="act-new" class="secondary">New execution from this input</button></span></div>
    <form id="stop-form" class="card" hidden><h2>Stop this execution</h2>
      <label for="stop-error">Error (optional)</label><input type="text" id="stop-error" maxlength="256">
      <label for="stop-cause">Cause (optional)</label><input type="text" id="stop-cause" maxlength="32768">
      <button type="submit" id="stop-confirm" class="danger">Stop execution</button>
      <button type="button" id="stop-cancel" class="secondary">Cancel</button></form>
    <p id="problem" class="error"></p>
    <div class="grid">
      <div class="card"><h2>Graph</h2><div id="pickers" class="pickers"></div><div id="graph" class="graph"></div>
        <div class="legend">${Object.entries(GRAPH_COLORS).map(([k, [fill, stroke]]) =>
          `<span><i style="background:${fill};border-color:${stroke}"></i>${STATUS_LABELS[k]}</span>`).join("")}</div>
      </div>
      <div class="card" id="state-panel"><h2>State</h2>
        <p class="muted">Select a state in the graph or the table.</p></div>
    </div>
    <div class="card"><h2>States</h2><table id="states"><thead><tr><th>State</th><th>Type</th>
      <th>Status</th><th>Duration</th><th>Attempts</th><th>Error</th></tr></thead><tbody></tbody></table></div>
    <div id="resources" class="resources"></div>
    <div class="grid" style="margin-top:16px">
      <div class="card"><h2>Execution input</h2><pre id="exec-input"></pre></div>
      <div class="card"><h2 id="exec-result-title">Execution output</h2><pre id="exec-output"></pre></div>
    </div>
    <div class="card"><h2>Event history</h2><table class="events" id="events"><thead><tr><th>ID</th>
      <th>Type</th><th>Time</th><th>Details</th></tr></thead><tbody></tbody></table></div>`;

  // -- actions
  $("#act-stop").addEventListener("click", () => { $("#stop-form").hidden = false; $("#stop-error").focus(); });
  $("#stop-cancel").addEventListener("click", () => { $("#stop-form").hidden = true; });
  $("#stop-form").addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const body = { executionArn: arn };
    if ($("#stop-error").value.trim()) body.error = $("#stop-error").value.trim();
    if ($("#stop-cause").value.trim()) body.cause = $("#stop-cause").value.trim();
    try {
      await aws("AWSStepFunctions.StopExecution", body);
      $("#stop-form").hidden = true;
      route();
    } catch (e) { showProblem(e); }
  });
  $("#act-redrive").addEventListener("click", async () => {
    $("#act-redrive").disabled = true;
    try {
      await aws("AWSStepFunctions.RedriveExecution", { executionArn: arn });
      route();
    } catch (e) { showProblem(e); }
  });
  $("#act-new").addEventListener("click", async () => {
    try {
      const fresh = await consoleApi(`/console/api/fresh-input?executionArn=${encodeURIComponent(arn)}`);
      sessionStorage.setItem("localaws.newInput", JSON.stringify({
        machineArn, input: fresh.input, freshened: fresh.freshened, from: nameOf(arn),
      }));
      location.hash = link("machine", machineArn);
    } catch (e) { showProblem(e); }
  });

  // -- selection: a node of the graph or a row of the table
  const select = (node) => {
    selected = node;
    renderStatePanel();
    document.querySelectorAll("#graph g.state").forEach((g) =>
      g.classList.toggle("selected", g.dataset.node === node));
    document.querySelectorAll("#states tr[data-node]").forEach((tr) =>
      tr.classList.toggle("selected", tr.dataset.node === node));
  };
  $("#graph").addEventListener("click", (ev) => {
    const g = ev.target.closest("g.state");
    if (g) select(g.dataset.node);
  });
  $("#states").addEventListener("click", (ev) => {
    const tr = ev.target.closest("tr[data-node]");
    if (!tr) return;
    // A row inside a Map iteration shows that iteration in the graph.
    (JSON.parse(tr.dataset.picks || "{}"), Object.assign(picks, JSON.parse(tr.dataset.picks || "{}")));
    renderGraph();
    select(tr.dataset.node);
  });
  $("#pickers").addEventListener("change", (ev) => {
    const sel = ev.target.closest("[data-map]");
    if (!sel || sel.value === "" || !Number.isInteger(Number(sel.value))) return;
    picks[sel.dataset.map] = Number(sel.value);
    renderGraph();
    if (selected) select(selected);
  });

  for (const table of ["states", "events"]) {
    $(`#${table}`).addEventListener("click", (ev) => {
      const button = ev.target.closest("button.show-more, button.show-all");
      if (!button) return;
      ev.stopPropagation();
      const total = Number($(`#${table}`).dataset.total || 0);
      shownRows[table] = button.classList.contains("show-all")
        ? total : (shownRows[table] || TABLE_ROWS) + TABLE_ROWS;
      if (table === "states") renderStates(); else renderEvents();
    }, true);
  }
  $("#events").addEventListener("toggle", (ev) => {
    const box = ev.target;
    if (!box.open || !box.dataset || box.dataset.event === undefined) return;
    const pre = box.querySelector("pre");
    if (!pre.textContent) pre.textContent = JSON.stringify(detailsOf(view.events[Number(box.dataset.event)]), null, 2);
  }, true);

  // Node id and the Map picks of each visit (the graph's own reading of the fold).
  const nodeAndPicks = (s) => {
    let prefix = "";
    const p = {};
    const lay = definitionText ? layoutOf(definitionText) : null;
    const types = new Map((lay ? lay.nodes : []).filter((n) => n.kind === "head").map((n) => [n.id, n.type]));
    for (const [container, index] of s.path || []) {
      const id = prefix + container;
      if (types.get(id) === "Map") { p[id] = index; prefix = `${id}/*/`; }
      else prefix = `${id}/${index}/`;
    }
    return [prefix + s.name, p];
  };

  function renderGraph() {
    if (!definitionText || !view) return;
    const lay = layoutOf(definitionText);
    const iterations = SfnGraph.iterations(lay, view.states);
    $("#pickers").innerHTML = Object.entries(iterations).map(([map, indexes]) => {
      if (!(map in picks)) {
        const failed = view.states.find((s) => s.status === "failed" && nodeAndPicks(s)[1][map] !== undefined);
        picks[map] = failed ? nodeAndPicks(failed)[1][map] : indexes[0];
      }
      // A long Map gets a number field: a list of thousands of options is slow to lay out.
      const field = indexes.length > PICKER_OPTIONS
        ? `<input type="number" data-map="${esc(map)}" min="${indexes[0]}" max="${indexes[indexes.length - 1]}" step="1" value="${picks[map]}">`
        : `<select data-map="${esc(map)}">${indexes.map((i) => `<option value="${i}"${i === picks[map] ? " selected" : ""}>${i}</option>`).join("")}</select>`;
      return `<label>${esc(map.replaceAll("/*/", " › "))} iteration ${field}
        <span class="muted">of ${indexes.length}</span></label>`;
    }).join("");
    $("#graph").innerHTML = SfnGraph.render(lay, view.states, { picks, notes });
  }

  async function renderStatePanel() {
    const panel = $("#state-panel");
    if (!selected || !view) return;
    const visits = view.states
      .map((s, i) => [s, i])
      .filter(([s]) => {
        const [node, p] = nodeAndPicks(s);
        return node === selected && Object.entries(p).every(([m, i]) => picks[m] === i);
      });
    const [s, index] = visits.length ? visits[visits.length - 1] : [null, -1];
    if (!s) {
      panel.innerHTML = `<h2>${esc(selected.split("/").pop())}</h2>${badge("not_reached")}
        <p class="muted">This state has not run in this execution${selected.includes("/") ? " (in the branch or iteration shown)" : ""}.</p>`;
      return;
    }
    const section = (title, body, cls = "") => (body ? `<h3>${title}</h3><pre class="${cls}">${esc(body)}</pre>` : "");
    const retries = (s.retries || []).map((r, i) =>
      `<li>attempt ${i + 1}: <span class="error">${esc(r.error || "")}</span> ${esc(r.cause || "")}</li>`).join("");
    const made = resourceLink(s);
    panel.innerHTML = `<h2>${esc(s.name)} <span class="muted">${esc(s.type)}</span></h2>
      <dl class="kv"><dt>Status</dt><dd>${badge(s.status)}</dd>
        ${s.path && s.path.length ? `<dt>Where</dt><dd>${esc(s.path.map(([n, i]) => `${n}[${i}]`).join(" / "))}</dd>` : ""}
        <dt>Entered</dt><dd>${when(s.entered)}</dd>
        <dt>Duration</dt><dd>${duration(s.entered, s.exited)}</dd>
        ${s.resource ? `<dt>Resource</dt><dd class="mono">${esc(s.resource)}</dd>` : ""}
        ${made ? `<dt>Made</dt><dd id="state-made">${made}</dd>` : ""}
        ${visits.length > 1 ? `<dt>Visits</dt><dd>${visits.length}</dd>` : ""}
        ${s.generation ? `<dt>Redrive</dt><dd>run ${s.generation}</dd>` : ""}</dl>
      ${s.error ? `<h3>Error</h3><pre class="errorbox" id="state-error">${esc(s.error)}</pre>` : ""}
      ${section("Cause", pretty(s.cause), "errorbox")}
      ${retries ? `<h3>Retries</h3><ul id="state-retries">${retries}</ul>` : ""}
      <div id="state-stages">${section("Input", pretty(s.input))}${section("Output", pretty(s.output))}</div>`;
    if (s.hasParameters || s.status === "succeeded") {
      const data = await consoleApi(`/console/api/stages?executionArn=${encodeURIComponent(arn)}&visit=${index}`).catch(() => null);
      if (data && selected === nodeAndPicks(s)[0]) {
        $("#state-stages").innerHTML = data.stages.map((st) =>
          `<h3>${esc(st.stage)}</h3><pre>${esc(pretty(JSON.stringify(st.value)))}</pre>`).join("");
      }
    }
  }

  // The states and events tables draw their first rows and a "show more" button: a long
  // history (thousands of Map iterations) would otherwise build tens of thousands of rows.
  // rows: the HTML of the first shownRows[table] of total items.
  function renderRows(table, rows, total, empty, colspan) {
    const limit = shownRows[table] || TABLE_ROWS;
    const more = total - limit;
    const body = rows.join("") || `<tr><td colspan="${colspan}" class="muted">${empty}</td></tr>`;
    $(`#${table} tbody`).innerHTML = body + (more > 0
      ? `<tr class="more-row"><td colspan="${colspan}"><button type="button" class="secondary show-more" data-table="${table}">Show ${Math.min(more, TABLE_ROWS)} more</button>
          <button type="button" class="secondary show-all" data-table="${table}">Show all ${total}</button>
          <span class="muted">${limit} of ${total} shown</span></td></tr>`
      : "");
    $(`#${table}`).dataset.total = total;
  }

  function renderStates() {
    // Visits inside a Map iteration or a Parallel branch follow their Map / Parallel, indented.
    const where = (s) => (s.path || []).map(([name, i]) => `${name}[${i}]`).join(" / ");
    const limit = shownRows.states || TABLE_ROWS;
    renderRows("states", view.states.slice(0, limit).map((s) => {
      const [node, p] = nodeAndPicks(s);
      return `<tr class="clickable${s.depth ? " nested" : ""}${node === selected ? " selected" : ""}" data-node="${esc(node)}"${s.depth ? "" : ` data-state="${esc(s.name)}"`} data-picks="${esc(JSON.stringify(p))}">
        <td style="padding-left:${8 + 18 * (s.depth || 0)}px" title="${esc(where(s))}">${esc(s.name)}${s.depth ? ` <span class="muted">${esc(where(s))}</span>` : ""}</td><td>${esc(s.type)}</td><td>${badge(s.status)}${s.generation ? ` <span class="muted" title="run again by redrive ${s.generation}">↻${s.generation}</span>` : ""}</td>
        <td>${duration(s.entered, s.exited)}</td><td>${s.attempts || ""}</td>
        <td class="error">${esc(s.error || "")}</td></tr>`;
    }), view.states.length, "No state has started yet.", 6);
  }

  const detailsOf = (e) => {
    const key = Object.keys(e).find((k) => k.endsWith("EventDetails"));
    return key ? e[key] : null;
  };

  function renderEvents() {
    const t0 = view.events.length ? view.events[0].timestamp : 0;
    const limit = shownRows.events || TABLE_ROWS;
    // An event's details are drawn when opened (see the toggle listener).
    const rows = view.events.slice(0, limit).map((e, i) => {
      const details = detailsOf(e);
      const summary = details ? esc(details.name || details.error || details.resource || "details") : "";
      return `<tr><td>${e.id}</td><td>${esc(e.type)}</td><td>+${(e.timestamp - t0).toFixed(2)} s</td>
        <td class="details">${details ? `<details data-event="${i}"><summary>${summary}</summary><pre></pre></details>` : ""}</td></tr>`;
    });
    renderRows("events", rows, view.events.length, "No events yet.", 4);
  }

  async function loadMapRuns() {
    const runs = await aws("AWSStepFunctions.ListMapRuns", { executionArn: arn }).catch(() => ({ mapRuns: [] }));
    await Promise.all((runs.mapRuns || []).map(async (r) => {
      const d = await aws("AWSStepFunctions.DescribeMapRun", { mapRunArn: r.mapRunArn });
      const label = r.mapRunArn.split(":").slice(-2, -1)[0].split("/").pop();
      const c = d.itemCounts || {};
      notes[label] = `Distributed Map · ${c.succeeded || 0}/${c.total || 0} items${c.failed ? `, ${c.failed} failed` : ""}`;
    }));
  }

  poll(async () => {
    // The definition (asked once) and the folded execution, side by side.
    const [data, desc] = await Promise.all([
      consoleApi(`/console/api/execution?executionArn=${encodeURIComponent(arn)}`),
      definitionText ? null : aws("AWSStepFunctions.DescribeStateMachineForExecution", { executionArn: arn }),
    ]);
    if (desc) definitionText = desc.definition;
    view = data;
    const x = data.execution;
    const done = TERMINAL.has(x.status);
    if (data.states.some((s) => s.type === "Map")) await loadMapRuns();
    $("#exec-status").innerHTML = badge(x.status) + (x.redriveCount ? ` <span class="badge redriven" id="redrive-marker" title="redriven ${when(x.redriveDate)}">redriven x${x.redriveCount}</span>` : "");
    const since = x.redriveDate || x.startDate; // not the idle time before a redrive
    $("#exec-times").textContent = `started ${when(x.startDate)}${x.redriveDate ? ` · redriven ${when(x.redriveDate)}` : ""} · ${duration(since, x.stopDate)}${done ? "" : " so far"}`;
    $("#act-stop").disabled = x.status !== "RUNNING";
    $("#act-redrive").disabled = x.redriveStatus !== "REDRIVABLE";
    $("#act-redrive").title = x.redriveStatusReason || "Run the failed and unfinished states again";
    renderGraph();
    renderStates();
    if (selected) select(selected);
    renderEvents();
    showText($("#exec-input"), pretty(x.input));
    if (x.error || x.cause) {
      $("#exec-result-title").textContent = "Execution error";
      $("#exec-output").className = "errorbox";
      showText($("#exec-output"), `${x.error || ""}\n${pretty(x.cause)}`.trim());
    } else {
      $("#exec-result-title").textContent = "Execution output";
      $("#exec-output").className = "";
      showText($("#exec-output"), done ? pretty(x.output) : "(running)");
    }
    const pending = await renderResources(view, shown, done);
    showProblem(null);
    return !done || pending;
  });
}

// -- resource cards of an execution ------------------------------------------------------

async function renderResources(view, shown, final) {
  const r = view.resources || {};
  const box = $("#resources");
  const card = (key, title, html) => {
    if (!shown.has(key)) {
      box.insertAdjacentHTML("beforeend", `<div class="card" id="res-${key}"><h2>${title}</h2><div class="body"></div>${html || ""}</div>`);
      shown.add(key);
    }
    return $(`#res-${key} .body`);
  };
  const jobs = [];
  let pending = false; // an endpoint still being created: keep refreshing after the end
  if (r.trainingJob) {
    jobs.push(aws("SageMaker.DescribeTrainingJob", { TrainingJobName: r.trainingJob }).then((j) => {
      const metrics = (j.FinalMetricDataList || []).map((m) =>
        `<dt>${esc(m.MetricName)}</dt><dd>${Number(m.Value).toFixed(4)}</dd>`).join("");
      card("training", "Training job").innerHTML = `<dl class="kv">
        <dt>Name</dt><dd>${smLink("trainingJob", j.TrainingJobName)}</dd>
        <dt>Status</dt><dd>${badge(j.TrainingJobStatus)}</dd>
        <dt>Duration</dt><dd>${duration(j.TrainingStartTime || j.CreationTime, j.TrainingEndTime)}</dd>
        ${metrics}
        ${j.FailureReason ? `<dt>Failure</dt><dd class="error">${esc(j.FailureReason)}</dd>` : ""}
        ${j.ModelArtifacts ? `<dt>Artifact</dt><dd class="mono">${esc(j.ModelArtifacts.S3ModelArtifacts)}</dd>` : ""}
        </dl><p><a id="training-log" target="_blank" href="/console/api/logs/training/${encodeURIComponent(j.TrainingJobName)}">Training log</a></p>`;
    }));
  }
  if (r.model) {
    jobs.push(aws("SageMaker.DescribeModel", { ModelName: r.model }).then((m) => {
      const c = m.PrimaryContainer || (m.Containers || [])[0] || {};
      card("model", "Model").innerHTML = `<dl class="kv"><dt>Name</dt><dd>${smLink("model", m.ModelName)}</dd>
        <dt>Image</dt><dd class="mono">${esc(c.Image)}</dd>
        <dt>Artifact</dt><dd class="mono">${esc(c.ModelDataUrl)}</dd>
        <dt>Created</dt><dd>${when(m.CreationTime)}</dd></dl>`;
    }));
  }
  if (r.transformJob) {
    jobs.push(aws("SageMaker.DescribeTransformJob", { TransformJobName: r.transformJob }).then((t) => {
      const out = (t.TransformOutput || {}).S3OutputPath || r.transformOutput || "";
      const prefix = out.endsWith("/") ? out : `${out}/`;
      card("transform", "Batch transform").innerHTML = `<dl class="kv">
        <dt>Name</dt><dd>${smLink("transformJob", t.TransformJobName)}</dd>
        <dt>Status</dt><dd>${badge(t.TransformJobStatus)}</dd>
        <dt>Duration</dt><dd>${duration(t.TransformStartTime || t.CreationTime, t.TransformEndTime)}</dd>
        <dt>Output</dt><dd class="mono"><a id="transform-output" target="_blank" href="/console/api/object?uri=${encodeURIComponent(prefix)}">${esc(out)}</a></dd>
        ${t.FailureReason ? `<dt>Failure</dt><dd class="error">${esc(t.FailureReason)}</dd>` : ""}
        </dl><p><a target="_blank" href="/console/api/logs/transform/${encodeURIComponent(t.TransformJobName)}">Transform log</a></p>`;
    }));
  }
  if (r.endpoint) {
    jobs.push(aws("SageMaker.DescribeEndpoint", { EndpointName: r.endpoint }).then((e) => {
      const fresh = !shown.has("endpoint");
      if (["Creating", "Updating", "SystemUpdating"].includes(e.EndpointStatus)) pending = true;
      card("endpoint", "Endpoint", INVOKE_FORM).innerHTML = endpointDetails(e);
      if (fresh) wireInvokeForm(e.EndpointName);
    }).catch((err) => {
      card("endpoint", "Endpoint").innerHTML = `<p class="muted">${esc(r.endpoint)}: ${esc(err.message)}</p>`;
    }));
  }
  const results = await Promise.allSettled(jobs);
  const failed = results.find((x) => x.status === "rejected");
  if (failed && final) showProblem(failed.reason);
  return pending;
}


// -- endpoints ---------------------------------------------------------------------------

const INVOKE_FORM = `<form id="invoke-form">
    <label for="invoke-body">Test record</label>
    <textarea id="invoke-body" rows="3" spellcheck="false" placeholder="one CSV row of features, no label"></textarea>
    <label for="invoke-type">Content type</label>
    <select id="invoke-type"><option>text/csv</option><option>application/json</option></select>
    <button type="submit" id="invoke-button">Send</button>
    <h3>Response</h3><pre id="invoke-result" class="muted">(nothing sent yet)</pre></form>`;

function endpointDetails(e) {
  return `<dl class="kv">
    <dt>Name</dt><dd id="endpoint-name">${esc(e.EndpointName)}</dd>
    <dt>Status</dt><dd>${badge(e.EndpointStatus)}</dd>
    <dt>Config</dt><dd>${smLink("endpointConfig", e.EndpointConfigName)}</dd>
    <dt>Details</dt><dd><a href="#/sm/endpoint/${encodeURIComponent(e.EndpointName)}">variants, data capture, monitors, logs</a></dd>
    <dt>Updated</dt><dd>${when(e.LastModifiedTime)}</dd>
    ${e.FailureReason ? `<dt>Failure</dt><dd class="error">${esc(e.FailureReason)}</dd>` : ""}</dl>`;
}

async function endpointsPage() {
  $("#view").innerHTML = `
    <div class="pagehead"><h1>Endpoints</h1></div>
    <div class="card"><table id="endpoints"><thead><tr><th>Name</th><th>Status</th>
      <th>Created</th><th>Updated</th></tr></thead><tbody></tbody></table>
    <p id="problem" class="error"></p></div>`;
  poll(async () => {
    const page = await aws("SageMaker.ListEndpoints", { MaxResults: 100 });
    const rows = page.Endpoints || [];
    $("#endpoints tbody").innerHTML = rows.length
      ? rows.map((e) => `<tr><td><a href="#/endpoint/${encodeURIComponent(e.EndpointName)}">${esc(e.EndpointName)}</a></td>
          <td>${badge(e.EndpointStatus)}</td><td>${when(e.CreationTime)}</td><td>${when(e.LastModifiedTime)}</td></tr>`).join("")
      : `<tr><td colspan="4" class="muted">No endpoints. A workflow whose model passes its threshold deploys one.</td></tr>`;
  });
}

async function endpointPage(name) {
  $("#view").innerHTML = `
    <div class="crumbs"><a href="#/endpoints">Endpoints</a> /</div>
    <div class="pagehead"><h1>${esc(name)}</h1></div>
    <p id="problem" class="error"></p>
    <div class="grid"><div class="card" id="res-endpoint"><h2>Endpoint</h2><div class="body"></div>${INVOKE_FORM}</div></div>
    <div class="card"><h2>Lineage</h2><div id="lineage" class="muted">(recorded once the endpoint is in service)</div></div>`;
  wireInvokeForm(name);
  const showLineage = () => consoleApi(`/console/api/lineage?endpoint=${encodeURIComponent(name)}`, "text")
    .then((svg) => { $("#lineage").className = ""; $("#lineage").innerHTML = svg; })
    .catch(() => { /* no lineage yet */ });
  poll(async () => {
    const e = await aws("SageMaker.DescribeEndpoint", { EndpointName: name });
    $("#res-endpoint .body").innerHTML = endpointDetails(e);
    if (e.EndpointStatus === "InService") showLineage();
    return !["InService", "Failed"].includes(e.EndpointStatus);
  });
}

function wireInvokeForm(endpointName) {
  $("#invoke-form").addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const out = $("#invoke-result");
    const button = $("#invoke-button");
    button.disabled = true;
    out.className = "muted";
    out.textContent = "sending…";
    try {
      const resp = await fetch(`/endpoints/${encodeURIComponent(endpointName)}/invocations`, {
        method: "POST",
        headers: { ...CONSOLE_HEADERS, "Content-Type": $("#invoke-type").value },
        body: $("#invoke-body").value,
      });
      const text = await resp.text();
      if (!resp.ok) {
        let message = text;
        try { const e = JSON.parse(text); message = `${resp.headers.get("x-amzn-ErrorType") || resp.status}: ${e.message || e.Message || text}`; }
        catch { /* plain text */ }
        throw new Error(message);
      }
      out.className = "";
      out.textContent = text;
    } catch (e) {
      out.className = "errorbox";
      out.textContent = e.message;
    } finally {
      button.disabled = false;
    }
  });
}
