"""Configuration of the predictive-maintenance workflow, and every setting's source.

Resolution order, written once in :func:`load`: explicit argument (``overrides``, from the
command line), then the environment, then the user's configuration file, then the defaults
shipped in ``workflows/defaults.yaml`` (read relative to this module, so every command
works from any working directory).

The typed loading (unknown keys, types, missing keys, the user's file) is
:mod:`workflows.settings_loader`, shared with the other use cases' settings; this module
adds the checks that span settings (:func:`_check`).

Environment variables (named in :mod:`workflows.settings_loader`):

* ``WORKFLOWS_CONFIG`` - path of a YAML file merged over the defaults.
* ``LOCALAWS_STATE_DIR`` - the local runtime's state directory (read by ``localaws.config``).
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from workflows import settings_loader as loader
from workflows.settings_loader import ENV_CONFIG, ConfigError  # noqa: F401 (re-exported)

DEFAULTS_FILE = Path(__file__).with_name("defaults.yaml")
OPEN_MAPS = ("hyperparameters",)  # any hyperparameter name may be added


@dataclass(frozen=True)
class Roles:
    state_machine: str
    sagemaker: str


@dataclass(frozen=True)
class Data:
    bucket: str
    raw_prefix: str
    prepared_prefix: str
    models_prefix: str
    transform_prefix: str
    evaluation_prefix: str
    rows: int
    seed: int

    def uri(self, prefix: str, *parts: str) -> str:
        """``s3://<bucket>/<prefix><parts joined by />``."""
        tail = "/".join(p.strip("/") for p in parts if p)
        return f"s3://{self.bucket}/{prefix}{tail}"


@dataclass(frozen=True)
class RetryPolicy:
    interval_seconds: int
    max_attempts: int
    backoff_rate: float
    max_delay_seconds: int = 0  # 0: no cap on the growing interval


@dataclass(frozen=True)
class Prepare:
    validation_fraction: float
    test_fraction: float
    retry: RetryPolicy


@dataclass(frozen=True)
class Training:
    xgboost_version: str
    instance_type: str
    instance_count: int
    volume_size_gb: int
    max_runtime_seconds: int
    hyperparameters: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Transform:
    instance_type: str
    instance_count: int
    max_payload_mb: int


@dataclass(frozen=True)
class Evaluation:
    metric: str
    threshold: float
    decision_threshold: float


@dataclass(frozen=True)
class Endpoint:
    name: str
    instance_type: str
    initial_instance_count: int


@dataclass(frozen=True)
class Featurizer:
    mode: str  # FEATURIZER_MODES
    sklearn_version: str
    instance_type: str
    code_prefix: str


@dataclass(frozen=True)
class Monitoring:
    schedule: str
    schedule_expression: str
    capture_prefix: str
    reports_prefix: str
    instance_type: str


@dataclass(frozen=True)
class Registry:
    group: str
    approval: str  # REGISTRY_APPROVALS


@dataclass(frozen=True)
class Prediction:
    sample_records: int
    table: str
    endpoint_retry: RetryPolicy


@dataclass(frozen=True)
class Settings:
    name: str
    region: str
    roles: Roles
    data: Data
    prepare: Prepare
    training: Training
    transform: Transform
    evaluation: Evaluation
    endpoint: Endpoint
    prediction: Prediction
    featurizer: Featurizer
    monitoring: Monitoring
    registry: Registry
    source: tuple[str, ...] = ()  # files the settings were read from, defaults first

    def replace(self, **changes: Any) -> Settings:
        """A copy with some settings changed, by dotted key: ``replace(**{"evaluation.threshold": 0.8})``."""
        merged = loader.Merger(open_maps=OPEN_MAPS).merge(self.as_dict(), loader.nest(changes))
        return _build(merged, self.source)

    def as_dict(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        d.pop("source")
        return d


METRICS = ("roc_auc", "pr_auc", "f1", "precision", "recall")
# pipeline: a scikit-learn processing job fits the featurizer and the endpoint is an inference
# pipeline (featurizer, then XGBoost) taking raw readings; lambda: the prepare Lambda encodes.
FEATURIZER_MODES = ("pipeline", "lambda")
REGISTRY_APPROVALS = ("Approved", "PendingManualApproval")


def load(
    path: str | os.PathLike[str] | None = None,
    overrides: Mapping[str, Any] | None = None,
) -> Settings:
    """The settings: defaults, merged with the user's file, then with dotted-key overrides.

    ``path`` is the explicit file; without it, ``$WORKFLOWS_CONFIG`` when set.
    ``overrides`` maps dotted keys to values (``{"evaluation.threshold": 0.95}``); ``None``
    values are ignored so that unset command-line options can be passed straight through.
    """
    settings, sources = loader.load(
        Settings,
        loader.read_yaml(DEFAULTS_FILE),
        path,
        overrides,
        open_maps=OPEN_MAPS,
    )
    settings = dataclasses.replace(settings, source=(str(DEFAULTS_FILE), *sources))
    _check(settings)
    return settings


def _build(body: Mapping[str, Any], source: tuple[str, ...]) -> Settings:
    body = {k: v for k, v in body.items() if k != "source"}
    settings = dataclasses.replace(loader.coerce(Settings, body), source=source)
    _check(settings)
    return settings


def _check(s: Settings) -> None:
    if s.evaluation.metric not in METRICS:
        raise ConfigError(
            f"evaluation.metric: {s.evaluation.metric!r} is not a metric the evaluate step "
            f"returns; use one of {', '.join(METRICS)}"
        )
    for key in (
        "raw_prefix",
        "prepared_prefix",
        "models_prefix",
        "transform_prefix",
        "evaluation_prefix",
    ):
        value = getattr(s.data, key)
        if not value.endswith("/") or value.startswith("/"):
            raise ConfigError(
                f"data.{key}: {value!r} must be a relative prefix ending in '/', e.g. 'raw/'"
            )
    if s.featurizer.mode not in FEATURIZER_MODES:
        raise ConfigError(
            f"featurizer.mode: {s.featurizer.mode!r} is not a featurizer; use one of "
            f"{', '.join(FEATURIZER_MODES)}"
        )
    if s.registry.approval not in REGISTRY_APPROVALS:
        raise ConfigError(
            f"registry.approval: {s.registry.approval!r}; use {' or '.join(REGISTRY_APPROVALS)}"
        )
    for key, value in (
        ("featurizer.code_prefix", s.featurizer.code_prefix),
        ("monitoring.capture_prefix", s.monitoring.capture_prefix),
        ("monitoring.reports_prefix", s.monitoring.reports_prefix),
    ):
        if not value.endswith("/") or value.startswith("/"):
            raise ConfigError(
                f"{key}: {value!r} must be a relative prefix ending in '/', e.g. 'code/'"
            )
    fractions = s.prepare.validation_fraction + s.prepare.test_fraction
    if not 0 < fractions < 1:
        raise ConfigError(
            "prepare.validation_fraction + prepare.test_fraction: must be between 0 and 1, "
            f"got {fractions}"
        )
    if "scale_pos_weight" in s.training.hyperparameters:
        raise ConfigError(
            "training.hyperparameters.scale_pos_weight: set by the workflow from the class "
            "balance the prepare step measures; remove it from the configuration"
        )
