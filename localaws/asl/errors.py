"""Step Functions error names and the one exception that carries a state's failure."""

from __future__ import annotations

from enum import StrEnum


class StatesError(StrEnum):
    ALL = "States.ALL"
    TASK_FAILED = "States.TaskFailed"
    TIMEOUT = "States.Timeout"
    HEARTBEAT_TIMEOUT = "States.HeartbeatTimeout"
    RUNTIME = "States.Runtime"
    PERMISSIONS = "States.Permissions"
    RESULT_PATH_MATCH_FAILURE = "States.ResultPathMatchFailure"
    PARAMETER_PATH_FAILURE = "States.ParameterPathFailure"
    QUERY_EVALUATION_ERROR = "States.QueryEvaluationError"
    BRANCH_FAILED = "States.BranchFailed"
    NO_CHOICE_MATCHED = "States.NoChoiceMatched"
    INTRINSIC_FAILURE = "States.IntrinsicFailure"
    EXCEED_TOLERATED_FAILURE_THRESHOLD = "States.ExceedToleratedFailureThreshold"
    ITEM_READER_FAILED = "States.ItemReaderFailed"
    RESULT_WRITER_FAILED = "States.ResultWriterFailed"
    DATA_LIMIT_EXCEEDED = "States.DataLimitExceeded"


# States.ALL matches every error except these two (AWS's error-handling page); the engine uses
# this set when matching Retry/Catch ErrorEquals.
NOT_MATCHED_BY_ALL = frozenset({StatesError.RUNTIME.value, StatesError.DATA_LIMIT_EXCEEDED.value})
# States.Runtime is not retried or caught even when an ErrorEquals names it (AWS: a Catch
# naming States.Runtime does not catch a path that finds nothing in Parameters).
UNCATCHABLE = frozenset({StatesError.RUNTIME.value})

# Errors the engine itself raises while evaluating a state; their cause starts with AWS's
# "An error occurred while executing the state '<name>' (entered at the event id #<n>). "
ENGINE_ERRORS = frozenset(
    {
        StatesError.RUNTIME.value,
        StatesError.QUERY_EVALUATION_ERROR.value,
        StatesError.DATA_LIMIT_EXCEEDED.value,
    }
)


class StateFailure(Exception):
    """A state failed with a Step Functions error name and cause.

    Raised by state evaluation and by service integrations; the engine turns it into the
    history events and into the Retry/Catch decision in one place.
    """

    def __init__(self, error: str, cause: str = "", *, located: bool = False):
        super().__init__(f"{error}: {cause}" if cause else error)
        self.error = str(error)
        self.cause = cause
        # True once the cause names the state it happened in (or must not: a Fail state's
        # own Error/Cause, a failure handed up from a Parallel branch or Map iteration).
        self.located = located
