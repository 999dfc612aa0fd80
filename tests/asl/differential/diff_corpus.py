"""The differential corpus: small definitions run on our engine and on moto's interpreter.

Each case is an id, a definition and an execution input.  Where moto's interpreter is wrong
the case also carries ``aws``, the result AWS documents, and ``doc``, the heading of the
entry in ``docs/asl-differences.md`` that quotes the AWS documentation settling it.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

ALL_FIELDS = ("status", "output", "error", "cause")


@dataclass(frozen=True)
class Case:
    id: str
    definition: dict[str, Any]
    input: Any = None
    # where moto is wrong: the fields of the result that AWS's documentation settles
    aws: dict[str, Any] | None = None
    # the heading in docs/asl-differences.md that quotes that documentation
    doc: str | None = None
    # the fields compared with moto (a cause text AWS does not document is left out)
    compare: tuple[str, ...] = ALL_FIELDS
    # an engine bug, reported and not yet fixed: the case is a strict xfail until it is
    engine_bug: str | None = None


def machine(**states: Any) -> dict[str, Any]:
    """A definition whose StartAt is the first state given."""
    return {"StartAt": next(iter(states)), "States": states}


def end(state: dict[str, Any]) -> dict[str, Any]:
    return {**state, "End": True}


def pass_(**fields: Any) -> dict[str, Any]:
    return end({"Type": "Pass", **fields})


def fail(**fields: Any) -> dict[str, Any]:
    return {"Type": "Fail", **fields}


def branch(**states: Any) -> dict[str, Any]:
    return machine(**states)


def choice(rule: dict[str, Any]) -> dict[str, Any]:
    """Choice on one rule: branch 'matched' when it holds, 'default' otherwise."""
    return machine(
        Decide={
            "Type": "Choice",
            "Choices": [{**rule, "Next": "Matched"}],
            "Default": "Unmatched",
        },
        Matched=pass_(Result={"branch": "matched"}),
        Unmatched=pass_(Result={"branch": "default"}),
    )


def intrinsic(expression: str) -> dict[str, Any]:
    """A Pass state whose Parameters evaluate one intrinsic function into ``value``."""
    return machine(Call=pass_(Parameters={"value.$": expression}))


def in_parallel(
    states: dict[str, Any],
    catch: list[dict[str, Any]] | None = None,
    recovered: dict[str, Any] | None = None,
    **fields: Any,
) -> dict[str, Any]:
    """The states as the one branch of a Parallel state (which can Retry and Catch)."""
    parallel: dict[str, Any] = {"Type": "Parallel", "Branches": [branch(**states)], **fields}
    top: dict[str, Any] = {"Try": parallel}
    if catch is not None:
        parallel["Catch"] = [{**c, "Next": "Recovered"} for c in catch]
        top["Recovered"] = recovered or pass_()
    parallel["End"] = True
    return machine(**top)


ORDER = {
    "order": {
        "id": 7,
        "customer": "ann",
        "items": [{"sku": "a", "qty": 1}, {"sku": "b", "qty": 3}],
    },
    "flag": True,
}

PASS = [
    Case("pass/plain", machine(P=pass_()), ORDER),
    Case("pass/result", machine(P=pass_(Result={"x": 1, "y": [1, 2]})), ORDER),
    Case("pass/result-path", machine(P=pass_(Result={"x": 1}, ResultPath="$.r")), ORDER),
    Case("pass/result-path-nested-new", machine(P=pass_(Result=5, ResultPath="$.a.b.c")), {"k": 1}),
    Case("pass/result-path-replace-field", machine(P=pass_(Result=5, ResultPath="$.flag")), ORDER),
    Case("pass/result-path-null", machine(P=pass_(Result={"x": 1}, ResultPath=None)), ORDER),
    Case(
        "pass/parameters-dot-dollar",
        machine(
            P=pass_(
                Parameters={
                    "id.$": "$.order.id",
                    "static": "s",
                    "nested": {"who.$": "$.order.customer", "n": [1, {"q.$": "$.flag"}]},
                    "first.$": "$.order.items[0].sku",
                }
            )
        ),
        ORDER,
    ),
    Case(
        "pass/parameters-context-object",
        machine(
            P=pass_(
                Parameters={
                    "input.$": "$$.Execution.Input",
                    "state.$": "$$.State.Name",
                    "machine.$": "$$.StateMachine.Name",
                }
            )
        ),
        {"a": 1},
    ),
    Case(
        "pass/input-path-output-path",
        machine(P=pass_(InputPath="$.order", OutputPath="$.items")),
        ORDER,
    ),
    Case(
        "pass/output-path-after-result-path",
        machine(P=pass_(Result={"v": 2}, ResultPath="$.r", OutputPath="$.r.v")),
        ORDER,
    ),
    Case("pass/input-path-null", machine(P=pass_(InputPath=None)), ORDER),
    Case("pass/output-path-null", machine(P=pass_(OutputPath=None)), ORDER),
    Case(
        "pass/input-path-then-parameters",
        machine(P=pass_(InputPath="$.order", Parameters={"c.$": "$.customer"})),
        ORDER,
    ),
    Case(
        "pass/bracket-notation",
        machine(P=pass_(Parameters={"v.$": "$['odd key'][1]", "w.$": "$.list[-1:]"})),
        {"odd key": [10, 20, 30], "list": [1, 2, 3]},
    ),
    Case(
        "pass/slice",
        machine(P=pass_(Parameters={"v.$": "$.list[1:3]"})),
        {"list": [0, 1, 2, 3, 4]},
    ),
    Case(
        "pass/wildcard",
        machine(P=pass_(Parameters={"skus.$": "$.order.items[*].sku"})),
        ORDER,
    ),
    Case(
        "pass/filter",
        machine(P=pass_(Parameters={"big.$": "$.order.items[?(@.qty > 1)].sku"})),
        ORDER,
    ),
    Case(
        "pass/chain-and-succeed",
        machine(
            A={"Type": "Pass", "Result": 1, "ResultPath": "$.a", "Next": "B"},
            B={"Type": "Pass", "Result": 2, "ResultPath": "$.b", "Next": "Done"},
            Done={"Type": "Succeed", "OutputPath": "$.b"},
        ),
        {},
    ),
    Case("pass/scalar-input", machine(P=pass_()), 42),
    Case("pass/string-output", machine(P=pass_(Result="done")), {}),
    Case("pass/result-path-dollar", machine(P=pass_(Result=[1, 2], ResultPath="$")), ORDER),
]

CHOICE = [
    Case("choice/string-equals", choice({"Variable": "$.s", "StringEquals": "abc"}), {"s": "abc"}),
    Case(
        "choice/string-equals-path",
        choice({"Variable": "$.s", "StringEqualsPath": "$.t"}),
        {"s": "x", "t": "x"},
    ),
    Case("choice/string-less-than", choice({"Variable": "$.s", "StringLessThan": "b"}), {"s": "a"}),
    Case(
        "choice/string-greater-than-equals",
        choice({"Variable": "$.s", "StringGreaterThanEquals": "b"}),
        {"s": "a"},
    ),
    Case(
        "choice/string-matches",
        choice({"Variable": "$.s", "StringMatches": "log-*.txt"}),
        {"s": "log-2024.txt"},
    ),
    Case(
        "choice/string-matches-escaped-star",
        choice({"Variable": "$.s", "StringMatches": "a\\*b"}),
        {"s": "axxb"},
    ),
    Case("choice/numeric-equals", choice({"Variable": "$.n", "NumericEquals": 3}), {"n": 3.0}),
    Case(
        "choice/numeric-less-than-path",
        choice({"Variable": "$.n", "NumericLessThanPath": "$.m"}),
        {"n": 1, "m": 2},
    ),
    Case(
        "choice/numeric-greater-than-equals",
        choice({"Variable": "$.n", "NumericGreaterThanEquals": 10}),
        {"n": 9.5},
    ),
    Case(
        "choice/numeric-type-mismatch", choice({"Variable": "$.n", "NumericEquals": 3}), {"n": "3"}
    ),
    Case(
        "choice/boolean-equals", choice({"Variable": "$.b", "BooleanEquals": False}), {"b": False}
    ),
    Case(
        "choice/boolean-equals-path",
        choice({"Variable": "$.b", "BooleanEqualsPath": "$.c"}),
        {"b": True, "c": True},
    ),
    Case(
        "choice/timestamp-equals",
        choice({"Variable": "$.t", "TimestampEquals": "2024-01-01T00:00:00Z"}),
        {"t": "2024-01-01T00:00:00Z"},
    ),
    Case(
        "choice/timestamp-less-than",
        choice({"Variable": "$.t", "TimestampLessThan": "2024-01-01T00:00:00Z"}),
        {"t": "2023-12-31T23:59:59Z"},
    ),
    Case(
        "choice/timestamp-greater-than-equals-path",
        choice({"Variable": "$.t", "TimestampGreaterThanEqualsPath": "$.u"}),
        {"t": "2024-05-01T00:00:00Z", "u": "2024-06-01T00:00:00Z"},
    ),
    Case("choice/is-present", choice({"Variable": "$.missing", "IsPresent": False}), {"a": 1}),
    Case("choice/is-null", choice({"Variable": "$.a", "IsNull": True}), {"a": None}),
    Case("choice/is-numeric", choice({"Variable": "$.a", "IsNumeric": True}), {"a": 1.5}),
    Case("choice/is-string", choice({"Variable": "$.a", "IsString": False}), {"a": 1}),
    Case("choice/is-boolean", choice({"Variable": "$.a", "IsBoolean": True}), {"a": False}),
    Case(
        "choice/is-timestamp",
        choice({"Variable": "$.a", "IsTimestamp": True}),
        {"a": "2024-01-01T10:00:00Z"},
    ),
    Case(
        "choice/and",
        choice(
            {
                "And": [
                    {"Variable": "$.n", "NumericGreaterThan": 1},
                    {"Variable": "$.n", "NumericLessThan": 5},
                ]
            }
        ),
        {"n": 3},
    ),
    Case(
        "choice/or",
        choice(
            {
                "Or": [
                    {"Variable": "$.s", "StringEquals": "x"},
                    {"Variable": "$.s", "StringEquals": "y"},
                ]
            }
        ),
        {"s": "z"},
    ),
    Case("choice/not", choice({"Not": {"Variable": "$.s", "StringEquals": "x"}}), {"s": "y"}),
    Case(
        "choice/first-match-wins",
        machine(
            Decide={
                "Type": "Choice",
                "Choices": [
                    {"Variable": "$.n", "NumericGreaterThan": 0, "Next": "One"},
                    {"Variable": "$.n", "NumericGreaterThan": 1, "Next": "Two"},
                ],
            },
            One=pass_(Result={"branch": "one"}),
            Two=pass_(Result={"branch": "two"}),
        ),
        {"n": 5},
    ),
    Case(
        "choice/no-choice-matched",
        machine(
            Decide={
                "Type": "Choice",
                "Choices": [{"Variable": "$.n", "NumericEquals": 1, "Next": "One"}],
            },
            One=pass_(),
        ),
        {"n": 2},
    ),
    Case(
        "choice/input-output-path",
        machine(
            Decide={
                "Type": "Choice",
                "InputPath": "$.order",
                "OutputPath": "$.items",
                "Choices": [{"Variable": "$.id", "NumericEquals": 7, "Next": "Done"}],
            },
            Done={"Type": "Succeed"},
        ),
        ORDER,
    ),
]

ITEMS = {"items": [{"n": 1}, {"n": 2}, {"n": 3}], "tag": "t"}

MAP = [
    Case(
        "map/iterator-items-path",
        machine(
            M=end(
                {
                    "Type": "Map",
                    "ItemsPath": "$.items",
                    "Iterator": branch(I=pass_(InputPath="$.n")),
                }
            )
        ),
        ITEMS,
    ),
    Case(
        "map/item-processor-inline",
        machine(
            M=end(
                {
                    "Type": "Map",
                    "ItemsPath": "$.items",
                    "ItemProcessor": {
                        "ProcessorConfig": {"Mode": "INLINE"},
                        **branch(I=pass_(Result="r", ResultPath="$.r")),
                    },
                }
            )
        ),
        ITEMS,
    ),
    Case(
        "map/item-selector-context",
        machine(
            M=end(
                {
                    "Type": "Map",
                    "ItemsPath": "$.items",
                    "ItemSelector": {
                        "index.$": "$$.Map.Item.Index",
                        "value.$": "$$.Map.Item.Value",
                        "tag.$": "$.tag",
                    },
                    "ItemProcessor": branch(I=pass_()),
                }
            )
        ),
        ITEMS,
    ),
    Case(
        "map/parameters-legacy",
        machine(
            M=end(
                {
                    "Type": "Map",
                    "ItemsPath": "$.items",
                    "Parameters": {"i.$": "$$.Map.Item.Index", "n.$": "$$.Map.Item.Value.n"},
                    "Iterator": branch(I=pass_()),
                }
            )
        ),
        ITEMS,
    ),
    Case(
        "map/max-concurrency-1",
        machine(
            M=end(
                {
                    "Type": "Map",
                    "ItemsPath": "$.items",
                    "MaxConcurrency": 1,
                    "ItemProcessor": branch(I=pass_(OutputPath="$.n")),
                }
            )
        ),
        ITEMS,
    ),
    Case(
        "map/result-selector-result-path",
        machine(
            M=end(
                {
                    "Type": "Map",
                    "ItemsPath": "$.items",
                    "ItemProcessor": branch(I=pass_(OutputPath="$.n")),
                    "ResultSelector": {"all.$": "$", "second.$": "$[1]"},
                    "ResultPath": "$.out",
                }
            )
        ),
        ITEMS,
    ),
    Case(
        "map/empty",
        machine(M=end({"Type": "Map", "ItemsPath": "$.items", "ItemProcessor": branch(I=pass_())})),
        {"items": []},
    ),
    Case(
        "map/input-is-array",
        machine(M=end({"Type": "Map", "ItemProcessor": branch(I=pass_(Result="x"))})),
        [1, 2],
    ),
    Case(
        "map/nested-chain-in-iteration",
        machine(
            M=end(
                {
                    "Type": "Map",
                    "ItemsPath": "$.items",
                    "ItemProcessor": branch(
                        A={"Type": "Pass", "Result": 1, "ResultPath": "$.a", "Next": "B"},
                        B={
                            "Type": "Choice",
                            "Choices": [
                                {"Variable": "$.n", "NumericGreaterThan": 1, "Next": "Big"}
                            ],
                            "Default": "Small",
                        },
                        Big=pass_(Result="big", ResultPath="$.size"),
                        Small=pass_(Result="small", ResultPath="$.size"),
                    ),
                }
            )
        ),
        ITEMS,
    ),
    Case(
        "map/iteration-fails-caught",
        machine(
            M={
                "Type": "Map",
                "ItemsPath": "$.items",
                "ItemProcessor": branch(F=fail(Error="Item.Bad", Cause="bad item")),
                "Catch": [{"ErrorEquals": ["Item.Bad"], "ResultPath": "$.err", "Next": "Done"}],
                "End": True,
            },
            Done=pass_(),
        ),
        ITEMS,
    ),
    Case(
        "map/items-path-not-array",
        machine(M=end({"Type": "Map", "ItemsPath": "$.tag", "ItemProcessor": branch(I=pass_())})),
        ITEMS,
    ),
]

PARALLEL = [
    Case(
        "parallel/two-branches",
        machine(
            P=end(
                {
                    "Type": "Parallel",
                    "Branches": [
                        branch(A=pass_(Result="a")),
                        branch(B=pass_(InputPath="$.order.customer")),
                    ],
                }
            )
        ),
        ORDER,
    ),
    Case(
        "parallel/result-selector-result-path",
        machine(
            P=end(
                {
                    "Type": "Parallel",
                    "Branches": [
                        branch(A=pass_(Result={"v": 1})),
                        branch(B=pass_(Result={"v": 2})),
                    ],
                    "ResultSelector": {"first.$": "$[0].v", "both.$": "$[*].v"},
                    "ResultPath": "$.combined",
                }
            )
        ),
        {"keep": True},
    ),
    Case(
        "parallel/parameters",
        machine(
            P=end(
                {
                    "Type": "Parallel",
                    "Parameters": {"c.$": "$.order.customer"},
                    "Branches": [branch(A=pass_()), branch(B=pass_(OutputPath="$.c"))],
                }
            )
        ),
        ORDER,
    ),
    Case(
        "parallel/nested",
        machine(
            P=end(
                {
                    "Type": "Parallel",
                    "Branches": [
                        branch(
                            Inner=end(
                                {
                                    "Type": "Parallel",
                                    "Branches": [
                                        branch(X=pass_(Result=1)),
                                        branch(Y=pass_(Result=2)),
                                    ],
                                }
                            )
                        ),
                        branch(Z=pass_(Result=3)),
                    ],
                }
            )
        ),
        {},
    ),
]

WAIT = [
    Case("wait/seconds-0", machine(W=end({"Type": "Wait", "Seconds": 0})), {"a": 1}),
    Case("wait/seconds-path-0", machine(W=end({"Type": "Wait", "SecondsPath": "$.s"})), {"s": 0}),
    Case(
        "wait/timestamp-past",
        machine(W=end({"Type": "Wait", "Timestamp": "2000-01-01T00:00:00Z"})),
        {"a": 1},
    ),
    Case(
        "wait/timestamp-path-past",
        machine(W=end({"Type": "Wait", "TimestampPath": "$.t"})),
        {"t": "2001-02-03T04:05:06Z"},
    ),
]

FAIL = [
    Case("fail/error-cause", machine(F=fail(Error="My.Error", Cause="it broke")), {}),
    Case("fail/error-only", machine(F=fail(Error="My.Error")), {}),
    Case("fail/bare", machine(F=fail()), {}),
    Case(
        "fail/error-path-cause-path",
        machine(F=fail(ErrorPath="$.e", CausePath="$.detail.why")),
        {"e": "Dynamic.Error", "detail": {"why": "from input"}},
    ),
    Case(
        "fail/cause-path-intrinsic",
        machine(F=fail(Error="E", CausePath="States.Format('order {} failed', $.id)")),
        {"id": 7},
    ),
    Case(
        "fail/after-choice-default",
        machine(
            Decide={
                "Type": "Choice",
                "Choices": [{"Variable": "$.ok", "BooleanEquals": True, "Next": "Fine"}],
                "Default": "Broken",
            },
            Fine={"Type": "Succeed"},
            Broken=fail(Error="Not.Ok", Cause="ok was false"),
        ),
        {"ok": False},
    ),
]

INTRINSICS = [
    Case(
        "intrinsic/format",
        intrinsic("States.Format('Hello, {}! You are {}.', $.name, $.age)"),
        {"name": "Ann", "age": 30},
    ),
    Case(
        "intrinsic/format-escapes",
        intrinsic("States.Format('a \\{\\} {} \\'q\\'', $.x)"),
        {"x": "v"},
    ),
    Case(
        "intrinsic/string-to-json",
        intrinsic("States.StringToJson($.s)"),
        {"s": '{"a": [1, 2], "b": null}'},
    ),
    Case(
        "intrinsic/json-to-string",
        intrinsic("States.JsonToString($.o)"),
        {"o": {"a": [1, 2], "b": "x"}},
    ),
    Case("intrinsic/array", intrinsic("States.Array('a', 1, $.x, true)"), {"x": {"k": 1}}),
    Case(
        "intrinsic/array-partition",
        intrinsic("States.ArrayPartition($.a, 2)"),
        {"a": [1, 2, 3, 4, 5]},
    ),
    Case(
        "intrinsic/array-contains",
        intrinsic("States.ArrayContains($.a, $.v)"),
        {"a": [1, {"x": 2}], "v": {"x": 2}},
    ),
    Case("intrinsic/array-range", intrinsic("States.ArrayRange(1, 9, 2)"), {}),
    Case(
        "intrinsic/array-get-item", intrinsic("States.ArrayGetItem($.a, 1)"), {"a": ["x", "y", "z"]}
    ),
    Case("intrinsic/array-length", intrinsic("States.ArrayLength($.a)"), {"a": [1, 2, 3]}),
    Case(
        "intrinsic/array-unique",
        intrinsic("States.ArrayUnique($.a)"),
        {"a": [1, 2, 2, "a", "a", 1]},
    ),
    Case("intrinsic/base64-encode", intrinsic("States.Base64Encode($.s)"), {"s": "Data to encode"}),
    Case(
        "intrinsic/base64-decode",
        intrinsic("States.Base64Decode($.s)"),
        {"s": "RGF0YSB0byBlbmNvZGU="},
    ),
    Case("intrinsic/hash-sha256", intrinsic("States.Hash($.s, 'SHA-256')"), {"s": "input data"}),
    Case("intrinsic/hash-md5", intrinsic("States.Hash($.s, 'MD5')"), {"s": "input data"}),
    Case(
        "intrinsic/json-merge-shallow",
        intrinsic("States.JsonMerge($.a, $.b, false)"),
        {"a": {"x": 1, "n": {"p": 1}}, "b": {"y": 2, "n": {"q": 2}}},
    ),
    Case("intrinsic/math-add", intrinsic("States.MathAdd($.v, -3)"), {"v": 10}),
    Case("intrinsic/string-split", intrinsic("States.StringSplit($.s, ',')"), {"s": "1,2,3"}),
    Case(
        "intrinsic/math-random-in-range",
        machine(
            R={"Type": "Pass", "Parameters": {"v.$": "States.MathRandom(1, 10)"}, "Next": "Check"},
            Check={
                "Type": "Choice",
                "Choices": [
                    {
                        "And": [
                            {"Variable": "$.v", "NumericGreaterThanEquals": 1},
                            {"Variable": "$.v", "NumericLessThanEquals": 10},
                        ],
                        "Next": "Ok",
                    }
                ],
            },
            Ok=pass_(Result={"check": "in range"}),
        ),
        {},
    ),
    Case(
        "intrinsic/uuid-shape",
        machine(
            U={"Type": "Pass", "Parameters": {"v.$": "States.UUID()"}, "Next": "Check"},
            Check={
                "Type": "Choice",
                "Choices": [{"Variable": "$.v", "StringMatches": "*-*-*-*-*", "Next": "Ok"}],
            },
            Ok=pass_(Result={"check": "uuid"}),
        ),
        {},
    ),
    Case(
        "intrinsic/nested-calls",
        intrinsic("States.ArrayLength(States.StringSplit(States.Format('{},{}', $.a, $.b), ','))"),
        {"a": "x", "b": "y"},
    ),
]

RESULT_SELECTOR = [
    Case(
        "result-selector/parallel-reshape",
        machine(
            P=end(
                {
                    "Type": "Parallel",
                    "Branches": [branch(A=pass_(Result={"payload": {"id": 1, "junk": "x"}}))],
                    "ResultSelector": {"id.$": "$[0].payload.id", "fixed": "f"},
                }
            )
        ),
        {},
    ),
    Case(
        "result-selector/map-with-intrinsic",
        machine(
            M=end(
                {
                    "Type": "Map",
                    "ItemsPath": "$.items",
                    "ItemProcessor": branch(I=pass_(OutputPath="$.n")),
                    "ResultSelector": {"count.$": "States.ArrayLength($)"},
                }
            )
        ),
        ITEMS,
    ),
]

FAIL_IN_BRANCH = {"F": fail(Error="Branch.Error", Cause="branch failed")}
CAUGHT_ERROR_NAME = pass_(Parameters={"caught.$": "$.error.Error"})

ERRORS = [
    Case("errors/parallel-branch-fail-uncaught", in_parallel(FAIL_IN_BRANCH), {"a": 1}),
    Case(
        "errors/catch-default-result-path",
        in_parallel(FAIL_IN_BRANCH, catch=[{"ErrorEquals": ["Branch.Error"]}]),
        {"a": 1},
    ),
    Case(
        "errors/catch-result-path",
        in_parallel(
            FAIL_IN_BRANCH, catch=[{"ErrorEquals": ["States.ALL"], "ResultPath": "$.error"}]
        ),
        {"a": 1},
    ),
    Case(
        "errors/catch-result-path-null",
        in_parallel(FAIL_IN_BRANCH, catch=[{"ErrorEquals": ["States.ALL"], "ResultPath": None}]),
        {"a": 1},
    ),
    Case(
        "errors/catch-order",
        machine(
            Try={
                "Type": "Parallel",
                "Branches": [branch(**FAIL_IN_BRANCH)],
                "Catch": [
                    {"ErrorEquals": ["Other.Error"], "Next": "Wrong"},
                    {"ErrorEquals": ["Branch.Error"], "ResultPath": "$.e", "Next": "Right"},
                    {"ErrorEquals": ["States.ALL"], "Next": "Wrong"},
                ],
                "End": True,
            },
            Wrong=pass_(Result={"branch": "wrong"}),
            Right=pass_(OutputPath="$.e"),
        ),
        {},
    ),
    Case(
        "errors/catch-not-matching",
        in_parallel(FAIL_IN_BRANCH, catch=[{"ErrorEquals": ["Other.Error"]}]),
        {},
    ),
    Case(
        "errors/retry-then-catch",
        in_parallel(
            FAIL_IN_BRANCH,
            catch=[{"ErrorEquals": ["States.ALL"], "ResultPath": "$.error"}],
            Retry=[{"ErrorEquals": ["Branch.Error"], "MaxAttempts": 1, "IntervalSeconds": 1}],
        ),
        {"a": 1},
    ),
    Case(
        "errors/retry-max-attempts-0",
        in_parallel(
            FAIL_IN_BRANCH,
            catch=[{"ErrorEquals": ["States.ALL"], "ResultPath": "$.error"}],
            Retry=[{"ErrorEquals": ["States.ALL"], "MaxAttempts": 0}],
        ),
        {"a": 1},
    ),
    Case(
        "errors/retry-exhausted-uncaught",
        in_parallel(
            FAIL_IN_BRANCH,
            Retry=[{"ErrorEquals": ["States.ALL"], "MaxAttempts": 1, "IntervalSeconds": 1}],
        ),
        {},
    ),
    Case(
        "errors/retry-not-matching-then-catch",
        in_parallel(
            FAIL_IN_BRANCH,
            catch=[{"ErrorEquals": ["States.ALL"]}],
            Retry=[{"ErrorEquals": ["Other.Error"], "MaxAttempts": 3, "IntervalSeconds": 1}],
        ),
        {},
    ),
    Case(
        "errors/parameters-bad-path-uncaught",
        machine(P=pass_(Parameters={"x.$": "$.missing"})),
        {"a": 1},
    ),
    Case(
        "errors/parameters-bad-path-caught",
        in_parallel(
            {"P": pass_(Parameters={"x.$": "$.missing"})},
            catch=[{"ErrorEquals": ["States.ALL"], "ResultPath": "$.error"}],
            recovered=CAUGHT_ERROR_NAME,
        ),
        {"a": 1},
    ),
    Case(
        "errors/parameters-bad-path-caught-by-name",
        in_parallel(
            {"P": pass_(Parameters={"x.$": "$.missing"})},
            catch=[{"ErrorEquals": ["States.Runtime"], "ResultPath": "$.error"}],
            recovered=CAUGHT_ERROR_NAME,
        ),
        {"a": 1},
    ),
    Case("errors/input-path-missing", machine(P=pass_(InputPath="$.missing")), {"a": 1}),
    Case("errors/output-path-missing", machine(P=pass_(OutputPath="$.missing")), {"a": 1}),
    Case(
        "errors/result-path-into-non-object",
        machine(P=pass_(Result=1, ResultPath="$.a.b")),
        {"a": 1},
    ),
    Case(
        "errors/result-path-into-non-object-caught",
        in_parallel(
            {"P": pass_(Result=1, ResultPath="$.a.b")},
            catch=[{"ErrorEquals": ["States.ALL"], "ResultPath": "$.error"}],
            recovered=CAUGHT_ERROR_NAME,
        ),
        {"a": 1},
    ),
    Case(
        "errors/parallel-result-path-into-non-object-caught",
        machine(
            Try={
                "Type": "Parallel",
                "Branches": [branch(A=pass_(Result=1))],
                "ResultPath": "$.a.b",
                "Catch": [
                    {"ErrorEquals": ["States.ALL"], "ResultPath": "$.error", "Next": "Recovered"}
                ],
                "End": True,
            },
            Recovered=CAUGHT_ERROR_NAME,
        ),
        {"a": 1},
    ),
    Case(
        "errors/intrinsic-failure-caught",
        in_parallel(
            {"P": pass_(Parameters={"v.$": "States.StringToJson($.s)"})},
            catch=[{"ErrorEquals": ["States.ALL"], "ResultPath": "$.error"}],
            recovered=CAUGHT_ERROR_NAME,
        ),
        {"s": "not json"},
    ),
    Case(
        "errors/array-get-item-out-of-range",
        intrinsic("States.ArrayGetItem($.a, 5)"),
        {"a": [1]},
    ),
    Case(
        "errors/wait-seconds-path-not-number",
        machine(W=end({"Type": "Wait", "SecondsPath": "$.s"})),
        {"s": "soon"},
    ),
]

NO_CAUSE = ("status", "output", "error")  # the cause text is not documented by AWS
# Recorded on AWS (the input is printed compact):
PATH_NOT_FOUND_CAUSE = (
    "An error occurred while executing the state '{state}' (entered at the event id "
    "#{event}). The JSONPath '$.missing' specified for the field 'x.$' could not be found in "
    "the input '{{\"a\":1}}'"
)


def caught(error: str) -> dict[str, Any]:
    return {"status": "SUCCEEDED", "output": {"caught": error}}


# Where the engines differ: each entry is explained in docs/asl-differences.md.
DIFFERENCES: dict[str, dict[str, Any]] = {
    "pass/string-output": {
        "aws": {"status": "SUCCEEDED", "output": "done"},
        "doc": "Output that is a JSON string",
    },
    "pass/parameters-dot-dollar": {
        "aws": {
            "status": "SUCCEEDED",
            "output": {
                "id": 7,
                "static": "s",
                "nested": {"who": "ann", "n": [1, {"q": True}]},
                "first": "a",
            },
        },
        "doc": "A path with an array index selects one value",
    },
    "parallel/result-selector-result-path": {
        "aws": {
            "status": "SUCCEEDED",
            "output": {"keep": True, "combined": {"first": 1, "both": [1, 2]}},
        },
        "doc": "A path with an array index selects one value",
    },
    "choice/no-choice-matched": {
        "aws": {"status": "FAILED", "output": None, "error": "States.NoChoiceMatched"},
        "doc": "States.NoChoiceMatched",
    },
    "intrinsic/format-escapes": {
        "aws": {"status": "SUCCEEDED", "output": {"value": "a {} v 'q'"}},
        "doc": "Escaped characters in intrinsic functions",
    },
    "errors/parameters-bad-path-uncaught": {
        "aws": {
            "status": "FAILED",
            "output": None,
            "error": "States.Runtime",
            "cause": PATH_NOT_FOUND_CAUSE.format(state="P", event=2),
        },
        "doc": "States.Runtime for a Parameters path that finds nothing",
    },
    "errors/parameters-bad-path-caught": {
        "aws": {
            "status": "FAILED",
            "output": None,
            "error": "States.Runtime",
            "cause": PATH_NOT_FOUND_CAUSE.format(state="P", event=4),
        },
        "doc": "States.Runtime for a Parameters path that finds nothing",
    },
    "errors/parameters-bad-path-caught-by-name": {
        "aws": {
            "status": "FAILED",
            "output": None,
            "error": "States.Runtime",
            "cause": PATH_NOT_FOUND_CAUSE.format(state="P", event=4),
        },
        "doc": "States.Runtime for a Parameters path that finds nothing",
    },
    "errors/result-path-into-non-object": {
        "aws": {"status": "FAILED", "output": None, "error": "States.ResultPathMatchFailure"},
        "doc": "States.ResultPathMatchFailure",
    },
    "errors/result-path-into-non-object-caught": {
        "aws": caught("States.ResultPathMatchFailure"),
        "doc": "States.ResultPathMatchFailure",
    },
    "errors/parallel-result-path-into-non-object-caught": {
        "aws": caught("States.ResultPathMatchFailure"),
        "doc": "States.ResultPathMatchFailure",
    },
    "errors/intrinsic-failure-caught": {
        "aws": caught("States.IntrinsicFailure"),
        "doc": "States.IntrinsicFailure",
    },
    "errors/array-get-item-out-of-range": {
        "aws": {"status": "FAILED", "output": None, "error": "States.IntrinsicFailure"},
        "doc": "States.IntrinsicFailure",
    },
    "errors/input-path-missing": {"compare": NO_CAUSE},
    "errors/output-path-missing": {"compare": NO_CAUSE},
    "errors/wait-seconds-path-not-number": {"compare": NO_CAUSE},
    "map/items-path-not-array": {"compare": ("status", "output")},
}

CASES: list[Case] = [
    replace(case, **DIFFERENCES.get(case.id, {}))
    for case in PASS + CHOICE + MAP + PARALLEL + WAIT + FAIL + INTRINSICS + RESULT_SELECTOR + ERRORS
]
assert set(DIFFERENCES) <= {case.id for case in CASES}, "a difference names no case"
