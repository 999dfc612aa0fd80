"""Evaluate step: the training job's held-out evaluation, recorded and compared with the baseline.

Event (``events/movie_evaluate.json``)::

    {"model_artifact_uri": "s3://lake/ml/models/<job>/output/model.tar.gz",
     "evaluation_uri": "s3://lake/ml/evaluation/<run id>/evaluation.json",
     "k": 10}

The training job evaluates on the ratings it held out (as SageMaker's built-in factorization
machines evaluates on its ``test`` channel) and leaves ``evaluation.json`` in the model
artifact.  This step reads it, checks it, writes it to ``evaluation_uri`` and returns it with
``beats_baseline``: the model's precision@k above the popularity baseline's, which the
workflow's gate reads.
"""

from __future__ import annotations

import io
import json
import math
import tarfile
from typing import Any

from common import objects
from common.errors import InvalidEventError, ModelRejectedError

EVALUATION_FILE = "evaluation.json"


def read_evaluation(artifact: bytes, uri: str) -> dict[str, Any]:
    try:
        with tarfile.open(fileobj=io.BytesIO(artifact), mode="r:gz") as tar:
            member = next(
                (m for m in tar.getmembers() if m.name.lstrip("./") == EVALUATION_FILE), None
            )
            if member is None:
                raise ModelRejectedError(
                    f"{uri}: no {EVALUATION_FILE} in the model artifact; the training script writes it"
                )
            handle = tar.extractfile(member)
            assert handle is not None
            return dict(json.loads(handle.read()))
    except (tarfile.TarError, json.JSONDecodeError) as e:
        raise ModelRejectedError(f"{uri}: not a model.tar.gz holding {EVALUATION_FILE}") from e


def evaluate(event: dict[str, Any], store: Any = None) -> dict[str, Any]:
    if not isinstance(event, dict):
        raise InvalidEventError(f"event: expected a JSON object, got {type(event).__name__}")
    artifact_uri = objects.require_uri(event, "model_artifact_uri")
    output_uri = objects.require_uri(event, "evaluation_uri")
    k = event.get("k", 10)
    if isinstance(k, bool) or not isinstance(k, int) or k < 1:
        raise InvalidEventError(f"k: expected a positive integer, got {k!r}")
    store = store if store is not None else objects.storage()
    metrics = read_evaluation(store.read(artifact_uri), artifact_uri)
    wanted = ("binary_classification_accuracy", f"precision_at_{k}", f"recall_at_{k}",
              f"baseline_precision_at_{k}", f"baseline_recall_at_{k}")  # fmt: skip
    for name in wanted:
        value = metrics.get(name)
        if (
            isinstance(value, bool)
            or not isinstance(value, int | float)
            or not math.isfinite(value)
        ):
            raise ModelRejectedError(f"{artifact_uri}: {EVALUATION_FILE} has no number {name!r}")
    result = {
        **metrics,
        "k": k,
        "beats_baseline": metrics[f"precision_at_{k}"] > metrics[f"baseline_precision_at_{k}"],
        "evaluation_uri": output_uri,
    }
    store.write(output_uri, json.dumps(result, indent=2).encode())
    return result


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return evaluate(event)
