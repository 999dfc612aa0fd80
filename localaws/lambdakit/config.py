"""The environment variables the Lambda side reads, and how a setting is resolved.

The local runtime sets ``LOCALAWS_S3_ROOT`` and ``LOCALAWS_ENDPOINTS_DIR`` in its Lambda
workers (and ``AWS_ENDPOINT_URL``, which boto3 reads); on AWS none is set and the Lambda
uses boto3.
:mod:`localaws.config` re-exports these names, so each is written once.
"""

from __future__ import annotations

import os

ENV_ACCOUNT = "LOCALAWS_ACCOUNT_ID"  # account id used in ARNs
ENV_S3_ROOT = "LOCALAWS_S3_ROOT"  # set in Lambda workers: where s3:// URIs live locally
ENV_ENDPOINTS_DIR = "LOCALAWS_ENDPOINTS_DIR"  # set in Lambda workers: endpoint registry

DEFAULT_ACCOUNT = "123456789012"


def resolve(explicit: str | None, env_var: str, default: str) -> str:
    """Return the explicit value, else the environment variable, else the default."""
    if explicit is not None:
        return explicit
    value = os.environ.get(env_var)
    if value:
        return value
    return default
