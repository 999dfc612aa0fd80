"""The built-in XGBoost algorithm's hyperparameters, declared as data.

Hyperparameters reach a SageMaker training job as strings.  The algorithm container parses
each one by its declared type, checks its range, then checks the rules that tie several
together (``num_class`` for ``multi:*``, ``auc`` only for classification and ranking...).
:func:`parse` does the same, and a problem raises :class:`HyperparameterError` whose message
names the hyperparameter, the value and the fix; the job's FailureReason is
``ClientError: <message>``.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from localaws.errors import UserError


class HyperparameterError(UserError):
    """A hyperparameter is missing, unknown, malformed or out of range."""

    def __init__(self, name: str, message: str):
        super().__init__(f"Hyperparameter {name}: {message}")
        self.name = name


@dataclass(frozen=True)
class Interval:
    """A numeric range; ``None`` bounds are unbounded."""

    low: float | None = None
    high: float | None = None
    low_open: bool = False
    high_open: bool = False

    def __contains__(self, value: float) -> bool:
        if self.low is not None and (value <= self.low if self.low_open else value < self.low):
            return False
        return not (
            self.high is not None and (value >= self.high if self.high_open else value > self.high)
        )

    def __str__(self) -> str:
        lo = "-inf" if self.low is None else f"{self.low:g}"
        hi = "+inf" if self.high is None else f"{self.high:g}"
        return f"{'(' if self.low_open or self.low is None else '['}{lo}, {hi}{')' if self.high_open or self.high is None else ']'}"


@dataclass(frozen=True)
class Hyperparameter:
    name: str
    kind: str  # int | float | categorical | list | str
    range: Interval | None = None
    choices: tuple[str, ...] = ()
    required: bool = False
    check: Callable[[Any, Mapping[str, Any]], None] | None = field(default=None, compare=False)

    def parse(self, raw: str) -> Any:
        text = str(raw).strip()
        if self.kind == "int":
            try:
                number = float(text)
            except ValueError:
                raise HyperparameterError(
                    self.name, f"value {raw!r} is not an integer; give a whole number such as 10"
                ) from None
            if not number.is_integer():
                raise HyperparameterError(
                    self.name, f"value {raw!r} is not an integer; give a whole number such as 10"
                )
            value: Any = int(number)
        elif self.kind == "float":
            try:
                value = float(text)
            except ValueError:
                raise HyperparameterError(
                    self.name, f"value {raw!r} is not a number; give a number such as 0.3"
                ) from None
            if math.isnan(value):
                raise HyperparameterError(self.name, f"value {raw!r} is not a number")
        elif self.kind == "list":
            value = [part.strip() for part in text.split(",") if part.strip()]
            if not value:
                raise HyperparameterError(
                    self.name, f"value {raw!r} is empty; give a comma-separated list"
                )
        else:
            value = text
        if self.range is not None and value not in self.range:
            raise HyperparameterError(
                self.name, f"value {raw!r} is out of range; it must be in {self.range}"
            )
        if self.kind == "categorical" and value not in self.choices:
            raise HyperparameterError(
                self.name,
                f"value {raw!r} is not supported; choose one of: {', '.join(self.choices)}",
            )
        return value


OBJECTIVES = (
    "binary:logistic", "binary:logitraw", "binary:hinge", "count:poisson", "multi:softmax",
    "multi:softprob", "rank:pairwise", "rank:ndcg", "rank:map", "reg:linear", "reg:squarederror",
    "reg:logistic", "reg:gamma", "reg:squaredlogerror", "reg:pseudohubererror", "reg:absoluteerror",
    "reg:tweedie", "survival:cox", "survival:aft",
)  # fmt: skip

METRICS_TO_MAXIMIZE = ("auc", "aucpr", "map", "ndcg", "pre", "interval-regression-accuracy")
METRICS_TO_MINIMIZE = (
    "rmse", "rmsle", "mae", "mape", "mphe", "logloss", "error", "merror", "mlogloss",
    "poisson-nloglik", "gamma-nloglik", "cox-nloglik", "gamma-deviance", "tweedie-nloglik",
    "aft-nloglik",
)  # fmt: skip
METRICS = METRICS_TO_MAXIMIZE + METRICS_TO_MINIMIZE


def _check_metric_names(value: list[str], _: Mapping[str, Any]) -> None:
    for metric in value:
        base, at, threshold = metric.partition("@")
        if at:
            if base not in ("error", "ndcg", "map", "pre"):
                raise HyperparameterError(
                    "eval_metric",
                    f"value {metric!r}: a threshold '@t' is only allowed on error, ndcg, map and pre",
                )
            try:
                float(threshold.rstrip("-"))
            except ValueError:
                raise HyperparameterError(
                    "eval_metric", f"value {metric!r}: the threshold after '@' must be a number"
                ) from None
        elif base not in METRICS:
            raise HyperparameterError(
                "eval_metric",
                f"value {metric!r} is not a metric of the built-in algorithm; choose from: {', '.join(METRICS)}",
            )


def _check_eval_metric(value: list[str], hps: Mapping[str, Any]) -> None:
    _check_metric_names(value, hps)
    objective = hps.get("objective", "reg:squarederror")
    if any(m.startswith("auc") for m in value) and not objective.startswith(("binary:", "rank:")):
        raise HyperparameterError(
            "eval_metric",
            f"metric 'auc' needs a classification or ranking objective, not {objective!r}; "
            "use rmse for regression or set objective to binary:logistic",
        )


def _check_objective(value: str, hps: Mapping[str, Any]) -> None:
    if value.startswith("multi:") and "num_class" not in hps:
        raise HyperparameterError(
            "num_class",
            f"required when objective is {value!r}; add num_class (the number of classes) "
            "to the estimator's hyperparameters",
        )


def _check_num_class(value: int, hps: Mapping[str, Any]) -> None:
    if not str(hps.get("objective", "")).startswith("multi:"):
        raise HyperparameterError(
            "num_class",
            f"value {value} is only used by multi:softmax and multi:softprob; "
            "remove it or set objective to a multi-class objective",
        )


def _check_tree_method(value: str, _: Mapping[str, Any]) -> None:
    if "gpu" in value:
        raise HyperparameterError(
            "tree_method", f"value {value!r}: GPU training is not supported locally"
        )


def _check_monotone(value: str, hps: Mapping[str, Any]) -> None:
    if hps.get("tree_method") not in ("exact", "hist"):
        raise HyperparameterError(
            "monotone_constraints", "needs tree_method 'exact' or 'hist'; set tree_method"
        )


def _hp(name: str, kind: str, **kw: Any) -> Hyperparameter:
    return Hyperparameter(name, kind, **kw)


NONNEG = Interval(low=0)
UNIT = Interval(low=0, high=1)
UNIT_OPEN_LOW = Interval(low=0, high=1, low_open=True)

# Every hyperparameter of the built-in algorithm, as the container declares them.
HYPERPARAMETERS: dict[str, Hyperparameter] = {
    hp.name: hp
    for hp in (
        _hp("num_round", "int", range=Interval(low=1), required=True),
        _hp("csv_weights", "int", range=Interval(0, 1)),
        _hp("early_stopping_rounds", "int", range=Interval(low=1)),
        _hp("booster", "categorical", choices=("gbtree", "gblinear", "dart")),
        _hp("silent", "int", range=Interval(0, 1)),
        _hp("verbosity", "int", range=Interval(0, 3)),
        _hp("nthread", "int", range=Interval(low=1)),
        _hp("eta", "float", range=UNIT),
        _hp("gamma", "float", range=NONNEG),
        _hp("max_depth", "int", range=NONNEG),
        _hp("min_child_weight", "float", range=NONNEG),
        _hp("max_delta_step", "float", range=NONNEG),
        _hp("subsample", "float", range=UNIT_OPEN_LOW),
        _hp("colsample_bytree", "float", range=UNIT_OPEN_LOW),
        _hp("colsample_bylevel", "float", range=UNIT_OPEN_LOW),
        _hp("colsample_bynode", "float", range=UNIT_OPEN_LOW),
        _hp("lambda", "float", range=NONNEG),
        _hp("alpha", "float", range=NONNEG),
        _hp(
            "tree_method",
            "categorical",
            choices=("auto", "exact", "approx", "hist"),
            check=_check_tree_method,
        ),
        _hp("sketch_eps", "float", range=Interval(0, 1, low_open=True, high_open=True)),
        _hp("scale_pos_weight", "float", range=Interval(low=0, low_open=True)),
        _hp("updater", "str"),
        _hp("refresh_leaf", "int", range=Interval(0, 1)),
        _hp("process_type", "categorical", choices=("default", "update")),
        _hp("grow_policy", "categorical", choices=("depthwise", "lossguide")),
        _hp("max_leaves", "int", range=NONNEG),
        _hp("max_bin", "int", range=Interval(low=2)),
        _hp("monotone_constraints", "str", check=_check_monotone),
        _hp("interaction_constraints", "str"),
        _hp("sample_type", "categorical", choices=("uniform", "weighted")),
        _hp("normalize_type", "categorical", choices=("tree", "forest")),
        _hp("rate_drop", "float", range=UNIT),
        _hp("one_drop", "int", range=Interval(0, 1)),
        _hp("skip_drop", "float", range=UNIT),
        _hp("tweedie_variance_power", "float", range=Interval(1, 2, low_open=True, high_open=True)),
        _hp("objective", "categorical", choices=OBJECTIVES, check=_check_objective),
        _hp("num_class", "int", range=Interval(low=2), check=_check_num_class),
        _hp("base_score", "float"),
        _hp("eval_metric", "list", check=_check_eval_metric),
        _hp("_tuning_objective_metric", "str"),
        _hp("seed", "int"),
        _hp("num_parallel_tree", "int", range=Interval(low=1)),
        _hp("save_model_on_termination", "categorical", choices=("true", "false")),
    )
}

# Not passed to xgboost.train's params: they steer the job itself.
JOB_ONLY = frozenset(
    {
        "num_round",
        "early_stopping_rounds",
        "csv_weights",
        "_tuning_objective_metric",
        "save_model_on_termination",
        "silent",
    }
)


def parse(raw: Mapping[str, Any] | None) -> dict[str, Any]:
    """Parse and validate the job's HyperParameters (strings) like the container does."""
    raw = dict(raw or {})
    for name in raw:
        if name not in HYPERPARAMETERS:
            raise HyperparameterError(
                name,
                f"value {raw[name]!r}: not a hyperparameter of the built-in XGBoost algorithm; "
                "remove it or check its spelling",
            )
    values: dict[str, Any] = {}
    for name, spec in HYPERPARAMETERS.items():
        if name in raw:
            values[name] = spec.parse(raw[name])
        elif spec.required:
            raise HyperparameterError(
                name,
                "required by the built-in XGBoost algorithm; add it to the estimator's hyperparameters",
            )
    for name, value in values.items():
        spec = HYPERPARAMETERS[name]
        if spec.check is not None:
            spec.check(value, values)
    return values


