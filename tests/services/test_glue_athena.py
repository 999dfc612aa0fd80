"""Glue crawlers, Glue jobs and Athena queries through boto3 against the local server: a
crawler infers tables and partitions from objects in the local S3; Athena's answer equals
pandas' on the same files; CTAS writes Parquet and registers the table; a Python shell job
runs its script from S3 with its arguments."""

from __future__ import annotations

import gzip
import io
import json
from collections.abc import Callable
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from wiring_support import create_table, wait_for

ROLE = "arn:aws:iam::123456789012:role/glue"


def crawl(glue: Any, name: str, database: str, targets: dict[str, Any]) -> dict[str, Any]:
    glue.create_crawler(Name=name, Role=ROLE, DatabaseName=database, Targets=targets)
    glue.start_crawler(Name=name)
    assert glue.get_crawler(Name=name)["Crawler"]["State"] in ("RUNNING", "READY")

    def done() -> dict[str, Any] | None:
        crawler = glue.get_crawler(Name=name)["Crawler"]
        return crawler if crawler["State"] == "READY" and "LastCrawl" in crawler else None

    crawler = wait_for(f"crawler {name}", done)
    assert crawler["LastCrawl"]["Status"] == "SUCCEEDED", crawler["LastCrawl"]
    return crawler


def query(athena: Any, sql: str, database: str, output: str) -> dict[str, Any]:
    qid = athena.start_query_execution(
        QueryString=sql,
        QueryExecutionContext={"Database": database},
        ResultConfiguration={"OutputLocation": output},
    )["QueryExecutionId"]

    def done() -> dict[str, Any] | None:
        execution = athena.get_query_execution(QueryExecutionId=qid)["QueryExecution"]
        state = execution["Status"]["State"]
        return execution if state in ("SUCCEEDED", "FAILED", "CANCELLED") else None

    return wait_for(f"query {qid}", done)


def rows(athena: Any, qid: str, page: int = 1000) -> list[list[str | None]]:
    found: list[list[str | None]] = []
    for result in athena.get_paginator("get_query_results").paginate(
        QueryExecutionId=qid, PaginationConfig={"PageSize": page}
    ):
        found += [[d.get("VarCharValue") for d in r["Data"]] for r in result["ResultSet"]["Rows"]]
    return found


def columns(glue: Any, database: str, table: str) -> dict[str, str]:
    found = glue.get_table(DatabaseName=database, Name=table)["Table"]
    return {c["Name"]: c["Type"] for c in found["StorageDescriptor"]["Columns"]}


@pytest.fixture
def bucket(client: Callable[..., Any], name: Callable[[str], str]) -> str:
    bucket = name("data")
    client("s3").create_bucket(Bucket=bucket)
    return bucket


RATINGS = pd.DataFrame(
    {
        "user_id": [1, 2, 3, 1, 2, 4],
        "item": ["a", "b", "a", "c", "c", "b"],
        "rating": [4.5, 3.0, 5.0, 2.5, 4.0, 1.0],
        "liked": [True, False, True, False, True, False],
    }
)


