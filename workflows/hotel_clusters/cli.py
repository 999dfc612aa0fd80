"""The hotel-cluster commands of ``python -m workflows``:

* ``run hotel-clusters [--rows N | --data DIR] [--seed N] [--threshold X] [--json]``:
  ingestion, training, deployment, then a test sample streamed through Kinesis; prints
  accuracy, stream-to-table latency and item counts (exit 0 only when every streamed event
  became one item);
* ``build hotel-clusters [--target aws]``: the two ASL definitions, or the CloudFormation
  stack ``cfn/hotel-clusters.yaml``;
* ``lineage hotel-clusters [--svg FILE]``: the deployed endpoint's lineage.

Every command reads :class:`~workflows.hotel_clusters.workflow.HotelSettings` from the
``hotel_clusters:`` section of ``--config FILE`` (:func:`settings`).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from localaws.errors import UserError
from workflows.errors import ExitCode
from workflows.hotel_clusters import workflow as wf

USE_CASE = wf.NAME


def settings(args: argparse.Namespace) -> wf.HotelSettings:
    """The ``hotel_clusters:`` section of ``--config FILE`` (else ``$WORKFLOWS_CONFIG``) over
    the defaults; ``run``'s ``--rows``, ``--seed`` and ``--threshold`` over both."""
    overrides = {
        "rows": getattr(args, "rows", None),
        "seed": getattr(args, "seed", None),
        "min_accuracy": getattr(args, "threshold", None),
    }
    return wf.load_settings(getattr(args, "config", None), overrides)


def cmd_run(args: argparse.Namespace, console: Any) -> int:
    from workflows.hotel_clusters.run import run
    from workflows.target import open_target

    if args.data is not None and not Path(args.data).is_dir():
        raise UserError(
            f"--data {args.data}: no such directory; pass a directory holding train.csv and "
            "destinations.csv, or leave --data out to generate rows"
        )
    s = settings(args)
    quiet = bool(getattr(args, "json", False))

    def phase(text: str) -> None:
        if not quiet:
            console.print(f"[dim]{text}[/]", highlight=False)

    with open_target(args.state_dir) as target:
        result = run(target, s, rows=s.rows, data_dir=args.data, run_id=args.run_id, on_phase=phase)
    report = result.report()
    if quiet:
        print(json.dumps(report, indent=2, default=str))
    else:
        for line in report_lines(report):
            console.print(line, highlight=False)
    return ExitCode.OK if result.succeeded else ExitCode.FAILED


def report_lines(report: dict[str, Any]) -> list[str]:
    stream = report.get("stream") or {}
    lines = [
        f"ingestion {report['ingestion']}, training {report['training']} (run {report['run_id']})",
        "ingested: " + ", ".join(f"{k} {v}" for k, v in report["ingested"].items()),
    ]
    if report.get("error"):
        lines.append(f"error: {report['error']}")
    if report.get("test_accuracy") is not None:
        lines.append(
            f"test accuracy {report['test_accuracy']:.4f}, "
            f"top-5 accuracy {report['test_top5_accuracy']:.4f}"
        )
    if stream:
        from workflows.hotel_clusters.run import stream_line

        lines.append(stream_line(stream))
    if report.get("predict_url"):
        lines.append(f"one event at a time: POST {report['predict_url']}")
    lines.append("seconds: " + ", ".join(f"{k} {v}" for k, v in report["seconds"].items()))
    return lines


def cmd_build(args: argparse.Namespace, console: Any) -> int:
    s = settings(args)
    if args.target == "aws":
        from workflows.hotel_clusters import aws

        path = aws.write_template()
        console.print(f"wrote {path}", highlight=False)
        return ExitCode.OK
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    for name, definition in (
        ("ingestion.json", wf.ingestion_definition(s)),
        ("training.json", wf.training_definition(s)),
    ):
        (out / name).write_text(json.dumps(definition, indent=2) + "\n", encoding="utf-8")
        console.print(f"wrote {out / name}", highlight=False)
    return ExitCode.OK


def cmd_lineage(args: argparse.Namespace, console: Any) -> int:
    from workflows.hotel_clusters import insight
    from workflows.target import open_target

    s = settings(args)
    with open_target(args.state_dir) as target:
        graph = insight.lineage(target, s.endpoint)
    for line in insight.lineage_lines(graph):
        console.print(line, highlight=False)
    if args.svg:
        Path(args.svg).write_text(insight.lineage_svg(graph), encoding="utf-8")
        console.print(f"wrote {args.svg}", highlight=False)
    return ExitCode.OK
