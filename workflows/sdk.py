"""The one place the Step Functions Data Science SDK and the SageMaker SDK are imported.

``stepfunctions`` sets the root logger's level to ERROR when it is imported, and the
SageMaker SDK prints a v2 banner; both are undone here, so the rest of ``workflows`` imports
the SDKs through this module and logging stays as the application configured it.

Importing this module is slow (the SageMaker SDK is large); modules that only need it to
build a workflow import it lazily.
"""

from __future__ import annotations

import logging
import os
import threading
import warnings
from collections.abc import Iterator
from contextlib import contextmanager

_root = logging.getLogger()
_level = _root.level
_handlers = list(_root.handlers)
os.environ.setdefault("SAGEMAKER_SUPPRESS_V2_WARNING", "1")
# "Not applying SDK defaults from location: ..." at INFO on every import.
logging.getLogger("sagemaker.config").setLevel(logging.WARNING)
try:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # pkg_resources deprecation, pydantic and friends
        import sagemaker
        import sagemaker.image_uris
        import sagemaker.inputs
        import sagemaker.model
        import sagemaker.transformer
        import stepfunctions
        from stepfunctions import steps
        from stepfunctions.inputs import ExecutionInput, Placeholder, StepInput
        from stepfunctions.steps import integration_resources
        from stepfunctions.steps.states import Fail
        from stepfunctions.workflow import Workflow
finally:
    _root.setLevel(_level)
    _root.handlers[:] = _handlers

__all__ = [
    "ExecutionInput",
    "FailFromPaths",
    "Placeholder",
    "Retry",
    "StepInput",
    "Workflow",
    "partition_of",
    "sagemaker",
    "stepfunctions",
    "steps",
]


class Retry(steps.Retry):
    """A Retrier that may also cap its interval (``MaxDelaySeconds``), which the SDK lacks."""

    _FIELDS = frozenset(
        {"error_equals", "interval_seconds", "max_attempts", "backoff_rate", "max_delay_seconds"}
    )

    def is_field_allowed(self, field_name: str) -> bool:
        return field_name in self._FIELDS


class FailFromPaths(Fail):
    """A Fail state that may take its error and cause from the state input.

    The SDK's ``Fail`` knows only the static ``Error``/``Cause``; ASL also has
    ``ErrorPath``/``CausePath`` (JSONPath or intrinsic), which let the cause name runtime
    values such as the metric that missed its threshold.
    """

    _FIELDS = frozenset({"comment", "error", "cause", "error_path", "cause_path"})

    def is_field_allowed(self, field_name: str) -> bool:
        return field_name in self._FIELDS


_partition_lock = threading.Lock()


def partition_of(region: str) -> str:
    """The AWS partition of a region (``aws``, ``aws-cn``, ``aws-us-gov``, ``aws-iso``...)."""
    prefixes = (
        ("cn-", "aws-cn"),
        ("us-gov-", "aws-us-gov"),
        ("us-isob-", "aws-iso-b"),
        ("us-iso-", "aws-iso"),
    )
    for prefix, partition in prefixes:
        if region.startswith(prefix):
            return partition
    return "aws"


@contextmanager
def region(name: str) -> Iterator[None]:
    """Build steps for ``name``'s partition.

    The SDK asks a fresh default ``boto3.Session()`` for the partition of every Task's
    resource ARN: it ignores the region we build for, warns when the environment has none,
    and reads botocore's endpoint tables each time (a quarter second per Task).
    """
    partition = partition_of(name)
    with _partition_lock:
        original = integration_resources.get_aws_partition
        integration_resources.get_aws_partition = lambda: partition
        try:
            yield
        finally:
            integration_resources.get_aws_partition = original
