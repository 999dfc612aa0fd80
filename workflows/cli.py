"""``python -m workflows``: build, run and inspect the predictive-maintenance workflow.

Exit codes are :class:`workflows.errors.ExitCode` (0 succeeded, 1 the workflow failed, 2 bad
usage or configuration - argparse's own code - and the others named there and in the
README).  :func:`main` is the error boundary: an expected failure is one line on stderr.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from localaws.asl.fold import Visit
from localaws.errors import ServiceError, UserError
from workflows import many_models_cli
from workflows.errors import ExitCode, exit_code, one_line, translate
from workflows.settings import METRICS
from workflows.target import STATUS_MARK, ExecutionView, Target

HOTEL_CLUSTERS = "hotel-clusters"
# The shipped workflows, by the name `run`, `build` and `list` use; the first is the default.
WORKFLOWS = {
    "predictive-maintenance": "AI4I predictive maintenance: prepare, train, evaluate, deploy, predict",
    "movie-recommender": (
        "movie-ratings data lake: DynamoDB load, Kinesis -> Firehose, Glue, Athena, recommender"
    ),
    many_models_cli.NAME: many_models_cli.DESCRIPTION,
    HOTEL_CLUSTERS: "hotel clusters: feature store, Athena training set, streaming inference, lineage",
}
DEFAULT_WORKFLOW = "predictive-maintenance"

STATUS_STYLE = {
    "succeeded": "green",
    "running": "cyan",
    "retrying": "yellow",
    "caught": "yellow",
    "failed": "red",
    "cancelled": "red",
    "pending": "dim",
}


# -- entry point ------------------------------------------------------------------------


def main(argv: Sequence[str] | None = None) -> int:
    parser = make_parser()
    argv = list(sys.argv[1:] if argv is None else argv)
    args = parser.parse_args(argv)
    if not hasattr(args, "func"):
        args = parser.parse_args([*argv, "run"])  # `run` is the default command
    from localaws.botocore_model import share_service_models

    share_service_models()  # the SDK's sessions and the runtime's: one copy of each model
    try:
        return int(args.func(args))
    except (Exception, KeyboardInterrupt) as raised:
        error = translate(raised) if isinstance(raised, Exception) else raised
        code = exit_code(error)
        if code is None:
            raise  # a bug: keep the traceback
        if code is not ExitCode.INTERRUPTED:
            label = "" if isinstance(error, ServiceError) else "error: "
            print(f"{label}{one_line(error)}", file=sys.stderr)
        return int(code)


def make_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m workflows",
        description="Build and run the predictive-maintenance Step Functions workflow, locally or on AWS.",
    )
    _add_common(parser, default=None)
    # The same options after the command; SUPPRESS keeps a value given before the command.
    common = argparse.ArgumentParser(add_help=False)
    _add_common(common, default=argparse.SUPPRESS)
    sub = parser.add_subparsers(title="commands", metavar="COMMAND")

    p = sub.add_parser(
        "build",
        parents=[common],
        help="write the ASL definition, a CloudFormation snippet and an example input",
    )
    p.add_argument(
        "workflow", nargs="?", choices=WORKFLOWS, default=DEFAULT_WORKFLOW, help="which workflow"
    )
    p.add_argument("--target", choices=("local", "aws"), default="local")
    p.add_argument(
        "--out", default="build/workflow", help="output directory (default: build/workflow)"
    )
    p.set_defaults(func=cmd_build)

    p = sub.add_parser("list", parents=[common], help="the shipped workflows")
    p.set_defaults(func=cmd_list)

    p = sub.add_parser(
        "run", parents=[common], help="run the workflow on the local runtime (the default command)"
    )
    p.add_argument(
        "workflow", nargs="?", choices=WORKFLOWS, default=DEFAULT_WORKFLOW, help="which workflow"
    )
    p.add_argument(
        "--json",
        action="store_true",
        help="print the summary as one JSON object (predictive-maintenance: progress on stderr)",
    )
    p.add_argument(
        "--featurizer",
        choices=("pipeline", "lambda"),
        help="pipeline: scikit-learn featurizer job and an inference-pipeline endpoint taking raw "
        "readings, with monitoring and an HTTP API; lambda: the prepare Lambda encodes (default: "
        "featurizer.mode, pipeline unless your config changes it)",
    )
    source = p.add_mutually_exclusive_group()
    source.add_argument(
        "--data",
        help="the raw AI4I CSV (movie-recommender: the folder of MovieLens CSVs; many-models: "
        "a directory of training-dataset/ and inference-dataset/; hotel-clusters: a directory "
        "holding train.csv and destinations.csv) to use instead of generated data",
    )
    source.add_argument("--rows", type=int, help="rows of generated data (default: data.rows)")
    p.add_argument("--seed", type=int, help="seed of the generated data (default: data.seed)")
    p.add_argument(
        "--threshold",
        type=float,
        help="deploy only when the metric is at or above this (default: evaluation.threshold)",
    )
    p.add_argument(
        "--run-id", help="run id ending every resource name (default: timestamp and random suffix)"
    )
    many_models_cli.add_run_arguments(p)
    p.set_defaults(func=cmd_run)

    p = sub.add_parser(
        "lineage", parents=[common], help="the lineage of a use case's deployed endpoint"
    )
    p.add_argument("workflow", choices=(HOTEL_CLUSTERS,), help="the use case")
    p.add_argument("--svg", metavar="FILE", help="also draw the graph as an SVG file")
    p.set_defaults(func=cmd_lineage)

    p = sub.add_parser(
        "status", parents=[common], help="past executions, or one execution's summary"
    )
    p.add_argument(
        "execution", nargs="?", help="execution name (run id) or ARN; default: list executions"
    )
    p.add_argument("--limit", type=int, default=20)
    p.set_defaults(func=cmd_status)

    p = sub.add_parser(
        "restore",
        parents=[common],
        help="put the automatic backup in place of a damaged runtime.db / services journal",
    )
    p.set_defaults(func=cmd_restore)

    p = sub.add_parser(
        "history", parents=[common], help="one execution's states, or its raw events"
    )
    p.add_argument(
        "execution", nargs="?", help="execution name (run id) or ARN; default: the latest"
    )
    p.add_argument("--events", action="store_true", help="print the history events as JSON")
    p.set_defaults(func=cmd_history)

    p = sub.add_parser("invoke", parents=[common], help="send records to an endpoint")
    p.add_argument(
        "records", nargs="+", help='CSV feature rows ("0,1,0,298.1,308.6,1551,42.8,0") or @FILE'
    )
    p.add_argument("--endpoint", help="endpoint name (default: endpoint.name)")
    p.add_argument("--content-type", default="text/csv")
    p.set_defaults(func=cmd_invoke)

    p = sub.add_parser(
        "monitor",
        parents=[common],
        help="run a Model Monitor schedule now over the last hour; print the execution. "
        "With the use case's name (predictive-maintenance): send readings to its endpoint, "
        "run its data-quality schedule over them, print the violations",
    )
    p.add_argument("schedule", help="monitoring schedule name, or the use case's name")
    p.add_argument(
        "--drift",
        action="store_true",
        help="use case: shift air temperature, rotational speed and tool wear of the readings",
    )
    p.add_argument(
        "--rows", type=int, default=2000, help="use case: readings to send (default: 2000)"
    )
    p.add_argument("--json", action="store_true", help="use case: print the report as JSON")
    p.set_defaults(func=cmd_monitor)

    p = sub.add_parser(
        "exec",
        parents=[common],
        help="run an ASL definition once; print {status, output, error, cause}",
    )
    p.add_argument("definition", help="ASL definition (JSON file)")
    p.add_argument(
        "--input", default="{}", help="execution input: JSON text or @FILE (default: {})"
    )
    p.add_argument(
        "--name",
        help="state machine name (default: the mock config's only state machine, else the file name)",
    )
    p.add_argument("--mock-config", help="AWS Step Functions Local MockConfigFile")
    p.add_argument("--test-case", help="test case of the mock config to run")
    p.add_argument(
        "--timeout",
        type=float,
        default=None,
        help="seconds to wait for the end (default: no limit)",
    )
    p.set_defaults(func=cmd_exec)

    p = sub.add_parser(
        "apis",
        parents=[common],
        help="the local URLs of the API Gateway APIs (REST and HTTP) and their stages",
    )
    p.set_defaults(func=cmd_apis)

    p = sub.add_parser(
        "serve", parents=[common], help="serve the state directory: AWS APIs and the web console"
    )
    p.add_argument("--host", default=None, help="address to bind (default: 127.0.0.1)")
    p.add_argument("--port", type=int, default=None, help="port (default: 8083)")
    p.add_argument(
        "--allow-remote",
        action="store_true",
        help="allow a --host other than a loopback address (anyone reaching the port can run "
        "code on this machine; use with --credentials)",
    )
    p.add_argument(
        "--credentials",
        metavar="FILE",
        default=None,
        help="AWS credentials file ([profile] aws_access_key_id / aws_secret_access_key): verify "
        "every request's signature against its keys (default: $LOCALAWS_CREDENTIALS, else any "
        "key is accepted)",
    )
    p.set_defaults(func=cmd_serve)

    # The AWS side (`deploy`, `execute --target aws`, `build` options), the movie recommender's.
    from workflows import aws, movie_cli

    aws.add_target_arguments(sub.choices["build"])
    aws.add_commands(sub, common)
    movie_cli.add_commands(sub, common)
    return parser


def _add_common(parser: argparse.ArgumentParser, *, default: Any) -> None:
    parser.add_argument(
        "--state-dir",
        default=default,
        help="local runtime state directory (default: $LOCALAWS_STATE_DIR or .local-aws)",
    )
    parser.add_argument(
        "--config",
        default=default,
        help="YAML file merged over the shipped defaults (default: $WORKFLOWS_CONFIG)",
    )


# -- commands ---------------------------------------------------------------------------


def cmd_list(args: argparse.Namespace) -> int:
    """Name every shipped workflow, one a line."""
    width = max(len(name) for name in WORKFLOWS)
    for name, description in WORKFLOWS.items():
        print(f"{name:<{width}}  {description}")
    return ExitCode.OK


def cmd_build(args: argparse.Namespace) -> int:
    """Write definition.json, state-machine.cfn.yaml and example-input.json."""
    if getattr(args, "workflow", DEFAULT_WORKFLOW) == "movie-recommender":
        from workflows import movie_cli

        return movie_cli.cmd_build(args)
    if getattr(args, "workflow", DEFAULT_WORKFLOW) == many_models_cli.NAME:
        return many_models_cli.cmd_build(args)
    if getattr(args, "workflow", DEFAULT_WORKFLOW) == HOTEL_CLUSTERS:
        from workflows.hotel_clusters import cli as hotel

        return hotel.cmd_build(args, _console())
    if args.target == "aws":
        from workflows import aws

        return int(aws.cmd_build(args))
    from workflows import predictive_maintenance as pm
    from workflows.target import new_run_id

    settings = _settings(args, featurizer=getattr(args, "featurizer", None))
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    asl = pm.definition(settings)
    files = {
        "definition.json": json.dumps(asl, indent=2) + "\n",
        "state-machine.cfn.yaml": cloudformation_snippet(settings, asl),
        "example-input.json": json.dumps(pm.example_input(settings, new_run_id()), indent=2) + "\n",
    }
    for name, text in files.items():
        (out / name).write_text(text, encoding="utf-8")
    console = _console()
    for name in files:
        console.print(f"wrote {out / name}", highlight=False)
    return ExitCode.OK


def cmd_run(args: argparse.Namespace) -> int:
    """Run the workflow locally with live progress; exit 0 only when it succeeded."""
    if getattr(args, "workflow", DEFAULT_WORKFLOW) == "movie-recommender":
        from workflows import movie_cli

        return movie_cli.cmd_run(args)
    if getattr(args, "workflow", DEFAULT_WORKFLOW) == HOTEL_CLUSTERS:
        from workflows.hotel_clusters import cli as hotel

        return hotel.cmd_run(args, _console())
    if getattr(args, "workflow", DEFAULT_WORKFLOW) == many_models_cli.NAME:
        return many_models_cli.cmd_run(args)
    for option in ("dimensions", "fan_out"):
        if getattr(args, option, None):
            raise UserError(
                f"--{option.replace('_', '-')}: only `run many-models` takes it; drop it"
            )
    from workflows import predictive_maintenance as pm
    from workflows.local import run_workflow
    from workflows.target import open_target

    settings = _settings(args, threshold=args.threshold, featurizer=args.featurizer)
    if args.data is not None and not Path(args.data).is_file():
        raise UserError(
            f"--data {args.data}: no such file; pass the AI4I CSV, or leave --data out to generate rows"
        )
    console = _console(stderr=args.json)
    started = time.perf_counter()
    pending = states_every_success_passes(pm.definition(settings))
    with open_target(args.state_dir) as target, _Progress(console, pending) as progress:
        result = run_workflow(
            target,
            settings,
            data_file=args.data,
            rows=args.rows,
            seed=args.seed,
            run_id=args.run_id,
            on_update=progress.update,
            on_phase=progress.phase,
        )
        progress.update(result.view)
    write_console_example(args.state_dir, settings, raw_data_uri=result.input["RawDataUri"])
    api_url = page_url = None
    if result.api is not None:
        from localaws import config
        from workflows.http_api import publish_page

        api_url = result.api.url(_served_url(target))
        page = publish_page(config.state_dir(args.state_dir), result.api)
        page_url = _served_url(target).rstrip("/") + page
    if args.json:
        summary = run_summary(result.view, settings, result.input)
        summary["api_url"] = api_url
        summary["page_url"] = page_url
        print(json.dumps(summary, default=str))
        return result.view.exit_code
    print_summary(
        console,
        result.view,
        settings,
        input=result.input,
        total=time.perf_counter() - started,
        phases=result.seconds,
    )
    if api_url is not None:
        later = "" if getattr(target, "url", None) else " (while `python -m workflows serve` runs)"
        console.print(f"HTTP API: POST a reading to {api_url}{later}", highlight=False)
        console.print(f"Technicians' page: {page_url}{later}", highlight=False)
    return result.view.exit_code


def _served_url(target: Any) -> str:
    """The local server's URL: the target's, else where `serve` listens by default."""
    from localaws import config

    return getattr(target, "url", None) or f"http://{config.DEFAULT_HOST}:{config.DEFAULT_PORT}"


def run_summary(view: ExecutionView, settings: Any, input: dict[str, Any]) -> dict[str, Any]:
    """What ``run --json`` prints: status, metrics, model, endpoint and a sample prediction."""
    from workflows import predictive_maintenance as pm

    evaluation = _dig(view.output_of(pm.EVALUATE), "evaluate", "Payload") or {}
    predictions = _dig(view.output_of(pm.PREDICT), "predict", "Payload", "predictions") or []
    deployed = view.state(pm.PREDICT) is not None
    return {
        "status": view.status,
        "run_id": input.get("RunId"),
        "execution_arn": view.arn,
        "featurizer": settings.featurizer.mode,
        "error": view.error,
        "cause": view.cause,
        "metrics": {k: evaluation[k] for k in METRICS if k in evaluation},
        "model_name": input.get("ModelName"),
        "model_artifact": _dig(
            view.output_of(pm.TRAIN), "train", "ModelArtifacts", "S3ModelArtifacts"
        ),
        "endpoint": input.get("EndpointName") if deployed else None,
        "monitoring_schedule": settings.monitoring.schedule
        if deployed and pm.pipeline_mode(settings)
        else None,
        "sample_prediction": predictions[0] if predictions else None,
    }


def write_console_example(state_dir: str | None, settings: Any, *, raw_data_uri: str) -> None:
    """Leave the next run's input where the console prefills its start form from.

    Fresh job and model names, and the raw data this run uploaded, so that the console's
    Start button runs the workflow again as it is.
    """
    from localaws import config
    from localaws.layout import StateDir
    from localaws.store import atomic_write
    from workflows import predictive_maintenance as pm
    from workflows.target import new_run_id

    example = pm.example_input(settings, new_run_id(), endpoint_exists=True)
    example["RawDataUri"] = raw_data_uri
    layout = StateDir(config.state_dir(state_dir))
    atomic_write(layout.example(settings.name), json.dumps(example, indent=2).encode())
    atomic_write(layout.example_per_run(settings.name), json.dumps(pm.per_run(settings)).encode())


def cmd_lineage(args: argparse.Namespace) -> int:
    from workflows.hotel_clusters import cli as hotel

    return hotel.cmd_lineage(args, _console())


def cmd_serve(args: argparse.Namespace) -> int:
    """Run the local server in the foreground until Ctrl-C."""
    from localaws import config
    from localaws.server.guard import is_loopback
    from localaws.server.serve import check_host, serve

    host = args.host or config.DEFAULT_HOST
    port = config.DEFAULT_PORT if args.port is None else args.port
    credentials = config.credentials_file(args.credentials)
    if not is_loopback(host) and not args.allow_remote:
        check_host(host, allow_remote=False, credentials=credentials)  # refuses, before printing
    from localaws import backup

    backup.check(config.state_dir(args.state_dir))  # a damaged database: one line, no banner
    _console(stderr=True).print(f"serving on http://{host}:{port}/ (Ctrl-C stops)", highlight=False)
    settings = _settings(args)

    def shipped_use_cases(runtime: Any) -> None:
        from workflows.local import prepare_console
        from workflows.target import LocalTarget

        print_api_urls(runtime, f"http://{host}:{port}")
        publish_technicians_page(runtime, settings, f"http://{host}:{port}")
        prepare_console(LocalTarget(runtime=runtime), settings)

    serve(
        args.state_dir,
        host=host,
        port=port,
        allow_remote=args.allow_remote,
        credentials=credentials,
        on_start=shipped_use_cases,
    )
    return ExitCode.OK


def print_api_urls(runtime: Any, url: str) -> None:
    """``serve``: each HTTP API stage's local URL (the workflow's own with its route)."""
    from workflows.http_api import ROUTE_PATH, invoke_url

    console = _console(stderr=True)
    try:
        apis = runtime.apigatewayv2.get_apis().get("Items", [])
    except ServiceError:
        return
    for api in apis:
        if api.get("ProtocolType", "HTTP") != "HTTP":
            continue
        for stage in runtime.apigatewayv2.get_stages(ApiId=api["ApiId"]).get("Items", []):
            routes = runtime.apigatewayv2.get_routes(ApiId=api["ApiId"]).get("Items", [])
            path = ROUTE_PATH if any(r["RouteKey"].endswith(ROUTE_PATH) for r in routes) else "/"
            console.print(
                f"HTTP API {api.get('Name', '')}: {invoke_url(url, api['ApiId'], stage['StageName'])}{path}",
                highlight=False,
            )


def publish_technicians_page(runtime: Any, settings: Any, url: str) -> None:
    """``serve``: the technicians' page next to the console, when a run made its API."""
    from workflows.http_api import find_http_api, publish_page

    api = find_http_api(runtime.apigatewayv2, settings)
    if api is not None:
        page = publish_page(runtime.state_dir, api)
        _console(stderr=True).print(f"Technicians' page: {url}{page}", highlight=False)


