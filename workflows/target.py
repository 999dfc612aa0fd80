"""Where a workflow runs: one typed client for a local state dir, a local server, or AWS.

* :class:`LocalTarget` - the runtime in this process, over a state directory nobody owns;
* :class:`ServerTarget` - boto3 clients of a local server (``python -m workflows serve``);
* :class:`AwsTarget` - boto3 clients of AWS, from a ``boto3.Session``.

Each has the same attributes - ``stepfunctions``, ``lambda_``, ``sagemaker``,
``sagemaker_runtime`` (methods named and shaped as botocore's, raising
:class:`localaws.errors.ServiceError` with AWS's codes), ``storage`` and ``arn()`` - and the
one start / follow / summary path: :meth:`Target.start`, :meth:`Target.follow` (which
folds the history with :func:`localaws.asl.fold.fold`), :class:`ProgressLines` and
:func:`summary_lines`.  Errors of the boto3 clients are translated once, by
:func:`workflows.errors.translate`: a lost server connection is one
:class:`~workflows.errors.ServerUnreachable` naming the URL.

:func:`open_target` is the one place that decides which target a CLI command gets.
"""

from __future__ import annotations

import json
import secrets
import sys
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import cached_property
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any, ClassVar, Self

from localaws import config
from localaws.asl.fold import Status, Visit, fold
from localaws.errors import ServiceError
from workflows.errors import ExitCode, translate

if TYPE_CHECKING:
    from localaws.lambda_.backend import LambdaBackend
    from localaws.lambdakit.storage import Storage
    from localaws.runtime import Runtime
    from localaws.sagemaker.backend import SageMakerBackend
    from localaws.sagemaker.hosting import SageMakerRuntimeBackend
    from localaws.stepfunctions.backend import StepFunctionsBackend

TERMINAL = frozenset({"SUCCEEDED", "FAILED", "TIMED_OUT", "ABORTED"})
# Dummy credentials for the local server (any key is accepted there).
LOCAL_ROLE = "arn:aws:iam::123456789012:role/local-exec"

Printer = Callable[[str], None]


def new_run_id() -> str:
    """Unique and sortable: ``20240131-235959-1a2b``; names the execution and its jobs."""
    return f"{datetime.now(UTC):%Y%m%d-%H%M%S}-{secrets.token_hex(2)}"


# -- translated boto3 clients ---------------------------------------------------------------


class Client:
    """A boto3 client whose errors come out translated (:func:`workflows.errors.translate`).

    ``service_errors=False`` keeps botocore's ``ClientError`` (for code that handles it
    itself, like :class:`localaws.lambdakit.storage.S3Storage`) and translates only lost connections.
    """

    def __init__(self, client: Any, *, url: str | None = None, service_errors: bool = True):
        self._client = client
        self._url = url
        self._service_errors = service_errors

    def __getattr__(self, name: str) -> Callable[..., Any]:
        method = getattr(self._client, name)
        if not callable(method):
            return method  # type: ignore[no-any-return]

        def call(*args: Any, **kwargs: Any) -> Any:
            from botocore.exceptions import ClientError

            try:
                return method(*args, **kwargs)
            except ClientError as e:
                if not self._service_errors:
                    raise
                raise translate(e) from e
            except Exception as e:
                mapped = translate(e, url=self._url, during=name)
                if mapped is e:
                    raise
                raise mapped from e

        return call


# -- what an execution looks like -------------------------------------------------------------


@dataclass
class ExecutionView:
    """DescribeExecution and the folded history of one execution."""

    arn: str
    status: str = "RUNNING"
    started: datetime | None = None
    stopped: datetime | None = None
    visits: list[Visit] = field(default_factory=list)
    input: Any = None
    output: Any = None
    error: str | None = None
    cause: str | None = None

    @property
    def name(self) -> str:
        return self.arn.rsplit(":", 1)[-1]

    @property
    def states(self) -> list[Visit]:
        """Top-level visits, in order."""
        return [v for v in self.visits if not v.path]

    @property
    def seconds(self) -> float | None:
        if self.started is None or self.stopped is None:
            return None
        return (self.stopped - self.started).total_seconds()

    @property
    def done(self) -> bool:
        return self.status in TERMINAL

    def state(self, name: str) -> Visit | None:
        """The last top-level visit of ``name``."""
        for visit in reversed(self.states):
            if visit.name == name:
                return visit
        return None

    def output_of(self, name: str) -> Any:
        visit = self.state(name)
        return None if visit is None else visit.output_value

    @property
    def exit_code(self) -> ExitCode:
        if self.status == "SUCCEEDED":
            return ExitCode.OK
        return ExitCode.FAILED if self.done else ExitCode.STILL_RUNNING


