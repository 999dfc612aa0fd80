"""kill -9 of `serve` while a Parallel's Map of `.waitForTaskToken` tasks waits: the
continued execution's history reads as an uninterrupted run's (no state entered twice,
no task scheduled, started or submitted twice, no message sent twice)."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Any

from crash_support import ROLE, Serve, wait_until

ITEMS = [1, 2, 3]

DEFINITION = {
    "StartAt": "Fan",
    "States": {
        "Fan": {
            "Type": "Parallel",
            "Branches": [
                {
                    "StartAt": "Asks",
                    "States": {
                        "Asks": {
                            "Type": "Map",
                            "ItemsPath": "$.items",
                            "ItemSelector": {"item.$": "$$.Map.Item.Value", "queue.$": "$.queue"},
                            "ItemProcessor": {
                                "StartAt": "Ask",
                                "States": {
                                    "Ask": {
                                        "Type": "Task",
                                        "Resource": "arn:aws:states:::sqs:sendMessage.waitForTaskToken",
                                        "Parameters": {
                                            "QueueUrl.$": "$.queue",
                                            "MessageBody": {
                                                "token.$": "$$.Task.Token",
                                                "item.$": "$.item",
                                            },
                                        },
                                        "End": True,
                                    }
                                },
                            },
                            "End": True,
                        }
                    },
                },
                {"StartAt": "Note", "States": {"Note": {"Type": "Pass", "End": True}}},
            ],
            "End": True,
        }
    },
}


def receive(serve: Serve, queue: str) -> list[dict[str, Any]]:
    """Every message in the queue (left visible), as sent."""
    sqs = serve.client("sqs")
    found: dict[str, dict[str, Any]] = {}
    for _ in range(3):  # a receive samples the queue: ask until no new message comes
        for m in sqs.receive_message(
            QueueUrl=queue, MaxNumberOfMessages=10, WaitTimeSeconds=1, VisibilityTimeout=0
        ).get("Messages", []):
            found[m["MessageId"]] = json.loads(m["Body"])
    return list(found.values())


def submitted(sfn: Any, arn: str) -> int:
    events = sfn.get_execution_history(executionArn=arn, maxResults=1000)["events"]
    return sum(e["type"] == "TaskSubmitted" for e in events)


def answer(serve: Serve, queue: str, arn: str) -> dict[str, Any]:
    """Answer each message with its item; the execution's describe once it ended."""
    sfn = serve.client("stepfunctions")
    for body in receive(serve, queue):
        sfn.send_task_success(taskToken=body["token"], output=json.dumps({"got": body["item"]}))
    return wait_until(
        lambda: (d := sfn.describe_execution(executionArn=arn))["status"] != "RUNNING" and d,
        60,
        "the execution to end",
    )


def history(serve: Serve, arn: str) -> list[dict[str, Any]]:
    sfn = serve.client("stepfunctions")
    return sfn.get_execution_history(executionArn=arn, maxResults=1000)["events"]


def test_continued_history_reads_as_uninterrupted(tmp_path: Path) -> None:
    state = tmp_path / "state"
    state.mkdir()
    serve = Serve(state).start()
    try:
        sqs = serve.client("sqs")
        sfn = serve.client("stepfunctions")
        machine = sfn.create_state_machine(
            name="asks", definition=json.dumps(DEFINITION), roleArn=ROLE
        )["stateMachineArn"]
        start = {"items": ITEMS}

        plain_queue = sqs.create_queue(QueueName="plain")["QueueUrl"]
        plain = sfn.start_execution(
            stateMachineArn=machine, name="plain", input=json.dumps({**start, "queue": plain_queue})
        )["executionArn"]
        wait_until(lambda: submitted(sfn, plain) == len(ITEMS), 60, "the plain run's asks")
        assert answer(serve, plain_queue, plain)["status"] == "SUCCEEDED"

        queue = sqs.create_queue(QueueName="crash")["QueueUrl"]
        arn = sfn.start_execution(
            stateMachineArn=machine, name="crash", input=json.dumps({**start, "queue": queue})
        )["executionArn"]
        wait_until(lambda: submitted(sfn, arn) == len(ITEMS), 60, "the asks to be sent")
        before = history(serve, arn)
        serve.kill()

        serve = Serve(state).start()
        sent = receive(serve, queue)
        assert sorted(b["item"] for b in sent) == ITEMS  # each message sent once
        done = answer(serve, queue, arn)
        assert done["status"] == "SUCCEEDED", done
        assert json.loads(done["output"]) == [
            [{"got": i} for i in ITEMS],
            {**start, "queue": queue},
        ]
        events = history(serve, arn)
        assert events[: len(before)] == before  # what was recorded stays as it was
        ids = {e["id"] for e in events}
        assert all(e["previousEventId"] in ids | {0} for e in events)
        counts = Counter(e["type"] for e in events)
        assert counts == Counter(e["type"] for e in history(serve, plain))
        entered = Counter(
            e["stateEnteredEventDetails"]["name"] for e in events if "stateEnteredEventDetails" in e
        )
        assert entered == {"Fan": 1, "Asks": 1, "Note": 1, "Ask": len(ITEMS)}
    finally:
        serve.stop()