def api_stages(apigateway: Any, apigatewayv2: Any) -> list[tuple[str, str, str, str]]:
    """(kind, name, id, stage) of every REST API's and HTTP API's stage."""
    found = []
    for api in apigateway.get_rest_apis(limit=500).get("items", []):
        for stage in apigateway.get_stages(restApiId=api["id"]).get("item", []):
            found.append(("REST", api.get("name", ""), api["id"], stage["stageName"]))
    for api in apigatewayv2.get_apis().get("Items", []):
        if api.get("ProtocolType", "HTTP") != "HTTP":
            continue
        for stage in apigatewayv2.get_stages(ApiId=api["ApiId"]).get("Items", []):
            found.append(("HTTP", api.get("Name", ""), api["ApiId"], stage["StageName"]))
    return found


def cmd_apis(args: argparse.Namespace) -> int:
    from localaws import config
    from localaws.apigateway.proxy import invoke_url
    from workflows.target import open_target

    console = _console()
    with open_target(args.state_dir) as target:
        if target.kind == "aws":
            console.print("apis lists the local runtime's APIs; on AWS use the console or CLI")
            return ExitCode.USAGE
        base = getattr(target, "url", None)
        stages = api_stages(target.backend("apigateway"), target.backend("apigatewayv2"))
    if not stages:
        console.print("no API has a stage yet: create a deployment (REST) or a stage (HTTP)")
        return ExitCode.OK
    if base is None:
        base = f"http://127.0.0.1:{config.DEFAULT_PORT}"
        console.print(
            f"served while `python -m workflows serve` runs (at {base} by default):",
            highlight=False,
        )
    for kind, name, api_id, stage in stages:
        console.print(
            f"{kind:<4} {name} ({api_id}) stage {stage}: {invoke_url(base, api_id, stage)}/",
            highlight=False,
            soft_wrap=True,
        )
    return ExitCode.OK


