"""Definition validation: everything AWS checks when a state machine is created, and more.

:func:`validate_definition` collects every problem (not only the first) and raises
:class:`InvalidDefinition` listing them; each problem starts with a JSON-pointer location that
names the state and the field (``/States/Train/Next: no state named "Trian"; did you mean
"Train"?``).  Features that exist on AWS but not locally (Distributed Map) are refused here,
when the definition is created, never in the middle of a run.

Each state is checked against the fields of its query language: a JSONata state refuses the
JSONPath fields (Parameters, ResultPath, InputPath...) and a JSONPath state the JSONata ones
(Arguments, Output, Items, Condition), naming the field that replaces it.  Every ``{% %}``
expression is compiled, every ``Assign`` name checked, and a Parallel branch or Map
iteration may read but not assign a variable of an enclosing scope.
"""

from __future__ import annotations

import difflib
import json
from collections.abc import Callable, Iterable, Iterator
from typing import Any

from localaws.asl import choice, intrinsics, paths
from localaws.asl.errors import StatesError
from localaws.asl.jsonata import JsonataSyntaxError, compile_expression, expressions, is_expression
from localaws.asl.paths import json_type
from localaws.asl.variables import name_problem
from localaws.errors import UserError

__all__ = ["JSONATA_STATE_FIELDS", "STATE_FIELDS", "InvalidDefinition", "validate_definition"]

MAX_STATE_NAME = 80
MAX_SECONDS = 99_999_999  # AWS's upper bound for TimeoutSeconds, Seconds, IntervalSeconds...
MAX_DELAY_SECONDS = 31_622_400  # Retry MaxDelaySeconds upper bound on AWS (one year)

_COMMON = frozenset({"Type", "Comment", "QueryLanguage"})
_IO = frozenset({"InputPath", "OutputPath"})
_FLOW = frozenset({"Next", "End"})

_ASSIGN = frozenset({"Assign"})

# The fields of each state type in a JSONPath state (the default query language).
STATE_FIELDS: dict[str, frozenset[str]] = {
    "Pass": _COMMON | _IO | _FLOW | _ASSIGN | {"ResultPath", "Parameters", "Result"},
    "Task": _COMMON
    | _IO
    | _FLOW
    | _ASSIGN
    | {
        "Resource",
        "Parameters",
        "ResultSelector",
        "ResultPath",
        "TimeoutSeconds",
        "TimeoutSecondsPath",
        "HeartbeatSeconds",
        "HeartbeatSecondsPath",
        "Retry",
        "Catch",
        "Credentials",
    },
    "Choice": _COMMON | _IO | _ASSIGN | {"Choices", "Default"},
    "Wait": _COMMON
    | _IO
    | _FLOW
    | _ASSIGN
    | {"Seconds", "Timestamp", "SecondsPath", "TimestampPath"},
    "Succeed": _COMMON | _IO,
    "Fail": _COMMON | {"Error", "ErrorPath", "Cause", "CausePath"},
    "Parallel": _COMMON
    | _IO
    | _FLOW
    | _ASSIGN
    | {"Branches", "Parameters", "ResultSelector", "ResultPath", "Retry", "Catch"},
    "Map": _COMMON
    | _IO
    | _FLOW
    | _ASSIGN
    | {
        "Iterator",
        "ItemProcessor",
        "ItemsPath",
        "ItemSelector",
        "Parameters",
        "ResultSelector",
        "ResultPath",
        "MaxConcurrency",
        "MaxConcurrencyPath",
        "ToleratedFailureCount",
        "ToleratedFailureCountPath",
        "ToleratedFailurePercentage",
        "ToleratedFailurePercentagePath",
        "Label",
        "ItemReader",
        "ItemBatcher",
        "ResultWriter",
        "Retry",
        "Catch",
    },
}
_OUT = frozenset({"Output"})
_TASK_JSONATA = frozenset({"Resource", "Arguments", "TimeoutSeconds", "HeartbeatSeconds"})

# The fields of each state type in a JSONata state.
JSONATA_STATE_FIELDS: dict[str, frozenset[str]] = {
    "Pass": _COMMON | _FLOW | _ASSIGN | _OUT,
    "Task": _COMMON | _FLOW | _ASSIGN | _OUT | _TASK_JSONATA | {"Retry", "Catch", "Credentials"},
    "Choice": _COMMON | _ASSIGN | _OUT | {"Choices", "Default"},
    "Wait": _COMMON | _FLOW | _ASSIGN | _OUT | {"Seconds", "Timestamp"},
    "Succeed": _COMMON | _OUT,
    "Fail": _COMMON | {"Error", "Cause"},
    "Parallel": _COMMON | _FLOW | _ASSIGN | _OUT | {"Branches", "Arguments", "Retry", "Catch"},
    "Map": _COMMON
    | _FLOW
    | _ASSIGN
    | _OUT
    | {
        "Iterator",
        "ItemProcessor",
        "Items",
        "ItemSelector",
        "MaxConcurrency",
        "ToleratedFailureCount",
        "ToleratedFailurePercentage",
        "Label",
        "Retry",
        "Catch",
    },
}

# A JSONPath-only field in a JSONata state: what to write instead.
JSONPATH_ONLY: dict[str, str] = {
    "Parameters": "Arguments",
    "InputPath": "Arguments (with {% $states.input... %} expressions)",
    "ResultSelector": "Output",
    "ResultPath": "Output (and Assign)",
    "OutputPath": "Output",
    "Result": "Output",
    "ItemsPath": "Items",
    "TimeoutSecondsPath": "TimeoutSeconds with a {% %} expression",
    "HeartbeatSecondsPath": "HeartbeatSeconds with a {% %} expression",
    "SecondsPath": "Seconds with a {% %} expression",
    "TimestampPath": "Timestamp with a {% %} expression",
    "ErrorPath": "Error with a {% %} expression",
    "CausePath": "Cause with a {% %} expression",
    "MaxConcurrencyPath": "MaxConcurrency with a {% %} expression",
    "ToleratedFailureCountPath": "ToleratedFailureCount with a {% %} expression",
    "ToleratedFailurePercentagePath": "ToleratedFailurePercentage with a {% %} expression",
    "Variable": "Condition",
}
# A JSONata-only field in a JSONPath state: what to write instead.
JSONATA_ONLY: dict[str, str] = {
    "Arguments": "Parameters",
    "Output": "OutputPath or ResultSelector",
    "Items": "ItemsPath",
    "Condition": "Variable with a comparison operator",
}

