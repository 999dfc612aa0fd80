"""Errors of the local runtime, sorted by who can fix them.

* :class:`UserError` - the user: a bad definition, hyperparameter, request or data.
* :class:`PlatformError` - the machine: disk full, port taken, a worker that died.
* :class:`ServiceError` - an AWS API error with AWS's code (``ValidationException``,
  ``ExecutionAlreadyExists``...), raised by the service backends and turned into AWS's
  error response by the HTTP layer.  ``sender_fault`` is True when the caller can fix it.

Anything else that escapes is a bug in this code.
"""

from __future__ import annotations

# Defined in the Lambda-side package (it ships alone inside Lambda zips and raises them too).
from localaws.lambdakit.errors import LocalAwsError, UserError

# How much of a caller's input an error message may quote, and how long a message may be:
# an error never echoes a request back at length.
EXCERPT_CHARS = 200
MAX_MESSAGE_CHARS = 2048


def excerpt(text: str, limit: int = EXCERPT_CHARS) -> str:
    """``text`` when short, else its head and how much was left out."""
    if len(text) <= limit:
        return text
    return f"{text[:limit]}... ({len(text) - limit} more characters)"


__all__ = [
    "MAX_MESSAGE_CHARS",
    "LocalAwsError",
    "PlatformError",
    "ServiceError",
    "UserError",
    "excerpt",
]


class PlatformError(LocalAwsError):
    """The machine let us down (disk, ports, processes)."""


class ServiceError(LocalAwsError):
    """An AWS API error, with AWS's error code and HTTP status."""

    def __init__(self, code: str, message: str, *, status: int = 400, sender_fault: bool = True):
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message
        self.status = status
        self.sender_fault = sender_fault

    def to_dict(self) -> dict[str, str]:
        return {"__type": self.code, "message": excerpt(self.message, MAX_MESSAGE_CHARS)}


def validation_error(message: str) -> ServiceError:
    return ServiceError("ValidationException", message)


def not_found(code: str, message: str) -> ServiceError:
    return ServiceError(code, message, status=400)
