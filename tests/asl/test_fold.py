"""The history fold over real histories: each case runs a definition on the Step Functions
backend (with the local pass-through integration), folds its GetExecutionHistory and
compares the visits with the table.  A row reads ``<path><state>: <status>`` then, when
they apply, ``x<attempts>``, ``!<error>`` and ``g<redrive generation>``; a path step is
``<Map>[<iteration>]/`` or ``<Parallel>[*]/`` (AWS's history does not number branches)."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import botocore.session
import pytest
from sfn_helpers import CALLBACK, FAIL, PASSTHROUGH, SLEEP, chain, create, history, wait_for

from localaws.asl.fold import HANDLERS, Status, Visit, fold, statuses

Drive = Callable[[Any, str], None]

PASS = {"Type": "Pass"}


def task(resource: str, **spec: Any) -> dict[str, Any]:
    return {"Type": "Task", "Resource": resource, **spec}


def failing(error: str = "Boom", cause: str = "it broke", **spec: Any) -> dict[str, Any]:
    return task(FAIL, Parameters={"Error": error, "Cause": cause}, **spec)


def callback(**spec: Any) -> dict[str, Any]:
    return task(CALLBACK, Parameters={"token.$": "$$.Task.Token"}, **spec)


def tokens(sfn: Any, arn: str, n: int) -> str:
    """The n-th task token the execution handed out (waits for it)."""

    def find() -> str | None:
        scheduled = [
            json.loads(e["taskScheduledEventDetails"].get("parameters") or "{}")
            for e in history(sfn, arn)
            if e["type"] == "TaskScheduled"
        ]
        found = [p["token"] for p in scheduled if isinstance(p, dict) and "token" in p]
        return found[n] if len(found) > n else None

    return str(wait_for(find, what=f"task token {n}"))


def answer(*replies: tuple[str, str]) -> Drive:
    """Answer the execution's tokens in order: ("ok", output) or ("fail", error)."""

    def drive(sfn: Any, arn: str) -> None:
        for n, (verb, value) in enumerate(replies):
            token = tokens(sfn, arn, n)
            if verb == "ok":
                sfn.send_task_success(taskToken=token, output=value)
            elif verb == "fail":
                sfn.send_task_failure(taskToken=token, error=value, cause="told to")
            elif verb == "redrive":  # fail this token, wait for the failure, redrive
                sfn.send_task_failure(taskToken=token, error=value, cause="first run")
                sfn.wait(arn, timeout=20)
                sfn.redrive_execution(executionArn=arn)

    return drive


def stop(sfn: Any, arn: str) -> None:
    wait_for(lambda: any(e["type"] == "TaskStarted" for e in history(sfn, arn)), what="task start")
    sfn.stop_execution(executionArn=arn, error="User.Stop", cause="enough")


MAP_OF_MAPS = chain(
    (
        "Outer",
        {
            "Type": "Map",
            "ItemProcessor": chain(
                ("Inner", {"Type": "Map", "ItemProcessor": chain(("Leaf", PASS))}),
            ),
        },
    ),
)
PARALLEL_WITH_MAP = chain(
    (
        "Both",
        {
            "Type": "Parallel",
            "Branches": [
                chain(("Left", PASS)),
                chain(
                    (
                        "Items",
                        {
                            "Type": "Map",
                            "ItemsPath": "$.items",
                            "ItemProcessor": chain(("Each", PASS)),
                        },
                    )
                ),
            ],
        },
    ),
    ("After", PASS),
)
ONE_BAD_ITEM = {
    "StartAt": "Check",
    "States": {
        "Check": {
            "Type": "Choice",
            "Choices": [{"Variable": "$", "NumericEquals": 2, "Next": "Bad"}],
            "Default": "Good",
        },
        "Good": {"Type": "Pass", "End": True},
        "Bad": failing("Item.Bad", "item 2", End=True),
    },
}

