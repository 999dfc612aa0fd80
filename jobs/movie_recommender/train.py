"""Script-mode training entry point: the FM recommender on the ETL's training data.

Channels (``SM_CHANNEL_*``): ``rating``, ``movies``, ``links`` - the CSVs the ETL job writes
under ``ml/trainingdata/``.  Hyperparameters (``--name value``): ``factors``, ``epochs``,
``batch_size``, ``learning_rate``, ``l2``, ``negatives``, ``test_fraction``, ``seed``, ``k``.

Holds out ``test_fraction`` of each user's ratings, trains on the rest, and evaluates on the
held-out part as SageMaker's built-in factorization machines does with its ``test`` channel:
``binary_classification_accuracy`` (label ``rating >= 3``), plus precision@k / recall@k of
the top k unseen movies against a popularity baseline.  Writes ``model.npz``,
``catalog.json`` and ``evaluation.json`` to the model directory (``model.tar.gz``) and prints
each metric as ``#metric <name>=<value>`` for metric definitions.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from typing import Any

import numpy as np
from fm import train
from recommender import Recommender, encode, evaluate, learn_popularity, read_tables, split


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    parser.add_argument("--factors", type=int, default=16)
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--batch_size", type=int, default=512)
    parser.add_argument("--learning_rate", type=float, default=0.02)
    parser.add_argument("--l2", type=float, default=1e-4)
    parser.add_argument("--negatives", type=int, default=4)
    parser.add_argument("--test_fraction", type=float, default=0.2)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--k", type=int, default=10)
    parser.add_argument("--model-dir", default=os.environ.get("SM_MODEL_DIR", "model"))
    parser.add_argument("--rating", default=os.environ.get("SM_CHANNEL_RATING", "rating"))
    parser.add_argument("--movies", default=os.environ.get("SM_CHANNEL_MOVIES", "movies"))
    parser.add_argument("--links", default=os.environ.get("SM_CHANNEL_LINKS", "links"))
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> dict[str, Any]:
    args = parse_args(argv)
    started = time.perf_counter()
    ratings, movies, links = read_tables(args.rating, args.movies, args.links)
    catalog, users, items, values, genres = encode(ratings, movies, links)
    test = split(users, args.test_fraction, args.seed)
    print(
        f"{len(values)} ratings, {len(catalog.user_ids)} users, {len(catalog.movie_ids)} movies, "
        f"{len(catalog.genre_names)} genres; {int(test.sum())} held out",
        flush=True,
    )
    learn_popularity(catalog, users[~test], items[~test], values[~test])
    for u, m in zip(users, items, strict=True):
        catalog.rated.setdefault(int(u), []).append(int(m))
    train_users, train_items = users[~test], items[~test]
    common = {
        "n_users": len(catalog.user_ids),
        "factors": args.factors,
        "epochs": args.epochs,
        "batch_size": args.batch_size,
        "learning_rate": args.learning_rate,
        "l2": args.l2,
        "seed": args.seed,
    }
    like = train(
        train_users,
        train_items,
        (values[~test] >= 3.0).astype(float),
        genres,
        negatives=0,
        **common,
    )
    print(f"like model trained ({time.perf_counter() - started:.1f} s)", flush=True)
    watch = train(
        train_users,
        train_items,
        np.ones(len(train_users)),
        genres,
        negatives=args.negatives,
        **common,
    )
    print(f"watch model trained ({time.perf_counter() - started:.1f} s)", flush=True)
    rec = Recommender(like, watch, catalog)
    metrics = evaluate(rec, users, items, values, test, k=args.k)
    metrics["training_seconds"] = round(time.perf_counter() - started, 2)
    os.makedirs(args.model_dir, exist_ok=True)
    like.save(os.path.join(args.model_dir, "like.npz"))
    watch.save(os.path.join(args.model_dir, "watch.npz"))
    with open(os.path.join(args.model_dir, "catalog.json"), "w") as fh:
        json.dump(catalog.to_json(), fh)
    with open(os.path.join(args.model_dir, "evaluation.json"), "w") as fh:
        json.dump(metrics, fh, indent=2)
    for name, value in metrics.items():
        print(f"#metric {name}={value}", flush=True)
    return metrics


if __name__ == "__main__":
    np.seterr(over="ignore")
    main()
