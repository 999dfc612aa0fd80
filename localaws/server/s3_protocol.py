"""The S3 API (REST-XML, path-style) over the object store, :mod:`localaws.s3.backend`.

This module is the protocol only: it parses requests into calls on ``Runtime.s3`` and writes
S3's XML back.  Bodies stream to and from disk in chunks; ``aws-chunked`` bodies (``x-amz-content-sha256:
STREAMING-...`` or ``Content-Encoding: aws-chunked``, with checksum trailers) are decoded on
the way.  Every failure leaves as S3's error XML with S3's code.
"""

from __future__ import annotations

import base64
import hashlib
import json
import logging
import re
import uuid
import zlib
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import format_datetime
from typing import IO, TYPE_CHECKING, Any
from urllib.parse import parse_qsl, quote, unquote
from xml.etree import ElementTree as ET

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse

from localaws.errors import MAX_MESSAGE_CHARS, ServiceError, UserError, excerpt
from localaws.s3.backend import (
    IO_CHUNK,
    MAX_UPLOAD_SIZE,
    ObjectInfo,
    ObjectStore,
    S3Error,
    Spooled,
)

if TYPE_CHECKING:
    from localaws.runtime import Runtime

XMLNS = "http://s3.amazonaws.com/doc/2006-03-01/"
log = logging.getLogger(__name__)

MAX_KEYS = 1000
MAX_PART_NUMBER = 10000


# Bucket sub-resources we do not implement: refused by name rather than misread as a listing.
_UNSUPPORTED_SUBRESOURCES = [
    "accelerate",
    "acl",
    "analytics",
    "cors",
    "encryption",
    "intelligent-tiering",
    "inventory",
    "lifecycle",
    "logging",
    "metrics",
    "object-lock",
    "ownershipControls",
    "policy",
    "policyStatus",
    "publicAccessBlock",
    "replication",
    "requestPayment",
    "tagging",
    "versioning",
    "versions",
    "website",
    "legal-hold",
    "retention",
    "torrent",
    "restore",
    "select",
    "attributes",
]
_RANGE = re.compile(r"^bytes=(\d*)-(\d*)$")
_STREAMING = "STREAMING-"
# Checksums we can verify with the standard library (CRC32C/CRC64NVME are accepted unchecked).
_CHECKSUMS: dict[str, Callable[[], Any]] = {
    "crc32": lambda: _Crc32(),
    "sha1": hashlib.sha1,
    "sha256": hashlib.sha256,
}


class _Crc32:
    def __init__(self) -> None:
        self.value = 0

    def update(self, data: bytes) -> None:
        self.value = zlib.crc32(data, self.value)

    def digest(self) -> bytes:
        return self.value.to_bytes(4, "big")


# -- request bodies ----------------------------------------------------------------------------


class ChunkedDecoder:
    """Decodes ``aws-chunked`` framing: ``<hex size>[;chunk-signature=...]\\r\\n<data>\\r\\n``
    ... ``0\\r\\n`` then optional trailer lines (``x-amz-checksum-crc32:...``) and ``\\r\\n``."""

    def __init__(self) -> None:
        self._buf = bytearray()
        self._state = "size"
        self._left = 0
        self.trailers: dict[str, str] = {}

    def feed(self, data: bytes) -> bytes:
        buf = self._buf
        buf += data
        out = bytearray()
        while True:
            if self._state == "size":
                end = buf.find(b"\r\n")
                if end < 0:
                    if len(buf) > 4096:
                        raise _incomplete("a chunk header is longer than 4096 bytes")
                    break
                line = bytes(buf[:end]).split(b";", 1)[0].strip()
                del buf[: end + 2]
                try:
                    self._left = int(line, 16)
                except ValueError:
                    raise _incomplete(f"chunk size {line[:40]!r} is not hexadecimal") from None
                self._state = "data" if self._left else "trailer"
            elif self._state == "data":
                if not buf:
                    break
                take = min(self._left, len(buf))
                out += buf[:take]
                del buf[:take]
                self._left -= take
                if not self._left:
                    self._state = "crlf"
            elif self._state == "crlf":
                if len(buf) < 2:
                    break
                if buf[:2] != b"\r\n":
                    raise _incomplete("a chunk's data is not followed by CRLF")
                del buf[:2]
                self._state = "size"
            elif self._state == "trailer":
                end = buf.find(b"\r\n")
                if end < 0:
                    break
                trailer = bytes(buf[:end]).decode("latin-1")
                del buf[: end + 2]
                if not trailer:
                    self._state = "done"
                else:
                    name, _, value = trailer.partition(":")
                    self.trailers[name.strip().lower()] = value.strip()
            else:
                buf.clear()
                break
        return bytes(out)

    def close(self) -> None:
        if self._state == "trailer" and not self._buf.strip():
            self._state = "done"
        if self._state != "done":
            raise _incomplete("the aws-chunked body ended before its final zero-length chunk")


