"""Binary-classification metrics in numpy (no scikit-learn in the Lambdas).

Same definitions as scikit-learn: ``roc_auc`` = ``roc_auc_score`` (ties count one half),
``pr_auc`` = ``average_precision_score`` (step-wise, no interpolation); precision, recall
and F1 are 0 when undefined (``zero_division=0``).
"""

from __future__ import annotations

import numpy as np


def roc_auc(labels: np.ndarray, scores: np.ndarray) -> float:
    """The probability that a random positive scores above a random negative (Mann-Whitney U)."""
    labels = np.asarray(labels, dtype=bool)
    scores = np.asarray(scores, dtype=float)
    positives = int(labels.sum())
    negatives = len(labels) - positives
    order = np.argsort(scores, kind="mergesort")
    sorted_scores = scores[order]
    ranks = np.empty(len(scores), dtype=float)
    # average 1-based ranks over runs of equal scores
    starts = np.flatnonzero(np.r_[True, sorted_scores[1:] != sorted_scores[:-1]])
    ends = np.r_[starts[1:], len(scores)]
    average = (starts + ends + 1) / 2.0
    ranks[order] = np.repeat(average, ends - starts)
    u = ranks[labels].sum() - positives * (positives + 1) / 2.0
    return float(u / (positives * negatives))


def average_precision(labels: np.ndarray, scores: np.ndarray) -> float:
    """Sum over thresholds of (recall step) x precision, thresholds at each distinct score."""
    labels = np.asarray(labels, dtype=bool)
    scores = np.asarray(scores, dtype=float)
    order = np.argsort(-scores, kind="mergesort")
    sorted_scores, sorted_labels = scores[order], labels[order]
    last_of_run = np.r_[np.flatnonzero(sorted_scores[1:] != sorted_scores[:-1]), len(scores) - 1]
    true_positives = np.cumsum(sorted_labels)[last_of_run]
    predicted = last_of_run + 1
    precision = true_positives / predicted
    recall = true_positives / labels.sum()
    return float(np.sum(np.diff(np.r_[0.0, recall]) * precision))


def confusion(labels: np.ndarray, predicted: np.ndarray) -> dict[str, int]:
    labels = np.asarray(labels, dtype=bool)
    predicted = np.asarray(predicted, dtype=bool)
    return {
        "tn": int(np.sum(~labels & ~predicted)),
        "fp": int(np.sum(~labels & predicted)),
        "fn": int(np.sum(labels & ~predicted)),
        "tp": int(np.sum(labels & predicted)),
    }


def at_threshold(labels: np.ndarray, scores: np.ndarray, threshold: float) -> dict[str, object]:
    """Precision, recall, F1, accuracy and the confusion matrix, predicting 1 when score >= threshold."""
    matrix = confusion(labels, np.asarray(scores, dtype=float) >= threshold)
    tp, fp, fn, tn = matrix["tp"], matrix["fp"], matrix["fn"], matrix["tn"]
    precision = tp / (tp + fp) if tp + fp else 0.0
    recall = tp / (tp + fn) if tp + fn else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {
        "precision": float(precision),
        "recall": float(recall),
        "f1": float(f1),
        "accuracy": float((tp + tn) / (tp + fp + fn + tn)),
        "confusion_matrix": matrix,
    }
