"""Run the workflow on the local runtime: register the Lambdas, upload data, execute, follow.

Everything here talks to a *backend*: an object with ``stepfunctions``, ``lambda_``,
``sagemaker``, ``sagemaker_runtime`` and ``storage`` attributes whose methods take AWS's
request members and return AWS's response shapes, and ``arn()``.  :func:`open_backend` is
the one place that decides what that object is: the in-process :class:`localaws.Runtime`
when no process owns the state directory, or :class:`ServerBackend` (boto3 clients of the
server) when ``python -m workflows serve`` owns it.
"""

from __future__ import annotations

import json
import secrets
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from localaws.errors import ServiceError
from localaws.runtime import Runtime, read_owner
from workflows.settings import Settings

LAMBDA_ROLE = "arn:aws:iam::123456789012:role/predictive-maintenance-lambda"
RAW_OBJECT = "ai4i2020.csv"

TERMINAL = frozenset({"SUCCEEDED", "FAILED", "TIMED_OUT", "ABORTED"})


# -- the backend seam -------------------------------------------------------------------


@contextmanager
def open_backend(state_dir: str | Path | None) -> Iterator[Any]:
    """The backend for CLI commands on ``state_dir``.

    A server owns it (``serve``): boto3 clients of that server, so commands work while the
    console is open.  Otherwise the runtime in this process, sharing the directory with
    any other CLI commands running on it (each runs its own executions; all see every
    execution); while a program holds the directory for itself, the command waits, saying
    so.
    """
    owner = read_owner(state_dir)
    if owner is not None and owner.get("url"):
        yield ServerBackend(owner["url"])
        return
    from localaws.server.serve import private_listener

    # Lambdas reach DynamoDB, SQS... over HTTP (AWS_ENDPOINT_URL): a private listener.
    runtime = Runtime(state_dir, api_listener=private_listener).start(
        shared=True, on_wait=_say_waiting
    )
    try:
        yield runtime
    finally:
        runtime.close()


def _say_waiting(owner: dict[str, Any]) -> None:
    print(
        f"waiting: process {owner.get('pid')} holds this state directory for itself; "
        "this command starts when it ends",
        file=sys.stderr,
        flush=True,
    )


class ServerBackend:
    """The runtime's backends, reached through a local server's AWS APIs.

    The same attributes and calls as :class:`localaws.Runtime` (boto3's methods take AWS's
    member names too); AWS errors come back as :class:`ServiceError` with AWS's code.
    """

    def __init__(self, url: str, *, region: str | None = None, account_id: str | None = None):
        import boto3

        from localaws import config
        from localaws.lambdakit.storage import S3Storage

        self.url = url
        self.region = config.region(region)
        self.account_id = config.account_id(account_id)
        from localaws.server.sigv4 import client_credentials

        key, secret = client_credentials()
        session = boto3.Session(
            aws_access_key_id=key, aws_secret_access_key=secret, region_name=self.region
        )

        def client(service: str) -> Any:
            return session.client(service, endpoint_url=url)

        self.stepfunctions = _AwsErrors(client("stepfunctions"))
        self.lambda_ = _AwsErrors(client("lambda"))
        self.sagemaker = _AwsErrors(client("sagemaker"))
        self.sagemaker_runtime = _AwsErrors(client("sagemaker-runtime"))
        self.storage = S3Storage(client("s3"))
        self._client = client

    def backend(self, service: str) -> Any:
        """A mounted service's backend (``dynamodb``, ``sqs``...), as ``Runtime.backend``."""
        return _AwsErrors(self._client(service))

    def arn(self, service: str, resource: str) -> str:
        return f"arn:aws:{service}:{self.region}:{self.account_id}:{resource}"

    def ensure_bucket(self, name: str) -> None:
        """Create the bucket when missing (the in-process storage needs no buckets)."""
        from botocore.exceptions import ClientError

        s3 = self.storage.client
        try:
            s3.head_bucket(Bucket=name)
        except ClientError:
            s3.create_bucket(Bucket=name)


