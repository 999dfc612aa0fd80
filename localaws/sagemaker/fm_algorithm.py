"""The built-in Factorization Machines algorithm, run locally: training and its predictor.

The image ``sagemaker.image_uris.retrieve("factorization-machines", region)`` (repository
``factorization-machines``) maps here.  As on AWS:

* hyperparameters ``feature_dim``, ``num_factors``, ``predictor_type`` (``binary_classifier``
  or ``regressor``) are required; ``epochs`` (1), ``mini_batch_size`` (1000), the
  ``bias_*`` / ``linear_*`` / ``factors_*`` learning rates, weight decays and initialisers
  have AWS's defaults; an unknown one is refused before the job starts;
* channel ``train`` (required) and ``test`` (optional) hold ``application/x-recordio-protobuf``
  records (dense or sparse ``values`` features, a ``values`` label), as
  ``sagemaker.amazon.common.write_spmatrix_to_sparse_tensor`` writes them;
* with a ``test`` channel the job reports ``test:binary_classification_accuracy``,
  ``test:binary_classification_cross_entropy``, ``test:binary_f_beta`` (classifier) or
  ``test:rmse`` (regressor), printed as the container prints them (``#quality_metric: ...``);
* the model is ``model_algo-1`` in ``model.tar.gz``.

The model is Rendle's second-order FM, ``y = w0 + <w, x> + 1/2 sum_f ((x V)_f^2 - (x^2 V^2)_f)``,
with a logistic link for the classifier, trained by minibatch Adam with per-term learning
rates and weight decays.  Locally ``model_algo-1`` is a NumPy ``.npz`` archive (``w0``, ``w``,
``V``, ``predictor_type``), not the container's MXNet parameter file: a model trained here
is served here.

Run as ``python -m localaws.sagemaker.fm_algorithm <spec.json>`` (the training worker).
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from localaws.errors import UserError
from localaws.sagemaker import algorithm_worker, recordio
from localaws.sagemaker.hyperparameters import Hyperparameter, HyperparameterError, Interval

REPOSITORY = "factorization-machines"
MODEL_NAME = "model_algo-1"
CONTENT_TYPE = recordio.CONTENT_TYPE
CHANNELS = ("train", "test")
CLASSIFIER, REGRESSOR = "binary_classifier", "regressor"
ALGORITHM = "the built-in Factorization Machines algorithm"

_POS = Interval(low=0, low_open=True)
_NONNEG = Interval(low=0)
_INIT = ("normal", "uniform", "constant")


def _hp(name: str, kind: str, **kw: Any) -> Hyperparameter:
    return Hyperparameter(name, kind, **kw)


HYPERPARAMETERS: dict[str, Hyperparameter] = {
    h.name: h
    for h in (
        _hp("feature_dim", "int", range=Interval(low=1), required=True),
        _hp("num_factors", "int", range=Interval(low=1), required=True),
        _hp("predictor_type", "categorical", choices=(CLASSIFIER, REGRESSOR), required=True),
        _hp("epochs", "int", range=Interval(low=1)),
        _hp("mini_batch_size", "int", range=Interval(low=1)),
        _hp("eps", "float", range=_POS),
        _hp("clip_gradient", "float", range=_POS),
        _hp("rescale_grad", "float", range=_POS),
        *(
            h
            for term in ("bias", "linear", "factors")
            for h in (
                _hp(f"{term}_lr", "float", range=_NONNEG),
                _hp(f"{term}_wd", "float", range=_NONNEG),
                _hp(f"{term}_init_method", "categorical", choices=_INIT),
                _hp(f"{term}_init_scale", "float", range=_NONNEG),
                _hp(f"{term}_init_sigma", "float", range=_NONNEG),
                _hp(f"{term}_init_value", "float"),
            )
        ),
        _hp("_tuning_objective_metric", "str"),
        _hp("_kvstore", "str"),
        _hp("_num_gpus", "str"),
        _hp("_num_kv_servers", "str"),
        _hp("seed", "int"),  # not on AWS (the container is not seedable): local reproducibility
    )
}

# AWS's documented defaults.
DEFAULTS: dict[str, Any] = {
    "epochs": 1,
    "mini_batch_size": 1000,
    "eps": 1e-8,
    "rescale_grad": 1.0,
    "bias_lr": 0.1,
    "bias_wd": 0.01,
    "bias_init_method": "normal",
    "bias_init_sigma": 0.01,
    "linear_lr": 0.001,
    "linear_wd": 0.001,
    "linear_init_method": "normal",
    "linear_init_sigma": 0.01,
    "factors_lr": 0.0001,
    "factors_wd": 0.00001,
    "factors_init_method": "normal",
    "factors_init_sigma": 0.001,
    "seed": 0,
}

METRICS = {
    CLASSIFIER: (
        "binary_classification_accuracy",
        "binary_classification_cross_entropy",
        "binary_f_beta",
    ),
    REGRESSOR: ("rmse",),
}


def parse_hyperparameters(raw: Mapping[str, Any] | None) -> dict[str, Any]:
    """Parse and validate the job's HyperParameters (strings) as the container does."""
    raw = dict(raw or {})
    for name in raw:
        if name not in HYPERPARAMETERS:
            raise HyperparameterError(
                name,
                f"value {raw[name]!r}: not a hyperparameter of {ALGORITHM}; "
                "remove it or check its spelling",
            )
    values = dict(DEFAULTS)
    for name, spec in HYPERPARAMETERS.items():
        if name in raw:
            values[name] = spec.parse(raw[name])
        elif spec.required:
            raise HyperparameterError(
                name, f"required by {ALGORITHM}; add it to the estimator's hyperparameters"
            )
    for term in ("bias", "linear", "factors"):
        method = values[f"{term}_init_method"]
        needs = {"uniform": "scale", "constant": "value"}.get(method)
        if needs and f"{term}_init_{needs}" not in values:
            raise HyperparameterError(
                f"{term}_init_{needs}",
                f"required when {term}_init_method is {method}; add it or use 'normal'",
            )
    return values


