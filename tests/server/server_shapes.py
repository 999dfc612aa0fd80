"""Checks a parsed boto3 response against its operation's output shape in botocore's model."""

from __future__ import annotations

import datetime
from typing import Any

from botocore.model import Shape
from botocore.response import StreamingBody

_TYPES: dict[str, tuple[type, ...]] = {
    "string": (str,),
    "integer": (int,),
    "long": (int,),
    "float": (int, float),
    "double": (int, float),
    "boolean": (bool,),
    "blob": (bytes, bytearray, StreamingBody),
    "timestamp": (datetime.datetime,),
    "structure": (dict,),
    "map": (dict,),
    "list": (list,),
}


def output_problems(client: Any, operation: str, response: dict[str, Any]) -> list[str]:
    """Every way ``response`` (from ``client.<operation>``) departs from the output shape:
    missing required members, unknown members, wrong types, values outside an enum."""
    shape = client.meta.service_model.operation_model(operation).output_shape
    body = {k: v for k, v in response.items() if k != "ResponseMetadata"}
    problems: list[str] = []
    if shape is None:
        if body:
            problems.append(f"{operation} has no output, got {sorted(body)}")
        return problems
    _check(shape, body, operation, problems)
    return problems


def assert_output_shape(client: Any, operation: str, response: dict[str, Any]) -> None:
    problems = output_problems(client, operation, response)
    assert not problems, "\n".join(problems)


def _check(shape: Shape, value: Any, path: str, problems: list[str]) -> None:
    kind = shape.type_name
    allowed = _TYPES.get(kind)
    if allowed and (
        not isinstance(value, allowed) or (kind != "boolean" and isinstance(value, bool))
    ):
        problems.append(f"{path}: {type(value).__name__} where the model has {kind}")
        return
    if kind == "structure":
        for name in shape.required_members:
            if name not in value:
                problems.append(f"{path}.{name}: required member missing")
        for name, item in value.items():
            member = shape.members.get(name)
            if member is None:
                problems.append(f"{path}.{name}: not a member of {shape.name}")
            elif item is not None:
                _check(member, item, f"{path}.{name}", problems)
    elif kind == "list":
        for i, item in enumerate(value):
            _check(shape.member, item, f"{path}[{i}]", problems)
    elif kind == "map":
        for key, item in value.items():
            _check(shape.value, item, f"{path}[{key!r}]", problems)
    elif kind == "string" and shape.enum and value not in shape.enum:
        problems.append(f"{path}: {value!r} is not one of {shape.enum}")
