"""Tags of SageMaker resources: AddTags, ListTags, DeleteTags, and the Tags of Create* requests.

Tags are kept per resource ARN (kind ``Tags`` in the backend's records), so ListTags answers
for any resource, as the SDK's ``Estimator.attach`` and ``HyperparameterTuner`` expect.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from localaws.errors import ServiceError

if TYPE_CHECKING:
    from localaws.store import JsonRecords

TAGS = "Tags"
MAX_TAGS = 50


class TagsApi:
    records: JsonRecords
    _lock: Any
    _request: Callable[[str, dict[str, Any]], dict[str, Any]]

    def _keep_tags(self, arn: str, tags: list[dict[str, str]] | None) -> None:
        """Record a Create* request's Tags for the new resource (replacing any old ones)."""
        with self._lock:
            self.records.put(TAGS, arn, {"Tags": list(tags or [])}, 0)

    def _tags(self, arn: str) -> list[dict[str, str]]:
        record = self.records.get(TAGS, arn)
        return list(record["Tags"]) if record else []

    def add_tags(self, **request: Any) -> dict[str, Any]:
        req = self._request("AddTags", request)
        arn = req["ResourceArn"]
        with self._lock:
            merged = {t["Key"]: t.get("Value", "") for t in self._tags(arn)}
            merged.update({t["Key"]: t.get("Value", "") for t in req["Tags"]})
            if len(merged) > MAX_TAGS:
                raise ServiceError(
                    "ValidationException",
                    f"Tags: {len(merged)} tags on {arn}; a resource has at most {MAX_TAGS}",
                )
            tags = [{"Key": k, "Value": v} for k, v in merged.items()]
            self.records.put(TAGS, arn, {"Tags": tags}, 0)
        return {"Tags": req["Tags"]}

    def list_tags(self, **request: Any) -> dict[str, Any]:
        req = self._request("ListTags", request)
        tags = self._tags(req["ResourceArn"])
        try:
            start = int(req.get("NextToken") or 0)
        except ValueError:
            raise ServiceError(
                "ValidationException", f"Invalid pagination token {req['NextToken']!r}"
            ) from None
        limit = int(req.get("MaxResults") or 50)
        out: dict[str, Any] = {"Tags": tags[start : start + limit]}
        if start + limit < len(tags):
            out["NextToken"] = str(start + limit)
        return out

    def delete_tags(self, **request: Any) -> dict[str, Any]:
        req = self._request("DeleteTags", request)
        arn = req["ResourceArn"]
        with self._lock:
            keys = set(req["TagKeys"])
            tags = [t for t in self._tags(arn) if t["Key"] not in keys]
            self.records.put(TAGS, arn, {"Tags": tags}, 0)
        return {}
