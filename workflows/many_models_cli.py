"""``python -m workflows run many-models`` and ``build many-models``.

``run many-models [--dimensions N --rows R | --data DIR] [--fan-out] [--json]`` generates
(or takes) the data, deploys the use case on the local runtime, uploads the training files
(the retrain rule trains each dimension; with ``--fan-out`` the fan-out workflow does),
waits for every dimension, sends its inference file and prints per-dimension metrics,
endpoints and the rows scored into the table.

``build many-models`` writes both definitions and an example input; with ``--target aws``
also the CloudFormation stack (``cfn/many-models.yaml``).
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path
from typing import Any

from localaws.errors import UserError
from workflows.errors import ExitCode

NAME = "many-models"
DESCRIPTION = (
    "one churn model per dimension: fan-out training, registry, endpoints, inference via SQS"
)
DEFAULT_DIMENSIONS = 3
DEFAULT_ROWS = 2000


def add_run_arguments(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group(f"{NAME}")
    group.add_argument(
        "--dimensions",
        type=int,
        help=f"{NAME}: dimensions to generate (default {DEFAULT_DIMENSIONS})",
    )
    group.add_argument(
        "--fan-out", action="store_true", help=f"{NAME}: train through the fan-out workflow"
    )
    group.add_argument(
        "--timeout", type=float, default=3600.0, help=f"{NAME}: seconds to wait (default 3600)"
    )


def cmd_run(args: argparse.Namespace) -> int:
    from workflows import churn_data
    from workflows import many_models_run as mmr
    from workflows.many_models_settings import load
    from workflows.target import open_target

    settings = load(args.config)
    say = (lambda _: None) if args.json else (lambda text: print(text, flush=True))
    with tempfile.TemporaryDirectory(prefix="many-models-") as tmp:
        if args.data is not None:
            data_dir = Path(args.data)
            if not data_dir.is_dir():
                raise UserError(
                    f"--data {args.data}: not a directory; pass the folder holding "
                    "training-dataset/<Dimension>/*.csv (and inference-dataset/), or leave --data out"
                )
        else:
            data_dir = Path(tmp)
            count = args.dimensions or DEFAULT_DIMENSIONS
            rows = args.rows or DEFAULT_ROWS
            seed = settings.data.seed if args.seed is None else args.seed
            say(f"generating {count} dimensions x {rows:,} rows")
            churn_data.write_tree(data_dir, churn_data.dimension_names(count), rows, seed)
        started = time.perf_counter()
        with open_target(args.state_dir) as target:
            summary = mmr.run(
                target,
                settings,
                data_dir=data_dir,
                fan_out=args.fan_out,
                timeout=args.timeout,
                say=say,
            )
    summary.seconds["total"] = time.perf_counter() - started
    if args.json:
        print(json.dumps(summary.as_dict(), indent=2, default=str))
    else:
        print_summary(summary)
    return ExitCode.OK if summary.succeeded else ExitCode.FAILED


def print_summary(summary: Any) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(
        title=f"{NAME}: {'succeeded' if summary.succeeded else 'FAILED'}", title_justify="left"
    )
    for column in (
        "dimension",
        "training",
        "accuracy",
        "auc",
        "endpoint",
        "status",
        "versions",
        "rows scored",
    ):
        table.add_column(column)
    for r in summary.dimensions:
        table.add_row(
            r.dimension,
            r.status,
            "" if r.accuracy is None else f"{r.accuracy:.3f}",
            "" if r.auc is None else f"{r.auc:.3f}",
            r.endpoint,
            r.endpoint_status or "-",
            str(r.approved_versions),
            f"{r.rows_scored}/{r.rows_sent}",
        )
    console = Console(highlight=False)
    console.print(table)
    for r in summary.dimensions:
        if r.error:
            console.print(f"[red]{r.dimension}[/]: {r.error}")
    if summary.dead_letters:
        console.print(f"[red]{summary.dead_letters} messages in the dead-letter queue[/]")
    console.print("seconds: " + ", ".join(f"{k} {v:.1f}" for k, v in summary.seconds.items()))


def cmd_build(args: argparse.Namespace) -> int:
    from workflows import many_models as mm
    from workflows.many_models_settings import load

    settings = load(args.config)
    if getattr(args, "region", None):
        settings = load(args.config, region=args.region)
    out = Path(args.out if args.out != "build/workflow" else f"build/{NAME}")
    out.mkdir(parents=True, exist_ok=True)
    training_arn = (
        f"arn:aws:states:{settings.region}:123456789012:stateMachine:{settings.training_machine}"
    )
    files = {
        "training.asl.json": json.dumps(mm.training_definition(settings), indent=2) + "\n",
        "fanout.asl.json": json.dumps(mm.fanout_definition(settings, training_arn), indent=2)
        + "\n",
        "example-input.json": json.dumps(mm.training_input(settings, "dim01"), indent=2) + "\n",
    }
    if args.target == "aws":
        from workflows import many_models_aws

        files["many-models.cfn.yaml"] = many_models_aws.dump(many_models_aws.render(settings))
        many_models_aws.TEMPLATE.write_text(files["many-models.cfn.yaml"], encoding="utf-8")
        print(f"wrote {many_models_aws.TEMPLATE}")
    for name, text in files.items():
        (out / name).write_text(text, encoding="utf-8")
        print(f"wrote {out / name}")
    return ExitCode.OK
