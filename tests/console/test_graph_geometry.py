"""The console's graph layout (static/graph.js over the vendored dagre), run in node: no edge
segment crosses a box it does not start or end at, for every shipped workflow and for
generated machines of nested Parallel, Map and Choice states; Choice rules, Default and
Catch errors label their edges; Parallel branches and Map processors are drawn in place."""

from __future__ import annotations

import itertools
import json
import random
import subprocess
from pathlib import Path
from typing import Any

import pytest

from workflows import predictive_maintenance as pm
from workflows import settings as settings_module

NODE = "/usr/bin/node"
HARNESS = Path(__file__).with_name("graph_layout.js")
Box = tuple[float, float, float, float]  # x, y, w, h


def lay_out(definitions: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    done = subprocess.run(
        [NODE, str(HARNESS)],
        input=json.dumps(definitions),
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    result: dict[str, dict[str, Any]] = json.loads(done.stdout)
    return result


def crosses(p: tuple[float, float], q: tuple[float, float], box: Box, inset: float = 0.5) -> bool:
    """Whether segment p-q enters the inside of ``box`` (shrunk by ``inset``): Liang-Barsky."""
    x0, y0 = box[0] + inset, box[1] + inset
    x1, y1 = box[0] + box[2] - inset, box[1] + box[3] - inset
    if x1 <= x0 or y1 <= y0:
        return False
    dx, dy = q[0] - p[0], q[1] - p[1]
    lo, hi = 0.0, 1.0
    for step, dist in ((-dx, p[0] - x0), (dx, x1 - p[0]), (-dy, p[1] - y0), (dy, y1 - p[1])):
        if step == 0:
            if dist < 0:
                return False
            continue
        t = dist / step
        if step < 0:
            lo = max(lo, t)
        else:
            hi = min(hi, t)
        if lo > hi:
            return False
    return hi - lo > 1e-9


def violations(layout: dict[str, Any]) -> list[str]:
    """Every (edge segment, box) pair where the segment goes through a box that is not its
    own source or target (state, join, start/end boxes; cluster boxes the edge is outside)."""
    nodes = {n["id"]: n for n in layout["nodes"]}
    clusters = layout["clusters"]
    parent = {n["id"]: n["parent"] for n in layout["nodes"]}
    parent.update({c["id"]: c["parent"] for c in clusters})

    def inside(node: str, cluster: str) -> bool:
        at: str | None = node
        while at is not None:
            if at == cluster:
                return True
            at = parent.get(at)
        return False

    found = []
    for edge in layout["edges"]:
        points = [(float(p[0]), float(p[1])) for p in edge["points"]]
        boxes: list[tuple[str, Box]] = [
            (n["id"], (n["x"], n["y"], n["w"], n["h"]))
            for n in nodes.values()
            if n["id"] not in (edge["from"], edge["to"])
        ]
        boxes += [
            (c["id"], (c["x"], c["y"], c["w"], c["h"]))
            for c in clusters
            if not inside(edge["from"], c["id"]) and not inside(edge["to"], c["id"])
        ]
        for p, q in itertools.pairwise(points):
            for name, box in boxes:
                if crosses(p, q, box):
                    found.append(f"{edge['from']} -> {edge['to']} ({edge['kind']}) crosses {name}")
    return found


# -- generated machines -------------------------------------------------------------------


def generated(seed: int, depth: int = 2) -> dict[str, Any]:
    """A random machine: a chain of Task, Pass, Choice (back to earlier states or forward),
    Parallel and Map states with Catch edges; containers hold generated machines themselves."""
    rng = random.Random(seed)
    counter = iter(range(10_000))

    def machine(level: int) -> dict[str, Any]:
        n = rng.randint(3, 7)
        names = [f"S{next(counter)}" for _ in range(n)]
        states: dict[str, Any] = {}
        for i, name in enumerate(names):
            kinds = ["Task", "Pass", "Choice"] + (["Parallel", "Map"] if level < depth else [])
            kind = rng.choice(kinds) if i < n - 1 else rng.choice(["Succeed", "Pass", "Fail"])
            later = names[i + 1 :]
            state: dict[str, Any] = {"Type": kind}
            if kind == "Choice":
                targets = later + names[:i] if later else names[:i]
                state["Choices"] = [
                    {
                        "Variable": f"$.v{k}",
                        "NumericGreaterThan": rng.randint(0, 9),
                        "Next": rng.choice(targets),
                    }
                    for k in range(rng.randint(1, 3))
                ]
                state["Default"] = later[0] if later else names[0]
            elif kind in ("Succeed", "Fail"):
                pass
            else:
                if kind == "Parallel":
                    state["Branches"] = [machine(level + 1) for _ in range(rng.randint(2, 3))]
                elif kind == "Map":
                    state["ItemProcessor"] = machine(level + 1)
                elif kind == "Task":
                    state["Resource"] = "arn:aws:states:::lambda:invoke"
                if later:
                    state["Next"] = later[0]
                    if kind != "Pass" and len(later) > 1 and rng.random() < 0.6:
                        state["Catch"] = [
                            {"ErrorEquals": ["States.TaskFailed"], "Next": rng.choice(later[1:])}
                        ]
                else:
                    state["End"] = True
            states[name] = state
        return {"StartAt": names[0], "States": states}

    return machine(0)


def size(machine: dict[str, Any]) -> int:
    """The number of states, nested ones included."""
    total = 0
    for state in machine["States"].values():
        total += 1
        for inner in [*state.get("Branches", []), *filter(None, [state.get("ItemProcessor")])]:
            total += size(inner)
    return total


def small_generated(count: int, most_states: int = 40) -> dict[str, dict[str, Any]]:
    """``count`` generated machines of at most ``most_states`` states (dagre's compound layout
    grows fast with size; the console's machines are of this size)."""
    found: dict[str, dict[str, Any]] = {}
    seed = 0
    while len(found) < count:
        machine = generated(seed)
        if size(machine) <= most_states:
            found[f"generated-{seed}"] = machine
        seed += 1
    return found


def shipped() -> dict[str, dict[str, Any]]:
    with pytest.MonkeyPatch.context() as mp:
        mp.delenv(settings_module.ENV_CONFIG, raising=False)
        settings = settings_module.load()
    return {
        f"predictive-maintenance-{mode}": pm.definition(
            settings.replace(**{"featurizer.mode": mode})
        )
        for mode in settings_module.FEATURIZER_MODES
    }


FLOW = {  # the example: Task -> Pass -> Parallel -> Map, with a Catch to a Fail
    "StartAt": "Train",
    "States": {
        "Train": {
            "Type": "Task",
            "Resource": "arn:aws:states:::lambda:invoke",
            "Next": "Shape",
            "Catch": [{"ErrorEquals": ["Train.Diverged", "States.Timeout"], "Next": "Failed"}],
        },
        "Shape": {"Type": "Pass", "Next": "Both"},
        "Both": {
            "Type": "Parallel",
            "Branches": [
                {"StartAt": "Left", "States": {"Left": {"Type": "Pass", "End": True}}},
                {"StartAt": "Right", "States": {"Right": {"Type": "Pass", "End": True}}},
            ],
            "Next": "Gate",
        },
        "Gate": {
            "Type": "Choice",
            "Choices": [{"Variable": "$.auc", "NumericGreaterThanEquals": 0.8, "Next": "Each"}],
            "Default": "Failed",
        },
        "Each": {
            "Type": "Map",
            "ItemProcessor": {
                "StartAt": "Score",
                "States": {"Score": {"Type": "Pass", "End": True}},
            },
            "End": True,
        },
        "Failed": {"Type": "Fail"},
    },
}


def test_no_edge_crosses_a_box_in_shipped_and_generated_machines() -> None:
    machines = {**shipped(), "flow": FLOW}
    machines.update(small_generated(24))
    layouts = lay_out(machines)
    problems = {name: violations(layout) for name, layout in layouts.items()}
    assert {name: found for name, found in problems.items() if found} == {}
    # The generated machines are not trivial: nested clusters and back edges occur.
    assert sum(len(layout["clusters"]) for layout in layouts.values()) > 30


def test_the_checker_sees_a_crossing() -> None:
    assert crosses((0, 5), (20, 5), (5, 0, 10, 10))
    assert not crosses((0, 0), (5, 0), (5, 0, 10, 10))  # touching the border only
    layout = lay_out({"flow": FLOW})["flow"]
    train = next(n for n in layout["nodes"] if n["id"] == "Train")
    straight = {
        "from": "#start",
        "to": "Failed",
        "kind": "next",
        "points": [[train["cx"], train["y"] - 5], [train["cx"], train["y"] + train["h"] + 5]],
    }
    assert violations({**layout, "edges": [straight]}) == ["#start -> Failed (next) crosses Train"]


def test_labels_and_containers_in_place() -> None:
    layout = lay_out({"flow": FLOW})["flow"]
    labels = {(e["from"], e["to"]): e["label"] for e in layout["edges"]}
    assert labels[("Gate", "Each")] == "$.auc >= 0.8"
    assert labels[("Gate", "Failed")] == "Default"
    assert labels[("Train", "Failed")] == "Train.Diverged, States.Timeout"
    ids = {n["id"] for n in layout["nodes"]}
    assert {"Both/0/Left", "Both/1/Right", "Each/*/Score", "Both#end", "Each#end"} <= ids
    clusters = {c["id"]: c for c in layout["clusters"]}
    for inner in ("Both/0/Left", "Both/1/Right"):
        node = next(n for n in layout["nodes"] if n["id"] == inner)
        box = clusters["Both#c"]
        assert box["x"] <= node["x"] and node["x"] + node["w"] <= box["x"] + box["w"]
    # The next edge after the Parallel leaves from its join, below its branches.
    assert ("Both#end", "Gate") in labels


def chain(prefix: str, length: int) -> dict[str, Any]:
    names = [f"{prefix}{i}" for i in range(length)]
    return {
        "StartAt": names[0],
        "States": {
            name: {"Type": "Pass", **({"Next": names[i + 1]} if i + 1 < length else {"End": True})}
            for i, name in enumerate(names)
        },
    }


def parallel_of(*lengths: int) -> dict[str, Any]:
    """Start -> a Parallel of chains of these lengths -> Done."""
    return {
        "StartAt": "Start",
        "States": {
            "Start": {"Type": "Pass", "Next": "Fan"},
            "Fan": {
                "Type": "Parallel",
                "Branches": [chain(f"B{i}_", n) for i, n in enumerate(lengths)],
                "Next": "Done",
            },
            "Done": {"Type": "Succeed"},
        },
    }


def branches_out_of_order(layout: dict[str, Any]) -> list[str]:
    """Each Parallel whose branch clusters are not drawn left to right in definition order."""
    by_parallel: dict[str, list[tuple[int, float]]] = {}
    for c in layout["clusters"]:
        if c["kind"] == "branch":
            index = int(c["id"].removesuffix("#c").rsplit("/", 1)[1])
            by_parallel.setdefault(c["node"], []).append((index, c["x"]))
    found = []
    for parallel, branches in by_parallel.items():
        drawn = [index for index, _ in sorted(branches, key=lambda b: b[1])]
        if drawn != sorted(drawn):
            found.append(f"{parallel}: branches drawn in the order {drawn}")
    return found


def test_parallel_branches_are_drawn_in_definition_order() -> None:
    machines = {
        "2": parallel_of(1, 1),
        "4-mixed": parallel_of(3, 1, 2, 1),
        "6-mixed": parallel_of(1, 3, 1, 3, 1, 2),
        "flow": FLOW,
        **shipped(),
        **small_generated(24),
    }
    layouts = lay_out(machines)
    assert {
        name: found for name, layout in layouts.items() if (found := branches_out_of_order(layout))
    } == {}
    # The checker sees a swapped pair.
    two = layouts["2"]
    swapped = [{**c, "x": -c["x"]} if c["kind"] == "branch" else c for c in two["clusters"]]
    assert branches_out_of_order({**two, "clusters": swapped}) == [
        "Fan: branches drawn in the order [1, 0]"
    ]