class _AwsErrors:
    """A boto3 client whose ClientErrors are raised as ServiceError(code, message)."""

    def __init__(self, client: Any):
        self._client = client

    def __getattr__(self, name: str) -> Any:
        method = getattr(self._client, name)

        def call(**kwargs: Any) -> Any:
            from botocore.exceptions import ClientError

            try:
                return method(**kwargs)
            except ClientError as e:
                error = e.response.get("Error", {})
                status = e.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 400)
                raise ServiceError(
                    error.get("Code", "Unknown"), error.get("Message", ""), status=status
                ) from e

        return call


# -- the pieces of a run ----------------------------------------------------------------


def new_run_id() -> str:
    """Unique and sortable: ``20240131-235959-1a2b``."""
    return f"{datetime.now(UTC):%Y%m%d-%H%M%S}-{secrets.token_hex(2)}"


def state_machine_arn(backend: Any, name: str) -> str:
    return backend.arn("states", f"stateMachine:{name}")


def deploy_state_machine(backend: Any, settings: Settings, definition: dict[str, Any]) -> str:
    """Create the state machine, or update it when it exists; return its ARN."""
    arn = state_machine_arn(backend, settings.name)
    body = json.dumps(definition)
    sfn = backend.stepfunctions
    try:
        sfn.describe_state_machine(stateMachineArn=arn)
    except ServiceError as e:
        if e.code != "StateMachineDoesNotExist":
            raise
        return str(
            sfn.create_state_machine(
                name=settings.name, definition=body, roleArn=settings.roles.state_machine
            )["stateMachineArn"]
        )
    sfn.update_state_machine(
        stateMachineArn=arn, definition=body, roleArn=settings.roles.state_machine
    )
    return arn


def lambda_zip() -> bytes:
    """The deployment package, the same one AWS gets: ``lambdas/`` at the root and
    ``localaws/lambdakit/`` (:func:`workflows.functions.build_lambda_package`)."""
    from workflows.functions import build_lambda_package

    with tempfile.TemporaryDirectory(prefix="lambda-package-") as tmp:
        return build_lambda_package(Path(tmp) / "lambda.zip").read_bytes()


def register_lambdas(backend: Any) -> list[str]:
    """Create every function of lambdas/functions.yaml, or update it when it exists."""
    from workflows.functions import load_functions

    code = lambda_zip()
    names = []
    for spec in load_functions():
        config = {
            "Runtime": spec.runtime,
            "Role": LAMBDA_ROLE,
            "Handler": spec.handler,
            "Description": spec.description,
            "Timeout": spec.timeout,
            "MemorySize": spec.memory,
            "Environment": {"Variables": dict(spec.environment)},
        }
        try:
            backend.lambda_.get_function(FunctionName=spec.name)
        except ServiceError as e:
            if e.code != "ResourceNotFoundException":
                raise
            backend.lambda_.create_function(
                FunctionName=spec.name, Code={"ZipFile": code}, **config
            )
        else:
            backend.lambda_.update_function_code(FunctionName=spec.name, ZipFile=code)
            backend.lambda_.update_function_configuration(FunctionName=spec.name, **config)
        names.append(spec.name)
    return names


PREDICTIONS_KEY = "prediction_id"  # the predict Lambda's key (lambdas/common/predictions.py)


