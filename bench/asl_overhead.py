"""Engine overhead per state transition: this engine against moto's ASL interpreter.

    python -m bench.asl_overhead            # full run (a minute or two)
    python -m bench.asl_overhead --quick    # smoke run: small sizes, one repeat

Definitions made only of Pass states, so the time measured is the engine's own:

* chain:    a chain of 200 Pass states (JSONPath, the baseline of the two below);
* jsonata:  the same chain in JSONata, each state's Output built by expressions: a plain
            reference (``{% $states.input.n %}``, answered without the interpreter) and an
            arithmetic one (``{% $states.input.n + 1 %}``, run by the JSONata interpreter);
* variables: the same chain in JSONPath, each state assigning two variables (one from its
            input) and reading one back in Parameters;
* map:      a Map over 1,000 items whose iteration is one Pass state;
* parallel: a Parallel state of 50 branches, each one Pass state.

A second table gives a Distributed Map's items per second: 10,000 items in batches of 100
(100 child executions of one Pass state, each recorded with its history), against an
inline Map of the same items on the same engine in the same run.

A transition is a state entered: the chain makes 200, the Map 1 + 1,000 (the Map state,
then one Pass per item), the Parallel 1 + 50.  Each run is timed with
``time.perf_counter`` from StartExecution until the execution is seen to have ended: for
this engine ``StepFunctionsBackend.wait`` (woken when the run ends); for moto,
DescribeExecution polled every 2 ms (moto's interpreter runs on its own thread and has no
completion hook), which adds at most a few milliseconds to runs that take hundreds.  Each
scenario runs ``--repeats`` times per engine after one warm-up run; the table reports the
median.  State machines are created before timing starts.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

ROLE = "arn:aws:iam::123456789012:role/bench"
REGION = "us-east-1"
MOTO_POLL_SECONDS = 0.002
TIMEOUT_SECONDS = 300


@dataclass(frozen=True)
class Scenario:
    name: str
    definition: dict[str, Any]
    input: Any
    transitions: int


def chain(length: int) -> Scenario:
    states: dict[str, Any] = {
        f"S{i}": {"Type": "Pass", "Next": f"S{i + 1}"} for i in range(length - 1)
    }
    states[f"S{length - 1}"] = {"Type": "Pass", "End": True}
    return Scenario(
        f"{length}-state Pass chain", {"StartAt": "S0", "States": states}, {"n": 1}, length
    )


def jsonata_chain(length: int) -> Scenario:
    states: dict[str, Any] = {
        f"S{i}": {
            "Type": "Pass",
            "Output": {"n": "{% $states.input.n + 1 %}", "first": "{% $states.input.first %}"},
            "Next": f"S{i + 1}",
        }
        for i in range(length)
    }
    states[f"S{length - 1}"] = {**states[f"S{length - 1}"], "End": True}
    del states[f"S{length - 1}"]["Next"]
    definition = {"QueryLanguage": "JSONata", "StartAt": "S0", "States": states}
    return Scenario(f"{length}-state JSONata chain", definition, {"n": 1, "first": "a"}, length)


def variables_chain(length: int) -> Scenario:
    states: dict[str, Any] = {
        f"S{i}": {
            "Type": "Pass",
            "Parameters": {"n.$": "$.n", "previous.$": "$step"},
            "Assign": {"step": i, "last.$": "$.n"},
            "Next": f"S{i + 1}",
        }
        for i in range(length)
    }
    states["S0"]["Parameters"] = {"n.$": "$.n"}  # $step is not assigned yet
    states[f"S{length - 1}"] = {**states[f"S{length - 1}"], "End": True}
    del states[f"S{length - 1}"]["Next"]
    return Scenario(
        f"{length}-state variables chain", {"StartAt": "S0", "States": states}, {"n": 1}, length
    )


def map_(items: int) -> Scenario:
    definition = {
        "StartAt": "M",
        "States": {
            "M": {
                "Type": "Map",
                "ItemsPath": "$.items",
                "ItemProcessor": {"StartAt": "P", "States": {"P": {"Type": "Pass", "End": True}}},
                "End": True,
            }
        },
    }
    return Scenario(
        f"{items}-item Map of Pass", definition, {"items": list(range(items))}, 1 + items
    )


def parallel(branches: int) -> Scenario:
    definition = {
        "StartAt": "P",
        "States": {
            "P": {
                "Type": "Parallel",
                "Branches": [
                    {"StartAt": f"B{i}", "States": {f"B{i}": {"Type": "Pass", "End": True}}}
                    for i in range(branches)
                ],
                "End": True,
            }
        },
    }
    return Scenario(f"{branches}-branch Parallel", definition, {"n": 1}, 1 + branches)


# An engine: given the scenarios, yields a function that runs one scenario once and
# returns the seconds it took (the state machines are created before the first call).
Runner = Callable[[Scenario], float]


@contextmanager
def ours(scenarios: list[Scenario]) -> Iterator[Runner]:
    from localaws import Runtime

    with tempfile.TemporaryDirectory() as state_dir, Runtime(state_dir) as rt:
        sfn = rt.stepfunctions
        arns = {
            s.name: sfn.create_state_machine(
                name=f"bench{i}", definition=json.dumps(s.definition), roleArn=ROLE
            )["stateMachineArn"]
            for i, s in enumerate(scenarios)
        }

        def run(scenario: Scenario) -> float:
            start = time.perf_counter()
            arn = sfn.start_execution(
                stateMachineArn=arns[scenario.name], input=json.dumps(scenario.input)
            )["executionArn"]
            status = sfn.wait(arn, timeout=TIMEOUT_SECONDS)["status"]
            elapsed = time.perf_counter() - start
            if status != "SUCCEEDED":
                raise RuntimeError(f"{scenario.name}: our execution ended {status}")
            return elapsed

        yield run


@contextmanager
def moto(scenarios: list[Scenario]) -> Iterator[Runner]:
    import boto3
    from moto import mock_aws

    for var in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        os.environ.setdefault(var, "bench")
    with mock_aws(config={"stepfunctions": {"execute_state_machine": True}}):
        client = boto3.client("stepfunctions", region_name=REGION)
        arns = {
            s.name: client.create_state_machine(
                name=f"bench{i}", definition=json.dumps(s.definition), roleArn=ROLE
            )["stateMachineArn"]
            for i, s in enumerate(scenarios)
        }
        counter = iter(range(1_000_000))

        def run(scenario: Scenario) -> float:
            start = time.perf_counter()
            arn = client.start_execution(
                stateMachineArn=arns[scenario.name],
                name=f"run{next(counter)}",  # moto names every unnamed execution "None"
                input=json.dumps(scenario.input),
            )["executionArn"]
            deadline = start + TIMEOUT_SECONDS
            while (status := client.describe_execution(executionArn=arn)["status"]) == "RUNNING":
                if time.perf_counter() > deadline:
                    raise RuntimeError(f"{scenario.name}: moto still running")
                time.sleep(MOTO_POLL_SECONDS)
            elapsed = time.perf_counter() - start
            if status != "SUCCEEDED":
                raise RuntimeError(f"{scenario.name}: moto's execution ended {status}")
            return elapsed

        yield run


def measure(
    engine: Callable[[list[Scenario]], Any], scenarios: list[Scenario], repeats: int
) -> dict[str, float | str]:
    """Median seconds per scenario, after one warm-up run of each; or why it could not run."""
    medians: dict[str, float | str] = {}
    with engine(scenarios) as run:
        for scenario in scenarios:
            try:
                run(scenario)
            except RuntimeError as e:  # moto's interpreter cannot run JSONata
                medians[scenario.name] = str(e).split(": ", 1)[-1]
                continue
            medians[scenario.name] = statistics.median(run(scenario) for _ in range(repeats))
    return medians


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="small sizes, one repeat")
    parser.add_argument("--repeats", type=int, default=None, help="timed runs per scenario")
    args = parser.parse_args(argv)
    if args.quick:
        scenarios = [chain(20), jsonata_chain(20), variables_chain(20), map_(50), parallel(5)]
        repeats = args.repeats or 1
    else:
        scenarios = [
            chain(200),
            jsonata_chain(200),
            variables_chain(200),
            map_(1000),
            parallel(50),
        ]
        repeats = args.repeats or 5

    ours_s = measure(ours, scenarios, repeats)
    moto_s = measure(moto, scenarios, repeats)

    print(f"median of {repeats} run(s); a transition is a state entered")
    header = (
        f"{'scenario':<26} {'transitions':>11} {'ours ms':>9} {'moto ms':>9} "
        f"{'ours us/tr':>10} {'moto us/tr':>10} {'moto/ours':>9}"
    )
    print(header)
    print("-" * len(header))
    for s in scenarios:
        ours_t, moto_t = ours_s[s.name], moto_s[s.name]
        assert isinstance(ours_t, float), f"{s.name}: {ours_t}"
        ours_us = ours_t / s.transitions * 1e6
        if isinstance(moto_t, str):
            print(
                f"{s.name:<26} {s.transitions:>11} {ours_t * 1e3:>9.1f} {'-':>9} "
                f"{ours_us:>10.1f} {'-':>10} {'-':>9}  (moto: {moto_t})"
            )
            continue
        moto_us = moto_t / s.transitions * 1e6
        print(
            f"{s.name:<26} {s.transitions:>11} {ours_t * 1e3:>9.1f} "
            f"{moto_t * 1e3:>9.1f} {ours_us:>10.1f} {moto_us:>10.1f} "
            f"{moto_us / ours_us:>8.1f}x"
        )
    baseline = scenarios[0]
    base_us = float(ours_s[baseline.name]) / baseline.transitions * 1e6
    print()
    print(f"ours per transition against the JSONPath chain ({base_us:.1f} us/tr)")
    for s in scenarios[1:3]:
        us = float(ours_s[s.name]) / s.transitions * 1e6
        print(f"{s.name:<26} {us:>10.1f} us/tr {us / base_us:>8.2f}x the JSONPath chain")
    distributed_map_table(500 if args.quick else 10_000, 100, repeats)
    return 0


def distributed_map(items: int, batch: int) -> Scenario:
    """A Distributed Map of ``items`` items in batches of ``batch``, each batch one child
    execution of one Pass state."""
    definition = {
        "StartAt": "M",
        "States": {
            "M": {
                "Type": "Map",
                "ItemsPath": "$.items",
                "ItemBatcher": {"MaxItemsPerBatch": batch},
                "ItemProcessor": {
                    "ProcessorConfig": {"Mode": "DISTRIBUTED", "ExecutionType": "EXPRESS"},
                    "StartAt": "P",
                    "States": {"P": {"Type": "Pass", "End": True}},
                },
                "ResultSelector": {"batches.$": "States.ArrayLength($)"},
                "End": True,
            }
        },
    }
    children = -(-items // batch)
    return Scenario(
        f"{items}-item Distributed Map", definition, {"items": list(range(items))}, 1 + children
    )


def distributed_map_table(items: int, batch: int, repeats: int) -> None:
    """Items per second of a Distributed Map (child executions recorded in the database)
    against an inline Map of the same items (one iteration per item), same engine, same run."""
    scenarios = [distributed_map(items, batch), map_(items)]
    medians = measure(ours, scenarios, repeats)
    distributed, inline = (float(medians[s.name]) for s in scenarios)
    print()
    print(
        f"Distributed Map: {items} items, ItemBatcher {batch}, Pass children; median of {repeats}"
    )
    header = (
        f"{'scenario':<30} {'items':>7} {'children':>8} {'ms':>9} {'items/s':>10} {'vs inline':>9}"
    )
    print(header)
    print("-" * len(header))
    print(
        f"{scenarios[0].name:<30} {items:>7} {scenarios[0].transitions - 1:>8} "
        f"{distributed * 1e3:>9.1f} {items / distributed:>10.0f} {inline / distributed:>8.2f}x"
    )
    print(
        f"{'inline Map (baseline)':<30} {items:>7} {'-':>8} {inline * 1e3:>9.1f} "
        f"{items / inline:>10.0f} {1.0:>8.2f}x"
    )


if __name__ == "__main__":
    raise SystemExit(main())
