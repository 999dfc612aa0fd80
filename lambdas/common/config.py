"""Every environment variable the Lambdas read, in one place.

* ``PREDICTIONS_TABLE`` - name of the predictions table (DynamoDB, locally and on AWS).  The
  predict event's ``table_name`` wins.
* ``AWS_ENDPOINT_URL`` - set by the local runtime in its Lambda workers (the local server);
  boto3 reads it, not this module.
* ``LOCALAWS_S3_ROOT`` / ``LOCALAWS_ENDPOINTS_DIR`` - read by ``localaws.lambdakit.storage``
  and ``localaws.lambdakit.clients``, not here.
"""

from __future__ import annotations

import os

ENV_PREDICTIONS_TABLE = "PREDICTIONS_TABLE"

DEFAULT_PREDICTIONS_TABLE = "predictions"


def predictions_table_name(explicit: str | None = None) -> str:
    """The event's table name, else ``$PREDICTIONS_TABLE``, else ``predictions``."""
    if explicit:
        return explicit
    return os.environ.get(ENV_PREDICTIONS_TABLE) or DEFAULT_PREDICTIONS_TABLE
