"""Training metrics read from a job's log, as SageMaker reads them from the container's output.

A metric definition is ``{"Name": ..., "Regex": ...}`` whose first group is the value
(``AlgorithmSpecification.MetricDefinitions``).  The built-in XGBoost algorithm has its own
definitions, one per ``<data>:<metric>`` name, matching the lines the container prints
(``[3]#011train-auc:0.91#011validation-auc:0.85``).  Every match of a line is one reported
value; the series of a metric is what automatic model tuning's early stopping compares round
by round, and its last value is the job's final metric (``FinalMetricDataList``).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from functools import cache
from typing import Any

FLOAT = r"([-+]?(?:[0-9]*\.?[0-9]+|[0-9]+\.)(?:[eE][-+]?[0-9]+)?|nan|inf)"


def builtin_xgboost_regex(metric_name: str) -> str:
    """The built-in algorithm's regex of ``validation:auc`` (the container's line format)."""
    data, _, metric = metric_name.partition(":")
    return rf".*\[[0-9]+\].*#011{re.escape(data)}-{re.escape(metric)}:{FLOAT}.*"


@cache
def _compile(regex: str) -> re.Pattern[str]:
    return re.compile(regex)


def series(text: str, regex: str) -> list[float]:
    """Every value the regex's first group matches, line by line, in order."""
    pattern = _compile(regex)
    values: list[float] = []
    for line in text.splitlines():
        match = pattern.search(line)
        if match is None or not match.groups():
            continue
        try:
            values.append(float(match.group(1)))
        except (TypeError, ValueError):
            continue
    return values


def final_metrics(text: str, definitions: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """``FinalMetricDataList`` entries: the last value of each metric that was reported."""
    out = []
    for definition in definitions:
        values = series(text, definition["Regex"])
        if values:
            out.append({"MetricName": definition["Name"], "Value": values[-1]})
    return out


def check_definitions(definitions: Sequence[Mapping[str, Any]], where: str) -> list[str]:
    """Problems with metric definitions (a regex Python cannot compile, or without a group)."""
    problems = []
    for i, definition in enumerate(definitions):
        regex = definition.get("Regex", "")
        try:
            pattern = re.compile(regex)
        except re.error as e:
            problems.append(f"{where}[{i}].Regex {regex!r}: not a valid regular expression ({e})")
            continue
        if pattern.groups < 1:
            problems.append(
                f"{where}[{i}].Regex {regex!r}: needs a capturing group around the value, "
                r"e.g. 'loss: ([0-9\.]+)'"
            )
    return problems


def builtin_xgboost_definitions() -> list[dict[str, str]]:
    """The metric definitions AWS lists for the built-in XGBoost algorithm: each metric on
    the train and validation channels (at most 40, the API's limit)."""
    from localaws.sagemaker.hyperparameters import METRICS

    names = [m for m in METRICS if m not in ("pre", "interval-regression-accuracy")]
    return [
        {"Name": f"{data}:{metric}", "Regex": builtin_xgboost_regex(f"{data}:{metric}")}
        for data in ("train", "validation")
        for metric in names
    ]
