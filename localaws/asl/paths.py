"""JSONPath and the input/output processing of a state, in the order the ASL spec gives.

A state's input goes through ``InputPath`` -> ``Parameters`` (or ``ItemSelector``) -> the
state's work -> ``ResultSelector`` -> ``ResultPath`` -> ``OutputPath``.  Each stage is one
function here; they are pure and never mutate their arguments (``ResultPath`` copies only the
containers along the path it writes).

Paths: ``$...`` selects from the data, ``$$...`` from the context object, ``$name...`` from
the workflow variable ``name`` (``"x.$": "$order.id"``).  A *reference* path
(only names and single indices: ``$.a.b``, ``$['a'][0]``) is evaluated here without
jsonpath-ng and returns the value it names; any other path (wildcards, slices, filters, unions,
``..``) goes to jsonpath-ng and returns the list of its matches, as AWS does.  Parsed paths are
cached.

Errors: a path that matches nothing raises :class:`PathNotFound`, a
:class:`~localaws.asl.errors.StateFailure` with error ``States.Runtime`` and AWS's cause
(``Invalid path '$.missing' : No results for path: $['missing']``), so a caller that does not
care gets AWS's default; the stages that AWS reports differently (Parameters, ResultPath)
re-raise with their own error name.  A syntax error raises :class:`PathSyntaxError` (a
``ValueError``), which validation turns into a problem at definition time.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

from jsonpath_ng.exceptions import JSONPathError
from jsonpath_ng.ext import parse as _jsonpath_parse

from localaws.asl import intrinsics
from localaws.asl.errors import StateFailure, StatesError

__all__ = [
    "Path",
    "PathNotFound",
    "PathSyntaxError",
    "apply_input_path",
    "apply_output_path",
    "apply_result_path",
    "is_valid_path",
    "parse_path",
    "payload_template",
    "query",
]


class PathSyntaxError(ValueError):
    """A string that is not a JSONPath this engine accepts; the message says why."""


class PathNotFound(StateFailure):
    """A reference path that names nothing in the data (``States.Runtime`` by default)."""

    def __init__(self, path: Path):
        if path.variable is not None:
            cause = f"Invalid path '{path.text}' : the variable '{path.variable}' is not assigned"
        else:
            cause = f"Invalid path '{path.text}' : No results for path: {path.normalized}"
        super().__init__(StatesError.RUNTIME, cause)
        self.path = path


# A dot-notation name: anything up to the next '.', '[' or an operator character.
_DOT_NAME = re.compile(r"\.([^.\[\]\s'\"*?@(),:=<>!]+)")
_BRACKET_STRING = re.compile(r"\[\s*(?:'((?:[^'\\]|\\.)*)'|\"((?:[^\"\\]|\\.)*)\")\s*\]")
_BRACKET_INDEX = re.compile(r"\[\s*(-?\d+)\s*\]")
_UNESCAPE = re.compile(r"\\(.)")
# A variable reference: $ then a Unicode identifier ($myVar, $order.id, $items[0]).
_VARIABLE = re.compile(r"\$([^\W\d]\w*)")


@dataclass(frozen=True, slots=True)
class Path:
    """A parsed path.  ``steps`` is set for a reference path, ``expr`` otherwise."""

    text: str
    context: bool  # True for $$ (the context object)
    steps: tuple[str | int, ...] | None
    expr: Any = None
    variable: str | None = None  # the workflow variable a $name path starts from

    @property
    def reference(self) -> bool:
        return self.steps is not None

    @property
    def normalized(self) -> str:
        """AWS's bracket form of the path: ``$['a'][0]``."""
        if self.steps is None:
            return self.text
        root = "$$" if self.context else "$" + (self.variable or "")
        return root + "".join(f"[{s}]" if isinstance(s, int) else f"['{s}']" for s in self.steps)

    def find(self, data: Any, context: Any = None, variables: Any = None) -> Any:
        """The value this path names (reference) or the list of its matches (otherwise).

        ``variables`` (a :class:`~localaws.asl.variables.Variables`) answers ``$name`` paths.
        """
        if self.variable is not None:
            if variables is None or not variables.has(self.variable):
                raise PathNotFound(self)
            root = variables.get(self.variable)
        else:
            root = context if self.context else data
        steps = self.steps
        if steps is None:
            return [match.value for match in self.expr.find(root)]
        value = root
        for step in steps:
            if isinstance(step, str):
                if type(value) is not dict or step not in value:
                    raise PathNotFound(self)
                value = value[step]
            else:
                if type(value) is not list or not -len(value) <= step < len(value):
                    raise PathNotFound(self)
                value = value[step]
        return value


