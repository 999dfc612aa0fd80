"""SageMaker Feature Store: feature groups, the online store and the offline store.

* :class:`FeatureGroupApi` is mixed into the SageMaker backend: Create/Describe/Delete/
  ListFeatureGroups, records in the runtime's database in their Describe shape.
* :class:`FeatureStoreRuntimeBackend` is the ``sagemaker-featurestore-runtime`` API
  (PutRecord, GetRecord, BatchGetRecord, DeleteRecord) over :class:`OnlineStore`, a SQLite
  file ``<state dir>/featurestore/online.db`` holding the latest record of each identifier by
  event time.
* Every accepted write is also queued, in the same transaction, for the offline store; a
  flusher thread writes the queue as Parquet files under AWS's layout in local S3::

      <S3Uri>/<account>/sagemaker/<region>/offline-store/<group>-<unix ts>/data/
          year=YYYY/month=MM/day=DD/hour=HH/<YYYYmmddTHHMMSSZ>_<random>.parquet

  partitioned by event time, with AWS's extra columns ``write_time``, ``api_invocation_time``
  and ``is_deleted``.  The queue survives a crash; ``recover()`` flushes it.
* With ``DataCatalogConfig`` (or by default, unless ``DisableGlueTableCreation``) a Glue table
  ``sagemaker_featurestore.<group>-<ts>`` describes the Parquet files, created through the
  runtime's Glue backend when one is registered (:func:`glue_table_input` builds it).
"""

from __future__ import annotations

import io
import json
import logging
import secrets
import threading
import time
from collections import defaultdict
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from localaws.errors import ServiceError
from localaws.registry import BY_ATTRIBUTE
from localaws.store import Database

if TYPE_CHECKING:
    from localaws.runtime import Runtime

log = logging.getLogger(__name__)

KIND = "FeatureGroup"
GLUE_DATABASE = "sagemaker_featurestore"
GLUE_CATALOG = "AwsDataCatalog"
FLUSH_INTERVAL_S = 1.0  # how often queued offline rows become Parquet files
FEATURE_TYPES = ("Integral", "Fractional", "String")
EXTRA_COLUMNS = ("write_time", "api_invocation_time", "is_deleted")
GLUE_TYPES = {"Integral": "bigint", "Fractional": "double", "String": "string"}
ONLINE, OFFLINE = "OnlineStore", "OfflineStore"

SCHEMA = """
CREATE TABLE IF NOT EXISTS online_records (
    grp TEXT NOT NULL,
    rid TEXT NOT NULL,
    event_time REAL NOT NULL,
    expires_at REAL,
    features TEXT NOT NULL,
    PRIMARY KEY (grp, rid)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS offline_queue (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    grp TEXT NOT NULL,
    row TEXT NOT NULL
);
"""


# -- feature values ----------------------------------------------------------------------------


def parse_event_time(value: str, feature_type: str, where: str) -> float:
    """An EventTime value -> epoch seconds (Fractional: seconds; String: ISO-8601)."""
    if feature_type == "Fractional":
        try:
            return float(value)
        except ValueError:
            pass
    else:
        try:
            parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
            if parsed.tzinfo is None:
                parsed = parsed.replace(tzinfo=UTC)
            return parsed.timestamp()
        except ValueError:
            pass
    raise ServiceError(
        "ValidationError",
        f"{where}: {value[:64]!r} is not a valid event time for a {feature_type} feature; "
        "use ISO-8601 (yyyy-MM-ddTHH:mm:ssZ) for String or epoch seconds for Fractional",
    )


def typed(value: str, feature_type: str, where: str) -> Any:
    """A ValueAsString -> its Parquet value for the feature's type."""
    try:
        if feature_type == "Integral":
            return int(value)
        if feature_type == "Fractional":
            return float(value)
    except ValueError:
        raise ServiceError(
            "ValidationError",
            f"{where}: {value[:64]!r} is not a valid {feature_type} value",
        ) from None
    return value


