"""Glue crawlers that crawl: ``StartCrawler`` reads the targets and writes the catalog.

moto keeps crawlers (definition, tags) and answers ``StartCrawler`` without reading
anything.  Here an observer of the accepted ``StartCrawler`` records the crawl as
``RUNNING`` and queues it in the ``glue.crawl`` outbox (durable: a crawl interrupted by a
crash runs again).  The crawl reads each target, S3 paths of the local S3
(:mod:`.inference`: CSV, JSON Lines, Parquet, partitions) and DynamoDB tables of the mounted
DynamoDB, and writes tables and partitions through the Glue API (``CreateTable`` /
``UpdateTable`` per ``SchemaChangePolicy.UpdateBehavior``, ``BatchCreatePartition`` for new
partitions), so ``GetTable``/``GetPartitions`` answer as after a crawl on AWS.

The crawler's ``State`` (``READY`` / ``RUNNING`` / ``STOPPING``), ``CrawlElapsedTime`` and
``LastCrawl`` (``SUCCEEDED`` / ``CANCELLED`` / ``FAILED`` with ``ErrorMessage``) come from the
``glue.crawler-state`` records, overlaid on moto's answers to ``GetCrawler(s)`` and
``BatchGetCrawlers``.  ``StartCrawler`` on a running crawler is ``CrawlerRunningException``;
``StopCrawler`` (served here) is honoured between tables.  Every crawl that ends is kept in
the record, for ``ListCrawls`` and ``GetCrawlerMetrics`` (:mod:`.crawl_history`).
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from localaws.errors import ServiceError, UserError
from localaws.glue import crawl_history as history
from localaws.glue import inference
from localaws.outbox import Outbox
from localaws.store import JsonRecords

if TYPE_CHECKING:
    from localaws.motobridge.bridge import Mutation
    from localaws.runtime import Runtime

log = logging.getLogger(__name__)

CHANNEL = "glue.crawl"
STATE_KIND = "glue.crawler-state"
LOG_GROUP = "/aws-glue/crawlers"
PARTITION_BATCH = 100  # BatchCreatePartition's limit


class CrawlStopped(Exception):
    """StopCrawler was called while the crawl ran."""


class Crawls:
    """Runs crawls and keeps the crawlers' state."""

    def __init__(self, runtime: Runtime):
        self.runtime = runtime
        self.records = JsonRecords(runtime.db)
        self.outbox = Outbox(runtime.db, CHANNEL, self._deliver, workers=1)

    # -- the API's side (under the bridge's lock) ---------------------------------------

    def observe(self, mutation: Mutation) -> None:
        if mutation.service != "glue":
            return
        if mutation.operation == "StartCrawler":
            name = _json(mutation.body).get("Name", "")
            crawl_id = str(uuid.uuid4())
            state = self.state(name)
            state.update({"State": "RUNNING", "CrawlId": crawl_id, "StartTime": time.time()})
            self.records.put(STATE_KIND, name, state, time.time())
            self.outbox.put({"Name": name, "CrawlId": crawl_id})
        elif mutation.operation == "DeleteCrawler":
            self.records.delete(STATE_KIND, _json(mutation.body).get("Name", ""))

    def state(self, name: str) -> dict[str, Any]:
        return self.records.get(STATE_KIND, name) or {"State": "READY"}

    def start_crawler(
        self, request: dict[str, Any], moto: Callable[[], dict[str, Any]]
    ) -> dict[str, Any]:
        name = request.get("Name", "")
        if self.state(name).get("State") in ("RUNNING", "STOPPING"):
            raise ServiceError(
                "CrawlerRunningException", f"Crawler with name {name} has already started"
            )
        return moto()

    def stop_crawler(
        self, request: dict[str, Any], moto: Callable[[], dict[str, Any]]
    ) -> dict[str, Any]:
        name = request.get("Name", "")
        self.runtime.glue.get_crawler(Name=name)  # EntityNotFoundException for no crawler
        current = self.state(name).get("State")
        if current == "STOPPING":
            raise ServiceError("CrawlerStoppingException", f"Crawler with name {name} is stopping")
        if current != "RUNNING":
            raise ServiceError(
                "CrawlerNotRunningException", f"Crawler with name {name} isn't running"
            )
        # Not moto's to answer: its crawls end as they start (see GlueBackend.attach).
        state = self.state(name)
        state["State"] = "STOPPING"
        self.records.put(STATE_KIND, name, state, time.time())
        return {}

    def overlay_one(
        self, request: dict[str, Any], moto: Callable[[], dict[str, Any]]
    ) -> dict[str, Any]:
        result = moto()
        self.apply(result.get("Crawler", {}))
        return result

    def overlay_many(
        self, request: dict[str, Any], moto: Callable[[], dict[str, Any]]
    ) -> dict[str, Any]:
        result = moto()
        for crawler in result.get("Crawlers", []):
            self.apply(crawler)
        return result

    def apply(self, crawler: dict[str, Any]) -> None:
        """Our state of the crawl over moto's (which completes at once and crawls nothing)."""
        state = self.state(crawler.get("Name", ""))
        crawler["State"] = state["State"]
        crawler["CrawlElapsedTime"] = (
            int((time.time() - state["StartTime"]) * 1000)
            if state["State"] != "READY" and "StartTime" in state
            else 0
        )
        if "LastCrawl" in state:
            crawler["LastCrawl"] = state["LastCrawl"]
        else:
            crawler.pop("LastCrawl", None)

    def list_crawls(
        self, request: dict[str, Any], moto: Callable[[], dict[str, Any]]
    ) -> dict[str, Any]:
        """Served from our crawls (moto's own never read anything)."""
        name = str(request.get("CrawlerName", ""))
        self.runtime.glue.get_crawler(Name=name)  # EntityNotFoundException for no crawler
        return history.list_crawls(self.state(name), request)

    def get_crawler_metrics(
        self, request: dict[str, Any], moto: Callable[[], dict[str, Any]]
    ) -> dict[str, Any]:
        """Served here (moto has no GetCrawlerMetrics): figures of our crawls, for the
        crawlers named (all when none is), in name order; unknown names are left out."""
        known = sorted(c["Name"] for c in _pages(self.runtime.glue.get_crawlers, "Crawlers"))
        wanted = request.get("CrawlerNameList")
        if wanted is not None and len(wanted) > history.MAX_METRICS:
            raise ServiceError(
                "InvalidInputException",
                f"CrawlerNameList: {len(wanted)} names, at most {history.MAX_METRICS}; "
                "ask in several calls",
            )
        names = [n for n in known if wanted is None or n in set(wanted)]
        start = history.offset(request.get("NextToken"))
        limit = int(request.get("MaxResults") or len(names) or 1)
        page = names[start : start + limit]
        result: dict[str, Any] = {
            "CrawlerMetricsList": [history.metrics(n, self.state(n)) for n in page]
        }
        if start + limit < len(names):
            result["NextToken"] = str(start + limit)
        return result

    # -- the crawl (an outbox worker) ------------------------------------------------------

    def _deliver(self, body: dict[str, Any], attempt: int) -> float | None:
        name, crawl_id = body["Name"], body["CrawlId"]
        state = self.state(name)
        if state.get("CrawlId") != crawl_id:
            return None  # the crawler was deleted or restarted since
        started = state.get("StartTime", time.time())
        last: dict[str, Any] = {
            "LogGroup": LOG_GROUP,
            "LogStream": name,
            "MessagePrefix": crawl_id,
            "StartTime": started,
        }
        self._log(name, crawl_id, f"BENCHMARK : Running Start Crawl for Crawler {name}")
        summary = {"tables_created": 0, "tables_updated": 0, "partitions_created": 0}
        try:
            self.crawl(name, summary)
            last.update(Status="SUCCEEDED")
            self._log(
                name,
                crawl_id,
                f"INFO : Tables created: {summary['tables_created']}, tables updated: "
                f"{summary['tables_updated']}, partitions created: {summary['partitions_created']}",
            )
        except CrawlStopped:
            last.update(Status="CANCELLED")
        except (UserError, ServiceError) as e:
            last.update(Status="FAILED", ErrorMessage=str(e))
        except Exception as e:  # a bug here: the crawl fails (logged), never retried forever
            log.exception("crawler %s failed in the local runtime", name)
            last.update(Status="FAILED", ErrorMessage=f"Internal error: {type(e).__name__}")
        if last["Status"] == "FAILED":
            self._log(name, crawl_id, f"ERROR : {last['ErrorMessage']}")
        self._log(name, crawl_id, f"BENCHMARK : Crawler has finished ({last['Status']})")
        state = self.state(name)
        if state.get("CrawlId") == crawl_id:
            ended = time.time()
            state.update({"State": "READY", "LastCrawl": last, "LastRunSeconds": ended - started})
            history.record(state, last, ended, summary)
            self.records.put(STATE_KIND, name, state, time.time())
        return None

    def _log(self, name: str, crawl_id: str, line: str) -> None:
        """A line of the crawler's log (``logs/glue-crawlers/<name>.log``), shipped to
        ``/aws-glue/crawlers``, stream ``<name>``, as Glue writes it: ``[<crawl id>] ...``."""
        path = self.runtime.layout.log("glue-crawlers", name)
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(path, "a", encoding="utf-8") as fh:
            fh.write(f"[{crawl_id}] {line}\n")

    def _check_stop(self, name: str) -> None:
        if self.state(name).get("State") == "STOPPING":
            raise CrawlStopped(name)

    def crawl(self, name: str, counts: dict[str, int]) -> None:
        """Crawl the targets of crawler ``name`` into its database, counting what changed in
        ``counts`` (``tables_created``, ``tables_updated``, ``partitions_created``)."""
        glue = self.runtime.glue
        crawler = glue.get_crawler(Name=name)["Crawler"]
        database = crawler.get("DatabaseName") or ""
        if not database:
            raise UserError(f"crawler {name}: DatabaseName is empty; set the catalog database")
        try:
            glue.get_database(Name=database)
        except ServiceError as e:
            if e.code != "EntityNotFoundException":
                raise
            glue.create_database(DatabaseInput={"Name": database})
        prefix = crawler.get("TablePrefix") or ""
        policy = (crawler.get("SchemaChangePolicy") or {}).get(
            "UpdateBehavior", "UPDATE_IN_DATABASE"
        )
        targets = crawler.get("Targets") or {}
        for target in targets.get("S3Targets", []):
            self._check_stop(name)
            for table in self._s3_target(target, prefix):
                self._check_stop(name)
                self._write(name, database, table.table_input(name), table, policy, counts)
        for target in targets.get("DynamoDBTargets", []):
            self._check_stop(name)
            self._write(
                name, database, self._dynamodb_target(target, prefix, name), None, policy, counts
            )

    def _s3_target(self, target: dict[str, Any], prefix: str) -> list[inference.TableFound]:
        path = str(target.get("Path", ""))
        if not path.startswith("s3://"):
            raise UserError(f"S3Targets.Path {path!r}: not an s3:// URI; use s3://bucket/prefix/")
        storage = self.runtime.storage
        uris = storage.list(path)
        files = {uri: storage.path(uri) for uri in uris}
        root = path.rstrip("/")
        if root in files and len(files) == 1:  # the target is one object
            parent = root.rsplit("/", 1)[0]
            name = Path(root).stem
            found = inference.s3_tables(files, parent, [], name)
            return [_prefixed(t, prefix) for t in found]
        bucket_and_key = root[len("s3://") :]
        name = inference._hive_name(bucket_and_key.rsplit("/", 1)[-1])
        found = inference.s3_tables(files, root, list(target.get("Exclusions") or []), name)
        return [_prefixed(t, prefix) for t in found]

    def _dynamodb_target(self, target: dict[str, Any], prefix: str, crawler: str) -> dict[str, Any]:
        table = str(target.get("Path", ""))
        dynamodb = self.runtime.dynamodb
        try:
            described = dynamodb.describe_table(TableName=table)["Table"]
        except ServiceError as e:
            raise UserError(
                f"DynamoDBTargets.Path {table!r}: {e.message}; create the table first"
            ) from e
        scan_all = target.get("scanAll", True)
        items: list[dict[str, Any]] = []
        kwargs: dict[str, Any] = {"TableName": table}
        while True:
            page = dynamodb.scan(**kwargs)
            items.extend(page.get("Items", []))
            if "LastEvaluatedKey" not in page or (
                not scan_all and len(items) >= inference.SAMPLE_ROWS
            ):
                break
            kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]
        keys = {k["KeyType"]: k["AttributeName"] for k in described.get("KeySchema", [])}
        params = {
            "classification": "dynamodb",
            "typeOfData": "table",
            "hashKey": keys.get("HASH", ""),
            "rangeKey": keys.get("RANGE", ""),
            "recordCount": str(described.get("ItemCount", len(items))),
            "sizeKey": str(described.get("TableSizeBytes", 0)),
            "UPDATED_BY_CRAWLER": crawler,
        }
        columns = inference.dynamodb_columns(items)
        return {
            "Name": prefix + inference._hive_name(table),
            "TableType": "EXTERNAL_TABLE",
            "Parameters": params,
            "StorageDescriptor": {
                "Columns": [{"Name": n, "Type": t} for n, t in columns.items()],
                "Location": described["TableArn"],
                "Compressed": False,
                "NumberOfBuckets": -1,
                "SerdeInfo": {},
                "Parameters": dict(params),
                "StoredAsSubDirectories": False,
            },
        }

    def _write(
        self,
        crawler: str,
        database: str,
        table_input: dict[str, Any],
        table: inference.TableFound | None,
        policy: str,
        counts: dict[str, int],
    ) -> None:
        glue = self.runtime.glue
        try:
            glue.get_table(DatabaseName=database, Name=table_input["Name"])
            exists = True
        except ServiceError as e:
            if e.code != "EntityNotFoundException":
                raise
            exists = False
        if not exists:
            glue.create_table(DatabaseName=database, TableInput=table_input)
            counts["tables_created"] += 1
        elif policy != "LOG":
            glue.update_table(DatabaseName=database, TableInput=table_input)
            counts["tables_updated"] += 1
        if table is None or not table.partitions:
            return
        known: set[tuple[str, ...]] = set()
        kwargs: dict[str, Any] = {"DatabaseName": database, "TableName": table_input["Name"]}
        while True:
            page = glue.get_partitions(**kwargs)
            known |= {tuple(p["Values"]) for p in page.get("Partitions", [])}
            if not page.get("NextToken"):
                break
            kwargs["NextToken"] = page["NextToken"]
        new = sorted(set(table.partitions) - known)
        for i in range(0, len(new), PARTITION_BATCH):
            glue.batch_create_partition(
                DatabaseName=database,
                TableName=table_input["Name"],
                PartitionInputList=table.partition_inputs(new[i : i + PARTITION_BATCH]),
            )
        counts["partitions_created"] += len(new)


def _prefixed(table: inference.TableFound, prefix: str) -> inference.TableFound:
    table.name = prefix + table.name
    return table


def _pages(operation: Callable[..., dict[str, Any]], key: str) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    kwargs: dict[str, Any] = {}
    while True:
        page = operation(**kwargs)
        found += page.get(key, [])
        if not page.get("NextToken"):
            return found
        kwargs["NextToken"] = page["NextToken"]


def _json(body: bytes) -> dict[str, Any]:
    from localaws.motobridge.services import json_body

    return json_body(body)
