"""EventBridge delivery: events matched against rules, delivered to their targets.

moto stores buses, rules and targets and accepts ``PutEvents``; it does not deliver (the
adaptation in :mod:`localaws.motobridge.adaptations` leaves it only CloudWatch Logs,
archives and other buses).  The dispatcher observes every accepted ``PutEvents``
(:meth:`MotoBridge.observe`, under the bridge's lock, before the reply leaves), rebuilds each
event's envelope with the ``EventId`` moto gave it, matches it against the enabled rules of
its bus with moto's own pattern matcher, and queues one delivery per matching target in the
``events.target`` outbox (durable).  The scheduler (:mod:`.scheduler`) queues the
``Scheduled Event`` of a rule whose schedule is due in the same outbox.

A delivery computes the target's input as EventBridge does (``Input`` verbatim,
``InputPath`` a JSONPath into the event, ``InputTransformer`` with ``InputPathsMap`` and
``InputTemplate``, else the whole event) and sends it: Step Functions ``StartExecution``,
Lambda asynchronous ``Invoke``, SQS ``SendMessage`` (``SqsParameters.MessageGroupId``), SNS
``Publish``.  A failed delivery is retried with a backoff up to the target's
``RetryPolicy.MaximumRetryAttempts`` (default 185), then sent to its
``DeadLetterConfig.Arn`` queue when it has one, as on AWS.  Every attempt's outcome is
recorded in the rule's bounded delivery history (:mod:`.deliveries`).
"""

from __future__ import annotations

import json
import logging
import re
import time
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from localaws.errors import ServiceError
from localaws.events.deliveries import DeliveryLog
from localaws.outbox import Outbox

if TYPE_CHECKING:
    from localaws.motobridge.bridge import Mutation
    from localaws.runtime import Runtime

log = logging.getLogger(__name__)

CHANNEL = "events.target"
DELIVERED_HERE = ("states", "lambda", "sqs", "sns")
DEFAULT_RETRIES = 185
MAX_RETRY_DELAY_S = 30.0