def _incomplete(why: str) -> S3Error:
    return S3Error("IncompleteBody", f"The request body is not valid aws-chunked encoding: {why}")


def _too_large(size: int) -> S3Error:
    return S3Error(
        "EntityTooLarge",
        "Your proposed upload exceeds the maximum allowed object size; upload objects over "
        "5 GiB in parts (multipart upload)",
        ProposedSize=str(size),
        MaxSizeAllowed=str(MAX_UPLOAD_SIZE),
    )


async def spool_body(request: Request, store: ObjectStore) -> Spooled:
    """Stream the request body (decoding ``aws-chunked``) into a temporary file, verifying
    Content-MD5, ``x-amz-content-sha256``, ``x-amz-checksum-*`` and the decoded length."""
    headers = request.headers
    content_sha = headers.get("x-amz-content-sha256", "")
    encoding = [e.strip() for e in headers.get("content-encoding", "").split(",")]
    chunked = content_sha.startswith(_STREAMING) or "aws-chunked" in encoding
    decoder = ChunkedDecoder() if chunked else None
    md5 = hashlib.md5()
    sha256 = hashlib.sha256() if re.fullmatch(r"[0-9a-f]{64}", content_sha) else None
    checksums = _declared_checksums(headers)
    declared = headers.get("x-amz-decoded-content-length") or headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > MAX_UPLOAD_SIZE:
        raise _too_large(int(declared))
    out, temp = await run_in_threadpool(store.new_temp)
    size = 0
    pending = bytearray()

    def write(data: bytes) -> None:
        md5.update(data)
        if sha256 is not None:
            sha256.update(data)
        for hasher in checksums.values():
            hasher.update(data)
        out.write(data)

    try:
        async for chunk in request.stream():
            data = decoder.feed(chunk) if decoder is not None else chunk
            pending += data
            size += len(data)
            if size > MAX_UPLOAD_SIZE:
                raise _too_large(size)
            if len(pending) >= IO_CHUNK:
                await run_in_threadpool(write, bytes(pending))
                pending.clear()
        if decoder is not None:
            decoder.close()
        await run_in_threadpool(write, bytes(pending))
        out.close()
        _verify(request, size, md5, sha256, checksums, decoder)
    except BaseException:
        out.close()
        temp.unlink(missing_ok=True)
        raise
    return Spooled(temp, size, md5.digest())


def _declared_checksums(headers: Any) -> dict[str, Any]:
    names = {
        h.lower()[len("x-amz-checksum-") :]
        for h in headers
        if h.lower().startswith("x-amz-checksum-")
    }
    for trailer in headers.get("x-amz-trailer", "").split(","):
        trailer = trailer.strip().lower()
        if trailer.startswith("x-amz-checksum-"):
            names.add(trailer[len("x-amz-checksum-") :])
    return {name: _CHECKSUMS[name]() for name in names if name in _CHECKSUMS}


