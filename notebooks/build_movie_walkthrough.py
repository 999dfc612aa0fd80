"""Write ``notebooks/movie_recommender.ipynb`` from the cells below (issue 19's walkthrough).

As ``build_walkthrough.py`` does for the predictive-maintenance notebook: the code lives here,
linted, and the test compares the stored notebook with what this renders::

    .venv/bin/python notebooks/build_movie_walkthrough.py          # rewrite the notebook
    .venv/bin/python notebooks/build_movie_walkthrough.py --check  # exit 1 when it is stale
"""

from __future__ import annotations

import sys
from pathlib import Path

import notebook_kit

NOTEBOOK = Path(__file__).resolve().parent / "movie_recommender.ipynb"

CELLS: list[tuple[str, str]] = [
    (
        "md",
        """# A movie-ratings data lake feeding a recommender

Historical ratings, movies, links and tags are bulk-loaded into DynamoDB (a DMS-style full
load); live ratings arrive on a Kinesis stream and Firehose writes them to the lake under
`YYYY/MM/DD/HH/`; a Glue crawler catalogs both sides and a Glue job joins them into training
data; Athena checks the counts; factorization machines learn which movies a user will like,
and an endpoint recommends titles. One Step Functions state machine, built with the Data
Science SDK, runs it all: locally against the server, or unchanged on AWS.

Start the local server first: `python -m workflows serve`.""",
    ),
    (
        "code",
        """import os

TARGET = "local"  # "local": the local server; "aws": your account, after deploying the stack

LOCAL_URL = os.environ.get("LOCALAWS_URL", "http://127.0.0.1:8083")
USERS = int(os.environ.get("MOVIES_USERS", "200"))
MOVIES = int(os.environ.get("MOVIES_MOVIES", "1000"))
SEED = 42""",
    ),
    (
        "code",
        """import json
import sys
import types
from pathlib import Path

ROOT = Path.cwd() if (Path.cwd() / "workflows").is_dir() else Path.cwd().parent
sys.path.insert(0, str(ROOT))

import matplotlib.pyplot as plt
import pandas as pd
from IPython.display import display

from workflows import movie_local as ml
from workflows import movie_recommender as mr
from workflows import movielens_data
from workflows import notebook_helpers as nh
from workflows.target import new_run_id

target = nh.connect(TARGET, endpoint_url=LOCAL_URL)
settings = mr.load_settings(overrides={"data.users": USERS, "data.movies": MOVIES})
print(f"target: {TARGET}")""",
    ),
    (
        "md",
        """## 1. The data

MovieLens's schema (`ratings`, `movies`, `links`, `tags`), generated with popular and niche
movies and users with genre tastes; 80 % of the ratings are the batch load, 20 % the stream.""",
    ),
    (
        "code",
        """data = movielens_data.generate(USERS, MOVIES, seed=SEED)
for name, frame in data.frames().items():
    print(f"{name:26} {len(frame):7,} rows")
fig, axes = plt.subplots(1, 2, figsize=(10, 3))
pd.concat([data.ratings, data.partial])["rating"].value_counts().sort_index().plot.bar(ax=axes[0], title="ratings")
pd.concat([data.ratings, data.partial]).groupby("movieId").size().sort_values(ascending=False).reset_index(drop=True).plot(ax=axes[1], logy=True, title="ratings per movie (popular to niche)")
plt.tight_layout()
display(data.movies.head())""",
    ),
    (
        "md",
        """## 2. The full load's mapping document

DMS table mappings for a DynamoDB target: every attribute a string, `ratings_t` keyed by
`Id = "<userId>X<movieId>"` and `movieId`, `timestamp` stored as `timestamp_c`.""",
    ),
    (
        "code",
        """for rule in mr.mapping_document(settings)["rules"][1:]:
    params = rule["mapping-parameters"]
    print(f'{rule["object-locator"]["table-name"]:8} -> {rule["target-table-name"]:9} '
          f'keys {params["partition-key-name"]}/{params["sort-key-name"]}')""",
    ),
    (
        "md",
        """## 3. The state machine

Provisioning creates what the CloudFormation stack holds on AWS: the tables, the Kinesis
stream, the Firehose delivery stream, the Glue database, crawler and job, the Lambdas.""",
    ),
    (
        "code",
        """definition = mr.definition(settings)
arn = ml.provision(target, settings)
run_id = new_run_id()
execution_input = mr.example_input(
    settings, run_id,
    endpoint_exists=ml.endpoint_exists(target, settings["endpoint"]["name"]),
    new_user_likes=ml.popular_movies(data, 3),
)
ml.upload_data(target, execution_input["RawDataUri"], data)
execution_arn = target.start(arn, execution_input, name=run_id)
execution = types.SimpleNamespace(client=target.client("stepfunctions"), execution_arn=execution_arn)
final = nh.watch(execution, definition)
print(f"{final['status']} in {(final['stopDate'] - final['startDate']).total_seconds():.1f} s")
output = json.loads(final.get("output") or "{}")""",
    ),
    (
        "md",
        """## 4. What landed in the lake

Items per table against the file rows, the stream's hourly partitions, the ETL's counts, and
Athena's count of the crawled stream table.""",
    ),
    (
        "code",
        """counts = ml.table_counts(target, settings)
files = {"ratings_t": data.ratings, "movies_t": data.movies, "links_t": data.links, "tags_t": data.tags}
display(pd.DataFrame({"items": counts, "file rows": {k: len(v) for k, v in files.items()}}))
print("partitions:", output["drain"]["Payload"]["partitions"])
etl = json.loads(target.storage.read(execution_input["EtlReportUri"]))
print(f"ETL: {etl['batch_rows']} batch + {etl['stream_rows']} streamed - {etl['dropped_rows']} dropped = {etl['rating_rows']} ratings")
print(f"Athena: {output['counts']['streamed']} streamed records, Firehose delivered {output['counts']['delivered']}")""",
    ),
    (
        "md",
        """## 5. The model against popularity

Binary accuracy of the `rating >= 3` classifier on held-out ratings, and precision@10 /
recall@10 of the top 10 unseen movies, against recommending the most liked movies.""",
    ),
    (
        "code",
        """metrics = output["evaluate"]["Payload"]
print(f"accuracy {metrics['binary_classification_accuracy']:.3f}")
print(f"precision@10: model {metrics['precision_at_10']:.3f}, popularity {metrics['baseline_precision_at_10']:.3f}")
pd.DataFrame(
    {"model": [metrics["precision_at_10"], metrics["recall_at_10"]],
     "popularity": [metrics["baseline_precision_at_10"], metrics["baseline_recall_at_10"]]},
    index=["precision@10", "recall@10"],
).plot.bar(rot=0, figsize=(6, 3));""",
    ),
    (
        "md",
        """## 6. Recommendations

From the endpoint: an existing user's top 10 unseen titles, and a new user's from three
movies they liked.""",
    ),
    (
        "code",
        """answer = ml.recommend(target, settings, user_id="1")
print(answer["basis"])
display(pd.DataFrame(answer["recommendations"]))
liked = execution_input["NewUserLikes"]
answer = ml.recommend(target, settings, liked=liked)
print(answer["basis"], "- liked", [data.movies.set_index("movieId").title[int(m)] for m in liked])
display(pd.DataFrame(answer["recommendations"]))""",
    ),
]


def main(argv: list[str] | None = None) -> int:
    return notebook_kit.main(argv, CELLS, NOTEBOOK, __file__, __doc__ or "")


if __name__ == "__main__":
    sys.exit(main())
