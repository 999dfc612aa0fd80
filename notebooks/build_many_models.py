"""Write ``notebooks/many_models.ipynb`` from the cells below (as ``build_walkthrough.py``).

.venv/bin/python notebooks/build_many_models.py          # rewrite the notebook
.venv/bin/python notebooks/build_many_models.py --check  # exit 1 when it is stale
"""

from __future__ import annotations

import sys
from pathlib import Path

import notebook_kit

NOTEBOOK = Path(__file__).resolve().parent / "many_models.ipynb"

CELLS: list[tuple[str, str]] = [
    (
        "md",
        """# Many models: one churn model per dimension

One telecom-churn model per dimension (a region, a product line...), each with its own data,
quality baselines, registry group and endpoint, trained a hundred at a time by a Distributed
Map and retrained when a new file lands. This notebook runs against the **local server**:

```
python -m workflows serve            # http://127.0.0.1:8083
```""",
    ),
    (
        "code",
        """import os

TARGET = "local"
LOCAL_URL = os.environ.get("LOCALAWS_URL", "http://127.0.0.1:8083")
DIMENSIONS = int(os.environ.get("MANY_MODELS_DIMENSIONS", "3"))
ROWS = int(os.environ.get("MANY_MODELS_ROWS", "2000"))
SEED = 42""",
    ),
    (
        "code",
        """import sys
import tempfile
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path.cwd() if (Path.cwd() / "workflows").is_dir() else Path.cwd().parent
sys.path.insert(0, str(ROOT))

import matplotlib.pyplot as plt
import pandas as pd
from IPython.display import display

from workflows import churn_data
from workflows import many_models as mm
from workflows import many_models_run as mmr
from workflows import notebook_helpers as nh
from workflows.many_models_settings import load

backend = nh.connect(TARGET, endpoint_url=LOCAL_URL)
clients = mmr.clients(backend)
settings = load()
print(f"target: {TARGET} ({LOCAL_URL}), {DIMENSIONS} dimensions x {ROWS:,} rows")""",
    ),
    (
        "md",
        """## 1. The data, per dimension

The generator writes the AWS sample's two trees: raw training rows under
`training-dataset/<Dimension>/` (label `Churn?`, `True.`/`False.`) and already-preprocessed
inference rows under `inference-dataset/<Dimension>/` (ground truth first, then the model's
features). Each dimension has its own weights, so each needs its own model.""",
    ),
    (
        "code",
        """data_dir = Path(tempfile.mkdtemp(prefix="many-models-"))
dimensions = churn_data.write_tree(
    data_dir, churn_data.dimension_names(DIMENSIONS), ROWS, SEED
)
frames = {d.name: pd.read_csv(d.training[0]) for d in dimensions}
summary = pd.DataFrame(
    {
        name: {
            "rows": len(f),
            "churn rate": (f["Churn?"] == "True.").mean(),
            "mean CustServ Calls (churned)": f.loc[f["Churn?"] == "True.", "CustServ Calls"].mean(),
            "mean CustServ Calls (stayed)": f.loc[f["Churn?"] == "False.", "CustServ Calls"].mean(),
        }
        for name, f in frames.items()
    }
).T
display(summary)
frames[dimensions[0].name].head()""",
    ),
    (
        "md",
        """## 2. Deploy, upload, fan out

`deploy` creates what the CloudFormation stack creates on AWS: the bucket and its
notifications, the queue and dead-letter queue, the table, the Lambdas and their event source
mapping, both state machines and the retrain rule (disabled while the fan-out trains
everything). The fan-out is a Distributed Map over the objects under the training prefix: one
child execution of the training workflow per dimension, two at a time.""",
    ),
    (
        "code",
        """deployed = mmr.deploy(backend, settings, trigger=False)
s3 = clients("s3")
for d in dimensions:
    s3.put_object(
        Bucket=settings.data.bucket,
        Key=f"{settings.data.training_prefix}{d.name}/{d.training[0].name}",
        Body=d.training[0].read_bytes(),
    )
training = mm.training_definition(settings)
fanout = mm.fanout_definition(settings, deployed.training_arn)
nh.Graph(nh.render_svg(training, title=settings.training_machine))""",
    ),
    (
        "code",
        """started = datetime.now(UTC)
execution = backend.start(deployed.fanout_arn, {})
handle = display(nh.progress_graph(fanout, [], title=settings.fanout_machine), display_id=True)


def redraw(view):
    handle.update(nh.progress_graph(fanout, backend.history(view.arn), title=f"fan-out: {view.status}"))


view = backend.follow(execution, redraw, poll_seconds=1.0, timeout=1800)
results = mmr.wait_for_training(
    backend, settings, deployed, [d.name for d in dimensions], started, timeout=60
)
mmr.set_trigger(backend, settings, True)
print(f"fan-out {view.status}; " + ", ".join(f"{r.dimension} {r.status}" for r in results))""",
    ),
    (
        "code",
        """# The last child execution, state by state.
last = backend.stepfunctions.list_executions(stateMachineArn=deployed.training_arn)["executions"][0]
nh.progress_graph(training, backend.history(last["executionArn"]), title=last["name"])""",
    ),
    (
        "md",
        """## 3. Metrics per dimension and the registry

Each run wrote `evaluation.json` (accuracy, and AUC on probabilities), passed the quality gate,
registered a model package with its data- and model-quality baselines, approved it and
deployed it to the dimension's endpoint.""",
    ),
    (
        "code",
        """mmr.describe(clients, settings, results)
metrics = pd.DataFrame(
    {r.dimension: {"accuracy": r.accuracy, "auc": r.auc} for r in results}
).T
print(metrics.round(3).to_string())
metrics.plot.bar(figsize=(8, 3), ylim=(0.5, 1.0), title="Test-split metrics per dimension")
plt.tight_layout()
plt.show()""",
    ),
    (
        "code",
        """sm = clients("sagemaker")
versions = []
for d in dimensions:
    group = settings.group_name(d.name)
    for p in sm.list_model_packages(ModelPackageGroupName=group)["ModelPackageSummaryList"]:
        versions.append(
            {
                "group": group,
                "version": p["ModelPackageVersion"],
                "status": p["ModelApprovalStatus"],
                "endpoint": sm.describe_endpoint(EndpointName=settings.endpoint_name(d.name))[
                    "EndpointStatus"
                ],
            }
        )
registry = pd.DataFrame(versions)
print(f"{len(registry)} model package versions")
registry""",
    ),
    (
        "md",
        """## 4. Inference through the queue, and a query

An inference file uploaded under `inference-dataset/<Dimension>/` runs the split Lambda
(one SQS message per row); the score Lambda, fed by the event source mapping, calls the
dimension's endpoint and writes one item per row.""",
    ),
    (
        "code",
        """sent = mmr.send_inference(clients, settings, dimensions)
for r in results:
    r.rows_sent = sent.get(r.dimension, 0)
mmr.wait_for_rows(clients, settings, results, timeout=600)
print(", ".join(f"{r.dimension}: {r.rows_scored}/{r.rows_sent} rows scored" for r in results))""",
    ),
    (
        "code",
        """ddb = clients("dynamodb")
first = dimensions[0].name
items = ddb.scan(
    TableName=settings.inference.table,
    FilterExpression="dimension = :d",
    ExpressionAttributeValues={":d": {"S": first}},
)["Items"]
predictions = pd.DataFrame(
    {
        "id": i["id"]["S"],
        "prediction": int(i["prediction"]["N"]),
        "probability": float(i["probability"]["N"]),
        "ground_truth": int(i["ground_truth"]["N"]),
        "created_at": i["created_at"]["S"],
    }
    for i in items
).sort_values("id")
agreement = (predictions["prediction"] == predictions["ground_truth"]).mean()
print(f"{len(predictions)} predictions for {first}; agreement with ground truth {agreement:.1%}")
predictions.head()""",
    ),
]


def main(argv: list[str] | None = None) -> int:
    return notebook_kit.main(argv, CELLS, NOTEBOOK, __file__, __doc__ or "")


if __name__ == "__main__":
    sys.exit(main())