def _verify(
    request: Request,
    size: int,
    md5: Any,
    sha256: Any,
    checksums: dict[str, Any],
    decoder: ChunkedDecoder | None,
) -> None:
    headers = request.headers
    declared = headers.get("x-amz-decoded-content-length")
    if (
        decoder is not None
        and declared is not None
        and declared.isdigit()
        and int(declared) != size
    ):
        raise S3Error(
            "IncompleteBody",
            f"You did not provide the number of bytes specified by x-amz-decoded-content-length "
            f"({declared}); the body held {size}",
        )
    content_md5 = headers.get("content-md5")
    if content_md5 is not None:
        try:
            expected = base64.b64decode(content_md5, validate=True)
        except ValueError:
            raise S3Error("InvalidDigest", "The Content-MD5 you specified was invalid.") from None
        if expected != md5.digest():
            raise S3Error(
                "BadDigest", "The Content-MD5 you specified did not match what we received."
            )
    if sha256 is not None and sha256.hexdigest() != headers.get("x-amz-content-sha256"):
        raise S3Error(
            "XAmzContentSHA256Mismatch",
            "The provided 'x-amz-content-sha256' header does not match what was computed.",
        )
    trailers = decoder.trailers if decoder is not None else {}
    for name, hasher in checksums.items():
        wire = f"x-amz-checksum-{name}"
        sent = headers.get(wire) or trailers.get(wire)
        if sent is None:
            continue
        actual = base64.b64encode(hasher.digest()).decode()
        if actual != sent:
            raise S3Error(
                "BadDigest",
                f"The {name.upper()} you specified did not match the calculated checksum "
                f"({sent} sent, {actual} computed).",
            )


# -- responses ---------------------------------------------------------------------------------


def _xml(root: ET.Element) -> Response:
    body = b'<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="utf-8")
    return Response(body, media_type="application/xml")


def _element(tag: str, **children: Any) -> ET.Element:
    root = ET.Element(tag, xmlns=XMLNS)
    for name, value in children.items():
        _sub(root, name, value)
    return root


def _sub(parent: ET.Element, tag: str, value: Any = None) -> ET.Element:
    child = ET.SubElement(parent, tag)
    if isinstance(value, datetime):
        child.text = _iso(value)
    elif isinstance(value, bool):
        child.text = "true" if value else "false"
    elif value is not None:
        child.text = str(value)
    return child


def _iso(value: datetime) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.000Z")


def _http_date(value: datetime) -> str:
    return format_datetime(value.astimezone(UTC), usegmt=True)


def error_response(error: S3Error, *, head: bool = False, request_id: str = "") -> Response:
    headers = {"x-amz-request-id": request_id}
    if head:  # HEAD answers carry no body; botocore reads the status alone
        return Response(b"", status_code=error.status, headers=headers)
    root = ET.Element("Error")
    _sub(root, "Code", error.code)
    _sub(root, "Message", excerpt(error.message, MAX_MESSAGE_CHARS))
    for name, value in error.extra.items():
        _sub(root, name, value)
    _sub(root, "RequestId", request_id)
    body = b'<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="utf-8")
    return Response(body, status_code=error.status, headers=headers, media_type="application/xml")


def _object_headers(info: ObjectInfo) -> dict[str, str]:
    headers = {
        "ETag": info.etag,
        "Last-Modified": _http_date(info.last_modified),
        "Content-Type": info.content_type,
        "Accept-Ranges": "bytes",
    }
    for name, value in info.metadata.items():
        headers[f"x-amz-meta-{name}"] = value
    return headers


def _user_metadata(request: Request) -> dict[str, str]:
    return {
        k[len("x-amz-meta-") :]: v
        for k, v in request.headers.items()
        if k.lower().startswith("x-amz-meta-")
    }


def parse_range(header: str, size: int) -> tuple[int, int] | None:
    """``bytes=a-b`` / ``bytes=a-`` / ``bytes=-n`` -> (first, last); None for the whole object
    (a header S3 ignores); InvalidRange when nothing of the object is in it."""
    m = _RANGE.match(header.strip())
    if not m or (not m.group(1) and not m.group(2)):
        return None
    first_s, last_s = m.groups()
    if not first_s:
        n = int(last_s)
        if n == 0:
            raise _invalid_range(size)
        return max(0, size - n), size - 1
    first = int(first_s)
    last = int(last_s) if last_s else size - 1
    if last < first:
        return None
    if first >= size:
        raise _invalid_range(size)
    return first, min(last, size - 1)


