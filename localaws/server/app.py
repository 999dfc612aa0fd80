"""The HTTP layer: AWS-compatible APIs and the console, over one Runtime.

An AWS API call is told apart from a console request by its signature: a SigV4
``Authorization`` header (or presigned ``X-Amz-Credential`` query), an ``X-Amz-Target``
header, or an unsigned request whose path is a Lambda / SageMaker Runtime API path.  AWS
calls are routed by the service their signature names (``Credential=.../s3/aws4_request``)
and by ``X-Amz-Target``, so that boto3, the AWS CLI and the Data Science SDK reach the
right backend with nothing but ``endpoint_url`` changed:

* ``X-Amz-Target: AWSStepFunctions.*`` / ``SageMaker.*`` -> the JSON protocol;
* signed for ``s3`` -> :mod:`localaws.server.s3_protocol` (REST-XML, path-style);
* otherwise the REST-JSON APIs of Lambda and SageMaker Runtime, matched by method and path.

Everything else goes to the console, :func:`localaws.server.console.create_console` (static
files at ``/``, its API under ``/console/api/``).  The services and their backends come from
:mod:`localaws.registry`; protocols, target prefixes and operations from botocore's models.  Every backend call runs in a worker
thread; every error leaves as AWS's error shape, never a stack trace.
"""

from __future__ import annotations

import inspect
import logging
import re
from collections.abc import Callable
from functools import cache
from typing import TYPE_CHECKING, Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response as HttpResponse
from starlette.types import ASGIApp, Receive, Scope, Send

from localaws.apigateway.proxy import INVOKE_PATH, ApiProxy, HttpRequest
from localaws.botocore_model import json_target, service_model, snake_case
from localaws.botocore_model import validate_request as validate_against_model
from localaws.errors import PlatformError, ServiceError, UserError
from localaws.motobridge.services import route as mounted_service
from localaws.registry import BY_ATTRIBUTE, SERVICES
from localaws.sagemaker import invoke_async
from localaws.server import protocols
from localaws.server.console import create_console
from localaws.server.s3_protocol import S3Api

if TYPE_CHECKING:
    from localaws.runtime import Runtime

log = logging.getLogger(__name__)


@cache
def json_services() -> dict[str, tuple[str, str, str]]:
    """X-Amz-Target prefix -> (botocore service, runtime attribute, content type), for the
    registered services of botocore's ``json`` protocol."""
    found = {}
    for service in (s for s in SERVICES if not s.moto):
        target = json_target(service.botocore_name)
        if target is not None:
            found[target[0]] = (service.botocore_name, service.attribute, target[1])
    return found


@cache
def rest_services() -> tuple[tuple[str, str], ...]:
    """The registered services of botocore's ``rest-json`` protocol, tried in order by method
    and path: (botocore service, runtime attribute)."""
    return tuple(
        (s.botocore_name, s.attribute)
        for s in SERVICES
        if not s.moto and service_model(s.botocore_name).metadata.get("protocol") == "rest-json"
    )


_SCOPE = re.compile(r"Credential=[^/]+/\d{8}/[^/]+/([^/,]+)/aws4_request")


def signing_service(request: Request) -> str | None:
    """The service a SigV4 request is signed for (``states``, ``s3``...), or None."""
    m = _SCOPE.search(request.headers.get("authorization", ""))
    if m:
        return m.group(1)
    credential = request.query_params.get("X-Amz-Credential", "")
    parts = credential.split("/")
    if len(parts) == 5:
        return parts[3]
    if "AWSAccessKeyId" in request.query_params:  # an S3 URL presigned with SigV2
        return "s3"
    return None


def is_aws_request(request: Request) -> bool:
    """Whether the request is an AWS API call rather than a console request."""
    if request.headers.get("x-amz-target") or signing_service(request):
        return True
    if request.headers.get("authorization", "").startswith(("AWS4-", "AWS ")):
        return True
    return any(
        protocols.match_rest(service, request.method, request.url.path)
        for service, _ in rest_services()
    )


