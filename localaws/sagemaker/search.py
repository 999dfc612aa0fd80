"""The search strategies of automatic model tuning: the space, and how the next point is chosen.

:func:`parse_space` turns ``ParameterRanges`` into :class:`Parameter` objects (integer,
continuous with Linear / Logarithmic / ReverseLogarithmic scaling, categorical), refusing a
range that AWS refuses with the member named.  A point of the space is a dict name -> value;
:meth:`Parameter.format` gives the hyperparameter string a training job receives.

Strategies (``suggest(observed, pending) -> point | None``; None = nothing left to try):

* ``Random``: independent draws, each on the parameter's scale;
* ``Grid``: every combination of the categorical values, in order (categorical ranges only,
  as on AWS);
* ``Bayesian``: a Gaussian process (scikit-learn's ``GaussianProcessRegressor``, Matern
  kernel) fitted on the observed objectives in the unit cube, the next point maximising the
  expected improvement over random candidates; points still training count as their
  predicted mean ("constant liar"), so parallel jobs spread out.  The first points are random;
* ``Hyperband``: random points; its early stopping (successive halving at resource rungs)
  lives in :func:`hyperband_keeps`.
"""

from __future__ import annotations

import itertools
import math
import random
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from localaws.errors import UserError

Point = dict[str, Any]
INTEGER, CONTINUOUS, CATEGORICAL = "Integer", "Continuous", "Categorical"
RANDOM_START = 3  # Bayesian: random points before the surrogate is trusted
CANDIDATES = 512  # Bayesian: random candidates scored by expected improvement
HYPERBAND_ETA = 3


@dataclass
class Parameter:
    name: str
    kind: str
    low: float = 0.0
    high: float = 0.0
    scaling: str = "Linear"
    values: list[str] = field(default_factory=list)

    # -- the unit interval <-> the parameter's values ------------------------------------

    def from_unit(self, u: float) -> Any:
        if self.kind == CATEGORICAL:
            return self.values[min(int(u * len(self.values)), len(self.values) - 1)]
        lo, hi = self.low, self.high
        if self.scaling == "Logarithmic":
            value = math.exp(math.log(lo) + u * (math.log(hi) - math.log(lo)))
        elif self.scaling == "ReverseLogarithmic":
            value = 1 - math.exp(math.log(1 - hi) + (1 - u) * (math.log(1 - lo) - math.log(1 - hi)))
        else:
            value = lo + u * (hi - lo)
        value = min(max(value, lo), hi)
        if self.kind == INTEGER:
            return int(min(max(round(value), math.ceil(lo)), math.floor(hi)))
        return value

    def to_unit(self, value: Any) -> list[float]:
        """The point's coordinates in the unit cube (one-hot for a categorical)."""
        if self.kind == CATEGORICAL:
            return [1.0 if str(value) == v else 0.0 for v in self.values]
        v, lo, hi = float(value), self.low, self.high
        if hi == lo:
            return [0.0]
        if self.scaling == "Logarithmic":
            u = (math.log(v) - math.log(lo)) / (math.log(hi) - math.log(lo))
        elif self.scaling == "ReverseLogarithmic":
            u = 1 - (math.log(1 - v) - math.log(1 - hi)) / (math.log(1 - lo) - math.log(1 - hi))
        else:
            u = (v - lo) / (hi - lo)
        return [min(max(u, 0.0), 1.0)]

    def parse(self, text: str) -> Any:
        """A hyperparameter string (a parent job's) -> the value, or None when out of range."""
        if self.kind == CATEGORICAL:
            return text if text in self.values else None
        try:
            value: float = int(text) if self.kind == INTEGER else float(text)
        except ValueError:
            return None
        return value if self.low <= value <= self.high else None

    def format(self, value: Any) -> str:
        if self.kind == CATEGORICAL:
            return str(value)
        if self.kind == INTEGER:
            return str(int(value))
        return repr(float(value))


