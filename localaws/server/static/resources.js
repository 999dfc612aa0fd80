// Resource pages: SageMaker (jobs, models, endpoint configs, feature groups, monitoring,
// model registry), Lambda functions, and plain browsers of the services moto serves
// (DynamoDB, SQS, Kinesis, EventBridge, API Gateway, Glue + Athena, CloudWatch Logs).
// Everything goes through this server's own AWS APIs (aws(), lambdaApi()) or /console/api/.
// Loaded before app.js; uses its helpers ($, esc, badge, when, duration, pretty, aws,
// consoleApi, poll, showProblem) at call time.
"use strict";

// kind (as in a Task's "made", console.made_by) -> how to list and describe it.
const SM = {
  trainingJob: {
    title: "Training jobs", list: ["SageMaker.ListTrainingJobs", "TrainingJobSummaries"],
    name: "TrainingJobName", status: "TrainingJobStatus", describe: "SageMaker.DescribeTrainingJob",
  },
  tuningJob: {
    title: "Tuning jobs", list: ["SageMaker.ListHyperParameterTuningJobs", "HyperParameterTuningJobSummaries"],
    name: "HyperParameterTuningJobName", status: "HyperParameterTuningJobStatus",
    describe: "SageMaker.DescribeHyperParameterTuningJob",
  },
  model: { title: "Models", list: ["SageMaker.ListModels", "Models"], name: "ModelName", describe: "SageMaker.DescribeModel" },
  endpointConfig: {
    title: "Endpoint configurations", list: ["SageMaker.ListEndpointConfigs", "EndpointConfigs"],
    name: "EndpointConfigName", describe: "SageMaker.DescribeEndpointConfig",
  },
  endpoint: {
    title: "Endpoints", list: ["SageMaker.ListEndpoints", "Endpoints"], name: "EndpointName",
    status: "EndpointStatus", describe: "SageMaker.DescribeEndpoint",
  },
  transformJob: {
    title: "Batch transform jobs", list: ["SageMaker.ListTransformJobs", "TransformJobSummaries"],
    name: "TransformJobName", status: "TransformJobStatus", describe: "SageMaker.DescribeTransformJob",
  },
  processingJob: {
    title: "Processing jobs", list: ["SageMaker.ListProcessingJobs", "ProcessingJobSummaries"],
    name: "ProcessingJobName", status: "ProcessingJobStatus", describe: "SageMaker.DescribeProcessingJob",
  },
  modelPackageGroup: {
    title: "Model registry", list: ["SageMaker.ListModelPackageGroups", "ModelPackageGroupSummaryList"],
    name: "ModelPackageGroupName", status: "ModelPackageGroupStatus",
    describe: "SageMaker.DescribeModelPackageGroup",
  },
  featureGroup: {
    title: "Feature groups", list: ["SageMaker.ListFeatureGroups", "FeatureGroupSummaries"],
    name: "FeatureGroupName", status: "FeatureGroupStatus", describe: "SageMaker.DescribeFeatureGroup",
  },
  monitoringSchedule: {
    title: "Monitoring schedules", list: ["SageMaker.ListMonitoringSchedules", "MonitoringScheduleSummaries"],
    name: "MonitoringScheduleName", status: "MonitoringScheduleStatus",
    describe: "SageMaker.DescribeMonitoringSchedule",
  },
};
const LOG_OF = { trainingJob: "training", processingJob: "processing", transformJob: "transform" };

const smLink = (kind, name) => `<a href="#/sm/${kind}/${encodeURIComponent(name)}">${esc(name)}</a>`;
const kv = (pairs) => `<dl class="kv">${pairs.filter(([, v]) => v !== undefined && v !== null && v !== "")
  .map(([k, v]) => `<dt>${esc(k)}</dt><dd>${v}</dd>`).join("")}</dl>`;
const objectLink = (uri) => (uri ? `<a class="mono" target="_blank" href="/console/api/object?uri=${encodeURIComponent(uri)}">${esc(uri)}</a>` : "");
const table = (id, head, rows, empty) => `<table id="${id}"><thead><tr>${head.map((h) => `<th>${esc(h)}</th>`).join("")}</tr></thead>
  <tbody>${rows.length ? rows.map((r) => `<tr>${r.map((c) => `<td>${c ?? ""}</td>`).join("")}</tr>`).join("")
    : `<tr><td colspan="${head.length}" class="muted">${esc(empty)}</td></tr>`}</tbody></table>`;

// The link from a state visit to the resource its Task made or called.
function resourceLink(visit) {
  const made = visit.made;
  if (!made) return "";
  if (made.kind === "function") return `Lambda function <a href="#/lambda/${encodeURIComponent(made.name)}">${esc(made.name)}</a>`;
  if (!SM[made.kind]) return esc(made.name);
  return `${esc(SM[made.kind].title.replace(/s$/, "").replace(/ies$/, "y"))} ${smLink(made.kind, made.name)}`;
}

function resourceRoute(kind, arg) {
  if (kind === "sagemaker") return sagemakerPage();
  if (kind === "sm" && arg) {
    const [k, ...rest] = arg.split("/");
    if (SM[k] && rest.length) return smDetailPage(k, rest.join("/"));
  }
  if (kind === "lambda" && arg) return lambdaPage(arg);
  if (kind === "services") return servicesPage();
  if (kind === "dynamodb" && arg) return tablePage(arg);
  if (kind === "sqs" && arg) return queuePage(arg);
  if (kind === "logs" && arg) return logGroupPage(arg);
  if (kind === "glue" && arg) return gluePage(arg);
  if (kind === "rule" && arg.includes("/")) return rulePage(...arg.split("/"));
  return null;
}

