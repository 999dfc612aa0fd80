"""Every setting of the local runtime, and where it comes from.

Resolution order, written once in :func:`resolve`: explicit argument, then environment
variable, then default.
"""

from __future__ import annotations

import os
from pathlib import Path

from localaws.errors import UserError

# The names Lambda workers read (ENV_S3_ROOT, ENV_ENDPOINTS_DIR, ENV_ACCOUNT)
# and resolve() live in the Lambda-side package, which ships alone inside Lambda zips.
from localaws.lambdakit.config import (
    DEFAULT_ACCOUNT,
    ENV_ACCOUNT,
    ENV_ENDPOINTS_DIR,
    ENV_S3_ROOT,
    resolve,
)

__all__ = [
    "DEFAULT_ACCOUNT",
    "ENV_ACCOUNT",
    "ENV_ENDPOINTS_DIR",
    "ENV_S3_ROOT",
    "resolve",
]

# Environment variables the runtime reads.  Nothing else in the package reads os.environ
# for configuration (worker processes get their environment from the runtime).
ENV_STATE_DIR = "LOCALAWS_STATE_DIR"  # state directory (database, S3 root, logs, lock)
ENV_REGION = "LOCALAWS_REGION"  # region used in ARNs
ENV_CREDENTIALS = "LOCALAWS_CREDENTIALS"  # credentials file: the server verifies SigV4 against it
ENV_MAX_BODY = "LOCALAWS_MAX_REQUEST_BYTES"  # cap on a JSON API request body (S3 keeps its own)
ENV_JOURNAL_SYNC = "LOCALAWS_JOURNAL_SYNC"  # full | normal: see journal_sync()
ENV_SNAPSHOT_EVERY = "LOCALAWS_SNAPSHOT_EVERY"  # services: journal entries between snapshots
# Set in Lambda workers (names AWS's SDKs read): the runtime's API URL.
ENV_ENDPOINT_URL = "AWS_ENDPOINT_URL"
# AWS_ENDPOINT_URL of a runtime with neither a server nor a listener: port 1 on loopback
# refuses connections, so a Lambda's AWS call fails at once instead of reaching AWS.
NO_API_ENDPOINT = "http://127.0.0.1:1"
# "0": SageMaker jobs and model servers start as fresh interpreters instead of forks of a
# template process with the ML stack imported (localaws.sagemaker.forkserver).
ENV_WARM_WORKERS = "LOCALAWS_WARM_WORKERS"
# Seconds between two rolling backups of the state's SQLite files (localaws.backup); 0: none.
ENV_BACKUP_SECONDS = "LOCALAWS_BACKUP_SECONDS"

DEFAULT_STATE_DIR = ".local-aws"
DEFAULT_REGION = "us-east-1"
DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8083
DEFAULT_MAX_BODY = 16 * 1024 * 1024
# Access key the runtime gives its workers and clients when no credentials file is configured
# (the server then accepts any key; a SigV4 signature still needs one).
DEFAULT_ACCESS_KEY = "localaws"
DEFAULT_SECRET_KEY = "localaws"
DEFAULT_JOURNAL_SYNC = "full"
DEFAULT_SNAPSHOT_EVERY = 1000
DEFAULT_BACKUP_SECONDS = 5.0
JOURNAL_SYNC_MODES = ("full", "normal")


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


def journal_sync(explicit: str | None = None) -> str:
    """How the services' journal (localaws/motobridge) reaches the disk before a write is
    acknowledged: ``full`` waits for an fsync covering the entry (survives a power cut;
    concurrent writes share one); ``normal`` hands it to the OS only (survives ``kill -9``
    of the server, not a machine crash; faster where an fsync is slow)."""
    from localaws.errors import UserError

    value = resolve(explicit, ENV_JOURNAL_SYNC, DEFAULT_JOURNAL_SYNC).lower()
    if value not in JOURNAL_SYNC_MODES:
        raise UserError(
            f"{ENV_JOURNAL_SYNC}: {value!r} is not a journal sync mode; use "
            + " or ".join(JOURNAL_SYNC_MODES)
        )
    return value


def backup_seconds(explicit: float | None = None) -> float:
    """Seconds between two rolling backups of ``runtime.db`` and the services journal (a
    damaged file then loses at most that much); 0 turns the backups off."""
    from localaws.errors import UserError

    raw = resolve(
        None if explicit is None else str(explicit),
        ENV_BACKUP_SECONDS,
        str(DEFAULT_BACKUP_SECONDS),
    )
    try:
        value = float(raw)
    except ValueError:
        value = -1.0
    if value < 0:
        raise UserError(
            f"{ENV_BACKUP_SECONDS}: {raw!r} is not a number of seconds; use e.g. 5, or 0 for none"
        )
    return value


def snapshot_every(explicit: int | None = None) -> int:
    """How many accepted mutating calls the services' journal takes between two snapshots of
    moto's backends (a restart replays at most that many, plus loads the snapshot)."""
    from localaws.errors import UserError

    raw = resolve(
        None if explicit is None else str(explicit), ENV_SNAPSHOT_EVERY, str(DEFAULT_SNAPSHOT_EVERY)
    )
    try:
        value = int(raw)
    except ValueError:
        value = 0
    if value < 1:
        raise UserError(
            f"{ENV_SNAPSHOT_EVERY}: {raw!r} is not a positive number of calls; use e.g. "
            f"{DEFAULT_SNAPSHOT_EVERY}"
        )
    return value