def check_channels(channels: list[Mapping[str, Any]]) -> None:
    """What CreateTrainingJob refuses up front for this algorithm."""
    names = [c.get("ChannelName") for c in channels]
    if "train" not in names:
        raise UserError(f"InputDataConfig: {ALGORITHM} needs a channel named 'train'; add it")
    for i, channel in enumerate(channels):
        name = channel.get("ChannelName")
        if name not in CHANNELS:
            raise UserError(
                f"InputDataConfig[{i}].ChannelName {name!r}: {ALGORITHM} reads the channels "
                f"{' and '.join(CHANNELS)}; rename or remove it"
            )
        ctype = (channel.get("ContentType") or CONTENT_TYPE).split(";")[0].strip().lower()
        if ctype != CONTENT_TYPE:
            raise UserError(
                f"InputDataConfig[{i}].ContentType {channel.get('ContentType')!r}: {ALGORITHM} "
                f"trains on {CONTENT_TYPE}; write the data with "
                "sagemaker.amazon.common.write_spmatrix_to_sparse_tensor"
            )


# -- the model ----------------------------------------------------------------------------------


@dataclass
class FMModel:
    w0: float
    w: np.ndarray  # (feature_dim,)
    V: np.ndarray  # (feature_dim, num_factors)
    predictor_type: str

    def logits(self, x: Any) -> np.ndarray:
        """The FM's raw output for a CSR matrix ``x`` (rows: examples)."""
        return _forward(self.w0, self.w, self.V, x, x.multiply(x))[0]

    def scores(self, x: Any) -> np.ndarray:
        y = self.logits(x)
        return _sigmoid(y) if self.predictor_type == CLASSIFIER else y

    def save(self, path: Path) -> None:
        with open(path, "wb") as fh:  # np.savez would append .npz to a str path
            np.savez(fh, w0=self.w0, w=self.w, V=self.V, predictor_type=self.predictor_type)

    @classmethod
    def load(cls, path: Path) -> FMModel:
        try:
            with np.load(path, allow_pickle=False) as z:
                return cls(
                    w0=float(z["w0"]),
                    w=z["w"],
                    V=z["V"],
                    predictor_type=str(z["predictor_type"]),
                )
        except (OSError, ValueError, KeyError) as e:
            raise RuntimeError(
                f"{path.name} is not a model written by the local {ALGORITHM} ({e})"
            ) from e

    @classmethod
    def from_model_dir(cls, model_dir: Path) -> FMModel:
        preferred = model_dir / MODEL_NAME
        files = [p for p in sorted(model_dir.iterdir()) if p.is_file()]
        if preferred.is_file():
            return cls.load(preferred)
        if len(files) == 1:
            return cls.load(files[0])
        raise RuntimeError(
            f"model.tar.gz holds no '{MODEL_NAME}' file (found: {[p.name for p in files] or 'nothing'}); "
            f"{ALGORITHM} writes its model as '{MODEL_NAME}'"
        )


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-np.clip(x, -35, 35)))


