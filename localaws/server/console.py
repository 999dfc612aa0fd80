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
  storage, or the keys under a prefix ending in ``/``;
* ``GET /console/api/executions?stateMachineArn=...`` - a page of a machine's executions,
  filtered by status, name, start date range and redrive (what ListExecutions cannot);
* ``GET /console/api/fresh-input?executionArn=...`` - the execution's input with fresh
  values in the fields the workflow marks as per-run (``examples/<name>.per-run.json``:
  ``{"runIdField": "RunId", "fields": [...], "endpointExists": {"Field": "NameField"}}``:
  a new run id replaces the old one in each field; Field says whether the endpoint named
  by NameField exists now); the example input is served freshened the same way;
* ``GET /web/<site>/<file>`` - a use case's static page published into the state
  directory (:mod:`localaws.server.sites`), served as its own assets are;
* ``GET /console/api/stages?executionArn=...&visit=N`` - the data of visit N of the fold
  stage by stage (input, InputPath, Parameters as sent, result, ResultSelector,
  ResultPath, OutputPath), from the state's definition and the history;
* ``GET /console/api/apis`` - API Gateway REST and HTTP APIs with their stages' local
  serving URLs (:func:`localaws.apigateway.proxy.invoke_url`) next to the AWS ones;
* ``GET /console/api/rule-deliveries?rule=<name>&bus=<bus>`` - an EventBridge rule's last
  deliveries (target, time, attempt, outcome), as the dispatcher recorded them.

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

from localaws.apigateway.proxy import invoke_url
from localaws.asl.fold import Visit, fold
from localaws.asl.graph import render_execution, render_svg
from localaws.errors import MAX_MESSAGE_CHARS, ServiceError, UserError, excerpt
from localaws.server.console_inspect import (
    SAGEMAKER_RESOURCES,
    freshen,
    inspect_stages,
    made_by,
    state_definition,
)
from localaws.server.lineage_svg import render_lineage_svg
from localaws.server.sites import SITE_PREFIX, site_file

if TYPE_CHECKING:
    from localaws.runtime import Runtime

