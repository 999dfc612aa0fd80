"""API Gateway serving: a REST API (v1) or HTTP API (v2) answers HTTP requests locally.

URL scheme (as LocalStack's), on the server's own port::

    http://127.0.0.1:<port>/restapis/<api id>/<stage>/_user_request_/<path>

``<stage>`` is a deployed stage (``$default`` or ``_`` for an HTTP API's default stage).
:func:`invoke_url` builds it; ``python -m workflows apis`` prints every API's URL.

A request is matched against the API's routes as API Gateway does (a literal path before a
``{param}``, before a greedy ``{proxy+}``; a method before ``ANY``; v2's ``$default``
last), then its integration: Lambda proxy (``AWS_PROXY``) invokes the function with the
proxy event (v1's shape, or v2's payload format ``2.0`` or ``1.0`` as the integration
says) and maps its answer to the HTTP response (``statusCode``, ``headers``,
``multiValueHeaders``, ``cookies``, ``body``, ``isBase64Encoded``; an HTTP API's bare JSON
answer is a 200 body); v1 ``MOCK`` integrations (CORS ``OPTIONS`` methods) answer their
integration response's headers.  Errors have API Gateway's bodies: 403 ``Missing
Authentication Token`` (no route), 502 ``Internal server error`` (the function failed or
answered a malformed response).

Security: these URLs are callable without a signature, like an API on AWS, but only invoke
what the API routes to (the Lambda its owner deployed behind it).  A request carrying an
``Origin`` (a web page's) is served only when the API's CORS configuration allows that
origin (v2 ``CorsConfiguration.AllowOrigins``; v1 the ``Access-Control-Allow-Origin`` its
``OPTIONS`` method answers) or it is the console's own origin; otherwise it is refused
before the function runs (stricter than AWS, where CORS only hides the answer).  An HTTP
API answers CORS preflights itself from ``CorsConfiguration``, as API Gateway does.
"""

from __future__ import annotations

import base64
import json
import re
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from localaws.errors import ServiceError, excerpt

if TYPE_CHECKING:
    from localaws.runtime import Runtime

INVOKE_PATH = re.compile(
    r"^/restapis/(?P<api>[^/]+)/(?P<stage>[^/]+)/_user_request_(?P<path>/.*)?$"
)
DEFAULT_STAGES = ("$default", "_")
_FUNCTION_IN_URI = re.compile(r"functions/(?P<arn>[^/]+)/invocations")
_STAGE_VARIABLE = re.compile(r"\$\{stageVariables\.([A-Za-z0-9_]+)\}")


def invoke_url(base_url: str, api_id: str, stage: str) -> str:
    """The local URL of an API's stage (append the resource path)."""
    return f"{base_url.rstrip('/')}/restapis/{api_id}/{stage}/_user_request_"


@dataclass
class HttpRequest:
    method: str
    path: str  # the resource path, after _user_request_ ("/items/1")
    query: str  # raw query string
    headers: list[tuple[str, str]]  # lower-case names, in order
    body: bytes
    source_ip: str = "127.0.0.1"
    trusted_origin: bool = False  # the Origin is the console's own (the guard says)

    def header(self, name: str) -> str | None:
        return next((v for k, v in self.headers if k == name), None)


@dataclass
class HttpResponse:
    status: int
    headers: list[tuple[str, str]] = field(default_factory=list)
    body: bytes = b""


def _message(
    status: int, message: str, headers: list[tuple[str, str]] | None = None
) -> HttpResponse:
    return HttpResponse(
        status,
        [("content-type", "application/json"), *(headers or [])],
        json.dumps({"message": message}).encode(),
    )


FORBIDDEN_ROUTE = "Missing Authentication Token"
INTERNAL = "Internal server error"


# -- route matching ----------------------------------------------------------------------


def _template(path: str) -> tuple[re.Pattern[str], tuple[int, int, int]]:
    """A resource path template (``/items/{id}``, ``/{proxy+}``) as a regex and its rank
    (literal segments first, then fewer parameters, greedy last)."""
    parts = []
    literals = params = greedy = 0
    for segment in path.strip("/").split("/") if path.strip("/") else []:
        m = re.fullmatch(r"\{([A-Za-z0-9_.-]+)(\+?)\}", segment)
        if m is None:
            parts.append(re.escape(segment))
            literals += 1
        elif m.group(2):
            parts.append(f"(?P<{_group(m.group(1))}>.+)")
            greedy += 1
        else:
            parts.append(f"(?P<{_group(m.group(1))}>[^/]+)")
            params += 1
    pattern = re.compile("^/" + "/".join(parts) + "/?$") if parts else re.compile("^/?$")
    return pattern, (greedy, -literals, params)