class AwsApi:
    """Dispatches AWS API requests to the runtime's backends."""

    def __init__(self, runtime: Runtime):
        self.runtime = runtime
        self.s3 = S3Api(runtime)

    async def __call__(self, request: Request) -> HttpResponse:
        target = request.headers.get("x-amz-target")
        signing = signing_service(request)
        # The path decides only without a target (and building request.url is not free).
        mounted = mounted_service(target, signing, "" if target else request.url.path)
        if mounted is not None:
            return await self._mounted(mounted, request)
        if not target and signing == "s3":
            return await self.s3(request)
        body = await request.body()
        if not target:
            endpoint = invoke_async.plain_request(
                request.method, request.url.path, dict(request.headers), body
            )
            if endpoint is not None:
                return await self._invoke_endpoint(request, endpoint, body)
        try:
            if target:
                resp = await self._json(target, body)
            else:
                resp = await self._rest(request, body)
        except ServiceError as e:
            resp = (
                protocols.json_error(e, _content_type(target))
                if target
                else protocols.rest_error(e)
            )
        return HttpResponse(resp.body, status_code=resp.status, headers=resp.headers)

    async def _invoke_endpoint(self, request: Request, endpoint: str, body: bytes) -> HttpResponse:
        """InvokeEndpoint on the event loop (:mod:`localaws.sagemaker.invoke_async`)."""
        try:
            result = await invoke_async.invoke(
                self.runtime.sagemaker_runtime,
                endpoint,
                body,
                request.headers.get("content-type"),
                request.headers.get("accept"),
            )
        except ServiceError as e:
            resp = protocols.rest_error(e)
        else:
            resp = protocols.encode_rest_response(_invoke_endpoint_model(), result)
        return HttpResponse(resp.body, status_code=resp.status, headers=resp.headers)

    async def _mounted(self, service: str, request: Request) -> HttpResponse:
        """A service moto serves (localaws.motobridge): moto parses and answers."""
        body = await request.body()
        path = request.scope.get("raw_path", request.url.path.encode()).decode("latin-1")
        if request.url.query:
            path += f"?{request.url.query}"

        def handle() -> Any:
            return self.runtime.motobridge.handle(
                service, request.method, path, dict(request.headers), body
            )

        try:
            reply = await run_in_threadpool(handle)
        except PlatformError as e:
            error = ServiceError("ServiceUnavailable", str(e), status=503, sender_fault=False)
            resp = protocols.json_error(error, "application/x-amz-json-1.1")
            return HttpResponse(resp.body, status_code=503, headers=resp.headers)
        return HttpResponse(reply.body, status_code=reply.status, headers=reply.headers)

    async def _json(self, target: str, body: bytes) -> protocols.Response:
        prefix = target.split(".", 1)[0]
        services = json_services()
        if prefix not in services:
            raise ServiceError(
                "UnknownOperationException",
                f"Unknown service target {target!r}; this server speaks "
                + ", ".join(f"{p}.*" for p in services),
            )
        service, attr, content_type = services[prefix]
        try:
            model = protocols.service_model(service)
            operation = protocols.json_operation(model, target)
            params = protocols.decode_json_request(operation, body)
            result = await self._call(attr, operation.name, params)
            return protocols.encode_json_response(operation, result, content_type)
        except ServiceError as e:
            return protocols.json_error(e, content_type)

    async def _rest(self, request: Request, body: bytes) -> protocols.Response:
        path = request.url.path
        for service, attr in rest_services():
            found = protocols.match_rest(service, request.method, path)
            if found is None:
                continue
            operation, uri_params = found
            params = protocols.decode_rest_request(
                operation, uri_params, dict(request.headers), request.query_params, body
            )
            result = await self._call(attr, operation.name, params)
            return protocols.encode_rest_response(operation, result)
        raise ServiceError(
            "UnknownOperationException",
            f"No AWS API at {request.method} {path} (signed for "
            f"{signing_service(request) or 'no service'}); this server speaks Step Functions, "
            "SageMaker, SageMaker Runtime, Lambda and S3",
            status=404,
        )

    async def _call(self, attr: str, operation: str, params: dict[str, Any]) -> dict[str, Any]:
        method = getattr(getattr(self.runtime, attr), snake_case(operation), None)
        if method is None:
            raise ServiceError(
                "UnknownOperationException",
                f"{operation} is not supported by the local runtime",
            )
        validate_request(attr, operation, params)
        unsupported = unsupported_members(method, params)
        if unsupported:
            # Valid for AWS (the model has these members) but not implemented locally.
            raise ServiceError(
                "ValidationException",
                f"{operation}: the local runtime does not support "
                f"{', '.join(unsupported)}; leave {'them' if len(unsupported) > 1 else 'it'} out",
            )
        try:
            return await run_in_threadpool(method, **params) or {}
        except ServiceError:
            raise
        except UserError as e:
            raise ServiceError("ValidationException", str(e)) from e
        except RecursionError as e:
            # A JSON document inside a member (an execution input, a definition) nested too
            # deeply to walk.
            raise ServiceError(
                "ValidationException",
                f"{operation}: a JSON document in the request nests too deeply; flatten it",
            ) from e
        except Exception as e:  # a bug in the backend (a TypeError too): 500, logged
            log.exception("%s failed", operation)
            raise ServiceError(
                "InternalFailure" if attr != "stepfunctions" else "InternalServerError",
                f"{operation} failed in the local runtime: {type(e).__name__}: {e}",
                status=500,
                sender_fault=False,
            ) from e


