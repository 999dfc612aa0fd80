"""The predictive-maintenance HTTP API: API Gateway (HTTP API) -> the api Lambda -> the endpoint.

``ensure_http_api`` creates, or finds, the API named after the workflow with one route
``ANY /predict`` proxied (payload format 2.0) to the ``api`` Lambda of lambdas/functions.yaml,
and the ``$default`` stage with automatic deployment.  The API's CORS configuration answers
browsers' preflights; the Lambda answers a plain OPTIONS, adds the CORS headers to its
answers and refuses other methods.  The same shape as the CloudFormation stack's API.  Locally
the stage is served at :func:`invoke_url` while ``python -m workflows serve`` runs, and
:func:`publish_page` puts the technicians' page (``web/predictive-maintenance/``) next to the
console, configured with the API's URL.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from workflows.settings import Settings

WEB_SITE = "predictive-maintenance"  # the technicians' page: web/<this>/, served at /web/<this>/
WEB_PAGE = Path(__file__).resolve().parents[1] / "web" / WEB_SITE
ROUTE_PATH = "/predict"
ROUTE_KEY = f"ANY {ROUTE_PATH}"
STAGE = "$default"
API_ROLE = "api"  # the handler module of the Lambda behind the API (lambdas/functions.yaml)
# Who may call the API from a web page: any origin, as the sample's blueprint allows (the API
# answers predictions only; the technicians' page is served from elsewhere, S3 on AWS).
CORS = {
    "AllowOrigins": ["*"],
    "AllowMethods": ["POST", "OPTIONS"],
    "AllowHeaders": ["content-type"],
    "MaxAge": 600,
}


@dataclass(frozen=True)
class HttpApi:
    api_id: str
    name: str
    path: str = ROUTE_PATH
    stage: str = STAGE

    def url(self, base: str) -> str:
        return invoke_url(base, self.api_id, self.stage) + self.path


def invoke_url(base: str, api_id: str, stage: str) -> str:
    """The local server's URL of an API's stage (API Gateway's invoke URL, served locally)."""
    from localaws.apigateway.proxy import invoke_url as served_url

    return served_url(base, api_id, stage)


def function_name() -> str:
    from workflows.functions import load_functions

    for spec in load_functions():
        if spec.role == API_ROLE:
            return spec.name
    raise LookupError(f"lambdas/functions.yaml: no function with handler module {API_ROLE!r}")


def find_http_api(apigatewayv2: Any, settings: Settings) -> HttpApi | None:
    """The workflow's HTTP API when it exists (``apigatewayv2``: a client or the backend)."""
    for api in apigatewayv2.get_apis().get("Items", []):
        if api.get("Name") == settings.name and api.get("ProtocolType", "HTTP") == "HTTP":
            return HttpApi(api["ApiId"], settings.name)
    return None


def ensure_http_api(target: Any, settings: Settings) -> HttpApi:
    """The workflow's HTTP API, created with its route, integration and stage when missing."""
    v2 = target.backend("apigatewayv2")
    name = settings.name
    found = find_http_api(v2, settings)
    if found is not None:
        return found
    api_id = v2.create_api(
        Name=name,
        ProtocolType="HTTP",
        Description="Predictive maintenance: POST a raw sensor reading, get its failure probability",
        CorsConfiguration=CORS,
    )["ApiId"]
    lambda_arn = target.arn("lambda", f"function:{function_name()}")
    integration = v2.create_integration(
        ApiId=api_id,
        IntegrationType="AWS_PROXY",
        IntegrationUri=lambda_arn,
        IntegrationMethod="POST",
        PayloadFormatVersion="2.0",
        TimeoutInMillis=30000,
    )["IntegrationId"]
    v2.create_route(ApiId=api_id, RouteKey=ROUTE_KEY, Target=f"integrations/{integration}")
    v2.create_stage(ApiId=api_id, StageName=STAGE, AutoDeploy=True)
    return HttpApi(api_id, name)


def publish_page(state_dir: str | os.PathLike[str], api: HttpApi) -> str:
    """The technicians' page published next to the console (``/web/<site>/``) with its
    ``config.js`` pointing at ``api``; returns the page's path on the server.

    The API's URL is written origin-relative (``/restapis/<id>/<stage>/_user_request_/...``):
    the page and the API are served by the same server, whatever its host and port.  On AWS
    the stack's web bucket holds the same files, ``config.js`` naming the API's endpoint."""
    from localaws.server.sites import publish, site_url

    config = f"window.PREDICT_URL = {json.dumps(api.url(''))};\n"
    publish(state_dir, WEB_SITE, WEB_PAGE, {"config.js": config.encode()})
    return site_url("", WEB_SITE)


def record(api: HttpApi) -> bytes:
    """What ``run`` leaves in the state directory for ``serve`` and the console's page."""
    return json.dumps({"api_id": api.api_id, "name": api.name, "path": api.path,
                       "stage": api.stage}).encode()  # fmt: skip
