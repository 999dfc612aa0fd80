"""SageMaker's state-change events on the default bus: the statuses present when the services
open are taken as seen at once, so a change within the watcher's first tick still has its
event (a tuning job of three small trainings ends in less than the tick)."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from botocore.config import Config

from localaws.server.serve import LocalServer
from localaws.store import JsonRecords

ARN = "arn:aws:sagemaker:us-east-1:123456789012:training-job/"


@pytest.fixture
def fresh(tmp_path: Any) -> Iterator[LocalServer]:
    """A server over a state directory no watcher has seen (the bug needs a first tick)."""
    with LocalServer(tmp_path / "state") as running:
        yield running


def test_a_change_before_the_first_tick_has_its_event(fresh: LocalServer) -> None:
    def client(service: str) -> Any:
        return boto3.client(
            service,
            endpoint_url=fresh.url,
            region_name="us-east-1",
            aws_access_key_id="test",
            aws_secret_access_key="test",
            config=Config(retries={"max_attempts": 1}),
        )

    records = JsonRecords(fresh.runtime.db)
    before = {"TrainingJobName": "before", "TrainingJobArn": ARN + "before"}
    records.put("TrainingJob", "before", {**before, "TrainingJobStatus": "Completed"}, time.time())
    sqs, events = client("sqs"), client("events")  # the first moto call opens the services
    url = sqs.create_queue(QueueName="changes")["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    events.put_rule(
        Name="training",
        EventPattern=json.dumps({"detail-type": ["SageMaker Training Job State Change"]}),
    )
    events.put_targets(Rule="training", Targets=[{"Id": "q", "Arn": arn}])
    # A job that starts and ends within the watcher's first half second.
    job = {"TrainingJobName": "quick", "TrainingJobArn": ARN + "quick"}
    records.put("TrainingJob", "quick", {**job, "TrainingJobStatus": "Completed"}, time.time())
    got: list[dict[str, Any]] = []
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and not got:
        got += sqs.receive_message(QueueUrl=url, WaitTimeSeconds=2).get("Messages", [])
    assert [json.loads(m["Body"])["detail"]["TrainingJobName"] for m in got] == ["quick"]
    # ... and the job present before the services opened has none (changes, not history).
    assert not sqs.receive_message(QueueUrl=url, WaitTimeSeconds=1).get("Messages")


def test_a_tick_parses_only_the_records_that_changed(
    tmp_path: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every tick reads every job's record (hundreds in a run of many models): the ones whose
    stored text did not change are not parsed again, and a change still has its event."""
    from types import SimpleNamespace

    from localaws.events import aws_sources
    from localaws.store import Database

    put: list[dict[str, Any]] = []
    db = Database(tmp_path / "runtime.db")
    events = SimpleNamespace(put_events=lambda Entries: put.extend(Entries))
    watcher = aws_sources.StateChangeEvents(SimpleNamespace(db=db, events=events))  # type: ignore[arg-type]
    records = JsonRecords(db)
    for name in ("a", "b", "c"):
        job = {"TrainingJobName": name, "TrainingJobArn": ARN + name}
        records.put("TrainingJob", name, {**job, "TrainingJobStatus": "InProgress"}, time.time())
    parsed: list[str] = []
    entry = aws_sources._sagemaker_entry

    def counting(kind: str, members: Any, body: str) -> Any:
        parsed.append(json.loads(body)["TrainingJobName"])
        return entry(kind, members, body)

    monkeypatch.setattr(aws_sources, "_sagemaker_entry", counting)
    watcher.prime()
    assert sorted(parsed) == ["a", "b", "c"]
    parsed.clear()
    assert watcher.tick() == 0
    assert parsed == []
    job = {"TrainingJobName": "b", "TrainingJobArn": ARN + "b"}
    records.put("TrainingJob", "b", {**job, "TrainingJobStatus": "Completed"}, time.time())
    assert watcher.tick() == 1
    assert parsed == ["b"]
    assert json.loads(put[-1]["Detail"])["TrainingJobStatus"] == "Completed"