_CACHE: dict[str, Path] = {}


def parse_path(text: str) -> Path:
    """Parse (and cache) a ``$``/``$$`` path; raise :class:`PathSyntaxError` if it is not one."""
    path = _CACHE.get(text)
    if path is None:
        path = _parse(text)
        if len(_CACHE) < 10_000:
            _CACHE[text] = path
    return path


def _parse(text: str) -> Path:
    if not isinstance(text, str):
        raise PathSyntaxError(f"a path must be a string, not {type(text).__name__}")
    if not text.startswith("$"):
        raise PathSyntaxError(f"'{text}' is not a JSONPath: it must start with '$'")
    context = text.startswith("$$")
    variable = None
    var = None if context else _VARIABLE.match(text)
    if var is not None:
        variable = var[1]
        rest = text[var.end() :]
    else:
        rest = text[2:] if context else text[1:]
    steps: list[str | int] = []
    pos = 0
    while pos < len(rest):
        m = _DOT_NAME.match(rest, pos)
        if m is not None:
            steps.append(m[1])
            pos = m.end()
            continue
        m = _BRACKET_STRING.match(rest, pos)
        if m is not None:
            raw = m[1] if m[1] is not None else m[2]
            steps.append(_UNESCAPE.sub(r"\1", raw))
            pos = m.end()
            continue
        m = _BRACKET_INDEX.match(rest, pos)
        if m is not None:
            steps.append(int(m[1]))
            pos = m.end()
            continue
        break
    if pos == len(rest):
        return Path(text, context, tuple(steps), variable=variable)
    # Not a reference path: wildcards, slices, filters, unions, descendants.
    try:
        expr = _jsonpath_parse("$" + rest)
    except JSONPathError as e:
        raise PathSyntaxError(f"'{text}' is not a valid JSONPath: {e}") from e
    return Path(text, context, None, expr, variable)


def is_valid_path(s: str, *, reference: bool) -> bool:
    """True if ``s`` parses as a path (a reference path when ``reference`` is True)."""
    try:
        path = parse_path(s)
    except PathSyntaxError:
        return False
    return path.reference or not reference


def query(path: str, data: Any, context: Any = None, variables: Any = None) -> Any:
    """Evaluate ``path`` (``$...`` against ``data``, ``$$...`` against ``context``).

    A reference path returns the value or raises :class:`PathNotFound`; any other path returns
    the (possibly empty) list of matches.  An intrinsic function call (``States.Format(...)``)
    is evaluated too, for the fields that take either (Fail's ``ErrorPath``/``CausePath``).
    """
    parsed = _CACHE.get(path)
    if parsed is None:
        if path.startswith("States."):
            return intrinsics.evaluate(intrinsics.parse(path), data, context, variables)
        parsed = parse_path(path)
    return parsed.find(data, context, variables)


def apply_input_path(
    data: Any, input_path: str | None, context: Any = None, variables: Any = None
) -> Any:
    """InputPath: ``None`` (JSON null) gives ``{}``; ``$`` the whole input."""
    if input_path is None:
        return {}
    if input_path == "$":
        return data
    return query(input_path, data, context, variables)


def apply_output_path(
    data: Any, output_path: str | None, context: Any = None, variables: Any = None
) -> Any:
    """OutputPath: ``None`` (JSON null) gives ``{}``; ``$`` the whole output."""
    if output_path is None:
        return {}
    if output_path == "$":
        return data
    return query(output_path, data, context, variables)


