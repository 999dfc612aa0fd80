"""ListCrawls and GetCrawlerMetrics answer with the figures of the crawls that ran: what
each created and updated, how long it took, the last and median run times.  A crawler
crawls again when started again."""

from __future__ import annotations

import json
import statistics
from collections.abc import Callable
from typing import Any

import pytest
from test_glue_athena import RATINGS, crawl
from wiring_support import wait_for


@pytest.fixture
def bucket(client: Callable[..., Any], name: Callable[[str], str]) -> str:
    bucket = name("data")
    client("s3").create_bucket(Bucket=bucket)
    return bucket


def test_list_crawls_and_metrics_report_the_crawls_that_ran(
    client: Callable[..., Any], bucket: str, name: Callable[[str], str]
) -> None:
    s3, glue = client("s3"), client("glue")
    crawler, database = name("crawler"), name("db").replace("-", "_")
    body = RATINGS.to_csv(index=False).encode()
    s3.put_object(Bucket=bucket, Key="r/dt=2024-01-01/a.csv", Body=body)
    assert glue.get_crawler_metrics(CrawlerNameList=[crawler])["CrawlerMetricsList"] == []

    crawl(glue, crawler, database, {"S3Targets": [{"Path": f"s3://{bucket}/r/"}]})
    s3.put_object(Bucket=bucket, Key="r/dt=2024-01-02/a.csv", Body=body)
    s3.put_object(Bucket=bucket, Key="r/dt=2024-01-03/a.csv", Body=body)
    glue.start_crawler(Name=crawler)
    wait_for(
        "the second crawl",
        lambda: (
            len(glue.list_crawls(CrawlerName=crawler)["Crawls"]) == 2
            and glue.get_crawler(Name=crawler)["Crawler"]["State"] == "READY"
        ),
    )

    crawls = glue.list_crawls(CrawlerName=crawler)["Crawls"]
    assert [c["State"] for c in crawls] == ["COMPLETED", "COMPLETED"]
    second, first = crawls
    assert json.loads(first["Summary"]) == {
        "TABLE": {"ADD": {"Count": 1}},
        "PARTITION": {"ADD": {"Count": 1}},
    }
    assert json.loads(second["Summary"]) == {
        "TABLE": {"UPDATE": {"Count": 1}},
        "PARTITION": {"ADD": {"Count": 2}},
    }
    assert first["EndTime"] <= second["StartTime"]
    last = glue.get_crawler(Name=crawler)["Crawler"]["LastCrawl"]
    assert second["CrawlId"] == last["MessagePrefix"]
    assert second["LogGroup"] == "/aws-glue/crawlers" and second["LogStream"] == crawler

    runtimes = [(c["EndTime"] - c["StartTime"]).total_seconds() for c in (first, second)]
    (metrics,) = glue.get_crawler_metrics(CrawlerNameList=[crawler, "no-such"])[
        "CrawlerMetricsList"
    ]
    assert metrics["CrawlerName"] == crawler
    assert metrics["LastRuntimeSeconds"] == pytest.approx(runtimes[1], abs=0.01)
    assert metrics["MedianRuntimeSeconds"] == pytest.approx(statistics.median(runtimes), abs=0.01)
    assert (metrics["TablesCreated"], metrics["TablesUpdated"], metrics["TablesDeleted"]) == (
        0,
        1,
        0,
    )
    assert metrics["StillEstimating"] is False and metrics["TimeLeftSeconds"] == 0
    everyone = glue.get_crawler_metrics()["CrawlerMetricsList"]
    assert crawler in [m["CrawlerName"] for m in everyone]

    newest = glue.list_crawls(
        CrawlerName=crawler,
        Filters=[
            {
                "FieldName": "START_TIME",
                "FilterOperator": "GT",
                "FieldValue": first["EndTime"].isoformat(),
            }
        ],
    )["Crawls"]
    assert [c["CrawlId"] for c in newest] == [second["CrawlId"]]
    with pytest.raises(glue.exceptions.EntityNotFoundException):
        glue.list_crawls(CrawlerName="no-such-crawler")
    with pytest.raises(glue.exceptions.CrawlerNotRunningException):
        glue.stop_crawler(Name=crawler)
