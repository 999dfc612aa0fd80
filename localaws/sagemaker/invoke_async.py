"""InvokeEndpoint on the server's event loop: the hot path of real-time inference.

The generic route (botocore-model decoding, a worker thread, ``http.client`` to the model
server) costs about three times what the model server itself does per request.  For the plain
request (``Content-Type``, ``Accept``, a body, no other SageMaker header) the server calls
:func:`invoke` instead: it posts to the endpoint's model server over keep-alive asyncio
connections and maps the answer exactly as :meth:`SageMakerRuntimeBackend.invoke_endpoint`
does (same errors, same capture).  Anything else takes the generic route.
"""

from __future__ import annotations

import asyncio
import collections
import re
from typing import TYPE_CHECKING, Any

from localaws.lambdakit.clients import EndpointNotFound, LocalEndpoints
from localaws.sagemaker import model_server
from localaws.sagemaker.capture import capture_config, record_invocation

if TYPE_CHECKING:
    from localaws.sagemaker.hosting import SageMakerRuntimeBackend

PATH = re.compile(r"/endpoints/(?P<name>[a-zA-Z0-9](?:-*[a-zA-Z0-9]){0,62})/invocations")
MAX_BODY = 6_291_456  # botocore's model: Body max
MAX_HEADER = 1024  # Content-Type and Accept max
MAX_HEAD_LINE = 65536
ATTEMPTS = 4  # as LocalEndpoints.post: a model server replaced by UpdateEndpoint is retried


class _Pool:
    """Idle keep-alive connections to the model servers, per port (event-loop only)."""

    def __init__(self) -> None:
        self._idle: dict[int, collections.deque[tuple[asyncio.StreamReader, asyncio.StreamWriter]]]
        self._idle = collections.defaultdict(collections.deque)

    async def take(self, port: int) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        idle = self._idle[port]
        while idle:
            reader, writer = idle.pop()
            if not writer.is_closing() and not reader.at_eof():
                return reader, writer
            writer.close()
        reader, writer = await asyncio.open_connection(model_server.HOST, port, limit=1 << 20)
        return reader, writer

    def give(self, port: int, conn: tuple[asyncio.StreamReader, asyncio.StreamWriter]) -> None:
        self._idle[port].append(conn)


_pools: dict[int, _Pool] = {}  # per event loop (id), so a test's loop never sees another's


def _pool() -> _Pool:
    key = id(asyncio.get_running_loop())
    pool = _pools.get(key)
    if pool is None:
        pool = _pools[key] = _Pool()
    return pool


async def _post(
    port: int, body: bytes, content_type: str, accept: str | None
) -> tuple[int, bytes, str]:
    pool = _pool()
    reader, writer = await pool.take(port)
    head = (
        f"POST /invocations HTTP/1.1\r\nHost: {model_server.HOST}:{port}\r\n"
        f"Content-Type: {content_type}\r\nContent-Length: {len(body)}\r\n"
        + (f"Accept: {accept}\r\n" if accept else "")
        + "\r\n"
    ).encode("latin-1")
    try:
        writer.write(head + body)
        status_line = await reader.readline()
        parts = status_line.split(None, 2)
        if len(parts) < 2:
            raise ConnectionError("the model server closed the connection")
        status = int(parts[1])
        length, ctype, close = 0, "application/octet-stream", False
        while True:
            line = await reader.readline()
            if line in (b"\r\n", b"\n", b""):
                break
            name, _, value = line.partition(b":")
            name = name.strip().lower()
            if name == b"content-length":
                length = int(value)
            elif name == b"content-type":
                ctype = value.strip().decode("latin-1")
            elif name == b"connection":
                close = value.strip().lower() == b"close"
        data = await reader.readexactly(length) if length else b""
    except BaseException:
        writer.close()
        raise
    if close:
        writer.close()
    else:
        pool.give(port, (reader, writer))
    return status, data, ctype


def _captures(backend: SageMakerRuntimeBackend, name: str, record: dict[str, Any]) -> bool:
    """Whether the endpoint captures data. Read from its records once per deployment: a new
    DataCaptureConfig comes with UpdateEndpoint, which rewrites the registry ``record``."""
    cache: dict[str, tuple[dict[str, Any], bool]] = backend.__dict__.setdefault(
        "_capture_cache", {}
    )
    cached = cache.get(name)
    if cached is None or cached[0] is not record:
        cached = cache[name] = (record, capture_config(backend.runtime, name) is not None)
    return cached[1]


def plain_request(method: str, path: str, headers: dict[str, str], body: bytes) -> str | None:
    """The endpoint's name when this is an InvokeEndpoint the fast path answers exactly as the
    generic route would; else None."""
    if method != "POST" or not body or len(body) > MAX_BODY:
        return None
    match = PATH.fullmatch(path)
    if match is None:
        return None
    for name, value in headers.items():
        if name.startswith("x-amzn-sagemaker-"):
            return None  # target variant, inference id, custom attributes...: generic route
        if name in ("content-type", "accept") and (len(value) > MAX_HEADER or not value.isascii()):
            return None
    return match["name"]


async def invoke(
    backend: SageMakerRuntimeBackend,
    name: str,
    body: bytes,
    content_type: str | None,
    accept: str | None,
) -> dict[str, Any]:
    """InvokeEndpoint's result, or the ServiceError the backend's own method would raise."""
    endpoints: LocalEndpoints = backend.endpoints
    content_type = content_type or "text/csv"
    last: OSError | None = None
    for _attempt in range(ATTEMPTS):
        try:
            record = endpoints.record(name)
            variant = endpoints.choose_variant(record, None)
        except EndpointNotFound:
            raise backend.not_found(name, None) from None
        try:
            status, data, ctype = await _post(int(variant["port"]), body, content_type, accept)
        except (OSError, asyncio.IncompleteReadError, ValueError) as e:
            last = e if isinstance(e, OSError) else ConnectionError(str(e))
            endpoints.forget(name)  # the registry is rewritten before an old server stops
            continue
        if status >= 300:
            raise backend.model_error(name, record, status, data)
        if _captures(backend, name, record):  # writes a file: off the loop
            await asyncio.get_running_loop().run_in_executor(
                None,
                record_invocation,
                backend.runtime,
                name,
                variant["VariantName"],
                (content_type, body),
                (ctype, data),
            )
        return {
            "Body": data,
            "ContentType": ctype,
            "InvokedProductionVariant": variant["VariantName"],
        }
    assert last is not None
    raise backend.unavailable(name, last)


__all__ = ["PATH", "invoke", "plain_request"]
