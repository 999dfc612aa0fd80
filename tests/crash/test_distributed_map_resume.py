"""kill -9 of `serve` while a Distributed Map's child executions run: after the restart the
parent takes its Map Run over (finished children kept, interrupted ones run again) and ends
with the output of an uninterrupted run."""

from __future__ import annotations

import functools
import json
from pathlib import Path

from crash_support import (
    ROLE,
    Serve,
    dead,
    handler_zip,
    lambda_task,
    open_gate,
    started,
    wait_until,
)

ITEMS = [1, 2, 3, 4]


def definition(gates: Path) -> dict[str, object]:
    first = lambda_task(gates, "first", {"value.$": "$.value"}, "$")
    first.update(ResultSelector={"v.$": "$.Payload.value"}, End=True)
    item = lambda_task(gates, "item", {"value.$": "$.value"}, "$")
    item.update(ResultSelector={"v.$": "$.Payload.value"}, End=True)
    return {
        "StartAt": "Fan",
        "States": {
            "Fan": {
                "Type": "Map",
                "ItemsPath": "$.items",
                "MaxConcurrency": 2,
                "ItemSelector": {"value.$": "$$.Map.Item.Value"},
                "ItemProcessor": {
                    "ProcessorConfig": {"Mode": "DISTRIBUTED", "ExecutionType": "STANDARD"},
                    "StartAt": "Which",
                    "States": {
                        "Which": {  # the first item finishes before the kill
                            "Type": "Choice",
                            "Choices": [
                                {"Variable": "$.value", "NumericEquals": 1, "Next": "First"}
                            ],
                            "Default": "Item",
                        },
                        "First": first,
                        "Item": item,
                    },
                },
                "ResultPath": "$.fan",
                "End": True,
            }
        },
    }


def test_distributed_map_survives_kill_9(tmp_path: Path) -> None:
    state, gates = tmp_path / "state", tmp_path / "gates"
    gates.mkdir()
    serve = Serve(state).start()
    try:
        serve.client("lambda").create_function(
            FunctionName="gate",
            Runtime="python3.12",
            Role=ROLE,
            Handler="gate.handler",
            Code={"ZipFile": handler_zip()},
            Timeout=300,
        )
        sfn = serve.client("stepfunctions")
        machine = sfn.create_state_machine(
            name="dmap", definition=json.dumps(definition(gates)), roleArn=ROLE
        )["stateMachineArn"]
        arn = sfn.start_execution(
            stateMachineArn=machine, name="run", input=json.dumps({"items": ITEMS})
        )["executionArn"]
        wait_until(functools.partial(started, gates, "first"), 120, "the first child")
        open_gate(gates, "first")  # child 1 ends; two others then run at the gate
        pids = wait_until(
            lambda: len(started(gates, "item")) >= 2 and started(gates, "item"), 120, "two children"
        )
        [map_run] = sfn.list_map_runs(executionArn=arn)["mapRuns"]
        serve.kill()
        for pid in pids:
            wait_until(functools.partial(dead, pid), 10, f"process {pid} to die")

        serve = Serve(state).start()
        open_gate(gates, "item")
        sfn = serve.client("stepfunctions")
        done = wait_until(
            lambda: (d := sfn.describe_execution(executionArn=arn))["status"] != "RUNNING" and d,
            180,
            "the execution to end",
        )
        assert done["status"] == "SUCCEEDED", done
        assert json.loads(done["output"]) == {"items": ITEMS, "fan": [{"v": i} for i in ITEMS]}
        assert len(started(gates, "first")) == 1  # the finished child was not run again
        runs = sfn.list_map_runs(executionArn=arn)["mapRuns"]
        assert [r["mapRunArn"] for r in runs] == [map_run["mapRunArn"]]  # the same Map Run
        described = sfn.describe_map_run(mapRunArn=map_run["mapRunArn"])
        assert described["status"] == "SUCCEEDED"
        assert described["itemCounts"]["succeeded"] == len(ITEMS)
        types = [e["type"] for e in sfn.get_execution_history(executionArn=arn)["events"]]
        assert types.count("ExecutionStarted") == 1 and "ExecutionFailed" not in types
    finally:
        serve.stop()