def _group(name: str) -> str:
    return "p_" + re.sub(r"[^A-Za-z0-9_]", "_", name)


def _path_parameters(pattern: re.Pattern[str], m: re.Match[str], template: str) -> dict[str, str]:
    names = re.findall(r"\{([A-Za-z0-9_.-]+)\+?\}", template)
    return {n: m.group(_group(n)) for n in names}


def _split_query(query: str) -> list[tuple[str, str]]:
    from urllib.parse import parse_qsl

    return parse_qsl(query, keep_blank_values=True)


def _body_text(body: bytes) -> tuple[str | None, bool]:
    if not body:
        return None, False
    try:
        return body.decode("utf-8"), False
    except UnicodeDecodeError:
        return base64.b64encode(body).decode(), True


def _request_time(now: float) -> str:
    return datetime.fromtimestamp(now, UTC).strftime("%d/%b/%Y:%H:%M:%S +0000")


class ApiProxy:
    """Serves the APIs of a runtime's API Gateway (v1 and v2) over HTTP."""

    def __init__(self, runtime: Runtime):
        self.runtime = runtime

    def handle(self, api_id: str, stage: str, request: HttpRequest) -> HttpResponse:
        try:
            self.runtime.apigateway.get_rest_api(restApiId=api_id)
            return self._rest(api_id, stage, request)
        except ServiceError as e:
            if e.code != "NotFoundException":
                raise
        try:
            api = self.runtime.apigatewayv2.get_api(ApiId=api_id)
        except ServiceError as e:
            if e.code != "NotFoundException":
                raise
            return _message(404, f"no REST or HTTP API with id {excerpt(api_id, 40)}")
        return self._http(api, stage, request)

    # -- REST APIs (v1) -----------------------------------------------------------------

    def _rest(self, api_id: str, stage: str, request: HttpRequest) -> HttpResponse:
        gw = self.runtime.apigateway
        try:
            stage_info = gw.get_stage(restApiId=api_id, stageName=stage)
        except ServiceError:
            return _message(403, "Forbidden")
        resources: list[dict[str, Any]] = []
        kwargs: dict[str, Any] = {"restApiId": api_id, "embed": ["methods"], "limit": 500}
        while True:
            page = gw.get_resources(**kwargs)
            resources += page.get("items", [])
            if not page.get("position"):
                break
            kwargs["position"] = page["position"]
        matched = self._match_resource(resources, request.path or "/")
        if matched is None:
            return _message(403, FORBIDDEN_ROUTE)
        resource, params = matched
        methods = resource.get("resourceMethods") or {}
        allowed_origin = self._rest_cors_origin(methods)
        refused = self._check_origin(request, allowed_origin)
        if refused is not None:
            return refused
        method = methods.get(request.method) or methods.get("ANY")
        if method is None:
            return _message(403, FORBIDDEN_ROUTE)
        integration = method.get("methodIntegration") or {}
        kind = integration.get("type", "")
        if kind == "MOCK":
            return self._mock(integration)
        if kind != "AWS_PROXY":
            return _message(
                500,
                f"the local API Gateway serves Lambda proxy (AWS_PROXY) and MOCK integrations; "
                f"{request.method} {resource.get('path')} has a {kind or 'missing'} integration",
            )
        variables = stage_info.get("variables") or {}
        function = self._function(integration.get("uri", ""), variables)
        if function is None:
            return _message(500, INTERNAL)
        event = self._v1_event(request, api_id, stage, resource, params, variables)
        return self._invoke(function, event, version="1.0")

    @staticmethod
    def _match_resource(
        resources: list[dict[str, Any]], path: str
    ) -> tuple[dict[str, Any], dict[str, str]] | None:
        candidates = []
        for resource in resources:
            pattern, rank = _template(resource.get("path", "/"))
            m = pattern.match(path)
            if m is not None:
                candidates.append((rank, resource, _path_parameters(pattern, m, resource["path"])))
        if not candidates:
            return None
        candidates.sort(key=lambda c: c[0])
        return candidates[0][1], candidates[0][2]

    @staticmethod
    def _rest_cors_origin(methods: dict[str, Any]) -> str | None:
        options = (methods.get("OPTIONS") or {}).get("methodIntegration") or {}
        for response in (options.get("integrationResponses") or {}).values():
            value = (response.get("responseParameters") or {}).get(
                "method.response.header.Access-Control-Allow-Origin"
            )
            if value:
                return str(value).strip("'")
        return None

    @staticmethod
    def _mock(integration: dict[str, Any]) -> HttpResponse:
        responses = integration.get("integrationResponses") or {}
        response: dict[str, Any] = responses.get("200") or next(iter(responses.values()), {})
        headers = [
            (key.rsplit(".", 1)[-1].lower(), str(value).strip("'"))
            for key, value in (response.get("responseParameters") or {}).items()
            if key.startswith("method.response.header.")
        ]
        status = int(response.get("statusCode", 200))
        return HttpResponse(status, [("content-type", "application/json"), *headers], b"")

    def _v1_event(
        self,
        request: HttpRequest,
        api_id: str,
        stage: str,
        resource: dict[str, Any],
        params: dict[str, str],
        variables: dict[str, str],
    ) -> dict[str, Any]:
        now = time.time()
        headers: dict[str, list[str]] = {}
        for k, v in request.headers:
            headers.setdefault(k, []).append(v)
        query: dict[str, list[str]] = {}
        for k, v in _split_query(request.query):
            query.setdefault(k, []).append(v)
        body, encoded = _body_text(request.body)
        request_id = str(uuid.uuid4())
        return {
            "resource": resource.get("path", "/"),
            "path": request.path or "/",
            "httpMethod": request.method,
            "headers": {k: v[-1] for k, v in headers.items()} or None,
            "multiValueHeaders": headers or None,
            "queryStringParameters": {k: v[-1] for k, v in query.items()} or None,
            "multiValueQueryStringParameters": query or None,
            "pathParameters": params or None,
            "stageVariables": variables or None,
            "requestContext": {
                "resourceId": resource.get("id"),
                "resourcePath": resource.get("path", "/"),
                "httpMethod": request.method,
                "extendedRequestId": request_id,
                "requestTime": _request_time(now),
                "path": f"/{stage}{request.path or '/'}",
                "accountId": self.runtime.account_id,
                "protocol": "HTTP/1.1",
                "stage": stage,
                "domainPrefix": api_id,
                "requestTimeEpoch": int(now * 1000),
                "requestId": request_id,
                "identity": {
                    "sourceIp": request.source_ip,
                    "userAgent": request.header("user-agent"),
                },
                "domainName": f"{api_id}.execute-api.{self.runtime.region}.amazonaws.com",
                "apiId": api_id,
            },
            "body": body,
            "isBase64Encoded": encoded,
        }

    # -- HTTP APIs (v2) -----------------------------------------------------------------

    def _http(self, api: dict[str, Any], stage: str, request: HttpRequest) -> HttpResponse:
        gw = self.runtime.apigatewayv2
        api_id = api["ApiId"]
        if api.get("ProtocolType", "HTTP") != "HTTP":
            return _message(
                400, f"API {api_id} is a {api.get('ProtocolType')} API; only HTTP APIs are served"
            )
        stages = {s["StageName"]: s for s in gw.get_stages(ApiId=api_id).get("Items", [])}
        stage_name = "$default" if stage in DEFAULT_STAGES else stage
        if stage_name not in stages:
            return _message(404, "Not Found")
        cors = api.get("CorsConfiguration")
        origin = request.header("origin")
        cors_headers = self._cors_headers(cors, origin)
        if cors and request.method == "OPTIONS" and request.header("access-control-request-method"):
            return HttpResponse(204, self._preflight_headers(cors, origin))
        allowed = None
        if cors is not None:
            origins = [o.rstrip("/") for o in cors.get("AllowOrigins") or []]
            allowed = (
                "*"
                if "*" in origins
                else (origin if origin and origin.rstrip("/") in origins else None)
            )
        refused = self._check_origin(request, allowed)
        if refused is not None:
            return refused
        routes = gw.get_routes(ApiId=api_id).get("Items", [])
        matched = self._match_route(routes, request.method, request.path or "/")
        if matched is None:
            return _message(404, "Not Found", cors_headers)
        route, params = matched
        target = str(route.get("Target", ""))
        if not target.startswith("integrations/"):
            return _message(500, INTERNAL, cors_headers)
        integration = gw.get_integration(ApiId=api_id, IntegrationId=target.split("/", 1)[1])
        if integration.get("IntegrationType") != "AWS_PROXY":
            return _message(
                500,
                "the local API Gateway serves Lambda proxy (AWS_PROXY) integrations; route "
                f"{route.get('RouteKey')} has a {integration.get('IntegrationType')} integration",
                cors_headers,
            )
        variables = stages[stage_name].get("StageVariables") or {}
        function = self._function(str(integration.get("IntegrationUri", "")), variables)
        if function is None:
            return _message(500, INTERNAL, cors_headers)
        version = str(integration.get("PayloadFormatVersion") or "2.0")
        if version == "1.0":
            resource = {"path": route["RouteKey"].split(" ", 1)[-1], "id": route.get("RouteId")}
            event = self._v1_event(request, api_id, stage_name, resource, params, variables)
            event["version"] = "1.0"
        else:
            event = self._v2_event(request, api_id, stage_name, route, params, variables)
        response = self._invoke(function, event, version=version)
        response.headers += [
            h for h in cors_headers if h[0] not in {k for k, _ in response.headers}
        ]
        return response

    @staticmethod
    def _match_route(
        routes: list[dict[str, Any]], method: str, path: str
    ) -> tuple[dict[str, Any], dict[str, str]] | None:
        candidates = []
        default = None
        for route in routes:
            key = str(route.get("RouteKey", ""))
            if key == "$default":
                default = route
                continue
            verb, _, template = key.partition(" ")
            if verb not in (method, "ANY"):
                continue
            pattern, rank = _template(template)
            m = pattern.match(path)
            if m is not None:
                candidates.append(
                    ((*rank, verb == "ANY"), route, _path_parameters(pattern, m, template))
                )
        if candidates:
            candidates.sort(key=lambda c: c[0])
            return candidates[0][1], candidates[0][2]
        return (default, {}) if default is not None else None

    @staticmethod
    def _cors_headers(cors: dict[str, Any] | None, origin: str | None) -> list[tuple[str, str]]:
        if not cors or origin is None:
            return []
        origins = [o.rstrip("/") for o in cors.get("AllowOrigins") or []]
        if "*" not in origins and origin.rstrip("/") not in origins:
            return []
        headers = [("access-control-allow-origin", "*" if "*" in origins else origin)]
        if cors.get("AllowCredentials"):
            headers.append(("access-control-allow-credentials", "true"))
        if cors.get("ExposeHeaders"):
            headers.append(("access-control-expose-headers", ",".join(cors["ExposeHeaders"])))
        return headers

    def _preflight_headers(self, cors: dict[str, Any], origin: str | None) -> list[tuple[str, str]]:
        headers = self._cors_headers(cors, origin)
        if not headers:
            return []
        if cors.get("AllowMethods"):
            headers.append(("access-control-allow-methods", ",".join(cors["AllowMethods"])))
        if cors.get("AllowHeaders"):
            headers.append(("access-control-allow-headers", ",".join(cors["AllowHeaders"])))
        if cors.get("MaxAge") is not None:
            headers.append(("access-control-max-age", str(cors["MaxAge"])))
        return headers

    def _v2_event(
        self,
        request: HttpRequest,
        api_id: str,
        stage: str,
        route: dict[str, Any],
        params: dict[str, str],
        variables: dict[str, str],
    ) -> dict[str, Any]:
        now = time.time()
        headers: dict[str, list[str]] = {}
        cookies: list[str] = []
        for k, v in request.headers:
            if k == "cookie":
                cookies += [c.strip() for c in v.split(";") if c.strip()]
            else:
                headers.setdefault(k, []).append(v)
        query: dict[str, list[str]] = {}
        for k, v in _split_query(request.query):
            query.setdefault(k, []).append(v)
        body, encoded = _body_text(request.body)
        raw_path = (
            (request.path or "/") if stage == "$default" else f"/{stage}{request.path or '/'}"
        )
        event: dict[str, Any] = {
            "version": "2.0",
            "routeKey": route.get("RouteKey"),
            "rawPath": raw_path,
            "rawQueryString": request.query,
            "headers": {k: ",".join(v) for k, v in headers.items()},
            "requestContext": {
                "accountId": self.runtime.account_id,
                "apiId": api_id,
                "domainName": f"{api_id}.execute-api.{self.runtime.region}.amazonaws.com",
                "domainPrefix": api_id,
                "http": {
                    "method": request.method,
                    "path": raw_path,
                    "protocol": "HTTP/1.1",
                    "sourceIp": request.source_ip,
                    "userAgent": request.header("user-agent") or "",
                },
                "requestId": str(uuid.uuid4()),
                "routeKey": route.get("RouteKey"),
                "stage": stage,
                "time": _request_time(now),
                "timeEpoch": int(now * 1000),
            },
            "isBase64Encoded": encoded,
        }
        if cookies:
            event["cookies"] = cookies
        if query:
            event["queryStringParameters"] = {k: ",".join(v) for k, v in query.items()}
        if params:
            event["pathParameters"] = params
        if variables:
            event["stageVariables"] = variables
        if body is not None:
            event["body"] = body
        return event

    # -- shared ----------------------------------------------------------------------------

    @staticmethod
    def _check_origin(request: HttpRequest, allowed: str | None) -> HttpResponse | None:
        origin = request.header("origin")
        if origin is None or request.trusted_origin or allowed == "*":
            return None
        if allowed is not None and allowed.rstrip("/") == origin.rstrip("/"):
            return None
        return _message(
            403,
            "Forbidden: this API's CORS configuration does not allow the request's origin; "
            "add it to the API's allowed origins",
        )

    @staticmethod
    def _function(uri: str, variables: dict[str, str]) -> str | None:
        uri = _STAGE_VARIABLE.sub(lambda m: variables.get(m.group(1), ""), uri)
        m = _FUNCTION_IN_URI.search(uri)
        if m is not None:
            return m.group("arn")
        if uri.startswith("arn:aws:lambda:"):
            return uri
        return None

    def _invoke(self, function: str, event: dict[str, Any], *, version: str) -> HttpResponse:
        try:
            result = self.runtime.lambda_.invoke(
                FunctionName=function, Payload=json.dumps(event).encode()
            )
        except ServiceError:
            return _message(500, INTERNAL)
        if result.get("FunctionError"):
            return _message(502, INTERNAL)
        raw = result.get("Payload") or b""
        try:
            answer = json.loads(raw) if raw else None
        except ValueError:
            return _message(502, INTERNAL)
        if version == "2.0" and not (isinstance(answer, dict) and "statusCode" in answer):
            body = answer if isinstance(answer, str) else json.dumps(answer)
            return HttpResponse(200, [("content-type", "application/json")], body.encode())
        return _proxy_response(answer)


def _proxy_response(answer: Any) -> HttpResponse:
    """A Lambda proxy integration's answer as the HTTP response (502 when malformed)."""
    if not isinstance(answer, dict):
        return _message(502, INTERNAL)
    try:
        status = int(answer.get("statusCode", 200))
    except (TypeError, ValueError):
        return _message(502, INTERNAL)
    headers: list[tuple[str, str]] = []
    for k, v in (answer.get("headers") or {}).items():
        headers.append((str(k).lower(), str(v)))
    for k, values in (answer.get("multiValueHeaders") or {}).items():
        if not isinstance(values, list):
            return _message(502, INTERNAL)
        headers += [(str(k).lower(), str(v)) for v in values]
    headers += [("set-cookie", str(c)) for c in answer.get("cookies") or []]
    body = answer.get("body")
    if body is None:
        data = b""
    elif answer.get("isBase64Encoded"):
        try:
            data = base64.b64decode(str(body))
        except ValueError:
            return _message(502, INTERNAL)
    else:
        data = (body if isinstance(body, str) else json.dumps(body)).encode()
    if not any(k == "content-type" for k, _ in headers):
        headers.append(("content-type", "application/json"))
    return HttpResponse(status, headers, data)