def cmd_restore(args: argparse.Namespace) -> int:
    """Replace the state's SQLite files by their automatic backups (the damaged ones kept
    aside); refused while a process owns the state directory."""
    from localaws import backup, config
    from localaws.runtime import StateDirBusy, read_owner

    state_dir = config.state_dir(args.state_dir)
    owner = read_owner(state_dir)
    if owner is not None:
        raise StateDirBusy(state_dir, owner)
    for line in backup.restore(state_dir):
        print(line)
    return ExitCode.OK


def cmd_status(args: argparse.Namespace) -> int:
    from workflows.local import state_machine_arn
    from workflows.target import open_target

    settings = _settings(args)
    console = _console()
    with open_target(args.state_dir) as target:
        if args.execution:
            view = target.view(_execution_arn(target, settings, args.execution))
            print_summary(console, view, settings, input=view.input)
            return ExitCode.OK if view.status in ("SUCCEEDED", "RUNNING") else ExitCode.FAILED
        arn = state_machine_arn(target, settings.name)
        try:
            executions = target.stepfunctions.list_executions(
                stateMachineArn=arn, maxResults=args.limit
            )
        except ServiceError as e:
            if e.code == "StateMachineDoesNotExist":
                console.print(
                    f"no runs yet: state machine {settings.name!r} does not exist; "
                    "start one with `python -m workflows run`",
                    highlight=False,
                )
                return ExitCode.OK
            raise
        console.print(executions_table(executions.get("executions", [])))
    return ExitCode.OK


