"""Kill the process running an execution; the next runtime continues it from where it was."""

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


def test_killed_execution_continues_in_the_next_runtime(tmp_path: Path) -> None:
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
        assert [
            e["stateEnteredEventDetails"]["name"] for e in before if e["type"] == "TaskStateEntered"
        ] == ["One", "Two", "Long"]
        sfn.recover()  # the execution continues from the Long task, as the same run
        # its recorded events are not recorded again: the token is the one it handed out
        [scheduled] = [e for e in before if e["type"] == "TaskScheduled"][-1:]
        token = json.loads(scheduled["taskScheduledEventDetails"]["parameters"])["token"]
        sfn.send_task_success(taskToken=token, output='"finally"')
        done = sfn.wait(arn, timeout=20)
        assert done["status"] == "SUCCEEDED"
        assert done["redriveCount"] == 0
        assert json.loads(done["output"]) == {
            "start": True,
            "one": {"n": 1},
            "two": {"n": 2},
            "long": "finally",
        }
        events = history(sfn, arn)
        assert events[: len(before)] == before  # history up to the kill is intact
        types = [e["type"] for e in events]
        assert "ExecutionRedriven" not in types and "ExecutionFailed" not in types
        assert types[len(before) :] == [  # One and Two did not run again, nor Long's start
            "TaskSucceeded",
            "TaskStateExited",
            "PassStateEntered",
            "PassStateExited",
            "ExecutionSucceeded",
        ]
    finally:
        sfn.close()
