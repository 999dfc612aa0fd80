"""The predictive-maintenance HTTP API's resources, created through the local API Gateway v2."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from workflows import http_api
from workflows import settings as settings_module
from workflows.target import LocalTarget


@pytest.fixture
def target(tmp_path: Path) -> Iterator[LocalTarget]:
    with LocalTarget(tmp_path / "state") as t:
        yield t


def test_api_routes_every_method_of_predict_to_the_api_lambda(target: LocalTarget) -> None:
    settings = settings_module.load(overrides={"featurizer.mode": "pipeline"})
    api = http_api.ensure_http_api(target, settings)
    assert http_api.ensure_http_api(target, settings) == api  # found, not created twice
    v2 = target.backend("apigatewayv2")
    assert [a["Name"] for a in v2.get_apis()["Items"]] == [settings.name]
    [route] = v2.get_routes(ApiId=api.api_id)["Items"]
    assert route["RouteKey"] == "ANY /predict"
    integration = v2.get_integration(
        ApiId=api.api_id, IntegrationId=route["Target"].split("/", 1)[1]
    )
    assert integration["IntegrationType"] == "AWS_PROXY"
    assert integration["PayloadFormatVersion"] == "2.0"
    assert integration["IntegrationUri"] == target.arn(
        "lambda", "function:predictive-maintenance-api"
    )
    [stage] = v2.get_stages(ApiId=api.api_id)["Items"]
    assert stage["StageName"] == "$default" and stage["AutoDeploy"] is True
    assert api.url("http://127.0.0.1:8083") == (
        f"http://127.0.0.1:8083/restapis/{api.api_id}/$default/_user_request_/predict"
    )


def test_serve_prints_the_api_url(target: LocalTarget, capsys: pytest.CaptureFixture[str]) -> None:
    from workflows import cli

    settings = settings_module.load(overrides={"featurizer.mode": "pipeline"})
    api = http_api.ensure_http_api(target, settings)
    cli.print_api_urls(target.runtime, "http://127.0.0.1:9999")
    assert api.url("http://127.0.0.1:9999") in capsys.readouterr().err


def test_serve_publishes_the_technicians_page_pointing_at_the_api(
    target: LocalTarget, capsys: pytest.CaptureFixture[str]
) -> None:
    from workflows import cli

    settings = settings_module.load(overrides={"featurizer.mode": "pipeline"})
    cli.publish_technicians_page(target.runtime, settings, "http://127.0.0.1:9999")
    assert not target.runtime.layout.web_site(http_api.WEB_SITE).exists()  # no API, no page
    api = http_api.ensure_http_api(target, settings)
    cli.publish_technicians_page(target.runtime, settings, "http://127.0.0.1:9999")
    assert "Technicians' page: http://127.0.0.1:9999/web/predictive-maintenance/" in (
        capsys.readouterr().err
    )
    site = target.runtime.layout.web_site(http_api.WEB_SITE)
    assert (site / "index.html").read_bytes() == (http_api.WEB_PAGE / "index.html").read_bytes()
    assert (site / "config.js").read_text() == (
        f'window.PREDICT_URL = "/restapis/{api.api_id}/$default/_user_request_/predict";\n'
    )