def _invalid_range(size: int) -> S3Error:
    return S3Error(
        "InvalidRange",
        "The requested range is not satisfiable",
        ActualObjectSize=str(size),
    )


async def _file_chunks(fh: IO[bytes], first: int, length: int) -> AsyncIterator[bytes]:
    try:
        await run_in_threadpool(fh.seek, first)
        left = length
        while left > 0:
            data = await run_in_threadpool(fh.read, min(IO_CHUNK, left))
            if not data:
                break
            left -= len(data)
            yield data
    finally:
        fh.close()


# -- the API ----------------------------------------------------------------------------------


@dataclass
class _Call:
    request: Request
    bucket: str
    key: str
    query: dict[str, str]


class S3Api:
    """Routes path-style S3 requests (``/bucket/key``) to their operation."""

    def __init__(self, runtime: Runtime):
        self.store = runtime.s3

    async def __call__(self, request: Request) -> Response:
        request_id = uuid.uuid4().hex[:16].upper()
        try:
            call = self._parse(request)
            response = await self._dispatch(call)
        except Exception as e:  # every failure leaves as S3 XML
            response = error_response(
                _as_s3_error(e), head=request.method == "HEAD", request_id=request_id
            )
            if _may_have_unread_body(request):
                # A client that sent "Expect: 100-continue" and got this answer instead never
                # sends the body; the server must not read the next request as that body.
                response.headers["Connection"] = "close"
            return response
        response.headers["x-amz-request-id"] = request_id
        return response

    @staticmethod
    def _parse(request: Request) -> _Call:
        raw = request.scope.get("raw_path") or request.url.path.encode()
        path = raw.decode("latin-1").split("?", 1)[0]
        bucket, _, key = path.lstrip("/").partition("/")
        query = dict(parse_qsl(request.url.query, keep_blank_values=True))
        return _Call(request, unquote(bucket), unquote(key), query)

    async def _dispatch(self, call: _Call) -> Response:
        method, q = call.request.method, call.query
        if not call.bucket:
            if method == "GET":
                return await self.list_buckets(call)
            raise _not_allowed(method, "the service")
        for name in _UNSUPPORTED_SUBRESOURCES:
            if name in q:
                raise S3Error(
                    "NotImplemented",
                    f"the local S3 API does not implement the ?{name} sub-resource",
                )
        handlers: dict[str, Callable[[_Call], Awaitable[Response]] | None]
        if not call.key and "notification" in q:
            handlers = {
                "PUT": self.put_notification,
                "GET": self.get_notification,
            }
        elif not call.key:
            handlers = {
                "PUT": self.create_bucket,
                "HEAD": self.head_bucket,
                "DELETE": self.delete_bucket,
                "GET": self.get_bucket,
                "POST": self.delete_objects if "delete" in q else None,
            }
        elif "uploadId" in q:
            handlers = {
                "PUT": self.upload_part,
                "POST": self.complete_upload,
                "DELETE": self.abort_upload,
            }
        else:
            handlers = {
                "PUT": self.put_object,
                "GET": self.get_object,
                "HEAD": self.get_object,
                "DELETE": self.delete_object,
                "POST": self.create_upload if "uploads" in q else None,
            }
        handler = handlers.get(method)
        if handler is None:
            raise _not_allowed(method, "this resource")
        return await handler(call)

    # -- buckets -----------------------------------------------------------------------

    async def list_buckets(self, call: _Call) -> Response:
        buckets = await run_in_threadpool(self.store.list_buckets)
        root = _element("ListAllMyBucketsResult")
        owner = _sub(root, "Owner")
        _sub(owner, "ID", "local")
        _sub(owner, "DisplayName", "local")
        listing = _sub(root, "Buckets")
        for name, created in buckets:
            entry = _sub(listing, "Bucket")
            _sub(entry, "Name", name)
            _sub(entry, "CreationDate", created)
        return _xml(root)

    async def create_bucket(self, call: _Call) -> Response:
        await call.request.body()  # CreateBucketConfiguration: the region is the runtime's
        await run_in_threadpool(self.store.create_bucket, call.bucket)
        return Response(b"", headers={"Location": f"/{call.bucket}"})

    async def head_bucket(self, call: _Call) -> Response:
        await run_in_threadpool(self.store.require_bucket, call.bucket)
        return Response(b"", headers={"x-amz-bucket-region": self.store.region})

    async def delete_bucket(self, call: _Call) -> Response:
        await run_in_threadpool(self.store.delete_bucket, call.bucket)
        return Response(status_code=204)

    async def get_bucket(self, call: _Call) -> Response:
        q = call.query
        if "location" in q:
            await run_in_threadpool(self.store.require_bucket, call.bucket)
            root = _element("LocationConstraint")
            if self.store.region != "us-east-1":
                root.text = self.store.region
            return _xml(root)
        if "uploads" in q:
            raise S3Error("NotImplemented", "the local S3 API does not list multipart uploads")
        return await self.list_objects(call, v2=q.get("list-type") == "2")

    async def list_objects(self, call: _Call, *, v2: bool) -> Response:
        q = call.query
        prefix = q.get("prefix", "")
        delimiter = q.get("delimiter", "")
        encode = q.get("encoding-type") == "url"
        try:
            max_keys = int(q.get("max-keys", MAX_KEYS))
        except ValueError:
            raise S3Error(
                "InvalidArgument", "Provided max-keys not an integer or within integer range"
            ) from None
        if max_keys < 0:
            raise S3Error("InvalidArgument", "max-keys must be zero or more")
        max_keys = min(max_keys, MAX_KEYS)
        token = q.get("continuation-token")
        if v2:
            after = _decode_token(token) if token is not None else q.get("start-after", "")
        else:
            after = q.get("marker", "")
        keys = await run_in_threadpool(self.store.list_keys, call.bucket, prefix)

        contents: list[str] = []
        prefixes: list[str] = []
        truncated = False
        last = ""
        for key in keys:
            if after and (
                key <= after or (after.endswith(delimiter or "\0") and key.startswith(after))
            ):
                continue
            entry, is_prefix = key, False
            if delimiter:
                cut = key.find(delimiter, len(prefix))
                if cut >= 0:
                    entry, is_prefix = key[: cut + len(delimiter)], True
                    if prefixes and prefixes[-1] == entry:
                        continue
            if len(contents) + len(prefixes) >= max_keys:
                truncated = True
                break
            (prefixes if is_prefix else contents).append(entry)
            last = entry
        infos = await run_in_threadpool(lambda: [self.store.info(call.bucket, k) for k in contents])

        def enc(value: str) -> str:
            return quote(value, safe="/") if encode else value

        root = _element("ListBucketResult")
        _sub(root, "Name", call.bucket)
        _sub(root, "Prefix", enc(prefix))
        if delimiter:
            _sub(root, "Delimiter", enc(delimiter))
        _sub(root, "MaxKeys", max_keys)
        if encode:
            _sub(root, "EncodingType", "url")
        _sub(root, "IsTruncated", truncated)
        if v2:
            _sub(root, "KeyCount", len(contents) + len(prefixes))
            if token is not None:
                _sub(root, "ContinuationToken", token)
            if "start-after" in q:
                _sub(root, "StartAfter", enc(q["start-after"]))
            if truncated:
                _sub(root, "NextContinuationToken", _encode_token(last))
        else:
            _sub(root, "Marker", enc(after))
            if truncated and delimiter:
                _sub(root, "NextMarker", enc(last))
        for info in infos:
            item = _sub(root, "Contents")
            _sub(item, "Key", enc(info.key))
            _sub(item, "LastModified", info.last_modified)
            _sub(item, "ETag", info.etag)
            _sub(item, "Size", info.size)
            _sub(item, "StorageClass", "STANDARD")
        for p in prefixes:
            _sub(_sub(root, "CommonPrefixes"), "Prefix", enc(p))
        return _xml(root)

    async def delete_objects(self, call: _Call) -> Response:
        spooled = await spool_body(call.request, self.store)
        try:
            body = spooled.path.read_bytes()
        finally:
            spooled.path.unlink(missing_ok=True)
        doc = _parse_xml(body)
        quiet = (_find_text(doc, "Quiet") or "").lower() == "true"
        keys = [_find_text(obj, "Key") for obj in _children(doc, "Object")]
        if len(keys) > 1000:
            raise S3Error("MalformedXML", "DeleteObjects takes at most 1000 keys")
        await run_in_threadpool(self.store.require_bucket, call.bucket)
        root = _element("DeleteResult")
        for key in keys:
            if not key:
                raise S3Error("MalformedXML", "an Object of the Delete request has no Key")
            try:
                await run_in_threadpool(self.store.delete, call.bucket, key)
            except S3Error as e:
                error = _sub(root, "Error")
                _sub(error, "Key", key)
                _sub(error, "Code", e.code)
                _sub(error, "Message", e.message)
                continue
            if not quiet:
                _sub(_sub(root, "Deleted"), "Key", key)
        return _xml(root)

    # -- notifications -----------------------------------------------------------------

    async def put_notification(self, call: _Call) -> Response:
        doc = _parse_xml(await call.request.body())
        configuration = notification_from_xml(doc)
        try:
            await run_in_threadpool(
                self.store.put_bucket_notification_configuration, call.bucket, configuration
            )
        except ServiceError as e:
            raise S3Error(e.code, e.message) from e
        return Response(b"")

    async def get_notification(self, call: _Call) -> Response:
        configuration = await run_in_threadpool(
            self.store.get_bucket_notification_configuration, call.bucket
        )
        return _xml(notification_to_xml(configuration))

    # -- objects -----------------------------------------------------------------------

    async def put_object(self, call: _Call) -> Response:
        if "x-amz-copy-source" in call.request.headers:
            return await self.copy_object(call)
        await run_in_threadpool(self.store.object_path, call.bucket, call.key)
        spooled = await spool_body(call.request, self.store)
        info = await run_in_threadpool(
            self.store.commit,
            spooled.path,
            call.bucket,
            call.key,
            f'"{spooled.md5.hex()}"',
            call.request.headers.get("content-type"),
            _user_metadata(call.request),
        )
        return Response(b"", headers={"ETag": info.etag})

    async def get_object(self, call: _Call) -> Response:
        head = call.request.method == "HEAD"
        info = await run_in_threadpool(self.store.info, call.bucket, call.key)
        headers = _object_headers(info)
        for name, header in (
            ("response-content-type", "Content-Type"),
            ("response-content-disposition", "Content-Disposition"),
            ("response-cache-control", "Cache-Control"),
            ("response-content-encoding", "Content-Encoding"),
        ):
            if name in call.query:
                headers[header] = call.query[name]
        span = parse_range(call.request.headers.get("range", ""), info.size)
        status, first, length = 200, 0, info.size
        if span is not None:
            first, last = span
            status, length = 206, last - first + 1
            headers["Content-Range"] = f"bytes {first}-{last}/{info.size}"
        headers["Content-Length"] = str(length)
        if head or length == 0:
            return Response(b"", status_code=status, headers=headers)
        path = self.store.object_path(call.bucket, call.key)
        try:
            fh = await run_in_threadpool(open, path, "rb")
        except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
            raise S3Error("NoSuchKey", "The specified key does not exist.", Key=call.key) from None
        return StreamingResponse(
            _file_chunks(fh, first, length), status_code=status, headers=headers
        )

    async def delete_object(self, call: _Call) -> Response:
        await run_in_threadpool(self.store.delete, call.bucket, call.key)
        return Response(status_code=204)

    async def copy_object(self, call: _Call) -> Response:
        src_bucket, src_key = _copy_source(call.request.headers["x-amz-copy-source"])
        info = await run_in_threadpool(self.store.info, src_bucket, src_key)
        await run_in_threadpool(self.store.object_path, call.bucket, call.key)
        spooled = await run_in_threadpool(
            self.store.copy_to_temp, src_bucket, src_key, 0, info.size - 1
        )
        if call.request.headers.get("x-amz-metadata-directive", "COPY").upper() == "REPLACE":
            content_type = call.request.headers.get("content-type")
            metadata = _user_metadata(call.request)
        else:
            content_type, metadata = info.content_type, info.metadata
        new = await run_in_threadpool(
            self.store.commit,
            spooled.path,
            call.bucket,
            call.key,
            info.etag,
            content_type,
            metadata,
            event="Copy",
        )
        return _xml(_element("CopyObjectResult", LastModified=new.last_modified, ETag=new.etag))

    # -- multipart ---------------------------------------------------------------------

    async def create_upload(self, call: _Call) -> Response:
        upload_id = await run_in_threadpool(
            self.store.create_upload,
            call.bucket,
            call.key,
            call.request.headers.get("content-type"),
            _user_metadata(call.request),
        )
        return _xml(
            _element(
                "InitiateMultipartUploadResult",
                Bucket=call.bucket,
                Key=call.key,
                UploadId=upload_id,
            )
        )

    async def upload_part(self, call: _Call) -> Response:
        directory, _ = await run_in_threadpool(
            self.store.upload, call.bucket, call.key, call.query["uploadId"]
        )
        number_s = call.query.get("partNumber", "")
        if not number_s.isdigit() or not 1 <= int(number_s) <= MAX_PART_NUMBER:
            raise S3Error(
                "InvalidArgument",
                f"Part number must be an integer between 1 and {MAX_PART_NUMBER}, inclusive",
                ArgumentName="partNumber",
                ArgumentValue=number_s,
            )
        source = call.request.headers.get("x-amz-copy-source")
        if source is not None:
            src_bucket, src_key = _copy_source(source)
            info = await run_in_threadpool(self.store.info, src_bucket, src_key)
            first, last = 0, info.size - 1
            wanted = call.request.headers.get("x-amz-copy-source-range")
            if wanted:
                span = parse_range(wanted, info.size)
                if span is None:
                    raise S3Error(
                        "InvalidArgument", f"x-amz-copy-source-range {wanted!r} is not valid"
                    )
                first, last = span
            spooled = await run_in_threadpool(
                self.store.copy_to_temp, src_bucket, src_key, first, last
            )
        else:
            spooled = await spool_body(call.request, self.store)
        etag = await run_in_threadpool(self.store.put_part, directory, int(number_s), spooled)
        if source is not None:
            return _xml(_element("CopyPartResult", LastModified=datetime.now(UTC), ETag=etag))
        return Response(b"", headers={"ETag": etag})

    async def complete_upload(self, call: _Call) -> Response:
        doc = _parse_xml(await call.request.body())
        parts = []
        for part in _children(doc, "Part"):
            number = _find_text(part, "PartNumber") or ""
            if not number.isdigit():
                raise S3Error("MalformedXML", f"PartNumber {number!r} is not a number")
            parts.append((int(number), _find_text(part, "ETag") or ""))
        info = await run_in_threadpool(
            self.store.complete_upload, call.bucket, call.key, call.query["uploadId"], parts
        )
        return _xml(
            _element(
                "CompleteMultipartUploadResult",
                Location=f"/{call.bucket}/{quote(call.key)}",
                Bucket=call.bucket,
                Key=call.key,
                ETag=info.etag,
            )
        )

    async def abort_upload(self, call: _Call) -> Response:
        await run_in_threadpool(
            self.store.abort_upload, call.bucket, call.key, call.query["uploadId"]
        )
        return Response(status_code=204)


