"""The contract between the engine and service integrations, and the registry.

A Task state's ``Resource`` is resolved once, when the definition is created, to an
:class:`Integration`, an action and an integration pattern.  An unknown resource is refused
then, with the ARN named.  At run time the engine calls :meth:`Integration.run` in a worker
thread with a :class:`TaskRequest`:

* ``REQUEST_RESPONSE``: return the API response.
* ``SYNC`` (``.sync``/``.sync:2``): start the job, block until it ends, return the
  describe shape AWS returns; on ``request.cancelled`` stop the job and return promptly.
* ``WAIT_FOR_TASK_TOKEN``: send the request (the token is already in the parameters,
  placed there by ``$$.Task.Token``) and return; the engine then waits for
  SendTaskSuccess/Failure/Heartbeat on ``request.task_token``.

Failures are raised as :class:`localaws.asl.errors.StateFailure` with AWS's error name
(``Lambda.Unknown``, ``ValueError`` for a Lambda's exception, ``SageMaker.ValidationException``,
``States.TaskFailed``...).  Work that can hang must run in a process the integration can kill.
"""

from __future__ import annotations

import re
import threading
from abc import ABC, abstractmethod
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, ClassVar

from localaws.errors import UserError


class Pattern(StrEnum):
    REQUEST_RESPONSE = "request-response"
    SYNC = "sync"
    SYNC2 = "sync:2"
    WAIT_FOR_TASK_TOKEN = "waitForTaskToken"


@dataclass
class TaskRequest:
    resource: str
    service: str
    action: str
    pattern: Pattern
    parameters: Any
    execution_arn: str
    state_name: str
    task_token: str | None = None
    timeout_seconds: float | None = None
    cancelled: threading.Event = field(default_factory=threading.Event)
    heartbeat: Any = None  # callable() -> None, resets the heartbeat timer when set
    # callable(response) -> None: a .sync integration reports the job it started (its Create*
    # response), recorded as TaskSubmitted while the job runs.
    submitted: Any = None
    # callable(worker name) -> None: an activity worker took the task (ActivityStarted).
    started: Any = None
    # True when this task was in flight when the runtime running the execution died and the
    # execution now continues: a .sync integration reattaches to the job it started, a Lambda
    # invocation fails as an infrastructure error (Lambda.ServiceException) for Retry.
    resumed: bool = False


class Integration(ABC):
    """One AWS service's Step Functions integration.

    Subclasses declare ``SERVICE`` (the name in ``arn:aws:states:::<service>:<action>``)
    and ``ACTIONS`` (action -> patterns it supports), then implement :meth:`run`.
    ``LEGACY_ARN`` optionally matches non-``states`` resource ARNs (a Lambda function ARN).
    """

    SERVICE: ClassVar[str]
    ACTIONS: ClassVar[Mapping[str, frozenset[Pattern]]]
    LEGACY_ARN: ClassVar[re.Pattern[str] | None] = None
    # The pattern of a resource matched by LEGACY_ARN (an activity waits for its token).
    LEGACY_PATTERN: ClassVar[Pattern] = Pattern.REQUEST_RESPONSE

    def patterns(self, action: str) -> frozenset[Pattern] | None:
        """The patterns ``action`` supports, or None for an unknown action."""
        return self.ACTIONS.get(action)

    def validate(self, action: str, pattern: Pattern, parameters: Any, where: str) -> list[str]:
        """Problems with static parameters, found when the definition is created.

        ``where`` is the location of the task's Parameters (``/States/Train/Parameters``);
        a problem starts with it, or with it and a member path (``.../Parameters/FunctionName``).
        """
        return []

    @abstractmethod
    def run(self, request: TaskRequest) -> Any:
        """Do the work; return the task's result or raise StateFailure."""


_STATES_ARN = re.compile(
    r"^arn:aws[a-z-]*:states:(?P<region>[a-z0-9-]*):(?P<account>\d*):"
    r"(?P<service>[a-zA-Z0-9-]+):(?P<action>(?:[a-zA-Z0-9-]+:)?[a-zA-Z0-9]+)"
    r"(?:\.(?P<pattern>sync:2|sync|waitForTaskToken))?$"
)


@dataclass(frozen=True)
class Resolved:
    integration: Integration
    service: str
    action: str
    pattern: Pattern


class UnknownResource(UserError):
    pass


class IntegrationRegistry:
    """Maps a Task state's ``Resource`` ARN to its integration."""

    def __init__(self, integrations: Iterable[Integration] = ()):
        self._by_service: dict[str, Integration] = {}
        for integration in integrations:
            self.register(integration)

    def register(self, integration: Integration) -> None:
        self._by_service[integration.SERVICE] = integration

    def services(self) -> list[Integration]:
        return list(self._by_service.values())

    def resolve(self, resource: str) -> Resolved:
        for legacy in self._by_service.values():
            if legacy.LEGACY_ARN is not None and legacy.LEGACY_ARN.match(resource):
                return Resolved(legacy, legacy.SERVICE, "legacy", legacy.LEGACY_PATTERN)
        m = _STATES_ARN.match(resource)
        if m is not None:
            service, action = m["service"], m["action"]
            pattern = Pattern(m["pattern"]) if m["pattern"] else Pattern.REQUEST_RESPONSE
            integration = self._by_service.get(service)
            if integration is None:
                raise UnknownResource(
                    f"Resource {resource!r}: no local integration for service {service!r}; "
                    f"supported services: {', '.join(sorted(self._by_service))}"
                )
            patterns = integration.patterns(action)
            if patterns is None:
                raise UnknownResource(
                    f"Resource {resource!r}: service {service!r} has no action {action!r} locally; "
                    f"supported: {', '.join(sorted(integration.ACTIONS))}"
                )
            if pattern not in patterns:
                raise UnknownResource(
                    f"Resource {resource!r}: {service}:{action} does not support the "
                    f"{pattern.value} integration pattern; supported: "
                    f"{', '.join(sorted(p.value for p in patterns))}"
                )
            return Resolved(integration, service, action, pattern)
        raise UnknownResource(
            f"Resource {resource!r}: not a service-integration ARN this runtime knows "
            "(expected arn:aws:states:::<service>:<action>[.sync|.waitForTaskToken] or a Lambda function ARN)"
        )