CASES = [
    pytest.param(
        chain(("A", PASS), ("B", {"Type": "Wait", "Seconds": 0}), ("C", {"Type": "Succeed"})),
        {},
        None,
        ["A: succeeded", "B: succeeded", "C: succeeded"],
        id="pass-wait-succeed",
    ),
    pytest.param(
        chain(("T", failing())),
        {},
        None,
        ["T: failed !Boom"],
        id="uncaught-task-failure",
    ),
    pytest.param(
        chain(
            (
                "T",
                failing(
                    Retry=[{"ErrorEquals": ["Boom"], "IntervalSeconds": 1, "MaxAttempts": 1}],
                    Catch=[{"ErrorEquals": ["States.ALL"], "Next": "Handle"}],
                ),
            ),
            ("Handle", PASS),
        ),
        {},
        None,
        ["T: caught x2 !Boom", "Handle: succeeded"],
        id="retried-then-caught",
    ),
    pytest.param(
        chain(
            ("T", callback(Retry=[{"ErrorEquals": ["Flaky"], "IntervalSeconds": 1}])),
        ),
        {},
        answer(("fail", "Flaky"), ("ok", '"fine"')),
        ["T: succeeded x2"],
        id="retried-then-succeeded",
    ),
    pytest.param(
        chain(("Wait4Token", callback())),
        {},
        answer(("ok", '{"done": true}')),
        ["Wait4Token: succeeded"],
        id="task-token",
    ),
    pytest.param(
        chain(("Wait4Token", callback())),
        {},
        answer(("fail", "Rejected")),
        ["Wait4Token: failed !Rejected"],
        id="task-token-failure",
    ),
    pytest.param(
        chain(("Stop", {"Type": "Fail", "Error": "Gate.Closed", "Cause": "below threshold"})),
        {},
        None,
        ["Stop: failed !Gate.Closed"],
        id="fail-state",
    ),
    pytest.param(
        chain(
            ("T", failing(Catch=[{"ErrorEquals": ["States.ALL"], "Next": "Failed"}])),
            ("Failed", {"Type": "Fail", "Error": "Wrapped"}),
        ),
        {},
        None,
        ["T: caught !Boom", "Failed: failed !Wrapped"],
        id="caught-into-fail",
    ),
    pytest.param(
        MAP_OF_MAPS,
        [[1, 2], [3]],
        None,
        [
            "Outer: succeeded",
            "Outer[0]/Inner: succeeded",
            "Outer[0]/Inner[0]/Leaf: succeeded",
            "Outer[0]/Inner[1]/Leaf: succeeded",
            "Outer[1]/Inner: succeeded",
            "Outer[1]/Inner[0]/Leaf: succeeded",
        ],
        id="nested-map",
    ),
    pytest.param(
        PARALLEL_WITH_MAP,
        {"items": [1, 2]},
        None,
        [
            "Both: succeeded",
            "Both[*]/Left: succeeded",
            "Both[*]/Items: succeeded",
            "Both[*]/Items[0]/Each: succeeded",
            "Both[*]/Items[1]/Each: succeeded",
            "After: succeeded",
        ],
        id="parallel-with-map",
    ),
    pytest.param(
        chain(
            (
                "Both",
                {
                    "Type": "Parallel",
                    "Branches": [chain(("Fine", PASS)), chain(("Broken", failing("Branch.Bad")))],
                    "Catch": [{"ErrorEquals": ["States.ALL"], "Next": "Recover"}],
                },
            ),
            ("Recover", PASS),
        ),
        {},
        None,
        [
            "Both: caught !Branch.Bad",
            "Both[*]/Fine: succeeded",
            "Both[*]/Broken: failed !Branch.Bad",
            "Recover: succeeded",
        ],
        id="parallel-branch-failure-caught",
    ),
    pytest.param(
        chain(("Items", {"Type": "Map", "MaxConcurrency": 1, "ItemProcessor": ONE_BAD_ITEM})),
        [1, 2, 3],
        None,
        [
            "Items: failed !Item.Bad",
            "Items[0]/Check: succeeded",
            "Items[0]/Good: succeeded",
            "Items[1]/Check: succeeded",
            "Items[1]/Bad: failed !Item.Bad",
        ],
        id="map-failure",
    ),
    pytest.param(
        chain(
            (
                "Items",
                {
                    "Type": "Map",
                    "MaxConcurrency": 1,
                    "ItemProcessor": ONE_BAD_ITEM,
                    "Catch": [{"ErrorEquals": ["States.ALL"], "Next": "Recover"}],
                },
            ),
            ("Recover", PASS),
        ),
        [2],
        None,
        [
            "Items: caught !Item.Bad",
            "Items[0]/Check: succeeded",
            "Items[0]/Bad: failed !Item.Bad",
            "Recover: succeeded",
        ],
        id="map-failure-caught",
    ),
    pytest.param(
        chain(
            (
                "Items",
                {
                    "Type": "Map",
                    "MaxConcurrency": 1,
                    "ToleratedFailureCount": 0,
                    "ItemProcessor": chain(("Each", failing("Item.Bad"))),
                },
            ),
        ),
        [1],
        None,
        [
            "Items: failed !States.ExceedToleratedFailureThreshold",
            "Items[0]/Each: failed !Item.Bad",
        ],
        id="map-tolerated-threshold",
    ),
    pytest.param(
        chain(("First", task(PASSTHROUGH)), ("Flaky", callback()), ("Last", PASS)),
        {},
        answer(("redrive", "Flaky.Error"), ("ok", '"ok"')),
        [
            "First: succeeded",
            "Flaky: failed !Flaky.Error",
            "Flaky: succeeded g1",
            "Last: succeeded g1",
        ],
        id="redrive",
    ),
    pytest.param(
        chain(("Nap", task(SLEEP, Parameters={"Seconds": 60}))),
        {},
        stop,
        ["Nap: cancelled !User.Stop"],
        id="stopped",
    ),
    pytest.param(
        {**chain(("Nap", {"Type": "Wait", "Seconds": 60})), "TimeoutSeconds": 1},
        {},
        None,
        ["Nap: failed !States.Timeout"],
        id="execution-timeout",
    ),
    pytest.param(
        chain(("Nap", task(SLEEP, Parameters={"Seconds": 30}, TimeoutSeconds=1))),
        {},
        None,
        ["Nap: failed !States.Timeout"],
        id="task-timeout",
    ),
    pytest.param(
        chain(
            (
                "Items",
                {
                    "Type": "Map",
                    "ItemProcessor": chain(("Nap", task(SLEEP, Parameters={"Seconds": 60}))),
                },
            )
        ),
        [1],
        stop,
        ["Items: cancelled !User.Stop", "Items[0]/Nap: cancelled"],
        id="stopped-inside-map",
    ),
]