def _as_s3_error(e: Exception) -> S3Error:
    """Every failure leaves as S3's error XML: a user's mistake as InvalidArgument, anything
    else (a bug, the disk) as InternalError, logged with its stack."""
    if isinstance(e, S3Error):
        return e
    if isinstance(e, UserError):
        return S3Error("InvalidArgument", str(e))
    log.error("S3 request failed", exc_info=e)
    return S3Error("InternalError", f"the local S3 API failed: {type(e).__name__}")


def _may_have_unread_body(request: Request) -> bool:
    length = request.headers.get("content-length", "0")
    return "transfer-encoding" in request.headers or (length.isdigit() and int(length) > 0)


def _not_allowed(method: str, what: str) -> S3Error:
    return S3Error(
        "MethodNotAllowed",
        f"The specified method ({method}) is not allowed against {what}.",
        Method=method,
    )


def _copy_source(header: str) -> tuple[str, str]:
    source = unquote(header.split("?", 1)[0]).lstrip("/")
    bucket, _, key = source.partition("/")
    if not bucket or not key:
        raise S3Error(
            "InvalidArgument",
            f"Copy Source must mention the source bucket and key: sourcebucket/sourcekey; got "
            f"{header!r}",
            ArgumentName="x-amz-copy-source",
        )
    return bucket, key


