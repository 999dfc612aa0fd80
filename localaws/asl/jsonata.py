"""JSONata for ``QueryLanguage: "JSONata"`` states: ``{% ... %}`` templates, AWS's functions.

A JSONata state's fields (Arguments, Output, Assign, Condition, Items, ItemSelector, Seconds,
Timestamp, Error, Cause, TimeoutSeconds, HeartbeatSeconds...) take any JSON value; a string
that starts with ``{%`` and ends with ``%}`` is an expression, evaluated with the bindings
``$states`` (``input``, ``context`` and, where they exist, ``result`` and ``errorOutput``) and
the workflow variables.  :func:`evaluate_template` walks a value and evaluates every
expression in it; :func:`evaluate_expression` evaluates one field.

Expressions are compiled once (``jsonata-python``, a pure-Python JSONata) and cached.  A
plain reference such as ``$states.input.order.id`` or ``$myVar.items`` is answered without
the JSONata interpreter when every step is an object field (the interpreter takes ~50 µs,
the lookup ~1 µs); anything else, or a step that meets an array, goes to the interpreter,
so the result is the same (tests/asl/test_jsonata.py compares both on the same cases).

AWS adds ``$partition``, ``$range``, ``$hash``, ``$random`` (with an optional seed), ``$uuid``
and ``$parse`` and removes ``$eval``.  Failures raise ``States.QueryEvaluationError`` with
AWS's causes (``The JSONata expression '<expr>' specified for the field '<field>' returned
nothing (undefined).``) and carry the field's location for the ``EvaluationFailed`` event.
"""

from __future__ import annotations

import copy
import hashlib
import json
import random
import re
import threading
import uuid
from collections.abc import Callable, Mapping
from typing import Any

from jsonata import Jsonata
from jsonata.jexception import JException
from jsonata.utils import Utils

from localaws.asl.errors import StateFailure, StatesError

__all__ = [
    "JsonataSyntaxError",
    "QueryEvaluationError",
    "compile_expression",
    "evaluate_expression",
    "evaluate_template",
    "expressions",
    "is_expression",
]

MAX_RANGE_ITEMS = 1000  # as States.ArrayRange
HASH_ALGORITHMS = {
    "MD5": "md5",
    "SHA-1": "sha1",
    "SHA-256": "sha256",
    "SHA-384": "sha384",
    "SHA-512": "sha512",
}
_NULL = Utils.NULL_VALUE


class JsonataSyntaxError(ValueError):
    """An expression that does not compile; the message has JSONata's code and position."""


class QueryEvaluationError(StateFailure):
    """``States.QueryEvaluationError`` with the field it happened in (``Arguments/Input/id``)."""

    def __init__(self, cause: str, location: str):
        super().__init__(StatesError.QUERY_EVALUATION_ERROR, cause)
        self.location = location


def is_expression(value: Any) -> bool:
    return type(value) is str and value.startswith("{%") and value.endswith("%}")


def _body(text: str) -> str:
    return text[2:-2].strip()


def expressions(value: Any, where: str = "") -> list[tuple[str, str]]:
    """Every ``{% %}`` string in ``value`` with its location (for validation)."""
    found: list[tuple[str, str]] = []
    if is_expression(value):
        found.append((where, value))
    elif type(value) is dict:
        for key, item in value.items():
            found.extend(expressions(item, f"{where}/{key}" if where else key))
    elif type(value) is list:
        for i, item in enumerate(value):
            found.extend(expressions(item, f"{where}/{i}" if where else str(i)))
    return found


# ---------------------------------------------------------------------- AWS's functions


class _Raise(Exception):
    """A function's argument error, turned into a QueryEvaluationError by the caller."""


def _partition(array: Any, size: Any = None) -> list[Any]:
    if type(array) is not list and not isinstance(array, list):
        raise _Raise("$partition: the first argument must be an array")
    if isinstance(size, bool) or not isinstance(size, int | float) or size < 1:
        raise _Raise("$partition: the chunk size must be a positive integer")
    n = int(size)
    return [list(array[i : i + n]) for i in range(0, len(array), n)]


def _range(start: Any, end: Any = None, step: Any = 1) -> list[Any]:
    for name, value in (("start", start), ("end", end), ("step", step)):
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise _Raise(f"$range: {name} must be a number")
    if step == 0:
        raise _Raise("$range: step must not be 0")
    out: list[Any] = []
    value = start
    while (step > 0 and value <= end) or (step < 0 and value >= end):
        out.append(value)
        if len(out) > MAX_RANGE_ITEMS:
            raise _Raise(f"$range: the result has more than {MAX_RANGE_ITEMS} items")
        value += step
    return out


def _hash(value: Any, algorithm: Any = None) -> str:
    if not isinstance(value, str):
        raise _Raise("$hash: the value to hash must be a string")
    name = HASH_ALGORITHMS.get(algorithm) if isinstance(algorithm, str) else None
    if name is None:
        raise _Raise(f"$hash: the algorithm must be one of {', '.join(HASH_ALGORITHMS)}")
    return hashlib.new(name, value.encode()).hexdigest()


def _random(seed: Any = None) -> float:
    if seed is None:
        return random.random()
    if isinstance(seed, bool) or not isinstance(seed, int | float):
        raise _Raise("$random: the seed must be a number")
    return random.Random(seed).random()


def _uuid() -> str:
    return str(uuid.uuid4())


