"""The one typed loader behind every use case's settings.

A use case's settings are a frozen dataclass (nested dataclasses for groups) and a mapping
of defaults (its shipped YAML file, or the dataclass's own defaults). :func:`load` resolves
them in the order written once here: explicit overrides (dotted keys, from the command
line), then the user's configuration file (``--config FILE``, else ``$WORKFLOWS_CONFIG``),
then the defaults. Predictive maintenance reads the file's top level; every other use case
reads one section of the same file (``many_models:``, ``hotel_clusters:``), so one file can
configure them all.

Every refusal is a :class:`ConfigError` naming the dotted key (with its section), the value
and the fix: an unknown key (a typo would otherwise be ignored), a value of the wrong type,
a missing key, a file that is absent or not YAML.

Environment variables read here (nothing else in ``workflows`` reads ``os.environ``):

* ``WORKFLOWS_CONFIG`` - path of the user's YAML file.
"""

from __future__ import annotations

import dataclasses
import difflib
import os
import typing
from collections.abc import Collection, Mapping
from pathlib import Path
from typing import Any, TypeVar

import yaml

from localaws.errors import UserError

ENV_CONFIG = "WORKFLOWS_CONFIG"
# The sections of the user's file that belong to a use case other than predictive
# maintenance (whose settings are the file's top level).
SECTIONS = ("many_models", "hotel_clusters")

T = TypeVar("T")


class ConfigError(UserError):
    """The configuration file or an override is malformed; the message names the key."""


def load(
    cls: type[T],
    defaults: Mapping[str, Any],
    path: str | os.PathLike[str] | None = None,
    overrides: Mapping[str, Any] | None = None,
    *,
    section: str | None = None,
    open_maps: Collection[str] = (),
    replaced_maps: Collection[str] = (),
) -> tuple[T, tuple[str, ...]]:
    """``cls`` built from ``defaults``, the user's file, then ``overrides``; and the files read.

    ``path`` is the explicit file (``--config``); without it, ``$WORKFLOWS_CONFIG`` when set.
    ``section``: the key of the user's file holding these settings (``None``: its top level,
    where the other use cases' sections are skipped). ``overrides`` maps dotted keys to values
    (``{"evaluation.threshold": 0.95}``); ``None`` values are ignored, so that unset
    command-line options pass straight through. ``open_maps``: mappings whose keys are free
    (hyperparameters), merged key by key over the defaults; ``replaced_maps``: free mappings
    a user's value replaces whole.
    """
    merger = Merger(section, open_maps, replaced_maps)
    merged = dict(defaults)
    sources: list[str] = []
    user = path if path is not None else os.environ.get(ENV_CONFIG) or None
    if user is not None:
        user_path = Path(user)
        if not user_path.is_file():
            where = "--config" if path is not None else f"${ENV_CONFIG}"
            raise ConfigError(f"{where}: no configuration file at {user_path}; check the path")
        merged = merger.merge(merged, user_settings(read_yaml(user_path), section, user_path))
        sources.append(str(user_path.resolve()))
    if overrides:
        merged = merger.merge(merged, nest({k: v for k, v in overrides.items() if v is not None}))
    return coerce(cls, merged, merger.prefix), tuple(sources)


def read_yaml(path: Path) -> dict[str, Any]:
    """A YAML file whose top level is a mapping (an empty file: no settings)."""
    try:
        body = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as e:
        raise ConfigError(f"{path}: not valid YAML ({e})") from e
    if body is None:
        return {}
    if not isinstance(body, dict):
        raise ConfigError(
            f"{path}: the top level must be a mapping of settings, got {type(body).__name__}"
        )
    return body


def user_settings(body: Mapping[str, Any], section: str | None, path: Path) -> dict[str, Any]:
    """The part of a user's file that a use case reads: one section, or the top level less
    the other use cases' sections."""
    for key in body:
        near = difflib.get_close_matches(str(key), SECTIONS, n=1, cutoff=0.8)
        if key not in SECTIONS and near:
            raise ConfigError(
                f"{path}: {key}: unknown section; did you mean {near[0]}? "
                f"(the use-case sections are {', '.join(SECTIONS)})"
            )
    if section is None:
        return {k: v for k, v in body.items() if k not in SECTIONS}
    value = body.get(section)
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise ConfigError(
            f"{path}: {section}: must be a mapping of settings, got {type(value).__name__}"
        )
    return dict(value)


