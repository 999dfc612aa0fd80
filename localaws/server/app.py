"""The HTTP layer: AWS-compatible APIs and the console, over one Runtime.

Requests are routed by the service their SigV4 signature names (``Credential=.../states/
aws4_request``), falling back to ``X-Amz-Target`` and the path for unsigned requests, so
that boto3, the AWS CLI and the Data Science SDK reach the right backend with nothing but
``endpoint_url`` changed.  Every backend call runs in a worker thread; every error leaves as
AWS's error shape, never a stack trace.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response as HttpResponse
from starlette.routing import Route

from localaws.errors import ServiceError, UserError
from localaws.server import protocols

if TYPE_CHECKING:
    from localaws.runtime import Runtime

log = logging.getLogger(__name__)

# Signing name -> (botocore service, protocol). SageMaker Runtime signs as "sagemaker".
JSON_SERVICES = {
    "AWSStepFunctions": ("stepfunctions", "stepfunctions", "application/x-amz-json-1.0"),
    "SageMaker": ("sagemaker", "sagemaker", "application/x-amz-json-1.1"),
}
REST_SERVICES = {
    "lambda": ("lambda", "lambda_"),
    "sagemaker-runtime": ("sagemaker-runtime", "sagemaker_runtime"),
}
_SCOPE = re.compile(r"Credential=[^/]+/\d{8}/[^/]+/([^/]+)/aws4_request")


def signing_service(request: Request) -> str | None:
    m = _SCOPE.search(request.headers.get("authorization", ""))
    return m.group(1) if m else None


class AwsApi:
    """Dispatches AWS API requests to the runtime's backends."""

    def __init__(self, runtime: Runtime, extra: dict[str, Callable[[Request], Any]] | None = None):
        self.runtime = runtime
        self.extra = extra or {}

    async def __call__(self, request: Request) -> HttpResponse:
        body = await request.body()
        target = request.headers.get("x-amz-target")
        try:
            if target:
                resp = await self._json(target, body)
            else:
                resp = await self._rest(request, body)
        except ServiceError as e:
            resp = (
                protocols.json_error(e, "application/x-amz-json-1.1")
                if target
                else protocols.rest_error(e)
            )
        return HttpResponse(resp.body, status_code=resp.status, headers=resp.headers)

    async def _json(self, target: str, body: bytes) -> protocols.Response:
        prefix = target.split(".", 1)[0]
        if prefix not in JSON_SERVICES:
            raise ServiceError("UnknownOperationException", f"unknown service target {target!r}")
        service, attr, content_type = JSON_SERVICES[prefix]
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
        for service, attr in REST_SERVICES.values():
            found = protocols.match_rest(service, request.method, path)
            if found is None:
                continue
            operation, uri_params = found
            params = protocols.decode_rest_request(
                operation, uri_params, dict(request.headers), dict(request.query_params), body
            )
            result = await self._call(attr, operation.name, params)
            return protocols.encode_rest_response(operation, result)
        raise ServiceError(
            "UnknownOperationException", f"no API at {request.method} {path}", status=404
        )

    async def _call(self, attr: str, operation: str, params: dict[str, Any]) -> dict[str, Any]:
        backend = getattr(self.runtime, attr)
        method = getattr(backend, protocols.snake_case(operation), None)
        if method is None:
            raise ServiceError(
                "UnknownOperationException",
                f"{operation} is not supported by the local runtime",
            )
        validate_request(attr, operation, params)
        try:
            return await run_in_threadpool(method, **params) or {}
        except ServiceError:
            raise
        except UserError as e:
            raise ServiceError("ValidationException", str(e)) from e
        except TypeError as e:
            # A member the backend does not take: the request is valid for AWS but the local
            # runtime does not implement that member.
            raise ServiceError("ValidationException", f"{operation}: {e}") from e
        except Exception as e:
            log.exception("%s failed", operation)
            raise ServiceError(
                "InternalFailure" if attr != "stepfunctions" else "InternalServerError",
                f"{operation} failed in the local runtime: {type(e).__name__}: {e}",
                status=500,
                sender_fault=False,
            ) from e


def validate_request(attr: str, operation: str, params: dict[str, Any]) -> None:
    """Check a request against the service model (required members, types, constraints)."""
    service = {
        "stepfunctions": "stepfunctions",
        "sagemaker": "sagemaker",
        "lambda_": "lambda",
        "sagemaker_runtime": "sagemaker-runtime",
    }[attr]
    from localaws.sagemaker.validation import validate_request as validate

    validate(service, operation, params)


def create_app(runtime: Runtime) -> Starlette:
    api = AwsApi(runtime)
    routes = [Route("/{path:path}", api, methods=["GET", "POST", "PUT", "DELETE", "HEAD", "PATCH"])]
    return Starlette(routes=routes)
