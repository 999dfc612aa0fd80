"""The movie recommender's commands of ``python -m workflows``.

* ``run movie-recommender [--data DIR] [--json]`` - provision, run one execution, print the
  counts per table and per stream partition, the ETL and Athena counts, the metrics and
  sample recommendations (``--json``: one JSON object instead);
* ``recommend USER_ID [--liked MOVIE ...]`` - the endpoint's top titles for a user (``new``
  with ``--liked`` for a new user);
* ``build movie-recommender [--target aws]`` - the definition, or the CloudFormation stack.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any

from localaws.errors import UserError
from workflows.errors import ExitCode

NAME = "movie-recommender"


def settings_of(args: argparse.Namespace) -> dict[str, Any]:
    from workflows import movie_recommender as mr

    return mr.load_settings(
        getattr(args, "config", None), overrides={"data.seed": getattr(args, "seed", None)}
    )


def add_commands(sub: Any, common: argparse.ArgumentParser) -> None:
    p = sub.add_parser(
        "recommend",
        parents=[common],
        help="top movies for a user from the movie-recommender endpoint",
    )
    p.add_argument("user_id", help="an existing userId, or `new` with --liked")
    p.add_argument("--liked", nargs="*", default=[], help="movieIds a new user liked")
    p.add_argument("-k", type=int, default=None, help="how many titles (default: 10)")
    p.add_argument("--json", action="store_true", help="print the endpoint's JSON answer")
    p.set_defaults(func=cmd_recommend)


def cmd_run(args: argparse.Namespace) -> int:
    from workflows import movie_local as ml
    from workflows import movie_recommender as mr
    from workflows.cli import _console, _Progress, states_every_success_passes, states_table
    from workflows.target import open_target

    if args.data is not None and not Path(args.data).is_dir():
        raise UserError(
            f"--data {args.data}: not a directory; pass the folder holding ratings.csv, "
            "movies.csv, links.csv and tags.csv (ratings-partial-load.csv optional)"
        )
    if getattr(args, "rows", None) is not None:
        raise UserError("--rows: the movie recommender's generated size is data.users/data.movies")
    settings = settings_of(args)
    console = _console(stderr=args.json)
    started = time.perf_counter()
    pending = states_every_success_passes(mr.definition(settings))
    with open_target(args.state_dir) as target:
        with _Progress(console, pending) as progress:
            result = ml.run_workflow(
                target,
                settings,
                data_dir=args.data,
                run_id=args.run_id,
                on_update=progress.update,
                on_phase=progress.phase,
            )
            progress.update(result.view)
        summary = run_summary(target, settings, result)
    summary["seconds"] = round(time.perf_counter() - started, 1)
    if args.json:
        print(json.dumps(summary, indent=2, default=str))
    else:
        console.print(states_table(result.view, title="states"))
        print_summary(console, summary)
    return result.view.exit_code


def run_summary(target: Any, settings: dict[str, Any], result: Any) -> dict[str, Any]:
    """What a run printed: counts, metrics, recommendations (from the execution's output)."""
    from workflows import movie_local as ml

    view = result.view
    output = view.output if isinstance(view.output, dict) else {}
    files = {
        "ratings_t": len(result.data.ratings),
        "movies_t": len(result.data.movies),
        "links_t": len(result.data.links),
        "tags_t": len(result.data.tags),
    }
    tables = ml.table_counts(target, settings) if view.status == "SUCCEEDED" else {}
    etl: dict[str, Any] = {}
    if view.status == "SUCCEEDED":
        etl = json.loads(target.storage.read(result.input["EtlReportUri"]))
    payload = {key: (output.get(key) or {}).get("Payload") for key in ("stream", "drain")}
    # The full load is a Glue job: its report is the object it wrote.
    load_report = result.input["LoadReportUri"]
    load = (
        json.loads(target.storage.read(load_report)) if target.storage.exists(load_report) else None
    )
    return {
        "run_id": result.run_id,
        "status": view.status,
        "error": view.error,
        "cause": view.cause,
        "tables": {
            name: {"items": tables.get(name), "file_rows": rows} for name, rows in files.items()
        },
        "load": load,
        "stream": payload["stream"],
        "partitions": (payload["drain"] or {}).get("partitions"),
        "etl": etl,
        "athena": output.get("counts"),
        "metrics": (output.get("evaluate") or {}).get("Payload"),
        "recommendations": ((output.get("recommend") or {}).get("Payload") or {}).get(
            "recommendations"
        ),
    }


def print_summary(console: Any, summary: dict[str, Any]) -> None:
    style = "green" if summary["status"] == "SUCCEEDED" else "red"
    console.print(
        f"[bold {style}]{summary['status']}[/] in {summary['seconds']} s", highlight=False
    )
    if summary["error"]:
        console.print(f"[red]{summary['error']}[/]: {summary['cause']}", highlight=False)
    for name, counts in summary["tables"].items():
        console.print(
            f"table {name}: {counts['items']} items ({counts['file_rows']} file rows)",
            highlight=False,
        )
    load = summary.get("load") or {}
    if load:
        console.print(
            f"full load: {load['loaded']} items, {load['rejected']} rejected, "
            f"{load['items_per_second']} items/s; report {load['report_uri']}",
            highlight=False,
        )
    for partition, n in (summary.get("partitions") or {}).items():
        console.print(f"stream partition {partition}/: {n} records", highlight=False)
    etl = summary.get("etl") or {}
    if etl:
        console.print(
            f"ETL: {etl['batch_rows']} batch + {etl['stream_rows']} streamed rows, "
            f"{etl['dropped_rows']} dropped -> {etl['rating_rows']} ratings, "
            f"{etl['movies_rows']} movies, {etl['links_rows']} links in {etl['output_uri']}",
            highlight=False,
        )
    if summary.get("athena"):
        console.print(
            f"Athena: {summary['athena']['streamed']} streamed records "
            f"(Firehose delivered {summary['athena']['delivered']})",
            highlight=False,
        )
    metrics = summary.get("metrics") or {}
    if metrics:
        k = metrics.get("k", 10)
        console.print(
            f"metrics: accuracy {metrics['binary_classification_accuracy']}, "
            f"precision@{k} {metrics[f'precision_at_{k}']} "
            f"(popularity {metrics[f'baseline_precision_at_{k}']}), "
            f"recall@{k} {metrics[f'recall_at_{k}']} "
            f"(popularity {metrics[f'baseline_recall_at_{k}']})",
            highlight=False,
        )
    for rec in summary.get("recommendations") or []:
        console.print(f"user {rec['user']} ({rec['basis']}):", highlight=False)
        for item in rec["items"][:10]:
            console.print(f"  {item['title']}  {item['imdb_url'] or ''}", highlight=False)


def cmd_recommend(args: argparse.Namespace) -> int:
    from workflows import movie_local as ml
    from workflows.cli import _console
    from workflows.target import open_target

    settings = settings_of(args)
    new_user = args.user_id == "new"
    if new_user and not args.liked:
        raise UserError("recommend new: give the movies the new user liked with --liked ID ...")
    with open_target(args.state_dir) as target:
        answer = ml.recommend(
            target,
            settings,
            user_id=None if new_user else args.user_id,
            liked=args.liked,
            k=args.k,
        )
    if args.json:
        print(json.dumps(answer, indent=2))
        return ExitCode.OK
    console = _console()
    console.print(f"user {args.user_id} ({answer['basis']}):", highlight=False)
    for i, item in enumerate(answer["recommendations"], start=1):
        console.print(f"{i:2}. {item['title']}  {item['imdb_url'] or ''}", highlight=False)
    return ExitCode.OK


def cmd_build(args: argparse.Namespace) -> int:
    from workflows import movie_recommender as mr
    from workflows.cli import _console
    from workflows.target import new_run_id

    settings = settings_of(args)
    console = _console()
    if args.target == "aws":
        from workflows import movie_aws

        written = movie_aws.build(settings)
        for path in written:
            console.print(f"wrote {path}", highlight=False)
        return ExitCode.OK
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    files = {
        "definition.json": mr.definition(settings),
        "example-input.json": mr.example_input(settings, new_run_id()),
        "table-mappings.json": mr.mapping_document(settings),
    }
    for name, body in files.items():
        (out / name).write_text(json.dumps(body, indent=2) + "\n", encoding="utf-8")
        console.print(f"wrote {out / name}", highlight=False)
    return ExitCode.OK
