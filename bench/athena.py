"""Athena through the local server against DuckDB on the same files, in the same run.

    python -m bench.athena                  # 1,000,000 CSV rows (about a minute)
    python -m bench.athena --rows 20000     # smoke run

A CSV of ``--rows`` ratings (4 files, with a header) is written into a fresh state
directory's S3, a server (``python -m workflows serve``, a child process) crawls it with a
Glue crawler, then each query runs both ways:

* ours: boto3 ``StartQueryExecution``, ``GetQueryExecution`` polled every 20 ms until it
  succeeds, then the first page of ``GetQueryResults`` (the result CSV and metadata are
  written to the output location, as Athena does);
* DuckDB: one connection (opened once) with a view of ``read_csv`` over the same files
  with the same column types, in this process, the result fetched as Arrow.

Median of ``--repeats`` runs after a warm-up.  Goal: ours within 1.3x DuckDB plus a fixed
overhead under 100 ms (``ours - 1.3 x duckdb`` is the column to watch).
"""

from __future__ import annotations

import argparse
import tempfile
import time
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from bench.report import median_seconds, print_table
from bench.services import clients, our_server

FILES = 4
BUCKET = "bench"
DATABASE = "bench"
POLL_S = 0.02
QUERIES = {
    "SELECT 1 (fixed cost)": "SELECT 1",
    "count(*)": "SELECT count(*) FROM ratings",
    "group by item (avg, max)": (
        "SELECT item, avg(rating) AS mean, max(rating) AS top FROM ratings GROUP BY item "
        "ORDER BY item"
    ),
    "filter + top 100": (
        "SELECT user_id, rating FROM ratings WHERE liked AND rating > 4 "
        "ORDER BY rating DESC, user_id LIMIT 100"
    ),
}
DUCKDB_COLUMNS = "{'user_id': 'BIGINT', 'item': 'VARCHAR', 'rating': 'DOUBLE', 'liked': 'BOOLEAN'}"


def write_data(s3_root: Path, rows: int) -> list[Path]:
    rng = np.random.default_rng(7)
    frame = pd.DataFrame(
        {
            "user_id": rng.integers(1, 50_000, rows),
            "item": rng.choice([f"item{i:03d}" for i in range(500)], rows),
            "rating": rng.uniform(0, 5, rows).round(2),
            "liked": rng.random(rows) < 0.5,
        }
    )
    folder = s3_root / BUCKET / "ratings"
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    bounds = np.linspace(0, rows, FILES + 1).astype(int)
    for i in range(FILES):
        path = folder / f"part-{i}.csv"
        frame.iloc[bounds[i] : bounds[i + 1]].to_csv(path, index=False)
        paths.append(path)
    return paths


def crawl(client: Any) -> None:
    glue = client("glue")
    glue.create_crawler(
        Name="bench",
        Role="arn:aws:iam::123456789012:role/glue",
        DatabaseName=DATABASE,
        Targets={"S3Targets": [{"Path": f"s3://{BUCKET}/ratings/"}]},
    )
    glue.start_crawler(Name="bench")
    while True:
        crawler = glue.get_crawler(Name="bench")["Crawler"]
        if crawler["State"] == "READY" and "LastCrawl" in crawler:
            status = crawler["LastCrawl"]["Status"]
            if status != "SUCCEEDED":
                raise RuntimeError(f"the crawl ended {status}: {crawler['LastCrawl']}")
            return
        time.sleep(0.05)


def ours(athena: Any, sql: str) -> None:
    qid = athena.start_query_execution(
        QueryString=sql,
        QueryExecutionContext={"Database": DATABASE},
        ResultConfiguration={"OutputLocation": f"s3://{BUCKET}/results/"},
    )["QueryExecutionId"]
    while True:
        status = athena.get_query_execution(QueryExecutionId=qid)["QueryExecution"]["Status"]
        if status["State"] == "SUCCEEDED":
            break
        if status["State"] in ("FAILED", "CANCELLED"):
            raise RuntimeError(f"{sql}: {status}")
        time.sleep(POLL_S)
    athena.get_query_results(QueryExecutionId=qid)


def duckdb_view(paths: list[Path]) -> Any:
    """One DuckDB connection with the files as a view (made once, as a user of DuckDB would)."""
    import duckdb

    con = duckdb.connect(":memory:")
    listed = "[" + ", ".join(f"'{p}'" for p in paths) + "]"
    con.execute(
        f"CREATE VIEW ratings AS SELECT * FROM read_csv({listed}, header = true, "
        f"columns = {DUCKDB_COLUMNS}, auto_detect = false)"
    )
    return con


def duckdb_query(con: Any, sql: str) -> None:
    con.sql(sql).to_arrow_table()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args(argv)
    results = []
    with tempfile.TemporaryDirectory(prefix="bench-athena-") as tmp:
        state = Path(tmp) / "state"
        paths = write_data(state / "s3", args.rows)
        with our_server(state, "normal") as url:
            client = clients(url)
            crawl(client)
            athena = client("athena")
            con = duckdb_view(paths)
            for name, sql in QUERIES.items():
                t_ours = median_seconds(partial(ours, athena, sql), args.repeats)
                t_duck = median_seconds(partial(duckdb_query, con, sql), args.repeats)
                results.append((name, t_ours, t_duck))
            con.close()
    print_table(
        f"Athena on {args.rows:,} CSV rows ({FILES} files): through the server vs DuckDB on "
        f"the same files (median of {args.repeats})",
        [("query", 26), ("ours ms", 9), ("duckdb ms", 10), ("ratio", 7), ("ours-1.3x ms", 13)],
        [
            (
                name,
                f"{o * 1e3:.1f}",
                f"{d * 1e3:.1f}",
                f"{o / d:.2f}x",
                f"{(o - 1.3 * d) * 1e3:.1f}",
            )
            for name, o, d in results
        ],
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
