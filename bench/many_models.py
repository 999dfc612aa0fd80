"""Many models: the fan-out workflow against a plain Python loop, in the same run.

``python -m bench.many_models [--dimensions 100] [--rows 5000] [--max-concurrency 2]``
generates the churn tree once, then measures:

* **baseline**: one Python process looping over the dimensions, doing the same preprocessing
  (:mod:`workflows.jobs.churn_preprocess`) and ``xgboost.train`` with the workflow's
  hyperparameters (early stopping on the validation AUC);
* **workflow**: the use case on the local runtime with plain training: the fan-out workflow
  (Distributed Map, ``MaxConcurrency`` as given) running each dimension's whole training
  workflow (processing jobs, baselines, training, evaluation, transform, registry, endpoint).

Total wall time, seconds per dimension and peak RSS (the largest process: the baseline's,
or the runtime's and its largest job or model server), and the ratio workflow / baseline.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

from bench.report import print_table


def baseline(data_dir: Path, work: Path) -> float:
    """The plain loop (run in its own process, so its peak RSS is its own); its seconds,
    imports excluded."""
    import pandas as pd
    import xgboost

    from workflows.jobs import churn_preprocess
    from workflows.many_models_settings import load

    hp = dict(load().training.hyperparameters)
    rounds = int(hp.pop("num_round"))
    early = int(hp.pop("early_stopping_rounds"))
    started = time.perf_counter()
    for directory in sorted((data_dir / "training-dataset").iterdir()):
        out = work / directory.name
        churn_preprocess.run(directory, out, 42)
        train = pd.read_csv(out / "train" / "train.csv", header=None)
        validation = pd.read_csv(out / "validation" / "validation.csv", header=None)
        dtrain = xgboost.DMatrix(train.iloc[:, 1:], train[0])
        dvalid = xgboost.DMatrix(validation.iloc[:, 1:], validation[0])
        xgboost.train(
            hp, dtrain, rounds, evals=[(dvalid, "validation")], early_stopping_rounds=early,
            verbose_eval=False,
        )  # fmt: skip
    return time.perf_counter() - started


def peak_mb(who: int) -> float:
    return resource.getrusage(who).ru_maxrss / 1024


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--dimensions", type=int, default=100)
    parser.add_argument("--rows", type=int, default=5000)
    parser.add_argument("--max-concurrency", type=int, default=2)
    parser.add_argument("--baseline-only", metavar="DATA_DIR", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.baseline_only:
        with tempfile.TemporaryDirectory() as work:
            print(json.dumps({"seconds": baseline(Path(args.baseline_only), Path(work))}))
        return 0

    from workflows import churn_data
    from workflows import many_models_run as mmr
    from workflows.many_models_settings import load
    from workflows.target import LocalTarget

    with tempfile.TemporaryDirectory(prefix="bench-many-models-") as tmp:
        root = Path(tmp)
        names = churn_data.dimension_names(args.dimensions)
        churn_data.write_tree(root / "data", names, args.rows, seed=42)

        done = subprocess.run(
            [sys.executable, "-m", "bench.many_models", "--baseline-only", str(root / "data")],
            check=True,
            capture_output=True,
            text=True,
        )
        base_seconds = float(json.loads(done.stdout.strip().splitlines()[-1])["seconds"])
        base_peak = peak_mb(resource.RUSAGE_CHILDREN)

        settings = load(**{"fanout.max_concurrency": args.max_concurrency})
        with LocalTarget(root / "state") as target:
            deployed = mmr.deploy(target, settings, trigger=False)
            started = time.perf_counter()
            after = datetime.now(UTC)
            s3 = mmr.clients(target)("s3")
            for dim in churn_data.read_tree(root / "data"):
                for path in dim.training:
                    s3.put_object(
                        Bucket=settings.data.bucket,
                        Key=f"{settings.data.training_prefix}{dim.name}/{path.name}",
                        Body=path.read_bytes(),
                    )
            view = target.follow(target.start(deployed.fanout_arn, {}), poll_seconds=1.0)
            results = mmr.wait_for_training(target, settings, deployed, names, after, timeout=60)
            flow_seconds = time.perf_counter() - started
        flow_peak = max(peak_mb(resource.RUSAGE_SELF), peak_mb(resource.RUSAGE_CHILDREN))
        ok = sum(r.status == "SUCCEEDED" for r in results)

    n = args.dimensions
    print_table(
        f"many models: {n} dimensions x {args.rows:,} rows, plain training, "
        f"MaxConcurrency {args.max_concurrency} (fan-out {view.status}, {ok}/{n} succeeded)",
        [("", 44), ("total s", 10), ("s/dimension", 12), ("peak RSS MB", 12), ("ratio", 7)],
        [
            [
                "plain loop: preprocess + xgboost.train",
                f"{base_seconds:.1f}",
                f"{base_seconds / n:.2f}",
                f"{base_peak:.0f}",
                "1.00x",
            ],
            [
                "fan-out workflow (whole pipeline)",
                f"{flow_seconds:.1f}",
                f"{flow_seconds / n:.2f}",
                f"{flow_peak:.0f}",
                f"{flow_seconds / base_seconds:.2f}x",
            ],
        ],
    )
    print(json.dumps({"baseline_s": base_seconds, "workflow_s": flow_seconds}))
    return 0 if ok == n else 1


if __name__ == "__main__":
    sys.exit(main())