def history_of(sfn: Any, arn: str) -> list[dict[str, Any]]:
    """Every event of the execution (GetExecutionHistory, page by page)."""
    events: list[dict[str, Any]] = []
    token = None
    while True:
        kwargs: dict[str, Any] = {"executionArn": arn, "maxResults": 1000}
        if token:
            kwargs["nextToken"] = token
        page = sfn.get_execution_history(**kwargs)
        events.extend(page.get("events", []))
        token = page.get("nextToken")
        if not token:
            return events


def view_of(sfn: Any, arn: str) -> ExecutionView:
    """Describe the execution and fold its history."""
    desc = sfn.describe_execution(executionArn=arn)
    return ExecutionView(
        arn=arn,
        status=desc["status"],
        started=desc.get("startDate"),
        stopped=desc.get("stopDate"),
        visits=fold(history_of(sfn, arn)),
        input=_parse(desc.get("input")),
        output=_parse(desc.get("output")),
        error=desc.get("error"),
        cause=desc.get("cause"),
    )


def follow_execution(
    sfn: Any,
    arn: str,
    on_update: Callable[[ExecutionView], None] | None = None,
    *,
    poll_seconds: float = 0.25,
    timeout: float | None = None,
    pause: Callable[[float], None] = time.sleep,
) -> ExecutionView:
    """Poll until the execution ends (or ``timeout``), calling ``on_update`` with each view;
    ``pause(poll_seconds)`` between two polls (it may return early when the execution ends).

    The one follow loop: the CLI, the notebook and ``execute --target aws`` go through it.
    """
    deadline = None if timeout is None else time.monotonic() + timeout
    while True:
        view = view_of(sfn, arn)
        if on_update is not None:
            on_update(view)
        if view.done or (deadline is not None and time.monotonic() >= deadline):
            return view
        pause(poll_seconds)


def _parse(text: Any) -> Any:
    if not isinstance(text, str):
        return text
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return text


# -- progress and summary as text -------------------------------------------------------------

STATUS_MARK = {
    Status.SUCCEEDED: "✔",
    Status.RUNNING: "…",
    Status.RETRYING: "↻",
    Status.CAUGHT: "⚑",
    Status.FAILED: "✘",
    Status.CANCELLED: "■",
}


def visit_line(visit: Visit) -> str:
    """``  ✔ Train succeeded (12.30 s)``: indented by depth, Map iteration / branch index."""
    where = f"[{visit.path[-1][1]}] " if visit.path else ""
    extras = [] if visit.seconds is None else [f"{visit.seconds:.2f} s"]
    if visit.attempts > 1:
        extras.append(f"{visit.attempts} attempts")
    seconds = f" ({', '.join(extras)})" if extras else ""
    text = f"{'  ' * visit.depth}{STATUS_MARK.get(visit.status, ' ')} {where}{visit.name} "
    text += f"{visit.status}{seconds}"
    if visit.error and visit.status is not Status.SUCCEEDED:
        text += f": {visit.error}"
    return text


class ProgressLines:
    """Prints a line for each visit whose status changed since the last view; ``style``
    may decorate a line knowing its visit (the CLI colours it by status)."""

    def __init__(self, out: Printer = print, *, style: Callable[[Visit, str], str] | None = None):
        self.out = out
        self.style = style
        self.printed: dict[tuple[Any, ...], tuple[str, int]] = {}

    def __call__(self, view: ExecutionView) -> None:
        seen: dict[tuple[Any, ...], int] = {}
        for visit in view.visits:
            base = (visit.path, visit.name, visit.generation)
            seen[base] = seen.get(base, 0) + 1
            key = (*base, seen[base])
            if self.printed.get(key) != (visit.status, visit.attempts):
                self.printed[key] = (visit.status, visit.attempts)
                line = visit_line(visit)
                self.out(line if self.style is None else self.style(visit, line))


def summary_lines(view: ExecutionView, *, timeout: float | None = None) -> list[str]:
    """``execution SUCCEEDED in 12.3 s``, or the error and cause, or still running."""
    if not view.done:
        waited = f" after {timeout:g} s" if timeout is not None else ""
        return [f"execution {view.name} still {view.status}{waited}; follow it with `status`"]
    line = f"execution {view.status}"
    if view.seconds is not None:
        line += f" in {view.seconds:.1f} s"
    lines = [line]
    if view.status != "SUCCEEDED":
        lines.append(f"  error: {view.error or ''}  cause: {view.cause or ''}")
    return lines