def offline_prefix(group: dict[str, Any], account: str, region: str) -> str:
    """``s3://.../<account>/sagemaker/<region>/offline-store/<group>-<ts>/data``"""
    base = group["OfflineStoreConfig"]["S3StorageConfig"]["S3Uri"].rstrip("/")
    ts = int(group["CreationTime"])
    return (
        f"{base}/{account}/sagemaker/{region}/offline-store/{group['FeatureGroupName']}-{ts}/data"
    )


def glue_table_input(group: dict[str, Any]) -> dict[str, Any]:
    """The Glue ``TableInput`` that describes the group's offline store (Parquet, Hive SerDe)."""
    columns = [
        {"Name": d["FeatureName"], "Type": GLUE_TYPES[d["FeatureType"]]}
        for d in group["FeatureDefinitions"]
    ]
    columns += [
        {"Name": "write_time", "Type": "timestamp"},
        {"Name": "api_invocation_time", "Type": "timestamp"},
        {"Name": "is_deleted", "Type": "boolean"},
    ]
    catalog = group["OfflineStoreConfig"]["DataCatalogConfig"]
    return {
        "Name": catalog["TableName"],
        "TableType": "EXTERNAL_TABLE",
        "Parameters": {"classification": "parquet", "EXTERNAL": "TRUE"},
        "StorageDescriptor": {
            "Columns": columns,
            "Location": group["OfflineStoreConfig"]["S3StorageConfig"]["ResolvedOutputS3Uri"],
            "InputFormat": "org.apache.hadoop.hive.ql.io.parquet.MapredParquetInputFormat",
            "OutputFormat": "org.apache.hadoop.hive.ql.io.parquet.MapredParquetOutputFormat",
            "SerdeInfo": {
                "SerializationLibrary": (
                    "org.apache.hadoop.hive.ql.io.parquet.serde.ParquetHiveSerDe"
                ),
                "Parameters": {"serialization.format": "1"},
            },
        },
    }


# -- the SageMaker side: feature groups -----------------------------------------------------