def _encode_token(last: str) -> str:
    return base64.urlsafe_b64encode(json.dumps({"after": last}).encode()).decode()


def _decode_token(token: str) -> str:
    try:
        return str(json.loads(base64.urlsafe_b64decode(token.encode()))["after"])
    except (ValueError, KeyError, TypeError):
        raise S3Error(
            "InvalidArgument",
            "The continuation token provided is incorrect",
            ArgumentName="continuation-token",
        ) from None


def _parse_xml(body: bytes) -> ET.Element:
    try:
        root = ET.fromstring(body)
    except ET.ParseError as e:
        raise S3Error(
            "MalformedXML",
            f"The XML you provided was not well-formed or did not validate against our "
            f"published schema ({e})",
        ) from None
    for element in root.iter():
        if isinstance(element.tag, str) and "}" in element.tag:
            element.tag = element.tag.split("}", 1)[1]
    return root


def _children(parent: ET.Element, tag: str) -> list[ET.Element]:
    return [child for child in parent if child.tag == tag]


def _find_text(parent: ET.Element, tag: str) -> str | None:
    child = parent.find(tag)
    return None if child is None else (child.text or "")


# (XML element, botocore list member, XML destination element, botocore destination member)
_NOTIFICATION_LISTS = (
    (
        "CloudFunctionConfiguration",
        "LambdaFunctionConfigurations",
        "CloudFunction",
        "LambdaFunctionArn",
    ),
    ("QueueConfiguration", "QueueConfigurations", "Queue", "QueueArn"),
    ("TopicConfiguration", "TopicConfigurations", "Topic", "TopicArn"),
)


