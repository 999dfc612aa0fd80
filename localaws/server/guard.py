"""The server's front door: who may call it, checked before any routing or work.

The server runs code on request (a Lambda's handler, a training script), so a request from a
web page the user happens to visit must not reach it.  :class:`Guard` wraps the ASGI app and,
for every HTTP request, in this order:

1. ``Host`` must name this server (``127.0.0.1``, ``localhost``, ``[::1]`` or the bound
   address, with the port): a DNS-rebinding page's requests carry its own name.  With
   ``--allow-remote`` AWS API requests and API Gateway invoke URLs may use any name (the
   console still may not).
2. An ``Origin`` header must be the console's own origin (``http://<served name>:<port>``):
   a cross-site ``fetch`` or form post is refused, whatever it asks for.
3. The console's JSON API (``/console/api/``) needs the ``X-Localaws-Console: 1`` header,
   which a cross-site page cannot send without a CORS preflight this server never grants
   (or, for the console's links opened in a tab, the browser's ``Sec-Fetch-Site:
   same-origin`` navigation headers, which no page can forge).
4. Every AWS API request carries a SigV4 signature (:mod:`localaws.server.sigv4`): any
   access key by default; with a credentials file, a signature verified against it.  The
   console's own AWS calls (``X-Localaws-Console: 1``, same origin) need none; with a
   credentials file they also need the console cookie, set when the console is opened with
   the token the server prints.
5. A JSON API request body over the limit gets 413 without being read (S3 keeps S3's own
   limits, checked by the S3 API as it streams).

API Gateway's invoke URLs (``/restapis/<id>/<stage>/_user_request_/...``,
:mod:`localaws.apigateway.proxy`) are the one unsigned door, as an API on AWS is public:
Host and body size are checked as above, no signature is asked, and the ``Origin`` check is
the API's own CORS configuration, applied by the proxy before the function behind the API
runs (the guard tells it whether the origin is the console's, ``TRUSTED_ORIGIN``).  Such a
request can only invoke what the API routes to.

A use case's published page (``GET /web/<site>/...``, :mod:`localaws.server.sites`) is
served like the console's own assets: static files, no signature, a foreign ``Origin``
refused.

A refusal has the protocol's error shape (JSON 1.0/1.1, REST-JSON, S3's XML) and status 403
(413 for a large body).  Every error response leaving the server has the state directory's
path replaced, so no error tells a caller where the data lives.
"""

from __future__ import annotations

import hmac
import ipaddress
import json
import secrets as random_tokens
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from functools import cached_property
from http.cookies import CookieError, SimpleCookie
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl
from xml.sax.saxutils import escape

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from localaws import config
from localaws.apigateway.proxy import INVOKE_PATH
from localaws.errors import ServiceError, excerpt
from localaws.server import protocols, sigv4
from localaws.server.app import json_services, rest_services
from localaws.server.sites import SITE_PREFIX

CONSOLE_API_PREFIX = "/console/api/"
CONSOLE_HEADER = "x-localaws-console"  # sent by static/app.js on every fetch
CONSOLE_COOKIE = "localaws_console"
CONSOLE_TOKEN_PARAM = "token"
SIGNATURE_PARAMS = ("X-Amz-Credential", "X-Amz-Signature", "AWSAccessKeyId", "Signature")
LOOPBACK_NAMES = ("127.0.0.1", "localhost", "[::1]")
DRAIN_LIMIT = 256 * 1024 * 1024  # read (and drop) at most this much of a refused body
SCRUB_LIMIT = 1024 * 1024  # error bodies up to this size are scrubbed of the state dir
STATE_DIR_PLACEHOLDER = b"[state dir]"
_PAGE_PREFIX = "/console/static/"
TRUSTED_ORIGIN = "localaws.trusted_origin"  # scope key: the request's Origin is the console's


