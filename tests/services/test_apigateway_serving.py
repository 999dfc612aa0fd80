"""API Gateway serving: HTTP request -> REST API (v1) or HTTP API (v2) -> Lambda proxy ->
response, through real HTTP against the local server; the proxy event shapes, stages, CORS
(preflight answered from the API's configuration, other origins refused before the
function runs), and the unsigned door open only for these URLs."""

from __future__ import annotations

import io
import json
import zipfile
from collections.abc import Callable
from typing import Any

import requests

from localaws.apigateway.proxy import invoke_url

ROLE = "arn:aws:iam::123456789012:role/lambda-role"
HANDLER = b"""
import json

def echo(event, context):
    if event.get("rawPath", "").endswith("/bare"):
        return {"bare": True}
    return {
        "statusCode": 201,
        "headers": {"x-version": event.get("version", "v1")},
        "multiValueHeaders": {"set-cookie": ["a=1", "b=2"]},
        "body": json.dumps({"event": event}),
    }
"""


def make_function(lam: Any, name: str) -> str:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("api.py", HANDLER)
    return str(
        lam.create_function(
            FunctionName=name,
            Runtime="python3.11",
            Role=ROLE,
            Handler="api.echo",
            Code={"ZipFile": buf.getvalue()},
        )["FunctionArn"]
    )


def lambda_uri(arn: str) -> str:
    return f"arn:aws:apigateway:us-east-1:lambda:path/2015-03-31/functions/{arn}/invocations"


def test_rest_api_v1_lambda_proxy_with_stage_and_cors(
    server: Any, client: Callable[..., Any], name: Callable[[str], str]
) -> None:
    gw, lam = client("apigateway"), client("lambda")
    arn = make_function(lam, name("fn"))
    api = gw.create_rest_api(name=name("api"))["id"]
    root = next(r["id"] for r in gw.get_resources(restApiId=api)["items"] if r["path"] == "/")
    items = gw.create_resource(restApiId=api, parentId=root, pathPart="items")["id"]
    item = gw.create_resource(restApiId=api, parentId=items, pathPart="{id}")["id"]
    gw.put_method(restApiId=api, resourceId=item, httpMethod="GET", authorizationType="NONE")
    gw.put_integration(
        restApiId=api,
        resourceId=item,
        httpMethod="GET",
        type="AWS_PROXY",
        integrationHttpMethod="POST",
        uri=lambda_uri(arn),
    )
    gw.put_method(restApiId=api, resourceId=item, httpMethod="OPTIONS", authorizationType="NONE")
    gw.put_integration(restApiId=api, resourceId=item, httpMethod="OPTIONS", type="MOCK")
    gw.put_method_response(
        restApiId=api,
        resourceId=item,
        httpMethod="OPTIONS",
        statusCode="200",
        responseParameters={"method.response.header.Access-Control-Allow-Origin": False},
    )
    gw.put_integration_response(
        restApiId=api,
        resourceId=item,
        httpMethod="OPTIONS",
        statusCode="200",
        responseParameters={
            "method.response.header.Access-Control-Allow-Origin": "'http://app.test'"
        },
    )
    gw.create_deployment(restApiId=api, stageName="prod", variables={"tier": "gold"})
    url = invoke_url(server.url, api, "prod")

    response = requests.get(f"{url}/items/42?x=1&x=2", headers={"X-Trace": "t"}, timeout=60)
    assert response.status_code == 201, response.text
    assert response.headers["x-version"] == "v1"
    assert response.raw.headers.getlist("set-cookie") == ["a=1", "b=2"]
    event = response.json()["event"]
    assert event["resource"] == "/items/{id}"
    assert event["path"] == "/items/42"
    assert event["httpMethod"] == "GET"
    assert event["pathParameters"] == {"id": "42"}
    assert event["queryStringParameters"] == {"x": "2"}
    assert event["multiValueQueryStringParameters"] == {"x": ["1", "2"]}
    assert event["headers"]["x-trace"] == "t"
    assert event["stageVariables"] == {"tier": "gold"}
    assert event["requestContext"]["stage"] == "prod"
    assert event["requestContext"]["path"] == "/prod/items/42"
    assert event["body"] is None and event["isBase64Encoded"] is False

    preflight = requests.options(
        f"{url}/items/42", headers={"Origin": "http://app.test"}, timeout=60
    )
    assert preflight.headers["access-control-allow-origin"] == "http://app.test"
    allowed = requests.get(f"{url}/items/1", headers={"Origin": "http://app.test"}, timeout=60)
    assert allowed.status_code == 201
    refused = requests.get(f"{url}/items/1", headers={"Origin": "http://evil.test"}, timeout=60)
    assert refused.status_code == 403
    assert requests.get(f"{url}/nothing", timeout=60).json() == {
        "message": "Missing Authentication Token"
    }
    assert (
        requests.get(invoke_url(server.url, api, "dev") + "/items/1", timeout=60).status_code == 403
    )


