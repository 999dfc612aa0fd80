"""Mocked service integrations in AWS Step Functions Local's ``MockConfigFile`` format.

    {
      "StateMachines": {
        "<state machine name>": {
          "TestCases": {"<case>": {"<state name>": "<mocked response name>"}}
        }
      },
      "MockedResponses": {
        "<mocked response name>": {
          "0": {"Return": {...}},
          "1-2": {"Throw": {"Error": "...", "Cause": "..."}}
        }
      }
    }

A test case is chosen by the ``#<case>`` suffix of the state machine ARN given to
StartExecution.  A mocked Task state does not call its integration: the n-th call of the
state in an execution (retries included, counted from 0) gets the response whose key covers
n; calls past the last key get the last response.
"""

from __future__ import annotations

import itertools
import json
import os
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from localaws.asl.errors import StateFailure
from localaws.errors import UserError


class MockConfigError(UserError):
    """A mock configuration file that does not follow the MockConfigFile format."""


@dataclass(frozen=True)
class MockedResponse:
    """One entry of ``MockedResponses``: attempt ranges -> Return value or Throw."""

    name: str
    # (first attempt, last attempt, "Return" | "Throw", value), sorted by first attempt
    ranges: tuple[tuple[int, int, str, Any], ...]

    def respond(self, attempt: int) -> Any:
        """The mocked result for the attempt-th call, or raise its StateFailure."""
        chosen = self.ranges[-1]
        for entry in self.ranges:
            if entry[0] <= attempt <= entry[1]:
                chosen = entry
                break
        _, _, kind, value = chosen
        if kind == "Throw":
            raise StateFailure(value["Error"], value.get("Cause", ""))
        return value


@dataclass
class MockSession:
    """The mocks of one execution: state name -> response, and per-state call counters."""

    case: str
    responses: dict[str, MockedResponse]
    _calls: dict[str, int] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def mocks(self, state_name: str) -> bool:
        return state_name in self.responses

    def call(self, state_name: str) -> Any:
        """Count one call of the state and return (or raise) its mocked response."""
        with self._lock:
            attempt = self._calls.get(state_name, 0)
            self._calls[state_name] = attempt + 1
        return self.responses[state_name].respond(attempt)


def _parse_range(key: str, where: str) -> tuple[int, int]:
    try:
        if "-" in key:
            lo, hi = key.split("-", 1)
            first, last = int(lo), int(hi)
        else:
            first = last = int(key)
    except ValueError:
        raise MockConfigError(
            f'{where}: attempt key "{key}" is not a number or a range like "1-2"'
        ) from None
    if first < 0 or last < first:
        raise MockConfigError(f'{where}: attempt range "{key}" is empty or negative')
    return first, last


def _parse_response(name: str, body: Any) -> MockedResponse:
    where = f"MockedResponses.{name}"
    if not isinstance(body, dict) or not body:
        raise MockConfigError(
            f'{where}: expected an object of attempts like {{"0": {{"Return": ...}}}}'
        )
    ranges = []
    for key, entry in body.items():
        first, last = _parse_range(key, where)
        if (
            not isinstance(entry, dict)
            or len(entry) != 1
            or next(iter(entry)) not in ("Return", "Throw")
        ):
            raise MockConfigError(f'{where}."{key}": expected exactly one of "Return" or "Throw"')
        kind, value = next(iter(entry.items()))
        if kind == "Throw" and (
            not isinstance(value, dict) or not isinstance(value.get("Error"), str)
        ):
            raise MockConfigError(
                f'{where}."{key}".Throw: expected {{"Error": "<name>", "Cause": "..."}}'
            )
        ranges.append((first, last, kind, value))
    ranges.sort(key=lambda r: r[0])
    for a, b in itertools.pairwise(ranges):
        if b[0] <= a[1]:
            raise MockConfigError(f"{where}: attempt ranges overlap at attempt {b[0]}")
    return MockedResponse(name, tuple(ranges))


class MockConfig:
    """A parsed MockConfigFile; :meth:`session` gives one execution its mocks."""

    def __init__(self, body: dict[str, Any]):
        if not isinstance(body, dict):
            raise MockConfigError(
                "mock config: expected a JSON object with StateMachines and MockedResponses"
            )
        unknown = set(body) - {"StateMachines", "MockedResponses"}
        if unknown:
            raise MockConfigError(
                f"mock config: unknown top-level fields {sorted(unknown)}; "
                "expected StateMachines and MockedResponses"
            )
        self.responses = {
            name: _parse_response(name, resp)
            for name, resp in (body.get("MockedResponses") or {}).items()
        }
        self.cases: dict[str, dict[str, dict[str, MockedResponse]]] = {}
        for machine, spec in (body.get("StateMachines") or {}).items():
            cases = (spec or {}).get("TestCases")
            if not isinstance(cases, dict):
                raise MockConfigError(
                    f"StateMachines.{machine}.TestCases: expected an object of test cases"
                )
            self.cases[machine] = {}
            for case, states in cases.items():
                where = f"StateMachines.{machine}.TestCases.{case}"
                if not isinstance(states, dict):
                    raise MockConfigError(
                        f"{where}: expected an object of state name -> mocked response name"
                    )
                resolved = {}
                for state, response in states.items():
                    if response not in self.responses:
                        raise MockConfigError(
                            f'{where}.{state}: no mocked response named "{response}" in MockedResponses; '
                            f"defined: {', '.join(sorted(self.responses)) or 'none'}"
                        )
                    resolved[state] = self.responses[response]
                self.cases[machine][case] = resolved

    @classmethod
    def load(cls, source: str | os.PathLike[str] | dict[str, Any]) -> MockConfig:
        """Read a mock config from a file path or an already-parsed dict."""
        if isinstance(source, dict):
            return cls(source)
        path = Path(source)
        try:
            body = json.loads(path.read_text())
        except FileNotFoundError:
            raise MockConfigError(f"mock config {path}: file not found") from None
        except json.JSONDecodeError as e:
            raise MockConfigError(
                f"mock config {path}: not valid JSON ({e.msg} at line {e.lineno})"
            ) from e
        return cls(body)

    def session(self, state_machine: str, case: str) -> MockSession:
        """The mocks of test case ``case`` of ``state_machine`` for one execution."""
        machine = self.cases.get(state_machine)
        if machine is None:
            raise MockConfigError(
                f'mock config: no state machine "{state_machine}" under StateMachines; '
                f"defined: {', '.join(sorted(self.cases)) or 'none'}"
            )
        states = machine.get(case)
        if states is None:
            raise MockConfigError(
                f'mock config: state machine "{state_machine}" has no test case "{case}"; '
                f"defined: {', '.join(sorted(machine)) or 'none'}"
            )
        return MockSession(case, dict(states))
