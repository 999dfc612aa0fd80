"""Settings of the many-models use case: ``workflows/many_models.yaml``, merged with the
``many_models:`` section of the user's file (``--config FILE`` or ``WORKFLOWS_CONFIG``).

Resolution order as in :mod:`workflows.settings`: explicit overrides, then the user's file,
then the shipped defaults.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, get_type_hints

import yaml

from workflows.settings import ENV_CONFIG, ConfigError

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
    merged = _read(DEFAULTS_FILE)
    user = config_file or os.environ.get(ENV_CONFIG)
    if user:
        body = _read(Path(user))
        section = body.get(SECTION) or {}
        if not isinstance(section, dict):
            raise ConfigError(f"{user}: `{SECTION}` must be a mapping of settings")
        merged = _merge(merged, section, "")
    nested: dict[str, Any] = {}
    for dotted, value in overrides.items():
        if value is None:
            continue
        node = nested
        *parents, last = dotted.split(".")
        for part in parents:
            node = node.setdefault(part, {})
        node[last] = value
    merged = _merge(merged, nested, "")
    settings = _coerce(ManyModels, merged, "")
    _check(settings)
    return settings  # type: ignore[no-any-return]


def _read(path: Path) -> dict[str, Any]:
    try:
        body = yaml.safe_load(path.read_text(encoding="utf-8"))
    except FileNotFoundError as e:
        raise ConfigError(f"configuration file {path}: no such file") from e
    except yaml.YAMLError as e:
        raise ConfigError(f"configuration file {path}: not valid YAML ({e})") from e
    if not isinstance(body, dict):
        raise ConfigError(f"configuration file {path}: expected a mapping of settings")
    return body


def _merge(base: dict[str, Any], extra: Mapping[str, Any], where: str) -> dict[str, Any]:
    out = dict(base)
    for key, value in extra.items():
        dotted = f"{where}{key}"
        if key not in base:
            raise ConfigError(f"{SECTION}.{dotted}: unknown setting; see {DEFAULTS_FILE.name}")
        if isinstance(base[key], dict) and key not in ("hyperparameters", "ranges"):
            if not isinstance(value, Mapping):
                raise ConfigError(f"{SECTION}.{dotted}: expected a mapping, got {value!r}")
            out[key] = _merge(base[key], value, f"{dotted}.")
        else:
            out[key] = value
    return out


def _coerce(cls: type, body: Mapping[str, Any], where: str) -> Any:
    hints = get_type_hints(cls)
    values = {}
    for f in dataclasses.fields(cls):
        value, hint, dotted = body[f.name], hints[f.name], f"{where}{f.name}"
        if dataclasses.is_dataclass(hint):
            values[f.name] = _coerce(hint, value, f"{dotted}.")  # type: ignore[arg-type]
        elif hint in (int, float, str, bool):
            ok = isinstance(value, hint) and not (hint is not bool and isinstance(value, bool))
            if hint is float and isinstance(value, int) and not isinstance(value, bool):
                value, ok = float(value), True
            if not ok:
                raise ConfigError(
                    f"{SECTION}.{dotted}: {value!r} is not a {hint.__name__}; fix it in your config"
                )
            values[f.name] = value
        else:
            values[f.name] = value
    return cls(**values)


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
