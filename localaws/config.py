"""Every setting of the local runtime, and where it comes from.

Resolution order, written once in :func:`resolve`: explicit argument, then environment
variable, then default.
"""

from __future__ import annotations

import os
from pathlib import Path

# Environment variables the runtime reads.  Nothing else in the package reads os.environ
# for configuration (worker processes get their environment from the runtime).
ENV_STATE_DIR = "LOCALAWS_STATE_DIR"  # state directory (database, S3 root, logs, lock)
ENV_REGION = "LOCALAWS_REGION"  # region used in ARNs
ENV_ACCOUNT = "LOCALAWS_ACCOUNT_ID"  # account id used in ARNs
ENV_S3_ROOT = "LOCALAWS_S3_ROOT"  # set in Lambda workers: where s3:// URIs live locally
ENV_ENDPOINTS_DIR = "LOCALAWS_ENDPOINTS_DIR"  # set in Lambda workers: endpoint registry
ENV_TABLES_DIR = "LOCALAWS_TABLES_DIR"  # set in Lambda workers: local stand-in for DynamoDB tables

DEFAULT_STATE_DIR = ".local-aws"
DEFAULT_REGION = "us-east-1"
DEFAULT_ACCOUNT = "123456789012"
DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8083


def resolve(explicit: str | None, env_var: str, default: str) -> str:
    """Return the explicit value, else the environment variable, else the default."""
    if explicit is not None:
        return explicit
    value = os.environ.get(env_var)
    if value:
        return value
    return default


def state_dir(explicit: str | os.PathLike[str] | None = None) -> Path:
    raw = resolve(
        None if explicit is None else os.fspath(explicit), ENV_STATE_DIR, DEFAULT_STATE_DIR
    )
    return Path(raw).resolve()


def region(explicit: str | None = None) -> str:
    return resolve(explicit, ENV_REGION, DEFAULT_REGION)


def account_id(explicit: str | None = None) -> str:
    return resolve(explicit, ENV_ACCOUNT, DEFAULT_ACCOUNT)