def cmd_history(args: argparse.Namespace) -> int:
    from workflows.target import open_target

    settings = _settings(args)
    console = _console()
    with open_target(args.state_dir) as target:
        arn = _execution_arn(target, settings, args.execution)
        if args.events:
            print(json.dumps(target.history(arn), indent=2, default=str))
            return ExitCode.OK
        view = target.view(arn)
        console.print(states_table(view, title=f"{view.name}: {view.status}"))
        if view.error:
            console.print(f"[red]{view.error}[/]: {view.cause}", highlight=False)
    return ExitCode.OK


def cmd_invoke(args: argparse.Namespace) -> int:
    from workflows.target import open_target

    settings = _settings(args)
    name = args.endpoint or settings.endpoint.name
    body = "\n".join(_read_arg(r).strip() for r in args.records).encode()
    with open_target(args.state_dir) as target:
        response = target.sagemaker_runtime.invoke_endpoint(
            EndpointName=name, ContentType=args.content_type, Accept="text/csv", Body=body
        )
    payload = response["Body"]
    if hasattr(payload, "read"):
        payload = payload.read()
    text = payload.decode() if isinstance(payload, bytes) else str(payload)
    print(text.strip())
    return ExitCode.OK


def cmd_monitor(args: argparse.Namespace) -> int:
    from workflows.monitoring import run_schedule_now
    from workflows.target import open_target

    settings = _settings(args)
    if args.schedule == settings.name:
        return _monitor_use_case(args, settings)
    with open_target(args.state_dir) as target:
        execution = run_schedule_now(target, args.schedule)
    print(json.dumps(execution, indent=2, default=str))
    failed = execution["MonitoringExecutionStatus"] == "Failed"
    return ExitCode.FAILED if failed else ExitCode.OK


