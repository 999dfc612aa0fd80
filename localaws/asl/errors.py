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


# States.ALL does not match this one (AWS: "States.Runtime ... cannot be retried or caught"
# only by States.ALL?  No: AWS says States.ALL matches every error *except* States.DataLimitExceeded
# and States.Runtime).  The engine uses this set when matching Retry/Catch ErrorEquals.
NOT_MATCHED_BY_ALL = frozenset({StatesError.RUNTIME.value, "States.DataLimitExceeded"})


class StateFailure(Exception):
    """A state failed with a Step Functions error name and cause.

    Raised by state evaluation and by service integrations; the engine turns it into the
    history events and into the Retry/Catch decision in one place.
    """

    def __init__(self, error: str, cause: str = ""):
        super().__init__(f"{error}: {cause}" if cause else error)
        self.error = str(error)
        self.cause = cause
