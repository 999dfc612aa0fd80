"""Intrinsic functions: ``States.Format('{}', $.name)`` and the rest.

:func:`parse` turns an expression into a :class:`Call` tree with a small tokenizer and a
recursive-descent parser (so nesting, quotes and brackets inside path arguments all work) and
raises :class:`IntrinsicSyntaxError` at definition time.  :func:`evaluate` runs a call against
the state's data and context object and raises
``StateFailure(States.IntrinsicFailure, cause)`` when an argument is wrong.

Grammar::

    call     := NAME '(' [arg (',' arg)*] ')'
    arg      := STRING | NUMBER | 'true' | 'false' | 'null' | PATH | call
    STRING   := "'" (char | '\\' any)* "'"
    PATH     := '$' ... up to a ',' or ')' outside brackets and quotes
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import random
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from localaws.asl import paths
from localaws.asl.errors import StateFailure, StatesError

__all__ = ["FUNCTIONS", "Call", "IntrinsicSyntaxError", "Literal", "PathArg", "evaluate", "parse"]

MAX_NESTING = 10  # AWS: "You can nest up to 10 intrinsic functions within a field"
MAX_STRING = 10_000  # Base64Encode/Decode and Hash input limit on AWS
MAX_RANGE_ITEMS = 1000  # States.ArrayRange result limit on AWS
INT32 = (-(2**31), 2**31 - 1)  # MathAdd/MathRandom operand range on AWS


class IntrinsicSyntaxError(ValueError):
    """An intrinsic function call that does not parse; the message gives the position."""


@dataclass(frozen=True, slots=True)
class Literal:
    value: Any
    raw: str | None = None  # the undecoded text of a string literal (States.Format needs it)


@dataclass(frozen=True, slots=True)
class PathArg:
    path: str


@dataclass(frozen=True, slots=True)
class Call:
    name: str
    args: tuple[Literal | PathArg | Call, ...]
    text: str = ""


# ---------------------------------------------------------------------------- parsing


class _Parser:
    def __init__(self, text: str):
        self.text = text
        self.pos = 0

    def error(self, message: str) -> IntrinsicSyntaxError:
        return IntrinsicSyntaxError(
            f"invalid intrinsic function '{self.text}': {message} at position {self.pos}"
        )

    def skip_space(self) -> None:
        while self.pos < len(self.text) and self.text[self.pos].isspace():
            self.pos += 1

    def peek(self) -> str:
        self.skip_space()
        return self.text[self.pos] if self.pos < len(self.text) else ""

    def expect(self, char: str) -> None:
        if self.peek() != char:
            found = repr(self.text[self.pos]) if self.pos < len(self.text) else "end of input"
            raise self.error(f"expected '{char}', found {found}")
        self.pos += 1

    def call(self, depth: int) -> Call:
        if depth > MAX_NESTING:
            raise self.error(f"more than {MAX_NESTING} nested intrinsic functions")
        self.skip_space()
        start = self.pos
        while self.pos < len(self.text) and (
            self.text[self.pos].isalnum() or self.text[self.pos] in "._"
        ):
            self.pos += 1
        name = self.text[start : self.pos]
        if not name:
            raise self.error("expected a function name")
        if name not in FUNCTIONS:
            self.pos = start
            raise self.error(f"unknown function '{name}'; known: {', '.join(sorted(FUNCTIONS))}")
        self.expect("(")
        args: list[Literal | PathArg | Call] = []
        if self.peek() == ")":
            self.pos += 1
        else:
            while True:
                args.append(self.arg(depth))
                c = self.peek()
                self.pos += 1
                if c == ")":
                    break
                if c != ",":
                    self.pos -= 1
                    raise self.error("expected ',' or ')'")
        spec = FUNCTIONS[name]
        if not spec.min_args <= len(args) <= spec.max_args:
            self.pos = start
            raise self.error(f"{name} takes {spec.arity()} argument(s), got {len(args)}")
        if name == "States.Format" and type(args[0]) is Literal and args[0].raw is not None:
            wanted = format_placeholders(args[0].raw)
            if wanted > len(args) - 1:
                self.pos = start
                raise self.error(
                    f"the format string has {wanted} placeholder(s) {{}} but only "
                    f"{len(args) - 1} value argument(s) follow it; add the missing argument(s)"
                )
        return Call(name, tuple(args), self.text[start : self.pos])

    def arg(self, depth: int) -> Literal | PathArg | Call:
        c = self.peek()
        if c == "'":
            return self.string()
        if c == "$":
            return self.path()
        if c == "-" or c.isdigit():
            return self.number()
        for word, value in (("true", True), ("false", False), ("null", None)):
            if self.text.startswith(word, self.pos) and not self._word_continues(len(word)):
                self.pos += len(word)
                return Literal(value)
        if c.isalpha():
            return self.call(depth + 1)
        raise self.error("expected an argument (string, number, true, false, null, path or call)")

    def _word_continues(self, n: int) -> bool:
        end = self.pos + n
        return end < len(self.text) and (self.text[end].isalnum() or self.text[end] in "._")

    def string(self) -> Literal:
        self.pos += 1  # opening quote
        start = self.pos
        chars: list[str] = []
        while self.pos < len(self.text):
            c = self.text[self.pos]
            if c == "\\":
                if self.pos + 1 >= len(self.text):
                    break
                chars.append(self.text[self.pos + 1])
                self.pos += 2
                continue
            if c == "'":
                raw = self.text[start : self.pos]
                self.pos += 1
                return Literal("".join(chars), raw)
            chars.append(c)
            self.pos += 1
        self.pos = start - 1
        raise self.error("unterminated string literal")

    def number(self) -> Literal:
        start = self.pos
        if self.text[self.pos] == "-":
            self.pos += 1
        while self.pos < len(self.text) and (
            self.text[self.pos].isdigit() or self.text[self.pos] in ".eE+-"
        ):
            self.pos += 1
        token = self.text[start : self.pos]
        try:
            value: Any = json.loads(token)
        except ValueError:
            self.pos = start
            raise self.error(f"invalid number '{token}'") from None
        if not isinstance(value, int | float):
            self.pos = start
            raise self.error(f"invalid number '{token}'")
        return Literal(value)

    def path(self) -> PathArg:
        start = self.pos
        depth = 0
        quote = ""
        while self.pos < len(self.text):
            c = self.text[self.pos]
            if quote:
                if c == "\\":
                    self.pos += 1
                elif c == quote:
                    quote = ""
            elif c in "'\"":
                quote = c
            elif c in "[(":
                depth += 1
            elif c in "])":
                if depth == 0:
                    break
                depth -= 1
            elif c == "," and depth == 0:
                break
            self.pos += 1
        text = self.text[start : self.pos].strip()
        try:
            paths.parse_path(text)
        except paths.PathSyntaxError as e:
            self.pos = start
            raise self.error(str(e)) from e
        return PathArg(text)


_CACHE: dict[str, Call] = {}


def parse(expr: str) -> Call:
    """Parse (and cache) an intrinsic function call; raise :class:`IntrinsicSyntaxError`."""
    call = _CACHE.get(expr)
    if call is None:
        parser = _Parser(expr)
        call = parser.call(1)
        if parser.peek():
            raise parser.error("unexpected text after the closing ')'")
        if len(_CACHE) < 10_000:
            _CACHE[expr] = call
    return call


def is_intrinsic(value: Any) -> bool:
    """True if ``value`` looks like an intrinsic call (``States.X(...)``), valid or not."""
    return isinstance(value, str) and value.startswith("States.")


# ---------------------------------------------------------------------------- evaluation


def evaluate(call: Call, data: Any, context: Any = None, variables: Any = None) -> Any:
    """Run ``call``; raise ``StateFailure(States.IntrinsicFailure, cause)`` on bad arguments.

    A path argument that matches nothing is ``States.Runtime`` with AWS's cause, which names
    the whole expression: ``The function 'States.Format('{}', $.x)' had the following error:
    The JsonPath argument for the field '$.x' could not be found in the input '{}'``.
    """
    try:
        return _evaluate(call, data, context, variables)
    except paths.PathNotFound as e:
        path = e.path
        if path.variable is not None:
            where = (
                f"The JsonPath argument for the field '{path.text}' names the variable "
                f"'{path.variable}', which is not assigned"
            )
        else:
            source = context if path.context else data
            where = (
                f"The JsonPath argument for the field '{path.text}' could not be found in the "
                f"input '{_to_json(source)}'"
            )
        raise StateFailure(
            StatesError.RUNTIME,
            f"The function '{call.text}' had the following error: {where}",
        ) from e


def _evaluate(call: Call, data: Any, context: Any, variables: Any) -> Any:
    args = [_value(arg, data, context, variables) for arg in call.args]
    return FUNCTIONS[call.name].fn(call, args)


def _value(arg: Literal | PathArg | Call, data: Any, context: Any, variables: Any) -> Any:
    if isinstance(arg, Literal):
        return arg.value
    if isinstance(arg, PathArg):
        return paths.query(arg.path, data, context, variables)
    return _evaluate(arg, data, context, variables)


def _fail(call: Call, message: str) -> StateFailure:
    return StateFailure(
        StatesError.INTRINSIC_FAILURE, f"Invalid arguments in {call.name}: {message}"
    )


def _type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    return "object"


def _want(call: Call, value: Any, kind: str, index: int) -> Any:
    if _type(value) != kind:
        raise _fail(call, f"argument {index + 1} must be a JSON {kind}, got {_type(value)}")
    return value


def _want_int(call: Call, value: Any, index: int, *, limits: tuple[int, int] | None = None) -> int:
    if _type(value) != "number" or (isinstance(value, float) and not value.is_integer()):
        raise _fail(call, f"argument {index + 1} must be an integer, got {json.dumps(value)}")
    n = int(value)
    if limits is not None and not limits[0] <= n <= limits[1]:
        raise _fail(
            call, f"argument {index + 1} ({n}) is outside the range {limits[0]} to {limits[1]}"
        )
    return n


def _to_json(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def format_placeholders(raw: str) -> int:
    """The number of ``{}`` placeholders in a States.Format template (``\\{`` is literal)."""
    count = 0
    i = 0
    while i < len(raw):
        if raw[i] == "\\":
            i += 2
            continue
        if raw.startswith("{}", i):
            count += 1
            i += 2
            continue
        i += 1
    return count


def _format(call: Call, args: list[Any]) -> str:
    template = call.args[0]
    if type(template) is Literal and template.raw is not None:
        raw = template.raw
    else:
        raw = _want(call, args[0], "string", 0)
    values = args[1:]
    out: list[str] = []
    used = 0
    i = 0
    while i < len(raw):
        c = raw[i]
        if c == "\\" and i + 1 < len(raw):
            out.append(raw[i + 1])
            i += 2
            continue
        if c == "{" and raw.startswith("{}", i):
            if used >= len(values):
                raise _fail(
                    call,
                    f"the format string has more placeholders than the {len(values)} "
                    "argument(s) given",
                )
            value = values[used]
            if isinstance(value, list | dict):
                raise _fail(
                    call,
                    f"argument {used + 2} must be a string, number, boolean or null to be "
                    f"formatted, got {_type(value)}",
                )
            out.append(value if isinstance(value, str) else _to_json(value))
            used += 1
            i += 2
            continue
        out.append(c)
        i += 1
    if used != len(values):
        raise _fail(
            call,
            f"the format string has {used} placeholder(s) but {len(values)} argument(s) were given",
        )
    return "".join(out)


def _string_to_json(call: Call, args: list[Any]) -> Any:
    text = _want(call, args[0], "string", 0)
    try:
        return json.loads(text)
    except ValueError as e:
        raise _fail(call, f"the string is not valid JSON: {e}") from e


def _json_to_string(call: Call, args: list[Any]) -> str:
    return _to_json(args[0])


def _array(call: Call, args: list[Any]) -> list[Any]:
    return list(args)


def _array_partition(call: Call, args: list[Any]) -> list[list[Any]]:
    array = _want(call, args[0], "array", 0)
    size = _want_int(call, args[1], 1)
    if size <= 0:
        raise _fail(call, f"the chunk size must be a positive integer, got {size}")
    return [array[i : i + size] for i in range(0, len(array), size)]


def _array_contains(call: Call, args: list[Any]) -> bool:
    array = _want(call, args[0], "array", 0)
    needle = args[1]
    return any(_json_equal(item, needle) for item in array)


def _json_equal(a: Any, b: Any) -> bool:
    if isinstance(a, bool) or isinstance(b, bool):
        return type(a) is type(b) and a == b
    return a == b


def _array_range(call: Call, args: list[Any]) -> list[int]:
    start, end, step = (_want_int(call, args[i], i) for i in range(3))
    if step == 0:
        raise _fail(call, "the step must not be 0")
    stop = end + (1 if step > 0 else -1)
    count = max(0, len(range(start, stop, step)))
    if count > MAX_RANGE_ITEMS:
        raise _fail(call, f"the range has {count} items; at most {MAX_RANGE_ITEMS} are allowed")
    return list(range(start, stop, step))


def _array_get_item(call: Call, args: list[Any]) -> Any:
    array = _want(call, args[0], "array", 0)
    index = _want_int(call, args[1], 1)
    if not 0 <= index < len(array):
        raise _fail(call, f"index {index} is out of bounds for an array of length {len(array)}")
    return array[index]


def _array_length(call: Call, args: list[Any]) -> int:
    return len(_want(call, args[0], "array", 0))


def _array_unique(call: Call, args: list[Any]) -> list[Any]:
    array = _want(call, args[0], "array", 0)
    seen: set[str] = set()
    out = []
    for item in array:
        key = json.dumps(item, sort_keys=True)
        if key not in seen:
            seen.add(key)
            out.append(item)
    return out


def _limited_string(call: Call, value: Any, index: int) -> str:
    text = _want(call, value, "string", index)
    if len(text) > MAX_STRING:
        raise _fail(call, f"the input string is longer than {MAX_STRING} characters")
    return text


def _base64_encode(call: Call, args: list[Any]) -> str:
    return base64.b64encode(_limited_string(call, args[0], 0).encode()).decode("ascii")


def _base64_decode(call: Call, args: list[Any]) -> str:
    text = _limited_string(call, args[0], 0)
    try:
        return base64.b64decode(text, validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError) as e:
        raise _fail(call, f"the input is not valid base64-encoded UTF-8 text: {e}") from e


HASH_ALGORITHMS = {
    "MD5": "md5",
    "SHA-1": "sha1",
    "SHA-256": "sha256",
    "SHA-384": "sha384",
    "SHA-512": "sha512",
}


def _hash(call: Call, args: list[Any]) -> str:
    data = args[0]
    text = data if isinstance(data, str) else _to_json(data)
    if len(text) > MAX_STRING:
        raise _fail(call, f"the input string is longer than {MAX_STRING} characters")
    algorithm = _want(call, args[1], "string", 1)
    name = HASH_ALGORITHMS.get(algorithm)
    if name is None:
        raise _fail(
            call,
            f"unsupported hash algorithm '{algorithm}'; use one of {', '.join(HASH_ALGORITHMS)}",
        )
    return hashlib.new(name, text.encode()).hexdigest()


def _json_merge(call: Call, args: list[Any]) -> dict[str, Any]:
    left = _want(call, args[0], "object", 0)
    right = _want(call, args[1], "object", 1)
    deep = _want(call, args[2], "boolean", 2)
    if deep:
        raise _fail(call, "deep merging is not supported; set the third argument to false")
    return {**left, **right}


def _math_random(call: Call, args: list[Any]) -> int:
    start = _want_int(call, args[0], 0, limits=INT32)
    end = _want_int(call, args[1], 1, limits=INT32)
    if start >= end:
        raise _fail(call, f"the start ({start}) must be less than the end ({end})")
    rng: Any = random
    if len(args) > 2:
        rng = random.Random(_want_int(call, args[2], 2))
    return rng.randrange(start, end)


def _math_add(call: Call, args: list[Any]) -> int:
    a = _want_int(call, args[0], 0, limits=INT32)
    b = _want_int(call, args[1], 1, limits=INT32)
    return a + b


def _string_split(call: Call, args: list[Any]) -> list[str]:
    text = _want(call, args[0], "string", 0)
    delimiters = _want(call, args[1], "string", 1)
    if not delimiters:
        raise _fail(call, "the delimiter must not be empty")
    # Each character of the delimiter splits; empty pieces are dropped (as on AWS).
    pieces: list[str] = []
    current: list[str] = []
    for c in text:
        if c in delimiters:
            if current:
                pieces.append("".join(current))
            current = []
        else:
            current.append(c)
    if current:
        pieces.append("".join(current))
    return pieces


def _uuid(call: Call, args: list[Any]) -> str:
    return str(uuid.uuid4())


@dataclass(frozen=True)
class Function:
    fn: Callable[[Call, list[Any]], Any]
    min_args: int
    max_args: int

    def arity(self) -> str:
        if self.min_args == self.max_args:
            return str(self.min_args)
        if self.max_args > 1000:
            return f"at least {self.min_args}"
        return f"{self.min_args} to {self.max_args}"


FUNCTIONS: dict[str, Function] = {
    "States.Format": Function(_format, 1, 10_000),
    "States.StringToJson": Function(_string_to_json, 1, 1),
    "States.JsonToString": Function(_json_to_string, 1, 1),
    "States.Array": Function(_array, 0, 10_000),
    "States.ArrayPartition": Function(_array_partition, 2, 2),
    "States.ArrayContains": Function(_array_contains, 2, 2),
    "States.ArrayRange": Function(_array_range, 3, 3),
    "States.ArrayGetItem": Function(_array_get_item, 2, 2),
    "States.ArrayLength": Function(_array_length, 1, 1),
    "States.ArrayUnique": Function(_array_unique, 1, 1),
    "States.Base64Encode": Function(_base64_encode, 1, 1),
    "States.Base64Decode": Function(_base64_decode, 1, 1),
    "States.Hash": Function(_hash, 2, 2),
    "States.JsonMerge": Function(_json_merge, 3, 3),
    "States.MathRandom": Function(_math_random, 2, 3),
    "States.MathAdd": Function(_math_add, 2, 2),
    "States.StringSplit": Function(_string_split, 2, 2),
    "States.UUID": Function(_uuid, 0, 0),
}
