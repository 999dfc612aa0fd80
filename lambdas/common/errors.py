"""The Lambdas' exceptions, one class per failure, so a state's ``Catch`` can target it by name.

Step Functions reports a Lambda's exception as ``errorType`` = the class name, so these
names are part of the workflow's interface: ``"ErrorEquals": ["SchemaError"]``.

Sorted by who can fix them:

* the caller's event - :class:`InvalidEventError`;
* the data - :class:`InputNotFoundError`, :class:`SchemaError`, :class:`DataQualityError`;
* the endpoint - :class:`EndpointError`;
* the predictions table - :class:`PredictionsTableError`;
* the movie-recommender steps - :class:`StreamNotDrainedError`
  (retried until Firehose has delivered), :class:`ModelRejectedError`.
"""

from __future__ import annotations


class LambdaError(Exception):
    """Base class of every error the Lambdas raise on purpose."""


class InvalidEventError(LambdaError):
    """The event lacks a field or has a bad value; the message names the field and the fix."""


class InputNotFoundError(LambdaError):
    """No object at the URI (or no object under the prefix) the event names."""


class SchemaError(LambdaError):
    """The raw data's columns are not the expected ones; the message lists missing and
    unexpected columns."""


class DataQualityError(LambdaError):
    """The data parses but cannot be used: too many unparseable rows, a single class,
    predictions and labels of different lengths..."""


class EndpointError(LambdaError):
    """The SageMaker endpoint refused the request or answered something unusable."""


class PredictionsTableError(LambdaError):
    """The predictions table could not be written or read."""


class StreamNotDrainedError(LambdaError):
    """Fewer records have been delivered by Firehose than the simulator sent (yet): retried."""


class ModelRejectedError(LambdaError):
    """The trained model's evaluation is missing or malformed."""