# -- the targets ------------------------------------------------------------------------------


class Target:
    """Where a workflow runs; see the module docstring."""

    kind: ClassVar[str]
    region: str
    stepfunctions: StepFunctionsBackend | Client
    lambda_: LambdaBackend | Client
    sagemaker: SageMakerBackend | Client
    sagemaker_runtime: SageMakerRuntimeBackend | Client
    storage: Storage

    @property
    def account_id(self) -> str:
        return config.account_id()

    def arn(self, service: str, resource: str) -> str:
        return f"arn:aws:{service}:{self.region}:{self.account_id}:{resource}"

    def ensure_bucket(self, name: str) -> None:
        """Make sure the bucket exists where it has to (only a server's S3 needs it)."""

    def backend(self, service: str) -> Any:
        """Any other served API by its botocore name (``dynamodb``, ``sqs``...)."""
        raise NotImplementedError

    def close(self) -> None:
        """Release what the target holds."""

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    # -- the one start / follow path ---------------------------------------------------

    def put_state_machine(
        self, name: str, definition: Mapping[str, Any], role: str, *, replace: bool = True
    ) -> str:
        """Create the state machine, or update it when it exists (``replace=False``: leave an
        existing one as it is); return its ARN."""
        arn = self.arn("states", f"stateMachine:{name}")
        body = json.dumps(definition)
        sfn = self.stepfunctions
        try:
            sfn.describe_state_machine(stateMachineArn=arn)
        except ServiceError as e:
            if e.code != "StateMachineDoesNotExist":
                raise
            try:
                created = sfn.create_state_machine(name=name, definition=body, roleArn=role)
                return str(created["stateMachineArn"])
            except ServiceError as e:  # created meanwhile (serve's start hook, another run)
                if e.code != "StateMachineAlreadyExists":
                    raise
        if replace:
            sfn.update_state_machine(stateMachineArn=arn, definition=body, roleArn=role)
        return arn

    def start(self, state_machine_arn: str, input: Any, *, name: str | None = None) -> str:
        """StartExecution; returns the execution ARN."""
        kwargs: dict[str, Any] = {"stateMachineArn": state_machine_arn, "input": json.dumps(input)}
        if name:
            kwargs["name"] = name
        return str(self.stepfunctions.start_execution(**kwargs)["executionArn"])

    def history(self, arn: str) -> list[dict[str, Any]]:
        return history_of(self.stepfunctions, arn)

    def view(self, arn: str) -> ExecutionView:
        return view_of(self.stepfunctions, arn)

    def follow(
        self,
        arn: str,
        on_update: Callable[[ExecutionView], None] | None = None,
        *,
        poll_seconds: float = 0.25,
        timeout: float | None = None,
    ) -> ExecutionView:
        return follow_execution(
            self.stepfunctions,
            arn,
            on_update,
            poll_seconds=poll_seconds,
            timeout=timeout,
            pause=lambda seconds: self._pause(arn, seconds),
        )

    def _pause(self, arn: str, seconds: float) -> None:
        """Between two polls of ``arn``'s execution."""
        time.sleep(seconds)


class LocalTarget(Target):
    """The local runtime in this process: it owns the state directory while open."""

    kind = "local"

    def __init__(self, state_dir: str | Path | None = None, *, runtime: Runtime | None = None):
        from localaws.runtime import Runtime
        from localaws.server.serve import private_listener

        # Lambdas reach DynamoDB, SQS... over HTTP (AWS_ENDPOINT_URL): a private listener.
        # CLI commands share the directory with each other and wait for an exclusive owner.
        self.runtime = (
            runtime
            if runtime is not None
            else Runtime(state_dir, api_listener=private_listener).start(
                shared=True, on_wait=_say_waiting
            )
        )
        self._owned = runtime is None
        self.region = self.runtime.region
        self.stepfunctions = self.runtime.stepfunctions
        self.lambda_ = self.runtime.lambda_
        self.sagemaker = self.runtime.sagemaker
        self.sagemaker_runtime = self.runtime.sagemaker_runtime
        self.storage = self.runtime.storage

    @property
    def account_id(self) -> str:
        return self.runtime.account_id

    def _pause(self, arn: str, seconds: float) -> None:
        """The execution's end ends the pause between two polls: the run returns when it
        ends, not up to ``poll_seconds`` later."""
        until = time.monotonic() + seconds
        try:
            described = self.runtime.stepfunctions.wait(arn, timeout=seconds)
        except TimeoutError:
            return
        if described["status"] not in TERMINAL:  # not running in this process: poll
            time.sleep(max(0.0, until - time.monotonic()))

    @property
    def state_dir(self) -> Path:
        return self.runtime.state_dir

    def backend(self, service: str) -> Any:
        return self.runtime.backend(service)

    def close(self) -> None:
        if self._owned:
            self.runtime.close()


