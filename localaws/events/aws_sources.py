"""AWS's own events on the default bus: SageMaker and Step Functions state changes.

On AWS, SageMaker puts ``SageMaker Training Job State Change`` (and Processing, Transform,
Endpoint, HyperParameter Tuning Job) events and Step Functions ``Step Functions Execution Status Change`` events on the
default bus, where rules pick them up.  Locally a small poller watches the state the
backends already keep (SageMaker's resource records, the ``sfn_executions`` table), without
any hook in the backends, and puts one event per status it has not seen yet through
``PutEvents`` (journaled, then matched and delivered by :mod:`.dispatcher`).  What it has
seen is kept in the runtime's database; when it first runs over a state directory it takes
the present statuses as seen (it reports changes, not history).
"""

from __future__ import annotations

import json
import logging
import sqlite3
import threading
import time
from collections.abc import Callable
from datetime import datetime
from typing import TYPE_CHECKING, Any

from localaws.store import JsonRecords

if TYPE_CHECKING:
    from localaws.runtime import Runtime

log = logging.getLogger(__name__)

KIND = "events.state-seen"
TICK_S = 0.5
RECENT_S = 300.0  # executions that stopped longer ago than this are not looked at again
# SageMaker record kind -> (status member, ARN member, detail-type)
SAGEMAKER = {
    "TrainingJob": ("TrainingJobStatus", "TrainingJobArn", "SageMaker Training Job State Change"),
    "ProcessingJob": (
        "ProcessingJobStatus",
        "ProcessingJobArn",
        "SageMaker Processing Job State Change",
    ),
    "TransformJob": (
        "TransformJobStatus",
        "TransformJobArn",
        "SageMaker Transform Job State Change",
    ),
    "Endpoint": ("EndpointStatus", "EndpointArn", "SageMaker Endpoint State Change"),
    "HyperParameterTuningJob": (
        "HyperParameterTuningJobStatus",
        "HyperParameterTuningJobArn",
        "SageMaker HyperParameter Tuning Job State Change",
    ),
}
STATES_DETAIL_TYPE = "Step Functions Execution Status Change"
Entry = tuple[str, str, dict[str, Any]]  # (resource key, status, PutEvents entry)


def _ms(value: Any) -> int | None:
    if value is None:
        return None
    if isinstance(value, int | float):
        return int(value * 1000)
    try:
        return int(datetime.fromisoformat(str(value)).timestamp() * 1000)
    except ValueError:
        return None


class StateChangeEvents(threading.Thread):
    def __init__(self, runtime: Runtime):
        super().__init__(name="aws state-change events", daemon=True)
        self.runtime = runtime
        self.records = JsonRecords(runtime.db)
        self._stop_event = threading.Event()
        # what each resource's stored text last gave: a tick parses only what changed (a run
        # of many jobs keeps hundreds of records, read every tick)
        self._parsed: dict[str, tuple[Any, Entry | None]] = {}

    def stop(self) -> None:
        self._stop_event.set()

    def prime(self) -> None:
        """Over a state directory never watched before, take the present statuses as seen,
        now (when the services bridge opens), not at the first tick: a resource that changes
        within the first tick's half second (a tuning job of three small trainings ends in
        less) still gets its event."""
        if self.records.get(KIND, "seen") is None:
            current = self._current(time.time() - RECENT_S)
            self.records.put(KIND, "seen", {key: status for key, status, _ in current}, time.time())

    def run(self) -> None:
        while not self._stop_event.wait(TICK_S):
            try:
                self.tick()
            except Exception:
                if self._stop_event.is_set():
                    return
                log.exception("state-change events failed a tick")

    def tick(self) -> int:
        """Put the events of every status change since the last tick; returns how many."""
        seen_record = self.records.get(KIND, "seen")
        if seen_record is None:  # never primed (a watcher not started by the bridge)
            self.prime()
            return 0
        seen: dict[str, str] = dict(seen_record)
        current = self._current(time.time() - RECENT_S)
        entries = [entry for key, status, entry in current if seen.get(key) != status]
        # Forget what is no longer current (finished long ago): it will not change again.
        seen = {key: status for key, status, _ in current}
        for start in range(0, len(entries), 10):
            self.runtime.events.put_events(Entries=entries[start : start + 10])
        if entries or seen != seen_record:
            self.records.put(KIND, "seen", seen, time.time())
        return len(entries)

    def _current(self, since: float) -> list[Entry]:
        """Resources that may still change or changed after ``since``."""
        found: list[Entry] = []
        parsed: dict[str, tuple[Any, Entry | None]] = {}

        def once(key: str, raw: Any, build: Callable[..., Entry | None], *args: Any) -> None:
            known = self._parsed.get(key)
            entry = known[1] if known is not None and known[0] == raw else build(*args)
            parsed[key] = (raw, entry)
            if entry is not None:
                found.append(entry)

        for kind, members in SAGEMAKER.items():
            for name, body in self.records.bodies(kind):
                once(f"{kind}:{name}", body, _sagemaker_entry, kind, members, body)
        try:
            rows = self.runtime.db.query(
                "SELECT arn, state_machine_arn, name, status, start, stop, input, output, "
                "error, cause FROM sfn_executions WHERE stop IS NULL OR stop >= ?",
                (since,),
            )
        except sqlite3.OperationalError:  # Step Functions never used here
            rows = []
        for row in rows:
            once(f"states:{row['arn']}", tuple(row), _states_entry, row)
        self._parsed = parsed
        return found


def _sagemaker_entry(kind: str, members: tuple[str, str, str], body: str) -> Entry | None:
    status_member, arn_member, detail_type = members
    record = json.loads(body)
    status = record.get(status_member)
    arn = record.get(arn_member)
    if not status or not arn:
        return None
    return (
        f"{kind}/{arn}",
        str(status),
        {
            "Source": "aws.sagemaker",
            "DetailType": detail_type,
            "Resources": [arn],
            "Detail": json.dumps(record),
        },
    )


def _states_entry(row: sqlite3.Row) -> Entry:
    detail = {
        "executionArn": row["arn"],
        "stateMachineArn": row["state_machine_arn"],
        "name": row["name"],
        "status": row["status"],
        "startDate": _ms(row["start"]),
        "stopDate": _ms(row["stop"]),
        "input": row["input"],
        "output": row["output"],
        "inputDetails": {"included": True},
        "outputDetails": {"included": True} if row["output"] is not None else None,
        "error": row["error"],
        "cause": row["cause"],
    }
    return (
        f"states/{row['arn']}",
        str(row["status"]),
        {
            "Source": "aws.states",
            "DetailType": STATES_DETAIL_TYPE,
            "Resources": [row["arn"]],
            "Detail": json.dumps(detail),
        },
    )
