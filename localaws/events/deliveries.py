"""The last deliveries of each EventBridge rule: target, time, outcome (the console's rule page).

AWS shows a rule's deliveries only as CloudWatch metrics (Invocations, FailedInvocations,
DeadLetterInvocations); locally the dispatcher (:mod:`.dispatcher`) records every attempt
in the runtime's database (table ``events_delivery``, durable), and keeps the newest
``KEEP_PER_RULE`` rows of each rule.  Outcomes:

* ``Delivered``: the target accepted the event;
* ``Retrying``: the target refused it (the error recorded), another attempt is due;
* ``DeadLettered``: retries exhausted, sent to the target's dead-letter queue;
* ``Dropped``: retries exhausted and no dead-letter queue.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from localaws.store import Database

KEEP_PER_RULE = 50
OUTCOMES = ("Delivered", "Retrying", "DeadLettered", "Dropped")
DDL = """
CREATE TABLE IF NOT EXISTS events_delivery (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    rule TEXT NOT NULL,
    target TEXT NOT NULL,
    event_id TEXT NOT NULL,
    at REAL NOT NULL,
    attempt INTEGER NOT NULL,
    outcome TEXT NOT NULL,
    error TEXT
);
CREATE INDEX IF NOT EXISTS events_delivery_rule ON events_delivery(rule, id);
"""


class DeliveryLog:
    """A small bounded history of deliveries per rule ARN."""

    def __init__(self, db: Database, keep: int = KEEP_PER_RULE):
        self.db = db
        self.keep = keep
        db.ensure_schema("events_delivery", DDL)

    def record(
        self,
        rule_arn: str,
        target_arn: str,
        event_id: str,
        attempt: int,
        outcome: str,
        error: str | None = None,
    ) -> None:
        if outcome not in OUTCOMES:
            raise ValueError(f"outcome {outcome!r}: one of {', '.join(OUTCOMES)}")
        with self.db.transaction() as conn:
            conn.execute(
                "INSERT INTO events_delivery(rule, target, event_id, at, attempt, outcome, error) "
                "VALUES (?, ?, ?, ?, ?, ?, ?)",
                (rule_arn, target_arn, event_id, time.time(), attempt + 1, outcome, error),
            )
            conn.execute(
                "DELETE FROM events_delivery WHERE rule = ? AND id <= ("
                "SELECT id FROM events_delivery WHERE rule = ? ORDER BY id DESC LIMIT 1 OFFSET ?)",
                (rule_arn, rule_arn, self.keep),
            )

    def recent(self, rule_arn: str) -> list[dict[str, Any]]:
        """The rule's recorded deliveries, newest first."""
        rows = self.db.query(
            "SELECT target, event_id, at, attempt, outcome, error FROM events_delivery "
            "WHERE rule = ? ORDER BY id DESC",
            (rule_arn,),
        )
        return [
            {
                "target": r["target"],
                "eventId": r["event_id"],
                "time": r["at"],
                "attempt": r["attempt"],
                "outcome": r["outcome"],
                "error": r["error"],
            }
            for r in rows
        ]