@cache
def _invoke_endpoint_model() -> Any:
    return protocols.service_model("sagemaker-runtime").operation_model("InvokeEndpoint")


def _content_type(target: str | None) -> str:
    prefix = (target or "").split(".", 1)[0]
    services = json_services()
    return services[prefix][2] if prefix in services else "application/x-amz-json-1.1"


@cache
def _keyword_names(function: Callable[..., Any]) -> frozenset[str] | None:
    """The keyword arguments a backend method takes (None: any, it has ``**kwargs``)."""
    parameters = inspect.signature(function).parameters.values()
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters):
        return None
    return frozenset(
        p.name
        for p in parameters
        if p.kind in (inspect.Parameter.KEYWORD_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)
    )


def unsupported_members(method: Callable[..., Any], params: dict[str, Any]) -> list[str]:
    """Request members (already valid for botocore's model) the backend method does not take."""
    names = _keyword_names(getattr(method, "__func__", method))
    return [] if names is None else sorted(set(params) - names)


def validate_request(attr: str, operation: str, params: dict[str, Any]) -> None:
    """Check a request against botocore's model of the service (required members, types,
    constraints); raises ``ServiceError('ValidationException', ...)``."""
    validate_against_model(BY_ATTRIBUTE[attr].botocore_name, operation, params)


class LocalAwsApp:
    """The ASGI app: AWS API calls to :class:`AwsApi`, the rest to the console."""

    def __init__(self, runtime: Runtime, console: ASGIApp | None = None):
        self.runtime = runtime
        self.api = AwsApi(runtime)
        self.proxy = ApiProxy(runtime)
        self.console = console if console is not None else create_console(runtime)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            request = Request(scope, receive)
            invoke = INVOKE_PATH.match(scope["path"])
            if invoke is not None:
                await self._serve_api(invoke, request, scope, send)
                return
            if is_aws_request(request):
                try:
                    response = await self.api(request)
                except Exception as e:  # a bug: still AWS's shape, never a stack trace
                    log.exception("%s %s failed", request.method, request.url.path)
                    error = ServiceError(
                        "InternalFailure",
                        f"the local server failed: {type(e).__name__}: {e}",
                        status=500,
                        sender_fault=False,
                    )
                    resp = protocols.json_error(error, "application/json")
                    response = HttpResponse(resp.body, status_code=500, headers=resp.headers)
                await response(scope, receive, send)
                return
        await self.console(scope, receive, send)

    async def _serve_api(
        self, invoke: re.Match[str], request: Request, scope: Scope, send: Send
    ) -> None:
        """An API Gateway invoke URL (:mod:`localaws.apigateway.proxy`)."""
        from localaws.server.guard import TRUSTED_ORIGIN

        client = scope.get("client") or ("127.0.0.1", 0)
        inbound = HttpRequest(
            method=request.method,
            path=invoke.group("path") or "/",
            query=scope.get("query_string", b"").decode("latin-1"),
            headers=[
                (k.decode("latin-1").lower(), v.decode("latin-1")) for k, v in scope["headers"]
            ],
            body=await request.body(),
            source_ip=str(client[0]),
            trusted_origin=bool(scope.get(TRUSTED_ORIGIN)),
        )
        try:
            response = await run_in_threadpool(
                self.proxy.handle, invoke.group("api"), invoke.group("stage"), inbound
            )
        except Exception:  # a bug: API Gateway's 500, logged, never a stack trace
            log.exception("%s %s failed", request.method, request.url.path)
            body = b'{"message": "Internal server error"}'
            await _send(send, 500, [("content-type", "application/json")], body)
            return
        await _send(send, response.status, response.headers, response.body)


async def _send(send: Send, status: int, headers: list[tuple[str, str]], body: bytes) -> None:
    raw = [(k.encode("latin-1"), v.encode("latin-1")) for k, v in headers]
    raw.append((b"content-length", str(len(body)).encode()))
    await send({"type": "http.response.start", "status": status, "headers": raw})
    await send({"type": "http.response.body", "body": body})


def create_app(runtime: Runtime, *, console: ASGIApp | None = None) -> LocalAwsApp:
    """The server's ASGI app over a started ``runtime``."""
    return LocalAwsApp(runtime, console)
