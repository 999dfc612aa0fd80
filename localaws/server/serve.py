"""Run the local server: one process that owns a state directory and serves it over HTTP."""

from __future__ import annotations

import logging
import os

import uvicorn

from localaws import config
from localaws.runtime import Runtime
from localaws.server.app import create_app

log = logging.getLogger(__name__)


def serve(
    state_dir: str | os.PathLike[str] | None = None,
    *,
    host: str = config.DEFAULT_HOST,
    port: int = config.DEFAULT_PORT,
    log_level: str = "warning",
) -> None:
    """Own ``state_dir`` and serve its APIs and console on ``host:port`` until interrupted."""
    runtime = Runtime(state_dir)
    url = f"http://{host}:{port}"
    runtime.start(url=url)
    try:
        server = uvicorn.Server(
            uvicorn.Config(
                create_app(runtime), host=host, port=port, log_level=log_level, access_log=False
            )
        )
        server.run()
    finally:
        runtime.close()