class FeatureGroupApi:
    """Feature group operations of the SageMaker backend (mixed into SageMakerBackend)."""

    runtime: Runtime
    records: Any

    if TYPE_CHECKING:

        def _request(self, operation: str, params: dict[str, Any]) -> dict[str, Any]: ...
        def _out(self, operation: str, record: dict[str, Any]) -> dict[str, Any]: ...
        def _list(
            self,
            kind: str,
            req: dict[str, Any],
            name_key: str,
            status_key: str,
            keys: tuple[str, ...],
        ) -> tuple[list[dict[str, Any]], str | None]: ...

    def _group_missing(self, name: str) -> ServiceError:
        return ServiceError(
            "ResourceNotFound",
            f"Resource Not Found: Amazon SageMaker can't find a FeatureGroup with name {name}",
        )

    def create_feature_group(self, **request: Any) -> dict[str, Any]:
        req = self._request("CreateFeatureGroup", request)
        name = req["FeatureGroupName"]
        names = [d["FeatureName"] for d in req["FeatureDefinitions"]]
        for i, d in enumerate(req["FeatureDefinitions"]):
            if d.get("CollectionType"):
                raise ServiceError(
                    "ValidationException",
                    f"FeatureDefinitions[{i}].CollectionType: collection features "
                    f"({d['FeatureName']}) are not supported locally; use a String feature",
                )
            if names.count(d["FeatureName"]) > 1 or d["FeatureName"] in EXTRA_COLUMNS:
                raise ServiceError(
                    "ValidationException",
                    f"FeatureDefinitions[{i}].FeatureName: {d['FeatureName']!r} is duplicated "
                    f"or reserved ({', '.join(EXTRA_COLUMNS)} are reserved)",
                )
        for member in ("RecordIdentifierFeatureName", "EventTimeFeatureName"):
            if req[member] not in names:
                raise ServiceError(
                    "ValidationException",
                    f"{member}: {req[member]!r} is not among FeatureDefinitions; add it there",
                )
        types = {d["FeatureName"]: d["FeatureType"] for d in req["FeatureDefinitions"]}
        if types[req["EventTimeFeatureName"]] == "Integral":
            raise ServiceError(
                "ValidationException",
                f"EventTimeFeatureName: {req['EventTimeFeatureName']!r} must be a String "
                "(ISO-8601) or Fractional (epoch seconds) feature",
            )
        if not req.get("OnlineStoreConfig") and not req.get("OfflineStoreConfig"):
            raise ServiceError(
                "ValidationException",
                "At least one of OnlineStoreConfig and OfflineStoreConfig must be specified",
            )
        now = time.time()
        req.pop("Tags", None)
        record: dict[str, Any] = {
            **req,
            "FeatureGroupArn": self.runtime.arn("sagemaker", f"feature-group/{name.lower()}"),
            "CreationTime": now,
            "LastModifiedTime": now,
            "FeatureGroupStatus": "Creating",
        }
        offline = record.get("OfflineStoreConfig")
        if offline:
            offline.setdefault("DisableGlueTableCreation", False)
            offline.setdefault("TableFormat", "Glue")
            storage = offline["S3StorageConfig"]
            storage["ResolvedOutputS3Uri"] = offline_prefix(
                record, self.runtime.account_id, self.runtime.region
            )
            if not offline["DisableGlueTableCreation"] and "DataCatalogConfig" not in offline:
                offline["DataCatalogConfig"] = {
                    "TableName": f"{name}-{int(now)}".lower(),
                    "Catalog": GLUE_CATALOG,
                    "Database": GLUE_DATABASE,
                }
            record["OfflineStoreStatus"] = {"Status": "Active"}
        if not self.records.insert_new(KIND, name, record, now):
            raise ServiceError(
                "ResourceInUse",
                f"Resource Already Exists: FeatureGroup with name {name} already exists. Choose a different name.",
            )
        threading.Thread(
            target=self._finish_feature_group,
            args=(name,),
            name=f"feature-group-{name}",
            daemon=True,
        ).start()
        return {"FeatureGroupArn": record["FeatureGroupArn"]}

    def _finish_feature_group(self, name: str) -> None:
        """Creating -> Created: the Glue table (when a Glue backend is registered) and lineage."""
        record = self.records.get(KIND, name)
        if record is None:
            return
        status, reason = "Created", None
        try:
            create_glue_table(self.runtime, record)
        except ServiceError as e:
            status, reason = "CreateFailed", f"Glue table: {e.message}"
        lineage = getattr(self, "lineage_feature_group", None)
        if lineage is not None and status == "Created":
            lineage(record)
        record = self.records.get(KIND, name)
        if record is None or record["FeatureGroupStatus"] != "Creating":
            return
        record["FeatureGroupStatus"] = status
        if reason:
            record["FailureReason"] = reason
        record["LastModifiedTime"] = time.time()
        self.records.put(KIND, name, record, record["CreationTime"])

    def describe_feature_group(self, **request: Any) -> dict[str, Any]:
        req = self._request("DescribeFeatureGroup", request)
        record = self.records.get(KIND, req["FeatureGroupName"])
        if record is None:
            raise self._group_missing(req["FeatureGroupName"])
        out = self._out("DescribeFeatureGroup", record)
        out["OnlineStoreTotalSizeBytes"] = self.runtime.sagemaker_featurestore_runtime.store.size(
            record["FeatureGroupName"]
        )
        return out

    def delete_feature_group(self, **request: Any) -> dict[str, Any]:
        req = self._request("DeleteFeatureGroup", request)
        name = req["FeatureGroupName"]
        if self.records.get(KIND, name) is None:
            raise self._group_missing(name)
        fs = self.runtime.sagemaker_featurestore_runtime
        fs.flush()
        self.records.delete(KIND, name)
        fs.forget(name)
        return {}

    def list_feature_groups(self, **request: Any) -> dict[str, Any]:
        req = self._request("ListFeatureGroups", request)
        if req.get("FeatureGroupStatusEquals"):
            req["StatusEquals"] = req.pop("FeatureGroupStatusEquals")
        keys = (
            "FeatureGroupName",
            "FeatureGroupArn",
            "CreationTime",
            "FeatureGroupStatus",
            "OfflineStoreStatus",
        )
        items, token = self._list(KIND, req, "FeatureGroupName", "FeatureGroupStatus", keys)
        wanted = req.get("OfflineStoreStatusEquals")
        if wanted:
            items = [
                i for i in items if (i.get("OfflineStoreStatus") or {}).get("Status") == wanted
            ]
        out = self._out("ListFeatureGroups", {"FeatureGroupSummaries": items})
        if token:
            out["NextToken"] = token
        return out


