"""What the use-case builders share when they wire states: the catch-all that sends a Task's
error to the failure states, retriers from a policy, and the failure states themselves
(RecordFailure keeps the caught error, WorkflowFailed fails with it)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

RECORD_FAILURE = "RecordFailure"
WORKFLOW_FAILED = "WorkflowFailed"
CATCH_ALL = ["States.ALL"]


def failure_states(sdk: Any, *, execution: bool, comments: bool = False) -> Any:
    """RecordFailure -> WorkflowFailed; ``execution`` also keeps the execution's id and RunId
    with the error, ``comments`` gives both states a comment."""
    parameters = {"Error.$": "$.error.Error", "Cause.$": "$.error.Cause"}
    if execution:
        parameters |= {"ExecutionId.$": "$$.Execution.Id", "RunId.$": "$$.Execution.Input.RunId"}
    note: dict[str, str] = {}
    if execution:
        note = {"comment": "Keep the caught error, and the execution it belongs to."}
    record = sdk.steps.Pass(RECORD_FAILURE, **note, parameters=parameters, result_path="$.failure")
    fail_note = {"comment": "Fail with the original error and cause."} if comments else {}
    record.next(
        sdk.FailFromPaths(
            WORKFLOW_FAILED, **fail_note, error_path="$.failure.Error", cause_path="$.failure.Cause"
        )
    )
    return record


def catch_all(sdk: Any, step: Any, failure: Any, retries: Iterable[Any] = ()) -> Any:
    """``step`` with ``retries`` in order, then every error caught into ``failure``
    (the error kept at ``$.error``)."""
    for retry in retries:
        step.add_retry(retry)
    step.add_catch(
        sdk.steps.Catch(error_equals=list(CATCH_ALL), next_step=failure, result_path="$.error")
    )
    return step


def retrier(sdk: Any, errors: Iterable[str], policy: Mapping[str, Any] | Any) -> Any:
    """A Retrier for ``errors`` from a policy: a mapping or an object with the fields
    ``interval_seconds``, ``max_attempts``, ``backoff_rate`` and ``max_delay_seconds``
    (0 or missing: no cap)."""

    def field(name: str) -> Any:
        if isinstance(policy, Mapping):
            return policy.get(name)
        return getattr(policy, name, None)

    return sdk.Retry(
        error_equals=list(errors),
        interval_seconds=field("interval_seconds"),
        max_attempts=field("max_attempts"),
        backoff_rate=field("backoff_rate"),
        max_delay_seconds=field("max_delay_seconds") or None,
    )