def _number(text: str, where: str) -> float:
    try:
        value = float(text)
    except (TypeError, ValueError):
        raise UserError(f"{where} {text!r}: not a number") from None
    if not math.isfinite(value):
        raise UserError(f"{where} {text!r}: must be finite")
    return value


def parse_space(ranges: Mapping[str, Any] | None, where: str) -> list[Parameter]:
    """``ParameterRanges`` -> the parameters; UserError naming the member for a bad range."""
    ranges = ranges or {}
    space: list[Parameter] = []
    for member, kind in (
        ("IntegerParameterRanges", INTEGER),
        ("ContinuousParameterRanges", CONTINUOUS),
    ):
        for i, item in enumerate(ranges.get(member) or []):
            at = f"{where}.{member}[{i}]"
            lo = _number(item["MinValue"], f"{at}.MinValue")
            hi = _number(item["MaxValue"], f"{at}.MaxValue")
            if kind == INTEGER and (lo != int(lo) or hi != int(hi)):
                raise UserError(f"{at}: MinValue and MaxValue of an integer range must be integers")
            if lo > hi:
                raise UserError(
                    f"{at}: MinValue {item['MinValue']} is above MaxValue {item['MaxValue']}"
                )
            scaling = item.get("ScalingType", "Auto")
            scaling = "Linear" if scaling == "Auto" else scaling
            if scaling == "Logarithmic" and lo <= 0:
                raise UserError(
                    f"{at}.ScalingType Logarithmic: needs MinValue > 0 (got {item['MinValue']}); "
                    "use Linear or raise MinValue"
                )
            if scaling == "ReverseLogarithmic" and (kind == INTEGER or lo < 0 or hi >= 1):
                raise UserError(
                    f"{at}.ScalingType ReverseLogarithmic: only for continuous ranges within "
                    f"0 <= value < 1 (got {item['MinValue']}..{item['MaxValue']})"
                )
            space.append(Parameter(item["Name"], kind, lo, hi, scaling))
    for i, item in enumerate(ranges.get("CategoricalParameterRanges") or []):
        values = [str(v) for v in item["Values"]]
        if not values:
            raise UserError(
                f"{where}.CategoricalParameterRanges[{i}].Values: give at least one value"
            )
        space.append(Parameter(item["Name"], CATEGORICAL, values=values))
    names = [p.name for p in space]
    for name in names:
        if names.count(name) > 1:
            raise UserError(f"{where}: hyperparameter {name!r} has more than one range; keep one")
    return space


def grid_size(space: Sequence[Parameter]) -> int:
    return math.prod(len(p.values) for p in space)


# -- strategies ------------------------------------------------------------------------------


class Strategy:
    """Chooses the next point from what has been observed (point, objective to minimise)."""

    def __init__(self, space: Sequence[Parameter], seed: int | None):
        self.space = list(space)
        self.rng = random.Random(seed)

    def random_point(self) -> Point:
        return {p.name: p.from_unit(self.rng.random()) for p in self.space}

    def suggest(
        self, observed: Sequence[tuple[Point, float]], pending: Sequence[Point]
    ) -> Point | None:
        return self.random_point()


class GridSearch(Strategy):
    def __init__(self, space: Sequence[Parameter], seed: int | None):
        super().__init__(space, seed)
        self._points = iter(itertools.product(*(p.values for p in self.space)))

    def suggest(
        self, observed: Sequence[tuple[Point, float]], pending: Sequence[Point]
    ) -> Point | None:
        combination = next(self._points, None)
        if combination is None:
            return None
        return dict(zip((p.name for p in self.space), combination, strict=True))


