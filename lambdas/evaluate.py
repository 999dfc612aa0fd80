"""The evaluation Lambda: batch-transform scores + test labels -> metrics and evaluation.json.

Event (``events/evaluate.json``)::

    {"predictions_uri": "s3://bucket/transform/<run id>/",   # the transform output: an object or
                                                            # a prefix (its *.out objects, sorted)
     "labels_uri": "s3://bucket/prepared/<run id>/test/test.csv",  # label-first CSV (first column)
     "threshold": 0.5,                                      # optional: score >= threshold -> 1
     "output_uri": "s3://bucket/evaluation/<run id>/evaluation.json"}  # or a prefix ending in /

Each line of the transform output holds one score; when the transform joined its input to the
output (``JoinSource: Input``), the score is the line's last field.  Returns the metrics as
numbers (a Choice state compares them numerically), the confusion matrix and the URI of the
evaluation.json it wrote.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from typing import Any

import numpy as np
from common import metrics, objects
from common.errors import DataQualityError, InvalidEventError

DEFAULT_THRESHOLD = 0.5
OUTPUT_NAME = "evaluation.json"
TRANSFORM_SUFFIXES = (".out",)


@dataclass(frozen=True)
class EvaluateRequest:
    predictions_uri: str
    labels_uri: str
    output_uri: str
    threshold: float

    @classmethod
    def from_event(cls, event: dict[str, Any]) -> EvaluateRequest:
        if not isinstance(event, dict):
            raise InvalidEventError(f"event: expected a JSON object, got {type(event).__name__}")
        threshold = event.get("threshold", DEFAULT_THRESHOLD)
        if (
            isinstance(threshold, bool)
            or not isinstance(threshold, int | float)
            or not 0 <= threshold <= 1
        ):
            raise InvalidEventError(f"threshold: expected a number from 0 to 1, got {threshold!r}")
        output_uri = objects.require_uri(event, "output_uri")
        if output_uri.endswith("/"):
            output_uri += OUTPUT_NAME
        return cls(
            predictions_uri=objects.require_uri(event, "predictions_uri"),
            labels_uri=objects.require_uri(event, "labels_uri"),
            output_uri=output_uri,
            threshold=float(threshold),
        )


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return evaluate(EvaluateRequest.from_event(event), objects.storage())


def parse_scores(text: str, source: str, expected: int) -> np.ndarray:
    """One score per line (the last field of a joined line); or one line of ``expected``
    comma-separated scores."""
    lines = [line for line in text.splitlines() if line.strip()]
    if len(lines) == 1 and expected > 1 and len(lines[0].split(",")) == expected:
        fields = lines[0].split(",")
    else:
        fields = [line.rsplit(",", 1)[-1] for line in lines]
    scores = np.empty(len(fields))
    for i, field in enumerate(fields):
        try:
            scores[i] = float(field.strip().strip('"').strip("[]"))
        except ValueError as e:
            raise DataQualityError(
                f"{source}: line {i + 1}: {field.strip()!r} is not a score"
            ) from e
        if not math.isfinite(scores[i]):
            raise DataQualityError(
                f"{source}: line {i + 1}: {field.strip()!r} is not a finite score"
            )
    return scores


def parse_labels(text: str, source: str) -> np.ndarray:
    """The first field of each line, 0 or 1."""
    labels = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        first = line.split(",", 1)[0].strip()
        try:
            value = float(first)
        except ValueError as e:
            raise DataQualityError(f"{source}: line {number}: label {first!r} is not 0 or 1") from e
        if value not in (0.0, 1.0):
            raise DataQualityError(f"{source}: line {number}: label {first!r} is not 0 or 1")
        labels.append(int(value))
    return np.asarray(labels, dtype=np.int64)


def compute(labels: np.ndarray, scores: np.ndarray, threshold: float) -> dict[str, Any]:
    """Every metric, as plain numbers."""
    positives = int(labels.sum())
    if positives == 0 or positives == len(labels):
        raise DataQualityError(
            f"labels: all {len(labels)} test labels are {int(labels[0]) if len(labels) else '-'}; "
            "ROC AUC and PR AUC need both classes in the test set"
        )
    return {
        "roc_auc": metrics.roc_auc(labels, scores),
        "pr_auc": metrics.average_precision(labels, scores),
        **metrics.at_threshold(labels, scores, threshold),
        "threshold": threshold,
        "rows": len(labels),
        "positives": positives,
    }


def evaluate(request: EvaluateRequest, store: Any) -> dict[str, Any]:
    labels = parse_labels(objects.read_text(store, request.labels_uri), request.labels_uri)
    sources = objects.objects_at(
        store, request.predictions_uri, "predictions_uri", TRANSFORM_SUFFIXES
    )
    scores = np.concatenate(
        [parse_scores(objects.read_text(store, uri), uri, len(labels)) for uri in sources]
    )
    if len(scores) != len(labels):
        raise DataQualityError(
            f"predictions_uri: {len(scores)} scores in {', '.join(sources)} but {len(labels)} labels "
            f"in {request.labels_uri}; the transform's input must be the test features of the "
            "same prepare run, one record per line"
        )
    result = compute(labels, scores, request.threshold)
    document = {
        **result,
        "predictions_uri": request.predictions_uri,
        "labels_uri": request.labels_uri,
        "metric_definitions": {
            "roc_auc": "area under the ROC curve",
            "pr_auc": "average precision (area under the precision-recall curve, step-wise)",
            "precision/recall/f1/accuracy": f"predicting a failure when score >= {request.threshold}",
        },
    }
    store.write(request.output_uri, json.dumps(document, indent=2).encode())
    return {**result, "evaluation_uri": request.output_uri}
