"""The movie lake's two data paths: the full load into DynamoDB, and the ETL job.

One local server (``python -m workflows serve``, its own process) over a temporary state
directory, generated MovieLens-shaped data (``--users``, ``--movies``):

* **load**: the full-load Glue job (``jobs/movie_recommender/full_load.py``: mapping document,
  ``--threads`` parallel BatchWriteItem), started through the server as the workflow starts it
  (StartJobRun to SUCCEEDED, the job's process start included), loading the four CSVs, in
  items/s, against a baseline measured in the same run on the same server: one thread writing
  the same items with BatchWriteItem (the plain loop a script would write);
* **ETL**: the Glue job's script (``jobs/movie_recommender/etl.py``: scan the tables, read the
  Firehose objects, union, cast, write three CSVs through the server) against pandas doing
  the same union, casts and writes on the same rows read from local files.

    python -m bench.movie_lake                        # 600 users, 3,000 movies (~70k ratings)
    python -m bench.movie_lake --users 40 --movies 200
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
for extra in (ROOT, ROOT / "lambdas", ROOT / "jobs" / "movie_recommender"):
    sys.path.insert(0, str(extra))

import etl  # noqa: E402
import full_load  # noqa: E402
import pandas as pd  # noqa: E402

from bench.featurestore import clients, serve  # noqa: E402
from bench.report import print_table  # noqa: E402
from localaws.lambdakit.storage import S3Storage  # noqa: E402
from workflows import movie_recommender as mr  # noqa: E402
from workflows import movielens_data as ml  # noqa: E402

BUCKET = "movie-lake"


def create_tables(dynamodb: Any, settings: dict[str, Any], suffix: str) -> dict[str, str]:
    names = {}
    for table, (pk, sk) in mr.table_keys(settings).items():
        name = f"{table}{suffix}"
        dynamodb.create_table(
            TableName=name,
            KeySchema=[{"AttributeName": pk, "KeyType": "HASH"}, {"AttributeName": sk, "KeyType": "RANGE"}],
            AttributeDefinitions=[{"AttributeName": pk, "AttributeType": "S"}, {"AttributeName": sk, "AttributeType": "S"}],
            BillingMode="PAY_PER_REQUEST",
        )  # fmt: skip
        names[table] = name
    return names


def sequential_load(dynamodb: Any, items: dict[str, list[dict[str, Any]]]) -> int:
    written = 0
    for table, rows in items.items():
        for i in range(0, len(rows), 25):
            written += full_load.write_batch(dynamodb, table, rows[i : i + 25])
    return written


def run_full_load(glue: Any, store: S3Storage, threads: int) -> dict[str, Any]:
    """The full-load job, created and run through the server; its report, with the seconds
    from StartJobRun to SUCCEEDED (``job_seconds``)."""
    script = f"s3://{BUCKET}/code/{mr.LOAD_SCRIPT}"
    store.write(script, (mr.JOB_DIR / mr.LOAD_SCRIPT).read_bytes())
    glue.create_job(
        Name="bench-full-load",
        Role="arn:aws:iam::123456789012:role/bench-glue",
        Command={"Name": "pythonshell", "ScriptLocation": script, "PythonVersion": "3.9"},
    )
    started = time.perf_counter()
    run_id = glue.start_job_run(
        JobName="bench-full-load",
        Arguments={
            "--mapping_uri": f"s3://{BUCKET}/dms/mapping.json",
            "--source_uri": f"s3://{BUCKET}/raw/",
            "--report_uri": f"s3://{BUCKET}/dms/report.json",
            "--parallel_load_threads": str(threads),
        },
    )["JobRunId"]
    while (run := glue.get_job_run(JobName="bench-full-load", RunId=run_id)["JobRun"])[
        "JobRunState"
    ] in ("STARTING", "RUNNING", "WAITING"):
        time.sleep(0.05)
    seconds = time.perf_counter() - started
    if run["JobRunState"] != "SUCCEEDED":
        raise SystemExit(f"the full-load job ended {run['JobRunState']}: {run.get('ErrorMessage')}")
    return {**json.loads(store.read(f"s3://{BUCKET}/dms/report.json")), "job_seconds": seconds}


def pandas_etl(data: ml.MovieLens, stream_lines: list[str], out: Path) -> int:
    """The ETL's work on local files with pandas: the baseline."""
    batch = data.ratings.astype(str)
    stream = pd.DataFrame([json.loads(line) for line in stream_lines], dtype=str)
    stream.columns = batch.columns
    union = pd.concat([batch, stream], ignore_index=True)
    cast = union.apply(pd.to_numeric, errors="coerce").dropna()
    cast = cast.astype({"userId": "int64", "movieId": "int64", "timestamp": "int64"})
    cast.to_csv(out / "rating.csv", index=False, float_format="%.1f")
    data.movies.to_csv(out / "movies.csv", index=False)
    data.links.to_csv(out / "links.csv", index=False)
    return len(cast)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=600)
    parser.add_argument("--movies", type=int, default=3000)
    parser.add_argument("--threads", type=int, default=8)
    args = parser.parse_args(argv)
    settings = mr.load_settings()
    data = ml.generate(args.users, args.movies, seed=7)
    rows: list[list[str]] = []
    with (
        tempfile.TemporaryDirectory(prefix="bench-movie-lake-") as tmp,
        serve(Path(tmp) / "state") as url,
    ):
        make = clients(url)
        s3, dynamodb = make("s3"), make("dynamodb")
        s3.create_bucket(Bucket=BUCKET)
        store = S3Storage(s3)
        for name, frame in data.frames().items():
            store.write(f"s3://{BUCKET}/raw/{name}", ml.to_csv(frame, name))

        # Load: the full-load Glue job (parallel) vs one thread's BatchWriteItem loop.
        document = mr.mapping_document(settings)
        tables = create_tables(dynamodb, settings, "")
        store.write(f"s3://{BUCKET}/dms/mapping.json", json.dumps(document).encode())
        report = run_full_load(make("glue"), store, args.threads)
        load_s = report["job_seconds"]
        baseline_tables = create_tables(dynamodb, settings, "_seq")
        items: dict[str, list[dict[str, Any]]] = {}
        for mapping in full_load.parse_mapping(document)[0]:
            text = store.read(f"s3://{BUCKET}/raw/{mapping.source_table}.csv").decode()
            scratch = full_load.TableReport(source="", target="")
            items[baseline_tables[mapping.target_table]] = full_load.to_items(
                mapping, text, scratch
            )
        started = time.perf_counter()
        written = sequential_load(dynamodb, items)
        seq_s = time.perf_counter() - started
        loaded = report["loaded"]
        assert written == loaded, (written, loaded)
        rows.append([f"full load, {args.threads} threads", f"{loaded:,}", f"{loaded / load_s:,.0f}",
                     f"{loaded / written * seq_s / load_s:.2f}x"])  # fmt: skip
        rows.append(
            ["BatchWriteItem loop, 1 thread", f"{written:,}", f"{written / seq_s:,.0f}", "1.00x"]
        )

        # ETL: the Glue script through the server vs pandas on local files.
        lines = [
            json.dumps(
                {
                    "userid": "userId",
                    "movieid": "movieId",
                    "ratingid": "rating",
                    "timestamp": "timestamp",
                }
            )
        ]
        lines += [json.dumps(dict(zip(("userid", "movieid", "ratingid", "timestamp"), map(str, r), strict=True)))
                  for r in data.partial.itertuples(index=False)]  # fmt: skip
        store.write(
            f"s3://{BUCKET}/stream/ratings/2024/01/01/00/part-0", ("\n".join(lines) + "\n").encode()
        )
        options = {
            "ratings_table": tables["ratings_t"], "movies_table": tables["movies_t"],
            "links_table": tables["links_t"], "stream_uri": f"s3://{BUCKET}/stream/ratings/",
            "output_uri": f"s3://{BUCKET}/ml/trainingdata/",
        }  # fmt: skip
        started = time.perf_counter()
        etl_report = etl.run(options, dynamodb=make("dynamodb"), s3=s3)
        etl_s = time.perf_counter() - started
        out = Path(tmp) / "pandas"
        out.mkdir()
        started = time.perf_counter()
        pandas_rows = pandas_etl(data, lines[1:], out)
        pandas_s = time.perf_counter() - started
        assert pandas_rows == etl_report["rating_rows"], (pandas_rows, etl_report)
    rows.append(["ETL job script (through the server)", f"{etl_report['rating_rows']:,}",
                 f"{etl_report['rating_rows'] / etl_s:,.0f}", f"{pandas_s / etl_s:.2f}x"])  # fmt: skip
    rows.append(
        ["pandas on local files", f"{pandas_rows:,}", f"{pandas_rows / pandas_s:,.0f}", "1.00x"]
    )
    print_table(
        f"movie lake: {args.users} users, {args.movies} movies (ratio: speed against the line below it)",
        [("path", 38), ("rows", 9), ("rows/s", 9), ("ratio", 7)],
        rows,
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
