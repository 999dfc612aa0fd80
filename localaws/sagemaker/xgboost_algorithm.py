"""The built-in XGBoost algorithm, run as the training job's worker process.

The container's contract, locally: channel ``train`` (required) and ``validation`` are
directories holding every object of the channel's S3 prefix; ``ContentType`` is
``text/csv`` (label in column 0, no header; with ``csv_weights=1`` the instance weight in
column 1), ``text/libsvm`` (the container's default) or ``application/x-parquet`` (label in
the first column).  The model is written as ``<model dir>/xgboost-model`` with
``Booster.save_model`` (what the container's recent versions write and load), evaluation
lines go to stdout as the container prints them (``[0]#011train-auc:0.9#011validation-auc:0.8``)
and the final metrics to a JSON file.  A failure writes ``<output dir>/failure`` (the
container's contract: its text becomes the job's FailureReason) and exits non-zero.

Run as ``python -m localaws.sagemaker.xgboost_algorithm <spec.json>``; see :func:`main`.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

from localaws.errors import UserError
from localaws.sagemaker import algorithm_worker
from localaws.sagemaker import hyperparameters as hpv

MODEL_NAME = "xgboost-model"
CSV = "csv"
LIBSVM = "libsvm"
PARQUET = "parquet"

_CONTENT_TYPES = {
    "text/csv": CSV,
    "csv": CSV,
    "text/libsvm": LIBSVM,
    "libsvm": LIBSVM,
    "text/x-libsvm": LIBSVM,
    "application/x-parquet": PARQUET,
    "parquet": PARQUET,
}


def data_format(content_type: str | None) -> str:
    """The data format of a channel's ContentType (the container defaults to libsvm)."""
    if not content_type:
        return LIBSVM
    base = content_type.split(";")[0].strip().lower()
    fmt = _CONTENT_TYPES.get(base)
    if fmt is None:
        raise UserError(
            f"ContentType {content_type!r} is not supported by the built-in XGBoost algorithm; "
            "use text/csv, text/libsvm or application/x-parquet"
        )
    if (
        fmt == CSV
        and "label_size" in content_type
        and "label_size=1" not in content_type.replace(" ", "")
    ):
        raise UserError(f"ContentType {content_type!r}: only label_size=1 is supported")
    return fmt


def data_files(directory: Path) -> list[Path]:
    """Every data file under a channel directory, in name order (hidden files skipped)."""
    return sorted(
        p
        for p in directory.rglob("*")
        if p.is_file()
        and not any(part.startswith(".") for part in p.relative_to(directory).parts)
        and p.stat().st_size > 0
    )


def load_dmatrix(
    directory: Path, fmt: str, *, csv_weights: bool, nthread: int, channel: str
) -> Any:
    """The channel's data as an ``xgboost.DMatrix`` (label in the first column)."""
    import xgboost as xgb

    files = data_files(directory)
    if not files:
        raise UserError(
            f"channel {channel!r}: no data under its S3 prefix; upload data or fix S3Uri"
        )
    try:
        if fmt == LIBSVM:
            import scipy.sparse
            from sklearn.datasets import load_svmlight_files

            loaded = load_svmlight_files([str(f) for f in files], zero_based=True)
            xs, ys = loaded[0::2], loaded[1::2]
            n_features = max(x.shape[1] for x in xs)
            xs = [
                x
                if x.shape[1] == n_features
                else scipy.sparse.csr_matrix(
                    (x.data, x.indices, x.indptr), shape=(x.shape[0], n_features)
                )
                for x in xs
            ]
            import numpy as np

            return xgb.DMatrix(
                scipy.sparse.vstack(xs).tocsr(), label=np.concatenate(ys), nthread=nthread
            )
        table = _read_table(files, fmt)
    except UserError:
        raise
    except Exception as e:
        raise UserError(f"channel {channel!r}: could not parse its {fmt} data: {e}") from e
    import pyarrow as pa

    for i, column_type in enumerate(table.schema.types):
        if not (
            pa.types.is_integer(column_type)
            or pa.types.is_floating(column_type)
            or pa.types.is_null(column_type)
        ):
            raise UserError(
                f"channel {channel!r}: column {i} of the {fmt} data is not numeric ({column_type}); "
                "the built-in algorithm takes numbers only, the label first and no header row"
            )
    names = table.column_names
    if len(names) < (3 if csv_weights else 2):
        raise UserError(
            f"channel {channel!r}: {fmt} data needs a label column and at least one feature column "
            f"(found {len(names)} columns)"
        )
    import numpy as np

    label = table.column(0).to_numpy()
    weight = None
    drop = [names[0]]
    if csv_weights:
        weight = table.column(1).to_numpy()
        drop.append(names[1])
    # A plain float matrix, as the container parses CSV: the model carries no feature names,
    # so it predicts on any array of the same width (xgb.DMatrix(numpy_array)).
    columns = table.drop_columns(drop).columns
    features = np.empty((table.num_rows, len(columns)), dtype=np.float32)
    for i, column in enumerate(columns):  # nulls become NaN (xgboost's missing value)
        features[:, i] = column.to_numpy(zero_copy_only=False)
    return xgb.DMatrix(features, label=label, weight=weight, nthread=nthread, missing=np.nan)


