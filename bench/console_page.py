"""How long the console's execution page takes to load a long history, in headless Chromium.

    python -m bench.console_page                 # a 10,000-event history
    python -m bench.console_page --events 400    # smoke run

An execution of a Map over Pass states (4 events per item: MapIterationStarted,
PassStateEntered, PassStateExited, MapIterationSucceeded) runs to the end on a local
server; then, each timed ``--repeats`` times after a warm-up (median):

* the whole history through GetExecutionHistory (boto3, pages of 1,000): the baseline, the
  least any page showing the history has to fetch;
* ``/console/api/execution``: the history folded into state visits, as the page gets it;
* the execution page in Chromium, from navigation until its graph, its states table and
  its event table are drawn (the tables draw their first rows and a "show more" button for
  the rest: the event table counts all the events).
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from typing import Any

import boto3
import httpx

from bench.report import median_seconds, print_table

ROLE = "arn:aws:iam::123456789012:role/bench"
CHROMIUM = "/usr/bin/chromium"
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run"]
EVENTS_PER_ITEM = 4
FIXED_EVENTS = 8  # execution started/succeeded, Map entered/started/succeeded/exited, ...
# The page is drawn when its states table has rows and its event table has all n events
# (its first rows drawn, the rest behind "show more").
DRAWN = """n => {
  const events = document.querySelector('#events');
  return events && Number(events.dataset.total) === n
    && document.querySelectorAll('#events tbody tr').length > 0
    && document.querySelectorAll('#states tbody tr[data-node]').length > 0;
}"""


def definition() -> dict[str, Any]:
    return {
        "StartAt": "Each",
        "States": {
            "Each": {
                "Type": "Map",
                "ItemsPath": "$.items",
                "ItemProcessor": {
                    "StartAt": "Score",
                    "States": {"Score": {"Type": "Pass", "End": True}},
                },
                "ResultPath": None,
                "End": True,
            }
        },
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=10_000, help="history length (about)")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()

    from playwright.sync_api import sync_playwright

    from localaws.server.serve import LocalServer

    items = max(1, (args.events - FIXED_EVENTS) // EVENTS_PER_ITEM)
    with tempfile.TemporaryDirectory() as state, LocalServer(state) as server:
        sfn = server.runtime.stepfunctions
        machine = sfn.create_state_machine(
            name="long-history", definition=json.dumps(definition()), roleArn=ROLE
        )["stateMachineArn"]
        arn = sfn.start_execution(
            stateMachineArn=machine,
            name="long",
            input=json.dumps({"items": [{"i": i} for i in range(items)]}),
        )["executionArn"]
        sfn.wait(arn, timeout=600)
        client = boto3.client(
            "stepfunctions",
            endpoint_url=server.url,
            region_name="us-east-1",
            aws_access_key_id="bench",
            aws_secret_access_key="bench",
        )
        events = 0

        def history() -> None:
            nonlocal events
            pages = client.get_paginator("get_execution_history").paginate(
                executionArn=arn, PaginationConfig={"PageSize": 1000}
            )
            events = sum(len(page["events"]) for page in pages)

        http = httpx.Client(base_url=server.url, headers={"X-Localaws-Console": "1"}, timeout=120)

        def folded() -> None:
            http.get("/console/api/execution", params={"executionArn": arn}).raise_for_status()

        baseline = median_seconds(history, args.repeats)
        fold_s = median_seconds(folded, args.repeats)
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
            page = browser.new_page(viewport={"width": 1400, "height": 1000})

            def load() -> None:
                page.goto("about:blank")
                page.goto(f"{server.url}/#/execution/{arn}")
                page.wait_for_selector("#graph g.state", timeout=300_000)
                page.wait_for_function(DRAWN, arg=events, timeout=300_000)

            started = time.perf_counter()
            load()
            first = time.perf_counter() - started
            page_s = median_seconds(load, args.repeats)
            browser.close()
    print_table(
        f"Console execution page, a history of {events:,} events ({items:,} Map items); "
        f"median of {args.repeats}",
        [("step", 44), ("seconds", 9), ("vs history", 11)],
        [
            ("GetExecutionHistory, all pages (baseline)", f"{baseline:.3f}", "1.00x"),
            ("/console/api/execution (folded)", f"{fold_s:.3f}", f"{fold_s / baseline:.2f}x"),
            ("execution page in Chromium (first load)", f"{first:.3f}", f"{first / baseline:.2f}x"),
            ("execution page in Chromium", f"{page_s:.3f}", f"{page_s / baseline:.2f}x"),
        ],
    )


if __name__ == "__main__":
    main()
