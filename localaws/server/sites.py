"""Static web pages served next to the console: ``GET /web/<site>/<file>``.

A use case publishes a page (HTML, JavaScript, CSS: files only, no server code) into the
state directory, ``<state dir>/web/<site>/``, as its stack uploads it to an S3 bucket on AWS,
with the files only the deployment knows written next to it (``config.js``: the URL of the
API the page calls).  The console serves those files to any browser, unsigned, as it serves
its own assets: reading them runs nothing and calls no AWS API.  The page's own calls go to
API Gateway's invoke URLs, which the guard treats as AWS treats a public API (the API's CORS
configuration decides).

The runtime never imports a use case: ``workflows`` calls :func:`publish`.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from pathlib import Path

from localaws.errors import UserError
from localaws.layout import StateDir
from localaws.store import atomic_write

SITE_PREFIX = "/web/"
INDEX = "index.html"
MEDIA_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".json": "application/json",
    ".svg": "image/svg+xml",
    ".png": "image/png",
}
MAX_FILE_BYTES = 4 * 1024 * 1024
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,79}$")


def site_url(base_url: str, site: str) -> str:
    """The URL of a published site's index page on the server at ``base_url``."""
    return f"{base_url.rstrip('/')}{SITE_PREFIX}{site}/"


def publish(
    state_dir: str | os.PathLike[str],
    site: str,
    source: str | os.PathLike[str],
    generated: Mapping[str, bytes] | None = None,
) -> Path:
    """Copy the page files of the directory ``source`` (not its subdirectories) and the
    ``generated`` files (name -> content) into the state directory's ``web/<site>/``; each
    file is written atomically, so a browser reading the page meanwhile gets whole files.
    Returns the site's directory."""
    _check_name("site", site)
    source = Path(source)
    if not source.is_dir():
        raise UserError(f"web site {site!r}: the page directory {source} does not exist")
    files: dict[str, bytes] = {}
    for path in sorted(source.iterdir()):
        if path.is_file() and path.suffix in MEDIA_TYPES and _NAME.match(path.name):
            files[path.name] = path.read_bytes()
    for name, data in (generated or {}).items():
        _check_name(f"web site {site!r}: generated file", name)
        if Path(name).suffix not in MEDIA_TYPES:
            raise UserError(
                f"web site {site!r}: generated file {name!r} has no page type; "
                f"use one of {', '.join(MEDIA_TYPES)}"
            )
        files[name] = data
    if INDEX not in files:
        raise UserError(f"web site {site!r}: no {INDEX} in {source}; a site needs its index page")
    directory = StateDir(state_dir).web_site(site)
    for name, data in files.items():
        if len(data) > MAX_FILE_BYTES:
            raise UserError(
                f"web site {site!r}: {name} is {len(data)} bytes; a page file is at most "
                f"{MAX_FILE_BYTES} bytes"
            )
        atomic_write(directory / name, data)
    return directory


def site_file(state_dir: str | os.PathLike[str], site: str, name: str) -> tuple[Path, str] | None:
    """The published file ``name`` of ``site`` and its media type; None when there is none
    (an unknown site or file, or a name that is not a plain page file's)."""
    name = name or INDEX
    if not (_NAME.match(site) and _NAME.match(name)):
        return None
    media_type = MEDIA_TYPES.get(Path(name).suffix)
    path = StateDir(state_dir).web_site(site) / name
    if media_type is None or not path.is_file():
        return None
    return path, media_type


def _check_name(field: str, name: str) -> None:
    if not _NAME.match(name):
        raise UserError(
            f"{field} {name!r}: not a plain name; use letters, digits, '.', '_' and '-' "
            "(at most 80, starting with a letter or digit)"
        )