class _Boto3Target(Target):
    """A target reached through boto3 clients (a local server or AWS)."""

    url: str | None = None
    config: Any = None  # botocore Config of every client

    def __init__(self, session: Any):
        from localaws.lambdakit.storage import S3Storage

        self.session = session
        self.stepfunctions = self._client("stepfunctions")
        self.lambda_ = self._client("lambda")
        self.sagemaker = self._client("sagemaker")
        self.sagemaker_runtime = self._client("sagemaker-runtime")
        self.storage = S3Storage(Client(self.client("s3"), url=self.url, service_errors=False))

    def client(self, service: str) -> Any:
        """A plain boto3 client of this target (for the Data Science SDK)."""
        extra: dict[str, Any] = {"endpoint_url": self.url} if self.url else {}
        if self.config is not None:
            extra["config"] = self.config
        return self.session.client(service, **extra)

    def _client(self, service: str) -> Client:
        return Client(self.client(service), url=self.url)

    def backend(self, service: str) -> Any:
        return self._client(service)


class ServerTarget(_Boto3Target):
    """A local server's AWS APIs (what ``python -m workflows serve`` answers)."""

    kind = "server"

    def __init__(self, url: str, *, region: str | None = None):
        import boto3
        from botocore.config import Config

        self.url = url
        # A local server that does not answer is gone: say so after one retry, not five.
        self.config = Config(retries={"mode": "standard", "max_attempts": 2}, connect_timeout=5)
        self.region = config.region(region)
        from localaws.server.sigv4 import client_credentials

        # The server checks signatures: sign with the pair its credentials file lists first
        # (any pair when it has none).
        key, secret = client_credentials()
        super().__init__(
            boto3.Session(
                region_name=self.region, aws_access_key_id=key, aws_secret_access_key=secret
            )
        )

    def ensure_bucket(self, name: str) -> None:
        from botocore.exceptions import ClientError

        s3 = Client(self.client("s3"), url=self.url, service_errors=False)
        try:
            s3.head_bucket(Bucket=name)
        except ClientError:
            s3.create_bucket(Bucket=name)


class AwsTarget(_Boto3Target):
    """AWS itself, with the session's credentials and region."""

    kind = "aws"

    def __init__(self, session: Any):
        from workflows.errors import AwsCredentialsError

        if not session.region_name:
            raise AwsCredentialsError(
                "no AWS region: pass --region, or set AWS_DEFAULT_REGION / a profile's region"
            )
        self.region = str(session.region_name)
        super().__init__(session)

    @cached_property
    def account_id(self) -> str:  # type: ignore[override]
        sts = Client(self.client("sts"))
        return str(sts.get_caller_identity()["Account"])


def aws_session(region: str | None = None, profile: str | None = None) -> Any:
    """A boto3 session from the standard credential chain (``--region`` / ``--profile``)."""
    import boto3
    from botocore.exceptions import BotoCoreError

    try:
        return boto3.Session(region_name=region, profile_name=profile)
    except BotoCoreError as e:
        raise translate(e) from e


def _say_waiting(owner: dict[str, Any]) -> None:
    print(
        f"waiting: process {owner.get('pid')} holds this state directory for itself; "
        "this command starts when it ends",
        file=sys.stderr,
        flush=True,
    )


@contextmanager
def open_target(state_dir: str | Path | None = None) -> Iterator[Target]:
    """The target of CLI commands on ``state_dir``.

    A server owns it (``serve``): boto3 clients of that server, so commands work while the
    console is open.  Otherwise the runtime in this process, sharing the directory with any
    other CLI commands running on it; while a program holds the directory for itself, the
    command waits, saying so.
    """
    from localaws.runtime import read_owner

    owner = read_owner(state_dir)
    if owner is not None and owner.get("url"):
        with ServerTarget(str(owner["url"])) as server:
            yield server
        return
    with LocalTarget(state_dir) as local:
        yield local
