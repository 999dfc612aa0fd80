"""The scikit-learn featurizer: a SageMaker processing job, and the inference module that serves it.

This file runs inside SageMaker's scikit-learn containers (locally: the same interpreter), so
it imports only the standard library, numpy, pandas, scikit-learn and joblib.

As a processing job (``python3 featurizer.py [--seed N] [--validation-fraction F]
[--test-fraction F]``) it reads the raw AI4I CSV under ``/opt/ml/processing/input/data``
(the real file too: a UTF-8 byte-order mark, units in ``[...]`` in the header), drops rows
whose values do not parse, splits the rest stratified on the label with a fixed seed, fits
``StandardScaler`` on the five numeric columns and ``OneHotEncoder`` on ``Type`` on the
training split only, and writes under ``/opt/ml/processing/output``::

    train/train.csv                 label, 8 features (headerless): the XGBoost channels
    validation/validation.csv
    test/test.csv                   label, raw reading (headerless): batch transform's input
    test-features/test_features.csv raw readings (headerless): the predict step's samples
    baseline/baseline.csv           training readings with a header: Model Monitor's baseline
    featurizer/model.tar.gz         featurizer.joblib + code/featurizer.py (this file)
    manifest.json                   counts, class balance, feature names

As the first container of the inference pipeline (``SAGEMAKER_PROGRAM=featurizer.py``,
``SAGEMAKER_SUBMIT_DIRECTORY=/opt/ml/model/code``) its ``model_fn`` / ``input_fn`` /
``predict_fn`` / ``output_fn`` turn raw CSV readings ``Type,Air temperature,Process
temperature,Rotational speed,Torque,Tool wear`` (``L,298.4,308.2,1582,70.7,216``) into the
feature rows the XGBoost container scores.
"""

from __future__ import annotations

import argparse
import codecs
import csv
import io
import json
import math
import os
import re
import shutil
import sys
import tarfile
import tempfile
from pathlib import Path
from typing import Any

TYPE = "Type"
NUMERIC = (
    "Air temperature",
    "Process temperature",
    "Rotational speed",
    "Torque",
    "Tool wear",
)
READING = (TYPE, *NUMERIC)  # the order of a raw reading, as the endpoint takes it
LABEL = "Machine failure"
TYPES = ("L", "M", "H")
FEATURES = (*NUMERIC, *(f"{TYPE}_{t}" for t in TYPES))
MODEL_FILE = "featurizer.joblib"
PROCESSING = Path("/opt/ml/processing")
MIN_PER_CLASS = 3


class ReadingError(ValueError):
    """A raw reading the featurizer cannot use; the message names the line and the field."""


# -- raw data ----------------------------------------------------------------------------------


def canonical(name: str) -> str:
    """``'\\ufeffAir temperature [K]'`` -> ``'air temperature'``: units, BOM, case and spaces go."""
    name = name.replace("\ufeff", "")
    name = re.sub(r"[\[(][^\])]*[\])]", "", name)
    return " ".join(name.split()).lower()


def read_raw(data: bytes, source: str) -> Any:
    """The raw AI4I CSV (or TSV) -> a frame of READING + LABEL; unparseable rows dropped."""
    import pandas as pd

    if data.startswith(codecs.BOM_UTF8):
        data = data[len(codecs.BOM_UTF8) :]
    first = data.split(b"\n", 1)[0]
    frame = pd.read_csv(io.BytesIO(data), sep="\t" if b"\t" in first else ",", dtype=str)
    by_name = {canonical(str(c)): c for c in frame.columns}
    wanted = {canonical(c): c for c in (*READING, LABEL)}
    missing = [c for key, c in wanted.items() if key not in by_name]
    if missing:
        raise ValueError(
            f"{source}: not the AI4I 2020 raw schema; missing columns {missing} (found "
            f"{list(frame.columns)}); the header must name {list(wanted.values())}, units in "
            "brackets allowed"
        )
    out = pd.DataFrame({wanted[key]: frame[by_name[key]] for key in wanted})
    out[TYPE] = out[TYPE].str.strip()
    for column in (*NUMERIC, LABEL):
        out[column] = pd.to_numeric(out[column].str.strip(), errors="coerce")
    valid = out[TYPE].isin(TYPES) & out[list(NUMERIC)].notna().all(axis=1)
    valid &= out[LABEL].isin((0, 1))
    out = out[valid].reset_index(drop=True)
    out[LABEL] = out[LABEL].astype(int)
    return out