def payload_template(template: Any, data: Any, context: Any = None, variables: Any = None) -> Any:
    """Parameters / ItemSelector / ResultSelector: build a new value from ``template``.

    A key ending in ``.$`` loses the suffix and takes the value of its path or intrinsic
    function call; nested objects and arrays are processed recursively.  A path that matches
    nothing raises ``States.Runtime`` with AWS's cause (``The JSONPath '$.x' specified for the
    field 'x.$' could not be found in the input '{}'``); an intrinsic that fails raises
    ``States.IntrinsicFailure``.
    """
    if type(template) is dict:
        out = {}
        for key, value in template.items():
            if key.endswith(".$"):
                out[key[:-2]] = _dynamic(key, value, data, context, variables)
            elif type(value) is dict or type(value) is list:
                out[key] = payload_template(value, data, context, variables)
            else:
                out[key] = value
        return out
    if type(template) is list:
        return [payload_template(item, data, context, variables) for item in template]
    return template


def _dynamic(key: str, expression: Any, data: Any, context: Any, variables: Any) -> Any:
    if not isinstance(expression, str):
        raise StateFailure(
            StatesError.RUNTIME,
            f"The value for the field '{key}' must be a JSONPath or an intrinsic function, "
            f"not {json.dumps(expression)}",
        )
    if expression.startswith("$"):
        try:
            return query(expression, data, context, variables)
        except PathNotFound as e:
            if e.path.variable is not None:
                raise StateFailure(
                    StatesError.RUNTIME,
                    f"The JSONPath '{expression}' specified for the field '{key}' could not be "
                    f"found: the variable '{e.path.variable}' is not assigned",
                ) from e
            source = context if expression.startswith("$$") else data
            raise StateFailure(
                StatesError.RUNTIME,
                f"The JSONPath '{expression}' specified for the field '{key}' could not be "
                f"found in the input '{_compact(source)}'",
            ) from e
    return intrinsics.evaluate(intrinsics.parse(expression), data, context, variables)


def apply_result_path(state_input: Any, result_path: str | None, result: Any) -> Any:
    """ResultPath: where the state's result goes in its input.

    ``None`` (JSON null) discards the result (the output is the input); ``$`` replaces the
    input; ``$.a.b`` sets that field, creating objects on the way.  Setting a field of a value
    that is not an object raises ``States.ResultPathMatchFailure``.
    """
    if result_path is None:
        return state_input
    if result_path == "$":
        return result
    try:
        path = parse_path(result_path)
    except PathSyntaxError as e:
        raise StateFailure(StatesError.RESULT_PATH_MATCH_FAILURE, str(e)) from e
    if path.steps is None or path.context or path.variable is not None:
        raise StateFailure(
            StatesError.RESULT_PATH_MATCH_FAILURE,
            f"ResultPath '{result_path}' must be a reference path into the state's input",
        )
    return _set(state_input, path.steps, 0, result, result_path)


def _set(node: Any, steps: tuple[str | int, ...], i: int, result: Any, text: str) -> Any:
    step = steps[i]
    last = i == len(steps) - 1
    if isinstance(step, str):
        if type(node) is not dict:
            raise _result_path_failure(text, node, steps[:i], step)
        fields = dict(node)
        fields[step] = result if last else _set(node.get(step, {}), steps, i + 1, result, text)
        return fields
    if type(node) is not list or not -len(node) <= step < len(node):
        raise _result_path_failure(text, node, steps[:i], step)
    items = list(node)
    items[step] = result if last else _set(node[step], steps, i + 1, result, text)
    return items


def _result_path_failure(text: str, node: Any, prefix: tuple, step: str | int) -> StateFailure:
    where = Path(text, False, prefix).normalized
    if isinstance(step, int) and type(node) is list:
        reason = f"the array at {where} has no index {step}"
    else:
        wanted = "an object" if isinstance(step, str) else "an array"
        reason = f"the value at {where} is {json_type(node)}, not {wanted}"
    return StateFailure(
        StatesError.RESULT_PATH_MATCH_FAILURE,
        f"Unable to apply ResultPath '{text}' to input '{_compact(node)}': {reason}",
    )


def json_type(value: Any) -> str:
    """ "a number", "an array"...: how messages name a JSON value's type."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "an array"
    return "an object"


def _compact(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False, default=str)
