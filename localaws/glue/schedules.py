"""Scheduled Glue crawlers: a crawler's ``Schedule`` (``cron(...)``, AWS's six fields, UTC)
starts it, as Glue does.

One thread looks at the crawlers once every ``TICK_S``; a crawler's next run is computed
from its last (``glue.crawler-schedule`` records), so a restart neither repeats a run nor
catches up on missed ones.  A due crawler is started through the Glue API
(``StartCrawler``, journaled, observed like any other call); one still running is skipped,
as Glue skips it.  ``StopCrawlerSchedule`` (``SCHEDULED`` -> ``NOT_SCHEDULED``) is moto's:
a crawler whose schedule state is not ``SCHEDULED`` does not run.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import TYPE_CHECKING

from localaws.errors import ServiceError, UserError
from localaws.events.scheduler import next_run
from localaws.store import JsonRecords

if TYPE_CHECKING:
    from localaws.runtime import Runtime

log = logging.getLogger(__name__)

KIND = "glue.crawler-schedule"
TICK_S = 5.0


class CrawlerSchedules(threading.Thread):
    def __init__(self, runtime: Runtime):
        super().__init__(name="glue crawler schedules", daemon=True)
        self.runtime = runtime
        self.records = JsonRecords(runtime.db)
        self._stop_event = threading.Event()

    def stop(self) -> None:
        self._stop_event.set()

    def run(self) -> None:
        while not self._stop_event.wait(TICK_S):
            try:
                self.tick(time.time())
            except Exception:
                if self._stop_event.is_set():
                    return
                log.exception("the Glue crawler scheduler failed a tick")

    def tick(self, now: float) -> list[str]:
        """Start every crawler due at ``now``; the names started."""
        glue = self.runtime.glue
        started = []
        kwargs: dict[str, str] = {}
        crawlers = []
        while True:
            page = glue.get_crawlers(**kwargs)
            crawlers += page.get("Crawlers", [])
            if not page.get("NextToken"):
                break
            kwargs["NextToken"] = page["NextToken"]
        for crawler in crawlers:
            schedule = crawler.get("Schedule") or {}
            expression = schedule.get("ScheduleExpression")
            if not expression or schedule.get("State", "SCHEDULED") != "SCHEDULED":
                continue
            name = crawler["Name"]
            state = self.records.get(KIND, name)
            if state is None or state.get("expression") != expression:
                self.records.put(KIND, name, {"expression": expression, "last": now}, now)
                continue
            try:
                due = next_run(expression, float(state["last"]))
            except UserError:
                log.exception("crawler %s: schedule %s", name, expression)
                continue
            if due > now:
                continue
            self.records.put(KIND, name, {"expression": expression, "last": now}, now)
            if crawler.get("State") != "READY":
                continue  # still running: this run is skipped, as Glue does
            try:
                glue.start_crawler(Name=name)
                started.append(name)
            except ServiceError as e:
                log.warning("crawler %s: scheduled start refused: %s", name, e.message)
        return started
