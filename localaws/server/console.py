"""The web console: a static single-page app and the few read-only endpoints it needs.

The page (``static/``: HTML, JS, CSS, no framework, nothing from the internet) calls the AWS
JSON APIs of the same server for everything AWS has an API for (ListStateMachines,
StartExecution, DescribeTrainingJob, InvokeEndpoint, ...).  The endpoints here cover what
AWS's own console computes server-side:

* ``GET /console/api/graph?stateMachineArn=...&executionArn=...`` - the SVG of a state
  machine (:mod:`localaws.asl.graph`), coloured by an execution's progress when given;
* ``GET /console/api/execution?executionArn=...`` - an execution folded into its state
  visits (input, output, error, cause, status) and the SageMaker resources it touched;
* ``GET /console/api/example/<state machine name>`` - the example execution input that
  ``python -m workflows`` leaves in ``<state dir>/examples/<name>.json``;
* ``GET /console/api/logs/<training|processing|transform>/<job name>`` - a job's log;
* ``GET /console/api/object?uri=s3://bucket/key`` - the head of an object in local
  storage, or the keys under a prefix ending in ``/``.

The server (:mod:`localaws.server.app`) hands this app every request that is not an AWS
API call (no signature, no ``X-Amz-Target``), so S3's ``GET /`` stays ListBuckets.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

from localaws.asl.fold import Visit, fold
from localaws.asl.graph import render_execution, render_svg
from localaws.errors import MAX_MESSAGE_CHARS, ServiceError, UserError, excerpt
from localaws.server.lineage_svg import render_lineage_svg

if TYPE_CHECKING:
    from localaws.runtime import Runtime

STATIC_DIR = Path(__file__).resolve().parent / "static"
STATIC_FILES = {
    "index.html": "text/html; charset=utf-8",
    "app.js": "text/javascript; charset=utf-8",
    "style.css": "text/css; charset=utf-8",
}
LOG_KINDS = ("training", "processing", "transform")  # <state dir>/logs/<kind>/<name>.log
LOG_TAIL_BYTES = 256 * 1024
OBJECT_HEAD_BYTES = 64 * 1024
MAX_LISTED_KEYS = 200
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,79}$")

# Task resources (``arn:aws:states:::sagemaker:<action>``) -> (resource kind, name member).
SAGEMAKER_RESOURCES = {
    "createTrainingJob": ("trainingJob", "TrainingJobName"),
    "createModel": ("model", "ModelName"),
    "createTransformJob": ("transformJob", "TransformJobName"),
    "createEndpointConfig": ("endpointConfig", "EndpointConfigName"),
    "createEndpoint": ("endpoint", "EndpointName"),
    "updateEndpoint": ("endpoint", "EndpointName"),
}


def create_console(runtime: Runtime) -> Starlette:
    """The console's ASGI app; the server sends it every request that is not an AWS call."""
    return Starlette(routes=console_routes(runtime))


def console_routes(runtime: Runtime) -> list[Route]:
    """The console's routes over ``runtime``."""
    console = Console(runtime)
    return [
        Route(path, endpoint, methods=["GET", "HEAD"])
        for path, endpoint in (
            ("/", console.index),
            ("/console/static/{file}", console.static),
            ("/console/api/graph", console.graph),
            ("/console/api/execution", console.execution),
            ("/console/api/example/{name}", console.example),
            ("/console/api/logs/{kind}/{name}", console.logs),
            ("/console/api/object", console.object),
            ("/console/api/lineage", console.lineage),
        )
    ]


def _error(status: int, code: str, message: str) -> JSONResponse:
    return JSONResponse(
        {"__type": code, "message": excerpt(message, MAX_MESSAGE_CHARS)}, status_code=status
    )


async def _guarded(fn: Callable[[], Response]) -> Response:
    """Run a blocking handler body in a thread; errors become JSON with AWS's codes."""
    try:
        return await run_in_threadpool(fn)
    except ServiceError as e:
        return _error(e.status, e.code, e.message)
    except UserError as e:
        return _error(400, "ValidationException", str(e))


