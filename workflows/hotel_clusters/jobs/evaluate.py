"""Processing job: accuracy and top-5 accuracy of the model on the test split.

Inputs: ``/opt/ml/processing/model/model.tar.gz`` (the training job's artifact, holding
``xgboost-model``) and ``/opt/ml/processing/test/*.csv`` (label first, no header).
Output: ``/opt/ml/processing/evaluation/evaluation.json``:
``{"accuracy", "top5_accuracy", "rows", "num_class"}``.  The model is ``multi:softmax``;
its per-class margins (``output_margin``) rank the classes for the top-5.
"""

from __future__ import annotations

import json
import sys
import tarfile
from pathlib import Path

import numpy as np
import pandas as pd
import xgboost as xgb

ROOT = Path("/opt/ml/processing")


def evaluate(model_dir: Path, test_dir: Path) -> dict[str, float | int]:
    with tarfile.open(next(model_dir.glob("*.tar.gz"))) as tar:
        tar.extractall(model_dir, filter="data")
    booster = xgb.Booster()
    booster.load_model(str(model_dir / "xgboost-model"))
    frames = [pd.read_csv(p, header=None) for p in sorted(test_dir.glob("*.csv"))]
    test = pd.concat(frames, ignore_index=True)
    labels = test.iloc[:, 0].to_numpy(dtype=int)
    features = xgb.DMatrix(
        test.iloc[:, 1:].to_numpy(dtype=float), feature_names=booster.feature_names
    )
    margins = booster.predict(features, output_margin=True)
    margins = margins.reshape(len(labels), -1)
    top5 = np.argsort(-margins, axis=1)[:, :5]
    return {
        "accuracy": float((top5[:, 0] == labels).mean()),
        "top5_accuracy": float((top5 == labels[:, None]).any(axis=1).mean()),
        "rows": len(labels),
        "num_class": int(margins.shape[1]),
    }


def main(argv: list[str]) -> int:
    root = Path(argv[0]) if argv else ROOT
    metrics = evaluate(root / "model", root / "test")
    out = root / "evaluation"
    out.mkdir(parents=True, exist_ok=True)
    (out / "evaluation.json").write_text(json.dumps(metrics), encoding="utf-8")
    print(json.dumps(metrics))
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