def _read_table(files: list[Path], fmt: str) -> Any:
    import pyarrow as pa

    if fmt == PARQUET:
        import pyarrow.parquet as pq

        tables = [pq.read_table(f) for f in files]
    else:
        import pyarrow.csv as pcsv

        read = pcsv.ReadOptions(autogenerate_column_names=True, block_size=1 << 24)
        tables = []
        for f in files:
            table = pcsv.read_csv(f, read_options=read)
            tables.append(table)
        width = {t.num_columns for t in tables}
        if len(width) > 1:
            raise UserError(f"CSV files have different numbers of columns: {sorted(width)}")
    if len(tables) == 1:
        return tables[0]
    first = tables[0].schema
    return pa.concat_tables([t.rename_columns(first.names).cast(first) for t in tables])


class _PrintEvaluation:
    """Prints each round's evaluation like the container (``[3]#011train-rmse:0.1``)."""

    def __init__(self) -> None:
        import xgboost as xgb

        class Callback(xgb.callback.TrainingCallback):
            def after_iteration(self, model: Any, epoch: int, evals_log: Any) -> bool:
                parts = [f"[{epoch}]"]
                for data, metrics in evals_log.items():
                    for metric, values in metrics.items():
                        parts.append(f"{data}-{metric}:{values[-1]:.5f}")
                print("#011".join(parts), flush=True)
                return False

        self.callback = Callback()


def train(spec: dict[str, Any]) -> dict[str, Any]:
    """Train from a job spec; write the model; return the final metrics."""
    import xgboost as xgb

    values = hpv.parse(spec["hyperparameters"])
    channels = spec["channels"]
    if "train" not in channels:
        raise UserError(
            "channel 'train' is required by the built-in XGBoost algorithm; add it to InputDataConfig"
        )
    nthread = int(spec.get("nthread") or os.cpu_count() or 1)
    params = hpv.training_params(values, nthread)
    tuning_metric = str(values.get("_tuning_objective_metric") or "").partition(":")[2]
    if tuning_metric:  # as the container does: the tuning objective is always evaluated
        metrics = list(params.get("eval_metric") or [])
        params["eval_metric"] = metrics if tuning_metric in metrics else [*metrics, tuning_metric]
    fmt = data_format(channels["train"].get("content_type"))
    dtrain = load_dmatrix(
        Path(channels["train"]["dir"]),
        fmt,
        csv_weights=bool(values.get("csv_weights")),
        nthread=nthread,
        channel="train",
    )
    evals = [(dtrain, "train")]
    if "validation" in channels:
        vfmt = data_format(
            channels["validation"].get("content_type") or channels["train"].get("content_type")
        )
        dval = load_dmatrix(
            Path(channels["validation"]["dir"]),
            vfmt,
            csv_weights=False,
            nthread=nthread,
            channel="validation",
        )
        evals.append((dval, "validation"))
    elif values.get("early_stopping_rounds"):
        raise hpv.HyperparameterError(
            "early_stopping_rounds",
            "needs a validation channel; add one or remove early_stopping_rounds",
        )
    print(f"Train matrix has {dtrain.num_row()} rows and {dtrain.num_col()} columns", flush=True)
    evals_result: dict[str, Any] = {}
    try:
        booster = xgb.train(
            params,
            dtrain,
            num_boost_round=values["num_round"],
            evals=evals,
            early_stopping_rounds=values.get("early_stopping_rounds"),
            evals_result=evals_result,
            verbose_eval=False,
            callbacks=[_PrintEvaluation().callback],
        )
    except xgb.core.XGBoostError as e:
        raise UserError(
            f"XGBoost rejected the data or hyperparameters: {str(e).splitlines()[0]}"
        ) from e
    model_dir = Path(spec["model_dir"])
    model_dir.mkdir(parents=True, exist_ok=True)
    booster.save_model(str(model_dir / MODEL_NAME))
    best = getattr(booster, "best_iteration", None) if values.get("early_stopping_rounds") else None
    metrics = []
    for data, by_metric in evals_result.items():
        for metric, series in by_metric.items():
            value = series[best] if best is not None and best < len(series) else series[-1]
            metrics.append({"MetricName": f"{data}:{metric}", "Value": float(value)})
    return {"metrics": metrics}


def main(argv: list[str] | None = None) -> int:
    """Worker entry point: ``<spec.json>`` in, model + metrics (or a failure file) out."""
    return algorithm_worker.run(train, argv)


if __name__ == "__main__":
    sys.exit(main())