def read_inputs(directory: Path) -> tuple[Any, int]:
    """Every CSV/TSV under ``directory``, concatenated; and the number of rows dropped."""
    import pandas as pd

    files = sorted(
        p for p in directory.rglob("*") if p.is_file() and p.suffix in (".csv", ".tsv", ".txt")
    )
    if not files:
        raise ValueError(f"{directory}: no .csv/.tsv/.txt file of raw AI4I data")
    frames, total = [], 0
    for path in files:
        data = path.read_bytes()
        total += max(len(data.splitlines()) - 1, 0)
        frames.append(read_raw(data, path.name))
    frame = pd.concat(frames, ignore_index=True)
    return frame, total - len(frame)


# -- the featurizer ----------------------------------------------------------------------------


def make_featurizer() -> Any:
    from sklearn.compose import ColumnTransformer
    from sklearn.preprocessing import OneHotEncoder, StandardScaler

    return ColumnTransformer(
        [
            ("numeric", StandardScaler(), list(NUMERIC)),
            (
                "type",
                OneHotEncoder(
                    categories=[list(TYPES)], handle_unknown="ignore", sparse_output=False
                ),
                [TYPE],
            ),
        ],
        sparse_threshold=0.0,
    )


def split(frame: Any, seed: int, validation: float, test: float) -> dict[str, Any]:
    """Stratified train / validation / test splits, reproducible by ``seed``."""
    from sklearn.model_selection import train_test_split

    counts = frame[LABEL].value_counts()
    if len(counts) < 2 or counts.min() < MIN_PER_CLASS:
        raise ValueError(
            f"{LABEL}: {dict(counts)} rows per class; a stratified split needs at least "
            f"{MIN_PER_CLASS} failures and {MIN_PER_CLASS} non-failures"
        )
    rest, test_rows = train_test_split(
        frame, test_size=test, stratify=frame[LABEL], random_state=seed
    )
    train_rows, validation_rows = train_test_split(
        rest,
        test_size=validation / (1.0 - test),
        stratify=rest[LABEL],
        random_state=seed,
    )
    return {"train": train_rows, "validation": validation_rows, "test": test_rows}


def feature_csv(matrix: Any, labels: Any = None) -> str:
    """Headerless CSV, full float precision (what the XGBoost container reads)."""
    import numpy as np

    data = np.asarray(matrix, dtype=np.float64)
    if labels is not None:
        data = np.column_stack([np.asarray(labels, dtype=np.float64), data])
    buffer = io.StringIO()
    np.savetxt(buffer, data, delimiter=",", fmt="%.17g")
    return buffer.getvalue()


def reading_csv(frame: Any, *, label: bool = False, header: bool = False) -> str:
    columns = [LABEL, *READING] if label else list(READING)
    return frame[columns].to_csv(index=False, header=header, float_format="%.10g")


def package(featurizer: Any, out: Path) -> None:
    """``model.tar.gz``: the fitted featurizer and this file as its inference code."""
    import joblib

    with tempfile.TemporaryDirectory() as tmp:
        joblib.dump(featurizer, Path(tmp) / MODEL_FILE)
        (Path(tmp) / "code").mkdir()
        shutil.copy(__file__, Path(tmp) / "code" / "featurizer.py")
        out.parent.mkdir(parents=True, exist_ok=True)
        with tarfile.open(out, "w:gz") as tar:
            tar.add(Path(tmp) / MODEL_FILE, arcname=MODEL_FILE)
            tar.add(Path(tmp) / "code" / "featurizer.py", arcname="code/featurizer.py")


