"""kill -9 of `serve` while a `.waitForTaskToken` task waits: after the restart the task
waits on its original token (its message, already sent, is not sent again), and
SendTaskSuccess with the pre-crash token completes the execution."""

from __future__ import annotations

import json
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
