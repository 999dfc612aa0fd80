"""Every setting of the local runtime, and where it comes from.

Resolution order, written once in :func:`resolve`: explicit argument, then environment
variable, then default.
"""

from __future__ import annotations

import os
from pathlib import Path

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
# "0": SageMaker jobs and model servers start as fresh interpreters instead of forks of a
# template process with the ML stack imported (localaws.sagemaker.forkserver).
ENV_WARM_WORKERS = "LOCALAWS_WARM_WORKERS"

DEFAULT_STATE_DIR = ".local-aws"
DEFAULT_REGION = "us-east-1"
DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8083


def state_dir(explicit: str | os.PathLike[str] | None = None) -> Path:
    raw = resolve(
        None if explicit is None else os.fspath(explicit), ENV_STATE_DIR, DEFAULT_STATE_DIR
    )
    return Path(raw).resolve()


def region(explicit: str | None = None) -> str:
    return resolve(explicit, ENV_REGION, DEFAULT_REGION)


def account_id(explicit: str | None = None) -> str:
    return resolve(explicit, ENV_ACCOUNT, DEFAULT_ACCOUNT)