def iso(at: float) -> str:
    return datetime.fromtimestamp(at, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class EventsDispatcher:
    """Matches events against rules and delivers them to the rules' targets."""

    def __init__(self, runtime: Runtime):
        self.runtime = runtime
        self.outbox = Outbox(runtime.db, CHANNEL, self._deliver, workers=2)
        self.deliveries = DeliveryLog(runtime.db)

    # -- matching (under the bridge's lock) ------------------------------------------------

    def observe(self, mutation: Mutation) -> None:
        if mutation.service != "events" or mutation.operation != "PutEvents":
            return
        request = json.loads(mutation.body or b"{}")
        reply = json.loads(mutation.reply.body or b"{}")
        now = time.time()
        for entry, result in zip(
            request.get("Entries", []), reply.get("Entries", []), strict=False
        ):
            if "EventId" not in result:
                continue
            at = entry.get("Time", now)
            event = {
                "version": "0",
                "id": result["EventId"],
                "detail-type": entry.get("DetailType"),
                "source": entry.get("Source"),
                "account": self.runtime.account_id,
                "time": iso(float(at) if not isinstance(at, str) else now),
                "region": self.runtime.region,
                "resources": entry.get("Resources", []),
                "detail": json.loads(entry.get("Detail") or "{}"),
            }
            self.match(entry.get("EventBusName"), event)

    def match(self, bus_name: str | None, event: dict[str, Any]) -> int:
        """Queue ``event`` for the targets of every enabled rule of the bus it matches."""
        from moto.events.models import events_backends

        backend = events_backends[self.runtime.account_id][self.runtime.region]
        bus = backend.describe_event_bus(backend._normalize_event_bus_arn(bus_name))
        queued = 0
        for rule in list(bus.rules.values()):
            if rule.state != "ENABLED" or not rule.event_pattern.get_pattern():
                continue  # a schedule's rule (no pattern) matches no event; moto's matches all
            if not rule.event_pattern.matches_event(event):  # type: ignore[arg-type]
                continue
            queued += self.queue(rule.arn, list(rule.targets), event)
        return queued

    def queue(self, rule_arn: str, targets: list[dict[str, Any]], event: dict[str, Any]) -> int:
        queued = 0
        for target in targets:
            if target["Arn"].split(":")[2] in DELIVERED_HERE:
                self.outbox.put({"rule": rule_arn, "target": target, "event": event})
                queued += 1
        return queued

    # -- delivery ------------------------------------------------------------------------

    def _deliver(self, item: dict[str, Any], attempt: int) -> float | None:
        target, event = item["target"], item["event"]

        def record(outcome: str, error: ServiceError | None = None) -> None:
            # The history is for people: failing to write it must never fail (and so
            # repeat) a delivery that was made.
            text = None if error is None else f"{error.code}: {error.message}"[:500]
            try:
                self.deliveries.record(
                    item["rule"], target["Arn"], event["id"], attempt, outcome, text
                )
            except Exception:
                log.exception("EventBridge: recording a delivery of rule %s failed", item["rule"])

        try:
            send(self.runtime, target, target_input(target, event))
        except ServiceError as e:
            retries = int(
                (target.get("RetryPolicy") or {}).get("MaximumRetryAttempts", DEFAULT_RETRIES)
            )
            if attempt < retries:
                record("Retrying", e)
                return min(2.0**attempt, MAX_RETRY_DELAY_S)
            dead_letter = (target.get("DeadLetterConfig") or {}).get("Arn")
            if dead_letter:
                url = self.runtime.sqs.get_queue_url(QueueName=dead_letter.split(":")[5])
                self.runtime.sqs.send_message(
                    QueueUrl=url["QueueUrl"],
                    MessageBody=json.dumps(event),
                    MessageAttributes={
                        "RULE_ARN": {"DataType": "String", "StringValue": item["rule"]},
                        "TARGET_ARN": {"DataType": "String", "StringValue": target["Arn"]},
                        "ERROR_CODE": {"DataType": "String", "StringValue": e.code},
                        "ERROR_MESSAGE": {"DataType": "String", "StringValue": e.message[:256]},
                    },
                )
            else:
                log.warning(
                    "EventBridge target %s of %s dropped event %s after %s attempts: %s",
                    target["Arn"],
                    item["rule"],
                    event["id"],
                    attempt + 1,
                    e,
                )
            record("DeadLettered" if dead_letter else "Dropped", e)
            return None
        record("Delivered")
        return None


def target_input(target: dict[str, Any], event: dict[str, Any]) -> str:
    """The text a target receives for ``event`` (Input, InputPath, InputTransformer)."""
    if target.get("Input") is not None:
        return str(target["Input"])
    if target.get("InputPath"):
        from jsonpath_ng.ext import parse

        found = parse(target["InputPath"]).find(event)
        return json.dumps(found[0].value if found else None)
    transformer = target.get("InputTransformer")
    if transformer:
        return transform(transformer, event)
    return json.dumps(event)


def transform(transformer: dict[str, Any], event: dict[str, Any]) -> str:
    """``InputTemplate`` with each ``<name>`` replaced by the value of its ``InputPathsMap``
    path: a string value quoted inside a JSON template's quotes stays text, any other value
    goes in as JSON; ``<aws.events.event>`` is the whole event.  In a JSON template (one
    that starts with ``{`` or ``[``) an unquoted placeholder of a string value goes in as a
    JSON string (``{"id": <id>}`` -> ``{"id": "i-123"}``), as AWS does; in a text template
    it is the bare text."""
    from jsonpath_ng.ext import parse

    template = str(transformer.get("InputTemplate", ""))
    values: dict[str, Any] = {
        "aws.events.event": event,
        "aws.events.rule-arn": None,
        "aws.events.event.ingestion-time": event.get("time"),
    }
    for name, path in (transformer.get("InputPathsMap") or {}).items():
        found = parse(path).find(event)
        values[name] = found[0].value if found else None
    if not template.lstrip().startswith(("{", "[")):
        out = template
        for name, value in values.items():
            token = f"<{name}>"
            if token in out:
                out = out.replace(token, value if isinstance(value, str) else json.dumps(value))
        return out
    return _fill_json_template(template, values)


_PLACEHOLDER = re.compile(r"<([A-Za-z0-9_.\-]+)>")


def _fill_json_template(template: str, values: dict[str, Any]) -> str:
    """A JSON template's placeholders: inside a JSON string a value goes in as text (escaped
    for the string), outside one as a JSON value (a string value quoted)."""
    out: list[str] = []
    in_string = False
    i = 0
    while i < len(template):
        ch = template[i]
        if in_string and ch == "\\":
            out.append(template[i : i + 2])
            i += 2
            continue
        if ch == '"':
            in_string = not in_string
        elif ch == "<":
            m = _PLACEHOLDER.match(template, i)
            if m and m.group(1) in values:
                value = values[m.group(1)]
                if in_string:
                    text = value if isinstance(value, str) else json.dumps(value)
                    out.append(json.dumps(text)[1:-1])
                else:
                    out.append(json.dumps(value))
                i = m.end()
                continue
        out.append(ch)
        i += 1
    return "".join(out)


def send(runtime: Runtime, target: dict[str, Any], text: str) -> None:
    arn = target["Arn"]
    service = arn.split(":")[2]
    if service == "states":
        runtime.stepfunctions.start_execution(stateMachineArn=arn, input=text)
    elif service == "lambda":
        runtime.lambda_.invoke(FunctionName=arn, InvocationType="Event", Payload=text.encode())
    elif service == "sqs":
        url = runtime.sqs.get_queue_url(QueueName=arn.split(":")[5])["QueueUrl"]
        params: dict[str, Any] = {"QueueUrl": url, "MessageBody": text}
        group = (target.get("SqsParameters") or {}).get("MessageGroupId")
        if group:
            params["MessageGroupId"] = group
        runtime.sqs.send_message(**params)
    elif service == "sns":
        runtime.sns.publish(TopicArn=arn, Message=text)