def fit_and_write(frame: Any, dropped: int, out: Path, *, seed: int, validation: float,
                  test: float) -> dict[str, Any]:  # fmt: skip
    parts = split(frame, seed, validation, test)
    featurizer = make_featurizer().fit(parts["train"][list(READING)])
    files = {
        "train/train.csv": feature_csv(
            featurizer.transform(parts["train"][list(READING)]), parts["train"][LABEL]
        ),
        "validation/validation.csv": feature_csv(
            featurizer.transform(parts["validation"][list(READING)]), parts["validation"][LABEL]
        ),
        "test/test.csv": reading_csv(parts["test"], label=True),
        "test-features/test_features.csv": reading_csv(parts["test"]),
        "baseline/baseline.csv": reading_csv(parts["train"], header=True),
    }
    for rel, text in files.items():
        path = out / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    package(featurizer, out / "featurizer" / "model.tar.gz")
    positives = int(parts["train"][LABEL].sum())
    manifest = {
        "rows": {name: len(rows) for name, rows in parts.items()},
        "dropped_rows": dropped,
        "failures": {name: int(rows[LABEL].sum()) for name, rows in parts.items()},
        "scale_pos_weight": (len(parts["train"]) - positives) / max(positives, 1),
        "reading": list(READING),
        "features": list(FEATURES),
        "seed": seed,
    }
    (out / "manifest.json").write_text(json.dumps(manifest, indent=2), encoding="utf-8")
    return manifest


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="featurizer.py")
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--validation-fraction", type=float, default=0.15)
    parser.add_argument("--test-fraction", type=float, default=0.15)
    parser.add_argument("--input", default=str(PROCESSING / "input" / "data"))
    parser.add_argument("--output", default=str(PROCESSING / "output"))
    args = parser.parse_args(argv)
    if not 0 < args.validation_fraction + args.test_fraction < 1:
        parser.error("--validation-fraction + --test-fraction: must be between 0 and 1")
    frame, dropped = read_inputs(Path(args.input))
    manifest = fit_and_write(
        frame,
        dropped,
        Path(args.output),
        seed=args.seed,
        validation=args.validation_fraction,
        test=args.test_fraction,
    )
    print(json.dumps(manifest))
    return 0


# -- the inference container's hooks -------------------------------------------------------------


def parse_readings(text: str) -> Any:
    """Headerless CSV readings -> a frame of READING; :class:`ReadingError` names the problem."""
    import pandas as pd

    rows: list[list[Any]] = []
    for number, fields in enumerate(csv.reader(io.StringIO(text)), start=1):
        if not fields or all(not f.strip() for f in fields):
            continue
        rows.append(check_reading(fields, f"line {number}"))
    if not rows:
        raise ReadingError("no reading in the request; send lines of " + ",".join(READING))
    return pd.DataFrame(rows, columns=list(READING))


def check_reading(fields: list[str], where: str) -> list[Any]:
    """One reading's fields -> [type, five floats], or :class:`ReadingError`."""
    if len(fields) != len(READING):
        raise ReadingError(
            f"{where}: {len(fields)} fields; a reading has {len(READING)}: "
            f"{','.join(READING)} (e.g. L,298.4,308.2,1582,70.7,216)"
        )
    kind = fields[0].strip()
    if kind not in TYPES:
        raise ReadingError(f"{where}: {TYPE} {kind[:20]!r} is not one of {'/'.join(TYPES)}")
    values: list[Any] = [kind]
    for name, field in zip(NUMERIC, fields[1:], strict=True):
        try:
            value = float(field)
        except ValueError:
            raise ReadingError(f"{where}: {name} {field.strip()[:20]!r} is not a number") from None
        if not math.isfinite(value):
            raise ReadingError(f"{where}: {name} must be a finite number, got {field.strip()!r}")
        values.append(value)
    return values


def model_fn(model_dir: str) -> Any:
    import joblib

    return joblib.load(os.path.join(model_dir, MODEL_FILE))


def input_fn(body: bytes | str, content_type: str) -> Any:
    if content_type not in ("text/csv", "text/plain"):
        raise ReadingError(f"content type {content_type}: send text/csv readings")
    return parse_readings(body.decode("utf-8") if isinstance(body, bytes) else body)


def predict_fn(data: Any, model: Any) -> Any:
    return model.transform(data)


def output_fn(prediction: Any, accept: str) -> tuple[str, str]:
    return feature_csv(prediction), "text/csv"


if __name__ == "__main__":
    sys.exit(main())