def is_loopback(host: str) -> bool:
    """Whether ``host`` (a name or an address, IPv6 with or without brackets) is loopback."""
    if host.strip("[]").lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def _is_wildcard(host: str) -> bool:
    try:
        return ipaddress.ip_address(host.strip("[]")).is_unspecified
    except ValueError:
        return False


@dataclass(frozen=True)
class Policy:
    """What the guard lets in; built once the socket is bound (the port is known)."""

    port: int
    bound_host: str = config.DEFAULT_HOST
    allow_remote: bool = False
    secrets: dict[str, str] | None = None  # access key -> secret; None: any key
    max_body: int = config.DEFAULT_MAX_BODY
    state_dir: Path | None = None
    console_token: str | None = field(default=None)

    @classmethod
    def create(
        cls,
        *,
        port: int,
        bound_host: str = config.DEFAULT_HOST,
        allow_remote: bool = False,
        secrets: dict[str, str] | None = None,
        max_body: int | None = None,
        state_dir: Path | None = None,
    ) -> Policy:
        return cls(
            port=port,
            bound_host=bound_host,
            allow_remote=allow_remote,
            secrets=secrets,
            max_body=config.max_request_bytes(max_body),
            state_dir=state_dir,
            # With verified signatures, the console proves itself with a cookie too.
            console_token=random_tokens.token_urlsafe(24) if secrets is not None else None,
        )

    @cached_property  # per request otherwise; the policy is frozen
    def names(self) -> tuple[str, ...]:
        bound = self.bound_host.lower()
        if ":" in bound and not bound.startswith("["):
            bound = f"[{bound}]"
        extra = () if _is_wildcard(bound) or bound in LOOPBACK_NAMES else (bound,)
        return LOOPBACK_NAMES + extra

    @cached_property
    def hosts(self) -> frozenset[str]:
        """The ``Host`` header values that name this server."""
        found = {f"{name}:{self.port}" for name in self.names}
        if self.port == 80:
            found |= set(self.names)
        return frozenset(found)

    @cached_property
    def origins(self) -> frozenset[str]:
        return frozenset(f"http://{host}" for host in self.hosts)

    def console_url(self, url: str) -> str:
        """The URL to open the console with (carrying the token when one is needed)."""
        base = url.rstrip("/") + "/"
        return f"{base}?{CONSOLE_TOKEN_PARAM}={self.console_token}" if self.console_token else base


@dataclass
class Inbound:
    """The parts of a request the guard looks at."""

    method: str
    path: str
    raw_path: str
    query_string: str
    headers: sigv4.Headers
    client: str

    @classmethod
    def of(cls, scope: Scope) -> Inbound:
        raw = scope.get("raw_path") or scope["path"].encode()
        client = scope.get("client") or ("", 0)
        return cls(
            method=scope["method"],
            path=scope["path"],
            raw_path=raw.decode("latin-1").split("?", 1)[0],
            query_string=scope.get("query_string", b"").decode("latin-1"),
            headers=[
                (k.decode("latin-1").lower(), v.decode("latin-1")) for k, v in scope["headers"]
            ],
            client=str(client[0]),
        )

    def header(self, name: str) -> str | None:
        return sigv4.header(self.headers, name)

    @property
    def query(self) -> dict[str, str]:
        return dict(parse_qsl(self.query_string, keep_blank_values=True))


@dataclass(frozen=True)
class Route:
    """Where a request goes: ``page`` (console HTML/assets), ``console-api``, or ``aws``
    with the protocol its errors are written in (``json``, ``rest``, ``s3``)."""

    kind: str
    protocol: str
    target: str | None = None


def signing_service(request: Inbound) -> str | None:
    credential = ""
    authorization = request.header("authorization") or ""
    if "Credential=" in authorization:
        credential = authorization.split("Credential=", 1)[1].split(",", 1)[0]
    elif "X-Amz-Credential" in request.query:
        credential = request.query["X-Amz-Credential"]
    parts = credential.strip().split("/")
    if len(parts) == 5:
        return parts[3]
    if "AWSAccessKeyId" in request.query:  # an S3 URL presigned with SigV2
        return "s3"
    return None