async function listAllSm(kind) {
  const [target, key] = SM[kind].list;
  const out = [];
  let token;
  do {
    const page = await aws(target, token ? { MaxResults: 100, NextToken: token } : { MaxResults: 100 });
    out.push(...(page[key] || []));
    token = page.NextToken;
  } while (token);
  return out;
}

// -- SageMaker --------------------------------------------------------------------------

async function sagemakerPage() {
  $("#view").innerHTML = `<div class="pagehead"><h1>SageMaker</h1></div><p id="problem" class="error"></p>
    <div class="resources">${Object.entries(SM).map(([k, spec]) =>
      `<div class="card" id="list-${k}"><h2>${esc(spec.title)}</h2><div class="body muted">loading…</div></div>`).join("")}
      <div class="card" id="list-function"><h2>Lambda functions</h2><div class="body muted">loading…</div></div></div>`;
  await Promise.all(Object.entries(SM).map(async ([kind, spec]) => {
    const box = $(`#list-${kind} .body`);
    try {
      const items = await listAllSm(kind);
      box.className = "body";
      box.innerHTML = table(`table-${kind}`, spec.status ? ["Name", "Status", "Created"] : ["Name", "Created"],
        items.map((i) => [smLink(kind, i[spec.name]), ...(spec.status ? [badge(i[spec.status])] : []), when(i.CreationTime)]),
        "none yet");
    } catch (e) {
      box.textContent = e.message;
    }
  }));
  try {
    const fns = await lambdaApi("GET", "/2015-03-31/functions/");
    $("#list-function .body").className = "body";
    $("#list-function .body").innerHTML = table("table-function", ["Name", "Runtime", "Handler"],
      (fns.Functions || []).map((f) => [`<a href="#/lambda/${encodeURIComponent(f.FunctionName)}">${esc(f.FunctionName)}</a>`, esc(f.Runtime), esc(f.Handler)]),
      "none yet");
  } catch (e) { $("#list-function .body").textContent = e.message; }
}

async function smDetailPage(kind, name) {
  const spec = SM[kind];
  $("#view").innerHTML = `<div class="crumbs"><a href="#/sagemaker">SageMaker</a> / ${esc(spec.title)} /</div>
    <div class="pagehead"><h1>${esc(name)}</h1><span id="res-status"></span></div>
    <p id="problem" class="error"></p>
    <div class="grid"><div class="card" id="res-main"><h2>${esc(spec.title.replace(/s$/, ""))}</h2><div class="body"></div></div>
      <div class="card" id="res-side"><h2>Related</h2><div id="res-links"></div><div class="body muted">…</div></div></div>
    <div id="res-extra"></div>`;
  consoleApi(`/console/api/made-by?kind=${encodeURIComponent(kind)}&name=${encodeURIComponent(name)}`).then((r) => {
    $("#res-links").innerHTML = r.madeBy.length ? `<h3>Made by</h3><ul id="made-by">${r.madeBy.map((m) =>
      `<li><a href="#/execution/${encodeURIComponent(m.executionArn)}">${esc(m.stateMachine)} / ${esc(m.execution)}</a> (${esc(m.state)})</li>`).join("")}</ul>` : "";
  }).catch(() => {});
  poll(async () => {
    const d = await aws(spec.describe, { [spec.name]: name });
    if (spec.status) $("#res-status").innerHTML = badge(d[spec.status]);
    const [main, side, extra] = await DETAILS[kind](d, name);
    $("#res-main .body").innerHTML = main;
    $("#res-side .body").className = "body";
    $("#res-side .body").innerHTML = side || "";
    if (extra !== undefined && !$("#res-extra").dataset.built) {
      $("#res-extra").innerHTML = extra;
      $("#res-extra").dataset.built = "1";
      if (AFTER[kind]) AFTER[kind](d, name);
    }
    const status = spec.status ? d[spec.status] : "";
    return ["InProgress", "Creating", "Updating", "Stopping", "Pending"].includes(status);
  });
}

