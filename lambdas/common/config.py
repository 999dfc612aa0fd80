"""Every environment variable the Lambdas read, in one place.

* ``PREDICTIONS_TABLE`` - name of the predictions table (DynamoDB, locally and on AWS).  The
  predict event's ``table_name`` wins.
* ``ENDPOINT_NAME`` - the endpoint the HTTP API Lambda forwards readings to.
* ``ALLOW_ORIGIN`` - the HTTP API's ``Access-Control-Allow-Origin`` (default ``*``).
* ``DECISION_THRESHOLD`` - probability at or above which the API labels a reading a likely
  failure (default 0.5).
* ``AWS_ENDPOINT_URL`` - set by the local runtime in its Lambda workers (the local server);
  boto3 reads it, not this module.
* ``LOCALAWS_S3_ROOT`` / ``LOCALAWS_ENDPOINTS_DIR`` - read by ``localaws.lambdakit.storage``
  and ``localaws.lambdakit.clients``, not here.
"""

from __future__ import annotations

import os

ENV_PREDICTIONS_TABLE = "PREDICTIONS_TABLE"

DEFAULT_PREDICTIONS_TABLE = "predictions"
ENV_ENDPOINT_NAME = "ENDPOINT_NAME"
DEFAULT_ENDPOINT_NAME = "predictive-maintenance"
ENV_ALLOW_ORIGIN = "ALLOW_ORIGIN"
ENV_DECISION_THRESHOLD = "DECISION_THRESHOLD"


def endpoint_name() -> str:
    return os.environ.get(ENV_ENDPOINT_NAME) or DEFAULT_ENDPOINT_NAME


def allow_origin() -> str:
    return os.environ.get(ENV_ALLOW_ORIGIN) or "*"


def decision_threshold() -> float:
    """``$DECISION_THRESHOLD``, else 0.5; a malformed value is refused naming the variable."""
    value = os.environ.get(ENV_DECISION_THRESHOLD) or "0.5"
    try:
        threshold = float(value)
    except ValueError:
        raise ValueError(
            f"{ENV_DECISION_THRESHOLD}={value!r}: not a number; set a probability from 0 to 1"
        ) from None
    if not 0.0 <= threshold <= 1.0:
        raise ValueError(f"{ENV_DECISION_THRESHOLD}={value!r}: set a probability from 0 to 1")
    return threshold


def predictions_table_name(explicit: str | None = None) -> str:
    """The event's table name, else ``$PREDICTIONS_TABLE``, else ``predictions``."""
    if explicit:
        return explicit
    return os.environ.get(ENV_PREDICTIONS_TABLE) or DEFAULT_PREDICTIONS_TABLE