def test_crawled_csv_with_hive_partitions_queried_by_athena_equals_pandas(
    client: Callable[..., Any], bucket: str, name: Callable[[str], str]
) -> None:
    s3, glue, athena = client("s3"), client("glue"), client("athena")
    halves = {"2024-01-01": RATINGS.iloc[:3], "2024-01-02": RATINGS.iloc[3:]}
    for day, frame in halves.items():
        s3.put_object(
            Bucket=bucket,
            Key=f"ratings/dt={day}/part-0.csv",
            Body=frame.to_csv(index=False).encode(),
        )
    s3.put_object(Bucket=bucket, Key="ratings/_SUCCESS", Body=b"")
    database = name("db").replace("-", "_")
    crawl(glue, name("crawler"), database, {"S3Targets": [{"Path": f"s3://{bucket}/ratings/"}]})

    assert columns(glue, database, "ratings") == {
        "user_id": "bigint",
        "item": "string",
        "rating": "double",
        "liked": "boolean",
    }
    table = glue.get_table(DatabaseName=database, Name="ratings")["Table"]
    assert table["PartitionKeys"] == [{"Name": "dt", "Type": "string"}]
    assert table["Parameters"]["classification"] == "csv"
    assert table["Parameters"]["skip.header.line.count"] == "1"
    partitions = glue.get_partitions(DatabaseName=database, TableName="ratings")["Partitions"]
    assert sorted(p["Values"] for p in partitions) == [["2024-01-01"], ["2024-01-02"]]

    sql = (
        'SELECT item, count(*) AS n, avg(rating) AS mean FROM "ratings" '
        "WHERE dt >= '2024-01-01' GROUP BY item ORDER BY item"
    )
    execution = query(athena, sql, database, f"s3://{bucket}/results/")
    assert execution["Status"]["State"] == "SUCCEEDED", execution["Status"]
    qid = execution["QueryExecutionId"]
    got = rows(athena, qid, page=2)
    assert got[0] == ["item", "n", "mean"]
    expected = RATINGS.groupby("item").agg(n=("rating", "size"), mean=("rating", "mean"))
    assert [(r[0], int(r[1] or 0), float(r[2] or 0)) for r in got[1:]] == [
        (item, int(row["n"]), pytest.approx(float(row["mean"])))
        for item, row in expected.iterrows()
    ]
    # The result file, as Athena writes it: every value quoted, the header first.
    assert execution["ResultConfiguration"]["OutputLocation"] == (
        f"s3://{bucket}/results/{qid}.csv"
    )
    body = s3.get_object(Bucket=bucket, Key=f"results/{qid}.csv")["Body"].read().decode()
    assert body.splitlines()[0] == '"item","n","mean"'
    assert pd.read_csv(io.StringIO(body))["n"].tolist() == expected["n"].tolist()
    metadata = s3.get_object(Bucket=bucket, Key=f"results/{qid}.csv.metadata")["Body"].read()
    assert [c["Type"] for c in json.loads(metadata)["ColumnInfo"]] == [
        "varchar",
        "bigint",
        "double",
    ]
    info = athena.get_query_results(QueryExecutionId=qid)["ResultSet"]["ResultSetMetadata"]
    assert [c["Name"] for c in info["ColumnInfo"]] == ["item", "n", "mean"]


def test_crawler_names_unnamed_partitions_and_reads_json_and_parquet(
    client: Callable[..., Any], bucket: str, name: Callable[[str], str]
) -> None:
    s3, glue, athena = client("s3"), client("glue"), client("athena")
    for hour, frame in (("13", RATINGS.iloc[:2]), ("14", RATINGS.iloc[2:])):
        # A camelCase key: the column is lower case, the data keeps its spelling.
        body = frame.rename(columns={"user_id": "userId"}).to_json(orient="records", lines=True)
        body = body.encode()
        # Hour 14 as Firehose writes GZIP objects when the key has no .gz: told by content.
        s3.put_object(
            Bucket=bucket,
            Key=f"events/2024/05/01/{hour}/events-1",
            Body=gzip.compress(body) if hour == "14" else body,
        )
    buf = io.BytesIO()
    pq.write_table(pa.Table.from_pandas(RATINGS, preserve_index=False), buf)
    s3.put_object(Bucket=bucket, Key="features/part-0.parquet", Body=buf.getvalue())
    # A CSV without a header: every column a string in the first row too.
    s3.put_object(Bucket=bucket, Key="raw/lines.csv", Body=b"a,x\nb,y\n")
    database = name("db").replace("-", "_")
    crawl(
        glue,
        name("crawler"),
        database,
        {
            "S3Targets": [
                {"Path": f"s3://{bucket}/events/"},
                {"Path": f"s3://{bucket}/features/"},
                {"Path": f"s3://{bucket}/raw/"},
            ]
        },
    )
    events = glue.get_table(DatabaseName=database, Name="events")["Table"]
    assert [k["Name"] for k in events["PartitionKeys"]] == [
        "partition_0",
        "partition_1",
        "partition_2",
        "partition_3",
    ]
    assert events["Parameters"]["classification"] == "json"
    assert columns(glue, database, "events")["rating"] == "double"
    assert columns(glue, database, "events")["userid"] == "bigint"
    assert columns(glue, database, "features") == {
        "user_id": "bigint",
        "item": "string",
        "rating": "double",
        "liked": "boolean",
    }
    assert columns(glue, database, "raw") == {"col0": "string", "col1": "string"}

    execution = query(
        athena,
        "SELECT partition_3 AS hour, sum(userid) AS total FROM events GROUP BY 1 ORDER BY 1",
        database,
        f"s3://{bucket}/results/",
    )
    assert execution["Status"]["State"] == "SUCCEEDED", execution["Status"]
    assert rows(athena, execution["QueryExecutionId"])[1:] == [["13", "3"], ["14", "10"]]
    execution = query(
        athena, "SELECT count(*) FROM features WHERE liked", database, f"s3://{bucket}/r/"
    )
    assert rows(athena, execution["QueryExecutionId"])[1:] == [[str(int(RATINGS.liked.sum()))]]