def notification_from_xml(doc: ET.Element) -> dict[str, Any]:
    """A NotificationConfiguration document in botocore's shape."""
    configuration: dict[str, Any] = {}
    for element, list_name, destination, member in _NOTIFICATION_LISTS:
        entries = []
        for child in _children(doc, element):
            entry: dict[str, Any] = {member: _find_text(child, destination) or ""}
            identifier = _find_text(child, "Id")
            if identifier:
                entry["Id"] = identifier
            entry["Events"] = [e.text or "" for e in _children(child, "Event")]
            rules = [
                {"Name": _find_text(r, "Name") or "", "Value": _find_text(r, "Value") or ""}
                for r in child.findall("./Filter/S3Key/FilterRule")
            ]
            if rules:
                entry["Filter"] = {"Key": {"FilterRules": rules}}
            entries.append(entry)
        if entries:
            configuration[list_name] = entries
    if doc.find("EventBridgeConfiguration") is not None:
        configuration["EventBridgeConfiguration"] = {}
    return configuration


def notification_to_xml(configuration: dict[str, Any]) -> ET.Element:
    root = _element("NotificationConfiguration")
    for element, list_name, destination, member in _NOTIFICATION_LISTS:
        for entry in configuration.get(list_name, []):
            child = _sub(root, element)
            _sub(child, "Id", entry.get("Id", ""))
            _sub(child, destination, entry[member])
            for event in entry.get("Events", []):
                _sub(child, "Event", event)
            rules = entry.get("Filter", {}).get("Key", {}).get("FilterRules", [])
            if rules:
                key = _sub(_sub(child, "Filter"), "S3Key")
                for rule in rules:
                    r = _sub(key, "FilterRule")
                    _sub(r, "Name", rule["Name"])
                    _sub(r, "Value", rule["Value"])
    if "EventBridgeConfiguration" in configuration:
        _sub(root, "EventBridgeConfiguration")
    return root
