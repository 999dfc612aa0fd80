"""Choice rules: comparison operators, their ``...Path`` forms, type tests, And/Or/Not.

As on AWS, a comparison whose operand has the wrong type (``NumericEquals`` on a string) is
false, not an error; a ``Variable`` that names nothing raises ``States.Runtime``, except under
``IsPresent``.  The tables of operators here are also what validation checks rules against.
"""

from __future__ import annotations

import operator
import re
from collections.abc import Callable
from datetime import datetime
from typing import Any

from localaws.asl import paths
from localaws.asl.errors import StateFailure, StatesError

__all__ = [
    "COMPARISONS",
    "TYPE_TESTS",
    "choose",
    "evaluate_rule",
    "matches_wildcard",
    "parse_timestamp",
]

_ORDER: dict[str, Callable[[Any, Any], bool]] = {
    "Equals": operator.eq,
    "LessThan": operator.lt,
    "GreaterThan": operator.gt,
    "LessThanEquals": operator.le,
    "GreaterThanEquals": operator.ge,
}

# operator name -> the JSON type its operand has ("string", "number", "boolean", "timestamp")
COMPARISONS: dict[str, str] = {}
for _suffix in _ORDER:
    COMPARISONS[f"String{_suffix}"] = "string"
    COMPARISONS[f"Numeric{_suffix}"] = "number"
    COMPARISONS[f"Timestamp{_suffix}"] = "timestamp"
COMPARISONS["BooleanEquals"] = "boolean"
COMPARISONS["StringMatches"] = "string"
for _name in [n for n in COMPARISONS if n != "StringMatches"]:
    COMPARISONS[f"{_name}Path"] = "path"

TYPE_TESTS = ("IsPresent", "IsNull", "IsNumeric", "IsString", "IsBoolean", "IsTimestamp")

# RFC 3339 as Step Functions accepts it: upper-case T and Z, optional fraction.
_TIMESTAMP = re.compile(r"^(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2})(?:\.(\d+))?(Z|[+-]\d{2}:\d{2})$")


def parse_timestamp(value: Any) -> datetime | None:
    """The instant a Step Functions timestamp string names, or None if it is not one."""
    if not isinstance(value, str):
        return None
    m = _TIMESTAMP.match(value)
    if m is None:
        return None
    base, fraction, zone = m.groups()
    micros = (fraction or "")[:6].ljust(6, "0")  # Python keeps microseconds only
    try:
        return datetime.fromisoformat(f"{base}.{micros}{'+00:00' if zone == 'Z' else zone}")
    except ValueError:
        return None


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def matches_wildcard(value: str, pattern: str) -> bool:
    """StringMatches: ``*`` matches any run of characters; ``\\*`` and ``\\\\`` are literal."""
    return _wildcard_regex(pattern).fullmatch(value) is not None


_WILDCARDS: dict[str, re.Pattern[str]] = {}


def _wildcard_regex(pattern: str) -> re.Pattern[str]:
    compiled = _WILDCARDS.get(pattern)
    if compiled is None:
        parts: list[str] = []
        i = 0
        while i < len(pattern):
            c = pattern[i]
            if c == "\\" and i + 1 < len(pattern):
                parts.append(re.escape(pattern[i + 1]))
                i += 2
                continue
            parts.append(".*" if c == "*" else re.escape(c))
            i += 1
        compiled = re.compile("".join(parts), re.DOTALL)
        _WILDCARDS[pattern] = compiled
    return compiled


def _compare(kind: str, op: str, value: Any, operand: Any) -> bool:
    if kind == "string":
        if not isinstance(value, str) or not isinstance(operand, str):
            return False
        if op == "Matches":
            return matches_wildcard(value, operand)
        return _ORDER[op](value, operand)
    if kind == "number":
        if not _is_number(value) or not _is_number(operand):
            return False
        return _ORDER[op](value, operand)
    if kind == "boolean":
        return isinstance(value, bool) and isinstance(operand, bool) and value is operand
    # timestamp
    left, right = parse_timestamp(value), parse_timestamp(operand)
    if left is None or right is None:
        return False
    return _ORDER[op](left, right)


def _variable(rule: dict[str, Any], data: Any, context: Any, variables: Any) -> Any:
    path = rule["Variable"]
    try:
        return paths.query(path, data, context, variables)
    except paths.PathNotFound as e:
        raise StateFailure(
            StatesError.RUNTIME,
            f"Invalid path '{path}': The choice state's condition path references an invalid value.",
        ) from e


def evaluate_rule(
    rule: dict[str, Any], data: Any, context: Any = None, variables: Any = None
) -> bool:
    """True if the rule (a Choices entry or a nested rule) matches."""
    if "And" in rule:
        return all(evaluate_rule(r, data, context, variables) for r in rule["And"])
    if "Or" in rule:
        return any(evaluate_rule(r, data, context, variables) for r in rule["Or"])
    if "Not" in rule:
        return not evaluate_rule(rule["Not"], data, context, variables)
    if "IsPresent" in rule:
        try:
            paths.query(rule["Variable"], data, context, variables)
            present = True
        except paths.PathNotFound:
            present = False
        return present is rule["IsPresent"]
    value = _variable(rule, data, context, variables)
    for key, expected in rule.items():
        if key in ("Variable", "Next", "Comment", "Assign"):
            continue
        if key.startswith("Is"):
            return _type_test(key, value) is expected
        kind = COMPARISONS.get(key)
        if kind is None:
            raise StateFailure(StatesError.RUNTIME, f"Unknown choice rule operator '{key}'")
        if kind == "path":
            key = key[:-4]
            kind = COMPARISONS[key]
            operand = _operand(expected, data, context, variables)
        else:
            operand = expected
        op = "Matches" if key == "StringMatches" else key.removeprefix(_prefix(key))
        return _compare(kind, op, value, operand)
    raise StateFailure(StatesError.RUNTIME, "A choice rule has no comparison operator")


def _prefix(key: str) -> str:
    for prefix in ("String", "Numeric", "Timestamp", "Boolean"):
        if key.startswith(prefix):
            return prefix
    return ""


def _operand(path: str, data: Any, context: Any, variables: Any) -> Any:
    try:
        return paths.query(path, data, context, variables)
    except paths.PathNotFound as e:
        raise StateFailure(
            StatesError.RUNTIME,
            f"Invalid path '{path}': The choice state's condition path references an invalid value.",
        ) from e


def _type_test(key: str, value: Any) -> bool:
    if key == "IsNull":
        return value is None
    if key == "IsNumeric":
        return _is_number(value)
    if key == "IsString":
        return isinstance(value, str)
    if key == "IsBoolean":
        return isinstance(value, bool)
    if key == "IsTimestamp":
        return parse_timestamp(value) is not None
    raise StateFailure(StatesError.RUNTIME, f"Unknown choice rule operator '{key}'")


def choose(
    choices: list[dict[str, Any]], data: Any, context: Any = None, variables: Any = None
) -> dict[str, Any] | None:
    """The first matching rule, or None (the caller then uses Default)."""
    for rule in choices:
        if evaluate_rule(rule, data, context, variables):
            return rule
    return None
