"""The base errors, shared by the runtime and the Lambda side (:mod:`localaws.errors` re-exports
them, so ``except UserError`` catches a bad S3 key from either)."""

from __future__ import annotations


class LocalAwsError(Exception):
    """Base class of every error the runtime raises on purpose."""


class UserError(LocalAwsError):
    """Bad input that the user can fix; the message names the field, the value and the fix."""
