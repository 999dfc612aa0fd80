"""The featurizer job's script (workflows/jobs/featurizer.py), run in process and as the job's
command line would run it: the published file's header, the split, the fitted featurizer."""

from __future__ import annotations

import codecs
import json
import subprocess
import sys
import tarfile
from pathlib import Path

import joblib
import numpy as np
import pandas as pd
import pytest

from workflows import ai4i_data
from workflows.jobs import featurizer

SCRIPT = Path(featurizer.__file__)


@pytest.fixture(scope="module")
def published() -> bytes:
    """Generated rows written as the UCI file is: a BOM and units in brackets."""
    return codecs.BOM_UTF8 + ai4i_data.generate(2000, 5).to_csv(index=False).encode()


@pytest.mark.parametrize(
    ("header", "canonical"),
    [
        ("\ufeffUDI", "udi"),
        ("Air temperature [K]", "air temperature"),
        ("Rotational speed (rpm)", "rotational speed"),
        ("  Tool   wear [min] ", "tool wear"),
    ],
)
def test_header_names_lose_units_bom_and_spacing(header: str, canonical: str) -> None:
    assert featurizer.canonical(header) == canonical


def test_the_published_file_reads_with_its_bom_and_brackets(published: bytes) -> None:
    frame = featurizer.read_raw(published, "ai4i2020.csv")
    assert list(frame.columns) == [*featurizer.READING, featurizer.LABEL]
    assert len(frame) == 2000
    assert set(frame["Type"]) <= set(featurizer.TYPES)


def test_unparseable_rows_are_dropped_and_a_wrong_schema_is_refused() -> None:
    text = "Type,Air temperature [K],Process temperature [K],Rotational speed [rpm],Torque [Nm],Tool wear [min],Machine failure\n"
    text += "L,298.1,308.6,1551,42.8,0,0\nX,298.1,308.6,1551,42.8,0,0\nM,hot,308.6,1551,42.8,0,1\n"
    frame = featurizer.read_raw(text.encode(), "rows.csv")
    assert frame.to_dict("records") == [
        {"Type": "L", "Air temperature": 298.1, "Process temperature": 308.6,
         "Rotational speed": 1551.0, "Torque": 42.8, "Tool wear": 0.0, "Machine failure": 0}
    ]  # fmt: skip
    with pytest.raises(ValueError, match=r"missing columns \['Torque', 'Tool wear'"):
        featurizer.read_raw(
            b"Type,Air temperature,Process temperature,Rotational speed,Machine failure\n", "x.csv"
        )


def test_split_is_stratified_and_reproducible(published: bytes) -> None:
    frame = featurizer.read_raw(published, "ai4i2020.csv")
    first = featurizer.split(frame, 7, 0.15, 0.15)
    again = featurizer.split(frame, 7, 0.15, 0.15)
    other = featurizer.split(frame, 8, 0.15, 0.15)
    assert {k: len(v) for k, v in first.items()} == {"train": 1400, "validation": 300, "test": 300}
    assert all(first[k].index.equals(again[k].index) for k in first)
    assert not first["test"].index.equals(other["test"].index)
    rate = frame[featurizer.LABEL].mean()
    for part in first.values():
        assert part[featurizer.LABEL].mean() == pytest.approx(rate, abs=0.01)


def test_the_job_writes_features_readings_baseline_and_the_fitted_featurizer(
    published: bytes, tmp_path: Path
) -> None:
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "ai4i2020.csv").write_bytes(published)
    out = tmp_path / "out"
    done = subprocess.run(
        [sys.executable, str(SCRIPT), "--input", str(tmp_path / "in"), "--output", str(out),
         "--seed", "3"],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["rows"] == {"train": 1400, "validation": 300, "test": 300}
    assert manifest["features"] == [*featurizer.NUMERIC, "Type_L", "Type_M", "Type_H"]
    train = np.loadtxt(out / "train" / "train.csv", delimiter=",")
    assert train.shape == (1400, 9) and set(np.unique(train[:, 0])) <= {0.0, 1.0}
    # Scaled on the training split: mean 0 and unit variance; one-hot columns are 0/1.
    np.testing.assert_allclose(train[:, 1:6].mean(axis=0), 0, atol=1e-9)
    np.testing.assert_allclose(train[:, 1:6].std(axis=0), 1, atol=1e-9)
    assert (train[:, 6:].sum(axis=1) == 1).all()
    test = (out / "test" / "test.csv").read_text().splitlines()
    assert len(test) == 300 and test[0].split(",")[1] in featurizer.TYPES
    samples = (out / "test-features" / "test_features.csv").read_text().splitlines()
    assert samples == [line.split(",", 1)[1] for line in test]
    baseline = pd.read_csv(out / "baseline" / "baseline.csv")
    assert list(baseline.columns) == list(featurizer.READING) and len(baseline) == 1400
    with tarfile.open(out / "featurizer" / "model.tar.gz") as tar:
        assert sorted(tar.getnames()) == ["code/featurizer.py", featurizer.MODEL_FILE]
        tar.extractall(tmp_path / "model", filter="data")
    fitted = joblib.load(tmp_path / "model" / featurizer.MODEL_FILE)
    reading = featurizer.parse_readings("L,298.4,308.2,1582,70.7,216")
    assert fitted.transform(reading).shape == (1, 8)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("L,298.4,308.2", "line 1: 3 fields; a reading has 6"),
        ("Q,298.4,308.2,1582,70.7,216", "line 1: Type 'Q' is not one of L/M/H"),
        ("L,298.4,308.2,1582,70.7,216\nL,298.4,308.2,fast,70.7,216", "line 2: Rotational speed 'fast' is not a number"),
        ("L,298.4,308.2,1582,inf,216", "line 1: Torque must be a finite number"),
        ("\n\n", "no reading in the request"),
    ],
    ids=["fields", "type", "number", "finite", "empty"],
)  # fmt: skip
def test_the_inference_hooks_name_a_bad_reading(text: str, message: str) -> None:
    with pytest.raises(featurizer.ReadingError, match=message):
        featurizer.input_fn(text.encode(), "text/csv")


def test_the_inference_hooks_answer_csv_features(tmp_path: Path, published: bytes) -> None:
    frame = featurizer.read_raw(published, "ai4i2020.csv")
    fitted = featurizer.make_featurizer().fit(frame[list(featurizer.READING)])
    joblib.dump(fitted, tmp_path / featurizer.MODEL_FILE)
    model = featurizer.model_fn(str(tmp_path))
    data = featurizer.input_fn(b"L,298.4,308.2,1582,70.7,216\nH,300,310,1400,40,10\n", "text/csv")
    body, content_type = featurizer.output_fn(featurizer.predict_fn(data, model), "text/csv")
    assert content_type == "text/csv"
    rows = np.loadtxt(body.splitlines(), delimiter=",", ndmin=2)
    np.testing.assert_array_equal(rows, fitted.transform(data))
    assert rows[:, 5:].tolist() == [[1.0, 0.0, 0.0], [0.0, 0.0, 1.0]]
