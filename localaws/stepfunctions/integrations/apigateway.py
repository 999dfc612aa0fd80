"""Step Functions' API Gateway integration: ``arn:aws:states:::apigateway:invoke``.

Parameters as AWS names them: ``ApiEndpoint`` (``<api id>.execute-api.<region>.amazonaws.com``),
``Method``, ``Stage``, ``Path``, ``Headers`` and ``QueryParameters`` (name -> list of values),
``RequestBody`` (an object is sent as JSON), ``AllowNullValues``, ``AuthType``.  The request
is served by the local API (:mod:`localaws.apigateway.proxy`, the same path an HTTP request
takes); the result is ``{ResponseBody, StatusCode, StatusText, Headers}`` with a JSON body
parsed.  A status outside 2xx fails the task with ``ApiGateway.<status>`` (cause: the
response), as on AWS.  ``.waitForTaskToken``: the call is made and the task waits.
"""

from __future__ import annotations

import json
from http import HTTPStatus
from typing import TYPE_CHECKING, Any, ClassVar
from urllib.parse import urlencode

from localaws.asl.errors import StateFailure
from localaws.asl.integrations import Integration, Pattern, TaskRequest

if TYPE_CHECKING:
    from localaws.runtime import Runtime

SERVICE = "apigateway"
RR, WAIT = Pattern.REQUEST_RESPONSE, Pattern.WAIT_FOR_TASK_TOKEN
ACTIONS: dict[str, frozenset[Pattern]] = {"invoke": frozenset({RR, WAIT})}
PARAMETERS = (
    "ApiEndpoint",
    "Method",
    "Stage",
    "Path",
    "Headers",
    "QueryParameters",
    "RequestBody",
    "AllowNullValues",
    "AuthType",
)
REQUIRED = ("ApiEndpoint", "Method")
METHODS = ("GET", "POST", "PUT", "DELETE", "PATCH", "HEAD", "OPTIONS")
ERROR_PREFIX = "ApiGateway"


class ApiGatewayIntegration(Integration):
    SERVICE: ClassVar[str] = SERVICE
    ACTIONS: ClassVar[dict[str, frozenset[Pattern]]] = ACTIONS

    def __init__(self, runtime: Runtime):
        self.runtime = runtime

    def validate(self, action: str, pattern: Pattern, parameters: Any, where: str) -> list[str]:
        if not isinstance(parameters, dict):
            return [f"{where}.Parameters: must be an object with ApiEndpoint and Method"]
        given = {k[:-2] if k.endswith(".$") else k for k in parameters}
        problems = [
            f"{where}.Parameters.{m}: required by apigateway:invoke; add it"
            for m in REQUIRED
            if m not in given
        ]
        problems += [
            f"{where}.Parameters.{m}: not a parameter of apigateway:invoke; "
            f"parameters: {', '.join(PARAMETERS)}"
            for m in sorted(given - set(PARAMETERS))
        ]
        method = parameters.get("Method")
        if isinstance(method, str) and method.upper() not in METHODS:
            problems.append(
                f"{where}.Parameters.Method: {method!r}; use one of {', '.join(METHODS)}"
            )
        return problems

    def run(self, request: TaskRequest) -> Any:
        from localaws.apigateway.proxy import ApiProxy, HttpRequest

        p = request.parameters if isinstance(request.parameters, dict) else {}
        endpoint = str(p.get("ApiEndpoint", ""))
        api_id = endpoint.split("://", 1)[-1].split(".", 1)[0]
        stage = str(p.get("Stage") or "$default")
        path = "/" + str(p.get("Path") or "").lstrip("/")
        headers = [
            (str(k).lower(), str(v))
            for k, values in (p.get("Headers") or {}).items()
            for v in (values if isinstance(values, list) else [values])
        ]
        query = urlencode(
            [
                (k, v)
                for k, values in (p.get("QueryParameters") or {}).items()
                for v in (values if isinstance(values, list) else [values])
            ]
        )
        body = p.get("RequestBody")
        if body is None:
            data = b""
        elif isinstance(body, str):
            data = body.encode()
        else:
            data = json.dumps(body).encode()
            if not any(k == "content-type" for k, _ in headers):
                headers.append(("content-type", "application/json"))
        response = ApiProxy(self.runtime).handle(
            api_id,
            stage,
            HttpRequest(str(p.get("Method", "GET")).upper(), path, query, headers, data),
        )
        out_headers: dict[str, list[str]] = {}
        for k, v in response.headers:
            out_headers.setdefault(k, []).append(v)
        text = response.body.decode("utf-8", "replace")
        content_type = next((v for k, v in response.headers if k == "content-type"), "")
        parsed: Any = text
        if "json" in content_type and text:
            try:
                parsed = json.loads(text)
            except ValueError:
                parsed = text
        try:
            status_text = HTTPStatus(response.status).phrase
        except ValueError:
            status_text = ""
        result = {
            "Headers": out_headers,
            "ResponseBody": parsed,
            "StatusCode": response.status,
            "StatusText": status_text,
        }
        if not 200 <= response.status < 300:
            raise StateFailure(f"{ERROR_PREFIX}.{response.status}", json.dumps(result))
        return result