def nest(dotted: Mapping[str, Any]) -> dict[str, Any]:
    """``{"a.b": 1}`` -> ``{"a": {"b": 1}}``."""
    out: dict[str, Any] = {}
    for key, value in dotted.items():
        node = out
        *parents, last = key.split(".")
        for part in parents:
            node = node.setdefault(part, {})
        node[last] = value
    return out


class Merger:
    """Merges a user's mapping over the defaults; a key the defaults lack is refused."""

    def __init__(
        self,
        section: str | None = None,
        open_maps: Collection[str] = (),
        replaced_maps: Collection[str] = (),
    ):
        self.prefix = f"{section}." if section else ""
        self.open_maps = frozenset(open_maps)
        self.replaced_maps = frozenset(replaced_maps)

    def merge(self, base: Mapping[str, Any], extra: Mapping[str, Any], where: str = "") -> dict:
        out = dict(base)
        for key, value in extra.items():
            dotted = f"{self.prefix}{where}{key}"
            if key not in base:
                raise ConfigError(
                    f"{dotted}: unknown setting; known here: {', '.join(sorted(base))}"
                )
            free = key in self.open_maps or key in self.replaced_maps
            if (free or isinstance(base[key], dict)) and not isinstance(value, Mapping):
                what = "of names to values" if free else "of settings"
                raise ConfigError(f"{dotted}: must be a mapping {what}, got {value!r}")
            if key in self.open_maps:
                out[key] = {**base[key], **value}  # any name may be added
            elif key in self.replaced_maps:
                out[key] = dict(value)
            elif isinstance(base[key], dict):
                out[key] = self.merge(base[key], value, f"{where}{key}.")
            else:
                out[key] = value
        return out


def coerce(cls: type[T], body: Mapping[str, Any], where: str = "") -> T:
    """``cls(**body)`` with every value checked against its field's type, recursively."""
    if not isinstance(body, Mapping):
        raise ConfigError(f"{where.rstrip('.')}: must be a mapping of settings, got {body!r}")
    hints = typing.get_type_hints(cls)
    kwargs: dict[str, Any] = {}
    for f in dataclasses.fields(cls):  # type: ignore[arg-type]
        dotted = f"{where}{f.name}"
        if f.name not in body:
            if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
                raise ConfigError(f"{dotted}: missing; add it to the configuration file")
            continue
        kwargs[f.name] = _value(hints[f.name], body[f.name], dotted)
    return cls(**kwargs)


def _value(hint: Any, value: Any, dotted: str) -> Any:
    if dataclasses.is_dataclass(hint):
        return coerce(hint, value, f"{dotted}.")  # type: ignore[arg-type]
    if hint is bool:
        if not isinstance(value, bool):
            raise ConfigError(f"{dotted}: must be true or false, got {value!r}")
        return value
    if hint in (int, float):
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ConfigError(f"{dotted}: must be a number, got {value!r}")
        if hint is int and not float(value).is_integer():
            raise ConfigError(f"{dotted}: must be a whole number, got {value!r}")
        return hint(value)
    if hint is str:
        if not isinstance(value, str) or not value:
            raise ConfigError(f"{dotted}: must be a non-empty string, got {value!r}")
        return value
    origin = typing.get_origin(hint)
    if origin is dict:
        if not isinstance(value, Mapping):
            raise ConfigError(f"{dotted}: must be a mapping of names to values, got {value!r}")
        return dict(value)
    if origin in (tuple, list):
        if not isinstance(value, list | tuple):
            raise ConfigError(f"{dotted}: must be a list, got {value!r}")
        return origin(value)
    raise TypeError(f"{dotted}: no check for settings of type {hint!r}")  # a bug


def dataclass_defaults(cls: type) -> dict[str, Any]:
    """The defaults of a dataclass whose every field has one, as a mapping of settings."""
    return dataclasses.asdict(cls())
