"""Every setting of the local runtime, and where it comes from.

Resolution order, written once in :func:`resolve`: explicit argument, then environment
variable, then default.
"""

from __future__ import annotations

import os
from pathlib import Path

from localaws.errors import UserError

# The names Lambda workers read (ENV_S3_ROOT, ENV_ENDPOINTS_DIR, ENV_TABLES_DIR, ENV_ACCOUNT)
# and resolve() live in the Lambda-side package, which ships alone inside Lambda zips.
from localaws.lambdakit.config import (
    DEFAULT_ACCOUNT,
    ENV_ACCOUNT,
    ENV_ENDPOINTS_DIR,
    ENV_S3_ROOT,
    ENV_TABLES_DIR,
    resolve,
)

__all__ = [
    "DEFAULT_ACCOUNT",
    "ENV_ACCOUNT",
    "ENV_ENDPOINTS_DIR",
    "ENV_S3_ROOT",
    "ENV_TABLES_DIR",
    "resolve",
]

# Environment variables the runtime reads.  Nothing else in the package reads os.environ
# for configuration (worker processes get their environment from the runtime).
ENV_STATE_DIR = "LOCALAWS_STATE_DIR"  # state directory (database, S3 root, logs, lock)
ENV_REGION = "LOCALAWS_REGION"  # region used in ARNs
ENV_CREDENTIALS = "LOCALAWS_CREDENTIALS"  # credentials file: the server verifies SigV4 against it
ENV_MAX_BODY = "LOCALAWS_MAX_REQUEST_BYTES"  # cap on a JSON API request body (S3 keeps its own)

DEFAULT_STATE_DIR = ".local-aws"
DEFAULT_REGION = "us-east-1"
DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8083
DEFAULT_MAX_BODY = 16 * 1024 * 1024
# Access key the runtime gives its workers and clients when no credentials file is configured
# (the server then accepts any key; a SigV4 signature still needs one).
DEFAULT_ACCESS_KEY = "localaws"
DEFAULT_SECRET_KEY = "localaws"


def state_dir(explicit: str | os.PathLike[str] | None = None) -> Path:
    raw = resolve(
        None if explicit is None else os.fspath(explicit), ENV_STATE_DIR, DEFAULT_STATE_DIR
    )
    return Path(raw).resolve()


def region(explicit: str | None = None) -> str:
    return resolve(explicit, ENV_REGION, DEFAULT_REGION)


def account_id(explicit: str | None = None) -> str:
    return resolve(explicit, ENV_ACCOUNT, DEFAULT_ACCOUNT)


def credentials_file(explicit: str | os.PathLike[str] | None = None) -> Path | None:
    """The credentials file the server verifies signatures against, or None (any key)."""
    raw = resolve(None if explicit is None else os.fspath(explicit), ENV_CREDENTIALS, "")
    return Path(raw).expanduser().resolve() if raw else None


def max_request_bytes(explicit: int | None = None) -> int:
    """The largest JSON API request body the server reads (larger: 413)."""
    raw = resolve(None if explicit is None else str(explicit), ENV_MAX_BODY, "")
    if not raw:
        return DEFAULT_MAX_BODY
    try:
        value = int(raw)
    except ValueError:
        value = 0
    if value <= 0:
        raise UserError(
            f"{ENV_MAX_BODY}={raw!r}: not a positive number of bytes; "
            f"unset it for the default ({DEFAULT_MAX_BODY})"
        )
    return value