def _monitor_use_case(args: argparse.Namespace, settings: Any) -> int:
    from rich.table import Table

    from workflows.monitoring import drift_demo
    from workflows.target import open_target

    if args.rows < 1:
        raise UserError(f"--rows {args.rows}: send at least one reading")
    with open_target(args.state_dir) as target:
        report = drift_demo(target, settings, drift=args.drift, limit=args.rows)
    if args.json:
        print(json.dumps(report.as_dict(), default=str))
    else:
        console = _console()
        status = report.execution.get("MonitoringExecutionStatus")
        kind = "drifted" if report.drifted else "normal"
        console.print(
            f"sent {report.readings} {kind} readings to {report.endpoint}; "
            f"schedule {report.schedule}: {status}",
            highlight=False,
        )
        if report.violations:
            table = Table(title="violations", title_justify="left")
            for column in ("feature", "check", "description"):
                table.add_column(column, overflow="fold")
            for v in report.violations:
                table.add_row(v["feature"], v["check"], v["description"])
            console.print(table)
        else:
            console.print("no violations", highlight=False)
        if report.execution.get("FailureReason"):
            console.print(f"[red]{report.execution['FailureReason']}[/]", highlight=False)
    failed = report.execution.get("MonitoringExecutionStatus") == "Failed"
    return ExitCode.FAILED if failed else ExitCode.OK


