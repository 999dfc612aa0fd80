from __future__ import annotations

import json

import evaluate
import numpy as np
import pytest
from common import metrics
from common.errors import DataQualityError, InputNotFoundError, InvalidEventError
from sklearn.metrics import (
    average_precision_score,
    confusion_matrix,
    f1_score,
    precision_score,
    recall_score,
    roc_auc_score,
)


def scored(seed: int, rows: int = 400) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    labels = (rng.random(rows) < 0.1).astype(int)
    scores = np.clip(rng.normal(0.3 + 0.4 * labels, 0.2), 0, 1)
    return labels, np.round(scores, 2)  # rounding makes ties


@pytest.mark.parametrize("seed", [0, 1, 2, 3])
def test_metrics_match_scikit_learn(seed):
    labels, scores = scored(seed)
    assert metrics.roc_auc(labels, scores) == pytest.approx(
        roc_auc_score(labels, scores), abs=1e-12
    )
    assert metrics.average_precision(labels, scores) == pytest.approx(
        average_precision_score(labels, scores), abs=1e-12
    )
    at = metrics.at_threshold(labels, scores, 0.5)
    predicted = scores >= 0.5
    assert at["precision"] == pytest.approx(precision_score(labels, predicted, zero_division=0))
    assert at["recall"] == pytest.approx(recall_score(labels, predicted, zero_division=0))
    assert at["f1"] == pytest.approx(f1_score(labels, predicted, zero_division=0))
    tn, fp, fn, tp = confusion_matrix(labels, predicted).ravel()
    assert at["confusion_matrix"] == {"tn": tn, "fp": fp, "fn": fn, "tp": tp}


def test_nothing_predicted_positive_gives_zero_precision_not_nan():
    at = metrics.at_threshold(np.array([0, 1, 0]), np.array([0.1, 0.2, 0.3]), 0.9)
    assert at["precision"] == at["recall"] == at["f1"] == 0.0


@pytest.fixture
def written(load_event, store):
    """The example event's objects: label-first test.csv and a joined transform output."""

    def write(labels, scores, joined: bool = True):
        ev = load_event("evaluate")
        store.write(
            ev["labels_uri"],
            "".join(f"{y},298.1,308.6,1551,42.8,0,0,1,0\n" for y in labels).encode(),
        )
        lines = [f"{y},{s}" if joined else f"{s}" for y, s in zip(labels, scores, strict=True)]
        store.write(ev["predictions_uri"] + "test.csv.out", ("\n".join(lines) + "\n").encode())
        return ev

    return write


@pytest.mark.parametrize("joined", [True, False], ids=["label-score-lines", "score-lines"])
def test_example_event_returns_numbers_and_writes_evaluation_json(written, store, joined):
    labels, scores = scored(5)
    ev = written(labels, scores, joined)

    result = evaluate.handler(ev, None)

    for name in ("roc_auc", "pr_auc", "f1", "precision", "recall", "accuracy", "threshold"):
        assert type(result[name]) is float, name
    assert result["roc_auc"] == pytest.approx(roc_auc_score(labels, scores))
    assert result["pr_auc"] == pytest.approx(average_precision_score(labels, scores))
    assert result["rows"] == 400 and result["positives"] == int(labels.sum())
    assert sum(result["confusion_matrix"].values()) == 400
    assert result["evaluation_uri"] == ev["output_uri"]
    document = json.loads(store.read(ev["output_uri"]))
    assert document["roc_auc"] == result["roc_auc"]
    assert document["confusion_matrix"] == result["confusion_matrix"]
    json.dumps(result)  # a Lambda result must serialise


def test_output_prefix_gets_evaluation_json(written, store):
    labels, scores = scored(6)
    ev = written(labels, scores)
    result = evaluate.handler(
        {**ev, "output_uri": "s3://predictive-maintenance/evaluation/run-0001/"}, None
    )
    assert (
        result["evaluation_uri"]
        == "s3://predictive-maintenance/evaluation/run-0001/evaluation.json"
    )
    assert store.exists(result["evaluation_uri"])


def test_count_mismatch_names_both_counts(written):
    labels, scores = scored(7)
    ev = written(labels, scores)
    with pytest.raises(DataQualityError, match=r"predictions_uri: 400 scores in .* but 399 labels"):
        evaluate.evaluate(
            evaluate.EvaluateRequest.from_event(ev),
            _Truncated(ev["labels_uri"]),
        )


class _Truncated:
    """The fixture's store with the labels object missing its last line."""

    def __init__(self, labels_uri):
        from common import objects

        self.inner, self.labels_uri = objects.storage(), labels_uri

    def __getattr__(self, name):
        return getattr(self.inner, name)

    def read(self, uri):
        data = self.inner.read(uri)
        return data[: data.rstrip(b"\n").rfind(b"\n") + 1] if uri == self.labels_uri else data


def test_a_single_class_cannot_be_evaluated(written):
    ev = written(np.zeros(10, dtype=int), np.linspace(0, 1, 10))
    with pytest.raises(
        DataQualityError, match="all 10 test labels are 0; ROC AUC and PR AUC need both classes"
    ):
        evaluate.handler(ev, None)


def test_a_bad_score_names_the_object_and_line(load_event, store):
    ev = load_event("evaluate")
    store.write(ev["labels_uri"], b"0,1\n1,2\n")
    store.write(ev["predictions_uri"] + "test.csv.out", b"0,0.1\n1,oops\n")
    with pytest.raises(DataQualityError, match=r"test.csv.out: line 2: 'oops' is not a score"):
        evaluate.handler(ev, None)


def test_missing_transform_output(load_event, store):
    ev = load_event("evaluate")
    store.write(ev["labels_uri"], b"0,1\n1,2\n")
    with pytest.raises(
        InputNotFoundError, match=r"predictions_uri: no object at .* ending in \.out"
    ):
        evaluate.handler(ev, None)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"threshold": 2}, "threshold: expected a number from 0 to 1, got 2"),
        ({"threshold": "0.5"}, "threshold: expected a number from 0 to 1, got '0.5'"),
        ({"labels_uri": "test.csv"}, "labels_uri: expected an s3://bucket/key URI, got 'test.csv'"),
        ({"output_uri": None}, "output_uri: expected an s3://bucket/key URI, got None"),
    ],
    ids=["threshold-range", "threshold-type", "labels-not-s3", "no-output"],
)
def test_bad_events_name_the_field(load_event, change, message):
    with pytest.raises(InvalidEventError) as info:
        evaluate.EvaluateRequest.from_event({**load_event("evaluate"), **change})
    assert message in str(info.value)