// Metric curves from a training log: XGBoost's "[3]#011train-logloss:0.41#011validation-..."
// and "name=value" / "name: value" lines with an epoch or iteration.
function metricCurves(log) {
  const curves = {};
  for (const line of log.split("\n")) {
    const m = line.match(/\[(\d+)\](.*)/);
    if (!m) continue;
    for (const pair of m[2].split(/#011|\t/)) {
      const p = pair.trim().match(/^([\w-]+):(-?[\d.eE+-]+)$/);
      if (p) (curves[p[1]] = curves[p[1]] || []).push([Number(m[1]), Number(p[2])]);
    }
  }
  return curves;
}

function curveSvg(points, w = 320, h = 90) {
  if (points.length < 2) return "";
  const xs = points.map((p) => p[0]);
  const ys = points.map((p) => p[1]);
  const [x0, x1, y0, y1] = [Math.min(...xs), Math.max(...xs), Math.min(...ys), Math.max(...ys)];
  const sx = (x) => 4 + ((x - x0) / (x1 - x0 || 1)) * (w - 8);
  const sy = (y) => h - 4 - ((y - y0) / (y1 - y0 || 1)) * (h - 8);
  return `<svg class="spark" width="${w}" height="${h}"><polyline fill="none" stroke="#1a73e8" stroke-width="1.5" points="${points.map(([x, y]) => `${sx(x).toFixed(1)},${sy(y).toFixed(1)}`).join(" ")}"/></svg>
    <div class="muted">${ys[0].toFixed(4)} → ${ys[ys.length - 1].toFixed(4)} over ${points.length} rounds</div>`;
}

const DETAILS = {
  async trainingJob(j) {
    const hp = Object.entries(j.HyperParameters || {}).map(([k, v]) => [esc(k), esc(v)]);
    const metrics = (j.FinalMetricDataList || []).map((m) => [esc(m.MetricName), Number(m.Value).toFixed(4)]);
    const artifact = (j.ModelArtifacts || {}).S3ModelArtifacts;
    const models = artifact ? (await listAllSm("model").catch(() => [])) : [];
    const using = [];
    for (const m of models) {
      const dm = await aws("SageMaker.DescribeModel", { ModelName: m.ModelName }).catch(() => null);
      const c = dm && (dm.PrimaryContainer || (dm.Containers || [])[0] || {});
      if (c && c.ModelDataUrl === artifact) using.push(smLink("model", m.ModelName));
    }
    const main = kv([["Status", badge(j.TrainingJobStatus)], ["Image", `<span class="mono">${esc((j.AlgorithmSpecification || {}).TrainingImage)}</span>`],
      ["Instance", esc(`${(j.ResourceConfig || {}).InstanceCount || 1} x ${(j.ResourceConfig || {}).InstanceType || ""}`)],
      ["Duration", duration(j.TrainingStartTime || j.CreationTime, j.TrainingEndTime)],
      ["Artifact", objectLink(artifact)], ["Failure", j.FailureReason ? `<span class="error">${esc(j.FailureReason)}</span>` : ""]])
      + `<h3>Hyperparameters</h3>${table("hyperparameters", ["Name", "Value"], hp, "none")}
      <h3>Final metrics</h3>${table("final-metrics", ["Metric", "Value"], metrics, "none reported")}
      <p><a target="_blank" id="training-log" href="/console/api/logs/training/${encodeURIComponent(j.TrainingJobName)}">Training log</a></p>`;
    return [main, using.length ? `<h3>Models from this artifact</h3>${using.join("<br>")}` : "", `<div class="card"><h2>Metric curves</h2><div id="curves" class="resources muted">reading the log…</div></div>`];
  },
  async tuningJob(t) {
    const jobs = await aws("SageMaker.ListTrainingJobsForHyperParameterTuningJob", { HyperParameterTuningJobName: t.HyperParameterTuningJobName }).catch(() => ({ TrainingJobSummaries: [] }));
    const best = (t.BestTrainingJob || {}).TrainingJobName;
    return [kv([["Status", badge(t.HyperParameterTuningJobStatus)], ["Best job", best ? smLink("trainingJob", best) : ""],
      ["Objective", esc(JSON.stringify((t.HyperParameterTuningJobConfig || {}).HyperParameterTuningJobObjective || {}))]]),
    table("tuning-jobs", ["Training job", "Status", "Objective"], (jobs.TrainingJobSummaries || []).map((x) =>
      [smLink("trainingJob", x.TrainingJobName), badge(x.TrainingJobStatus), esc(((x.FinalHyperParameterTuningJobObjectiveMetric || {}).Value) ?? "")]), "no jobs")];
  },
  async model(m) {
    const c = m.PrimaryContainer || (m.Containers || [])[0] || {};
    const job = (c.ModelDataUrl || "").match(/\/([^/]+)\/output\/model\.tar\.gz$/);
    const configs = [];
    for (const x of await listAllSm("endpointConfig").catch(() => [])) {
      const d = await aws("SageMaker.DescribeEndpointConfig", { EndpointConfigName: x.EndpointConfigName }).catch(() => null);
      if (d && (d.ProductionVariants || []).some((v) => v.ModelName === m.ModelName)) configs.push(smLink("endpointConfig", x.EndpointConfigName));
    }
    return [kv([["Image", `<span class="mono">${esc(c.Image)}</span>`], ["Artifact", objectLink(c.ModelDataUrl)], ["Created", when(m.CreationTime)]]),
      (job ? `<h3>Trained by</h3>${smLink("trainingJob", job[1])}` : "") + (configs.length ? `<h3>Endpoint configurations</h3>${configs.join("<br>")}` : ""),
      `<div class="card"><h2>Lineage</h2><div id="lineage" class="muted">(none recorded)</div></div>`];
  },
  async endpointConfig(c) {
    const endpoints = [];
    for (const e of await listAllSm("endpoint").catch(() => [])) {
      const d = await aws("SageMaker.DescribeEndpoint", { EndpointName: e.EndpointName }).catch(() => null);
      if (d && d.EndpointConfigName === c.EndpointConfigName) endpoints.push(smLink("endpoint", e.EndpointName));
    }
    return [variantsTable(c.ProductionVariants) + captureBlock(c.DataCaptureConfig),
      endpoints.length ? `<h3>Endpoints</h3>${endpoints.join("<br>")}` : ""];
  },
  async endpoint(e) {
    const config = await aws("SageMaker.DescribeEndpointConfig", { EndpointConfigName: e.EndpointConfigName }).catch(() => ({}));
    const monitors = await aws("SageMaker.ListMonitoringSchedules", { EndpointName: e.EndpointName }).catch(() => ({}));
    return [kv([["Status", badge(e.EndpointStatus)], ["Config", smLink("endpointConfig", e.EndpointConfigName)], ["Updated", when(e.LastModifiedTime)],
      ["Failure", e.FailureReason ? `<span class="error">${esc(e.FailureReason)}</span>` : ""]])
      + variantsTable(config.ProductionVariants) + captureBlock(config.DataCaptureConfig),
    `<h3>Monitors</h3>${((monitors.MonitoringScheduleSummaries || []).map((s) => smLink("monitoringSchedule", s.MonitoringScheduleName)).join("<br>")) || '<span class="muted">none</span>'}
      <p><a href="#/logs/${encodeURIComponent(`/aws/sagemaker/Endpoints/${e.EndpointName}`)}">Endpoint logs</a></p>`,
    `<div class="grid"><div class="card" id="res-endpoint"><h2>Invoke</h2>${INVOKE_FORM}</div>
      <div class="card"><h2>Lineage</h2><div id="lineage" class="muted">(recorded once the endpoint is in service)</div></div></div>`];
  },
  async transformJob(t) {
    const out = (t.TransformOutput || {}).S3OutputPath || "";
    return [kv([["Status", badge(t.TransformJobStatus)], ["Model", smLink("model", t.ModelName)],
      ["Input", objectLink((((t.TransformInput || {}).DataSource || {}).S3DataSource || {}).S3Uri)],
      ["Output", objectLink(out.endsWith("/") ? out : `${out}/`)], ["Duration", duration(t.TransformStartTime || t.CreationTime, t.TransformEndTime)],
      ["Failure", t.FailureReason ? `<span class="error">${esc(t.FailureReason)}</span>` : ""]])
      + `<p><a target="_blank" href="/console/api/logs/transform/${encodeURIComponent(t.TransformJobName)}">Transform log</a></p>`, ""];
  },
  async processingJob(p) {
    const ins = (p.ProcessingInputs || []).map((i) => [esc(i.InputName), objectLink((i.S3Input || {}).S3Uri)]);
    const outs = ((p.ProcessingOutputConfig || {}).Outputs || []).map((o) => [esc(o.OutputName), objectLink(`${((o.S3Output || {}).S3Uri || "").replace(/\/?$/, "/")}`)]);
    return [kv([["Status", badge(p.ProcessingJobStatus)], ["Image", `<span class="mono">${esc((p.AppSpecification || {}).ImageUri)}</span>`],
      ["Duration", duration(p.ProcessingStartTime || p.CreationTime, p.ProcessingEndTime)],
      ["Exit", p.ExitMessage ? `<span class="error">${esc(p.ExitMessage)}</span>` : ""]])
      + `<h3>Inputs</h3>${table("processing-inputs", ["Name", "S3"], ins, "none")}<h3>Outputs</h3>${table("processing-outputs", ["Name", "S3"], outs, "none")}
      <p><a target="_blank" href="/console/api/logs/processing/${encodeURIComponent(p.ProcessingJobName)}">Processing log</a></p>`,
    p.MonitoringScheduleArn ? `<h3>Monitoring schedule</h3>${smLink("monitoringSchedule", p.MonitoringScheduleArn.split("/").pop())}` : ""];
  },
  async modelPackageGroup(g) {
    const list = await aws("SageMaker.ListModelPackages", { ModelPackageGroupName: g.ModelPackageGroupName, MaxResults: 100 });
    const rows = await Promise.all((list.ModelPackageSummaryList || []).map(async (p) => {
      const d = await aws("SageMaker.DescribeModelPackage", { ModelPackageName: p.ModelPackageArn }).catch(() => ({}));
      const props = Object.entries(d.CustomerMetadataProperties || {}).map(([k, v]) => `<span class="metric">${esc(k)} = ${esc(v)}</span>`);
      const reports = Object.entries(d.ModelMetrics || {}).flatMap(([kind, parts]) => Object.entries(parts || {})
        .filter(([, r]) => r && r.S3Uri).map(([part, r]) => `<a target="_blank" href="/console/api/object?uri=${encodeURIComponent(r.S3Uri)}">${esc(kind)} ${esc(part)}</a>`));
      const status = p.ModelApprovalStatus;
      return [esc(p.ModelPackageVersion), `<span class="approval">${badge(status)}</span>`, [...props, ...reports].join("<br>") || '<span class="muted">none</span>', when(p.CreationTime),
        `<button type="button" class="secondary approve" data-arn="${esc(p.ModelPackageArn)}" data-to="Approved"${status === "Approved" ? " disabled" : ""}>Approve</button>
         <button type="button" class="secondary approve" data-arn="${esc(p.ModelPackageArn)}" data-to="Rejected"${status === "Rejected" ? " disabled" : ""}>Reject</button>`];
    }));
    return [kv([["Description", esc(g.ModelPackageGroupDescription)], ["Created", when(g.CreationTime)]])
      + `<h3>Versions</h3>${table("model-packages", ["Version", "Approval", "Metrics", "Created", ""], rows, "no versions")}`, "", ""];
  },
  async featureGroup(f) {
    const features = (f.FeatureDefinitions || []).map((d) => [esc(d.FeatureName), esc(d.FeatureType)]);
    const form = `<div class="card"><form id="record-form"><label for="record-id">Get a record by ${esc(f.RecordIdentifierFeatureName)}</label>
      <input type="text" id="record-id"><button type="submit">Get record</button><pre id="record-result" class="muted">(nothing asked yet)</pre></form></div>`;
    return [kv([["Record id", esc(f.RecordIdentifierFeatureName)], ["Event time", esc(f.EventTimeFeatureName)],
      ["Offline store", objectLink((((f.OfflineStoreConfig || {}).S3StorageConfig) || {}).ResolvedOutputS3Uri || (((f.OfflineStoreConfig || {}).S3StorageConfig) || {}).S3Uri)]])
      + `<h3>Features</h3>${table("features", ["Name", "Type"], features, "none")}`, "", form];
  },
  async monitoringSchedule(s) {
    const runs = await aws("SageMaker.ListMonitoringExecutions", { MonitoringScheduleName: s.MonitoringScheduleName, MaxResults: 50 }).catch(() => ({}));
    const rows = (runs.MonitoringExecutionSummaries || []).map((r) => [when(r.ScheduledTime), badge(r.MonitoringExecutionStatus),
      r.ProcessingJobArn ? smLink("processingJob", r.ProcessingJobArn.split("/").pop()) : "", esc(r.FailureReason || "")]);
    return [kv([["Status", badge(s.MonitoringScheduleStatus)], ["Type", esc(s.MonitoringType)],
      ["Schedule", esc((((s.MonitoringScheduleConfig || {}).ScheduleConfig) || {}).ScheduleExpression)],
      ["Endpoint", s.EndpointName ? smLink("endpoint", s.EndpointName) : ""], ["Last run", esc(((s.LastMonitoringExecutionSummary || {}).MonitoringExecutionStatus) || "")]])
      + `<h3>Runs (violations: the processing job's outputs)</h3>${table("monitoring-runs", ["Scheduled", "Status", "Job", "Failure"], rows, "no runs yet")}`,
    ""];
  },
};

const AFTER = {
  trainingJob(j) {
    consoleApi(`/console/api/logs/training/${encodeURIComponent(j.TrainingJobName)}`, "text").then((log) => {
      const curves = metricCurves(log);
      $("#curves").className = "resources";
      $("#curves").innerHTML = Object.entries(curves).map(([name, pts]) =>
        `<div class="curve" data-metric="${esc(name)}"><h3>${esc(name)}</h3>${curveSvg(pts)}</div>`).join("") || '<p class="muted">No per-round metrics in the log.</p>';
    }).catch((e) => { $("#curves").textContent = e.message; });
  },
  endpoint(e) {
    wireInvokeForm(e.EndpointName);
    consoleApi(`/console/api/lineage?endpoint=${encodeURIComponent(e.EndpointName)}`, "text")
      .then((svg) => { $("#lineage").className = ""; $("#lineage").innerHTML = svg; }).catch(() => {});
  },
  model(m) {
    consoleApi(`/console/api/lineage?model=${encodeURIComponent(m.ModelName)}`, "text")
      .then((svg) => { $("#lineage").className = ""; $("#lineage").innerHTML = svg; }).catch(() => {});
  },
  modelPackageGroup() { // (DETAILS returns an extra, even empty, so that this runs)
    $("#res-main").addEventListener("click", async (ev) => {
      const b = ev.target.closest("button.approve");
      if (!b) return;
      try {
        await aws("SageMaker.UpdateModelPackage", { ModelPackageArn: b.dataset.arn, ModelApprovalStatus: b.dataset.to });
        route();
      } catch (e) { showProblem(e); }
    });
  },
  featureGroup(f) {
    $("#res-extra").addEventListener("submit", async (ev) => {
      ev.preventDefault();
      const out = $("#record-result");
      try {
        const r = await consoleApi(`/console/api/feature-record?group=${encodeURIComponent(f.FeatureGroupName)}&id=${encodeURIComponent($("#record-id").value)}`);
        out.className = "";
        out.textContent = JSON.stringify(r, null, 2);
      } catch (e) { out.className = "errorbox"; out.textContent = e.message; }
    });
  },
};
function variantsTable(variants) {
  return `<h3>Variants</h3>${table("variants", ["Variant", "Model", "Instances", "Weight"], (variants || []).map((v) =>
    [esc(v.VariantName), smLink("model", v.ModelName), esc(`${v.InitialInstanceCount || ""} x ${v.InstanceType || "serverless"}`), esc(v.InitialVariantWeight ?? 1)]), "none")}`;
}

function captureBlock(capture) {
  if (!capture || capture.EnableCapture === false) return `<h3>Data capture</h3><p class="muted">off</p>`;
  return `<h3>Data capture</h3>${kv([["Sampling", `${esc(capture.InitialSamplingPercentage)} %`], ["Destination", objectLink(capture.DestinationS3Uri.replace(/\/?$/, "/"))]])}`;
}

// -- Lambda -------------------------------------------------------------------------------

async function lambdaApi(method, path, body, raw = false) {
  const resp = await fetch(path, { method, headers: { ...CONSOLE_HEADERS, "Content-Type": "application/json" }, body });
  const text = await resp.text();
  if (!resp.ok) {
    let message = text;
    try { const e = JSON.parse(text); message = `${e.__type || e.Type || resp.status}: ${e.message || e.Message || text}`; } catch { /* text */ }
    throw new Error(message);
  }
  return raw ? { text, headers: resp.headers } : JSON.parse(text || "{}");
}

async function lambdaPage(name) {
  const group = `/aws/lambda/${name}`;
  $("#view").innerHTML = `<div class="crumbs"><a href="#/sagemaker">SageMaker</a> / Lambda functions /</div>
    <div class="pagehead"><h1>${esc(name)}</h1></div><p id="problem" class="error"></p>
    <div class="grid"><div class="card" id="fn-config"><h2>Function</h2><div class="body"></div></div>
      <div class="card"><h2>Invoke</h2><form id="fn-invoke"><label for="fn-event">Event (JSON)</label>
        <textarea id="fn-event" rows="6" spellcheck="false">{}</textarea><button type="submit">Invoke</button>
        <h3>Result</h3><pre id="fn-result" class="muted">(not invoked yet)</pre></form></div></div>
    <div class="card"><h2>Logs <a href="#/logs/${encodeURIComponent(group)}">${esc(group)}</a></h2><pre id="fn-logs" class="muted">…</pre></div>`;
  const fn = await lambdaApi("GET", `/2015-03-31/functions/${encodeURIComponent(name)}`).catch((e) => { showProblem(e); return null; });
  if (fn) {
    const c = fn.Configuration || {};
    $("#fn-config .body").innerHTML = kv([["Runtime", esc(c.Runtime)], ["Handler", `<span class="mono">${esc(c.Handler)}</span>`],
      ["Timeout", `${esc(c.Timeout)} s`], ["Memory", `${esc(c.MemorySize)} MB`], ["Modified", esc(c.LastModified)],
      ["Environment", `<pre>${esc(JSON.stringify(((c.Environment || {}).Variables) || {}, null, 2))}</pre>`]]);
  }
  $("#fn-invoke").addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const out = $("#fn-result");
    try {
      JSON.parse($("#fn-event").value);
      const r = await lambdaApi("POST", `/2015-03-31/functions/${encodeURIComponent(name)}/invocations`, $("#fn-event").value, true);
      const error = r.headers.get("x-amz-function-error");
      out.className = error ? "errorbox" : "";
      out.textContent = `${error ? `${error} error\n` : ""}${pretty(r.text)}`;
    } catch (e) { out.className = "errorbox"; out.textContent = e.message; }
  });
  poll(async () => {
    const events = await aws("Logs_20140328.FilterLogEvents", { logGroupName: group, limit: 200 }).catch(() => null);
    $("#fn-logs").className = "";
    $("#fn-logs").textContent = events ? (events.events || []).map((e) => e.message.trimEnd()).join("\n") || "(no log lines yet)" : "(no log group yet)";
  });
}

