"""Every environment variable the Lambdas read, in one place.

* ``PREDICTIONS_TABLE`` - name of the predictions table (DynamoDB on AWS; locally a SQLite
  file ``<LOCALAWS_TABLES_DIR>/<name>.sqlite``).  The predict event's ``table_name`` wins.
* ``LOCALAWS_TABLES_DIR`` - set by the local runtime in its Lambda workers; when set, the
  predictions table is the SQLite stand-in, otherwise DynamoDB through boto3.
* ``LOCALAWS_S3_ROOT`` / ``LOCALAWS_ENDPOINTS_DIR`` - read by ``localaws.lambdakit.storage`` and
  ``localaws.lambdakit.clients``, not here.
"""

from __future__ import annotations

import os

from localaws.lambdakit.config import ENV_TABLES_DIR

ENV_PREDICTIONS_TABLE = "PREDICTIONS_TABLE"

DEFAULT_PREDICTIONS_TABLE = "predictions"


def predictions_table_name(explicit: str | None = None) -> str:
    """The event's table name, else ``$PREDICTIONS_TABLE``, else ``predictions``."""
    if explicit:
        return explicit
    return os.environ.get(ENV_PREDICTIONS_TABLE) or DEFAULT_PREDICTIONS_TABLE


def tables_dir() -> str | None:
    return os.environ.get(ENV_TABLES_DIR) or None