class Console:
    """The console's handlers over one runtime."""

    def __init__(self, runtime: Runtime):
        self.runtime = runtime

    async def index(self, request: Request) -> Response:
        return FileResponse(STATIC_DIR / "index.html", media_type=STATIC_FILES["index.html"])

    async def static(self, request: Request) -> Response:
        name = request.path_params["file"]
        if name not in STATIC_FILES:
            return _error(404, "NotFound", f"no console asset {name!r}")
        return FileResponse(
            STATIC_DIR / name, media_type=STATIC_FILES[name], headers={"Cache-Control": "no-cache"}
        )

    async def graph(self, request: Request) -> Response:
        machine_arn = request.query_params.get("stateMachineArn")
        execution_arn = request.query_params.get("executionArn")

        def body() -> Response:
            if not machine_arn and not execution_arn:
                return _error(400, "ValidationException", "give stateMachineArn or executionArn")
            if execution_arn:
                definition, title = self._execution_definition(execution_arn)
                svg = render_execution(definition, self._events(execution_arn), title=title)
            else:
                desc = self.runtime.stepfunctions.describe_state_machine(
                    stateMachineArn=str(machine_arn)
                )
                svg = render_svg(json.loads(desc["definition"]), title=desc["name"])
            return Response(
                svg,
                media_type="image/svg+xml",
                headers={"Cache-Control": "no-store"},
            )

        return await _guarded(body)

    async def lineage(self, request: Request) -> Response:
        """The lineage graph of ``?model=<name>`` or ``?endpoint=<name>`` as an SVG."""
        model = request.query_params.get("model")
        endpoint = request.query_params.get("endpoint")

        def body() -> Response:
            if not model and not endpoint:
                return _error(400, "ValidationException", "give model or endpoint")
            start, vertices, edges, labels = self.runtime.sagemaker.lineage_graph(
                model=model, endpoint=endpoint
            )
            title = f"Lineage of {'model ' + model if model else 'endpoint ' + str(endpoint)}"
            return Response(
                render_lineage_svg(vertices, edges, labels, highlight=start, title=title),
                media_type="image/svg+xml",
                headers={"Cache-Control": "no-store"},
            )

        return await _guarded(body)

    async def execution(self, request: Request) -> Response:
        arn = request.query_params.get("executionArn")

        def body() -> Response:
            if not arn:
                return _error(400, "ValidationException", "executionArn: required")
            desc = self.runtime.stepfunctions.describe_execution(executionArn=arn)
            events = self._events(arn)
            return JSONResponse(
                _plain(
                    {
                        "execution": desc,
                        "states": state_visits(events),
                        "resources": resources(events),
                        "events": events,
                    }
                ),
                headers={"Cache-Control": "no-store"},
            )

        return await _guarded(body)

    async def example(self, request: Request) -> Response:
        name = request.path_params["name"]

        def body() -> Response:
            if not _NAME.match(name):
                return _error(400, "ValidationException", f"{name!r} is not a state machine name")
            path = self.runtime.layout.example(name)
            if not path.is_file():
                return _error(404, "NotFound", f"no example input for {name!r} at {path}")
            return Response(path.read_bytes(), media_type="application/json")

        return await _guarded(body)

    async def logs(self, request: Request) -> Response:
        kind, name = request.path_params["kind"], request.path_params["name"]

        def body() -> Response:
            if kind not in LOG_KINDS or not _NAME.match(name):
                return _error(
                    400,
                    "ValidationException",
                    f"logs/{kind}/{name}: kind is one of {', '.join(LOG_KINDS)}, then a job name",
                )
            path = self.runtime.layout.log(kind, name)
            if not path.is_file():
                return _error(404, "NotFound", f"no {kind} log for {name!r} (yet)")
            with open(path, "rb") as fh:
                size = fh.seek(0, 2)
                fh.seek(max(0, size - LOG_TAIL_BYTES))
                data = fh.read()
            return PlainTextResponse(
                data.decode(errors="replace"), headers={"Cache-Control": "no-store"}
            )

        return await _guarded(body)

    async def object(self, request: Request) -> Response:
        uri = request.query_params.get("uri", "")

        def body() -> Response:
            storage = self.runtime.storage
            if uri.endswith("/"):
                keys = storage.list(uri)
                text = "\n".join(keys[:MAX_LISTED_KEYS])
                if len(keys) > MAX_LISTED_KEYS:
                    text += f"\n... and {len(keys) - MAX_LISTED_KEYS} more"
                return PlainTextResponse(text or f"(nothing under {uri})")
            if not storage.exists(uri):
                return _error(404, "NoSuchKey", f"no object {uri}")
            with storage.open_read(uri) as fh:
                data = fh.read(OBJECT_HEAD_BYTES + 1)
            text = data[:OBJECT_HEAD_BYTES].decode(errors="replace")
            if len(data) > OBJECT_HEAD_BYTES:
                text += f"\n... (first {OBJECT_HEAD_BYTES // 1024} KiB shown)"
            return PlainTextResponse(text)

        return await _guarded(body)

    # -- helpers -----------------------------------------------------------------------

    def _events(self, arn: str) -> list[dict[str, Any]]:
        sfn = self.runtime.stepfunctions
        events: list[dict[str, Any]] = []
        token = None
        while True:
            kwargs: dict[str, Any] = {"executionArn": arn, "maxResults": 1000}
            if token:
                kwargs["nextToken"] = token
            page = sfn.get_execution_history(**kwargs)
            events.extend(page.get("events", []))
            token = page.get("nextToken")
            if not token:
                return events

    def _execution_definition(self, arn: str) -> tuple[dict[str, Any], str]:
        sfn = self.runtime.stepfunctions
        for_execution = getattr(sfn, "describe_state_machine_for_execution", None)
        if for_execution is not None:
            desc = for_execution(executionArn=arn)
        else:
            machine = sfn.describe_execution(executionArn=arn)["stateMachineArn"]
            desc = sfn.describe_state_machine(stateMachineArn=machine)
        return json.loads(desc["definition"]), desc["name"]


