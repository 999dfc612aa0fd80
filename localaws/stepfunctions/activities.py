"""Activities: tasks done by workers that poll Step Functions (GetActivityTask).

A Task whose ``Resource`` is an activity ARN puts its input on the activity's queue
(:class:`ActivityIntegration` in ``integrations/activity.py``) and waits for its token;
a worker takes it with GetActivityTask (a long poll of up to 60 seconds, returning an empty
response when nothing came) and answers with SendTaskSuccess/Failure/Heartbeat on the
token.  The execution's history shows ActivityScheduled, ActivityStarted (with the
worker's name), then ActivitySucceeded, ActivityFailed or ActivityTimedOut.

Activities are durable (``sfn_activities``); queued tasks belong to running executions
and live in memory with them (an execution interrupted by a restart is redriven).
"""

from __future__ import annotations

import re
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from localaws.errors import ServiceError

if TYPE_CHECKING:
    from localaws.stepfunctions.backend import StepFunctionsBackend

DDL = """
CREATE TABLE IF NOT EXISTS sfn_activities (
    arn TEXT PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    created REAL NOT NULL
);
"""

LONG_POLL_SECONDS = 60.0
ACTIVITY_ARN = re.compile(r"^arn:aws[a-z-]*:states:[a-z0-9-]+:\d{12}:activity:([^:]+)$")


@dataclass
class QueuedTask:
    token: str
    input: str
    started: Callable[[str | None], None] | None


class Activities:
    """The activities of one Step Functions backend and their queues of tasks."""

    def __init__(self, backend: StepFunctionsBackend):
        self.backend = backend
        self.db = backend.db
        self.db.ensure_schema("stepfunctions_activities", DDL)
        self._queues: dict[str, deque[QueuedTask]] = {}
        self._cond = threading.Condition()
        self.long_poll_seconds = LONG_POLL_SECONDS

    def _row(self, arn: Any) -> Any:
        if not isinstance(arn, str) or not ACTIVITY_ARN.match(arn):
            raise ServiceError(
                "InvalidArn", f"Invalid Arn: {str(arn)[:300]!r} is not an activity ARN"
            )
        row = self.db.query_one("SELECT * FROM sfn_activities WHERE arn = ?", (arn,))
        if row is None:
            raise ServiceError("ActivityDoesNotExist", f"Activity Does Not Exist: '{arn}'")
        return row

    def create(self, name: str) -> dict[str, Any]:
        arn = self.backend.runtime.arn("states", f"activity:{name}")
        now = time.time()
        with self.db.transaction() as conn:
            existing = conn.execute(
                "SELECT created FROM sfn_activities WHERE arn = ?", (arn,)
            ).fetchone()
            if existing is not None:  # CreateActivity is idempotent
                return {"activityArn": arn, "creationDate": _dt(existing["created"])}
            conn.execute(
                "INSERT INTO sfn_activities(arn, name, created) VALUES (?, ?, ?)", (arn, name, now)
            )
        return {"activityArn": arn, "creationDate": _dt(now)}

    def describe(self, arn: str) -> dict[str, Any]:
        row = self._row(arn)
        return {"activityArn": row["arn"], "name": row["name"], "creationDate": _dt(row["created"])}

    def list(self, limit: int, offset: int) -> tuple[list[dict[str, Any]], bool]:
        rows = self.db.query(
            "SELECT * FROM sfn_activities ORDER BY created, name LIMIT ? OFFSET ?",
            (limit + 1, offset),
        )
        items = [
            {"activityArn": r["arn"], "name": r["name"], "creationDate": _dt(r["created"])}
            for r in rows[:limit]
        ]
        return items, len(rows) > limit

    def delete(self, arn: str) -> None:
        if not isinstance(arn, str) or not ACTIVITY_ARN.match(arn):
            raise ServiceError(
                "InvalidArn", f"Invalid Arn: {str(arn)[:300]!r} is not an activity ARN"
            )
        with self.db.transaction() as conn:
            conn.execute("DELETE FROM sfn_activities WHERE arn = ?", (arn,))

    def exists(self, arn: str) -> bool:
        return self.db.query_one("SELECT 1 FROM sfn_activities WHERE arn = ?", (arn,)) is not None

    def enqueue(self, arn: str, task: QueuedTask) -> None:
        with self._cond:
            self._queues.setdefault(arn, deque()).append(task)
            self._cond.notify_all()

    def take(self, arn: str, worker: str | None) -> dict[str, Any]:
        """GetActivityTask: the next open task of the activity, waiting up to the long poll."""
        self._row(arn)
        deadline = time.monotonic() + self.long_poll_seconds
        with self._cond:
            while True:
                queue = self._queues.get(arn)
                while queue:
                    task = queue.popleft()
                    if self.backend.tokens.is_open(task.token):
                        if task.started is not None:
                            task.started(worker)
                        return {"taskToken": task.token, "input": task.input}
                left = deadline - time.monotonic()
                if left <= 0:
                    return {}
                self._cond.wait(left)


def _dt(ts: float) -> datetime:
    return datetime.fromtimestamp(ts, UTC)
