"""The model registry: model package groups and (versioned) model packages.

:class:`RegistryApi` is mixed into the SageMaker backend.  A package created with a
``ModelPackageGroupName`` is versioned: its name is the group's, its version the next
integer in the group (1, 2, ...), its ARN ``...:model-package/<group>/<version>``, and its
``ModelApprovalStatus`` starts as ``PendingManualApproval`` unless given.  A package created
with a ``ModelPackageName`` is unversioned (``...:model-package/<name>``).  Packages are
``Completed`` at once (there is no validation or image scan to wait for locally).

CreateModel accepts containers naming a package (``{"ModelPackageName": arn}``): the
package's inference container (image, model data, environment) is what the endpoint or
transform job runs.

Events: every created package and every change of approval status is published through
:meth:`RegistryApi.emit_event` as a "SageMaker Model Package State Change" event (source
``aws.sagemaker``, detail = the package's Describe shape, times in epoch milliseconds).
``emit_event`` only queues it in the ``sagemaker.event`` outbox (:mod:`localaws.outbox`,
durable); the outbox's thread puts it on the default EventBridge bus (``PutEvents``), where
the EventBridge dispatcher matches it against rules, as for every other AWS event.
"""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Callable
from datetime import UTC, datetime
from functools import cached_property
from typing import TYPE_CHECKING, Any

from localaws.errors import ServiceError
from localaws.outbox import Outbox

if TYPE_CHECKING:
    from localaws.runtime import Runtime
    from localaws.store import JsonRecords

GROUP, PACKAGE = "ModelPackageGroup", "ModelPackage"
STATE_CHANGE = "SageMaker Model Package State Change"
EVENT_SOURCE = "aws.sagemaker"
EVENT_CHANNEL = "sagemaker.event"


def _resource(arn_or_name: str, kind: str) -> str:
    """``arn:...:model-package/grp/3`` or ``grp/3`` or ``pkg`` -> the record key (lower case)."""
    marker = f":{kind}/"
    if arn_or_name.startswith("arn:") and marker in arn_or_name:
        return arn_or_name.split(marker, 1)[1].lower()
    return arn_or_name.lower()


