"""A boto3 session whose every client talks to the local server.

``AWS_ENDPOINT_URL`` points boto3, the AWS CLI and most of the SageMaker SDK at the server,
but an endpoint passed explicitly wins over it, and the SageMaker SDK passes one for STS
(``https://sts.<region>.amazonaws.com``, in ``Session.default_bucket()`` and
``Session.account_id()``).  :func:`local_boto_session` gives every client, explicit AWS
endpoint or not, the server's URL:

    sm = sagemaker.Session(boto_session=local_boto_session("http://127.0.0.1:8083"))
    sm.default_bucket()   # sagemaker-us-east-1-123456789012, created in the local S3
"""

from __future__ import annotations

from typing import Any

import boto3

from localaws import config

AWS_DOMAIN = ".amazonaws.com"


class LocalBotoSession(boto3.session.Session):
    """boto3's Session, with clients and resources on ``endpoint_url``."""

    def __init__(self, endpoint_url: str, **kwargs: Any):
        super().__init__(**kwargs)
        self.endpoint_url = endpoint_url

    def _local(self, kwargs: dict[str, Any]) -> dict[str, Any]:
        explicit = kwargs.get("endpoint_url")
        if not explicit or AWS_DOMAIN in explicit:
            kwargs["endpoint_url"] = self.endpoint_url
        return kwargs

    def client(self, *args: Any, **kwargs: Any) -> Any:  # type: ignore[override]
        return super().client(*args, **self._local(kwargs))

    def resource(self, *args: Any, **kwargs: Any) -> Any:  # type: ignore[override]
        return super().resource(*args, **self._local(kwargs))


def local_boto_session(endpoint_url: str, region: str | None = None) -> LocalBotoSession:
    """A session on the local server at ``endpoint_url``; dummy credentials when none are
    configured (the server does not check signatures)."""
    session = LocalBotoSession(endpoint_url, region_name=config.region(region))
    if session.get_credentials() is None:
        session = LocalBotoSession(
            endpoint_url,
            region_name=config.region(region),
            aws_access_key_id="local",
            aws_secret_access_key="local",
        )
    return session