// -- service browsers ---------------------------------------------------------------------

async function servicesPage() {
  const sections = {
    dynamodb: "DynamoDB tables", sqs: "SQS queues", kinesis: "Kinesis streams", events: "EventBridge rules",
    apigateway: "API Gateway APIs", glue: "Glue catalog", logs: "CloudWatch log groups",
  };
  $("#view").innerHTML = `<div class="pagehead"><h1>Services</h1></div><p id="problem" class="error"></p>
    <div class="resources">${Object.entries(sections).map(([k, t]) => `<div class="card" id="svc-${k}"><h2>${t}</h2><div class="body muted">loading…</div></div>`).join("")}</div>`;
  const fill = async (key, fn) => {
    const box = $(`#svc-${key} .body`);
    try { box.innerHTML = await fn(); box.className = "body"; } catch (e) { box.textContent = e.message; }
  };
  await Promise.all([
    fill("dynamodb", async () => {
      const t = await aws("DynamoDB_20120810.ListTables", {});
      return table("ddb-tables", ["Table"], (t.TableNames || []).map((n) => [`<a href="#/dynamodb/${encodeURIComponent(n)}">${esc(n)}</a>`]), "no tables");
    }),
    fill("sqs", async () => {
      const q = await aws("AmazonSQS.ListQueues", {});
      const rows = await Promise.all((q.QueueUrls || []).map(async (url) => {
        const a = (await aws("AmazonSQS.GetQueueAttributes", { QueueUrl: url, AttributeNames: ["All"] })).Attributes || {};
        return [`<a href="#/sqs/${encodeURIComponent(url)}">${esc(url.split("/").pop())}</a>`, esc(a.ApproximateNumberOfMessages), esc(a.ApproximateNumberOfMessagesNotVisible)];
      }));
      return table("sqs-queues", ["Queue", "Visible", "In flight"], rows, "no queues");
    }),
    fill("kinesis", async () => {
      const s = await aws("Kinesis_20131202.ListStreams", {});
      return table("kinesis-streams", ["Stream", "Status", "Shards"], (s.StreamSummaries || []).map((x) => [esc(x.StreamName), badge(x.StreamStatus), esc(x.StreamModeDetails ? x.StreamModeDetails.StreamMode : "")]), "no streams");
    }),
    fill("events", async () => {
      const r = await aws("AWSEvents.ListRules", {});
      const rows = await Promise.all((r.Rules || []).map(async (rule) => {
        const t = await aws("AWSEvents.ListTargetsByRule", { Rule: rule.Name, EventBusName: rule.EventBusName }).catch(() => ({}));
        const link = `<a href="#/rule/${encodeURIComponent(rule.EventBusName || "default")}/${encodeURIComponent(rule.Name)}">${esc(rule.Name)}</a>`;
        return [link, badge(rule.State), `<span class="mono">${esc(rule.ScheduleExpression || rule.EventPattern || "")}</span>`,
          (t.Targets || []).map((x) => `<span class="mono">${esc(x.Arn)}</span>`).join("<br>")];
      }));
      return table("event-rules", ["Rule", "State", "Pattern / schedule", "Targets"], rows, "no rules");
    }),
    fill("apigateway", async () => {
      const apis = await consoleApi("/console/api/apis");
      return table("apis", ["API", "Kind", "Stage", "Local URL (served here)", "On AWS"], apis.apis.map((a) => [esc(a.name), esc(a.kind), esc(a.stage),
        `<a class="mono local-url" target="_blank" href="${esc(a.localUrl)}">${esc(a.localUrl)}</a>`, `<span class="mono muted">${esc(a.awsUrl)}</span>`]),
      "no API has a stage yet");
    }),
    fill("glue", async () => {
      const d = await aws("AWSGlue.GetDatabases", {});
      return table("glue-databases", ["Database"], (d.DatabaseList || []).map((x) => [`<a href="#/glue/${encodeURIComponent(x.Name)}">${esc(x.Name)}</a>`]), "no databases");
    }),
    fill("logs", async () => {
      const g = await aws("Logs_20140328.DescribeLogGroups", {});
      return table("log-groups", ["Log group", "Stored"], (g.logGroups || []).map((x) => [`<a href="#/logs/${encodeURIComponent(x.logGroupName)}">${esc(x.logGroupName)}</a>`, esc(x.storedBytes ?? "")]), "no log groups");
    }),
  ]);
}