def route(request: Inbound) -> Route:
    """The same decision :class:`localaws.server.app.LocalAwsApp` makes, made first."""
    if INVOKE_PATH.match(request.path):
        return Route("api", "rest")
    target = request.header("x-amz-target")
    if target:
        return Route("aws", "json", target)
    if any(protocols.match_rest(s, request.method, request.path) for s, _ in rest_services()):
        return Route("aws", "rest")
    service = signing_service(request)
    if service == "s3":
        return Route("aws", "s3")
    if service or (request.header("authorization") or "").startswith("AWS4-"):
        return Route("aws", "rest")
    if request.path.startswith(CONSOLE_API_PREFIX):
        return Route("console-api", "console")
    if (request.path == "/" and request.method in ("GET", "HEAD")) or request.path.startswith(
        _PAGE_PREFIX
    ):
        return Route("page", "console")
    if request.method in ("GET", "HEAD") and request.path.startswith(SITE_PREFIX):
        return Route("page", "console")  # a published page's files (localaws.server.sites)
    return Route("aws", "s3")  # anything else unsigned is S3's (path-style /bucket/key)


class Refusal(Exception):
    """A request the guard turns away: an error code per protocol, a message, a status."""

    def __init__(
        self,
        code: str,
        message: str,
        status: int = 403,
        *,
        s3_code: str = "AccessDenied",
        s3_status: int | None = None,
    ):
        super().__init__(message)
        self.code = code
        self.message = excerpt(message, 1000)
        self.status = status
        self.s3_code = s3_code
        self.s3_status = status if s3_status is None else s3_status


# SignatureError.reason -> (JSON/REST code, S3 code, S3 status)
_SIGNATURE_CODES = {
    "missing": ("MissingAuthenticationTokenException", "AccessDenied", 403),
    "incomplete": ("IncompleteSignatureException", "AuthorizationHeaderMalformed", 400),
    "unknown-key": ("UnrecognizedClientException", "InvalidAccessKeyId", 403),
    "mismatch": ("InvalidSignatureException", "SignatureDoesNotMatch", 403),
    "expired": ("InvalidSignatureException", "AccessDenied", 403),
}


def _signature_refusal(e: sigv4.SignatureError) -> Refusal:
    code, s3_code, s3_status = _SIGNATURE_CODES[e.reason]
    return Refusal(code, e.message, s3_code=s3_code, s3_status=s3_status)


def error_response(refusal: Refusal, route_: Route) -> tuple[int, list[tuple[bytes, bytes]], bytes]:
    """Status, headers and body of a refusal in the request's protocol."""
    if route_.protocol == "s3":
        status = refusal.s3_status
        body = (
            '<?xml version="1.0" encoding="UTF-8"?>\n<Error>'
            f"<Code>{refusal.s3_code}</Code><Message>{escape(refusal.message)}</Message>"
            "<RequestId>0</RequestId></Error>"
        ).encode()
        return status, [(b"content-type", b"application/xml")], body
    error = ServiceError(refusal.code, refusal.message, status=refusal.status)
    if route_.protocol == "json":
        prefix = (route_.target or "").split(".", 1)[0]
        content_type = json_services().get(prefix, ("", "", "application/x-amz-json-1.1"))[2]
        resp = protocols.json_error(error, content_type)
    elif route_.protocol == "rest":
        resp = protocols.rest_error(error)
    else:
        resp = protocols.Response(
            refusal.status,
            {"Content-Type": "application/json"},
            json.dumps(error.to_dict()).encode(),
        )
    headers = [(k.lower().encode(), v.encode()) for k, v in resp.headers.items()]
    return resp.status, headers, resp.body