def _forward(w0: float, w: np.ndarray, V: np.ndarray, x: Any, x2: Any) -> tuple[np.ndarray, Any]:
    s = x @ V  # (b, k): sum_j v_j x_j
    y = w0 + x @ w + 0.5 * (s**2 - x2 @ (V**2)).sum(axis=1)
    return np.asarray(y).ravel(), s


def _init(values: Mapping[str, Any], term: str, shape: tuple[int, ...], rng: Any) -> np.ndarray:
    method = values[f"{term}_init_method"]
    if method == "constant":
        return np.full(shape, float(values[f"{term}_init_value"]))
    if method == "uniform":
        scale = float(values[f"{term}_init_scale"])
        return rng.uniform(-scale, scale, shape)
    return rng.normal(0.0, float(values[f"{term}_init_sigma"]), shape)


def fit(
    x: Any,
    y: np.ndarray,
    values: Mapping[str, Any],
    *,
    log: Any = None,
) -> FMModel:
    """Train on a CSR matrix ``x`` (n x feature_dim) and labels ``y``."""
    rng = np.random.default_rng(int(values["seed"]))
    d, k = int(values["feature_dim"]), int(values["num_factors"])
    classifier = values["predictor_type"] == CLASSIFIER
    params = {
        "bias": _init(values, "bias", (1,), rng),
        "linear": _init(values, "linear", (d,), rng),
        "factors": _init(values, "factors", (d, k), rng),
    }
    m1 = {n: np.zeros_like(p) for n, p in params.items()}
    m2 = {n: np.zeros_like(p) for n, p in params.items()}
    beta1, beta2, eps = 0.9, 0.999, float(values["eps"])
    clip = values.get("clip_gradient")
    rescale = float(values["rescale_grad"])
    batch = int(values["mini_batch_size"])
    x2 = x.multiply(x).tocsr()
    step = 0
    for epoch in range(int(values["epochs"])):
        started = time.perf_counter()
        order = rng.permutation(x.shape[0])
        loss_sum = 0.0
        for start in range(0, len(order), batch):
            idx = order[start : start + batch]
            xb, x2b, yb = x[idx], x2[idx], y[idx]
            out, s = _forward(params["bias"][0], params["linear"], params["factors"], xb, x2b)
            if classifier:
                p = _sigmoid(out)
                loss_sum += float(
                    -(yb * np.log(p + 1e-12) + (1 - yb) * np.log(1 - p + 1e-12)).sum()
                )
                g = p - yb
            else:
                loss_sum += float(((out - yb) ** 2).sum())
                g = 2.0 * (out - yb)
            g = g * (rescale / len(idx))
            V = params["factors"]
            grads = {
                "bias": np.array([g.sum()]),
                "linear": np.asarray(xb.T @ g).ravel(),
                "factors": np.asarray(xb.T @ (g[:, None] * s))
                - V * np.asarray(x2b.T @ g).ravel()[:, None],
            }
            step += 1
            c1, c2 = 1 - beta1**step, 1 - beta2**step
            for name, grad in grads.items():
                if clip is not None:
                    grad = np.clip(grad, -clip, clip)
                grad = grad + float(values[f"{name}_wd"]) * params[name]
                m1[name] = beta1 * m1[name] + (1 - beta1) * grad
                m2[name] = beta2 * m2[name] + (1 - beta2) * grad**2
                params[name] -= (
                    float(values[f"{name}_lr"]) * (m1[name] / c1) / (np.sqrt(m2[name] / c2) + eps)
                )
        if log is not None:
            name = "cross_entropy" if classifier else "mse"
            log(
                f"#progress_metric: host=algo-1, epoch={epoch}, train {name} "
                f"<loss>={loss_sum / max(len(order), 1):.6f}, "
                f"{time.perf_counter() - started:.2f} s"
            )
    return FMModel(
        w0=float(params["bias"][0]),
        w=params["linear"],
        V=params["factors"],
        predictor_type=str(values["predictor_type"]),
    )