def _parse(text: Any = None) -> Any:
    if not isinstance(text, str):
        raise _Raise("$parse: the argument must be a JSON string")
    try:
        return _to_jsonata(json.loads(text))
    except ValueError as e:
        raise _Raise(f"$parse: the argument is not valid JSON ({e})") from e


def _no_eval(*_args: Any) -> Any:
    raise _Raise("$eval is not available in Step Functions; use $parse to read a JSON string")


_FUNCTIONS: dict[str, Callable[..., Any]] = {
    "partition": _partition,
    "range": _range,
    "hash": _hash,
    "random": _random,
    "uuid": _uuid,
    "parse": _parse,
    "eval": _no_eval,
}


def _to_jsonata(value: Any) -> Any:
    """JSON null parsed by Python (None) as JSONata's null."""
    if value is None:
        return _NULL
    if type(value) is dict:
        return {k: _to_jsonata(v) for k, v in value.items()}
    if type(value) is list:
        return [_to_jsonata(v) for v in value]
    return value


def _plain(value: Any) -> Any:
    """A JSONata result as plain JSON values: null -> None, sequences -> list."""
    if value is _NULL:
        return None
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    if isinstance(value, float) and value.is_integer() and abs(value) < 2**53:
        return int(value)
    return value


# ---------------------------------------------------------------------- compiling

# A reference: $states.input.a.b / $states.context.X / $var.a.b (names only, no arrays).
_REFERENCE = re.compile(r"^\$([A-Za-z_][A-Za-z0-9_]*)((?:\.[A-Za-z_][A-Za-z0-9_]*)*)$")
_MISSING = object()


class Expression:
    """A compiled ``{% %}`` expression."""

    __slots__ = ("compiled", "reference", "text")

    def __init__(self, text: str):
        self.text = text
        body = _body(text)
        m = _REFERENCE.match(body)
        self.reference: tuple[str, tuple[str, ...]] | None = (
            (m[1], tuple(m[2].split(".")[1:])) if m else None
        )
        try:
            compiled = Jsonata(body)
        except JException as e:
            raise JsonataSyntaxError(f"{e.error}: {e}") from e
        except Exception as e:  # the parser raises plain errors on some inputs
            raise JsonataSyntaxError(str(e)) from e
        if compiled.errors:
            raise JsonataSyntaxError("; ".join(str(err) for err in compiled.errors))
        compiled.set_output_convert_nulls(False)
        for name, fn in _FUNCTIONS.items():
            compiled.register_lambda(name, fn)
        self.compiled = compiled

    @property
    def body(self) -> str:
        return _body(self.text)

    def evaluate(self, bindings: Mapping[str, Any], field: str) -> Any:
        if self.reference is not None:
            value = self._lookup(bindings)
            if value is not _MISSING:
                return value
        instance = copy.copy(self.compiled)  # the interpreter keeps per-run state on it
        Jsonata.CURRENT.jsonata = instance  # $now(), $millis() read the running instance
        try:
            result = instance.evaluate(None, bindings)
        except _Raise as e:
            raise self._failure(field, str(e)) from e
        except JException as e:
            raise self._failure(field, f"{e.error}: {e}") from e
        except RecursionError as e:
            raise self._failure(field, "the expression recursed too deeply") from e
        except (TypeError, ValueError, KeyError, IndexError, AttributeError) as e:
            raise self._failure(field, f"{type(e).__name__}: {e}") from e
        if result is None:
            raise QueryEvaluationError(
                f"The JSONata expression '{self.body}' specified for the field '{field}' "
                "returned nothing (undefined).",
                field,
            )
        return _plain(result)

    def _lookup(self, bindings: Mapping[str, Any]) -> Any:
        assert self.reference is not None
        name, steps = self.reference
        value = bindings.get(name, _MISSING)
        for step in steps:
            if type(value) is not dict:
                return _MISSING  # arrays map, scalars give undefined: the interpreter decides
            value = value.get(step, _MISSING)
        if value is None:
            return None
        if type(value) is list or value is _MISSING:
            return _MISSING  # empty arrays and sequences: let the interpreter answer
        return value

    def _failure(self, field: str, detail: str) -> QueryEvaluationError:
        return QueryEvaluationError(
            f"The JSONata expression '{self.body}' specified for the field '{field}' threw an "
            f"error during evaluation. {detail}",
            field,
        )


_CACHE: dict[str, Expression] = {}
_CACHE_LOCK = threading.Lock()


def compile_expression(text: str) -> Expression:
    """Compile (and cache) a ``{% %}`` string; raise :class:`JsonataSyntaxError`."""
    expr = _CACHE.get(text)
    if expr is None:
        expr = Expression(text)
        with _CACHE_LOCK:
            if len(_CACHE) < 10_000:
                _CACHE[text] = expr
    return expr


# ---------------------------------------------------------------------- evaluating


def evaluate_expression(value: Any, bindings: Mapping[str, Any], field: str) -> Any:
    """One field: an expression string is evaluated, any other value returned as it is."""
    if is_expression(value):
        return compile_expression(value).evaluate(bindings, field)
    return value


def evaluate_template(value: Any, bindings: Mapping[str, Any], field: str) -> Any:
    """A JSON value with ``{% %}`` strings at any depth, evaluated into a new value."""
    if type(value) is str:
        if value.startswith("{%") and value.endswith("%}"):
            return compile_expression(value).evaluate(bindings, field)
        return value
    if type(value) is dict:
        return {k: evaluate_template(v, bindings, f"{field}/{k}") for k, v in value.items()}
    if type(value) is list:
        return [evaluate_template(v, bindings, f"{field}/{i}") for i, v in enumerate(value)]
    return value
