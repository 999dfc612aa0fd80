"""Settings of the many-models use case: ``workflows/many_models.yaml``, merged with the
``many_models:`` section of the user's file (``--config FILE`` or ``WORKFLOWS_CONFIG``).

Loaded by the shared typed loader (:mod:`workflows.settings_loader`): explicit overrides,
then the user's file, then the shipped defaults.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from workflows import settings_loader as loader
from workflows.settings_loader import ConfigError

DEFAULTS_FILE = Path(__file__).with_name("many_models.yaml")
SECTION = "many_models"
METRICS = ("accuracy", "auc")


@dataclass(frozen=True)
class Roles:
    state_machine: str
    sagemaker: str
    events: str


@dataclass(frozen=True)
class Data:
    bucket: str
    training_prefix: str
    inference_prefix: str
    processed_prefix: str
    code_prefix: str
    work_prefix: str
    results_prefix: str
    seed: int

    def uri(self, *parts: str) -> str:
        return f"s3://{self.bucket}/" + "".join(parts)


@dataclass(frozen=True)
class Fanout:
    max_concurrency: int
    tolerated_failure_percentage: float


@dataclass(frozen=True)
class Images:
    sklearn_version: str
    xgboost_version: str


@dataclass(frozen=True)
class Processing:
    instance_type: str
    max_runtime_seconds: int


@dataclass(frozen=True)
class Training:
    instance_type: str
    max_runtime_seconds: int
    hyperparameters: dict[str, Any]


@dataclass(frozen=True)
class Tuning:
    enabled: bool
    max_jobs: int
    max_parallel_jobs: int
    ranges: dict[str, list[float]]


@dataclass(frozen=True)
class Quality:
    metric: str
    threshold: float
    fail_on_data_violations: bool


@dataclass(frozen=True)
class Registry:
    auto_approve: bool


@dataclass(frozen=True)
class Endpoint:
    instance_type: str
    initial_instance_count: int
    poll_seconds: int


@dataclass(frozen=True)
class Inference:
    queue: str
    dead_letter_queue: str
    max_receive_count: int
    batch_size: int
    visibility_timeout_seconds: int
    table: str


@dataclass(frozen=True)
class ManyModels:
    name: str
    job_prefix: str
    region: str
    roles: Roles
    data: Data
    fanout: Fanout
    images: Images
    processing: Processing
    training: Training
    tuning: Tuning
    quality: Quality
    registry: Registry
    endpoint: Endpoint
    inference: Inference

    @property
    def training_machine(self) -> str:
        return f"{self.name}-train"

    @property
    def fanout_machine(self) -> str:
        return f"{self.name}-fanout"

    @property
    def retrain_rule(self) -> str:
        return f"{self.name}-retrain-on-upload"

    def endpoint_name(self, dimension: str) -> str:
        return f"{self.name}-{dimension}"

    def group_name(self, dimension: str) -> str:
        return f"{self.name}-{dimension}"

    def function_name(self, role: str) -> str:
        return f"{self.name}-{role}"

    def as_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def load(config_file: str | None = None, **overrides: Any) -> ManyModels:
    """Defaults, then the user's file's ``many_models:`` section, then ``overrides``
    (dotted keys: ``fanout.max_concurrency=4``)."""
    settings, _ = loader.load(
        ManyModels,
        loader.read_yaml(DEFAULTS_FILE),
        config_file,
        overrides,
        section=SECTION,
        replaced_maps=("hyperparameters", "ranges"),
    )
    _check(settings)
    return settings


def _check(s: ManyModels) -> None:
    if s.quality.metric not in METRICS:
        raise ConfigError(
            f"{SECTION}.quality.metric: {s.quality.metric!r}; use one of {', '.join(METRICS)}"
        )
    if s.fanout.max_concurrency < 0:
        raise ConfigError(
            f"{SECTION}.fanout.max_concurrency: {s.fanout.max_concurrency}; 0 or more"
        )
    if s.inference.max_receive_count < 1:
        raise ConfigError(f"{SECTION}.inference.max_receive_count: give at least 1")
    for prefix in ("training_prefix", "inference_prefix", "processed_prefix", "work_prefix"):
        value = getattr(s.data, prefix)
        if not value.endswith("/") or value.startswith("/"):
            raise ConfigError(f"{SECTION}.data.{prefix}: {value!r}; a key prefix ending in '/'")
