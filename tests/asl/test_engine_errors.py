"""Retry, Catch, timeouts, heartbeats, callbacks and stop: the engine's one error loop.

These run definitions on the engine directly, so Retry intervals can be a few
milliseconds (AWS's validation, applied by the API, wants whole seconds).
"""

from __future__ import annotations

import json

import pytest
import sfn_helpers
from sfn_helpers import CALLBACK, FAIL, PASSTHROUGH, SLEEP, chain, engine_run, wait_for

from localaws.asl.engine import TaskTokens, error_matches, retry_delay
from localaws.asl.integrations import IntegrationRegistry
from localaws.asl.states import Retrier
from localaws.errors import ServiceError
from localaws.stepfunctions.integrations.passthrough import PassthroughIntegration


def failing_task(error: str = "Custom.Error", **fields: object) -> dict[str, object]:
    return {
        "Type": "Task",
        "Resource": FAIL,
        "Parameters": {"Error": error, "Cause": "it broke"},
        **fields,
    }


@pytest.mark.parametrize(
    ("error_equals", "error", "is_task", "expected"),
    [
        (["States.ALL"], "Custom.Error", False, True),
        (["States.ALL"], "States.Runtime", False, False),
        (["States.ALL"], "States.DataLimitExceeded", False, False),
        (["States.Runtime"], "States.Runtime", False, False),
        (["States.DataLimitExceeded"], "States.DataLimitExceeded", False, True),
        (["States.TaskFailed"], "Custom.Error", True, True),
        (["States.TaskFailed"], "States.Timeout", True, False),
        (["States.TaskFailed"], "Custom.Error", False, False),
        (["A", "B"], "B", False, True),
        (["A"], "B", False, False),
    ],
    ids=[
        "all-matches-custom",
        "all-skips-runtime",
        "all-skips-data-limit",
        "runtime-not-even-by-name",
        "data-limit-by-name",
        "taskfailed-wildcard",
        "taskfailed-skips-timeout",
        "taskfailed-only-on-tasks",
        "list",
        "no-match",
    ],
)
def test_error_matching(error_equals: list[str], error: str, is_task: bool, expected: bool) -> None:
    assert error_matches(tuple(error_equals), error, is_task) is expected


@pytest.mark.parametrize(
    ("retrier", "delays"),
    [
        (Retrier(("X",), 1, 3, 2.0), [1, 2, 4]),
        (Retrier(("X",), 2, 4, 3.0, max_delay_seconds=10), [2, 6, 10, 10]),
        (Retrier(("X",), 1, 3, 1.0), [1, 1, 1]),
    ],
    ids=["backoff", "max-delay", "constant"],
)
def test_retry_delays(retrier: Retrier, delays: list[float]) -> None:
    assert [retry_delay(retrier, i) for i in range(len(delays))] == delays


def test_full_jitter_stays_under_the_delay() -> None:
    retrier = Retrier(("X",), 1, 3, 2.0, jitter="FULL")
    samples = [retry_delay(retrier, 2) for _ in range(200)]
    assert all(0 <= s <= 4 for s in samples)
    assert len(set(samples)) > 100


def test_retry_until_max_attempts_then_fail() -> None:
    retry = [
        {
            "ErrorEquals": ["Custom.Error"],
            "IntervalSeconds": 0.01,
            "MaxAttempts": 2,
            "BackoffRate": 2,
        }
    ]
    r = engine_run(chain(("T", failing_task(Retry=retry))))
    failed, scheduled = r.times("TaskFailed"), r.times("TaskScheduled")
    # Retried after IntervalSeconds, then after IntervalSeconds * BackoffRate.
    assert scheduled[1] - failed[0] >= 0.01 and scheduled[2] - failed[1] >= 0.02
    assert (r.status, r.outcome.error, r.outcome.cause) == ("FAILED", "Custom.Error", "it broke")
    types = r.types()
    assert types.count("TaskStateEntered") == 1
    assert types.count("TaskScheduled") == 3 and types.count("TaskFailed") == 3
    assert "TaskStateExited" not in types
    assert r.details("TaskFailed")[0] == {
        "resourceType": "local",
        "resource": "fail",
        "error": "Custom.Error",
        "cause": "it broke",
    }


def test_first_matching_retrier_decides_and_max_attempts_zero_never_retries() -> None:
    retry = [
        {"ErrorEquals": ["Custom.Error"], "MaxAttempts": 0},
        {"ErrorEquals": ["States.ALL"], "IntervalSeconds": 0.01, "MaxAttempts": 5},
    ]
    r = engine_run(chain(("T", failing_task(Retry=retry))))
    assert r.types().count("TaskScheduled") == 1


