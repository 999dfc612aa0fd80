"""Churn data per dimension, shaped as the AWS "100x models" sample ships it.

Two trees under one directory:

* ``training-dataset/<Dimension>/<Dimension>.csv``: raw rows with the sample's header
  (:data:`COLUMNS`), the label ``Churn?`` as ``True.``/``False.``, balanced;
* ``inference-dataset/<Dimension>/<Dimension>.csv``: already preprocessed rows, as the
  sample ships them: a header, the ground truth ``Churn?_True.`` first, then the model's
  features in the order the preprocessing job writes them (the same encoder,
  :mod:`workflows.jobs.churn_preprocess`, fitted on that dimension's training rows).

The signal is learnable and differs per dimension: churn is more likely with more customer
service calls, an international plan, more day minutes and no voicemail plan, each with a
weight drawn per dimension; the label is the top half of that score plus logistic noise.

:func:`read_tree` reads such a directory (generated, or the sample's own ``dataset/``).
"""

from __future__ import annotations

import csv
import io
import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from localaws.errors import UserError

TRAINING_DIR = "training-dataset"
INFERENCE_DIR = "inference-dataset"
COLUMNS = (
    "Dimension", "State", "Account Length", "Area Code", "Phone", "Int'l Plan", "VMail Plan",
    "VMail Message", "Day Mins", "Day Calls", "Day Charge", "Eve Mins", "Eve Calls", "Eve Charge",
    "Night Mins", "Night Calls", "Night Charge", "Intl Mins", "Intl Calls", "Intl Charge",
    "CustServ Calls", "Churn?",
)  # fmt: skip
STATES = (
    "AK", "AL", "AR", "AZ", "CA", "CO", "CT", "DC", "DE", "FL", "GA", "HI", "IA", "ID", "IL",
    "IN", "KS", "KY", "LA", "MA", "MD", "ME", "MI", "MN", "MO", "MS", "MT", "NC", "ND", "NE",
    "NH", "NJ", "NM", "NV", "NY", "OH", "OK", "OR", "PA", "RI", "SC", "SD", "TN", "TX", "UT",
    "VA", "VT", "WA", "WI", "WV", "WY",
)  # fmt: skip
AREA_CODES = tuple(round(657 + i * (878 - 657) / 32) for i in range(33))
# Per-minute charges (each "* Charge" column is its minutes times this).
CHARGE_PER_MIN = {"Day": 0.17, "Eve": 0.085, "Night": 0.045, "Intl": 0.27}
DIMENSION_NAME = re.compile(r"^[A-Za-z0-9](-?[A-Za-z0-9])*$")


def dimension_names(count: int) -> list[str]:
    """``dim01`` .. ``dimNN``: valid in endpoint, job and model package group names."""
    if count < 1:
        raise UserError(f"--dimensions {count}: give at least 1")
    width = max(2, len(str(count)))
    return [f"dim{i:0{width}d}" for i in range(1, count + 1)]


def generate(dimension: str, rows: int, seed: int) -> pd.DataFrame:
    """``rows`` raw churn rows of one dimension (seeded by ``seed`` and the name)."""
    if rows < 1:
        raise UserError(f"rows {rows}: give at least 1")
    rng = np.random.default_rng([seed, *dimension.encode()])
    n = rows
    day = rng.gamma(9.0, 20.0, n).clip(0, 400)
    eve = rng.normal(200, 50, n).clip(0, 380)
    night = rng.normal(200, 50, n).clip(20, 400)
    intl = rng.normal(10, 2.8, n).clip(0, 20)
    custserv = rng.poisson(1.6, n)
    intl_plan = rng.random(n) < 0.1
    vmail_plan = rng.random(n) < 0.28
    vmail_msgs = np.where(vmail_plan, rng.integers(5, 50, n), 0)
    weights = rng.normal([0.9, 1.1, 0.8, -0.7, 0.3], 0.15)  # this dimension's own model
    z = (
        weights[0] * (custserv - 1.6) / 1.3
        + weights[1] * intl_plan * 2.0
        + weights[2] * (day - 180) / 60
        + weights[3] * vmail_plan * 1.5
        + weights[4] * (eve - 200) / 50
    )
    score = z + rng.logistic(0.0, 0.6, n)
    churn = score > np.median(score)
    frame = pd.DataFrame(
        {
            "Dimension": dimension,
            "State": rng.choice(STATES, n),
            "Account Length": rng.integers(1, 240, n),
            "Area Code": rng.choice(AREA_CODES, n),
            "Phone": [
                f"{a}-{b:04d}"
                for a, b in zip(rng.integers(200, 999, n), rng.integers(0, 9999, n), strict=True)
            ],
            "Int'l Plan": np.where(intl_plan, "yes", "no"),
            "VMail Plan": np.where(vmail_plan, "yes", "no"),
            "VMail Message": vmail_msgs,
            "Day Mins": day.round(1),
            "Day Calls": rng.poisson(100, n),
            "Day Charge": (day * CHARGE_PER_MIN["Day"]).round(2),
            "Eve Mins": eve.round(1),
            "Eve Calls": rng.poisson(100, n),
            "Eve Charge": (eve * CHARGE_PER_MIN["Eve"]).round(2),
            "Night Mins": night.round(1),
            "Night Calls": rng.poisson(100, n),
            "Night Charge": (night * CHARGE_PER_MIN["Night"]).round(2),
            "Intl Mins": intl.round(1),
            "Intl Calls": rng.poisson(4.5, n),
            "Intl Charge": (intl * CHARGE_PER_MIN["Intl"]).round(2),
            "CustServ Calls": custserv,
            "Churn?": np.where(churn, "True.", "False."),
        },
        columns=list(COLUMNS),
    )
    return frame


