"""The churn evaluation script, run by a SageMaker processing job (XGBoost image).

``python3 churn_evaluate.py --model DIR --test DIR --output DIR`` opens the training job's
``model.tar.gz`` under ``--model`` (the built-in algorithm's ``xgboost-model``), scores the
headerless test split under ``--test`` (label first) and writes ``evaluation.json``:

    {"binary_classification_metrics": {"accuracy": {"value": .., "standard_deviation": ..},
                                       "auc": {"value": .., "standard_deviation": ..}},
     "rows": N}

AUC is computed on the probabilities, accuracy at 0.5 (scikit-learn's metrics).
"""

from __future__ import annotations

import argparse
import json
import sys
import tarfile
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd

MODEL_FILE = "xgboost-model"
THRESHOLD = 0.5


def load_booster(model_dir: Path) -> object:
    import xgboost

    archives = sorted(model_dir.rglob("model.tar.gz"))
    if not archives:
        raise FileNotFoundError(f"{model_dir}: no model.tar.gz")
    with tempfile.TemporaryDirectory() as tmp, tarfile.open(archives[0]) as tar:
        tar.extractall(tmp, filter="data")
        booster = xgboost.Booster()
        booster.load_model(str(Path(tmp) / MODEL_FILE))
    return booster


def read_test(test_dir: Path) -> tuple[np.ndarray, np.ndarray]:
    files = sorted(p for p in test_dir.rglob("*.csv") if p.is_file())
    if not files:
        raise FileNotFoundError(f"{test_dir}: no .csv test split")
    frame = pd.concat([pd.read_csv(f, header=None) for f in files], ignore_index=True)
    return frame.iloc[:, 0].to_numpy(np.float64), frame.iloc[:, 1:].to_numpy(np.float64)


def metrics(labels: np.ndarray, probabilities: np.ndarray) -> dict[str, object]:
    from sklearn.metrics import accuracy_score, roc_auc_score

    predictions = (probabilities >= THRESHOLD).astype(np.float64)
    accuracy = float(accuracy_score(labels, predictions))
    auc = float(roc_auc_score(labels, probabilities)) if len(set(labels)) == 2 else 0.0
    n = max(len(labels), 1)
    return {
        "binary_classification_metrics": {
            "accuracy": {
                "value": accuracy,
                "standard_deviation": float(np.sqrt(accuracy * (1 - accuracy) / n)),
            },
            "auc": {"value": auc, "standard_deviation": 0.0},
        },
        "rows": len(labels),
    }


def run(model_dir: Path, test_dir: Path, output_dir: Path) -> dict[str, object]:
    import xgboost

    booster = load_booster(model_dir)
    labels, features = read_test(test_dir)
    probabilities = booster.predict(xgboost.DMatrix(features))  # type: ignore[attr-defined]
    report = metrics(labels, np.asarray(probabilities, dtype=np.float64))
    output_dir.mkdir(parents=True, exist_ok=True)
    (output_dir / "evaluation.json").write_text(json.dumps(report, indent=2))
    return report


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="/opt/ml/processing/model")
    parser.add_argument("--test", default="/opt/ml/processing/test")
    parser.add_argument("--output", default="/opt/ml/processing/evaluation")
    args = parser.parse_args(argv)
    try:
        report = run(Path(args.model), Path(args.test), Path(args.output))
    except (FileNotFoundError, ValueError) as e:
        print(f"ClientError: {e}", file=sys.stderr)
        return 1
    print(json.dumps(report))
    return 0


if __name__ == "__main__":
    sys.exit(main())