def _epoch_ms(value: Any) -> Any:
    if isinstance(value, datetime):
        return int(value.timestamp() * 1000)
    if isinstance(value, dict):
        return {k: _epoch_ms(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_epoch_ms(v) for v in value]
    return value


class RegistryApi:
    """Model package groups and model packages; mixed into ``SageMakerBackend``."""

    runtime: Runtime
    records: JsonRecords
    _lock: Any
    _request: Callable[[str, dict[str, Any]], dict[str, Any]]
    _out: Callable[[str, dict[str, Any]], dict[str, Any]]
    _keep_tags: Callable[[str, list[dict[str, str]] | None], None]
    record_lineage: Callable[[str, str], None]

    # -- events ------------------------------------------------------------------------

    @cached_property
    def event_outbox(self) -> Outbox:
        """SageMaker's own events on their way to the default bus (one worker: in order)."""
        return Outbox(self.runtime.db, EVENT_CHANNEL, self._put_event, workers=1)

    def emit_event(
        self, detail_type: str, detail: dict[str, Any], *, conn: sqlite3.Connection
    ) -> None:
        """Queue an EventBridge event from SageMaker in the transaction ``conn`` that writes
        the change it reports (both commit or neither); after the commit, ``event_outbox``'s
        thread (woken by ``event_outbox.wake()``) puts it on the default bus."""
        resources = [detail["ModelPackageArn"]] if "ModelPackageArn" in detail else []
        self.event_outbox.put_in(
            conn,
            {
                "Source": EVENT_SOURCE,
                "DetailType": detail_type,
                "Resources": resources,
                "Time": datetime.now(UTC).isoformat(),
                "Detail": json.dumps(_epoch_ms(detail), default=str),
            },
        )

    def _put_event(self, entry: dict[str, Any], attempt: int) -> float | None:
        entry = {**entry, "Time": datetime.fromisoformat(entry["Time"])}
        failed = self.runtime.events.put_events(Entries=[entry]).get("FailedEntryCount", 0)
        return None if not failed else min(2.0**attempt, 60.0)

    # -- groups ------------------------------------------------------------------------

    def _group_arn(self, name: str) -> str:
        return self.runtime.arn("sagemaker", f"model-package-group/{name.lower()}")

    def _group(self, name_or_arn: str) -> dict[str, Any]:
        record = self.records.get(GROUP, _resource(name_or_arn, "model-package-group"))
        if record is None:
            raise ServiceError(
                "ValidationException", f"ModelPackageGroup {name_or_arn} does not exist."
            )
        return record

    def create_model_package_group(self, **request: Any) -> dict[str, Any]:
        req = self._request("CreateModelPackageGroup", request)
        name = req["ModelPackageGroupName"]
        tags = req.pop("Tags", None)
        record = {
            **req,
            "ModelPackageGroupArn": self._group_arn(name),
            "CreationTime": time.time(),
            "CreatedBy": {},
            "ModelPackageGroupStatus": "Completed",
            "NextVersion": 1,
        }
        if not self.records.insert_new(GROUP, name.lower(), record, record["CreationTime"]):
            raise ServiceError(
                "ValidationException",
                f"Model Package Group already exists: {record['ModelPackageGroupArn']}",
            )
        self._keep_tags(record["ModelPackageGroupArn"], tags)
        return {"ModelPackageGroupArn": record["ModelPackageGroupArn"]}

    def describe_model_package_group(self, **request: Any) -> dict[str, Any]:
        req = self._request("DescribeModelPackageGroup", request)
        return self._out("DescribeModelPackageGroup", self._group(req["ModelPackageGroupName"]))

    def delete_model_package_group(self, **request: Any) -> dict[str, Any]:
        req = self._request("DeleteModelPackageGroup", request)
        with self._lock:
            group = self._group(req["ModelPackageGroupName"])
            name = group["ModelPackageGroupName"]
            if any(p.get("ModelPackageGroupName") == name for p in self.records.list(PACKAGE)):
                raise ServiceError(
                    "ConflictException",
                    f"Model Package Group {group['ModelPackageGroupArn']} still holds model "
                    "packages; delete them (DeleteModelPackage) first",
                )
            self.records.delete(GROUP, name.lower())
        return {}

    def list_model_package_groups(self, **request: Any) -> dict[str, Any]:
        req = self._request("ListModelPackageGroups", request)
        items = self.records.list(GROUP)
        if req.get("NameContains"):
            items = [g for g in items if req["NameContains"] in g["ModelPackageGroupName"]]
        items = _created_between(items, req)
        page, token = _page(items, req, "ModelPackageGroupName")
        keys = (
            "ModelPackageGroupName",
            "ModelPackageGroupArn",
            "ModelPackageGroupDescription",
            "CreationTime",
            "ModelPackageGroupStatus",
        )
        out = self._out(
            "ListModelPackageGroups",
            {"ModelPackageGroupSummaryList": [{k: g[k] for k in keys if k in g} for g in page]},
        )
        if token:
            out["NextToken"] = token
        return out

    # -- packages ----------------------------------------------------------------------

    def _package(self, name_or_arn: str) -> dict[str, Any]:
        record = self.records.get(PACKAGE, _resource(name_or_arn, "model-package"))
        if record is None:
            raise ServiceError("ValidationException", f"ModelPackage {name_or_arn} does not exist.")
        return record

    def create_model_package(self, **request: Any) -> dict[str, Any]:
        req = self._request("CreateModelPackage", request)
        tags = req.pop("Tags", None)
        req.pop("ClientToken", None)
        group_name = req.pop("ModelPackageGroupName", None)
        if bool(group_name) == bool(req.get("ModelPackageName")):
            raise ServiceError(
                "ValidationException",
                "Give exactly one of ModelPackageGroupName (a versioned package in a group) "
                "and ModelPackageName (an unversioned package)",
            )
        now = time.time()
        record: dict[str, Any] = {
            **req,
            "CreationTime": now,
            "LastModifiedTime": now,
            "CreatedBy": {},
            "ModelPackageStatus": "Completed",
            "ModelPackageStatusDetails": {"ValidationStatuses": [], "ImageScanStatuses": []},
        }
        outbox = self.event_outbox  # its schema exists before the transaction opens
        with self._lock, self.runtime.db.transaction() as conn:
            if group_name:
                group = self._group(group_name)
                name = group["ModelPackageGroupName"]
                version = group["NextVersion"]
                group["NextVersion"] = version + 1
                self.records.put(GROUP, name.lower(), group, group["CreationTime"], conn=conn)
                key = f"{name.lower()}/{version}"
                record.update(
                    ModelPackageName=name,
                    ModelPackageGroupName=name,
                    ModelPackageVersion=version,
                )
                record.setdefault("ModelApprovalStatus", "PendingManualApproval")
                record.setdefault("ModelPackageRegistrationType", "Registered")
            else:
                key = req["ModelPackageName"].lower()
            record["ModelPackageArn"] = self.runtime.arn("sagemaker", f"model-package/{key}")
            if not self.records.insert_new(PACKAGE, key, record, now, conn=conn):
                raise ServiceError(  # rolls back the group's version counter too
                    "ValidationException",
                    f"Model Package already exists: {record['ModelPackageArn']}",
                )
            self.emit_event(STATE_CHANGE, self._out("DescribeModelPackage", record), conn=conn)
        outbox.wake()
        self._keep_tags(record["ModelPackageArn"], tags)
        self.record_lineage(PACKAGE, key)
        return {"ModelPackageArn": record["ModelPackageArn"]}

    def describe_model_package(self, **request: Any) -> dict[str, Any]:
        req = self._request("DescribeModelPackage", request)
        return self._out("DescribeModelPackage", self._package(req["ModelPackageName"]))

    def update_model_package(self, **request: Any) -> dict[str, Any]:
        req = self._request("UpdateModelPackage", request)
        req.pop("ClientToken", None)
        with self._lock:
            record = self._package(req.pop("ModelPackageArn"))
            before = record.get("ModelApprovalStatus")
            metadata = dict(record.get("CustomerMetadataProperties") or {})
            metadata.update(req.pop("CustomerMetadataProperties", None) or {})
            for key in req.pop("CustomerMetadataPropertiesToRemove", None) or []:
                metadata.pop(key, None)
            if metadata or "CustomerMetadataProperties" in record:
                record["CustomerMetadataProperties"] = metadata
            added = req.pop("AdditionalInferenceSpecificationsToAdd", None)
            if added:
                record["AdditionalInferenceSpecifications"] = [
                    *(record.get("AdditionalInferenceSpecifications") or []),
                    *added,
                ]
            record.update(req)
            record["LastModifiedTime"] = time.time()
            record["LastModifiedBy"] = {}
            key = _resource(record["ModelPackageArn"], "model-package")
            outbox = self.event_outbox
            with self.runtime.db.transaction() as conn:
                self.records.put(PACKAGE, key, record, record["CreationTime"], conn=conn)
                if record.get("ModelApprovalStatus") != before:
                    described = self._out("DescribeModelPackage", record)
                    self.emit_event(STATE_CHANGE, described, conn=conn)
        outbox.wake()
        return {"ModelPackageArn": record["ModelPackageArn"]}

    def delete_model_package(self, **request: Any) -> dict[str, Any]:
        req = self._request("DeleteModelPackage", request)
        record = self._package(req["ModelPackageName"])
        self.records.delete(PACKAGE, _resource(record["ModelPackageArn"], "model-package"))
        return {}

    def list_model_packages(self, **request: Any) -> dict[str, Any]:
        req = self._request("ListModelPackages", request)
        items = self.records.list(PACKAGE)
        kind = req.get("ModelPackageType", "Both")
        if kind == "Versioned":
            items = [p for p in items if "ModelPackageVersion" in p]
        elif kind == "Unversioned":
            items = [p for p in items if "ModelPackageVersion" not in p]
        if req.get("ModelPackageGroupName"):
            group = _resource(req["ModelPackageGroupName"], "model-package-group")
            items = [p for p in items if (p.get("ModelPackageGroupName") or "").lower() == group]
        if req.get("ModelApprovalStatus"):
            items = [p for p in items if p.get("ModelApprovalStatus") == req["ModelApprovalStatus"]]
        if req.get("NameContains"):
            items = [p for p in items if req["NameContains"] in p["ModelPackageName"]]
        items = _created_between(items, req)
        page, token = _page(items, req, "ModelPackageName")
        keys = (
            "ModelPackageName",
            "ModelPackageGroupName",
            "ModelPackageVersion",
            "ModelPackageArn",
            "ModelPackageDescription",
            "CreationTime",
            "ModelPackageStatus",
            "ModelApprovalStatus",
            "ModelPackageRegistrationType",
        )
        out = self._out(
            "ListModelPackages",
            {"ModelPackageSummaryList": [{k: p[k] for k in keys if k in p} for p in page]},
        )
        if token:
            out["NextToken"] = token
        return out

    # -- CreateModel from a package ----------------------------------------------------

    def _package_pipeline(self, name: str) -> list[dict[str, Any]] | None:
        """The containers of a multi-container package (an inference pipeline), as the model
        that PrimaryContainer.ModelPackageName creates runs them; None for one container."""
        package = self._package(name)
        containers = (package.get("InferenceSpecification") or {}).get("Containers") or []
        if len(containers) < 2:
            return None
        keep = ("Image", "ModelDataUrl", "ModelDataSource", "Environment")
        return [{k: c[k] for k in keep if k in c} for c in containers]

    def resolve_package_containers(self, request: dict[str, Any]) -> dict[str, Any]:
        """A CreateModel request whose containers name a model package, with each such
        container completed from the package's inference specification (image, model data,
        environment: the request's environment wins)."""

        def resolve(container: dict[str, Any], where: str) -> dict[str, Any]:
            name = container.get("ModelPackageName")
            if not name:
                return container
            package = self._package(name)
            spec = package.get("InferenceSpecification") or {}
            containers = spec.get("Containers") or []
            if not containers:
                raise ServiceError(
                    "ValidationException",
                    f"{where}.ModelPackageName {name}: the model package has no "
                    "InferenceSpecification.Containers to run",
                )
            source = containers[0]
            resolved = {
                k: source[k] for k in ("Image", "ModelDataUrl", "ModelDataSource") if k in source
            }
            environment = {
                **(source.get("Environment") or {}),
                **(container.get("Environment") or {}),
            }
            if environment:
                resolved["Environment"] = environment
            return {**resolved, **{k: v for k, v in container.items() if k != "Environment"}}

        out = dict(request)
        primary = out.get("PrimaryContainer")
        if primary and primary.get("ModelPackageName") and not out.get("Containers"):
            pipeline = self._package_pipeline(primary["ModelPackageName"])
            if pipeline is not None:  # an inference pipeline's package: every container, in order
                out.pop("PrimaryContainer")
                out["Containers"] = pipeline
                return out
        if out.get("PrimaryContainer"):
            out["PrimaryContainer"] = resolve(out["PrimaryContainer"], "PrimaryContainer")
        if out.get("Containers"):
            out["Containers"] = [
                resolve(c, f"Containers[{i}]") for i, c in enumerate(out["Containers"])
            ]
        return out


def _created_between(items: list[dict[str, Any]], req: dict[str, Any]) -> list[dict[str, Any]]:
    if req.get("CreationTimeAfter") is not None:
        items = [i for i in items if i["CreationTime"] > req["CreationTimeAfter"]]
    if req.get("CreationTimeBefore") is not None:
        items = [i for i in items if i["CreationTime"] < req["CreationTimeBefore"]]
    return items


def _page(
    items: list[dict[str, Any]], req: dict[str, Any], name_key: str
) -> tuple[list[dict[str, Any]], str | None]:
    key = name_key if req.get("SortBy") == "Name" else "CreationTime"
    items = sorted(
        items,
        key=lambda i: (i.get(key), i.get("ModelPackageVersion", 0)),
        reverse=req.get("SortOrder", "Descending") == "Descending",
    )
    try:
        start = int(req.get("NextToken") or 0)
    except ValueError:
        raise ServiceError(
            "ValidationException", f"Invalid pagination token {req['NextToken']!r}"
        ) from None
    limit = int(req.get("MaxResults") or 10)
    token = str(start + limit) if start + limit < len(items) else None
    return items[start : start + limit], token