def training_params(values: Mapping[str, Any], nthread: int) -> dict[str, Any]:
    """xgboost.train's ``params`` from parsed hyperparameters."""
    params = {k: v for k, v in values.items() if k not in JOB_ONLY}
    params.setdefault("nthread", nthread)
    params.setdefault("verbosity", 1)
    if params.get("objective") == "reg:linear":
        params["objective"] = "reg:squarederror"  # renamed in xgboost 1.0; same loss
    return params


def default_metric(values: Mapping[str, Any]) -> str:
    """The metric xgboost reports when eval_metric is not set, by objective."""
    objective = values.get("objective", "reg:squarederror")
    defaults = {
        "binary:logistic": "logloss",
        "binary:logitraw": "logloss",
        "binary:hinge": "error",
        "reg:logistic": "rmse",
        "multi:softmax": "mlogloss",
        "multi:softprob": "mlogloss",
        "count:poisson": "poisson-nloglik",
        "reg:gamma": "gamma-nloglik",
        "reg:tweedie": f"tweedie-nloglik@{values.get('tweedie_variance_power', 1.5)}",
        "survival:cox": "cox-nloglik",
        "survival:aft": "aft-nloglik",
        "rank:pairwise": "ndcg",
        "rank:ndcg": "ndcg",
        "rank:map": "map",
        "reg:absoluteerror": "mae",
        "reg:squaredlogerror": "rmsle",
        "reg:pseudohubererror": "mphe",
    }
    return defaults.get(objective, "rmse")
