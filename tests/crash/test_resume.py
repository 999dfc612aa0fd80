"""kill -9 of `serve` at several points of a small workflow; the restarted server finishes
the execution by itself, with the resources of an uninterrupted run and no orphan process."""

from __future__ import annotations

import functools
import json
import sqlite3
from collections import Counter
from pathlib import Path

import pytest
from crash_support import (
    ENDPOINT,
    GateServer,
    Serve,
    dead,
    open_gate,
    resources,
    set_up,
    started,
    wait_until,
)

GATES = ("invoke", "train", "map", "deploy")
POLLING = ("Describe", "Ready?", "Wait")  # entered until the endpoint is InService
ITEMS = [1, 2, 3]


def expected_output(gates: Path) -> dict[str, object]:
    return {
        "items": ITEMS,
        "invoke": {"out": {"gate": "invoke", "value": 1}},
        "train": {"model": "s3://models/crash/crash-train/output/model.tar.gz"},
        "fan": [{"v": i} for i in ITEMS],
        "endpoint": {"status": "InService"},
    }


EXPECTED_RESOURCES = {
    "training": [("crash-train", "Completed")],
    "model_b": "crash-model-b",
    "endpoints": [(ENDPOINT, "InService")],
    "endpoint_config": "crash-config-b",
    "executions": [("run", "SUCCEEDED")],
}


def forget_task_submitted(state: Path, arn: str) -> None:
    """Make the dead server's database what a kill between CreateTrainingJob and the record
    of its TaskSubmitted leaves."""
    with sqlite3.connect(state / "runtime.db") as db:
        db.execute(
            "DELETE FROM sfn_history WHERE execution_arn = ? AND type = 'TaskSubmitted'", (arn,)
        )


@pytest.mark.parametrize(
    ("kill_at", "forget"),
    [(None, False), *((gate, False) for gate in GATES), ("train", True)],
    ids=["uninterrupted", *GATES, "train-before-submitted-recorded"],
)
def test_execution_survives_kill_9(tmp_path: Path, kill_at: str | None, forget: bool) -> None:
    state, gates = tmp_path / "state", tmp_path / "gates"
    gates.mkdir()
    gate_server = GateServer(gates)
    serve = Serve(state).start()
    try:
        machine = set_up(serve, gates, gate_server.address)
        sfn = serve.client("stepfunctions")
        arn = sfn.start_execution(
            stateMachineArn=machine, name="run", input=json.dumps({"items": ITEMS})
        )["executionArn"]
        for gate in GATES:
            if gate == kill_at:
                break
            wait_until(functools.partial(started, gates, gate), 120, f"the {gate} gate")
            open_gate(gates, gate)
        if kill_at is not None:
            # the work at this gate is in flight: kill the server under it
            pids = wait_until(lambda: started(gates, kill_at), 120, f"the {kill_at} gate")
            serve.kill()
            for pid in pids:  # the runtime's children die with it
                wait_until(functools.partial(dead, pid), 10, f"process {pid} to die")
            if forget:
                forget_task_submitted(state, arn)
            serve = Serve(state).start()
            for gate in GATES:
                open_gate(gates, gate)
        sfn = serve.client("stepfunctions")
        done = wait_until(
            lambda: (d := sfn.describe_execution(executionArn=arn))["status"] != "RUNNING" and d,
            180,
            "the execution to end",
        )
        assert done["status"] == "SUCCEEDED", done
        assert json.loads(done["output"]) == expected_output(gates)
        assert resources(serve) == EXPECTED_RESOURCES
        events = sfn.get_execution_history(executionArn=arn, maxResults=1000)["events"]
        types = [e["type"] for e in events]
        assert types.count("ExecutionStarted") == 1
        assert "ExecutionRedriven" not in types and "ExecutionFailed" not in types
        # The history reads as an uninterrupted run's: a state is entered again only by
        # the endpoint's polling loop, a task scheduled again only by a Retry.
        entered = Counter(
            e["stateEnteredEventDetails"]["name"]
            for e in events
            if e["type"].endswith("StateEntered")
            and e["stateEnteredEventDetails"]["name"] not in POLLING
        )
        assert entered == {
            **dict.fromkeys(("Invoke", "Train", "Fan", "CreateModel", "CreateConfig"), 1),
            **{"Item": len(ITEMS), "Update": 1, "Done": 1},
        }
        count = Counter(types)
        retries = count["TaskFailed"]
        assert count["TaskScheduled"] == count["TaskStarted"] == count["TaskStateEntered"] + retries
        assert count["TaskSubmitted"] == 1  # the training job's
        if kill_at in ("invoke", "map"):  # the interrupted invocation was retried
            failed = [e["taskFailedEventDetails"] for e in events if e["type"] == "TaskFailed"]
            assert [f["error"] for f in failed] and {f["error"] for f in failed} == {
                "Lambda.ServiceException"
            }
    finally:
        serve.stop()
        gate_server.close()
