"""Write ``notebooks/walkthrough.ipynb`` from the cells below.

The notebook's code lives here, in a file that CI lints and that the notebook test compares
with the stored notebook, so the two cannot drift apart::

    .venv/bin/python notebooks/build_walkthrough.py          # rewrite the notebook
    .venv/bin/python notebooks/build_walkthrough.py --check  # exit 1 when it is stale
"""

from __future__ import annotations

import sys
from pathlib import Path

import notebook_kit

NOTEBOOK = Path(__file__).resolve().parent / "walkthrough.ipynb"

CELLS: list[tuple[str, str]] = [
    (
        "md",
        """# Predictive maintenance with Step Functions, end to end

This notebook walks through the project's main job: a Step Functions state machine that takes
raw machine data to a deployed, evaluated XGBoost model, built with the AWS Step Functions Data
Science SDK.

It runs against the **local server** by default: one process that speaks the Step Functions,
SageMaker, Lambda and S3 APIs on your machine, with no AWS account. Start it in a terminal first:

```
python -m workflows serve            # http://127.0.0.1:8083, console at the same address
```

To run the same notebook on **AWS**, change `TARGET` below to `"aws"` (after
`python -m workflows deploy`, which creates the bucket, the Lambda functions and the roles).""",
    ),
    (
        "code",
        """import os

TARGET = "local"  # "local": the local server; "aws": your AWS account

# Where the local server listens, and the state directory it owns (for the predictions table).
LOCAL_URL = os.environ.get("LOCALAWS_URL", "http://127.0.0.1:8083")
STATE_DIR = os.environ.get("LOCALAWS_STATE_DIR")
ROWS = int(os.environ.get("WALKTHROUGH_ROWS", "10000"))  # rows of generated data
SEED = 42""",
    ),
    (
        "code",
        """import json
import sys
from pathlib import Path

# Make the project importable when the notebook runs from notebooks/.
ROOT = Path.cwd() if (Path.cwd() / "workflows").is_dir() else Path.cwd().parent
sys.path.insert(0, str(ROOT))

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from IPython.display import display

from workflows import ai4i_data, local
from workflows import notebook_helpers as nh
from workflows import predictive_maintenance as pm
from workflows import settings as workflow_settings

STATE_DIR = STATE_DIR or str(ROOT / ".local-aws")
backend = nh.connect(TARGET, endpoint_url=LOCAL_URL)
# Sections 2-8: the Lambda-featurised variant; section 9 runs the default, the inference pipeline.
settings = workflow_settings.load(
    overrides={"data.rows": ROWS, "data.seed": SEED, "featurizer.mode": "lambda"}
)
print(f"target: {TARGET}" + (f" ({LOCAL_URL})" if TARGET == "local" else ""))""",
    ),
    (
        "md",
        """## 1. The data

The AI4I 2020 predictive-maintenance dataset has one row per machine cycle: the product's
quality variant (`Type` L/M/H), air and process temperature, rotational speed, torque and tool
wear, and whether the machine failed. The generator follows the dataset's published generation
process, so we can make as many rows as we like. Failures are rare (about 3.4%), which is why
the workflow weights the positive class when it trains.""",
    ),
    (
        "code",
        """raw = ai4i_data.generate(ROWS, SEED)
print(f"{len(raw):,} rows, {raw['Machine failure'].mean():.2%} failures")
raw.head()""",
    ),
    (
        "code",
        """fig, axes = plt.subplots(1, 2, figsize=(11, 3.5))
raw["Machine failure"].value_counts().sort_index().plot.bar(
    ax=axes[0], color=["#1e8e3e", "#d93025"], title="Class balance (0 = ok, 1 = failure)"
)
axes[0].set_xlabel("")
raw[["TWF", "HDF", "PWF", "OSF", "RNF"]].sum().plot.bar(
    ax=axes[1], color="#e37400", title="Failures by mode"
)
plt.tight_layout()
plt.show()""",
    ),
    (
        "code",
        """features = [
    "Air temperature [K]",
    "Process temperature [K]",
    "Rotational speed [rpm]",
    "Torque [Nm]",
    "Tool wear [min]",
]
fig, axes = plt.subplots(1, len(features), figsize=(16, 3))
for ax, feature in zip(axes, features):
    for label, color in ((0, "#1e8e3e"), (1, "#d93025")):
        values = raw.loc[raw["Machine failure"] == label, feature]
        ax.hist(values, bins=30, density=True, alpha=0.55, color=color, label=f"failure={label}")
    ax.set_title(feature, fontsize=10)
axes[0].legend()
plt.tight_layout()
plt.show()""",
    ),
    (
        "md",
        """## 2. The workflow

`workflows/predictive_maintenance.py` builds the state machine with the Data Science SDK. Its
simpler variant (`featurizer.mode: lambda`) comes first: prepare the data (Lambda) → train XGBoost → create the model → batch-transform the test set →
evaluate (Lambda) → deploy only when the metric reaches the threshold → predict sample records
(Lambda). Every task has a `Catch` that records the failure. The graph below is drawn by
`localaws.asl.graph`: a plain SVG that needs no JavaScript and no internet.""",
    ),
    (
        "code",
        """workflow = pm.build_workflow(settings, client=backend.client("stepfunctions"))
definition = json.loads(workflow.definition.to_json())
nh.Graph(nh.render_svg(definition, title=settings.name))""",
    ),
    (
        "md",
        """## 3. Create and execute

Locally, the notebook registers the Lambda functions from `lambdas/functions.yaml` on the
server and uploads the raw data to the server's S3; on AWS the CloudFormation stack already
holds the functions and the bucket. Then the SDK's `Workflow.create()` makes the state machine
(or `update()` when it already exists) and `execute()` starts a run whose input names every
job, model and data location of that run.""",
    ),
    (
        "code",
        """if TARGET == "local":
    local.register_lambdas(backend)
    local.ensure_predictions_table(backend, settings.prediction.table)
    nh.ensure_bucket(backend, settings.data.bucket)

run_id = local.new_run_id()
inputs = pm.example_input(
    settings, run_id, endpoint_exists=local.endpoint_exists(backend, settings.endpoint.name)
)
local.upload_raw(backend, inputs["RawDataUri"], raw.to_csv(index=False).encode())

existing = {
    w["name"]: w["stateMachineArn"]
    for w in workflow.list_workflows(client=backend.client("stepfunctions"))
}
if settings.name in existing:  # a previous run made it: bring it up to date
    workflow.state_machine_arn = existing[settings.name]
    workflow.update(definition=workflow.definition, role=settings.roles.state_machine)
else:
    workflow.create()
execution = workflow.execute(name=run_id, inputs=inputs)
print(execution.execution_arn)""",
    ),
    (
        "md",
        """## 4. Watch it run

The graph redraws every second from the execution's history: blue is running, green
succeeded, red failed, amber caught by a `Catch`. The local console at the server's address
shows the same, with each state's input and output.""",
    ),
    (
        "code",
        """final = nh.watch(execution, definition)
print(f"{final['status']} in {(final['stopDate'] - final['startDate']).total_seconds():.1f} s")
pd.DataFrame(nh.state_table(execution.list_events()))""",
    ),
    (
        "md",
        """## 5. The evaluation

The evaluate Lambda scored the batch-transform output against the test labels and wrote
`evaluation.json`. The execution's output holds everything each state returned.""",
    ),
    (
        "code",
        """output = execution.get_output(wait=True)
metrics = output["evaluate"]["Payload"]
print(f"ROC AUC: {metrics['roc_auc']:.4f}")
print(f"PR AUC: {metrics['pr_auc']:.4f}   F1: {metrics['f1']:.4f}   "
      f"precision: {metrics['precision']:.4f}   recall: {metrics['recall']:.4f}")
print("confusion matrix:", metrics["confusion_matrix"])
evaluation = nh.read_json(backend.storage, metrics["evaluation_uri"])
sorted(evaluation)""",
    ),
    (
        "code",
        """from sklearn.metrics import auc, roc_curve

prepared = output["prepare"]["Payload"]
test = np.loadtxt(
    backend.storage.read(prepared["test_uri"]).decode().splitlines(), delimiter=",", ndmin=2
)
transform_out = inputs["TransformOutputUri"] + prepared["test_uri"].rsplit("/", 1)[1] + ".out"
scored = np.loadtxt(
    backend.storage.read(transform_out).decode().splitlines(), delimiter=",", ndmin=2
)
labels, scores = test[:, 0], scored[:, -1]
fpr, tpr, _ = roc_curve(labels, scores)

manifest = nh.read_json(backend.storage, prepared["manifest_uri"])
booster = nh.load_booster(backend.storage, output["train"]["ModelArtifacts"]["S3ModelArtifacts"])
gain = booster.get_score(importance_type="gain")
importance = pd.Series(
    {name: gain.get(f"f{i}", 0.0) for i, name in enumerate(manifest["features"])}
).sort_values()

fig, axes = plt.subplots(1, 2, figsize=(12, 4))
axes[0].plot(fpr, tpr, color="#1a73e8", label=f"ROC AUC = {auc(fpr, tpr):.3f}")
axes[0].plot([0, 1], [0, 1], color="#9aa3ad", linestyle="--")
axes[0].set(xlabel="false positive rate", ylabel="true positive rate", title="ROC curve")
axes[0].legend(loc="lower right")
importance.plot.barh(ax=axes[1], color="#1e8e3e", title="Feature importance (gain)")
plt.tight_layout()
plt.show()""",
    ),
    (
        "md",
        """## 6. Call the endpoint

The model passed its threshold, so the workflow deployed it to an endpoint. Send it a record
the way any application would, through the SageMaker Runtime API: one CSV row of features in
the manifest's order, no label.""",
    ),
    (
        "code",
        """runtime = backend.client("sagemaker-runtime")
endpoint = inputs["EndpointName"]
print("endpoint:", endpoint,
      backend.sagemaker.describe_endpoint(EndpointName=endpoint)["EndpointStatus"])
# Two machines that failed and three that did not, from the test set.
picks = np.r_[np.flatnonzero(test[:, 0] == 1)[:2], np.flatnonzero(test[:, 0] == 0)[:3]]
for row, label in zip(test[picks, 1:], test[picks, 0]):
    body = ",".join(f"{v:g}" for v in row)
    answer = runtime.invoke_endpoint(EndpointName=endpoint, ContentType="text/csv", Body=body)
    score = float(answer["Body"].read())
    print(f"{body:<45} label {int(label)}  score {score:.4f}")""",
    ),
    (
        "md",
        """## 7. The predictions table

The last task, the predict Lambda, sent sample records to the endpoint and stored each
prediction with its input, the model's name and a timestamp in a DynamoDB table: the local
server's, or AWS's; the same boto3 code reads it.""",
    ),
    (
        "code",
        """table = nh.predictions(backend, settings.prediction.table)
print(f"{len(table)} predictions in table {settings.prediction.table!r}")
table.tail()""",
    ),
    (
        "md",
        """## 8. The history

Every transition is an event in the execution's history, with the same types and fields as
on AWS. This is what the graph, the console and the CLI's `history` command read.""",
    ),
    (
        "code",
        """events = execution.list_events()
history = pd.DataFrame(
    {
        "id": e["id"],
        "type": e["type"],
        "seconds": (e["timestamp"] - events[0]["timestamp"]).total_seconds(),
        "state": (e.get("stateEnteredEventDetails") or e.get("stateExitedEventDetails") or {}).get(
            "name", ""
        ),
    }
    for e in events
)
print(f"{len(history)} events")
history.head(20)""",
    ),
    (
        "md",
        """## 9. The inference pipeline: raw readings in

With `featurizer.mode: pipeline`, the default of `python -m workflows run`, the workflow fits
the features in a scikit-learn processing job (stratified split, `StandardScaler` on the five
sensors, `OneHotEncoder` on `Type`) and deploys a two-container model: the fitted featurizer,
then XGBoost. The endpoint then takes a raw reading as a technician would read it off the
machine. The run also registers the endpoint's data capture, a data-quality baseline of the training readings, an hourly monitoring
schedule and the HTTP API. (It replaces the state machine and the endpoint of the runs above.)""",
    ),
    (
        "code",
        """pipeline_settings = settings.replace(**{"featurizer.mode": "pipeline"})
pipeline_run = local.run_workflow(backend, pipeline_settings, rows=ROWS, seed=SEED)
print(f"pipeline run: {pipeline_run.view.status}")
pipeline_metrics = pipeline_run.view.output["evaluate"]["Payload"]
print(f"pipeline ROC AUC: {pipeline_metrics['roc_auc']:.4f}")
featurized = nh.read_json(backend.storage, pipeline_run.input["PreparedDataUri"] + "manifest.json")
print("split:", featurized["rows"], "features:", featurized["features"])
model = backend.sagemaker.describe_model(ModelName=pipeline_run.input["ModelName"])
print("containers:", [c["Image"].rsplit("/", 1)[1] for c in model["Containers"]])
for reading in ["L,298.4,308.2,1582,70.7,216", "H,302.1,311.0,1300,65.2,230",
                "M,297.5,308.6,1650,35.0,20"]:
    answer = runtime.invoke_endpoint(EndpointName=endpoint, ContentType="text/csv", Body=reading)
    print(f"{reading:<30} failure probability {float(answer['Body'].read()):.4f}")""",
    ),
    (
        "md",
        """## 10. Drift

The endpoint captures every request. `python -m workflows monitor predictive-maintenance`
sends the test readings, runs the monitoring schedule over exactly that traffic and reads its
violations; `--drift` first shifts air temperature, rotational speed and tool wear, as a hotter
hall, faster spindles and tools run past their life would.""",
    ),
    (
        "code",
        """from workflows.monitoring import drift_demo

for drifted in (False, True):
    report = drift_demo(backend, pipeline_settings, drift=drifted, limit=1000)
    kind = "drifted" if drifted else "normal"
    print(f"{kind} traffic: {report.execution['MonitoringExecutionStatus']}, "
          f"{len(report.violations)} violations")
    display(pd.DataFrame(report.violations, columns=["feature", "check", "description"]))""",
    ),
    (
        "md",
        """## 11. The HTTP API

An API Gateway HTTP API sends `POST /predict` with a reading as its body to a Lambda, which
checks the reading and forwards it to the endpoint. First the Lambda is called with the event
API Gateway sends it (`lambdas/events/api.json`, payload format 2.0), then the API's URL.""",
    ),
    (
        "code",
        """api_event = json.loads((ROOT / "lambdas" / "events" / "api.json").read_text())
for body in ("L,298.4,308.2,1582,70.7,216", "L,298.4,hot,1582,70.7,216"):
    api_event["body"] = body
    reply = backend.lambda_.invoke(
        FunctionName="predictive-maintenance-api", Payload=json.dumps(api_event).encode()
    )
    answer = json.loads(reply["Payload"].read())
    print(f"POST {body!r}: {answer['statusCode']} {answer['body']}")
if pipeline_run.api is not None:  # the local server serves the API's URL
    import urllib.request

    api_url = pipeline_run.api.url(LOCAL_URL)
    request = urllib.request.Request(api_url, data=b"H,302.1,311.0,1300,65.2,230",
                                     headers={"Content-Type": "text/plain"}, method="POST")
    with urllib.request.urlopen(request, timeout=60) as reply:
        print(f"POST {api_url}: {reply.status} {reply.read().decode()}")""",
    ),
    (
        "md",
        """## 12. Explore the raw data with SQL

A Glue crawler reads the raw prefix and writes the table to the Data Catalog: every run's
upload is a partition (`partition_0` = the run id), the header's names as Glue writes them.
Athena then answers SQL over the same files.""",
    ),
    (
        "code",
        """from workflows import exploration

print("tables:", exploration.crawl_raw(backend, settings))
this_run = pipeline_run.run_id
display(exploration.query(backend, settings,
    f"SELECT count(*) AS readings FROM raw WHERE partition_0 = '{this_run}'"))
display(exploration.query(backend, settings,
    "SELECT type, count(*) AS machines, round(avg(machine_failure), 4) AS failure_rate "
    f"FROM raw WHERE partition_0 = '{this_run}' GROUP BY type ORDER BY type"))
exploration.query(backend, settings,
    "SELECT type, air_temperature__k_, rotational_speed__rpm_, torque__nm_, tool_wear__min_, "
    f"machine_failure FROM raw WHERE partition_0 = '{this_run}' LIMIT 5")""",
    ),
    (
        "md",
        """## Where next

* Run `python -m workflows run` for the same workflow from the command line, with a summary.
* Set the threshold above what the model can reach (`--threshold 1.01`) to see the `Choice`
  route to the `ModelRejected` Fail state, with a cause that states the metric.
* Change `TARGET` to `"aws"` to run this notebook against your account.""",
    ),
]


def main(argv: list[str] | None = None) -> int:
    return notebook_kit.main(argv, CELLS, NOTEBOOK, __file__, __doc__ or "")


if __name__ == "__main__":
    sys.exit(main())
