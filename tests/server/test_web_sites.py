"""Static pages published next to the console (``/web/<site>/``): served unsigned like the
console's assets, refused to other origins and methods, never a path outside the site; a
signed request to the same path is still S3's."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from localaws.errors import UserError
from localaws.server.serve import LocalServer
from localaws.server.sites import publish, site_url

PAGE = "<!doctype html><title>gauge</title><script src='config.js'></script>"


@pytest.fixture(scope="module")
def site(server: LocalServer, tmp_path_factory: pytest.TempPathFactory) -> str:
    source = tmp_path_factory.mktemp("page")
    (source / "index.html").write_text(PAGE)
    (source / "notes.txt").write_text("not a page file")
    (source / "nested").mkdir()
    (source / "nested" / "deep.html").write_text("deeper")
    publish(server.runtime.state_dir, "gauge", source, {"config.js": b'window.API = "/x";\n'})
    return site_url(server.url, "gauge")


def test_the_published_page_and_its_generated_config_are_served_unsigned(site: str) -> None:
    assert site.endswith("/web/gauge/")
    index = httpx.get(site)
    assert index.status_code == 200
    assert index.headers["content-type"].startswith("text/html")
    assert index.text == PAGE
    assert httpx.get(site + "index.html").text == PAGE
    config = httpx.get(site + "config.js")
    assert config.headers["content-type"].startswith("text/javascript")
    assert config.text == 'window.API = "/x";\n'
    assert httpx.head(site + "config.js").status_code == 200


@pytest.mark.parametrize(
    "path",
    ["notes.txt", "nested/deep.html", "..%2F..%2Fruntime.db", "../../owner.lock", "missing.js"],
    ids=["not-a-page-type", "subdirectory", "encoded-dotdot", "dotdot", "missing"],
)
def test_nothing_outside_the_sites_page_files_is_served(site: str, path: str) -> None:
    answer = httpx.get(site + path)  # a bare ../ is resolved by the client: S3's, unsigned
    assert answer.status_code in (403, 404), answer.text
    assert "owner" not in answer.text and "sqlite" not in answer.text.lower()


def test_an_unknown_site_is_not_found(server: LocalServer) -> None:
    assert httpx.get(site_url(server.url, "nosuch")).status_code == 404


def test_other_origins_and_methods_are_refused(site: str) -> None:
    foreign = httpx.get(site, headers={"Origin": "http://evil.example"})
    assert foreign.status_code == 403
    assert "origin" in foreign.text
    posted = httpx.post(site + "index.html", content=b"x")
    assert posted.status_code == 403  # unsigned and not a page read: S3's, needs a signature


def test_a_signed_request_to_the_same_path_is_still_s3s(
    site: str, client: Callable[..., Any]
) -> None:
    s3 = client("s3")
    s3.create_bucket(Bucket="web")
    s3.put_object(Bucket="web", Key="gauge/index.html", Body=b"from s3")
    assert s3.get_object(Bucket="web", Key="gauge/index.html")["Body"].read() == b"from s3"
    assert httpx.get(site + "index.html").text == PAGE


def test_publish_refuses_bad_names_and_a_site_without_an_index(tmp_path: Path) -> None:
    source = tmp_path / "page"
    source.mkdir()
    (source / "app.js").write_text("")
    with pytest.raises(UserError, match=r"no index\.html"):
        publish(tmp_path / "state", "gauge", source)
    (source / "index.html").write_text(PAGE)
    with pytest.raises(UserError, match=r"site '\.\./up': not a plain name"):
        publish(tmp_path / "state", "../up", source)
    with pytest.raises(UserError, match=r"generated file 'run\.sh' has no page type"):
        publish(tmp_path / "state", "gauge", source, {"run.sh": b""})
    with pytest.raises(UserError, match="does not exist"):
        publish(tmp_path / "state", "gauge", tmp_path / "nowhere")
