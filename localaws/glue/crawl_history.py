"""A crawler's past crawls, and the two calls that report them: ``ListCrawls`` and
``GetCrawlerMetrics``.

moto answers ``ListCrawls`` with crawls of its own (which never read anything, each billed
100 DPU-hours) and has no ``GetCrawlerMetrics``.  Here every crawl that ends is appended to
its crawler's ``glue.crawler-state`` record (the last :data:`KEPT` of them): id, state,
start and end, what it changed and its error.  ``ListCrawls`` lists them (newest first,
with AWS's ``Filters``); ``GetCrawlerMetrics`` derives the figures from them: the last and
median run times, the tables the last crawl created and updated, and while a crawl runs the
time it has left by the median (``StillEstimating`` before any crawl has finished).  The
local crawler never deletes tables (``TablesDeleted`` is 0) and bills nothing (no
``DPUHour``).
"""

from __future__ import annotations

import json
import statistics
import time
from typing import Any

from localaws.errors import ServiceError

KEPT = 100
MAX_METRICS = 100  # GetCrawlerMetrics' CrawlerNameList limit
STATES = {"SUCCEEDED": "COMPLETED", "CANCELLED": "STOPPED", "FAILED": "FAILED"}
FIELDS = ("CRAWL_ID", "STATE", "START_TIME", "END_TIME", "DPU_HOUR")
OPERATORS = ("GT", "GE", "LT", "LE", "EQ", "NE")


def record(
    state: dict[str, Any], last: dict[str, Any], ended: float, counts: dict[str, int]
) -> None:
    """Append the crawl that just ended (``last`` is its ``LastCrawl``) to ``state``."""
    crawl: dict[str, Any] = {
        "CrawlId": last["MessagePrefix"],
        "State": STATES[last["Status"]],
        "StartTime": last["StartTime"],
        "EndTime": ended,
        "TablesCreated": counts["tables_created"],
        "TablesUpdated": counts["tables_updated"],
        "PartitionsCreated": counts["partitions_created"],
        "LogGroup": last["LogGroup"],
        "LogStream": last["LogStream"],
        "MessagePrefix": last["MessagePrefix"],
    }
    if "ErrorMessage" in last:
        crawl["ErrorMessage"] = last["ErrorMessage"]
    state["Crawls"] = [*state.get("Crawls", []), crawl][-KEPT:]


def _summary(crawl: dict[str, Any]) -> str:
    """What a crawl changed, as the JSON text of ListCrawls' ``Summary``."""
    summary: dict[str, Any] = {}
    if crawl["TablesCreated"]:
        summary.setdefault("TABLE", {})["ADD"] = {"Count": crawl["TablesCreated"]}
    if crawl["TablesUpdated"]:
        summary.setdefault("TABLE", {})["UPDATE"] = {"Count": crawl["TablesUpdated"]}
    if crawl["PartitionsCreated"]:
        summary["PARTITION"] = {"ADD": {"Count": crawl["PartitionsCreated"]}}
    return json.dumps(summary)


def crawls(state: dict[str, Any]) -> list[dict[str, Any]]:
    """ListCrawls' ``Crawls`` of a crawler: the one running, then the ended, newest first."""
    found = []
    if state.get("State") in ("RUNNING", "STOPPING") and "CrawlId" in state:
        found.append(
            {
                "CrawlId": state["CrawlId"],
                "State": "RUNNING",
                "StartTime": state["StartTime"],
                "LogGroup": "/aws-glue/crawlers",
                "MessagePrefix": state["CrawlId"],
            }
        )
    for crawl in reversed(state.get("Crawls", [])):
        shown = {
            k: crawl[k]
            for k in (
                "CrawlId",
                "State",
                "StartTime",
                "EndTime",
                "ErrorMessage",
                "LogGroup",
                "LogStream",
                "MessagePrefix",
            )
            if k in crawl
        }
        shown["Summary"] = _summary(crawl)
        found.append(shown)
    return found


def _matches(crawl: dict[str, Any], rule: dict[str, Any]) -> bool:
    field, operator = rule.get("FieldName", ""), rule.get("FilterOperator", "")
    value = str(rule.get("FieldValue", ""))
    if field not in FIELDS:
        raise ServiceError(
            "InvalidInputException",
            f"Filters.FieldName {field!r}: not one of {', '.join(FIELDS)}",
        )
    if operator not in OPERATORS:
        raise ServiceError(
            "InvalidInputException",
            f"Filters.FilterOperator {operator!r}: not one of {', '.join(OPERATORS)}",
        )
    have: Any
    want: Any
    if field in ("START_TIME", "END_TIME"):
        have = crawl.get("StartTime" if field == "START_TIME" else "EndTime")
        try:
            want = _epoch(value)
        except ValueError:
            raise ServiceError(
                "InvalidInputException",
                f"Filters.FieldValue {value[:40]!r}: not a time; write it as ISO 8601 "
                "(2024-01-31T12:00:00Z) or epoch seconds",
            ) from None
    elif field == "DPU_HOUR":
        return False  # the local crawler bills nothing: no crawl has a DPUHour
    else:
        have, want = crawl.get("CrawlId" if field == "CRAWL_ID" else "State"), value
    if have is None:
        return False
    return bool(
        {
            "GT": have > want,
            "GE": have >= want,
            "LT": have < want,
            "LE": have <= want,
            "EQ": have == want,
            "NE": have != want,
        }[operator]
    )


def _epoch(value: str) -> float:
    from datetime import UTC, datetime

    try:
        return float(value)
    except ValueError:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
        if parsed.tzinfo is None:
            parsed = parsed.replace(tzinfo=UTC)
        return parsed.timestamp()


def list_crawls(state: dict[str, Any], request: dict[str, Any]) -> dict[str, Any]:
    """ListCrawls' answer for a crawler's state (paged by ``MaxResults``/``NextToken``)."""
    rules = request.get("Filters") or []
    found = [c for c in crawls(state) if all(_matches(c, r) for r in rules)]
    start = offset(request.get("NextToken"))
    limit = int(request.get("MaxResults") or 20)
    result: dict[str, Any] = {"Crawls": found[start : start + limit]}
    if start + limit < len(found):
        result["NextToken"] = str(start + limit)
    return result


def metrics(name: str, state: dict[str, Any], now: float | None = None) -> dict[str, Any]:
    """GetCrawlerMetrics' entry of one crawler."""
    now = time.time() if now is None else now
    ended = state.get("Crawls", [])
    runtimes = [c["EndTime"] - c["StartTime"] for c in ended]
    median = statistics.median(runtimes) if runtimes else 0.0
    last = ended[-1] if ended else None
    running = state.get("State") in ("RUNNING", "STOPPING")
    elapsed = now - state["StartTime"] if running and "StartTime" in state else 0.0
    return {
        "CrawlerName": name,
        "TimeLeftSeconds": max(0.0, median - elapsed) if running and runtimes else 0.0,
        "StillEstimating": running and not runtimes,
        "LastRuntimeSeconds": runtimes[-1] if runtimes else 0.0,
        "MedianRuntimeSeconds": median,
        "TablesCreated": last["TablesCreated"] if last else 0,
        "TablesUpdated": last["TablesUpdated"] if last else 0,
        "TablesDeleted": 0,
    }


def offset(token: Any) -> int:
    if not token:
        return 0
    try:
        return int(token)
    except ValueError:
        raise ServiceError(
            "InvalidInputException", "NextToken: not a token this API returned"
        ) from None