def test_crawler_reads_a_dynamodb_table(
    client: Callable[..., Any], name: Callable[[str], str]
) -> None:
    ddb, glue = client("dynamodb"), client("glue")
    table = name("orders")
    create_table(ddb, table)
    ddb.put_item(
        Item={"id": {"S": "1"}, "amount": {"N": "12.5"}, "paid": {"BOOL": True}}, TableName=table
    )
    ddb.put_item(
        Item={"id": {"S": "2"}, "amount": {"N": "3"}, "tags": {"SS": ["x"]}}, TableName=table
    )
    database = name("db").replace("-", "_")
    crawl(glue, name("crawler"), database, {"DynamoDBTargets": [{"Path": table}]})
    found = glue.get_table(DatabaseName=database, Name=table.replace("-", "_"))["Table"]
    assert found["Parameters"]["classification"] == "dynamodb"
    assert found["Parameters"]["hashKey"] == "id"
    assert columns(glue, database, table.replace("-", "_")) == {
        "id": "string",
        "amount": "double",
        "paid": "boolean",
        "tags": "array<string>",
    }


def test_ctas_writes_parquet_and_registers_the_table(
    client: Callable[..., Any], bucket: str, name: Callable[[str], str]
) -> None:
    s3, glue, athena = client("s3"), client("glue"), client("athena")
    s3.put_object(Bucket=bucket, Key="src/ratings.csv", Body=RATINGS.to_csv(index=False).encode())
    database = name("db").replace("-", "_")
    crawl(glue, name("crawler"), database, {"S3Targets": [{"Path": f"s3://{bucket}/src/"}]})
    sql = (
        "CREATE TABLE best WITH (format = 'PARQUET', "
        f"external_location = 's3://{bucket}/best/', partitioned_by = ARRAY['item']) "
        "AS SELECT user_id, rating, item FROM src WHERE rating >= 3"
    )
    execution = query(athena, sql, database, f"s3://{bucket}/results/")
    assert execution["Status"]["State"] == "SUCCEEDED", execution["Status"]
    table = glue.get_table(DatabaseName=database, Name="best")["Table"]
    assert table["StorageDescriptor"]["Location"] == f"s3://{bucket}/best/"
    assert [k["Name"] for k in table["PartitionKeys"]] == ["item"]
    keys = [o["Key"] for o in s3.list_objects_v2(Bucket=bucket, Prefix="best/")["Contents"]]
    assert all(k.startswith("best/item=") for k in keys) and len(keys) == 3
    again = query(athena, "SELECT sum(rating) FROM best", database, f"s3://{bucket}/results/")
    total = float(rows(athena, again["QueryExecutionId"])[1][0] or 0)
    assert total == pytest.approx(RATINGS[RATINGS.rating >= 3].rating.sum())
    shown = query(athena, "SHOW TABLES", database, f"s3://{bucket}/results/")
    assert rows(athena, shown["QueryExecutionId"]) == [["best"], ["src"]]
    # A query that cannot run fails with Athena's reason.
    failed = query(athena, "SELECT * FROM missing_table", database, f"s3://{bucket}/results/")
    assert failed["Status"]["State"] == "FAILED"
    assert "does not exist" in failed["Status"]["StateChangeReason"]


JOB_SCRIPT = b"""
import sys, json, boto3
from awsglue.utils import getResolvedOptions

args = getResolvedOptions(sys.argv, ["JOB_NAME", "day", "bucket"])
s3 = boto3.client("s3")
s3.put_object(Bucket=args["bucket"], Key="job/out.json", Body=json.dumps({"args": args, "argv": sys.argv[1:]}))
if args["day"] == "bad":
    raise ValueError("no data for day bad")
"""