def create_glue_table(runtime: Runtime, group: dict[str, Any]) -> bool:
    """Create the group's Glue table through the runtime's Glue backend; False without one."""
    offline = group.get("OfflineStoreConfig") or {}
    catalog = offline.get("DataCatalogConfig")
    if not catalog or offline.get("DisableGlueTableCreation") or "glue" not in BY_ATTRIBUTE:
        return False
    glue = runtime.glue
    try:
        glue.create_database(DatabaseInput={"Name": catalog["Database"]})
    except ServiceError as e:
        if e.code != "AlreadyExistsException":
            raise
    glue.create_table(DatabaseName=catalog["Database"], TableInput=glue_table_input(group))
    return True


# -- the online store --------------------------------------------------------------------------


class OnlineStore:
    """Latest record per identifier, and the offline queue, in one SQLite file."""

    def __init__(self, runtime: Runtime):
        self.db = Database(runtime.layout.featurestore_online)
        self.db.ensure_schema("featurestore", SCHEMA)

    def put(
        self,
        group: str,
        rid: str,
        event_time: float,
        features: dict[str, str] | None,
        expires_at: float | None,
        offline_row: dict[str, Any] | None,
    ) -> None:
        """Write the record online when it is not older than the stored one (``features``
        None deletes it), and queue ``offline_row``; one transaction."""
        with self.db.transaction() as conn:
            if features is not None or offline_row is not None:
                current = conn.execute(
                    "SELECT event_time FROM online_records WHERE grp=? AND rid=?", (group, rid)
                ).fetchone()
                newer = current is None or event_time >= current[0]
                if features is not None and newer:
                    conn.execute(
                        "INSERT OR REPLACE INTO online_records VALUES (?, ?, ?, ?, ?)",
                        (group, rid, event_time, expires_at, json.dumps(features)),
                    )
            if offline_row is not None:
                conn.execute(
                    "INSERT INTO offline_queue (grp, row) VALUES (?, ?)",
                    (group, json.dumps(offline_row)),
                )

    def delete(self, group: str, rid: str, event_time: float) -> bool:
        with self.db.transaction() as conn:
            cur = conn.execute(
                "DELETE FROM online_records WHERE grp=? AND rid=? AND event_time<=?",
                (group, rid, event_time),
            )
            return cur.rowcount > 0

    def get(self, group: str, rid: str) -> tuple[dict[str, str], float | None] | None:
        row = self.db.query_one(
            "SELECT features, expires_at FROM online_records WHERE grp=? AND rid=?", (group, rid)
        )
        if row is None:
            return None
        if row[1] is not None and row[1] <= time.time():
            return None
        return json.loads(row[0]), row[1]

    def size(self, group: str) -> int:
        row = self.db.query_one(
            "SELECT COALESCE(SUM(LENGTH(features) + LENGTH(rid)), 0) FROM online_records "
            "WHERE grp=?",
            (group,),
        )
        return int(row[0]) if row else 0

    def drop(self, group: str) -> None:
        with self.db.transaction() as conn:
            conn.execute("DELETE FROM online_records WHERE grp=?", (group,))
            conn.execute("DELETE FROM offline_queue WHERE grp=?", (group,))

    def queued(self, limit: int = 50_000) -> list[tuple[int, str, dict[str, Any]]]:
        rows = self.db.query(
            "SELECT seq, grp, row FROM offline_queue ORDER BY seq LIMIT ?", (limit,)
        )
        return [(r[0], r[1], json.loads(r[2])) for r in rows]

    def dequeue(self, up_to: int) -> None:
        with self.db.transaction() as conn:
            conn.execute("DELETE FROM offline_queue WHERE seq<=?", (up_to,))

    def close(self) -> None:
        self.db.close()