class Guard:
    """ASGI middleware applying a :class:`Policy` before the wrapped app sees a request."""

    def __init__(self, app: ASGIApp, policy: Policy):
        self.app = app
        self.policy = policy
        scrub = []
        if policy.state_dir is not None:
            scrub = sorted(
                {str(policy.state_dir).encode(), str(policy.state_dir.resolve()).encode()},
                key=len,
                reverse=True,
            )
        self._scrub = scrub

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "websocket":
            await send({"type": "websocket.close", "code": 1008})
            return
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request = Inbound.of(scope)
        where = route(request)
        reader = _BodyReader(receive)
        try:
            body = await self._admit(request, where, reader)
        except Refusal as refusal:
            await reader.drain()
            status, headers, payload = error_response(refusal, where)
            await _respond(send, status, headers, self._clean(payload))
            return
        if where.kind == "api":
            origin = request.header("origin")
            scope = {
                **scope,
                TRUSTED_ORIGIN: origin is not None and origin.lower() in self.policy.origins,
            }
        await self.app(scope, _replay(body, receive), self._sender(send, request, where))

    # -- the checks --------------------------------------------------------------------

    async def _admit(self, request: Inbound, where: Route, reader: _BodyReader) -> bytes | None:
        """The request's body when the guard read it (None: the app streams it)."""
        policy = self.policy
        host = (request.header("host") or "").lower()
        if not (where.kind in ("aws", "api") and policy.allow_remote) and host not in policy.hosts:
            raise Refusal(
                "AccessDeniedException",
                f"Host {excerpt(host, 100)!r} does not name this server; use one of "
                + ", ".join(sorted(policy.hosts)),
            )
        origin = request.header("origin")
        if where.kind == "api":  # the API's CORS configuration decides (docstring)
            return await self._read_body(request, where, reader)
        if origin is not None and origin.lower() not in policy.origins:
            raise Refusal(
                "AccessDeniedException",
                f"requests from origin {excerpt(origin, 100)!r} are refused; only the console "
                "served here may call this server from a browser",
            )
        if where.kind == "page":
            return None
        console = request.header(CONSOLE_HEADER) == "1"
        if where.kind == "console-api" and not (console or _browser_same_origin(request)):
            raise Refusal(
                "AccessDeniedException",
                "the console API answers only the console's own page (X-Localaws-Console: 1)",
            )
        signed = request.header("authorization") is not None or any(
            name in request.query for name in SIGNATURE_PARAMS
        )
        if where.kind == "console-api" or (console and not signed):
            self._check_console_session(request)
            return await self._read_body(request, where, reader)
        try:
            sig = sigv4.parse(request.headers, request.query)
        except sigv4.SignatureError as e:
            raise _signature_refusal(e) from e
        body = None if where.protocol == "s3" else await self._read_body(request, where, reader)
        if policy.secrets is not None:
            try:
                sigv4.verify(
                    sig,
                    policy.secrets,
                    method=request.method,
                    raw_path=request.raw_path,
                    query_string=request.query_string,
                    headers=request.headers,
                    body=body,
                )
            except sigv4.SignatureError as e:
                raise _signature_refusal(e) from e
        return body

    def _check_console_session(self, request: Inbound) -> None:
        token = self.policy.console_token
        if token is None:
            return
        cookie = SimpleCookie()
        try:
            cookie.load(request.header("cookie") or "")
        except CookieError:  # a malformed cookie header is no session
            cookie = SimpleCookie()
        morsel = cookie.get(CONSOLE_COOKIE)
        if morsel is None or not hmac.compare_digest(morsel.value, token):
            raise Refusal(
                "AccessDeniedException",
                "this server verifies credentials: open the console with the URL (and token) "
                "it printed when it started",
            )

    async def _read_body(self, request: Inbound, where: Route, reader: _BodyReader) -> bytes:
        limit = self.policy.max_body
        declared = request.header("content-length")
        if declared is not None and declared.isdigit() and int(declared) > limit:
            raise self._too_large(where, int(declared))
        chunks: list[bytes] = []
        size = 0
        while not reader.done:
            data = await reader.next()
            size += len(data)
            if size > limit:
                raise self._too_large(where, size)
            chunks.append(data)
        return b"".join(chunks)

    def _too_large(self, where: Route, size: int) -> Refusal:
        code = "RequestTooLargeException" if where.protocol == "rest" else "RequestEntityTooLarge"
        return Refusal(
            code,
            f"the request body ({size} bytes or more) is over this server's limit of "
            f"{self.policy.max_body} bytes (set {config.ENV_MAX_BODY} to change it)",
            status=413,
            s3_code="EntityTooLarge",
        )

    # -- responses ---------------------------------------------------------------------

    def _clean(self, body: bytes) -> bytes:
        for path in self._scrub:
            body = body.replace(path, STATE_DIR_PLACEHOLDER)
        return body

    def _sender(self, send: Send, request: Inbound, where: Route) -> Send:
        """``send`` that scrubs error bodies and sets the console cookie when due."""
        cookie = None
        token = self.policy.console_token
        if where.kind == "page" and token and request.path == "/":
            given = request.query.get(CONSOLE_TOKEN_PARAM, "")
            if given and hmac.compare_digest(given, token):
                cookie = f"{CONSOLE_COOKIE}={token}; Path=/; HttpOnly; SameSite=Strict"
        held: dict[str, Any] = {}
        parts: list[bytes] = []

        async def guarded_send(message: Message) -> None:
            if message["type"] == "http.response.start":
                if cookie is not None:
                    headers = [*message.get("headers", []), (b"set-cookie", cookie.encode())]
                    message = {**message, "headers": headers}
                if message["status"] >= 400 and self._scrub:
                    held["start"] = message
                    return
                await send(message)
                return
            if message["type"] == "http.response.body" and "start" in held:
                parts.append(message.get("body", b""))
                more = message.get("more_body", False)
                if more and sum(map(len, parts)) < SCRUB_LIMIT:
                    return
                start = held.pop("start")
                body = self._clean(b"".join(parts))
                parts.clear()
                if not more:
                    headers = [
                        (k, v)
                        for k, v in start.get("headers", [])
                        if k.lower() != b"content-length"
                    ]
                    headers.append((b"content-length", str(len(body)).encode()))
                    start = {**start, "headers": headers}
                await send(start)
                await send({"type": "http.response.body", "body": body, "more_body": more})
                return
            await send(message)

        return guarded_send