def ensure_predictions_table(backend: Any, name: str) -> None:
    """Create the predictions table in the local DynamoDB when missing (on AWS the stack
    creates it, with the same key)."""
    dynamodb = backend.backend("dynamodb")
    try:
        dynamodb.describe_table(TableName=name)
        return
    except ServiceError as e:
        if e.code != "ResourceNotFoundException":
            raise
    dynamodb.create_table(
        TableName=name,
        KeySchema=[{"AttributeName": PREDICTIONS_KEY, "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": PREDICTIONS_KEY, "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )


def raw_data(*, data_file: str | Path | None, rows: int, seed: int) -> bytes:
    """The raw AI4I CSV: the user's file as it is, or generated rows."""
    if data_file is not None:
        return Path(data_file).read_bytes()
    from workflows import ai4i_data

    df = ai4i_data.generate(rows, seed)
    return df.to_csv(index=False).encode()


def upload_raw(backend: Any, uri_prefix: str, body: bytes) -> str:
    uri = uri_prefix + RAW_OBJECT
    ensure_bucket = getattr(backend, "ensure_bucket", None)  # a server's S3 API needs the bucket
    if ensure_bucket is not None:
        ensure_bucket(uri.removeprefix("s3://").split("/", 1)[0])
    backend.storage.write(uri, body)
    return uri


def endpoint_exists(backend: Any, name: str) -> bool:
    try:
        backend.sagemaker.describe_endpoint(EndpointName=name)
    except ServiceError as e:
        if e.code in ("ValidationException", "ResourceNotFound"):
            return False
        raise
    return True


# -- following an execution -------------------------------------------------------------


@dataclass
class StateRun:
    """One visit of a state, from the history."""

    name: str
    type: str
    entered: datetime
    exited: datetime | None = None
    status: str = "running"  # running, succeeded, failed, caught, retrying
    input: Any = None
    output: Any = None
    error: str | None = None
    cause: str | None = None
    attempts: int = 0

    @property
    def seconds(self) -> float | None:
        return None if self.exited is None else (self.exited - self.entered).total_seconds()


@dataclass
class ExecutionView:
    """What the history says about an execution: its states in order, and its end."""

    arn: str
    status: str = "RUNNING"
    started: datetime | None = None
    stopped: datetime | None = None
    states: list[StateRun] = field(default_factory=list)
    output: Any = None
    error: str | None = None
    cause: str | None = None

    @property
    def seconds(self) -> float | None:
        if self.started is None or self.stopped is None:
            return None
        return (self.stopped - self.started).total_seconds()

    def state(self, name: str) -> StateRun | None:
        for run in reversed(self.states):
            if run.name == name:
                return run
        return None

    def output_of(self, name: str) -> Any:
        run = self.state(name)
        return None if run is None else run.output


def history_events(backend: Any, arn: str) -> list[dict[str, Any]]:
    events: list[dict[str, Any]] = []
    token = None
    while True:
        kwargs: dict[str, Any] = {"executionArn": arn, "maxResults": 1000}
        if token:
            kwargs["nextToken"] = token
        page = backend.stepfunctions.get_execution_history(**kwargs)
        events.extend(page.get("events", []))
        token = page.get("nextToken")
        if not token:
            return events


def view_execution(backend: Any, arn: str) -> ExecutionView:
    """Describe an execution and fold its history into per-state visits."""
    desc = backend.stepfunctions.describe_execution(executionArn=arn)
    view = ExecutionView(
        arn=arn, status=desc["status"], started=desc.get("startDate"), stopped=desc.get("stopDate")
    )
    view.output = _parse(desc.get("output"))
    view.error, view.cause = desc.get("error"), desc.get("cause")
    current: StateRun | None = None
    for ev in history_events(backend, arn):
        kind: str = ev["type"]
        if kind.endswith("StateEntered"):
            d = ev["stateEnteredEventDetails"]
            current = StateRun(
                d["name"],
                kind.removesuffix("StateEntered"),
                ev["timestamp"],
                input=_parse(d.get("input")),
            )
            view.states.append(current)
            if kind == "FailStateEntered":
                current.exited, current.status = ev["timestamp"], "failed"
            elif kind in ("SucceedStateEntered", "PassStateEntered", "ChoiceStateEntered"):
                current.status = "running"
        elif kind.endswith("StateExited") and current is not None:
            d = ev["stateExitedEventDetails"]
            current.exited, current.output = ev["timestamp"], _parse(d.get("output"))
            current.status = "caught" if current.error else "succeeded"
        elif kind == "TaskScheduled" and current is not None:
            current.attempts += 1
            if current.error:
                current.status = "retrying"
        elif kind in ("TaskFailed", "TaskTimedOut") and current is not None:
            d = ev.get("taskFailedEventDetails") or ev.get("taskTimedOutEventDetails") or {}
            current.error, current.cause = d.get("error"), d.get("cause")
            current.status = "failed"
            current.exited = ev["timestamp"]
        elif kind == "TaskSucceeded" and current is not None:
            current.error = current.cause = None
        elif kind in ("ExecutionFailed", "ExecutionAborted", "ExecutionTimedOut"):
            ended: dict[str, Any] = next(
                (v for k, v in ev.items() if k.endswith("EventDetails") and v), {}
            )
            view.error = view.error or ended.get("error")
            view.cause = view.cause or ended.get("cause")
            if current is not None and current.exited is None:
                current.exited = ev["timestamp"]
                if current.status == "running":
                    current.status = "failed" if kind == "ExecutionFailed" else "aborted"
        elif kind == "ExecutionSucceeded" and current is not None and current.exited is None:
            current.exited, current.status = ev["timestamp"], "succeeded"
    # A state after which a Catch moved on was caught, not failed.
    for run, after in zip(view.states, view.states[1:], strict=False):
        if run.status == "failed" and after is not None:
            run.status = "caught"
            run.exited = run.exited or after.entered
    return view


def follow(
    backend: Any,
    arn: str,
    on_update: Callable[[ExecutionView], None] | None = None,
    *,
    poll_seconds: float = 0.25,
    timeout: float | None = None,
) -> ExecutionView:
    """Poll the execution until it ends, calling ``on_update`` with each new view."""
    deadline = None if timeout is None else time.monotonic() + timeout
    while True:
        view = view_execution(backend, arn)
        if on_update is not None:
            on_update(view)
        if view.status in TERMINAL:
            return view
        if deadline is not None and time.monotonic() > deadline:
            return view
        time.sleep(poll_seconds)


def _parse(text: Any) -> Any:
    if not isinstance(text, str):
        return text
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return text


# -- one whole run ----------------------------------------------------------------------


@dataclass
class RunResult:
    run_id: str
    execution_arn: str
    input: dict[str, Any]
    view: ExecutionView
    seconds: dict[str, float]  # setup phases: register, upload, execute

    @property
    def succeeded(self) -> bool:
        return self.view.status == "SUCCEEDED"


def run_workflow(
    backend: Any,
    settings: Settings,
    *,
    data_file: str | Path | None = None,
    rows: int | None = None,
    seed: int | None = None,
    run_id: str | None = None,
    on_update: Callable[[ExecutionView], None] | None = None,
    on_phase: Callable[[str], None] | None = None,
) -> RunResult:
    """Deploy the state machine and the Lambdas, upload the data, run once, follow it."""
    from workflows import predictive_maintenance as pm

    def phase(text: str) -> None:
        if on_phase is not None:
            on_phase(text)

    timings: dict[str, float] = {}
    run_id = run_id or new_run_id()
    t0 = time.perf_counter()
    phase("building the state machine")
    arn = deploy_state_machine(backend, settings, pm.definition(settings))
    phase("registering the Lambda functions")
    register_lambdas(backend)
    ensure_predictions_table(backend, settings.prediction.table)
    timings["deploy"] = time.perf_counter() - t0

    t0 = time.perf_counter()
    execution_input = pm.example_input(
        settings, run_id, endpoint_exists=endpoint_exists(backend, settings.endpoint.name)
    )
    body = raw_data(
        data_file=data_file,
        rows=rows or settings.data.rows,
        seed=settings.data.seed if seed is None else seed,
    )
    phase(f"uploading {len(body):,} bytes of raw data")
    upload_raw(backend, execution_input["RawDataUri"], body)
    timings["data"] = time.perf_counter() - t0

    t0 = time.perf_counter()
    started = backend.stepfunctions.start_execution(
        stateMachineArn=arn, name=run_id, input=json.dumps(execution_input)
    )
    view = follow(backend, started["executionArn"], on_update)
    timings["execution"] = time.perf_counter() - t0
    return RunResult(run_id, started["executionArn"], execution_input, view, timings)