async function tablePage(name) {
  $("#view").innerHTML = `<div class="crumbs"><a href="#/services">Services</a> / DynamoDB /</div>
    <div class="pagehead"><h1>${esc(name)}</h1></div><p id="problem" class="error"></p>
    <div class="card"><h2>Query by key</h2><form id="ddb-query" class="filters"><span id="ddb-key" class="mono"></span>
      <input type="text" id="ddb-value" placeholder="partition key value"><button type="submit">Query</button>
      <button type="button" class="secondary" id="ddb-scan">Scan (first 50)</button></form></div>
    <div class="card"><h2>Items</h2><div id="ddb-items" class="muted">…</div></div>`;
  const d = (await aws("DynamoDB_20120810.DescribeTable", { TableName: name })).Table;
  const hash = d.KeySchema.find((k) => k.KeyType === "HASH").AttributeName;
  const type = (d.AttributeDefinitions.find((a) => a.AttributeName === hash) || {}).AttributeType || "S";
  $("#ddb-key").textContent = `${hash} (${type}) =`;
  const show = (items) => {
    const cols = [...new Set(items.flatMap((i) => Object.keys(i)))];
    const plain = (v) => { const [t, x] = Object.entries(v)[0]; return t === "M" || t === "L" ? JSON.stringify(x) : String(x); };
    $("#ddb-items").className = "";
    $("#ddb-items").innerHTML = table("ddb-item-table", cols, items.map((i) => cols.map((c) => (i[c] ? esc(plain(i[c])) : ""))), "no items");
  };
  const scan = async () => show((await aws("DynamoDB_20120810.Scan", { TableName: name, Limit: 50 })).Items || []);
  $("#ddb-scan").addEventListener("click", () => scan().catch(showProblem));
  $("#ddb-query").addEventListener("submit", async (ev) => {
    ev.preventDefault();
    try {
      const r = await aws("DynamoDB_20120810.Query", {
        TableName: name, KeyConditionExpression: "#k = :v", ExpressionAttributeNames: { "#k": hash },
        ExpressionAttributeValues: { ":v": { [type]: $("#ddb-value").value } },
      });
      show(r.Items || []);
    } catch (e) { showProblem(e); }
  });
  scan().catch(showProblem);
}

