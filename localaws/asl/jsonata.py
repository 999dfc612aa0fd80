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

_MISSING = object()


class _Slow(Exception):
    """The compiled form cannot answer this case: the interpreter will."""


def _plain_number(value: Any) -> bool:
    return type(value) is int or type(value) is float


def _compile_fast(node: Any) -> Callable[[Mapping[str, Any]], Any] | None:
    """A Python function for a small part of JSONata, or None when ``node`` is outside it.

    The part: literals, variables, paths of object field names from a variable
    (``$states.input.a.b``), arithmetic on numbers, ``&`` on strings, comparisons of numbers
    or strings, ``and``/``or`` on booleans.  Anything else (arrays met on a path, other
    types, undefined operands) raises :class:`_Slow` at run time and the interpreter
    answers, so results and errors stay the interpreter's.
    """
    kind = getattr(node, "type", None)
    for attr in ("stages", "predicate", "group", "focus", "tuple", "ancestor"):
        if getattr(node, attr, None):
            return None
    if getattr(node, "keep_array", False):
        return None
    if kind in ("number", "string"):
        value = node.value
        return lambda b: value
    if kind == "value" and isinstance(node.value, bool):
        value = node.value
        return lambda b: value
    if kind == "variable" and node.value:
        name = node.value

        def variable(b: Mapping[str, Any]) -> Any:
            value = b.get(name, _MISSING)
            if value is _MISSING or type(value) is list:
                raise _Slow
            return value

        return variable
    if kind == "path":
        steps = node.steps or []
        if len(steps) < 2 or getattr(steps[0], "type", None) != "variable":
            return None
        for step in steps:
            for attr in ("stages", "predicate", "group", "focus", "tuple", "ancestor"):
                if getattr(step, attr, None):
                    return None
            if getattr(step, "keep_array", False):
                return None
        if any(getattr(step, "type", None) != "name" for step in steps[1:]):
            return None
        root, names = steps[0].value, tuple(step.value for step in steps[1:])

        def path(b: Mapping[str, Any]) -> Any:
            value = b.get(root, _MISSING)
            for name in names:
                if type(value) is not dict:
                    raise _Slow  # arrays map, scalars give undefined
                value = value.get(name, _MISSING)
            if value is _MISSING or type(value) is list:
                raise _Slow
            return value

        return path
    if kind == "binary":
        lhs, rhs = _compile_fast(node.lhs), _compile_fast(node.rhs)
        op = _BINARY.get(node.value)
        if lhs is None or rhs is None or op is None:
            return None
        return lambda b: op(lhs(b), rhs(b))
    return None


def _arith(fn: Callable[[Any, Any], Any]) -> Callable[[Any, Any], Any]:
    def apply(a: Any, b: Any) -> Any:
        if not (_plain_number(a) and _plain_number(b)):
            raise _Slow
        result = fn(a, b)
        if not _plain_number(result) or abs(result) >= 2**53:
            raise _Slow
        return result

    return apply


def _divide(a: Any, b: Any) -> Any:
    if b == 0:
        raise _Slow
    return a / b


def _remainder(a: Any, b: Any) -> Any:
    if b == 0 or a < 0 or b < 0:
        raise _Slow  # JavaScript's % differs from Python's on negatives
    return a % b


def _order(fn: Callable[[Any, Any], bool]) -> Callable[[Any, Any], bool]:
    def apply(a: Any, b: Any) -> bool:
        if (_plain_number(a) and _plain_number(b)) or (type(a) is str and type(b) is str):
            return fn(a, b)
        raise _Slow

    return apply


def _equality(negate: bool) -> Callable[[Any, Any], bool]:
    scalar = (str, int, float, bool)

    def apply(a: Any, b: Any) -> bool:
        if type(a) not in scalar or type(b) not in scalar:
            raise _Slow
        same = type(a) is type(b) or (_plain_number(a) and _plain_number(b))
        equal = same and a == b
        return not equal if negate else equal

    return apply


def _concat(a: Any, b: Any) -> str:
    if type(a) is str and type(b) is str:
        return a + b
    raise _Slow


def _boolean(fn: Callable[[bool, bool], bool]) -> Callable[[Any, Any], bool]:
    def apply(a: Any, b: Any) -> bool:
        if type(a) is bool and type(b) is bool:
            return fn(a, b)
        raise _Slow

    return apply


_BINARY: dict[str, Callable[[Any, Any], Any]] = {
    "+": _arith(lambda a, b: a + b),
    "-": _arith(lambda a, b: a - b),
    "*": _arith(lambda a, b: a * b),
    "/": _arith(_divide),
    "%": _arith(_remainder),
    "&": _concat,
    "=": _equality(False),
    "!=": _equality(True),
    "<": _order(lambda a, b: a < b),
    "<=": _order(lambda a, b: a <= b),
    ">": _order(lambda a, b: a > b),
    ">=": _order(lambda a, b: a >= b),
    "and": _boolean(lambda a, b: a and b),
    "or": _boolean(lambda a, b: a or b),
}


class Expression:
    """A compiled ``{% %}`` expression."""

    __slots__ = ("compiled", "fast", "text")

    def __init__(self, text: str):
        self.text = text
        body = _body(text)
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
        self.fast = _compile_fast(compiled.ast)

    @property
    def body(self) -> str:
        return _body(self.text)

    def top_level_problem(self) -> str | None:
        """Why the expression cannot read anything (``$``, ``$$`` or a bare field name at its
        top: a JSONata state has no input document; the input is ``$states.input``)."""
        ast = self.compiled.ast
        first = ast.steps[0] if getattr(ast, "type", None) == "path" and ast.steps else ast
        kind, value = getattr(first, "type", None), getattr(first, "value", None)
        if kind == "variable" and value in ("", "$"):
            root = "$" if value == "" else "$$"
            return f'"{root}" at the top of an expression reads nothing; use $states.input'
        if kind == "name":
            return (
                f'the field name "{value}" at the top of an expression reads nothing; '
                f"use $states.input.{value}"
            )
        return None

    def evaluate(self, bindings: Mapping[str, Any], field: str) -> Any:
        if self.fast is not None:
            try:
                value = self.fast(bindings)
            except _Slow:
                pass
            else:
                return _plain(value) if type(value) is float else value
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
        except (TypeError, ValueError, KeyError, IndexError, AttributeError, ArithmeticError) as e:
            raise self._failure(field, f"{type(e).__name__}: {e}") from e
        if result is None:
            raise QueryEvaluationError(
                f"The JSONata expression '{self.body}' specified for the field '{field}' "
                "returned nothing (undefined).",
                field,
            )
        return _plain(result)

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
