"""Kill the process running an execution; the next runtime marks it interrupted; redrive finishes it."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
from pathlib import Path

from sfn_helpers import CALLBACK, PASSTHROUGH, chain, history, registry, wait_for

from localaws.runtime import Runtime
from localaws.stepfunctions.backend import StepFunctionsBackend

ROOT = Path(__file__).resolve().parents[2]

DEFINITION = chain(
    (
        "One",
        {"Type": "Task", "Resource": PASSTHROUGH, "Parameters": {"n": 1}, "ResultPath": "$.one"},
    ),
    (
        "Two",
        {"Type": "Task", "Resource": PASSTHROUGH, "Parameters": {"n": 2}, "ResultPath": "$.two"},
    ),
    (
        "Long",
        {
            "Type": "Task",
            "Resource": CALLBACK,
            "Parameters": {"token.$": "$$.Task.Token"},
            "ResultPath": "$.long",
        },
    ),
    ("Done", {"Type": "Pass"}),
)

CHILD = textwrap.dedent(
    """
    import json, sys, time
    sys.path.insert(0, sys.argv[2])
    from sfn_helpers import ROLE, registry
    from localaws.stepfunctions.backend import StepFunctionsBackend
    from localaws.runtime import Runtime

    sfn = StepFunctionsBackend(Runtime(sys.argv[1]), registry())
    arn = sfn.create_state_machine(name="long", definition=sys.argv[3], roleArn=ROLE)["stateMachineArn"]
    ex = sfn.start_execution(stateMachineArn=arn, name="killed", input='{"start": true}')
    print(ex["executionArn"], flush=True)
    time.sleep(600)
    """
)


def submitted(db: Path) -> bool:
    with sqlite3.connect(db) as conn:
        return (
            conn.execute(
                "SELECT count(*) FROM sfn_history WHERE type = 'TaskSubmitted'"
            ).fetchone()[0]
            > 0
        )


def test_killed_execution_is_interrupted_then_redriven(tmp_path: Path) -> None:
    state = tmp_path / "state"
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    child = subprocess.Popen(
        [
            sys.executable,
            "-c",
            CHILD,
            str(state),
            str(Path(__file__).parent),
            json.dumps(DEFINITION),
        ],
        stdout=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        assert child.stdout is not None
        arn = child.stdout.readline().strip()
        assert arn.endswith(":execution:long:killed")
        wait_for(
            lambda: submitted(state / "runtime.db"), timeout=20, what="the Long task to be waiting"
        )
    finally:
        child.send_signal(signal.SIGKILL)
        child.wait(10)

    sfn = StepFunctionsBackend(Runtime(state), registry())
    try:
        before = history(sfn, arn)
        sfn.recover()
        described = sfn.describe_execution(executionArn=arn)
        assert (described["status"], described["error"]) == ("FAILED", "States.Runtime")
        assert "stopped while this execution was running" in described["cause"]
        assert described["redriveStatus"] == "REDRIVABLE"
        after = history(sfn, arn)
        assert after[: len(before)] == before  # history up to the kill is intact
        assert after[-1]["type"] == "ExecutionFailed"
        assert [
            e["stateEnteredEventDetails"]["name"] for e in before if e["type"] == "TaskStateEntered"
        ] == [
            "One",
            "Two",
            "Long",
        ]

        sfn.redrive_execution(executionArn=arn)

        def token() -> str | None:
            events = history(sfn, arn)
            scheduled = [e for e in events if e["type"] == "TaskScheduled"]
            return (
                json.loads(scheduled[-1]["taskScheduledEventDetails"]["parameters"]).get("token")
                if len(scheduled) == 4
                else None
            )

        sfn.send_task_success(
            taskToken=wait_for(token, what="the redriven task"), output='"finally"'
        )
        done = sfn.wait(arn, timeout=20)
        assert done["status"] == "SUCCEEDED"
        assert json.loads(done["output"]) == {
            "start": True,
            "one": {"n": 1},
            "two": {"n": 2},
            "long": "finally",
        }
        events = history(sfn, arn)
        redriven = [e["type"] for e in events].index("ExecutionRedriven")
        entered = [
            e["stateEnteredEventDetails"]["name"]
            for e in events[redriven:]
            if "stateEnteredEventDetails" in e
        ]
        assert entered == ["Long", "Done"]  # One and Two did not run again
    finally:
        sfn.close()