async function queuePage(url) {
  $("#view").innerHTML = `<div class="crumbs"><a href="#/services">Services</a> / SQS /</div>
    <div class="pagehead"><h1>${esc(url.split("/").pop())}</h1></div><p id="problem" class="error"></p>
    <div class="grid"><div class="card"><h2>Attributes</h2><div id="sqs-attrs"></div></div>
      <div class="card"><h2>Peek</h2><p class="muted">Receives up to 10 messages with a visibility timeout of 0: they stay
        in the queue, and their receive count goes up (as the AWS console's poll does).</p>
        <button type="button" id="sqs-peek">Peek</button><div id="sqs-messages"></div></div></div>`;
  $("#sqs-peek").addEventListener("click", async () => {
    try {
      const r = await aws("AmazonSQS.ReceiveMessage", { QueueUrl: url, MaxNumberOfMessages: 10, VisibilityTimeout: 0, WaitTimeSeconds: 0, AttributeNames: ["All"] });
      $("#sqs-messages").innerHTML = table("sqs-message-table", ["Id", "Received", "Body"], (r.Messages || []).map((m) =>
        [`<span class="mono">${esc(m.MessageId)}</span>`, esc((m.Attributes || {}).ApproximateReceiveCount), `<pre>${esc(pretty(m.Body))}</pre>`]), "no messages visible");
    } catch (e) { showProblem(e); }
  });
  poll(async () => {
    const a = (await aws("AmazonSQS.GetQueueAttributes", { QueueUrl: url, AttributeNames: ["All"] })).Attributes || {};
    $("#sqs-attrs").innerHTML = kv(Object.entries(a).sort().map(([k, v]) => [k, `<span class="mono">${esc(v)}</span>`]));
  });
}