def state_visits(events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Every state visit of the history (:func:`localaws.asl.fold.fold`), as the page shows
    them: nested visits (Map iterations, Parallel branches) follow their Map or Parallel with
    their ``depth`` and ``path``, so the table and the graph read the same fold."""
    return [_visit_json(v) for v in fold(events)]


def _visit_json(visit: Visit) -> dict[str, Any]:
    return {
        "name": visit.name,
        "type": visit.type,
        "status": visit.status.value,
        "depth": visit.depth,
        "path": [list(step) for step in visit.path],
        "generation": visit.generation,
        "entered": visit.entered,
        "exited": visit.exited,
        "input": visit.input,
        "output": visit.output,
        "error": visit.error,
        "cause": visit.cause,
        "attempts": visit.attempts,
        "resource": visit.resource,
    }


def resources(events: list[dict[str, Any]]) -> dict[str, Any]:
    """The SageMaker resources an execution created or changed, from its Task requests."""
    found: dict[str, Any] = {}
    for event in events:
        details = event.get("taskScheduledEventDetails")
        if not details or details.get("resourceType") != "sagemaker":
            continue
        action = str(details.get("resource", "")).split(".", 1)[0]
        if action not in SAGEMAKER_RESOURCES:
            continue
        try:
            params = json.loads(details.get("parameters") or "{}")
        except json.JSONDecodeError:
            continue
        key, member = SAGEMAKER_RESOURCES[action]
        if isinstance(params, dict) and params.get(member):
            found[key] = params[member]
            if action == "createTransformJob":
                output = (params.get("TransformOutput") or {}).get("S3OutputPath")
                if output:
                    found["transformOutput"] = output
    return found


def _plain(value: Any) -> Any:
    """JSON-ready: datetimes become epoch seconds, as on the AWS JSON protocols."""
    if isinstance(value, datetime):
        return value.timestamp()
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if isinstance(value, bytes):
        return value.decode(errors="replace")
    return value