def evaluate(model: FMModel, x: Any, y: np.ndarray) -> dict[str, float]:
    """The container's test metrics."""
    scores = model.scores(x)
    if model.predictor_type == REGRESSOR:
        return {"rmse": float(np.sqrt(np.mean((scores - y) ** 2))) if len(y) else 0.0}
    predicted = scores >= 0.5
    truth = y >= 0.5
    tp = float((predicted & truth).sum())
    precision = tp / max(float(predicted.sum()), 1.0)
    recall = tp / max(float(truth.sum()), 1.0)
    p = np.clip(scores, 1e-12, 1 - 1e-12)
    return {
        "binary_classification_accuracy": float((predicted == truth).mean()) if len(y) else 0.0,
        "binary_classification_cross_entropy": float(
            -(truth * np.log(p) + (~truth) * np.log(1 - p)).mean()
        )
        if len(y)
        else 0.0,
        "binary_f_beta": 2 * precision * recall / (precision + recall)
        if precision + recall
        else 0.0,
    }


def read_channel(directory: Path, feature_dim: int, channel: str) -> tuple[Any, np.ndarray]:
    """Every record of every file under a channel's directory, as (CSR matrix, labels)."""
    import scipy.sparse as sp

    files = sorted(p for p in directory.rglob("*") if p.is_file() and not p.name.startswith("."))
    parts, labels = [], []
    for path in files:
        what = f"channel {channel!r} file {path.relative_to(directory)}"
        try:
            x, y = recordio.to_csr(recordio.read_records(path.read_bytes()), feature_dim, what=what)
        except recordio.RecordIOError as e:
            raise UserError(str(e)) from e
        if y is None:
            raise UserError(
                f"{what}: the records carry no label; write them with a labels vector "
                "(write_spmatrix_to_sparse_tensor(file, matrix, labels))"
            )
        parts.append(x)
        labels.append(y)
    if not parts:
        raise UserError(f"channel {channel!r}: no files; upload the data or fix S3Uri")
    return sp.vstack(parts).tocsr(), np.concatenate(labels)


# -- the training worker ---------------------------------------------------------------------------


def train(spec: dict[str, Any]) -> dict[str, Any]:
    """Train from a job spec; write the model; return the final metrics."""
    values = parse_hyperparameters(spec["hyperparameters"])
    channels = spec["channels"]
    d = int(values["feature_dim"])
    x, y = read_channel(Path(channels["train"]["dir"]), d, "train")
    if values["predictor_type"] == CLASSIFIER and not np.isin(y, (0.0, 1.0)).all():
        bad = float(y[~np.isin(y, (0.0, 1.0))][0])
        raise UserError(
            f"channel 'train': label {bad:g} is not 0 or 1; the binary_classifier predictor "
            "needs 0/1 labels (or set predictor_type to regressor)"
        )
    print(f"train: {x.shape[0]} records, feature_dim {d}, {x.nnz} non-zeros", flush=True)
    model = fit(x, y, values, log=lambda line: print(line, flush=True))
    model_dir = Path(spec["model_dir"])
    model_dir.mkdir(parents=True, exist_ok=True)
    model.save(model_dir / MODEL_NAME)
    metrics = []
    if "test" in channels:
        xt, yt = read_channel(Path(channels["test"]["dir"]), d, "test")
        for name, value in evaluate(model, xt, yt).items():
            print(f"#test_score (algo-1) : ('{name}', {value})", flush=True)
            print(f"#quality_metric: host=algo-1, test {name} <score>={value}", flush=True)
            metrics.append({"MetricName": f"test:{name}", "Value": float(value)})
    return {"metrics": metrics}