async function logGroupPage(group) {
  $("#view").innerHTML = `<div class="crumbs"><a href="#/services">Services</a> / CloudWatch Logs /</div>
    <div class="pagehead"><h1>${esc(group)}</h1></div><p id="problem" class="error"></p>
    <div class="grid"><div class="card"><h2>Streams</h2><div id="log-streams"></div></div>
      <div class="card"><h2 id="log-title">Events</h2><pre id="log-events" class="muted">(pick a stream)</pre></div></div>`;
  const streams = await aws("Logs_20140328.DescribeLogStreams", { logGroupName: group, orderBy: "LastEventTime", descending: true });
  $("#log-streams").innerHTML = table("log-stream-table", ["Stream", "Last event"], (streams.logStreams || []).map((s) =>
    [`<a href="" class="stream" data-stream="${esc(s.logStreamName)}">${esc(s.logStreamName)}</a>`, when((s.lastEventTimestamp || 0) / 1000)]), "no streams");
  $("#log-streams").addEventListener("click", async (ev) => {
    const a = ev.target.closest("a.stream");
    if (!a) return;
    ev.preventDefault();
    const r = await aws("Logs_20140328.GetLogEvents", { logGroupName: group, logStreamName: a.dataset.stream, startFromHead: true, limit: 1000 }).catch(showProblem);
    $("#log-title").textContent = a.dataset.stream;
    $("#log-events").className = "";
    $("#log-events").textContent = r ? (r.events || []).map((e) => e.message.trimEnd()).join("\n") : "";
  });
}