_TERMINAL_TYPES = frozenset({"Choice", "Succeed", "Fail"})

# Fields that exist on AWS but that this runtime refuses, with the reason.
UNSUPPORTED_FIELDS: dict[str, str] = {}

_TOP_FIELDS = frozenset(
    {"StartAt", "States", "Comment", "TimeoutSeconds", "Version", "QueryLanguage"}
)
_BRANCH_FIELDS = frozenset({"StartAt", "States", "Comment"})
_PROCESSOR_FIELDS = frozenset({"StartAt", "States", "Comment", "ProcessorConfig"})
_RETRY_FIELDS = frozenset(
    {
        "ErrorEquals",
        "IntervalSeconds",
        "MaxAttempts",
        "BackoffRate",
        "MaxDelaySeconds",
        "JitterStrategy",
        "Comment",
    }
)
_CATCH_FIELDS = frozenset({"ErrorEquals", "Next", "ResultPath", "Comment", "Assign"})
_JSONATA_CATCH_FIELDS = frozenset({"ErrorEquals", "Next", "Comment", "Assign", "Output"})
_QUERY_LANGUAGES = ("JSONPath", "JSONata")
_JSONATA_RULE_FIELDS = frozenset({"Condition", "Next", "Comment", "Assign", "Output"})
# Fields of a JSONata state whose {% %} expressions are compiled at creation.
_JSONATA_VALUE_FIELDS = (
    "Arguments",
    "Output",
    "Assign",
    "Items",
    "ItemSelector",
    "TimeoutSeconds",
    "HeartbeatSeconds",
    "Seconds",
    "Timestamp",
    "Error",
    "Cause",
    "MaxConcurrency",
    "ToleratedFailureCount",
    "ToleratedFailurePercentage",
)
_KNOWN_STATES_ERRORS = frozenset(e.value for e in StatesError) | {"States.DataLimitExceeded"}
_RULE_OPERATORS = frozenset({"And", "Or", "Not", *choice.COMPARISONS, *choice.TYPE_TESTS})


# Distributed Map: where items come from and where results go.
DISTRIBUTED_READERS = ("arn:aws:states:::s3:getObject", "arn:aws:states:::s3:listObjectsV2")
READER_INPUT_TYPES = ("CSV", "JSON", "JSONL", "MANIFEST")
RESULT_WRITER_RESOURCE = "arn:aws:states:::s3:putObject"


class InvalidDefinition(UserError):
    """A state machine definition that cannot run; ``problems`` lists every reason."""

    def __init__(self, problems: list[str], located: list[tuple[str, str]] | None = None):
        self.problems = list(problems)
        # (JSON pointer of the field, message) of each problem, for diagnostics.
        self.located = list(located) if located is not None else [("/", p) for p in problems]
        self.not_json = False
        super().__init__("Invalid State Machine Definition: " + "; ".join(self.problems))


def validate_definition(
    definition: str | dict[str, Any],
    resolve_resource: Callable[[str], object] | None = None,
) -> dict[str, Any]:
    """Return the parsed definition, or raise :class:`InvalidDefinition` listing every problem.

    ``resolve_resource`` (an ``IntegrationRegistry.resolve``) is called with each Task's
    ``Resource``; a :class:`UserError` it raises becomes a problem at ``/States/<name>/Resource``.
    """
    if isinstance(definition, str):
        try:
            definition = json.loads(definition)
        except ValueError as e:
            invalid = InvalidDefinition([f"/: the definition is not valid JSON: {e}"])
            invalid.not_json = True
            raise invalid from e
    if not isinstance(definition, dict):
        raise InvalidDefinition(
            [f"/: the definition must be a JSON object, not {json_type(definition)}"]
        )
    checker = _Checker(resolve_resource)
    checker.machine(definition, "", _TOP_FIELDS)
    if checker.problems:
        raise InvalidDefinition(checker.problems, checker.located)
    return definition


def _pointer(*parts: str | int) -> str:
    return "".join("/" + str(p).replace("~", "~0").replace("/", "~1") for p in parts)


def _suggest(name: str, candidates: Iterable[str]) -> str:
    close = difflib.get_close_matches(name, list(candidates), n=1, cutoff=0.6)
    return f'; did you mean "{close[0]}"?' if close else ""


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