def cmd_exec(args: argparse.Namespace) -> int:
    """Run one definition once and print {"status", "output", "error", "cause"}."""
    from workflows.target import LOCAL_ROLE, open_target

    path = Path(args.definition)
    try:
        definition = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as e:
        raise UserError(f"DEFINITION {path}: no such file") from e
    except json.JSONDecodeError as e:
        raise UserError(
            f"{path}: not valid JSON ({e.msg} at line {e.lineno}); fix the definition"
        ) from e
    try:
        execution_input = json.loads(_read_arg(args.input))
    except json.JSONDecodeError as e:
        raise UserError(f"--input: not valid JSON ({e.msg}); pass a JSON object or @FILE") from e
    if bool(args.mock_config) != bool(args.test_case):
        raise UserError("--mock-config and --test-case go together; give both or neither")
    name = args.name or _exec_name(path, args.mock_config)
    with open_target(args.state_dir) as target:
        if args.mock_config:
            _load_mock_config(target, args.mock_config)
        arn = target.put_state_machine(name, definition, LOCAL_ROLE)
        start_arn = f"{arn}#{args.test_case}" if args.test_case else arn
        view = target.follow(target.start(start_arn, execution_input), timeout=args.timeout)
    result = {
        "status": view.status,
        "output": view.output,
        "error": view.error,
        "cause": view.cause,
    }
    print(json.dumps(result, default=str))
    return view.exit_code


# -- output -----------------------------------------------------------------------------


def cloudformation_snippet(settings: Any, asl: dict[str, Any]) -> str:
    """An ``AWS::StepFunctions::StateMachine`` resource holding the definition (YAML)."""
    import yaml

    resource = {
        "Resources": {
            "PredictiveMaintenanceStateMachine": {
                "Type": "AWS::StepFunctions::StateMachine",
                "Properties": {
                    "StateMachineName": settings.name,
                    "RoleArn": settings.roles.state_machine,
                    "DefinitionString": json.dumps(asl, indent=2),
                },
            }
        }
    }
    header = (
        "# The state machine alone, for pasting into a template.  The full stack (bucket,\n"
        "# roles, Lambdas, table) is `python -m workflows build --target aws`.\n"
    )
    return header + yaml.safe_dump(resource, sort_keys=False, width=1000)