STATIC_DIR = Path(__file__).resolve().parent / "static"
STATIC_FILES = {
    "index.html": "text/html; charset=utf-8",
    "app.js": "text/javascript; charset=utf-8",
    "graph.js": "text/javascript; charset=utf-8",
    "resources.js": "text/javascript; charset=utf-8",
    "dagre.min.js": "text/javascript; charset=utf-8",
    "style.css": "text/css; charset=utf-8",
}
LOG_KINDS = ("training", "processing", "transform")  # <state dir>/logs/<kind>/<name>.log
LOG_TAIL_BYTES = 256 * 1024
OBJECT_HEAD_BYTES = 64 * 1024
MAX_LISTED_KEYS = 200
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,79}$")
EXECUTION_PAGE = 25  # rows per page of /console/api/executions
MAX_EXECUTION_PAGE = 200
MADE_BY_SCAN = 50  # executions per state machine searched for the link back to a resource


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
            (SITE_PREFIX + "{site}/", console.site),
            (SITE_PREFIX + "{site}/{file}", console.site),
            ("/console/api/graph", console.graph),
            ("/console/api/execution", console.execution),
            ("/console/api/example/{name}", console.example),
            ("/console/api/logs/{kind}/{name}", console.logs),
            ("/console/api/object", console.object),
            ("/console/api/lineage", console.lineage),
            ("/console/api/executions", console.executions),
            ("/console/api/fresh-input", console.fresh_input),
            ("/console/api/stages", console.stages),
            ("/console/api/feature-record", console.feature_record),
            ("/console/api/apis", console.apis),
            ("/console/api/rule-deliveries", console.rule_deliveries),
            ("/console/api/made-by", console.made_by),
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

    async def site(self, request: Request) -> Response:
        """A file of a published site (``/web/<site>/`` is its index page)."""
        site = request.path_params["site"]
        found = site_file(self.runtime.state_dir, site, request.path_params.get("file", ""))
        if found is None:
            return _error(404, "NotFound", f"no such file in the web site {site[:80]!r}")
        path, media_type = found
        return FileResponse(path, media_type=media_type, headers={"Cache-Control": "no-cache"})

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
            return _json(
                {
                    "execution": desc,
                    "states": state_visits(events),
                    "resources": resources(events),
                    "events": events,
                }
            )

        return await _guarded(body)

    async def example(self, request: Request) -> Response:
        name = request.path_params["name"]

        def body() -> Response:
            if not _NAME.match(name):
                return _error(400, "ValidationException", f"{name!r} is not a state machine name")
            path = self.runtime.layout.example(name)
            if not path.is_file():
                return _error(404, "NotFound", f"no example input for {name!r}")
            spec = self._per_run(name)
            if spec is None:
                return Response(path.read_bytes(), media_type="application/json")
            return JSONResponse(self._live(freshen(json.loads(path.read_bytes()), spec), spec))

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

    async def executions(self, request: Request) -> Response:
        """A page of a machine's executions, newest first, with the filters of the list."""
        q = request.query_params

        def body() -> Response:
            arn = q.get("stateMachineArn")
            if not arn:
                return _error(400, "ValidationException", "stateMachineArn: required")
            status = q.get("status") or None
            needle = (q.get("name") or "").lower()
            try:
                start = float(q["from"]) if q.get("from") else None
                stop = float(q["to"]) if q.get("to") else None
                offset = max(0, int(q.get("offset") or 0))
                limit = min(MAX_EXECUTION_PAGE, max(1, int(q.get("limit") or EXECUTION_PAGE)))
            except ValueError:
                return _error(
                    400,
                    "ValidationException",
                    "from, to: epoch seconds; offset, limit: whole numbers",
                )
            redrive = q.get("redriven") or None
            kwargs: dict[str, Any] = {"stateMachineArn": arn, "maxResults": 1000}
            if status:
                kwargs["statusFilter"] = status
            if redrive:
                kwargs["redriveFilter"] = redrive
            matched: list[dict[str, Any]] = []
            for item in _pages(self.runtime.stepfunctions.list_executions, kwargs, "executions"):
                started = item["startDate"].timestamp()
                if needle and needle not in item["name"].lower():
                    continue
                if (start is not None and started < start) or (stop is not None and started > stop):
                    continue
                matched.append(item)
            page = matched[offset : offset + limit]
            return _json({"executions": page, "total": len(matched), "offset": offset})

        return await _guarded(body)

    async def fresh_input(self, request: Request) -> Response:
        """The execution's input, with fresh per-run names (see :func:`freshen`)."""
        arn = request.query_params.get("executionArn")

        def body() -> Response:
            if not arn:
                return _error(400, "ValidationException", "executionArn: required")
            desc = self.runtime.stepfunctions.describe_execution(executionArn=arn)
            machine = str(desc["stateMachineArn"]).rsplit(":", 1)[-1]
            value = json.loads(desc.get("input") or "{}")
            spec = self._per_run(machine) if _NAME.match(machine) else None
            fields = [] if spec is None else [spec["runIdField"], *spec.get("fields", [])]
            fresh = value if spec is None else self._live(freshen(value, spec), spec)
            return JSONResponse({"input": fresh, "freshened": fields if fresh != value else []})

        return await _guarded(body)

    async def stages(self, request: Request) -> Response:
        """Visit N of the execution's fold, stage by stage."""
        arn = request.query_params.get("executionArn")
        index = request.query_params.get("visit", "")

        def body() -> Response:
            if not arn or not index.isdigit():
                return _error(400, "ValidationException", "executionArn and visit=N: required")
            visits = fold(self._events(arn))
            if int(index) >= len(visits):
                return _error(404, "NotFound", f"visit {index}: the execution has {len(visits)}")
            visit = visits[int(index)]
            definition, _ = self._execution_definition(arn)
            state = state_definition(definition, visit)
            return JSONResponse(
                {"stages": inspect_stages(state, visit), "definition": state},
                headers={"Cache-Control": "no-store"},
            )

        return await _guarded(body)

    async def feature_record(self, request: Request) -> Response:
        """GetRecord of ``?group=<feature group>&id=<record identifier>`` (a REST API of its
        own on AWS, which the page would have to sign)."""
        group, record = request.query_params.get("group"), request.query_params.get("id")

        def body() -> Response:
            if not group or not record:
                return _error(400, "ValidationException", "group and id: required")
            runtime = self.runtime.sagemaker_featurestore_runtime
            found = runtime.get_record(FeatureGroupName=group, RecordIdentifierValueAsString=record)
            if not found.get("Record"):
                return _error(404, "ResourceNotFound", f"no record {record!r} in {group!r}")
            return JSONResponse(
                {f["FeatureName"]: f["ValueAsString"] for f in found["Record"]},
                headers={"Cache-Control": "no-store"},
            )

        return await _guarded(body)

    async def made_by(self, request: Request) -> Response:
        """The executions whose Tasks made or called ``?kind=&name=`` (the link back from a
        resource page), among each state machine's latest ``MADE_BY_SCAN`` executions."""
        kind, name = request.query_params.get("kind"), request.query_params.get("name")

        def body() -> Response:
            if not kind or not name:
                return _error(400, "ValidationException", "kind and name: required")
            sfn = self.runtime.stepfunctions
            found: list[dict[str, Any]] = []
            machines = _pages(sfn.list_state_machines, {}, "stateMachines")
            for machine in machines:
                latest = sfn.list_executions(
                    stateMachineArn=machine["stateMachineArn"], maxResults=MADE_BY_SCAN
                )
                for execution in latest.get("executions", []):
                    for visit in fold(self._events(execution["executionArn"])):
                        if made_by(visit) == {"kind": kind, "name": name}:
                            found.append(
                                {
                                    "executionArn": execution["executionArn"],
                                    "execution": execution["name"],
                                    "stateMachine": machine["name"],
                                    "state": visit.name,
                                }
                            )
            return JSONResponse({"madeBy": found}, headers={"Cache-Control": "no-store"})

        return await _guarded(body)

    async def apis(self, request: Request) -> Response:
        """API Gateway REST (v1) and HTTP (v2) APIs, one row per stage: the local URL this
        server answers it at (at the host the page was loaded from) and the AWS URL."""
        base = str(request.base_url)

        def body() -> Response:
            region = self.runtime.region
            found: list[dict[str, Any]] = []
            v1 = self.runtime.apigateway
            for api in v1.get_rest_apis(limit=500).get("items", []):
                for s in v1.get_stages(restApiId=api["id"]).get("item", []):
                    found.append(
                        {
                            "name": api.get("name", api["id"]),
                            "id": api["id"],
                            "kind": "REST",
                            "stage": s["stageName"],
                            "localUrl": invoke_url(base, api["id"], s["stageName"]) + "/",
                            "awsUrl": f"https://{api['id']}.execute-api.{region}.amazonaws.com/"
                            f"{s['stageName']}/",
                        }
                    )
            v2 = self.runtime.apigatewayv2
            for api in v2.get_apis(MaxResults="500").get("Items", []):
                endpoint = str(api.get("ApiEndpoint") or "")
                for s in v2.get_stages(ApiId=api["ApiId"]).get("Items", []):
                    stage = s["StageName"]
                    found.append(
                        {
                            "name": api.get("Name", api["ApiId"]),
                            "id": api["ApiId"],
                            "kind": api.get("ProtocolType", "HTTP"),
                            "stage": stage,
                            "localUrl": invoke_url(base, api["ApiId"], stage) + "/",
                            "awsUrl": endpoint + ("/" if stage == "$default" else f"/{stage}/"),
                        }
                    )
            return JSONResponse({"apis": found}, headers={"Cache-Control": "no-store"})

        return await _guarded(body)

    async def rule_deliveries(self, request: Request) -> Response:
        """The last deliveries of ``?rule=<name>`` on ``?bus=<name>`` (default bus)."""
        rule = request.query_params.get("rule")
        bus = request.query_params.get("bus") or "default"

        def body() -> Response:
            if not rule:
                return _error(400, "ValidationException", "rule: required (a rule name)")
            described = self.runtime.events.describe_rule(Name=rule, EventBusName=bus)
            deliveries = self.runtime.events.dispatcher.deliveries.recent(described["Arn"])
            return _json({"rule": described, "deliveries": deliveries})

        return await _guarded(body)

    # -- helpers -----------------------------------------------------------------------

    def _live(self, value: Any, spec: dict[str, Any]) -> Any:
        """Fields the spec says to read from the runtime now: ``"endpointExists": {"Field":
        "EndpointNameField"}`` sets Field to whether the endpoint named there exists."""
        checks = spec.get("endpointExists") or {}
        if not isinstance(value, dict) or not checks:
            return value
        out = dict(value)
        for field_name, name_field in checks.items():
            name = out.get(name_field)
            if isinstance(name, str):
                try:
                    self.runtime.sagemaker.describe_endpoint(EndpointName=name)
                    out[field_name] = True
                except ServiceError as e:
                    if e.code not in ("ValidationException", "ResourceNotFound"):
                        raise
                    out[field_name] = False
        return out

    def _per_run(self, machine: str) -> dict[str, Any] | None:
        """The per-run fields a workflow declared for its machine, or None."""
        path = self.runtime.layout.example_per_run(machine)
        if not path.is_file():
            return None
        spec = json.loads(path.read_bytes())
        if not isinstance(spec, dict) or not isinstance(spec.get("runIdField"), str):
            raise UserError(f"{path.name}: give runIdField (a string) and fields (a list)")
        return spec

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


def _pages(call: Callable[..., dict[str, Any]], kwargs: dict[str, Any], key: str) -> Any:
    token = None
    while True:
        page = call(**kwargs, **({"nextToken": token} if token else {}))
        yield from page.get(key, [])
        token = page.get("nextToken")
        if not token:
            return


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
        "retries": [{"error": e, "cause": c} for e, c in visit.retries],
        "made": made_by(visit),
        "hasParameters": visit.parameters is not None,
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


def _json_default(value: Any) -> Any:
    """What json cannot encode itself: datetimes become epoch seconds, as on the AWS JSON
    protocols; bytes are decoded."""
    if isinstance(value, datetime):
        return value.timestamp()
    if isinstance(value, bytes):
        return value.decode(errors="replace")
    raise TypeError(f"{type(value).__name__} is not JSON serializable")


def _json(value: Any) -> Response:
    """``value`` as a JSON response that is never cached, encoded in one pass by json's C
    encoder (a 10,000-event history is about 3 MB)."""
    body = json.dumps(
        value, default=_json_default, ensure_ascii=False, allow_nan=False, separators=(",", ":")
    )
    return Response(
        body.encode("utf-8"), media_type="application/json", headers={"Cache-Control": "no-store"}
    )
