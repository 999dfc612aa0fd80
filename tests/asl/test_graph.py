import xml.etree.ElementTree as ET

import pytest

from localaws.asl.fold import fold, statuses
from localaws.asl.graph import Graph, layout, render_execution, render_svg

DEFINITION = {
    "StartAt": "Prepare",
    "States": {
        "Prepare": {
            "Type": "Task",
            "Resource": "x",
            "Next": "Gate",
            "Catch": [{"ErrorEquals": ["States.ALL"], "Next": "Failed"}],
        },
        "Gate": {
            "Type": "Choice",
            "Choices": [{"Variable": "$.auc", "NumericGreaterThanEquals": 0.9, "Next": "Deploy"}],
            "Default": "TooLow",
        },
        "Deploy": {"Type": "Pass", "Next": "Retry?"},
        "Retry?": {
            "Type": "Choice",
            "Choices": [{"Variable": "$.again", "BooleanEquals": True, "Next": "Prepare"}],
            "Default": "Done",
        },
        "Done": {"Type": "Succeed"},
        "TooLow": {"Type": "Fail", "Error": "Gate"},
        "Failed": {"Type": "Fail"},
    },
}

NS = {"svg": "http://www.w3.org/2000/svg"}


def test_layout_puts_each_state_below_its_parents_and_ignores_loops():
    pos = layout(DEFINITION)
    assert pos["Prepare"][0] == 0
    assert pos["Gate"][0] == 1
    assert pos["Deploy"][0] == pos["TooLow"][0] == 2
    assert pos["Done"][0] == 4  # the loop Retry? -> Prepare does not push Prepare down
    assert set(pos) == set(DEFINITION["States"])


def test_svg_is_well_formed_and_has_one_node_per_state_coloured_by_status():
    svg = render_svg(DEFINITION, {"Prepare": "succeeded", "Gate": "running"}, title="demo <1>")
    root = ET.fromstring(svg)
    groups = root.findall(".//svg:g[@class='state']", NS)
    assert {g.get("data-state") for g in groups} == set(DEFINITION["States"])
    status = {g.get("data-state"): g.get("data-status") for g in groups}
    assert status["Prepare"] == "succeeded"
    assert status["Gate"] == "running"
    assert status["Done"] == "not_reached"
    assert len(root.findall(".//svg:path[@class='edge edge-catch']", NS)) == 1
    assert "demo &lt;1&gt;" in svg


def _entered(name, kind="TaskStateEntered"):
    return {"type": kind, "stateEnteredEventDetails": {"name": name}}


def _exited(name, kind="TaskStateExited"):
    return {"type": kind, "stateExitedEventDetails": {"name": name}}


@pytest.mark.parametrize(
    ("events", "expected"),
    [
        pytest.param(
            [_entered("A"), _exited("A"), _entered("B")],
            {"A": "succeeded", "B": "running"},
            id="success-then-running",
        ),
        pytest.param(
            [
                _entered("A"),
                {"type": "TaskFailed"},
                _entered("Failed", "FailStateEntered"),
                {"type": "ExecutionFailed"},
            ],
            {"A": "caught", "Failed": "failed"},
            id="caught-into-fail",
        ),
        pytest.param(
            [
                _entered("A"),
                {"type": "TaskFailed"},
                {"type": "TaskScheduled"},
                {"type": "TaskSucceeded"},
                _exited("A"),
            ],
            {"A": "succeeded"},
            id="retried-then-succeeded",
        ),
        pytest.param(
            [_entered("A"), {"type": "TaskFailed"}, {"type": "ExecutionFailed"}],
            {"A": "failed"},
            id="uncaught",
        ),
    ],
)
def test_statuses_from_history(events, expected):
    assert statuses(fold(events)) == expected


def test_an_execution_is_drawn_from_the_fold():
    events = [_entered("Prepare"), {"type": "TaskFailed"}, _entered("Failed", "FailStateEntered")]
    svg = render_execution(DEFINITION, events)
    assert 'data-state="Prepare" data-status="caught"' in svg
    assert 'data-state="Failed" data-status="failed"' in svg


def test_graph_displays_inline_in_notebooks():
    g = Graph(render_svg(DEFINITION))
    assert g._repr_svg_().startswith("<svg")
    assert g._repr_html_() == str(g)
