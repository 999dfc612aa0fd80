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


def _to_json(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


class Variables:
    """One scope: its own values and read access to its parent's."""

    __slots__ = ("_merged", "_sizes", "parent", "values")

    def __init__(self, parent: Variables | None = None, values: Mapping[str, Any] | None = None):
        self.parent = parent
        self.values: dict[str, Any] = dict(values or {})
        self._sizes: dict[str, int] = {k: len(_to_json(v).encode()) for k, v in self.values.items()}
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

    def _total(self) -> int:
        total = sum(self._sizes.values())
        return total + (self.parent._total() if self.parent is not None else 0)

    def assign(self, assigned: Mapping[str, Any]) -> dict[str, str]:
        """Set the variables of one Assign; return them as JSON text (for the history)."""
        texts = {name: _to_json(value) for name, value in assigned.items()}
        sizes = {name: len(text.encode()) for name, text in texts.items()}
        for name, size in sizes.items():
            if size > MAX_VARIABLE_BYTES:
                raise StateFailure(
                    DATA_LIMIT_EXCEEDED,
                    f"The value assigned to the variable '{name}' is {size} bytes; a variable "
                    f"holds at most {MAX_VARIABLE_BYTES} bytes",
                )
        if sum(sizes.values()) > MAX_ASSIGN_BYTES:
            raise StateFailure(
                DATA_LIMIT_EXCEEDED,
                f"The Assign field sets {sum(sizes.values())} bytes of variables; one Assign "
                f"sets at most {MAX_ASSIGN_BYTES} bytes",
            )
        new_sizes = {**self._sizes, **sizes}
        total = sum(new_sizes.values()) + (self.parent._total() if self.parent is not None else 0)
        if total > MAX_TOTAL_BYTES:
            raise StateFailure(
                DATA_LIMIT_EXCEEDED,
                f"The variables of this execution would hold {total} bytes; the limit is "
                f"{MAX_TOTAL_BYTES} bytes",
            )
        self.values = {**self.values, **assigned}
        self._sizes = new_sizes
        self._merged = None
        return texts