def inference_frame(training: pd.DataFrame, fresh: pd.DataFrame) -> pd.DataFrame:
    """``fresh`` raw rows preprocessed as the sample's inference files: ``Churn?_True.``
    (ground truth) first, then the features in training order (the encoder fitted on
    ``training``)."""
    from workflows.jobs import churn_preprocess as pre

    encoded = pre.encode(fresh, pre.fit(training))
    return encoded.rename(columns={pre.LABEL: pre.INFERENCE_LABEL})


@dataclass
class Dimension:
    """One dimension's files in a data directory."""

    name: str
    training: list[Path] = field(default_factory=list)
    inference: list[Path] = field(default_factory=list)


def write_tree(
    root: Path, dimensions: list[str], rows: int, seed: int, *, inference_rows: int | None = None
) -> list[Dimension]:
    """Generate both trees under ``root``; return what was written, per dimension."""
    if rows < 20:
        raise UserError(f"--rows {rows}: give at least 20 rows per dimension (70/20/10 split)")
    written = []
    inference_rows = inference_rows or max(10, rows // 10)
    for name in dimensions:
        training = generate(name, rows, seed)
        fresh = generate(name, inference_rows, seed + 1)
        train_path = root / TRAINING_DIR / name / f"{name}.csv"
        infer_path = root / INFERENCE_DIR / name / f"{name}.csv"
        for path in (train_path, infer_path):
            path.parent.mkdir(parents=True, exist_ok=True)
        training.to_csv(train_path, index=False)
        inference_frame(training, fresh).to_csv(infer_path, index=False, float_format="%.6g")
        written.append(Dimension(name, [train_path], [infer_path]))
    return written


def read_tree(root: Path) -> list[Dimension]:
    """The dimensions of a data directory: ``training-dataset/<Dimension>/*.csv``, and
    ``inference-dataset/<Dimension>/*.csv`` when present."""
    training_root = root / TRAINING_DIR
    if not training_root.is_dir():
        raise UserError(
            f"--data {root}: no {TRAINING_DIR}/ directory; expected "
            f"{TRAINING_DIR}/<Dimension>/<file>.csv (and optionally {INFERENCE_DIR}/<Dimension>/)"
        )
    found = []
    for directory in sorted(p for p in training_root.iterdir() if p.is_dir()):
        name = directory.name
        if not DIMENSION_NAME.match(name) or len(name) > 40:
            raise UserError(
                f"--data {root}: dimension {name!r}: use letters, digits and single hyphens, "
                "at most 40 characters (it names the endpoint and the registry group)"
            )
        files = sorted(directory.glob("*.csv"))
        if not files:
            continue
        inference = sorted((root / INFERENCE_DIR / name).glob("*.csv"))
        found.append(Dimension(name, files, inference))
    if not found:
        raise UserError(f"--data {root}: no CSV files under {TRAINING_DIR}/<Dimension>/")
    return found


def read_inference_rows(text: str) -> tuple[list[str], list[list[str]]]:
    """(header, rows) of an inference file, read with a real CSV parser; stray quotes and
    spaces around the header's names are removed."""
    reader = csv.reader(io.StringIO(text))
    rows = [row for row in reader if row]
    if not rows:
        return [], []
    header = [name.strip().strip('"').strip("'").strip() for name in rows[0]]
    return header, rows[1:]
