"""Shared helpers of the engine and Step Functions API tests (imported by those modules)."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from localaws.asl.engine import ExecutionRun, Outcome, TaskTokens
from localaws.asl.history import EventBuffer
from localaws.asl.integrations import IntegrationRegistry
from localaws.asl.mock_config import MockSession
from localaws.asl.states import parse_machine
from localaws.runtime import Runtime
from localaws.stepfunctions.backend import StepFunctionsBackend
from localaws.stepfunctions.integrations.passthrough import PassthroughIntegration

ROLE = "arn:aws:iam::123456789012:role/test"
PASSTHROUGH = "arn:aws:states:::local:passthrough"
FAIL = "arn:aws:states:::local:fail"
SLEEP = "arn:aws:states:::local:sleep"
CALLBACK = "arn:aws:states:::local:passthrough.waitForTaskToken"


def registry() -> IntegrationRegistry:
    return IntegrationRegistry([PassthroughIntegration()])


@dataclass
class EngineRun:
    """An execution run by the engine alone (no database): outcome and events in memory."""

    run: ExecutionRun
    events: list[tuple[int, int, float, str, Any]] = field(default_factory=list)
    thread: threading.Thread | None = None

    @property
    def outcome(self) -> Outcome:
        assert self.run.outcome is not None, "execution still running"
        return self.run.outcome

    @property
    def status(self) -> str:
        return self.outcome.status

    @property
    def output(self) -> Any:
        return None if self.outcome.output is None else json.loads(self.outcome.output)

    def types(self) -> list[str]:
        self.run.flush()
        return [e[3] for e in sorted(self.events)]

    def details(self, event_type: str) -> list[Any]:
        self.run.flush()
        return [e[4] for e in sorted(self.events) if e[3] == event_type]

    def times(self, event_type: str) -> list[float]:
        """When each event of this type was recorded (the engine's clock, epoch seconds)."""
        self.run.flush()
        return [e[2] for e in sorted(self.events) if e[3] == event_type]

    def tokens(self) -> list[str]:
        """The task tokens handed to ``CALLBACK`` tasks so far, in order."""
        return [json.loads(d["parameters"])["token"] for d in self.details("TaskScheduled")]

    def join(self, timeout: float = 10) -> EngineRun:
        assert self.thread is not None
        self.thread.join(timeout)
        assert not self.thread.is_alive(), "execution did not end"
        return self


def engine_run(
    definition: dict[str, Any],
    input: Any = None,
    *,
    mocks: MockSession | None = None,
    tokens: TaskTokens | None = None,
    background: bool = False,
) -> EngineRun:
    """Run ``definition`` on the engine (in a thread when ``background``)."""
    machine = parse_machine(definition, registry().resolve)
    result: EngineRun

    def flush(run: ExecutionRun, final: Outcome | None) -> None:
        events, _checkpoint, _memo, _cleared = run.take_progress()
        result.events.extend(events)

    run = ExecutionRun(
        arn="arn:aws:states:us-east-1:123456789012:execution:test:run",
        name="run",
        state_machine_arn="arn:aws:states:us-east-1:123456789012:stateMachine:test",
        state_machine_name="test",
        role_arn=ROLE,
        machine=machine,
        input_text=json.dumps({} if input is None else input),
        start_time=time.time(),
        region="us-east-1",
        buffer=EventBuffer(1),
        tokens=tokens or TaskTokens(),
        flush=flush,
        mocks=mocks,
    )
    result = EngineRun(run)

    def go() -> None:
        run.flush(run.run())

    if background:
        result.thread = threading.Thread(target=go, daemon=True)
        result.thread.start()
    else:
        go()
    return result


def chain(*states: tuple[str, dict[str, Any]]) -> dict[str, Any]:
    """A definition running ``states`` in order (Next/End filled in when absent)."""
    body: dict[str, Any] = {}
    for i, (name, spec) in enumerate(states):
        spec = dict(spec)
        if (
            spec["Type"] not in ("Choice", "Succeed", "Fail")
            and "Next" not in spec
            and "End" not in spec
        ):
            if i + 1 < len(states):
                spec["Next"] = states[i + 1][0]
            else:
                spec["End"] = True
        body[name] = spec
    return {"StartAt": states[0][0], "States": body}


def wait_for(predicate: Any, timeout: float = 10, what: str = "condition") -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.01)
    raise AssertionError(f"timed out waiting for {what}")


def open_backend(tmp_path: Any) -> Iterator[StepFunctionsBackend]:
    """For a fixture: a backend on a fresh state directory, with the pass-through integration."""
    backend = StepFunctionsBackend(Runtime(tmp_path / "state"), registry())
    yield backend
    backend.close()
    backend.db.close()


def create(sfn: StepFunctionsBackend, definition: dict[str, Any], name: str = "machine") -> str:
    return sfn.create_state_machine(name=name, definition=json.dumps(definition), roleArn=ROLE)[
        "stateMachineArn"
    ]


def execute(
    sfn: StepFunctionsBackend, definition: dict[str, Any], input: Any = None, name: str = "machine"
) -> dict[str, Any]:
    arn = create(sfn, definition, name)
    started = sfn.start_execution(
        stateMachineArn=arn, input=json.dumps({} if input is None else input)
    )
    return sfn.wait(started["executionArn"], timeout=20)


def history(sfn: StepFunctionsBackend, execution_arn: str) -> list[dict[str, Any]]:
    return sfn.get_execution_history(executionArn=execution_arn, maxResults=1000)["events"]