def test_http_api_v2_lambda_proxy_payload_2_and_cors_preflight(
    server: Any, client: Callable[..., Any], name: Callable[[str], str]
) -> None:
    gw, lam = client("apigatewayv2"), client("lambda")
    arn = make_function(lam, name("fn"))
    api = gw.create_api(
        Name=name("http"),
        ProtocolType="HTTP",
        CorsConfiguration={
            "AllowOrigins": ["http://app.test"],
            "AllowMethods": ["GET", "POST"],
            "AllowHeaders": ["content-type"],
            "MaxAge": 300,
        },
    )["ApiId"]
    integration = gw.create_integration(
        ApiId=api,
        IntegrationType="AWS_PROXY",
        IntegrationUri=arn,
        PayloadFormatVersion="2.0",
    )["IntegrationId"]
    for key in ("POST /hello/{name}", "GET /bare"):
        gw.create_route(ApiId=api, RouteKey=key, Target=f"integrations/{integration}")
    gw.create_stage(ApiId=api, StageName="$default", AutoDeploy=True)
    url = invoke_url(server.url, api, "$default")

    response = requests.post(
        f"{url}/hello/ada?lang=en",
        data=b'{"n": 1}',
        headers={"Origin": "http://app.test", "Cookie": "s=1; t=2"},
        timeout=60,
    )
    assert response.status_code == 201, response.text
    assert response.headers["access-control-allow-origin"] == "http://app.test"
    event = response.json()["event"]
    assert event["version"] == "2.0"
    assert event["routeKey"] == "POST /hello/{name}"
    assert event["rawPath"] == "/hello/ada"
    assert event["rawQueryString"] == "lang=en"
    assert event["pathParameters"] == {"name": "ada"}
    assert event["queryStringParameters"] == {"lang": "en"}
    assert event["cookies"] == ["s=1", "t=2"]
    assert event["requestContext"]["http"]["method"] == "POST"
    assert event["body"] == '{"n": 1}'

    bare = requests.get(f"{url}/bare", timeout=60)
    assert bare.status_code == 200 and bare.json() == {"bare": True}

    preflight = requests.options(
        f"{url}/hello/ada",
        headers={"Origin": "http://app.test", "Access-Control-Request-Method": "POST"},
        timeout=60,
    )
    assert preflight.status_code == 204
    assert preflight.headers["access-control-allow-methods"] == "GET,POST"
    assert preflight.headers["access-control-max-age"] == "300"
    refused = requests.post(
        f"{url}/hello/ada", headers={"Origin": "http://evil.test"}, data=b"{}", timeout=60
    )
    assert refused.status_code == 403
    assert "allowed origins" in refused.json()["message"]


def test_only_invoke_urls_are_open_unsigned(server: Any) -> None:
    # The management API (same /restapis prefix) still needs a signature.
    response = requests.get(f"{server.url}/restapis", timeout=60)
    assert response.status_code == 403
    assert requests.get(f"{server.url}/restapis/x/stages/prod", timeout=60).status_code == 403
    assert json.loads(requests.get(invoke_url(server.url, "nope", "prod") + "/a", timeout=60).text)[
        "message"
    ].startswith("no REST or HTTP API")


def test_cli_prints_the_local_urls_of_the_apis(
    server: Any, client: Callable[..., Any], name: Callable[[str], str], capsys: Any
) -> None:
    from workflows.cli import main

    gw = client("apigatewayv2")
    api = gw.create_api(Name=name("listed"), ProtocolType="HTTP")["ApiId"]
    gw.create_stage(ApiId=api, StageName="$default")
    assert main(["apis", "--state-dir", str(server.runtime.state_dir)]) == 0
    printed = capsys.readouterr().out
    assert f"{invoke_url(server.url, api, '$default')}/" in printed