class _Checker:
    def __init__(self, resolve_resource: Callable[[str], object] | None):
        self.resolve_resource = resolve_resource
        self.problems: list[str] = []
        self.located: list[tuple[str, str]] = []
        self.seen_names: dict[str, str] = {}  # state name -> where it was first defined
        self.language = "JSONPath"  # the definition's QueryLanguage
        self.jsonata = False  # the state being checked is a JSONata state
        # variables assigned by the enclosing scopes (read-only in a branch or iteration)
        self.outer: frozenset[str] = frozenset()
        self.inner: frozenset[str] = frozenset()  # ... and by the current state's scope

    def problem(self, where: str, message: str) -> None:
        self.problems.append(f"{where or '/'}: {message}")
        self.located.append((where or "/", message))

    # ------------------------------------------------------------------ machines

    def machine(self, m: Any, where: str, allowed: frozenset[str]) -> None:
        if not isinstance(m, dict):
            self.problem(where, f"must be an object with StartAt and States, not {json_type(m)}")
            return
        for key in m:
            if key not in allowed:
                self.unknown_field(_pointer_join(where, key), key, allowed, "here")
        if "QueryLanguage" in m:
            self.query_language(m["QueryLanguage"], _pointer_join(where, "QueryLanguage"))
            if where == "" and m["QueryLanguage"] in _QUERY_LANGUAGES:
                self.language = m["QueryLanguage"]
        if where == "":
            if "TimeoutSeconds" in m:
                self.positive_int(m["TimeoutSeconds"], "/TimeoutSeconds", MAX_SECONDS)
            if "Version" in m and not isinstance(m["Version"], str):
                self.problem(
                    "/Version", f'must be a string such as "1.0", not {json_type(m["Version"])}'
                )
        if "Comment" in m and not isinstance(m["Comment"], str):
            self.problem(_pointer_join(where, "Comment"), "must be a string")
        states = m.get("States")
        if not isinstance(states, dict) or not states:
            self.problem(
                _pointer_join(where, "States"),
                "required: an object with at least one state"
                if states is None
                else f"must be a non-empty object of states, not {json_type(states)}",
            )
            states = {}
        start = m.get("StartAt")
        if start is None:
            self.problem(_pointer_join(where, "StartAt"), "required: the name of the first state")
        elif not isinstance(start, str):
            self.problem(
                _pointer_join(where, "StartAt"), f"must be a string, not {json_type(start)}"
            )
        elif states and start not in states:
            self.problem(
                _pointer_join(where, "StartAt"),
                f'no state named "{start}"{_suggest(start, states)}',
            )
        names = set(states)
        outer = self.outer
        # A branch or iteration inside these states reads what any of them assigns.
        inner = outer | {n for st in states.values() for n in _assigned_names(st)}
        for name, state in states.items():
            self.state(name, state, where + _pointer("States", name), names, inner)
        if isinstance(start, str) and start in states:
            self.reachability(start, states, where)

    def reachability(self, start: str, states: dict[str, Any], where: str) -> None:
        reached = {start}
        todo = [start]
        while todo:
            state = states.get(todo.pop())
            if not isinstance(state, dict):
                continue
            for target in _transitions(state):
                if target in states and target not in reached:
                    reached.add(target)
                    todo.append(target)
        for name in states:
            if name not in reached:
                self.problem(
                    where + _pointer("States", name),
                    f'state "{name}" is not reachable from StartAt "{start}"; '
                    "remove it or add a Next that leads to it",
                )

    # ------------------------------------------------------------------ states

    def state(
        self, name: str, st: Any, where: str, names: set[str], inner: frozenset[str] = frozenset()
    ) -> None:
        if len(name) > MAX_STATE_NAME:
            self.problem(
                where, f"state name is {len(name)} characters long; the limit is {MAX_STATE_NAME}"
            )
        if not name:
            self.problem(where, "state name must not be empty")
        if name in self.seen_names:
            self.problem(
                where,
                f'state name "{name}" is already used at {self.seen_names[name]}; '
                "state names must be unique in the whole state machine",
            )
        else:
            self.seen_names[name] = where
        if not isinstance(st, dict):
            self.problem(where, f"a state must be an object, not {json_type(st)}")
            return
        kind = st.get("Type")
        if kind is None:
            self.problem(where + "/Type", f"required: one of {', '.join(STATE_FIELDS)}")
            return
        if kind not in STATE_FIELDS:
            self.problem(
                where + "/Type",
                f"unknown state type {json.dumps(kind)}{_suggest(str(kind), STATE_FIELDS)}; "
                f"use one of {', '.join(STATE_FIELDS)}",
            )
            return
        if "QueryLanguage" in st:
            self.query_language(st["QueryLanguage"], where + "/QueryLanguage", state=True)
        language = st.get("QueryLanguage", self.language)
        self.jsonata = language == "JSONata"
        allowed = (JSONATA_STATE_FIELDS if self.jsonata else STATE_FIELDS)[kind]
        for key in st:
            if key not in allowed:
                self.field_of_language(where + _pointer(key), key, allowed, kind)
        if "Comment" in st and not isinstance(st["Comment"], str):
            self.problem(where + "/Comment", "must be a string")
        if "Assign" in st:
            self.assign(st["Assign"], where + "/Assign")
        if self.jsonata:
            for field in _JSONATA_VALUE_FIELDS:
                if field in st:
                    self.jsonata_value(st[field], where + "/" + field)
        self.transition(st, kind, where, names)
        for field in ("InputPath", "OutputPath"):
            if field in st and st[field] is not None:
                self.path(st[field], where + "/" + field, reference=False)
        if "ResultPath" in st and st["ResultPath"] is not None:
            self.path(st["ResultPath"], where + "/ResultPath", reference=True, context=False)
        for field in ("Parameters", "ResultSelector", "ItemSelector"):
            if field in st and not (self.jsonata and field == "ItemSelector"):
                if field != "Parameters" and not isinstance(st[field], dict):
                    self.problem(
                        where + "/" + field, f"must be an object, not {json_type(st[field])}"
                    )
                self.template(st[field], where + "/" + field)
        if "Retry" in st:
            self.retry(st["Retry"], where + "/Retry")
        if "Catch" in st:
            self.catch(st["Catch"], where + "/Catch", names)
        self.inner = inner  # what a Parallel's branches or a Map's iterations may read
        getattr(self, f"state_{kind.lower()}")(st, where, names)

    def field_of_language(self, where: str, key: str, allowed: Iterable[str], kind: str) -> None:
        """A field the state's query language does not have: name the one to use instead."""
        if self.jsonata and key in JSONPATH_ONLY and key in STATE_FIELDS[kind]:
            self.problem(
                where,
                f'the field "{key}" is not supported in a JSONata state (QueryLanguage '
                f'"JSONata"); use {JSONPATH_ONLY[key]}',
            )
        elif not self.jsonata and key in JSONATA_ONLY and key in JSONATA_STATE_FIELDS[kind]:
            self.problem(
                where,
                f'the field "{key}" is only supported in a JSONata state; use '
                f'{JSONATA_ONLY[key]}, or set "QueryLanguage": "JSONata" on the state',
            )
        else:
            self.unknown_field(where, key, allowed, f"in a {kind} state")

    def assign(self, value: Any, where: str) -> None:
        """An Assign block: an object of variable names (``name.$`` in JSONPath) to values."""
        if not isinstance(value, dict):
            self.problem(
                where, f"must be an object of variable names to values, not {json_type(value)}"
            )
            return
        seen: set[str] = set()
        for key, item in value.items():
            at = where + _pointer(key)
            dynamic = not self.jsonata and key.endswith(".$")
            name = key[:-2] if dynamic else key
            problem = name_problem(name)
            if problem is not None:
                self.problem(at, problem)
            elif name in seen:
                self.problem(at, f'the variable "{name}" is assigned twice in this Assign')
            elif name in self.outer:
                self.problem(
                    at,
                    f'the variable "{name}" is assigned in an enclosing scope; a Parallel '
                    "branch or Map iteration can read it but not assign it: use another name",
                )
            seen.add(name)
            if dynamic:
                self.template({key: item}, where)
            elif not self.jsonata:
                self.template(item, at)

    def jsonata_value(self, value: Any, where: str) -> None:
        """Compile every ``{% %}`` expression in a JSONata field."""
        for at, text in expressions(value):
            location = f"{where}/{at}" if at else where
            try:
                problem = compile_expression(text).top_level_problem()
            except JsonataSyntaxError as e:
                self.problem(location, f"the JSONata expression {text} does not parse: {e}")
                continue
            if problem is not None:
                self.problem(location, f"the JSONata expression {text}: {problem}")

    def unknown_field(self, where: str, key: str, allowed: Iterable[str], place: str) -> None:
        if key in UNSUPPORTED_FIELDS:
            self.problem(where, UNSUPPORTED_FIELDS[key])
        else:
            self.problem(
                where, f"field {json.dumps(key)} is not allowed {place}{_suggest(key, allowed)}"
            )

    def query_language(self, value: Any, where: str, *, state: bool = False) -> None:
        if value not in _QUERY_LANGUAGES:
            self.problem(where, f'must be "JSONPath" or "JSONata", not {json.dumps(value)}')
        elif state and value == "JSONPath" and self.language == "JSONata":
            self.problem(
                where,
                'a state cannot use "JSONPath" when the state machine\'s QueryLanguage is '
                '"JSONata"; set "QueryLanguage": "JSONPath" at the top and "JSONata" on the '
                "states that use it",
            )

    def transition(self, st: dict[str, Any], kind: str, where: str, names: set[str]) -> None:
        has_next, has_end = "Next" in st, "End" in st
        if kind in _TERMINAL_TYPES:
            return  # Next/End already refused as unknown fields
        if has_next and has_end:
            self.problem(where + "/End", "a state has either Next or End, not both")
        elif not has_next and not has_end:
            self.problem(where, f'a {kind} state needs "Next" (the following state) or "End": true')
        if has_end and st["End"] is not True:
            self.problem(
                where + "/End", f"must be true, not {json.dumps(st['End'])}; use Next to continue"
            )
        if has_next:
            self.target(st["Next"], where + "/Next", names)

    def target(self, name: Any, where: str, names: set[str]) -> None:
        if not isinstance(name, str):
            self.problem(where, f"must be a state name (a string), not {json_type(name)}")
        elif name not in names:
            self.problem(where, f'no state named "{name}"{_suggest(name, names)}')

    # ------------------------------------------------------------------ per type

    def state_pass(self, st: dict[str, Any], where: str, names: set[str]) -> None:
        pass

    def state_succeed(self, st: dict[str, Any], where: str, names: set[str]) -> None:
        pass

    def state_task(self, st: dict[str, Any], where: str, names: set[str]) -> None:
        resource = st.get("Resource")
        if resource is None:
            self.problem(
                where + "/Resource",
                "required: the ARN of the service integration or Lambda function",
            )
        elif not isinstance(resource, str) or not resource:
            self.problem(
                where + "/Resource", f"must be a non-empty string ARN, not {json.dumps(resource)}"
            )
        elif self.resolve_resource is not None:
            try:
                resolved = self.resolve_resource(resource)
            except UserError as e:
                self.problem(where + "/Resource", str(e))
            else:
                if not self.jsonata:  # Arguments may hold expressions: checked when run
                    self.integration_problems(resolved, st.get("Parameters"), where)
        if self.jsonata:
            for field in ("TimeoutSeconds", "HeartbeatSeconds"):
                value = st.get(field)
                if field in st and not is_expression(value):
                    self.positive_int(value, where + "/" + field, MAX_SECONDS)
            return
        self.exclusive(st, where, "TimeoutSeconds", "TimeoutSecondsPath")
        self.exclusive(st, where, "HeartbeatSeconds", "HeartbeatSecondsPath")
        if "TimeoutSeconds" in st:
            self.positive_int(st["TimeoutSeconds"], where + "/TimeoutSeconds", MAX_SECONDS)
        if "HeartbeatSeconds" in st:
            self.positive_int(st["HeartbeatSeconds"], where + "/HeartbeatSeconds", MAX_SECONDS)
            timeout = st.get("TimeoutSeconds", MAX_SECONDS)
            if (
                _is_int(st["HeartbeatSeconds"])
                and _is_int(timeout)
                and st["HeartbeatSeconds"] >= timeout
            ):
                self.problem(
                    where + "/HeartbeatSeconds",
                    f"must be smaller than TimeoutSeconds ({timeout}), got {st['HeartbeatSeconds']}",
                )
        for field in ("TimeoutSecondsPath", "HeartbeatSecondsPath"):
            if field in st:
                self.path(st[field], where + "/" + field, reference=True)
        if "Credentials" in st and not isinstance(st["Credentials"], dict):
            self.problem(where + "/Credentials", "must be an object")

    def integration_problems(self, resolved: object, parameters: Any, where: str) -> None:
        integration = getattr(resolved, "integration", None)
        check = getattr(integration, "validate", None)
        if check is None:
            return
        for problem in check(resolved.action, resolved.pattern, parameters, where + "/Parameters"):  # type: ignore[attr-defined]
            self.problems.append(problem)

    def state_choice(self, st: dict[str, Any], where: str, names: set[str]) -> None:
        choices = st.get("Choices")
        if choices is None:
            self.problem(where + "/Choices", "required: a non-empty array of choice rules")
        elif not isinstance(choices, list) or not choices:
            self.problem(where + "/Choices", "must be a non-empty array of choice rules")
        else:
            for i, rule in enumerate(choices):
                self.rule(rule, f"{where}/Choices/{i}", names, top=True)
        if "Default" in st:
            self.target(st["Default"], where + "/Default", names)

    def jsonata_rule(self, rule: Any, where: str, names: set[str]) -> None:
        if not isinstance(rule, dict):
            self.problem(where, f"a choice rule must be an object, not {json_type(rule)}")
            return
        for key in rule:
            if key not in _JSONATA_RULE_FIELDS:
                if key in JSONPATH_ONLY or key in _RULE_OPERATORS:
                    self.problem(
                        where + _pointer(key),
                        f'the field "{key}" is not supported in a JSONata choice rule; write '
                        'the test as "Condition": "{% ... %}"',
                    )
                else:
                    self.unknown_field(
                        where + _pointer(key), key, _JSONATA_RULE_FIELDS, "in a choice rule"
                    )
        condition = rule.get("Condition")
        if "Condition" not in rule:
            self.problem(
                where + "/Condition", 'required: a "{% ... %}" expression that is true or false'
            )
        elif not is_expression(condition) and not isinstance(condition, bool):
            self.problem(
                where + "/Condition",
                f'must be a "{{% ... %}}" expression or a boolean, not {json.dumps(condition)}',
            )
        else:
            self.jsonata_value(condition, where + "/Condition")
        if "Next" not in rule:
            self.problem(where + "/Next", "required in a choice rule")
        else:
            self.target(rule["Next"], where + "/Next", names)
        if "Assign" in rule:
            self.assign(rule["Assign"], where + "/Assign")
            self.jsonata_value(rule["Assign"], where + "/Assign")
        if "Output" in rule:
            self.jsonata_value(rule["Output"], where + "/Output")

    def rule(self, rule: Any, where: str, names: set[str], *, top: bool) -> None:
        if top and self.jsonata:
            self.jsonata_rule(rule, where, names)
            return
        if not isinstance(rule, dict):
            self.problem(where, f"a choice rule must be an object, not {json_type(rule)}")
            return
        if top and "Assign" in rule:
            self.assign(rule["Assign"], where + "/Assign")
        operators = [k for k in rule if k in _RULE_OPERATORS]
        extra = {"Comment", "Next", "Assign"} if top else {"Comment"}
        boolean = bool(operators) and operators[0] in ("And", "Or", "Not")
        if not boolean:
            extra = extra | {"Variable"}
        for key in rule:
            if key not in _RULE_OPERATORS and key not in extra:
                if key == "Next":
                    self.problem(where + "/Next", "only a top-level choice rule has Next")
                elif key == "Variable":
                    self.problem(where + "/Variable", f"not allowed beside {operators[0]}")
                else:
                    self.problem(
                        where + _pointer(key),
                        f"unknown choice rule field {json.dumps(key)}{_suggest(key, _RULE_OPERATORS)}",
                    )
        if len(operators) != 1:
            found = ", ".join(operators) if operators else "none"
            self.problem(
                where,
                f"a choice rule needs exactly one comparison operator, And, Or or Not; found {found}",
            )
        if top:
            if "Next" not in rule:
                self.problem(where + "/Next", "required in a top-level choice rule")
            else:
                self.target(rule["Next"], where + "/Next", names)
        if not operators:
            return
        op = operators[0]
        value = rule[op]
        if op in ("And", "Or"):
            if not isinstance(value, list) or not value:
                self.problem(f"{where}/{op}", "must be a non-empty array of choice rules")
                return
            for i, sub in enumerate(value):
                self.rule(sub, f"{where}/{op}/{i}", names, top=False)
            return
        if op == "Not":
            if not isinstance(value, dict):
                self.problem(f"{where}/Not", "must be one choice rule (an object)")
                return
            self.rule(value, f"{where}/Not", names, top=False)
            return
        if "Variable" not in rule:
            self.problem(where + "/Variable", f"required with {op}")
        else:
            self.path(rule["Variable"], where + "/Variable", reference=False)
        self.operand(op, value, f"{where}/{op}")

    def operand(self, op: str, value: Any, where: str) -> None:
        if op in choice.TYPE_TESTS:
            if not isinstance(value, bool):
                self.problem(where, f"must be true or false, not {json.dumps(value)}")
            return
        kind = choice.COMPARISONS[op]
        if kind == "path":
            self.path(value, where, reference=False)
        elif kind == "string" and not isinstance(value, str):
            self.problem(where, f"must be a string, not {json.dumps(value)}")
        elif kind == "number" and not _is_number(value):
            self.problem(where, f"must be a number, not {json.dumps(value)}")
        elif kind == "boolean" and not isinstance(value, bool):
            self.problem(where, f"must be true or false, not {json.dumps(value)}")
        elif kind == "timestamp" and choice.parse_timestamp(value) is None:
            self.problem(
                where,
                f'must be an RFC 3339 timestamp such as "2016-03-14T01:59:00Z", not {json.dumps(value)}',
            )

    def state_wait(self, st: dict[str, Any], where: str, names: set[str]) -> None:
        if self.jsonata:
            fields = [f for f in ("Seconds", "Timestamp") if f in st]
            if len(fields) != 1:
                self.problem(
                    where,
                    "a Wait state needs exactly one of Seconds or Timestamp; "
                    f"found {', '.join(fields) if fields else 'none'}",
                )
            value: Any = st.get("Seconds")
            if (
                "Seconds" in st
                and not is_expression(value)
                and (not _is_int(value) or not 0 <= value <= MAX_SECONDS)
            ):
                self.problem(
                    where + "/Seconds",
                    f"must be an integer from 0 to {MAX_SECONDS} or a {{% %}} expression, "
                    f"not {json.dumps(value)}",
                )
            value = st.get("Timestamp")
            if (
                "Timestamp" in st
                and not is_expression(value)
                and choice.parse_timestamp(value) is None
            ):
                self.problem(
                    where + "/Timestamp",
                    'must be an RFC 3339 timestamp such as "2016-03-14T01:59:00Z" or a '
                    f"{{% %}} expression, not {json.dumps(value)}",
                )
            return
        given = [f for f in ("Seconds", "Timestamp", "SecondsPath", "TimestampPath") if f in st]
        if len(given) != 1:
            self.problem(
                where,
                "a Wait state needs exactly one of Seconds, Timestamp, SecondsPath or TimestampPath; "
                f"found {', '.join(given) if given else 'none'}",
            )
        if "Seconds" in st:
            value = st["Seconds"]
            if not _is_int(value) or not 0 <= value <= MAX_SECONDS:
                self.problem(
                    where + "/Seconds",
                    f"must be an integer from 0 to {MAX_SECONDS}, not {json.dumps(value)}",
                )
        if "Timestamp" in st and choice.parse_timestamp(st["Timestamp"]) is None:
            self.problem(
                where + "/Timestamp",
                f'must be an RFC 3339 timestamp such as "2016-03-14T01:59:00Z", not {json.dumps(st["Timestamp"])}',
            )
        for field in ("SecondsPath", "TimestampPath"):
            if field in st:
                self.path(st[field], where + "/" + field, reference=True)

    def state_fail(self, st: dict[str, Any], where: str, names: set[str]) -> None:
        if self.jsonata:
            for field in ("Error", "Cause"):
                if field in st and not isinstance(st[field], str):
                    self.problem(
                        where + "/" + field,
                        f"must be a string or a {{% %}} expression, not {json_type(st[field])}",
                    )
            return
        for static, dynamic in (("Error", "ErrorPath"), ("Cause", "CausePath")):
            self.exclusive(st, where, static, dynamic)
            if static in st and not isinstance(st[static], str):
                self.problem(where + "/" + static, f"must be a string, not {json_type(st[static])}")
            if dynamic in st:
                value = st[dynamic]
                if intrinsics.is_intrinsic(value):
                    self.intrinsic(value, where + "/" + dynamic)
                else:
                    self.path(value, where + "/" + dynamic, reference=True)

    def state_parallel(self, st: dict[str, Any], where: str, names: set[str]) -> None:
        branches = st.get("Branches")
        if branches is None:
            self.problem(where + "/Branches", "required: a non-empty array of branches")
            return
        if not isinstance(branches, list) or not branches:
            self.problem(where + "/Branches", "must be a non-empty array of branches")
            return
        for i, branch in enumerate(branches):
            self.nested(branch, f"{where}/Branches/{i}", _BRANCH_FIELDS)

    def nested(self, m: Any, where: str, allowed: frozenset[str]) -> None:
        """A Parallel branch or Map processor: its own scope, reading the enclosing ones."""
        outer, inner, jsonata = self.outer, self.inner, self.jsonata
        self.outer = inner
        self.machine(m, where, allowed)
        self.outer, self.inner, self.jsonata = outer, inner, jsonata

    def state_map(self, st: dict[str, Any], where: str, names: set[str]) -> None:
        has_iterator, has_processor = "Iterator" in st, "ItemProcessor" in st
        if has_iterator and has_processor:
            self.problem(
                where + "/Iterator", "use either ItemProcessor or the older Iterator, not both"
            )
        elif not has_iterator and not has_processor:
            self.problem(where + "/ItemProcessor", "required: the states run for each item")
        if has_iterator:
            self.nested(st["Iterator"], where + "/Iterator", _BRANCH_FIELDS)
        distributed = False
        if has_processor:
            processor = st["ItemProcessor"]
            if isinstance(processor, dict) and "ProcessorConfig" in processor:
                distributed = self.processor_config(
                    processor["ProcessorConfig"], where + "/ItemProcessor/ProcessorConfig"
                )
            self.nested(processor, where + "/ItemProcessor", _PROCESSOR_FIELDS)
        for field in ("ItemReader", "ItemBatcher", "ResultWriter"):
            if field in st and not distributed:
                self.problem(
                    where + "/" + field,
                    "only a Distributed Map has one; set ItemProcessor.ProcessorConfig.Mode "
                    "to DISTRIBUTED",
                )
        if distributed:
            self.distributed_fields(st, where)
        if self.jsonata:
            self.jsonata_map(st, where)
            return
        self.exclusive(st, where, "ItemSelector", "Parameters")
        if "ItemsPath" in st:
            self.path(st["ItemsPath"], where + "/ItemsPath", reference=True)
        self.exclusive(st, where, "MaxConcurrency", "MaxConcurrencyPath")
        if "MaxConcurrency" in st:
            value = st["MaxConcurrency"]
            if not _is_int(value) or value < 0:
                self.problem(
                    where + "/MaxConcurrency",
                    f"must be an integer >= 0 (0 means no limit), not {json.dumps(value)}",
                )
        self.exclusive(st, where, "ToleratedFailureCount", "ToleratedFailureCountPath")
        if "ToleratedFailureCount" in st:
            value = st["ToleratedFailureCount"]
            if not _is_int(value) or value < 0:
                self.problem(
                    where + "/ToleratedFailureCount",
                    f"must be an integer >= 0, not {json.dumps(value)}",
                )
        self.exclusive(st, where, "ToleratedFailurePercentage", "ToleratedFailurePercentagePath")
        if "ToleratedFailurePercentage" in st:
            value = st["ToleratedFailurePercentage"]
            if not _is_number(value) or not 0 <= value <= 100:
                self.problem(
                    where + "/ToleratedFailurePercentage",
                    f"must be a number from 0 to 100, not {json.dumps(value)}",
                )
        for field in (
            "MaxConcurrencyPath",
            "ToleratedFailureCountPath",
            "ToleratedFailurePercentagePath",
        ):
            if field in st:
                self.path(st[field], where + "/" + field, reference=True)
        if "Label" in st and not isinstance(st["Label"], str):
            self.problem(where + "/Label", "must be a string")

    def jsonata_map(self, st: dict[str, Any], where: str) -> None:
        if "Items" in st and not isinstance(st["Items"], list) and not is_expression(st["Items"]):
            self.problem(
                where + "/Items",
                f"must be an array or a {{% %}} expression, not {json_type(st['Items'])}",
            )
        value: Any
        for field in ("MaxConcurrency", "ToleratedFailureCount"):
            value = st.get(field)
            if field in st and not is_expression(value) and (not _is_int(value) or value < 0):
                self.problem(
                    where + "/" + field,
                    f"must be an integer >= 0 or a {{% %}} expression, not {json.dumps(value)}",
                )
        value = st.get("ToleratedFailurePercentage")
        if (
            "ToleratedFailurePercentage" in st
            and not is_expression(value)
            and (not _is_number(value) or not 0 <= value <= 100)
        ):
            self.problem(
                where + "/ToleratedFailurePercentage",
                f"must be a number from 0 to 100 or a {{% %}} expression, not {json.dumps(value)}",
            )

    def processor_config(self, config: Any, where: str) -> bool:
        """Check a ProcessorConfig; return True for a Distributed Map."""
        if not isinstance(config, dict):
            self.problem(where, f"must be an object, not {json_type(config)}")
            return False
        for key in config:
            if key not in ("Mode", "ExecutionType"):
                self.unknown_field(
                    where + _pointer(key), key, ("Mode", "ExecutionType"), "in ProcessorConfig"
                )
        mode = config.get("Mode", "INLINE")
        if mode == "DISTRIBUTED":
            execution_type = config.get("ExecutionType", "STANDARD")
            if execution_type not in ("STANDARD", "EXPRESS"):
                self.problem(
                    where + "/ExecutionType",
                    f"must be STANDARD or EXPRESS, not {json.dumps(execution_type)}",
                )
            return True
        if mode != "INLINE":
            self.problem(where + "/Mode", f"must be INLINE or DISTRIBUTED, not {json.dumps(mode)}")
        elif "ExecutionType" in config:
            self.problem(where + "/ExecutionType", "only a DISTRIBUTED Map has an ExecutionType")
        return False

    def distributed_fields(self, st: dict[str, Any], where: str) -> None:
        """ItemReader, ItemBatcher and ResultWriter of a Distributed Map."""
        reader = st.get("ItemReader")
        if reader is not None:
            self.shape_fields(
                reader, where + "/ItemReader", ("Resource", "Parameters", "ReaderConfig")
            )
            if isinstance(reader, dict):
                resource = reader.get("Resource")
                if resource not in DISTRIBUTED_READERS:
                    self.problem(
                        where + "/ItemReader/Resource",
                        f"{json.dumps(resource)} is not an item reader; use one of "
                        + ", ".join(DISTRIBUTED_READERS),
                    )
                config = reader.get("ReaderConfig", {})
                if self.shape_fields(
                    config,
                    where + "/ItemReader/ReaderConfig",
                    (
                        "InputType",
                        "CSVHeaderLocation",
                        "CSVHeaders",
                        "CSVDelimiter",
                        "MaxItems",
                        "MaxItemsPath",
                    ),
                ):
                    input_type = config.get("InputType")
                    if resource == DISTRIBUTED_READERS[0] and input_type not in READER_INPUT_TYPES:
                        self.problem(
                            where + "/ItemReader/ReaderConfig/InputType",
                            f"{json.dumps(input_type)}: s3:getObject needs one of "
                            + ", ".join(READER_INPUT_TYPES),
                        )
                    if config.get("CSVHeaderLocation") == "GIVEN" and not isinstance(
                        config.get("CSVHeaders"), list
                    ):
                        self.problem(
                            where + "/ItemReader/ReaderConfig/CSVHeaders",
                            "required (a list of column names) when CSVHeaderLocation is GIVEN",
                        )
        batcher = st.get("ItemBatcher")
        if batcher is not None:
            self.shape_fields(
                batcher,
                where + "/ItemBatcher",
                (
                    "MaxItemsPerBatch",
                    "MaxItemsPerBatchPath",
                    "MaxInputBytesPerBatch",
                    "MaxInputBytesPerBatchPath",
                    "BatchInput",
                ),
            )
        writer = st.get("ResultWriter")
        if writer is not None and self.shape_fields(
            writer, where + "/ResultWriter", ("Resource", "Parameters")
        ):
            if writer.get("Resource") != RESULT_WRITER_RESOURCE:
                self.problem(
                    where + "/ResultWriter/Resource",
                    f"{json.dumps(writer.get('Resource'))}: the result writer is "
                    f"{RESULT_WRITER_RESOURCE}",
                )
            params = writer.get("Parameters")
            if not isinstance(params, dict) or not ({"Bucket", "Bucket.$"} & set(params)):
                self.problem(
                    where + "/ResultWriter/Parameters",
                    'required: {"Bucket": ..., "Prefix": ...} naming where results are written',
                )

    def shape_fields(self, value: Any, where: str, allowed: tuple[str, ...]) -> bool:
        """An object whose keys are among ``allowed``; report other keys. True if an object."""
        if not isinstance(value, dict):
            self.problem(where, f"must be an object, not {json_type(value)}")
            return False
        for key in value:
            if key not in allowed and key.removesuffix(".$") not in allowed:
                self.unknown_field(where + _pointer(key), key, allowed, "here")
        return True

    # ------------------------------------------------------------------ Retry / Catch

    def error_equals(self, value: Any, where: str) -> bool:
        """Check an ErrorEquals list; return True if it contains States.ALL."""
        if not isinstance(value, list) or not value:
            self.problem(where, "required: a non-empty array of error names")
            return False
        for i, name in enumerate(value):
            if not isinstance(name, str) or not name:
                self.problem(
                    f"{where}/{i}",
                    f"must be an error name (a non-empty string), not {json.dumps(name)}",
                )
            elif name.startswith("States.") and name not in _KNOWN_STATES_ERRORS:
                self.problem(
                    f"{where}/{i}",
                    f'unknown error name "{name}"{_suggest(name, _KNOWN_STATES_ERRORS)}',
                )
        if "States.ALL" in value and len(value) > 1:
            self.problem(where, "States.ALL must appear alone in its ErrorEquals")
        return "States.ALL" in value

    def handlers(
        self, items: Any, where: str, kind: str, fields: Any
    ) -> Iterator[tuple[str, dict[str, Any]]]:
        """Each well-formed retrier or catcher with its location, after the checks they share:
        an array of objects, known fields, ErrorEquals, and States.ALL only in the last one."""
        if not isinstance(items, list):
            self.problem(where, f"must be an array of {kind}s, not {json_type(items)}")
            return
        for i, item in enumerate(items):
            at = f"{where}/{i}"
            if not isinstance(item, dict):
                self.problem(at, f"a {kind} must be an object, not {json_type(item)}")
                continue
            for key in item:
                if key not in fields:
                    self.unknown_field(at + _pointer(key), key, fields, f"in a {kind}")
            if (
                self.error_equals(item.get("ErrorEquals"), at + "/ErrorEquals")
                and i != len(items) - 1
            ):
                self.problem(at + "/ErrorEquals", f"a {kind} with States.ALL must be the last one")
            yield at, item

    def retry(self, retriers: Any, where: str) -> None:
        for at, r in self.handlers(retriers, where, "retrier", _RETRY_FIELDS):
            if "IntervalSeconds" in r:
                self.positive_int(r["IntervalSeconds"], at + "/IntervalSeconds", MAX_SECONDS)
            if "MaxAttempts" in r:
                value = r["MaxAttempts"]
                if not _is_int(value) or not 0 <= value <= MAX_SECONDS:
                    self.problem(
                        at + "/MaxAttempts",
                        f"must be an integer from 0 to {MAX_SECONDS}, not {json.dumps(value)}",
                    )
            if "BackoffRate" in r:
                value = r["BackoffRate"]
                if not _is_number(value) or value < 1.0:
                    self.problem(
                        at + "/BackoffRate", f"must be a number >= 1.0, not {json.dumps(value)}"
                    )
            if "MaxDelaySeconds" in r:
                self.positive_int(r["MaxDelaySeconds"], at + "/MaxDelaySeconds", MAX_DELAY_SECONDS)
            if "JitterStrategy" in r and r["JitterStrategy"] not in ("FULL", "NONE"):
                self.problem(
                    at + "/JitterStrategy",
                    f"must be FULL or NONE, not {json.dumps(r['JitterStrategy'])}",
                )

    def catch(self, catchers: Any, where: str, names: set[str]) -> None:
        fields = _JSONATA_CATCH_FIELDS if self.jsonata else _CATCH_FIELDS
        for at, c in self.handlers(catchers, where, "catcher", fields):
            if "Next" not in c:
                self.problem(at + "/Next", "required: the state to go to when the error is caught")
            else:
                self.target(c["Next"], at + "/Next", names)
            if "ResultPath" in c and c["ResultPath"] is not None and not self.jsonata:
                self.path(c["ResultPath"], at + "/ResultPath", reference=True, context=False)
            if "Assign" in c:
                self.assign(c["Assign"], at + "/Assign")
            if self.jsonata:
                for field in ("Assign", "Output"):
                    if field in c:
                        self.jsonata_value(c[field], at + "/" + field)

    # ------------------------------------------------------------------ values

    def exclusive(self, st: dict[str, Any], where: str, a: str, b: str) -> None:
        if a in st and b in st:
            self.problem(where + "/" + b, f"{a} and {b} cannot both be set; keep one")

    def positive_int(self, value: Any, where: str, limit: int) -> None:
        if not _is_int(value) or not 1 <= value <= limit:
            self.problem(where, f"must be an integer from 1 to {limit}, not {json.dumps(value)}")

    def path(self, value: Any, where: str, *, reference: bool, context: bool = True) -> None:
        if not isinstance(value, str):
            self.problem(where, f"must be a JSONPath string, not {json.dumps(value)}")
            return
        try:
            parsed = paths.parse_path(value)
        except paths.PathSyntaxError as e:
            self.problem(where, str(e))
            return
        if reference and not parsed.reference:
            self.problem(
                where,
                f"'{value}' must be a reference path (names and indices only, "
                "no wildcards, slices or filters)",
            )
        if (parsed.context or parsed.variable is not None) and not context:
            self.problem(
                where,
                f"'{value}' must select from the state's input ($), not the context object "
                "($$) or a variable",
            )

    def intrinsic(self, value: str, where: str) -> None:
        try:
            intrinsics.parse(value)
        except intrinsics.IntrinsicSyntaxError as e:
            self.problem(where, str(e))

    def template(self, value: Any, where: str) -> None:
        if isinstance(value, list):
            for i, item in enumerate(value):
                self.template(item, f"{where}/{i}")
            return
        if not isinstance(value, dict):
            return
        for key, item in value.items():
            at = where + _pointer(key)
            if key.endswith(".$"):
                if not isinstance(item, str):
                    self.problem(
                        at,
                        f"a field ending in .$ takes a JSONPath or intrinsic function string, not {json.dumps(item)}",
                    )
                elif item.startswith("$"):
                    self.path(item, at, reference=False)
                elif intrinsics.is_intrinsic(item):
                    self.intrinsic(item, at)
                else:
                    self.problem(
                        at,
                        f"{json.dumps(item)} is neither a JSONPath ($...) nor an intrinsic function "
                        f"(States.X(...)); drop the .$ from {json.dumps(key)} for a static value",
                    )
            else:
                self.template(item, at)


def _assigned_names(state: Any) -> set[str]:
    """The variable names a state's Assign blocks (its own, its rules', its catchers') set."""
    if not isinstance(state, dict):
        return set()
    blocks = [state.get("Assign")]
    for key in ("Choices", "Catch"):
        items = state.get(key)
        if isinstance(items, list):
            blocks.extend(item.get("Assign") for item in items if isinstance(item, dict))
    return {key.removesuffix(".$") for block in blocks if isinstance(block, dict) for key in block}


def _pointer_join(where: str, key: str) -> str:
    return where + _pointer(key)


def _transitions(state: dict[str, Any]) -> Iterable[str]:
    if isinstance(state.get("Next"), str):
        yield state["Next"]
    if isinstance(state.get("Default"), str):
        yield state["Default"]
    choices = state.get("Choices")
    for rule in choices if isinstance(choices, list) else ():
        if isinstance(rule, dict) and isinstance(rule.get("Next"), str):
            yield rule["Next"]
    catchers = state.get("Catch")
    if isinstance(catchers, list):
        for c in catchers:
            if isinstance(c, dict) and isinstance(c.get("Next"), str):
                yield c["Next"]
