"""Raw HTTP requests to the local server, signed as boto3 signs them (botocore's SigV4Auth),
for tests that need bytes on the wire boto3 would not send."""

from __future__ import annotations

from collections.abc import Mapping
from urllib.parse import urlsplit

from botocore.auth import S3SigV4Auth, SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

REGION = "us-east-1"
KEY, SECRET = "test", "test"


def signed_headers(
    method: str,
    url: str,
    body: bytes = b"",
    *,
    service: str,
    headers: Mapping[str, str] | None = None,
    key: str = KEY,
    secret: str = SECRET,
) -> dict[str, str]:
    """``headers`` plus the SigV4 ``Authorization``/``X-Amz-Date`` (and S3's payload hash)."""
    request = AWSRequest(method=method, url=url, data=body, headers=dict(headers or {}))
    request.headers["Host"] = urlsplit(url).netloc
    signer = _S3Signer if service == "s3" else SigV4Auth
    signer(Credentials(key, secret), service, REGION).add_auth(request)
    return dict(request.headers.items())


class _S3Signer(S3SigV4Auth):
    """S3's signer, keeping a payload hash the test declares (``STREAMING-...``)."""

    def _modify_request_before_signing(self, request: AWSRequest) -> None:
        declared = request.headers.get("X-Amz-Content-SHA256")
        super()._modify_request_before_signing(request)
        if declared:
            del request.headers["X-Amz-Content-SHA256"]
            request.headers["X-Amz-Content-SHA256"] = declared