def _browser_same_origin(request: Inbound) -> bool:
    """A browser's own word (``Sec-Fetch-*`` headers, which no page can set) that this GET
    is a navigation from the console's origin or typed by the user: the console's links to
    logs and objects, opened in a new tab, carry no custom header."""
    return (
        request.method in ("GET", "HEAD")
        and request.header("sec-fetch-site") in ("same-origin", "none")
        and request.header("sec-fetch-mode") == "navigate"
    )


def _replay(body: bytes | None, receive: Receive) -> Receive:
    """``receive`` that hands the app the body the guard already read, then carries on."""
    if body is None:
        return receive
    sent = False

    async def replayed() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replayed


class _BodyReader:
    """Reads a request's body from ``receive``, knowing when it has all been read."""

    def __init__(self, receive: Receive):
        self.receive = receive
        self.done = False

    async def next(self) -> bytes:
        message = await self.receive()
        if message["type"] != "http.request" or not message.get("more_body", False):
            self.done = True
        return bytes(message.get("body", b"")) if message["type"] == "http.request" else b""

    async def drain(self) -> None:
        """Read what is left of a refused request's body (up to a bound), so that a client
        still sending reads the answer rather than a reset connection."""
        drained = 0
        while not self.done and drained <= DRAIN_LIMIT:
            drained += len(await self.next())


async def _respond(
    send: Callable[[Message], Awaitable[None]],
    status: int,
    headers: list[tuple[bytes, bytes]],
    body: bytes,
) -> None:
    headers = [*headers, (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
