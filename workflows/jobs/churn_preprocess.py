"""The churn preprocessing script, run by a SageMaker processing job (scikit-learn image).

``python3 churn_preprocess.py --input DIR --output DIR [--seed N]`` reads every CSV under
``--input`` (the raw churn files of one dimension, AWS sample's header), and writes under
``--output``:

* ``train/train.csv``, ``validation/validation.csv``, ``test/test.csv``: headerless, the
  label first (``Churn?``: ``True.`` -> 1, ``False.`` -> 0), then the features;
  shuffled with ``--seed`` and split 70/20/10;
* ``baseline/train.csv``: the training split's features with a header (the data-quality
  baseline's dataset);
* ``features/features.json``: the feature names in order, and the categories each one-hot
  column was built from.

Dropped: ``Dimension``, ``Phone`` and the four ``* Charge`` columns (each is its ``* Mins``
times a constant).  ``Area Code`` is categorical.  ``State``, ``Area Code``, ``Int'l Plan``
and ``VMail Plan`` are one-hot encoded (scikit-learn's ``OneHotEncoder``, categories sorted
as found in the data).  The module is importable too: :func:`fit` and :func:`encode` are what
the data generator uses to write inference files in the same feature order.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

LABEL = "Churn?"
POSITIVE = "True."
INFERENCE_LABEL = "Churn?_True."
DROPPED = ("Dimension", "Phone", "Day Charge", "Eve Charge", "Night Charge", "Intl Charge")
CATEGORICAL = ("State", "Area Code", "Int'l Plan", "VMail Plan")
SPLITS = (("train", 0.7), ("validation", 0.2), ("test", 0.1))


class DataError(ValueError):
    """The raw data cannot be preprocessed; the message names the column or the file."""


def read_raw(directory: Path) -> pd.DataFrame:
    files = sorted(p for p in directory.rglob("*.csv") if p.is_file())
    if not files:
        raise DataError(f"{directory}: no .csv files to preprocess")
    frames = [pd.read_csv(f, dtype={"Area Code": str}, skipinitialspace=True) for f in files]
    frame = pd.concat(frames, ignore_index=True)
    frame.columns = [str(c).strip().strip('"').strip("'").strip() for c in frame.columns]
    missing = [c for c in (LABEL, *CATEGORICAL) if c not in frame.columns]
    if missing:
        raise DataError(f"raw data: columns {missing} are missing; the header must have {LABEL!r}")
    return frame


def fit(frame: pd.DataFrame) -> Any:
    """A scikit-learn one-hot encoder of the categorical columns of ``frame``."""
    from sklearn.preprocessing import OneHotEncoder

    encoder = OneHotEncoder(handle_unknown="ignore", sparse_output=False, dtype=np.float64)
    encoder.fit(frame[list(CATEGORICAL)].astype(str))
    return encoder


def encode(frame: pd.DataFrame, encoder: Any) -> pd.DataFrame:
    """Label (0/1) first, the numeric features, then the one-hot columns."""
    numeric = frame.drop(columns=[c for c in (*DROPPED, *CATEGORICAL, LABEL) if c in frame])
    numeric = numeric.apply(pd.to_numeric, errors="raise").astype(np.float64)
    onehot = pd.DataFrame(
        encoder.transform(frame[list(CATEGORICAL)].astype(str)),
        columns=[str(c) for c in encoder.get_feature_names_out(list(CATEGORICAL))],
        index=frame.index,
    )
    labels = frame[LABEL].astype(str).str.strip()
    unknown = sorted(set(labels) - {POSITIVE, "False."})
    if unknown:
        raise DataError(f"column {LABEL!r}: values {unknown[:5]}; expected 'True.' or 'False.'")
    label = (labels == POSITIVE).astype(np.int64).rename(LABEL)
    return pd.concat([label, numeric, onehot], axis=1)


def split(encoded: pd.DataFrame, seed: int) -> dict[str, pd.DataFrame]:
    shuffled = encoded.sample(frac=1.0, random_state=seed).reset_index(drop=True)
    n = len(shuffled)
    train_end = round(n * SPLITS[0][1])
    validation_end = train_end + round(n * SPLITS[1][1])
    return {
        "train": shuffled.iloc[:train_end],
        "validation": shuffled.iloc[train_end:validation_end],
        "test": shuffled.iloc[validation_end:],
    }


def _write_csv(frame: pd.DataFrame, path: Path, *, header: bool) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    frame.to_csv(path, header=header, index=False, float_format="%.6g")


def run(input_dir: Path, output_dir: Path, seed: int) -> dict[str, int]:
    frame = read_raw(input_dir)
    encoder = fit(frame)
    encoded = encode(frame, encoder)
    parts = split(encoded, seed)
    for name, part in parts.items():
        if part.empty:
            raise DataError(f"{len(frame)} rows are too few: the {name} split is empty")
        _write_csv(part, output_dir / name / f"{name}.csv", header=False)
    _write_csv(
        parts["train"].drop(columns=[LABEL]), output_dir / "baseline" / "train.csv", header=True
    )
    features = {
        "features": [c for c in encoded.columns if c != LABEL],
        "categories": {
            c: [str(v) for v in values]
            for c, values in zip(CATEGORICAL, encoder.categories_, strict=True)
        },
    }
    (output_dir / "features").mkdir(parents=True, exist_ok=True)
    (output_dir / "features" / "features.json").write_text(json.dumps(features, indent=2))
    return {name: len(part) for name, part in parts.items()}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--input", default="/opt/ml/processing/input/data")
    parser.add_argument("--output", default="/opt/ml/processing/output")
    parser.add_argument("--seed", type=int, default=42)
    args = parser.parse_args(argv)
    try:
        counts = run(Path(args.input), Path(args.output), args.seed)
    except DataError as e:
        print(f"ClientError: {e}", file=sys.stderr)
        return 1
    print(json.dumps(counts))
    return 0


if __name__ == "__main__":
    sys.exit(main())