async function gluePage(database) {
  $("#view").innerHTML = `<div class="crumbs"><a href="#/services">Services</a> / Glue /</div>
    <div class="pagehead"><h1>${esc(database)}</h1></div><p id="problem" class="error"></p>
    <div class="grid"><div class="card"><h2>Tables</h2><div id="glue-tables"></div></div>
      <div class="card"><h2>SQL (Athena)</h2><form id="athena-form"><textarea id="athena-sql" rows="5" spellcheck="false"></textarea>
        <label for="athena-output">Results location</label><input type="text" id="athena-output" value="s3://athena-results/console/">
        <button type="submit" id="athena-run">Run</button></form><div id="athena-status" class="muted"></div><div id="athena-result"></div></div></div>`;
  const t = await aws("AWSGlue.GetTables", { DatabaseName: database });
  const tables = t.TableList || [];
  $("#glue-tables").innerHTML = table("glue-table-list", ["Table", "Columns", "Location"], tables.map((x) => [esc(x.Name),
    esc(((x.StorageDescriptor || {}).Columns || []).map((c) => `${c.Name} ${c.Type}`).join(", ")), objectLink(((x.StorageDescriptor || {}).Location || ""))]), "no tables");
  if (tables.length) $("#athena-sql").value = `SELECT * FROM "${database}"."${tables[0].Name}" LIMIT 10`;
  $("#athena-form").addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const status = $("#athena-status");
    status.className = "muted";
    $("#athena-result").innerHTML = "";
    try {
      const started = await aws("AmazonAthena.StartQueryExecution", {
        QueryString: $("#athena-sql").value, QueryExecutionContext: { Database: database },
        ResultConfiguration: { OutputLocation: $("#athena-output").value },
      });
      const id = started.QueryExecutionId;
      let state = "QUEUED";
      let q = null;
      while (["QUEUED", "RUNNING"].includes(state)) {
        q = (await aws("AmazonAthena.GetQueryExecution", { QueryExecutionId: id })).QueryExecution;
        state = q.Status.State;
        status.textContent = `${id}: ${state}`;
        if (["QUEUED", "RUNNING"].includes(state)) await new Promise((r) => setTimeout(r, 300));
      }
      if (state !== "SUCCEEDED") throw new Error(q.Status.StateChangeReason || state);
      const r = await aws("AmazonAthena.GetQueryResults", { QueryExecutionId: id, MaxResults: 100 });
      const rows = (r.ResultSet.Rows || []).map((row) => row.Data.map((d) => d.VarCharValue));
      const head = ((r.ResultSet.ResultSetMetadata || {}).ColumnInfo || []).map((c) => c.Name);
      const body = head.length && rows.length && rows[0].join() === head.join() ? rows.slice(1) : rows;
      $("#athena-result").innerHTML = table("athena-rows", head, body.map((x) => x.map(esc)), "no rows");
    } catch (e) { status.className = "error"; status.textContent = e.message; }
  });
}


async function rulePage(bus, name) {
  $("#view").innerHTML = `<div class="crumbs"><a href="#/services">Services</a> / EventBridge / ${esc(bus)} /</div>
    <div class="pagehead"><h1>${esc(name)}</h1><span id="rule-state"></span></div><p id="problem" class="error"></p>
    <div class="grid"><div class="card"><h2>Rule</h2><div id="rule-main"></div></div>
      <div class="card"><h2>Targets</h2><div id="rule-targets"></div></div></div>
    <div class="card"><h2>Last deliveries</h2><div id="rule-deliveries" class="muted">…</div></div>`;
  const targets = await aws("AWSEvents.ListTargetsByRule", { Rule: name, EventBusName: bus }).catch(() => ({}));
  $("#rule-targets").innerHTML = table("rule-target-table", ["Id", "Target", "Retries", "Dead-letter queue"], (targets.Targets || []).map((t) =>
    [esc(t.Id), `<span class="mono">${esc(t.Arn)}</span>`, esc(((t.RetryPolicy || {}).MaximumRetryAttempts) ?? 185), `<span class="mono">${esc((t.DeadLetterConfig || {}).Arn || "")}</span>`]), "no targets");
  poll(async () => {
    const r = await consoleApi(`/console/api/rule-deliveries?bus=${encodeURIComponent(bus)}&rule=${encodeURIComponent(name)}`);
    $("#rule-state").innerHTML = badge(r.rule.State);
    $("#rule-main").innerHTML = kv([["ARN", `<span class="mono">${esc(r.rule.Arn)}</span>`], ["Description", esc(r.rule.Description)],
      ["Pattern", r.rule.EventPattern ? `<pre>${esc(pretty(r.rule.EventPattern))}</pre>` : ""], ["Schedule", r.rule.ScheduleExpression ? `<span class="mono">${esc(r.rule.ScheduleExpression)}</span>` : ""]]);
    $("#rule-deliveries").className = "";
    $("#rule-deliveries").innerHTML = table("rule-delivery-table", ["Time", "Target", "Event", "Attempt", "Outcome", "Error"], r.deliveries.map((d) =>
      [when(d.time), `<span class="mono">${esc(d.target)}</span>`, `<span class="mono">${esc(d.eventId)}</span>`, esc(d.attempt),
        `<span class="outcome outcome-${esc(d.outcome)}">${esc(d.outcome)}</span>`, d.error ? `<span class="error">${esc(d.error)}</span>` : ""]),
    "no deliveries yet");
  });
}