def main(argv: list[str] | None = None) -> int:
    """Worker entry point: ``<spec.json>`` in, model + metrics (or a failure file) out."""
    return algorithm_worker.run(train, argv)


if __name__ == "__main__":
    sys.exit(main())


# -- inference: the container's request and response formats ---------------------------------------

JSON = "application/json"
JSONLINES = "application/jsonlines"
REQUEST_TYPES = (JSON, CONTENT_TYPE)
RESPONSE_TYPES = (JSON, JSONLINES, CONTENT_TYPE)


class RequestError(ValueError):
    """A request body the container answers with 400."""


def _instance_row(instance: Any, i: int, d: int) -> tuple[list[int], list[float]]:
    if not isinstance(instance, dict):
        raise RequestError(f"instances[{i}]: expected an object with 'features' or 'data'")
    if "features" in instance:
        features = instance["features"]
        if not isinstance(features, list) or len(features) != d:
            n = len(features) if isinstance(features, list) else type(features).__name__
            raise RequestError(
                f"instances[{i}].features: {n} values; the model has feature_dim {d} "
                "(send every feature, or the sparse form data.features.keys/values)"
            )
        return list(range(d)), [float(v) for v in features]
    sparse = (instance.get("data") or {}).get("features") if "data" in instance else None
    if not isinstance(sparse, dict) or "keys" not in sparse or "values" not in sparse:
        raise RequestError(
            f"instances[{i}]: expected {{'features': [...]}} or "
            "{'data': {'features': {'keys': [...], 'shape': [feature_dim], 'values': [...]}}}"
        )
    keys, vals = [int(k) for k in sparse["keys"]], [float(v) for v in sparse["values"]]
    if len(keys) != len(vals):
        raise RequestError(f"instances[{i}].data.features: {len(keys)} keys, {len(vals)} values")
    if any(not 0 <= k < d for k in keys):
        raise RequestError(
            f"instances[{i}].data.features.keys: an index outside 0..{d - 1} (feature_dim {d})"
        )
    return keys, vals


def decode_request(body: bytes, content_type: str, d: int) -> Any:
    """The request's examples as a CSR matrix of width ``d`` (the model's feature_dim)."""
    import scipy.sparse as sp

    if content_type == CONTENT_TYPE:
        try:
            x, _ = recordio.to_csr(recordio.read_records(body), d, what="the request")
        except recordio.RecordIOError as e:
            raise RequestError(str(e)) from e
        if x.shape[1] != d:  # type: ignore[attr-defined]
            raise RequestError(f"the request's records have {x.shape[1]} features, not {d}")  # type: ignore[attr-defined]
        return x
    try:
        request = json.loads(body)
    except ValueError as e:
        raise RequestError(f"the body is not JSON: {e}") from e
    instances = request.get("instances") if isinstance(request, dict) else None
    if not isinstance(instances, list):
        raise RequestError('expected {"instances": [{"features": [...]}, ...]}')
    rows, cols, vals = [], [], []
    for i, instance in enumerate(instances):
        try:
            keys, values = _instance_row(instance, i, d)
        except (TypeError, ValueError) as e:
            raise RequestError(str(e)) from e
        rows += [i] * len(keys)
        cols += keys
        vals += values
    return sp.csr_matrix((vals, (rows, cols)), shape=(len(instances), d))


def encode_response(scores: np.ndarray, predictor_type: str, accept: str) -> bytes:
    """Predictions in the documented JSON, JSON Lines or RecordIO-protobuf shape."""
    classifier = predictor_type == CLASSIFIER
    if accept == CONTENT_TYPE:
        out = b""
        for s in scores.tolist():
            label = {"score": recordio.Tensor(np.array([s]))}
            if classifier:
                label["predicted_label"] = recordio.Tensor(np.array([float(s >= 0.5)]))
            out += recordio.frame(recordio.encode_record(label=label))
        return out
    items = [
        {"score": s, "predicted_label": int(s >= 0.5)} if classifier else {"score": s}
        for s in scores.tolist()
    ]
    if accept == JSONLINES:
        return "".join(json.dumps(item) + "\n" for item in items).encode()
    return json.dumps({"predictions": items}).encode()
