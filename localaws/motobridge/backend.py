"""A mounted service as a runtime backend: AWS operations as snake_case methods.

``rt.backend("dynamodb").put_item(TableName="t", Item={...})`` runs a real boto3 client
whose requests never leave the process: a ``before-send`` hook hands each one to the
:class:`~localaws.motobridge.bridge.MotoBridge`, the same path (and the same journal) as a
request arriving over HTTP.  boto3 serialises and parses, so the methods take AWS's request
members and return AWS's response shape; an AWS error becomes
``ServiceError(code, message, status)``.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import cached_property
from typing import TYPE_CHECKING, Any, ClassVar
from urllib.parse import urlsplit

from localaws.errors import ServiceError

if TYPE_CHECKING:
    from localaws.motobridge.bridge import MotoBridge
    from localaws.runtime import Runtime

IN_PROCESS_ENDPOINT = "http://in-process.localaws.invalid"


def in_process_client(bridge: MotoBridge, service: str) -> Any:
    """A boto3 client for ``service`` whose requests go straight to ``bridge``."""
    import boto3
    from botocore.awsrequest import AWSResponse
    from botocore.config import Config

    from localaws.motobridge.bridge import _DROPPED_HEADERS

    session = boto3.session.Session(
        aws_access_key_id="local",
        aws_secret_access_key="local",
        region_name=bridge.region,
    )
    client = session.client(
        service,
        endpoint_url=IN_PROCESS_ENDPOINT,
        config=Config(retries={"max_attempts": 1}),
    )

    def send(request: Any, **_: Any) -> AWSResponse:
        split = urlsplit(request.url)
        path = split.path + (f"?{split.query}" if split.query else "")
        body = request.body or b""
        if hasattr(body, "read"):
            body = body.read()
        if isinstance(body, str):
            body = body.encode()
        headers = {
            k: v.decode() if isinstance(v, bytes) else v
            for k, v in request.headers.items()
            if k.lower() not in _DROPPED_HEADERS
        }
        reply = bridge.handle(service, request.method, path, headers, body)
        return AWSResponse(request.url, reply.status, reply.headers, _Raw(reply.body))

    client.meta.events.register("before-send", send)
    return client


class _Raw:
    def __init__(self, body: bytes):
        self._body = body

    def stream(self, **_: Any) -> Any:
        yield self._body

    def read(self, *_: Any) -> bytes:
        body, self._body = self._body, b""
        return body


class MotoBackend:
    """The backend of one mounted service (subclasses name it with ``service``)."""

    service: ClassVar[str]

    def __init__(self, runtime: Runtime):
        self.runtime = runtime

    @cached_property
    def client(self) -> Any:
        return in_process_client(self.runtime.motobridge, self.service)

    def __getattr__(self, name: str) -> Callable[..., dict[str, Any]]:
        if name.startswith("_"):
            raise AttributeError(name)
        operation = getattr(self.client, name)

        def call(**params: Any) -> dict[str, Any]:
            from botocore.exceptions import ClientError

            try:
                response: dict[str, Any] = operation(**params)
            except ClientError as e:
                error = e.response.get("Error", {})
                raise ServiceError(
                    # JSON services that also speak query (SQS) carry both codes: the JSON
                    # one (QueueDoesNotExist) is the model's exception name.
                    error.get("QueryErrorCode") or error.get("Code", "InternalFailure"),
                    error.get("Message", str(e)),
                    status=int(e.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 400)),
                ) from e
            response.pop("ResponseMetadata", None)
            return response

        call.__name__ = name
        return call

    def recover(self) -> None:
        """Nothing to do: the bridge replays the journal when it opens."""

    def close(self) -> None:
        """Nothing to do: the runtime closes the bridge."""