# -- the offline store ---------------------------------------------------------------------------


def write_parquet(runtime: Runtime, group: dict[str, Any], rows: list[dict[str, Any]]) -> list[str]:
    """Write ``rows`` as Parquet files, one per event-time hour; return their URIs."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    arrow_types = {"Integral": pa.int64(), "Fractional": pa.float64(), "String": pa.string()}
    fields = [
        pa.field(d["FeatureName"], arrow_types[d["FeatureType"]])
        for d in group["FeatureDefinitions"]
    ]
    fields += [
        pa.field("write_time", pa.timestamp("ms", tz="UTC")),
        pa.field("api_invocation_time", pa.timestamp("ms", tz="UTC")),
        pa.field("is_deleted", pa.bool_()),
    ]
    schema = pa.schema(fields)
    by_hour: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for row in rows:
        hour = datetime.fromtimestamp(row["_event_epoch"], tz=UTC)
        by_hour[hour.strftime("year=%Y/month=%m/day=%d/hour=%H")].append(row)
    prefix = group["OfflineStoreConfig"]["S3StorageConfig"]["ResolvedOutputS3Uri"]
    written = []
    now = datetime.now(UTC)
    for partition, items in sorted(by_hour.items()):
        columns: dict[str, list[Any]] = {f.name: [] for f in fields}
        for item in items:
            for f in fields:
                value = item.get(f.name)
                if f.name in ("write_time", "api_invocation_time"):
                    value = datetime.fromtimestamp(float(item[f.name]), tz=UTC)
                columns[f.name].append(value)
        table = pa.table(columns, schema=schema)
        buffer = io.BytesIO()
        pq.write_table(table, buffer)
        name = f"{now.strftime('%Y%m%dT%H%M%SZ')}_{secrets.token_urlsafe(12)}.parquet"
        uri = f"{prefix}/{partition}/{name}"
        runtime.storage.write(uri, buffer.getvalue())
        written.append(uri)
    return written


# -- the runtime API ----------------------------------------------------------------------------


class FeatureStoreRuntimeBackend:
    """The ``sagemaker-featurestore-runtime`` API of the local runtime."""

    def __init__(self, runtime: Runtime):
        self.runtime = runtime
        self.store = OnlineStore(runtime)
        self._groups: dict[str, dict[str, Any]] = {}
        self._flush_lock = threading.Lock()
        self._wake = threading.Event()
        self._stopping = threading.Event()
        self._flusher: threading.Thread | None = None

    # -- groups ------------------------------------------------------------------------

    def _group(self, name: str) -> dict[str, Any]:
        group = self._groups.get(name)
        if group is None:
            group = self.runtime.sagemaker.records.get(KIND, name)
            if group is None:
                raise ServiceError(
                    "ResourceNotFound",
                    f"Resource Not Found: Amazon SageMaker can't find a FeatureGroup with name {name}",
                    status=404,
                )
            if group["FeatureGroupStatus"] != "Created":
                raise ServiceError(
                    "ValidationError",
                    f"FeatureGroup {name} is in status {group['FeatureGroupStatus']}; "
                    "wait until DescribeFeatureGroup reports Created",
                )
            self._groups[name] = group
        return group

    def forget(self, name: str) -> None:
        self._groups.pop(name, None)
        self.store.drop(name)

    @staticmethod
    def _stores(group: dict[str, Any], target: list[str] | None) -> tuple[bool, bool]:
        online = bool((group.get("OnlineStoreConfig") or {}).get("EnableOnlineStore"))
        offline = bool(group.get("OfflineStoreConfig"))
        if target:
            for store in target:
                if (store == ONLINE and not online) or (store == OFFLINE and not offline):
                    raise ServiceError(
                        "ValidationError",
                        f"TargetStores: {store} is not enabled for FeatureGroup "
                        f"{group['FeatureGroupName']}",
                    )
            online, offline = ONLINE in target, OFFLINE in target
        return online, offline

    # -- operations ----------------------------------------------------------------------

    def put_record(
        self,
        FeatureGroupName: str,
        Record: list[dict[str, str]],
        TargetStores: list[str] | None = None,
        TtlDuration: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        invoked = time.time()
        group = self._group(FeatureGroupName)
        types = {d["FeatureName"]: d["FeatureType"] for d in group["FeatureDefinitions"]}
        features: dict[str, str] = {}
        for i, item in enumerate(Record):
            name = item["FeatureName"]
            if name not in types:
                raise ServiceError(
                    "ValidationError",
                    f"Record[{i}].FeatureName: {name!r} is not a feature of FeatureGroup "
                    f"{FeatureGroupName}",
                )
            features[name] = item["ValueAsString"]
        rid_name, time_name = group["RecordIdentifierFeatureName"], group["EventTimeFeatureName"]
        for required in (rid_name, time_name):
            if required not in features:
                raise ServiceError(
                    "ValidationError",
                    f"Record: the feature {required!r} is required (it is the feature group's "
                    f"{'RecordIdentifierFeatureName' if required == rid_name else 'EventTimeFeatureName'})",
                )
        event = parse_event_time(features[time_name], types[time_name], f"Record.{time_name}")
        row: dict[str, Any] = {}
        for name, value in features.items():
            row[name] = typed(value, types[name], f"Record.{name}")
        online, offline = self._stores(group, TargetStores)
        expires = _expiry(
            event, TtlDuration or (group.get("OnlineStoreConfig") or {}).get("TtlDuration")
        )
        offline_row = None
        if offline:
            offline_row = {
                **row,
                "write_time": time.time(),
                "api_invocation_time": invoked,
                "is_deleted": False,
                "_event_epoch": event,
            }
        self.store.put(
            FeatureGroupName,
            features[rid_name],
            event,
            features if online else None,
            expires,
            offline_row,
        )
        if offline_row is not None:
            self._ensure_flusher()
        return {}

    def get_record(
        self,
        FeatureGroupName: str,
        RecordIdentifierValueAsString: str,
        FeatureNames: list[str] | None = None,
        ExpirationTimeResponse: str | None = None,
    ) -> dict[str, Any]:
        group = self._group(FeatureGroupName)
        if not (group.get("OnlineStoreConfig") or {}).get("EnableOnlineStore"):
            raise ServiceError(
                "ValidationError",
                f"FeatureGroup {FeatureGroupName} has no online store; read its offline store",
            )
        found = self.store.get(FeatureGroupName, RecordIdentifierValueAsString)
        if found is None:
            return {}
        features, expires = found
        out: dict[str, Any] = {"Record": _select(features, FeatureNames)}
        if ExpirationTimeResponse == "Enabled" and expires is not None:
            out["ExpiresAt"] = datetime.fromtimestamp(expires, tz=UTC).isoformat()
        return out

    def batch_get_record(
        self, Identifiers: list[dict[str, Any]], ExpirationTimeResponse: str | None = None
    ) -> dict[str, Any]:
        records, errors = [], []
        for ident in Identifiers:
            name = ident["FeatureGroupName"]
            for rid in ident["RecordIdentifiersValueAsString"]:
                try:
                    found = self.get_record(
                        name, rid, ident.get("FeatureNames"), ExpirationTimeResponse
                    )
                except ServiceError as e:
                    errors.append(
                        {
                            "FeatureGroupName": name,
                            "RecordIdentifierValueAsString": rid,
                            "ErrorCode": e.code,
                            "ErrorMessage": e.message,
                        }
                    )
                    continue
                if found:
                    records.append(
                        {"FeatureGroupName": name, "RecordIdentifierValueAsString": rid, **found}
                    )
        return {"Records": records, "Errors": errors, "UnprocessedIdentifiers": []}

    def delete_record(
        self,
        FeatureGroupName: str,
        RecordIdentifierValueAsString: str,
        EventTime: str,
        TargetStores: list[str] | None = None,
        DeletionMode: str | None = None,
    ) -> dict[str, Any]:
        invoked = time.time()
        group = self._group(FeatureGroupName)
        types = {d["FeatureName"]: d["FeatureType"] for d in group["FeatureDefinitions"]}
        time_name, rid_name = group["EventTimeFeatureName"], group["RecordIdentifierFeatureName"]
        event = parse_event_time(EventTime, types[time_name], "EventTime")
        online, offline = self._stores(group, TargetStores)
        if online:
            self.store.delete(FeatureGroupName, RecordIdentifierValueAsString, event)
        if offline:
            row = {
                rid_name: typed(RecordIdentifierValueAsString, types[rid_name], "RecordIdentifier"),
                time_name: typed(EventTime, types[time_name], "EventTime"),
                "write_time": time.time(),
                "api_invocation_time": invoked,
                "is_deleted": True,
                "_event_epoch": event,
            }
            self.store.put(FeatureGroupName, RecordIdentifierValueAsString, event, None, None, row)
            self._ensure_flusher()
        return {}

    # -- the offline flusher ------------------------------------------------------------------

    def _ensure_flusher(self) -> None:
        if self._flusher is None:
            with self._flush_lock:
                if self._flusher is None and not self._stopping.is_set():
                    self._flusher = threading.Thread(
                        target=self._flush_loop, name="featurestore-offline", daemon=True
                    )
                    self._flusher.start()

    def _flush_loop(self) -> None:
        while not self._stopping.wait(FLUSH_INTERVAL_S):
            try:
                self.flush()
            except Exception:  # the queue stays; the next round retries
                log.exception("feature store: writing the offline store failed")

    def flush(self) -> list[str]:
        """Write every queued offline row as Parquet now; return the files written."""
        written: list[str] = []
        with self._flush_lock:
            while True:
                queued = self.store.queued()
                if not queued:
                    return written
                by_group: dict[str, list[dict[str, Any]]] = defaultdict(list)
                for _, name, row in queued:
                    by_group[name].append(row)
                for name, rows in by_group.items():
                    group = self.runtime.sagemaker.records.get(KIND, name)
                    if group is None or not group.get("OfflineStoreConfig"):
                        continue  # deleted meanwhile: its queue goes with it
                    written += write_parquet(self.runtime, group, rows)
                self.store.dequeue(queued[-1][0])

    def recover(self) -> None:
        """Rows queued before a crash reach the offline store."""
        if self.store.queued(limit=1):
            self.flush()

    def close(self) -> None:
        self._stopping.set()
        if self._flusher is not None:
            self._flusher.join()
        self.flush()
        self.store.close()


def _select(features: dict[str, str], names: list[str] | None) -> list[dict[str, str]]:
    if names:
        return [{"FeatureName": n, "ValueAsString": features[n]} for n in names if n in features]
    return [{"FeatureName": n, "ValueAsString": v} for n, v in features.items()]


def _expiry(event: float, ttl: dict[str, Any] | None) -> float | None:
    if not ttl:
        return None
    seconds = {"Seconds": 1, "Minutes": 60, "Hours": 3600, "Days": 86400, "Weeks": 604800}
    return event + float(ttl["Value"]) * seconds[ttl["Unit"]]
