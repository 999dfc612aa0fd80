"""Request validation against a botocore service model, with AWS's own wording.

Generic over any botocore ``ServiceModel``: :class:`RequestValidator` walks an operation's
input shape (structures, lists, maps, scalars) and reports

* structural problems the way botocore's client-side validation words them
  (``Missing required parameter in input: "RoleArn"``, ``Unknown parameter in
  ResourceConfig: "Foo", must be one of: ...``, ``Invalid type for parameter ...``), and
* constraint violations the way AWS's services word them::

    1 validation error detected: Value 'x y' at 'trainingJobName' failed to satisfy
    constraint: Member must satisfy regular expression pattern: ^[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}

Both raise ``ServiceError('ValidationException', ...)``.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from functools import cache
from typing import Any

import botocore.loaders
import botocore.session
from botocore import xform_name
from botocore.model import OperationModel, ServiceModel, Shape

from localaws.errors import ServiceError, excerpt

_ORIGINAL_CREATE_LOADER = botocore.loaders.create_loader
_SHARED_LOADERS: dict[str | None, botocore.loaders.Loader] = {}
_SHARED_LOCK = threading.Lock()


def _shared_loader(search_path_string: str | None = None) -> botocore.loaders.Loader:
    with _SHARED_LOCK:
        loader = _SHARED_LOADERS.get(search_path_string)
        if loader is None:
            loader = _SHARED_LOADERS[search_path_string] = _ORIGINAL_CREATE_LOADER(
                search_path_string
            )
        return loader


def share_service_models() -> None:
    """Make every botocore session in this process read service models through one loader.

    botocore gives each session a loader of its own, with its own cache, so the server's
    request parsing, moto's region lookups, the in-process clients and the SDK's
    sessions each decoded the same JSON models again: about 110 MB of the server's 430 MB.
    The loaded models are read-only (nothing in botocore, boto3, moto or the SDK handles
    ``service-data-loaded``), so one copy serves all.  moto's own parser keeps its loader
    (its models carry moto's extras) and loads each model once.  Idempotent; call it before
    the sessions are made (the runtime's start, the CLI's main)."""
    botocore.loaders.create_loader = _shared_loader  # type: ignore[assignment]
    botocore.session.create_loader = _shared_loader  # type: ignore[attr-defined]


@cache
def service_model(name: str) -> ServiceModel:
    """botocore's model of an AWS service (``sagemaker``, ``stepfunctions``...)."""
    return botocore.session.get_session().get_service_model(name)


def snake_case(operation: str) -> str:
    """``StartExecution`` -> ``start_execution``: a backend's method name (botocore's own
    conversion, the one boto3 uses for client methods)."""
    return xform_name(operation)


def json_target(name: str) -> tuple[str, str] | None:
    """For a service of botocore's ``json`` protocol: its ``X-Amz-Target`` prefix and content
    type (``("AWSStepFunctions", "application/x-amz-json-1.0")``); None for other protocols."""
    metadata = service_model(name).metadata
    if metadata.get("protocol") != "json":
        return None
    return metadata["targetPrefix"], f"application/x-amz-json-{metadata.get('jsonVersion', '1.0')}"


@cache
def _compile(pattern: str) -> re.Pattern[str] | None:
    """A Java (AWS) regular expression as a Python one; None when Python cannot express it."""
    translated = pattern.replace(r"\p{L}", "a-zA-Z\u00c0-\uffff").replace(r"\p{N}", "0-9")
    translated = translated.replace(r"\p{Z}", r"\s").replace(r"\p{P}", r"!-/:-@\[-`{-~")
    try:
        return re.compile(translated, re.DOTALL)
    except re.error:
        return None


_PYTHON_TYPES: dict[str, tuple[type, ...]] = {
    "string": (str,),
    "integer": (int,),
    "long": (int,),
    "float": (int, float),
    "double": (int, float),
    "boolean": (bool,),
    "blob": (bytes, bytearray, str),
    "timestamp": (datetime, str, int, float),
    "structure": (dict,),
    "map": (dict,),
    "list": (list, tuple),
}


class _Unknown:
    """A value known only at run time (a Step Functions ``"Member.$"`` path): not checked."""

    def __repr__(self) -> str:
        return "<run-time value>"


UNKNOWN = _Unknown()


@dataclass
class Problems:
    structural: list[str]
    constraints: list[str]


def _member_path(path: str, name: str) -> str:
    """AWS's error paths: lower-camel member names joined by dots."""
    camel = name[:1].lower() + name[1:]
    return f"{path}.{camel}" if path else camel


def _render(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, Mapping):
        return "{" + ", ".join(f"{k}={_render(v)}" for k, v in value.items()) + "}"
    if isinstance(value, list | tuple):
        return "[" + ", ".join(_render(v) for v in value) + "]"
    return str(value)


class RequestValidator:
    """Validates operation requests against one service model."""

    def __init__(self, model: ServiceModel):
        self.model = model

    def operation(self, name: str) -> OperationModel:
        return self.model.operation_model(name)

    def problems(self, operation: str, params: Mapping[str, Any]) -> Problems:
        """Every problem with ``params`` as a request of ``operation``."""
        found = Problems([], [])
        shape = self.operation(operation).input_shape
        if shape is not None:
            self._structure(shape, params, "input", "", found)
        return found

    def validate(self, operation: str, params: Mapping[str, Any]) -> None:
        """Raise ServiceError('ValidationException', ...) when ``params`` is not a valid request."""
        found = self.problems(operation, params)
        if found.structural:
            raise ServiceError("ValidationException", "; ".join(found.structural))
        if found.constraints:
            n = len(found.constraints)
            head = f"{n} validation error{'s' if n != 1 else ''} detected: "
            raise ServiceError("ValidationException", head + "; ".join(found.constraints))

    # -- shape walking ---------------------------------------------------------------

    def _structure(self, shape: Shape, value: Any, label: str, path: str, found: Problems) -> None:
        members = shape.members
        for name in shape.required_members:
            if value.get(name) is None:
                found.structural.append(f'Missing required parameter in {label}: "{name}"')
        for name, member_value in value.items():
            member = members.get(name)
            if member is None:
                found.structural.append(
                    f'Unknown parameter in {label}: "{name}", must be one of: {", ".join(members)}'
                )
                continue
            if member_value is None:
                continue
            child_label = name if label == "input" else f"{label}.{name}"
            self._value(member, member_value, child_label, _member_path(path, name), found)

    def _value(self, shape: Shape, value: Any, label: str, path: str, found: Problems) -> None:
        if value is UNKNOWN:
            return
        kind = shape.type_name
        allowed = _PYTHON_TYPES.get(kind)
        bad_type = allowed is not None and (
            not isinstance(value, allowed)
            or (kind in ("integer", "long", "float", "double") and isinstance(value, bool))
        )
        if bad_type:
            found.structural.append(
                f"Invalid type for parameter {label}, value: {excerpt(repr(value))}, type: {type(value)}, "
                f"valid types: {', '.join(str(t) for t in allowed or ())}"
            )
            return
        self._constraints(shape, value, path, found)
        if kind == "structure":
            self._structure(shape, value, label, path, found)
        elif kind == "list":
            for i, item in enumerate(value):
                if item is not None:
                    self._value(
                        shape.member, item, f"{label}[{i}]", f"{path}.{i + 1}.member", found
                    )
        elif kind == "map":
            for key, item in value.items():
                self._value(shape.key, key, f"{label} (key)", f"{path}.{key}.key", found)
                if item is not None:
                    self._value(shape.value, item, f"{label}.{key}", f"{path}.{key}.value", found)

    def _constraints(self, shape: Shape, value: Any, path: str, found: Problems) -> None:
        meta = shape.metadata
        kind = shape.type_name
        failed: list[str] = []
        if kind in ("string", "list", "map", "blob"):
            size = len(value)
            if "min" in meta and size < meta["min"]:
                failed.append(f"Member must have length greater than or equal to {meta['min']}")
            if "max" in meta and size > meta["max"]:
                failed.append(f"Member must have length less than or equal to {meta['max']}")
        elif kind in ("integer", "long", "float", "double"):
            if "min" in meta and value < meta["min"]:
                failed.append(f"Member must have value greater than or equal to {meta['min']}")
            if "max" in meta and value > meta["max"]:
                failed.append(f"Member must have value less than or equal to {meta['max']}")
        if kind == "string":
            enum = shape.enum
            if enum and value not in enum:
                failed.append(f"Member must satisfy enum value set: [{', '.join(enum)}]")
            pattern = meta.get("pattern")
            if pattern and not failed:
                regex = _compile(pattern)
                if regex is not None and regex.fullmatch(value) is None:
                    shown = pattern if pattern.startswith("^") else "^" + pattern
                    failed.append(f"Member must satisfy regular expression pattern: {shown}")
        for reason in failed:
            found.constraints.append(
                f"Value '{excerpt(_render(value))}' at '{path}' failed to satisfy constraint: {reason}"
            )


@cache
def validator(service: str) -> RequestValidator:
    """The (cached) validator of a botocore service model by name."""
    return RequestValidator(service_model(service))


def validate_request(service: str, operation: str, params: Mapping[str, Any]) -> None:
    """Validate ``params`` as ``operation``'s request of ``service``; raise ValidationException."""
    validator(service).validate(operation, params)