def states_table(
    view: ExecutionView, *, title: str | None = None, pending: Sequence[str] = ()
) -> Any:
    """One row per visit (:func:`localaws.asl.fold.fold`); visits inside a Map iteration or
    a Parallel branch are indented under it, with the iteration / branch index."""
    from rich.table import Table

    table = Table(title=title, title_justify="left")
    table.add_column("state")
    table.add_column("status")
    table.add_column("seconds", justify="right")
    table.add_column("detail", overflow="fold")
    for run in view.visits:
        style = STATUS_STYLE.get(run.status, "")
        seconds = "" if run.seconds is None else f"{run.seconds:.2f}"
        detail = ""
        if run.error:
            detail = f"{run.error}: {_short(run.cause)}"
        if run.attempts > 1:
            detail = f"{run.attempts} attempts" + (f"; {detail}" if detail else "")
        if run.generation:
            detail = f"redrive {run.generation}" + (f"; {detail}" if detail else "")
        where = f"[{run.path[-1][1]}] " if run.path else ""
        table.add_row(
            f"{'  ' * run.depth}{where}{run.name}",
            f"[{style}]{STATUS_MARK.get(run.status, '')} {run.status}[/]",
            seconds,
            detail,
        )
    seen = {run.name for run in view.states}
    for name in pending:
        if name not in seen:
            table.add_row(f"[dim]{name}[/]", "[dim]pending[/]", "", "")
    return table


def executions_table(executions: list[dict[str, Any]]) -> Any:
    from rich.table import Table

    table = Table(title="executions", title_justify="left")
    for col in ("name", "status", "started", "seconds"):
        table.add_column(col)
    for ex in executions:
        start, stop = ex.get("startDate"), ex.get("stopDate")
        seconds = f"{(stop - start).total_seconds():.1f}" if start and stop else ""
        style = {"SUCCEEDED": "green", "RUNNING": "cyan"}.get(ex["status"], "red")
        table.add_row(
            ex["name"],
            f"[{style}]{ex['status']}[/]",
            f"{start:%Y-%m-%d %H:%M:%S}" if start else "",
            seconds,
        )
    return table


def print_summary(
    console: Any,
    view: ExecutionView,
    settings: Any,
    *,
    input: dict[str, Any] | None = None,
    total: float | None = None,
    phases: dict[str, float] | None = None,
) -> None:
    """Status, time per state, metrics, model artifact, endpoint and a sample prediction."""
    from workflows import predictive_maintenance as pm

    console.print(states_table(view, title="states"))
    style = "green" if view.status == "SUCCEEDED" else "red"
    line = f"[bold {style}]{view.status}[/]"
    if view.seconds is not None:
        line += f" in {view.seconds:.1f} s"
    if total is not None:
        line += f" ({total:.1f} s with setup"
        if phases:
            line += ": " + ", ".join(f"{k} {v:.1f} s" for k, v in phases.items())
        line += ")"
    console.print(line, highlight=False)
    if view.error:
        console.print(f"[red]{view.error}[/]: {view.cause}", highlight=False)

    evaluation = _dig(view.output_of(pm.EVALUATE), "evaluate", "Payload")
    metrics = {k: evaluation[k] for k in METRICS if k in (evaluation or {})}
    if metrics:
        shown = ", ".join(f"{k} {v:.4f}" for k, v in metrics.items() if isinstance(v, int | float))
        console.print(f"metrics: {shown}", highlight=False)
    artifact = _dig(view.output_of(pm.TRAIN), "train", "ModelArtifacts", "S3ModelArtifacts")
    if artifact:
        console.print(f"model artifact: {artifact}", highlight=False)
    if view.state(pm.PREDICT) is not None and input:
        console.print(f"endpoint: {input.get('EndpointName')}", highlight=False)
    predictions = _dig(view.output_of(pm.PREDICT), "predict", "Payload", "predictions")
    if predictions:
        console.print(
            f"sample prediction: {json.dumps(predictions[0], default=str)}", highlight=False
        )


def states_every_success_passes(definition: dict[str, Any]) -> list[str]:
    """The top-level states that every successful run goes through, in order: what the
    progress display lists as pending before they start.  (A state is on every path from
    ``StartAt`` to a successful end, ``Catch`` edges aside: it dominates the success.)"""
    states: dict[str, dict[str, Any]] = definition["States"]

    def successors(name: str) -> list[str]:
        spec = states[name]
        found = [spec["Next"]] if "Next" in spec else []
        found += [choice["Next"] for choice in spec.get("Choices", [])]
        return found + ([spec["Default"]] if "Default" in spec else [])

    success = ""  # a node after every successful end
    edges = {name: successors(name) for name in states}
    for name, spec in states.items():
        if spec["Type"] == "Succeed" or spec.get("End"):
            edges[name].append(success)
    reachable, todo = {definition["StartAt"]}, [definition["StartAt"]]
    while todo:
        for nxt in edges.get(todo.pop(), []):
            if nxt not in reachable:
                reachable.add(nxt)
                todo.append(nxt)
    preds: dict[str, list[str]] = {n: [] for n in reachable}
    for name in reachable - {success}:
        for nxt in edges[name]:
            preds[nxt].append(name)
    dominators = {n: set(reachable) for n in reachable}
    dominators[definition["StartAt"]] = {definition["StartAt"]}
    changed = True
    while changed:
        changed = False
        for n in reachable - {definition["StartAt"]}:
            new = {n} | set.intersection(*(dominators[p] for p in preds[n]))
            if new != dominators[n]:
                dominators[n], changed = new, True
    on_every_path = dominators.get(success, set()) - {success}
    return sorted(on_every_path, key=lambda n: len(dominators[n]))


