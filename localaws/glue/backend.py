"""Glue Data Catalog: databases, tables, partitions, crawlers, jobs (the API).

moto's implementation, mounted in-process and made durable by :mod:`localaws.motobridge`;
the methods are AWS's operations (:class:`~localaws.motobridge.backend.MotoBackend`).
What runs: :mod:`.crawler` (``StartCrawler`` crawls S3 prefixes and DynamoDB tables into
the catalog) and :mod:`.jobs` (``StartJobRun`` runs a job's script) and :mod:`.schedules` (crawlers' ``Schedule``), started with the
services bridge; their state is overlaid on moto's answers (``MotoBridge.overlay``).
"""

from __future__ import annotations

from functools import cached_property
from typing import TYPE_CHECKING

from localaws.motobridge.backend import MotoBackend

if TYPE_CHECKING:
    from localaws.glue.crawler import Crawls
    from localaws.glue.jobs import JobRuns
    from localaws.glue.schedules import CrawlerSchedules
    from localaws.motobridge.bridge import MotoBridge


class GlueBackend(MotoBackend):
    service = "glue"
    _schedules: CrawlerSchedules | None = None

    @cached_property
    def crawls(self) -> Crawls:
        from localaws.glue.crawler import Crawls

        return Crawls(self.runtime)

    @cached_property
    def job_runs(self) -> JobRuns:
        from localaws.glue.jobs import JobRuns

        return JobRuns(self.runtime)

    def attach(self, bridge: MotoBridge) -> None:
        """Called when the services bridge opens: crawls and job runs start on the calls
        that ask for them; their state answers the Get calls."""
        from moto.moto_api import state_manager

        # moto's crawls stay RUNNING until ListCrawls is called (so a second StartCrawler is
        # refused); ours run and answer, so moto's end at once (StartCrawler is replayed
        # the same way whatever the crawls' state; StopCrawler is served by Crawls alone).
        state_manager.set_transition("glue::crawl", {"progression": "immediate"})
        crawls, runs = self.crawls, self.job_runs
        bridge.observe(crawls.observe)
        bridge.observe(runs.observe)
        bridge.overlay("glue", "StartCrawler", crawls.start_crawler)
        bridge.overlay("glue", "StopCrawler", crawls.stop_crawler)
        bridge.overlay("glue", "GetCrawler", crawls.overlay_one)
        bridge.overlay("glue", "GetCrawlers", crawls.overlay_many)
        bridge.overlay("glue", "BatchGetCrawlers", crawls.overlay_many)
        bridge.overlay("glue", "ListCrawls", crawls.list_crawls)
        bridge.overlay("glue", "GetCrawlerMetrics", crawls.get_crawler_metrics)
        bridge.overlay("glue", "StartJobRun", runs.start_job_run)
        bridge.overlay("glue", "GetJobRun", runs.overlay_one)
        bridge.overlay("glue", "GetJobRuns", runs.overlay_many)
        bridge.overlay("glue", "BatchStopJobRun", runs.batch_stop_job_run)
        crawls.outbox.start()
        runs.outbox.start()
        from localaws.glue.schedules import CrawlerSchedules

        self._schedules = CrawlerSchedules(self.runtime)
        self._schedules.start()

    def close(self) -> None:
        if self._schedules is not None:
            self._schedules.stop()
            self._schedules.join(timeout=10)
            self._schedules = None
        if "crawls" in self.__dict__:
            self.crawls.outbox.stop()
        if "job_runs" in self.__dict__:
            self.job_runs.close()