def test_retry_count_in_context() -> None:
    retry = [
        {"ErrorEquals": ["States.ALL"], "IntervalSeconds": 0.01, "MaxAttempts": 2, "BackoffRate": 1}
    ]
    task = {
        "Type": "Task",
        "Resource": FAIL,
        "Parameters": {"Error.$": "States.Format('Attempt{}', $$.State.RetryCount)"},
        "Retry": retry,
    }
    r = engine_run(chain(("T", task)))
    assert [d["error"] for d in r.details("TaskFailed")] == ["Attempt0", "Attempt1", "Attempt2"]


def test_catch_with_result_path_goes_to_next() -> None:
    definition = {
        "StartAt": "T",
        "States": {
            "T": failing_task(
                Catch=[{"ErrorEquals": ["States.ALL"], "ResultPath": "$.err", "Next": "Handle"}]
            ),
            "Handle": {"Type": "Pass", "End": True},
        },
    }
    r = engine_run(definition, {"keep": 1})
    assert r.status == "SUCCEEDED"
    assert r.output == {"keep": 1, "err": {"Error": "Custom.Error", "Cause": "it broke"}}
    assert r.types()[1:7] == [
        "TaskStateEntered",
        "TaskScheduled",
        "TaskStarted",
        "TaskFailed",
        "TaskStateExited",
        "PassStateEntered",
    ]


def test_retry_then_catch() -> None:
    definition = {
        "StartAt": "T",
        "States": {
            "T": failing_task(
                Retry=[
                    {"ErrorEquals": ["Custom.Error"], "IntervalSeconds": 0.01, "MaxAttempts": 1}
                ],
                Catch=[
                    {"ErrorEquals": ["Other"], "Next": "No"},
                    {"ErrorEquals": ["Custom.Error"], "Next": "Yes"},
                ],
            ),
            "No": {"Type": "Fail"},
            "Yes": {"Type": "Succeed"},
        },
    }
    r = engine_run(definition)
    assert r.status == "SUCCEEDED"
    assert r.output == {"Error": "Custom.Error", "Cause": "it broke"}
    assert r.types().count("TaskScheduled") == 2


def test_states_all_does_not_catch_runtime_errors() -> None:
    definition = {
        "StartAt": "T",
        "States": {
            "T": {
                "Type": "Task",
                "Resource": PASSTHROUGH,
                "TimeoutSecondsPath": "$.missing",
                "Catch": [{"ErrorEquals": ["States.ALL"], "Next": "Caught"}],
                "End": True,
            },
            "Caught": {"Type": "Succeed"},
        },
    }
    r = engine_run(definition, {})
    assert (r.status, r.outcome.error) == ("FAILED", "States.Runtime")


def test_catch_on_parallel_and_map() -> None:
    definition = {
        "StartAt": "P",
        "States": {
            "P": {
                "Type": "Parallel",
                "Branches": [
                    {
                        "StartAt": "F",
                        "States": {"F": {"Type": "Fail", "Error": "Branch.Err", "Cause": "x"}},
                    }
                ],
                "Catch": [{"ErrorEquals": ["Branch.Err"], "Next": "M", "ResultPath": "$.p"}],
            },
            "M": {
                "Type": "Map",
                "ItemsPath": "$.items",
                "ItemProcessor": {
                    "StartAt": "F",
                    "States": {"F": {"Type": "Fail", "Error": "Item.Err"}},
                },
                "Catch": [{"ErrorEquals": ["States.ALL"], "Next": "Done", "ResultPath": "$.m"}],
            },
            "Done": {"Type": "Succeed"},
        },
    }
    r = engine_run(definition, {"items": [1]})
    assert r.output == {
        "items": [1],
        "p": {"Error": "Branch.Err", "Cause": "x"},
        "m": {"Error": "Item.Err", "Cause": ""},
    }


def test_task_timeout() -> None:
    task = {"Type": "Task", "Resource": SLEEP, "Parameters": {"Seconds": 30}, "TimeoutSeconds": 1}
    r = engine_run(chain(("T", task)))
    assert (r.status, r.outcome.error) == ("FAILED", "States.Timeout")
    (scheduled,), (timed_out_at,) = r.times("TaskScheduled"), r.times("TaskTimedOut")
    assert timed_out_at - scheduled >= 1
    (timed_out,) = r.details("TaskTimedOut")
    assert timed_out["error"] == "States.Timeout" and timed_out["resource"] == "sleep"


def test_timeout_seconds_path_and_catch_by_name() -> None:
    definition = {
        "StartAt": "T",
        "States": {
            "T": {
                "Type": "Task",
                "Resource": SLEEP,
                "Parameters": {"Seconds": 30},
                "TimeoutSecondsPath": "$.timeout",
                "Catch": [{"ErrorEquals": ["States.Timeout"], "Next": "Late"}],
                "End": True,
            },
            "Late": {"Type": "Pass", "Result": "late", "End": True},
        },
    }
    r = engine_run(definition, {"timeout": 1})
    assert r.output == "late"