def test_pythonshell_job_runs_its_script_with_arguments(
    client: Callable[..., Any], bucket: str, name: Callable[[str], str]
) -> None:
    s3, glue = client("s3"), client("glue")
    s3.put_object(Bucket=bucket, Key="scripts/job.py", Body=JOB_SCRIPT)
    job = name("job")
    glue.create_job(
        Name=job,
        Role=ROLE,
        Command={"Name": "pythonshell", "ScriptLocation": f"s3://{bucket}/scripts/job.py"},
        DefaultArguments={"--bucket": bucket},
    )

    def finished(run_id: str) -> Callable[[], dict[str, Any] | None]:
        def probe() -> dict[str, Any] | None:
            run = glue.get_job_run(JobName=job, RunId=run_id)["JobRun"]
            return run if run["JobRunState"] not in ("STARTING", "RUNNING", "STOPPING") else None

        return probe

    run_id = glue.start_job_run(JobName=job, Arguments={"--day": "2024-01-01"})["JobRunId"]
    run = wait_for(f"job run {run_id}", finished(run_id))
    assert run["JobRunState"] == "SUCCEEDED", run
    out = json.loads(s3.get_object(Bucket=bucket, Key="job/out.json")["Body"].read())
    assert out["args"] == {"JOB_NAME": job, "day": "2024-01-01", "bucket": bucket}
    assert out["argv"][out["argv"].index("--JOB_RUN_ID") + 1] == run_id

    bad = glue.start_job_run(JobName=job, Arguments={"--day": "bad"})["JobRunId"]
    run = wait_for(f"job run {bad}", finished(bad))
    assert run["JobRunState"] == "FAILED"
    assert run["ErrorMessage"] == "ValueError: no data for day bad"
    logs = client("logs")

    def logged() -> list[str]:
        try:
            events = logs.get_log_events(
                logGroupName="/aws-glue/python-jobs/output", logStreamName=bad
            )["events"]
        except logs.exceptions.ResourceNotFoundException:
            return []
        return [e["message"] for e in events if "no data for day bad" in e["message"]]

    assert wait_for("the run's log stream", logged)
    assert [r["Id"] for r in glue.get_job_runs(JobName=job)["JobRuns"]]


def test_glueetl_job_without_pyspark_is_refused_naming_the_fix(
    client: Callable[..., Any], bucket: str, name: Callable[[str], str]
) -> None:
    glue = client("glue")
    job = name("spark")
    glue.create_job(
        Name=job,
        Role=ROLE,
        Command={"Name": "glueetl", "ScriptLocation": f"s3://{bucket}/scripts/etl.py"},
    )
    with pytest.raises(glue.exceptions.InvalidInputException, match="pip install pyspark"):
        glue.start_job_run(JobName=job)


def test_scheduled_crawler_starts_when_due(
    server: Any, client: Callable[..., Any], bucket: str, name: Callable[[str], str]
) -> None:
    import time

    from localaws.glue.schedules import CrawlerSchedules

    s3, glue = client("s3"), client("glue")
    s3.put_object(Bucket=bucket, Key="daily/r.csv", Body=RATINGS.to_csv(index=False).encode())
    crawler, database = name("crawler"), name("db").replace("-", "_")
    glue.create_crawler(
        Name=crawler,
        Role=ROLE,
        DatabaseName=database,
        Targets={"S3Targets": [{"Path": f"s3://{bucket}/daily/"}]},
        Schedule="cron(0/5 * * * ? *)",
    )
    schedules = CrawlerSchedules(server.runtime)
    now = time.time()
    schedules.tick(now)  # first seen: the next run is the next matching minute
    assert crawler in schedules.tick(now + 600)
    wait_for(
        "the scheduled crawl",
        lambda: (
            "LastCrawl" in glue.get_crawler(Name=crawler)["Crawler"]
            and glue.get_crawler(Name=crawler)["Crawler"]["State"] == "READY"
        ),
    )
    assert columns(glue, database, "daily")["rating"] == "double"


def test_crawl_writes_its_log_stream(
    client: Callable[..., Any], bucket: str, name: Callable[[str], str]
) -> None:
    s3, glue, logs = client("s3"), client("glue"), client("logs")
    s3.put_object(Bucket=bucket, Key="logged/r.csv", Body=RATINGS.to_csv(index=False).encode())
    crawler = name("crawler")
    last = crawl(
        glue,
        crawler,
        name("db").replace("-", "_"),
        {"S3Targets": [{"Path": f"s3://{bucket}/logged/"}]},
    )["LastCrawl"]
    assert (last["LogGroup"], last["LogStream"]) == ("/aws-glue/crawlers", crawler)

    def finished() -> list[str]:
        try:
            events = logs.get_log_events(logGroupName="/aws-glue/crawlers", logStreamName=crawler)
        except logs.exceptions.ResourceNotFoundException:
            return []
        lines = [e["message"] for e in events["events"]]
        return lines if any("Crawler has finished (SUCCEEDED)" in line for line in lines) else []

    lines = wait_for("the crawl's log lines", finished)
    assert all(line.startswith(f"[{last['MessagePrefix']}]") for line in lines)
    assert any("Tables created: 1" in line for line in lines)
