"""EventBridge scheduled rules: ``rate(...)`` and ``cron(...)`` expressions.

One thread looks at the enabled rules with a ``ScheduleExpression`` (moto keeps them) once
a second.  A rule's next run is computed from the last one, which is kept in the runtime's
database (``events.schedule`` records) so a restart neither repeats a run nor runs the
missed ones again (EventBridge does not catch up either).  A new rule's first run is one
period after it is first seen for ``rate``, the next matching minute for ``cron``.  A due
rule's ``Scheduled Event`` (source ``aws.events``, the rule's ARN in ``resources``) goes to
the dispatcher's outbox, which delivers it to the rule's targets.

``cron(minutes hours day-of-month month day-of-week year)`` is AWS's six-field form (UTC):
``?`` is any, day-of-week counts 1-7 from Sunday; :func:`next_cron` turns it into croniter's
five fields (and checks the year field itself).
"""

from __future__ import annotations

import logging
import re
import threading
import time
import uuid
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from localaws.errors import UserError
from localaws.events.dispatcher import iso
from localaws.store import JsonRecords

if TYPE_CHECKING:
    from localaws.events.dispatcher import EventsDispatcher
    from localaws.runtime import Runtime

log = logging.getLogger(__name__)

KIND = "events.schedule"
TICK_S = 1.0
_RATE = re.compile(r"^rate\((\d+)\s+(minute|minutes|hour|hours|day|days)\)$")
_CRON = re.compile(r"^cron\((.+)\)$")
_UNIT_S = {"minute": 60, "hour": 3600, "day": 86400}
_DAY_NAMES = ("SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT")


def parse_rate(expression: str) -> float | None:
    m = _RATE.match(expression.strip())
    if m is None:
        return None
    value, unit = int(m[1]), m[2].rstrip("s")
    if value < 1:
        raise UserError(f"ScheduleExpression: {expression!r}: the rate must be at least 1")
    return float(value * _UNIT_S[unit])


def _aws_dow_to_cron(field: str) -> str:
    """AWS counts days of the week 1 (SUN) to 7 (SAT); cron counts 0 (SUN) to 6."""

    def one(token: str) -> str:
        if token.isdigit():
            return str((int(token) - 1) % 7)
        return token

    parts = []
    for item in field.split(","):
        step = ""
        if "/" in item:
            item, step = item.split("/", 1)
            step = "/" + step
        if "#" in item:
            day, nth = item.split("#", 1)
            parts.append(f"{one(day)}#{nth}{step}")
        elif "-" in item:
            low, high = item.split("-", 1)
            parts.append(f"{one(low)}-{one(high)}{step}")
        else:
            parts.append(one(item) + step)
    return ",".join(parts)


def next_cron(expression: str, after: float) -> float:
    """The next time (epoch seconds, UTC) after ``after`` that an AWS cron expression names."""
    from croniter import croniter

    m = _CRON.match(expression.strip())
    fields = m[1].split() if m else []
    if len(fields) != 6:
        raise UserError(
            f"ScheduleExpression: {expression!r}: AWS cron has six fields "
            "(minutes hours day-of-month month day-of-week year), e.g. cron(0 12 * * ? *)"
        )
    minutes, hours, dom, month, dow, year = fields
    dom = "*" if dom == "?" else dom
    dow = "*" if dow == "?" else _aws_dow_to_cron(dow)
    spec = f"{minutes} {hours} {dom} {month} {dow}"
    try:
        it = croniter(spec, datetime.fromtimestamp(after, UTC))
        for _ in range(1000):
            candidate: datetime = it.get_next(datetime)
            if year in ("*", "?") or _year_matches(year, candidate.year):
                return candidate.timestamp()
            later = [
                y for y in range(candidate.year + 1, candidate.year + 200) if _year_matches(year, y)
            ]
            if not later:
                break
            start = datetime(later[0], 1, 1, tzinfo=UTC).timestamp() - 1
            it = croniter(spec, datetime.fromtimestamp(start, UTC))
    except (ValueError, KeyError) as e:
        raise UserError(f"ScheduleExpression: {expression!r} is not a valid cron: {e}") from e
    raise UserError(f"ScheduleExpression: {expression!r} names no time in the years to come")


def _year_matches(field: str, year: int) -> bool:
    for item in field.split(","):
        if "-" in item:
            low, high = item.split("-", 1)
            if int(low) <= year <= int(high):
                return True
        elif item.isdigit() and int(item) == year:
            return True
    return False


def next_run(expression: str, last: float) -> float:
    rate = parse_rate(expression)
    if rate is not None:
        return last + rate
    return next_cron(expression, last)


class Scheduler(threading.Thread):
    """Fires scheduled rules into the dispatcher's outbox."""

    def __init__(self, runtime: Runtime, dispatcher: EventsDispatcher):
        super().__init__(name="events scheduler", daemon=True)
        self.runtime = runtime
        self.dispatcher = dispatcher
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
                log.exception("the EventBridge scheduler failed a tick")

    def tick(self, now: float) -> int:
        """Fire every rule due at ``now``; returns how many fired."""
        fired = 0
        for rule in self._scheduled_rules():
            arn, expression = rule.arn, rule.scheduled_expression
            state = self.records.get(KIND, arn)
            if state is None or state.get("expression") != expression:
                self.records.put(KIND, arn, {"expression": expression, "last": now}, now)
                continue
            try:
                due = next_run(expression, float(state["last"]))
            except UserError:
                log.exception("rule %s", arn)
                continue
            if due > now:
                continue
            event = {
                "version": "0",
                "id": str(uuid.uuid4()),
                "detail-type": "Scheduled Event",
                "source": "aws.events",
                "account": self.runtime.account_id,
                "time": iso(due),
                "region": self.runtime.region,
                "resources": [arn],
                "detail": {},
            }
            self.dispatcher.queue(arn, list(rule.targets), event)
            last = due if now - due < 5 * TICK_S else now  # keep a rate's cadence
            self.records.put(KIND, arn, {"expression": expression, "last": last}, now)
            fired += 1
        return fired

    def _scheduled_rules(self) -> list[Any]:
        from moto.events.models import events_backends

        bridge = self.runtime.motobridge
        with bridge._lock:  # moto's structures change under this lock only
            backend = events_backends[self.runtime.account_id][self.runtime.region]
            return [
                rule
                for bus in list(backend.event_buses.values())
                for rule in list(bus.rules.values())
                if rule.state == "ENABLED" and rule.scheduled_expression
            ]