def test_heartbeat_timeout_and_heartbeats_keep_a_task_alive() -> None:
    silent = {
        "Type": "Task",
        "Resource": SLEEP,
        "Parameters": {"Seconds": 30},
        "HeartbeatSeconds": 1,
    }
    r = engine_run(chain(("T", silent)))
    assert (r.status, r.outcome.error) == ("FAILED", "States.HeartbeatTimeout")
    beating = {
        "Type": "Task",
        "Resource": SLEEP,
        "Parameters": {"Seconds": 1.5, "HeartbeatEverySeconds": 0.25},
        "HeartbeatSeconds": 1,
    }
    assert engine_run(chain(("T", beating))).status == "SUCCEEDED"


def _token_of(r: object) -> str:
    def find() -> str | None:
        for d in r.details("TaskScheduled"):  # type: ignore[attr-defined]
            return json.loads(d["parameters"])["token"]
        return None

    return wait_for(find, what="the task token")


def test_wait_for_task_token_success() -> None:
    tokens = TaskTokens()
    task = {"Type": "Task", "Resource": CALLBACK, "Parameters": {"token.$": "$$.Task.Token"}}
    r = engine_run(chain(("T", task)), tokens=tokens, background=True)
    token = _token_of(r)
    wait_for(lambda: "TaskSubmitted" in r.types(), what="TaskSubmitted")
    tokens.heartbeat(token)
    tokens.succeed(token, {"ok": True})
    r.join()
    assert r.output == {"ok": True}
    assert r.types()[2:6] == ["TaskScheduled", "TaskStarted", "TaskSubmitted", "TaskSucceeded"]
    with pytest.raises(ServiceError) as e:
        tokens.succeed(token, {})
    assert e.value.code == "TaskTimedOut"
    with pytest.raises(ServiceError) as e:
        tokens.succeed("never-issued", {})
    assert e.value.code == "TaskDoesNotExist"


def test_wait_for_task_token_failure_is_caught() -> None:
    tokens = TaskTokens()
    definition = {
        "StartAt": "T",
        "States": {
            "T": {
                "Type": "Task",
                "Resource": CALLBACK,
                "Parameters": {"token.$": "$$.Task.Token"},
                "Catch": [{"ErrorEquals": ["Worker.Failed"], "Next": "Caught"}],
                "End": True,
            },
            "Caught": {"Type": "Pass", "End": True},
        },
    }
    r = engine_run(definition, tokens=tokens, background=True)
    tokens.fail(_token_of(r), "Worker.Failed", "bad input")
    r.join()
    assert r.output == {"Error": "Worker.Failed", "Cause": "bad input"}


def test_wait_for_task_token_times_out_and_closes_the_token() -> None:
    tokens = TaskTokens()
    task = {
        "Type": "Task",
        "Resource": CALLBACK,
        "Parameters": {"token.$": "$$.Task.Token"},
        "HeartbeatSeconds": 1,
    }
    r = engine_run(chain(("T", task)), tokens=tokens, background=True)
    token = _token_of(r)
    r.join()
    assert r.outcome.error == "States.HeartbeatTimeout"
    with pytest.raises(ServiceError) as e:
        tokens.heartbeat(token)
    assert e.value.code == "TaskTimedOut"


def test_stop_aborts_a_running_task_and_wait() -> None:
    for state in (
        {"Type": "Task", "Resource": SLEEP, "Parameters": {"Seconds": 30}},
        {"Type": "Wait", "Seconds": 30},
    ):
        r = engine_run(chain(("S", state)), background=True)
        wait_for(lambda r=r: len(r.types()) >= 2, what="the state to start")
        r.run.stop("User.Stop", "enough")
        r.join()
        assert (r.status, r.outcome.error, r.outcome.cause) == ("ABORTED", "User.Stop", "enough")
        types = r.types()
        assert types[-2:] == [f"{state['Type']}StateAborted", "ExecutionAborted"]


def test_execution_timeout() -> None:
    definition = {**chain(("W", {"Type": "Wait", "Seconds": 30})), "TimeoutSeconds": 1}
    r = engine_run(definition)
    assert (r.status, r.outcome.error) == ("TIMED_OUT", "States.Timeout")
    assert r.types()[-1] == "ExecutionTimedOut"


def test_unexpected_integration_error_is_a_task_failure(monkeypatch: pytest.MonkeyPatch) -> None:
    class Broken(PassthroughIntegration):
        def run(self, request: object) -> object:
            raise KeyError("oops")

    monkeypatch.setattr(sfn_helpers, "registry", lambda: IntegrationRegistry([Broken()]))
    r = engine_run(chain(("T", {"Type": "Task", "Resource": PASSTHROUGH})))
    assert (r.status, r.outcome.error) == ("FAILED", "States.TaskFailed")
    assert r.outcome.cause == "KeyError: 'oops'"
