"""kill -9 of `serve` while a `.waitForTaskToken` task waits: after the restart the task
waits on its original token (its message, already sent, is not sent again), and
SendTaskSuccess with the pre-crash token completes the execution."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

from crash_support import ROLE, Serve, wait_until

DEFINITION = {
    "StartAt": "Ask",
    "States": {
        "Ask": {
            "Type": "Task",
            "Resource": "arn:aws:states:::sqs:sendMessage.waitForTaskToken",
            "Parameters": {
                "QueueUrl.$": "$.queue",
                "MessageBody": {"token.$": "$$.Task.Token"},
            },
            "ResultPath": "$.answer",
            "End": True,
        }
    },
}


def receive_tokens(serve: Serve, queue: str) -> list[str]:
    messages = serve.client("sqs").receive_message(
        QueueUrl=queue, MaxNumberOfMessages=10, WaitTimeSeconds=1, VisibilityTimeout=0
    )
    return [json.loads(m["Body"])["token"] for m in messages.get("Messages", [])]


def test_pre_crash_token_completes_the_execution(tmp_path: Path) -> None:
    state = tmp_path / "state"
    state.mkdir()
    serve = Serve(state).start()
    try:
        queue = serve.client("sqs").create_queue(QueueName="asks")["QueueUrl"]
        sfn = serve.client("stepfunctions")
        machine = sfn.create_state_machine(
            name="ask", definition=json.dumps(DEFINITION), roleArn=ROLE
        )["stateMachineArn"]
        arn = sfn.start_execution(
            stateMachineArn=machine, name="run", input=json.dumps({"queue": queue})
        )["executionArn"]
        wait_until(
            lambda: any(
                e["type"] == "TaskSubmitted"
                for e in sfn.get_execution_history(executionArn=arn)["events"]
            ),
            60,
            "the message to be sent",
        )
        [token] = receive_tokens(serve, queue)
        serve.kill()

        serve = Serve(state).start()
        sfn = serve.client("stepfunctions")
        sfn.send_task_success(taskToken=token, output=json.dumps({"ok": True}))
        done = wait_until(
            lambda: (d := sfn.describe_execution(executionArn=arn))["status"] != "RUNNING" and d,
            60,
            "the execution to end",
        )
        assert done["status"] == "SUCCEEDED", done
        assert json.loads(done["output"]) == {"queue": queue, "answer": {"ok": True}}
        assert receive_tokens(serve, queue) == [token]  # not sent a second time
        types = [e["type"] for e in sfn.get_execution_history(executionArn=arn)["events"]]
        # the resumed state goes on from its recorded events: none of them recorded twice
        assert types == [
            "ExecutionStarted",
            "TaskStateEntered",
            "TaskScheduled",
            "TaskStarted",
            "TaskSubmitted",
            "TaskSucceeded",
            "TaskStateExited",
            "ExecutionSucceeded",
        ]
    finally:
        serve.stop()


def forget_submitted(state: Path, arn: str) -> None:
    """Make the dead server's database what a crash between the send and its record leaves:
    the token kept (recorded before the send), TaskSubmitted not recorded."""
    with sqlite3.connect(state / "runtime.db") as db:
        db.execute(
            "DELETE FROM sfn_history WHERE execution_arn = ? AND type = 'TaskSubmitted'", (arn,)
        )
        [(key, kept)] = db.execute(
            "SELECT key, output FROM sfn_progress WHERE execution_arn = ? AND key LIKE 'token:%'",
            (arn,),
        ).fetchall()
        db.execute(
            "UPDATE sfn_progress SET output = ? WHERE execution_arn = ? AND key = ?",
            (json.dumps({**json.loads(kept), "submitted": False}), arn, key),
        )


def test_message_sent_before_its_record_is_not_sent_again(tmp_path: Path) -> None:
    state = tmp_path / "state"
    state.mkdir()
    serve = Serve(state).start()
    try:
        queue = serve.client("sqs").create_queue(QueueName="asks")["QueueUrl"]
        sfn = serve.client("stepfunctions")
        machine = sfn.create_state_machine(
            name="ask", definition=json.dumps(DEFINITION), roleArn=ROLE
        )["stateMachineArn"]
        arn = sfn.start_execution(
            stateMachineArn=machine, name="run", input=json.dumps({"queue": queue})
        )["executionArn"]
        wait_until(
            lambda: any(
                e["type"] == "TaskSubmitted"
                for e in sfn.get_execution_history(executionArn=arn)["events"]
            ),
            60,
            "the message to be sent",
        )
        serve.kill()
        forget_submitted(state, arn)

        serve = Serve(state).start()
        sfn = serve.client("stepfunctions")
        wait_until(
            lambda: any(
                e["type"] == "TaskSubmitted"
                for e in sfn.get_execution_history(executionArn=arn)["events"]
            ),
            60,
            "the task to go on",
        )
        [token] = receive_tokens(serve, queue)  # the message in the queue, not a second one
        sfn.send_task_success(taskToken=token, output=json.dumps({"ok": True}))
        done = wait_until(
            lambda: (d := sfn.describe_execution(executionArn=arn))["status"] != "RUNNING" and d,
            60,
            "the execution to end",
        )
        assert done["status"] == "SUCCEEDED", done
        types = [e["type"] for e in sfn.get_execution_history(executionArn=arn)["events"]]
        assert types.count("TaskSubmitted") == 1 and types.count("TaskScheduled") == 1
    finally:
        serve.stop()