@pytest.fixture(scope="module")
def sfn(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    from sfn_helpers import open_backend

    yield from open_backend(Path(tmp_path_factory.mktemp("fold")))


def row(visit: Visit, types: dict[str, str]) -> str:
    path = "".join(
        f"{name}[{'*' if types.get(name) == 'Parallel' else index}]/" for name, index in visit.path
    )
    text = f"{path}{visit.name}: {visit.status}"
    if visit.attempts > 1:
        text += f" x{visit.attempts}"
    if visit.error:
        text += f" !{visit.error}"
    if visit.generation:
        text += f" g{visit.generation}"
    return text


def run(
    sfn: Any, name: str, definition: dict[str, Any], input: Any, drive: Drive | None
) -> list[dict[str, Any]]:
    arn = create(sfn, definition, name=name)
    execution = sfn.start_execution(stateMachineArn=arn, input=json.dumps(input))["executionArn"]
    if drive is not None:
        drive(sfn, execution)
    sfn.wait(execution, timeout=30)
    return history(sfn, execution)


@pytest.mark.parametrize(("definition", "input", "drive", "expected"), CASES)
def test_fold_of_real_histories(
    sfn: Any,
    request: pytest.FixtureRequest,
    definition: dict[str, Any],
    input: Any,
    drive: Drive | None,
    expected: list[str],
) -> None:
    name = request.node.callspec.id
    visits = fold(run(sfn, name, definition, input, drive))
    types = {v.name: v.type for v in visits}
    rows = [row(v, types) for v in visits]
    if "Parallel" in types.values():  # branches are numbered as they appear
        assert sorted(rows) == sorted(expected)
    else:
        assert rows == expected
    assert all(v.depth == len(v.path) for v in visits)
    # The graph's colours come from the same fold: top-level states only.
    assert set(statuses(visits)) == {v.name for v in visits if not v.path}


def test_visits_carry_input_output_times_and_cause(sfn: Any) -> None:
    events = run(
        sfn,
        "details",
        chain(
            (
                "T",
                failing(
                    Catch=[{"ErrorEquals": ["States.ALL"], "ResultPath": "$.error", "Next": "Next"}]
                ),
            ),
            ("Next", PASS),
        ),
        {"a": 1},
        None,
    )
    t, nxt = fold(events)
    assert (t.cause, t.input_value) == ("it broke", {"a": 1})
    assert t.output_value == {"a": 1, "error": {"Error": "Boom", "Cause": "it broke"}}
    assert nxt.seconds is not None and nxt.seconds >= 0
    assert t.resource == "local:fail"


def test_a_running_execution_folds_to_running_states(sfn: Any) -> None:
    arn = create(sfn, chain(("First", PASS), ("Hold", callback())), name="running")
    execution = sfn.start_execution(stateMachineArn=arn, input="{}")["executionArn"]
    token = tokens(sfn, execution, 0)
    first, hold = fold(history(sfn, execution))
    assert (first.status, hold.status, hold.exited) == (Status.SUCCEEDED, Status.RUNNING, None)
    sfn.send_task_success(taskToken=token, output="{}")
    sfn.wait(execution, timeout=10)


# -- every event type botocore lists ----------------------------------------------------

MODEL = botocore.session.get_session().get_service_model("stepfunctions")
EVENT_TYPES = MODEL.shape_for("HistoryEvent").members["type"].enum


def test_the_fold_handles_exactly_botocores_event_types() -> None:
    assert set(HANDLERS) == set(EVENT_TYPES)


def _event(
    i: int, prev: int, kind: str, member: str | None = None, **details: Any
) -> dict[str, Any]:
    event: dict[str, Any] = {"id": i, "previousEventId": prev, "type": kind, "timestamp": float(i)}
    if member:
        event[member] = details
    return event


def _task_family(prefix: str, member: str, outcome: str) -> list[dict[str, Any]]:
    """An activity or legacy Lambda task as AWS records it: scheduled, started, outcome."""
    events = [
        _event(1, 0, "ExecutionStarted", "executionStartedEventDetails", input="{}"),
        _event(2, 1, "TaskStateEntered", "stateEnteredEventDetails", name="T", input="{}"),
        _event(3, 2, f"{prefix}Scheduled", f"{member}ScheduledEventDetails", resource="r"),
        _event(4, 3, f"{prefix}Started", f"{member}StartedEventDetails"),
    ]
    detail = f"{member}{outcome}EventDetails"
    if outcome == "Succeeded":
        events.append(_event(5, 4, f"{prefix}Succeeded", detail, output="1"))
        events.append(
            _event(6, 5, "TaskStateExited", "stateExitedEventDetails", name="T", output="1")
        )
        events.append(
            _event(7, 6, "ExecutionSucceeded", "executionSucceededEventDetails", output="1")
        )
    else:
        events.append(_event(5, 4, f"{prefix}{outcome}", detail, error="E", cause="c"))
        events.append(
            _event(6, 5, "ExecutionFailed", "executionFailedEventDetails", error="E", cause="c")
        )
    return events


@pytest.mark.parametrize(
    ("events", "expected"),
    [
        *[
            pytest.param(_task_family(prefix, member, outcome), status, id=f"{prefix}{outcome}")
            for prefix, member in (("Activity", "activity"), ("LambdaFunction", "lambdaFunction"))
            for outcome, status in (
                ("Succeeded", "succeeded"),
                ("Failed", "failed"),
                ("TimedOut", "failed"),
            )
        ],
        pytest.param(
            [
                _event(1, 0, "TaskStateEntered", "stateEnteredEventDetails", name="T"),
                _event(
                    2, 1, "ActivityScheduleFailed", "activityScheduleFailedEventDetails", error="E"
                ),
                _event(3, 2, "ExecutionFailed", "executionFailedEventDetails", error="E"),
            ],
            "failed",
            id="ActivityScheduleFailed",
        ),
        *[
            pytest.param(
                [
                    _event(1, 0, "TaskStateEntered", "stateEnteredEventDetails", name="T"),
                    _event(2, 1, kind, member, error="E", cause="c"),
                    _event(3, 2, "ExecutionFailed", "executionFailedEventDetails", error="E"),
                ],
                "failed",
                id=kind,
            )
            for kind, member in (
                ("LambdaFunctionScheduleFailed", "lambdaFunctionScheduleFailedEventDetails"),
                ("LambdaFunctionStartFailed", "lambdaFunctionStartFailedEventDetails"),
                ("TaskStartFailed", "taskStartFailedEventDetails"),
                ("TaskSubmitFailed", "taskSubmitFailedEventDetails"),
                ("EvaluationFailed", "evaluationFailedEventDetails"),
            )
        ],
        pytest.param(
            [
                _event(1, 0, "MapStateEntered", "stateEnteredEventDetails", name="M"),
                _event(2, 1, "MapRunStarted", "mapRunStartedEventDetails", mapRunArn="arn"),
                _event(
                    3,
                    2,
                    "MapRunFailed",
                    "mapRunFailedEventDetails",
                    error="States.ItemReaderFailed",
                ),
                _event(4, 3, "MapRunRedriven", "mapRunRedrivenEventDetails", mapRunArn="arn"),
                _event(5, 4, "MapRunSucceeded"),
                _event(6, 5, "MapStateExited", "stateExitedEventDetails", name="M", output="[]"),
            ],
            "succeeded",
            id="MapRun",
        ),
        pytest.param(
            [
                _event(1, 0, "MapStateEntered", "stateEnteredEventDetails", name="M"),
                _event(2, 1, "MapRunStarted", "mapRunStartedEventDetails", mapRunArn="arn"),
                _event(3, 2, "MapRunAborted"),
                _event(4, 3, "ExecutionAborted", "executionAbortedEventDetails"),
            ],
            "cancelled",
            id="MapRunAborted",
        ),
    ],
)
def test_event_types_our_engine_does_not_emit(events: list[dict[str, Any]], expected: str) -> None:
    (visit,) = fold(events)
    assert visit.status == expected
    if expected == "failed":
        assert visit.error == "E" or visit.error == "States.ItemReaderFailed"


def test_events_without_ids_read_as_one_thread() -> None:
    """Hand-made lists (and the graph's own tests) have no ids: one sequential thread."""
    events: list[dict[str, Any]] = [
        {"type": "TaskStateEntered", "stateEnteredEventDetails": {"name": "A"}},
        {"type": "TaskFailed"},
        {"type": "TaskScheduled"},
        {"type": "TaskSucceeded"},
        {"type": "TaskStateExited", "stateExitedEventDetails": {"name": "A"}},
        {"type": "PassStateEntered", "stateEnteredEventDetails": {"name": "B"}},
    ]
    a, b = fold(events)
    assert (a.status, a.attempts, b.status) == (Status.SUCCEEDED, 2, Status.RUNNING)
