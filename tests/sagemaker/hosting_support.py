"""Models packaged as SageMaker packages them, for the hosting and transform tests."""

from __future__ import annotations

import io
import pickle
import tarfile
import textwrap
from pathlib import Path

import numpy as np
import xgboost as xgb

N_FEATURES = 5

FEATURIZER = textwrap.dedent(
    '''
    """A scikit-learn featurizer in script mode: scales CSV rows, answers CSV."""
    import io
    import os

    import joblib
    import numpy as np


    def model_fn(model_dir):
        return joblib.load(os.path.join(model_dir, "scaler.joblib"))


    def input_fn(body, content_type):
        if content_type != "text/csv":
            raise ValueError("featurizer takes text/csv, not " + content_type)
        return np.loadtxt(io.BytesIO(body), delimiter=",", ndmin=2)


    def predict_fn(data, model):
        return model.transform(data)


    def output_fn(prediction, accept):
        buffer = io.StringIO()
        np.savetxt(buffer, prediction, delimiter=",", fmt="%.17g")
        return buffer.getvalue()
    '''
)

SCALER_HOOKS = textwrap.dedent(
    '''
    """Every hook written by the user: multiplies the features' sum by a factor."""
    import json
    import os

    import numpy as np


    def model_fn(model_dir):
        with open(os.path.join(model_dir, "factor.json")) as fh:
            return json.load(fh)["factor"]


    def input_fn(body, content_type):
        if content_type == "application/json":
            return np.array(json.loads(body)["rows"], dtype=float)
        raise ValueError("unsupported content type " + content_type)


    def predict_fn(data, model):
        if data.size == 0:
            raise RuntimeError("no rows")
        return data.sum(axis=1) * model


    def output_fn(prediction, accept):
        return json.dumps({"sums": prediction.tolist(), "accept": accept})
    '''
)

DEFAULTS_ONLY = textwrap.dedent(
    '''
    """Only model_fn: the toolkit's default input, predict and output functions do the rest."""
    import os

    import joblib


    def model_fn(model_dir):
        return joblib.load(os.path.join(model_dir, "model.joblib"))
    '''
)


def dataset(n_rows: int = 300, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n_rows, N_FEATURES)).astype(np.float32)
    y = (X[:, 0] + 0.5 * X[:, 1] > 0).astype(np.float32)
    return X, y


def train_booster(X: np.ndarray, y: np.ndarray, rounds: int = 10) -> xgb.Booster:
    params = {"objective": "binary:logistic", "max_depth": 3, "nthread": 1}
    return xgb.train(params, xgb.DMatrix(X, label=y), num_boost_round=rounds)


def tar_gz(files: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def builtin_model_tar(booster: xgb.Booster, *, pickled: bool = False) -> bytes:
    """model.tar.gz as the XGBoost container writes it: one file, ``xgboost-model``."""
    if pickled:
        return tar_gz({"xgboost-model": pickle.dumps(booster)})
    raw = booster.save_raw(raw_format="ubj")
    return tar_gz({"xgboost-model": bytes(raw)})


def extract(data: bytes, dest: Path) -> Path:
    dest.mkdir(parents=True, exist_ok=True)
    with tarfile.open(fileobj=io.BytesIO(data)) as tar:
        tar.extractall(dest, filter="data")
    return dest


def csv_rows(X: np.ndarray) -> bytes:
    return "\n".join(",".join(repr(float(v)) for v in row) for row in X).encode()


def container_scores(preds: np.ndarray) -> bytes:
    """What the XGBoost container answers for text/csv outside batch transform."""
    return ",".join(map(str, preds.tolist())).encode()