class BayesianSearch(Strategy):
    def _encode(self, point: Mapping[str, Any]) -> list[float]:
        return [u for p in self.space for u in p.to_unit(point[p.name])]

    def suggest(
        self, observed: Sequence[tuple[Point, float]], pending: Sequence[Point]
    ) -> Point | None:
        usable = [(p, y) for p, y in observed if math.isfinite(y)]
        if len(usable) < RANDOM_START or not self.space:
            return self.random_point()
        import numpy as np
        from sklearn.exceptions import ConvergenceWarning
        from sklearn.gaussian_process import GaussianProcessRegressor
        from sklearn.gaussian_process.kernels import ConstantKernel, Matern, WhiteKernel

        x = np.array([self._encode(p) for p, _ in usable])
        y = np.array([v for _, v in usable])
        mean, std = y.mean(), y.std() or 1.0
        yn = (y - mean) / std
        kernel = ConstantKernel(1.0) * Matern(
            length_scale=np.ones(x.shape[1]), nu=2.5
        ) + WhiteKernel(1e-3)
        gp = GaussianProcessRegressor(
            kernel=kernel, normalize_y=False, random_state=self.rng.randrange(2**31)
        )
        with warnings.catch_warnings():  # a kernel bound reached is not the user's problem
            warnings.simplefilter("ignore", ConvergenceWarning)
            if pending:  # constant liar: a running job counts as the surrogate's mean
                gp.fit(x, yn)
                xp = np.array([self._encode(p) for p in pending])
                x = np.vstack([x, xp])
                yn = np.concatenate([yn, gp.predict(xp)])
            gp.fit(x, yn)
        candidates = [self.random_point() for _ in range(CANDIDATES)]
        xc = np.array([self._encode(c) for c in candidates])
        mu, sigma = gp.predict(xc, return_std=True)
        best = yn.min()
        sigma = np.maximum(sigma, 1e-9)
        z = (best - mu) / sigma
        cdf = 0.5 * (1.0 + np.vectorize(math.erf)(z / math.sqrt(2.0)))
        pdf = np.exp(-0.5 * z * z) / math.sqrt(2.0 * math.pi)
        expected_improvement = (best - mu) * cdf + sigma * pdf
        return candidates[int(np.argmax(expected_improvement))]


def make_strategy(name: str, space: Sequence[Parameter], seed: int | None) -> Strategy:
    if name == "Grid":
        return GridSearch(space, seed)
    if name == "Bayesian":
        return BayesianSearch(space, seed)
    return Strategy(space, seed)  # Random, and Hyperband's sampling


# -- early stopping ----------------------------------------------------------------------------


def median_rule_stops(current: Sequence[float], others: Sequence[Sequence[float]]) -> bool:
    """AWS's Auto early stopping, objectives to minimise.

    After each round: the running average of every earlier job's objective up to that round;
    stop when the current job's value is worse than the median of those averages.
    """
    if not current:
        return False
    rnd = len(current)
    averages = sorted(sum(s[:rnd]) / rnd for s in others if len(s) >= rnd)
    if not averages:
        return False
    n = len(averages)
    median = averages[n // 2] if n % 2 else (averages[n // 2 - 1] + averages[n // 2]) / 2
    return current[-1] > median


def hyperband_rungs(min_resource: int, max_resource: int) -> list[int]:
    """Rounds at which Hyperband compares jobs: min, min*eta, ... below max."""
    rungs, r = [], max(1, min_resource)
    while r < max_resource:
        rungs.append(r)
        r *= HYPERBAND_ETA
    return rungs


def hyperband_keeps(
    current: Sequence[float], others: Sequence[Sequence[float]], rungs: Sequence[int]
) -> bool:
    """Successive halving (asynchronous): at each rung a job goes on only if its objective
    (to minimise) is within the best 1/eta of the jobs that reached that rung."""
    for rung in rungs:
        if len(current) != rung:
            continue
        peers = sorted(s[rung - 1] for s in others if len(s) >= rung)
        if len(peers) < HYPERBAND_ETA - 1:
            return True
        ranked = sorted([*peers, current[-1]])
        keep = max(1, len(ranked) // HYPERBAND_ETA)
        threshold = ranked[keep - 1]
        return current[-1] <= threshold
    return True
