"""Workflow variables: ``Assign`` and ``$name``, scoped as on AWS.

The states of a state machine share one scope.  Each Parallel branch and Map iteration runs
in a child scope: it reads the outer variables, assigns its own, and what it assigns is gone
when the branch or iteration ends (validation refuses an inner ``Assign`` of a name an outer
scope assigns, so outer variables are read-only inside).  A scope's values are replaced, not
mutated, on each assignment, so a snapshot (for redrive) is the current dict itself.

All the expressions of one state (its Assign and its Output) see the values from before the
state ran: the engine applies a state's assignments with :meth:`Variables.assign` after
evaluating everything else.

Limits as AWS documents them: 256 KiB for one variable's value, 256 KiB for everything one
Assign sets, 10 MiB for all the variables of an execution (``States.DataLimitExceeded``).
"""

from __future__ import annotations

import json
import json.encoder
from collections.abc import Mapping
from typing import Any

from localaws.asl.errors import StateFailure

__all__ = [
    "MAX_ASSIGN_BYTES",
    "MAX_NAME_LENGTH",
    "MAX_TOTAL_BYTES",
    "MAX_VARIABLE_BYTES",
    "RESERVED_NAMES",
    "Variables",
    "name_problem",
]

MAX_NAME_LENGTH = 80
MAX_VARIABLE_BYTES = 256 * 1024
MAX_ASSIGN_BYTES = 256 * 1024
MAX_TOTAL_BYTES = 10 * 1024 * 1024
RESERVED_NAMES = frozenset({"states"})  # $states is the JSONata states' reserved variable
DATA_LIMIT_EXCEEDED = "States.DataLimitExceeded"


def name_problem(name: str) -> str | None:
    """Why ``name`` cannot be a variable name, or None when it can."""
    if not name:
        return "a variable name must not be empty"
    if len(name) > MAX_NAME_LENGTH:
        return f"the variable name is {len(name)} characters long; the limit is {MAX_NAME_LENGTH}"
    if name in RESERVED_NAMES:
        return f'"{name}" is reserved by Step Functions ($states); choose another name'
    if not name.isidentifier():
        return (
            f'"{name}" is not a valid variable name: it must start with a letter or "_" and '
            'continue with letters, digits or "_" (write it without the leading "$")'
        )
    return None


_STRING = json.encoder.encode_basestring  # the C encoder json.dumps uses for str


def _to_json(value: Any) -> str:
    """Compact JSON text, with the common scalar values done without json.dumps."""
    kind = type(value)
    if kind is str:
        return _STRING(value)
    if kind is int:
        return int.__repr__(value)
    if kind is bool:
        return "true" if value else "false"
    if value is None:
        return "null"
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def _size(text: str) -> int:
    return len(text) if text.isascii() else len(text.encode())


class Variables:
    """One scope: its own values and read access to its parent's."""

    __slots__ = ("_merged", "_outer_bytes", "_own_bytes", "_sizes", "parent", "values")

    def __init__(self, parent: Variables | None = None, values: Mapping[str, Any] | None = None):
        self.parent = parent
        self.values: dict[str, Any] = dict(values or {})
        self._sizes: dict[str, int] = {k: _size(_to_json(v)) for k, v in self.values.items()}
        self._own_bytes: int = sum(self._sizes.values())
        # The enclosing scopes do not change while this one runs (they wait for it).
        self._outer_bytes: int = (
            parent._outer_bytes + parent._own_bytes if parent is not None else 0
        )
        self._merged: dict[str, Any] | None = None

    def child(self) -> Variables:
        return Variables(self)

    def has(self, name: str) -> bool:
        scope: Variables | None = self
        while scope is not None:
            if name in scope.values:
                return True
            scope = scope.parent
        return False

    def get(self, name: str) -> Any:
        scope: Variables | None = self
        while scope is not None:
            if name in scope.values:
                return scope.values[name]
            scope = scope.parent
        raise KeyError(name)

    def visible(self) -> dict[str, Any]:
        """Every variable this scope can read (inner values over outer ones)."""
        if self.parent is None:
            return self.values
        if self._merged is None:
            self._merged = {**self.parent.visible(), **self.values}
        return self._merged

    def assign(self, assigned: Mapping[str, Any]) -> dict[str, str]:
        """Set the variables of one Assign; return them as JSON text (for the history)."""
        texts: dict[str, str] = {}
        sizes: dict[str, int] = {}
        block = 0
        own = self._own_bytes
        for name, value in assigned.items():
            text = texts[name] = _to_json(value)
            size = sizes[name] = _size(text)
            if size > MAX_VARIABLE_BYTES:
                raise StateFailure(
                    DATA_LIMIT_EXCEEDED,
                    f"The value assigned to the variable '{name}' is {size} bytes; a variable "
                    f"holds at most {MAX_VARIABLE_BYTES} bytes",
                )
            block += size
            own += size - self._sizes.get(name, 0)
        if block > MAX_ASSIGN_BYTES:
            raise StateFailure(
                DATA_LIMIT_EXCEEDED,
                f"The Assign field sets {block} bytes of variables; one Assign sets at most "
                f"{MAX_ASSIGN_BYTES} bytes",
            )
        if self._outer_bytes + own > MAX_TOTAL_BYTES:
            raise StateFailure(
                DATA_LIMIT_EXCEEDED,
                f"The variables of this execution would hold {self._outer_bytes + own} bytes; "
                f"the limit is {MAX_TOTAL_BYTES} bytes",
            )
        self._sizes.update(sizes)
        self.values = {**self.values, **assigned}
        self._own_bytes = own
        self._merged = None
        return texts
