"""Exploration of the raw data with SQL: a Glue crawler over the raw prefix, Athena queries.

:func:`crawl_raw` creates (once) the database and a crawler over ``data.raw_prefix`` and runs
it: each run's upload (``raw/<run id>/ai4i2020.csv``) becomes a partition ``partition_0`` of
one table, with the header's names as Glue writes them (``air_temperature__k_``).
:func:`query` runs Athena SQL and returns the rows as a pandas DataFrame.  Both go through
the target's clients, so they work on the local server and on AWS.
"""

from __future__ import annotations

import time
from typing import Any

from localaws.errors import ServiceError
from workflows.settings import Settings

TERMINAL_QUERY = ("SUCCEEDED", "FAILED", "CANCELLED")


def database_name(settings: Settings) -> str:
    return settings.name.replace("-", "_")


def crawler_name(settings: Settings) -> str:
    return f"{settings.name}-raw"


def crawl_raw(target: Any, settings: Settings, *, timeout: float = 600.0) -> list[str]:
    """Run the raw-data crawler (creating it and its database when missing); the table names."""
    glue = target.backend("glue")
    database, crawler = database_name(settings), crawler_name(settings)
    try:
        glue.create_database(DatabaseInput={"Name": database})
    except ServiceError as e:
        if e.code != "AlreadyExistsException":
            raise
    try:
        glue.create_crawler(
            Name=crawler,
            Role=settings.roles.sagemaker,
            DatabaseName=database,
            Targets={"S3Targets": [{"Path": settings.data.uri(settings.data.raw_prefix)}]},
        )
    except ServiceError as e:
        if e.code != "AlreadyExistsException":
            raise
    before = glue.get_crawler(Name=crawler)["Crawler"].get("LastCrawl", {}).get("StartTime")
    glue.start_crawler(Name=crawler)
    deadline = time.monotonic() + timeout
    while True:
        found = glue.get_crawler(Name=crawler)["Crawler"]
        last = found.get("LastCrawl") or {}
        if found["State"] == "READY" and last and last.get("StartTime") != before:
            break
        if time.monotonic() > deadline:
            raise TimeoutError(f"crawler {crawler} did not finish within {timeout:.0f} s")
        time.sleep(0.5)
    if last.get("Status") != "SUCCEEDED":
        raise RuntimeError(f"crawler {crawler}: {last.get('Status')}: {last.get('ErrorMessage')}")
    return [t["Name"] for t in glue.get_tables(DatabaseName=database)["TableList"]]


def query(target: Any, settings: Settings, sql: str, *, timeout: float = 600.0) -> Any:
    """Run ``sql`` on Athena in the raw data's database; the result as a DataFrame."""
    import pandas as pd

    athena = target.backend("athena")
    qid = athena.start_query_execution(
        QueryString=sql,
        QueryExecutionContext={"Database": database_name(settings)},
        ResultConfiguration={"OutputLocation": settings.data.uri("athena/")},
    )["QueryExecutionId"]
    deadline = time.monotonic() + timeout
    while True:
        execution = athena.get_query_execution(QueryExecutionId=qid)["QueryExecution"]
        state = execution["Status"]["State"]
        if state in TERMINAL_QUERY:
            break
        if time.monotonic() > deadline:
            raise TimeoutError(f"query {qid} did not finish within {timeout:.0f} s")
        time.sleep(0.2)
    if state != "SUCCEEDED":
        raise RuntimeError(f"query {qid}: {state}: {execution['Status'].get('StateChangeReason')}")
    rows: list[list[str | None]] = []
    token = None
    while True:
        page = athena.get_query_results(
            QueryExecutionId=qid, **({"NextToken": token} if token else {})
        )
        rows += [[d.get("VarCharValue") for d in r["Data"]] for r in page["ResultSet"]["Rows"]]
        token = page.get("NextToken")
        if not token:
            break
    header, body = rows[0], rows[1:]
    return pd.DataFrame(body, columns=header)