def _styled(visit: Visit, line: str) -> str:
    from rich.markup import escape

    return f"[{STATUS_STYLE.get(visit.status, '')}]{escape(line)}[/]"


class _Progress:
    """Live per-state progress: a table redrawn in a terminal, one line per change elsewhere."""

    def __init__(self, console: Any, pending: Sequence[str] = ()):
        from workflows.target import ProgressLines

        self.console = console
        self.live: Any = None
        self.pending = list(pending)
        self.lines = ProgressLines(self._print, style=_styled)
        self.status = "setting up"

    def __enter__(self) -> _Progress:
        if self.console.is_terminal:
            from rich.live import Live

            self.live = Live(
                self._render(None), console=self.console, refresh_per_second=8, transient=True
            )
            self.live.__enter__()
        return self

    def __exit__(self, *exc: Any) -> None:
        if self.live is not None:
            self.live.__exit__(*exc)

    def phase(self, text: str) -> None:
        self.status = text
        if self.live is not None:
            self.live.update(self._render(None))
        else:
            self.console.print(f"[dim]{text}[/]", highlight=False)

    def update(self, view: ExecutionView) -> None:
        if self.live is not None:
            self.live.update(self._render(view))
            return
        self.lines(view)

    def _print(self, line: str) -> None:
        self.console.print(line, highlight=False)

    def _render(self, view: ExecutionView | None) -> Any:
        from rich.console import Group
        from rich.text import Text

        if view is None:
            return Text(f"… {self.status}", style="dim")
        return Group(states_table(view, title=f"execution: {view.status}", pending=self.pending))


# -- helpers ----------------------------------------------------------------------------


def _settings(args: argparse.Namespace, **overrides: Any) -> Any:
    from workflows import settings

    dotted = {
        "evaluation.threshold": overrides.get("threshold"),
        "featurizer.mode": overrides.get("featurizer"),
    }
    return settings.load(getattr(args, "config", None), overrides=dotted)


def _console(*, stderr: bool = False) -> Any:
    from rich.console import Console

    return Console(stderr=stderr, soft_wrap=True)  # long lines (URIs, causes) unbroken


def _execution_arn(target: Target, settings: Any, name: str | None) -> str:
    if name and name.startswith("arn:"):
        return name
    from workflows.local import state_machine_arn

    if name:
        return target.arn("states", f"execution:{settings.name}:{name}")
    try:
        listed = target.stepfunctions.list_executions(
            stateMachineArn=state_machine_arn(target, settings.name), maxResults=1
        ).get("executions", [])
    except ServiceError as e:
        if e.code != "StateMachineDoesNotExist":
            raise
        listed = []
    if not listed:
        raise UserError(
            f"no executions of {settings.name!r} yet; start one with `python -m workflows run`"
        )
    return str(listed[0]["executionArn"])


def _exec_name(path: Path, mock_config: str | None) -> str:
    if mock_config:
        try:
            body = json.loads(Path(mock_config).read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError):
            body = {}
        machines = list((body.get("StateMachines") or {}) if isinstance(body, dict) else {})
        if len(machines) == 1:
            return machines[0]
        if len(machines) > 1:
            raise UserError(
                f"--mock-config {mock_config} defines state machines {', '.join(machines)}; "
                "choose one with --name"
            )
    return path.stem


def _load_mock_config(target: Target, path: str) -> None:
    """Give the Step Functions backend the mock configuration (the runtime in this process)."""
    from localaws.asl.mock_config import MockConfig
    from workflows.target import LocalTarget

    if not isinstance(target, LocalTarget):
        raise UserError(
            f"--mock-config: the state directory is served by {getattr(target, 'url', 'a server')}; "
            "mock configurations apply to the runtime in this process: stop the server, or "
            "use another --state-dir"
        )
    target.runtime.stepfunctions.set_mock_config(MockConfig.load(path))


def _read_arg(value: str) -> str:
    if value.startswith("@"):
        return Path(value[1:]).read_text(encoding="utf-8")
    return value


def _dig(obj: Any, *keys: str) -> Any:
    for key in keys:
        if not isinstance(obj, dict):
            return None
        obj = obj.get(key)
    return obj


def _short(text: str | None, limit: int = 200) -> str:
    if not text:
        return ""
    return text if len(text) <= limit else text[: limit - 1] + "…"
