"""The runtime's public Python API: one object that owns a state directory.

    with Runtime(".local-aws") as rt:
        rt.stepfunctions.create_state_machine(name="demo", definition=..., roleArn=...)
        rt.sagemaker.describe_training_job(TrainingJobName="...")
        rt.storage.write("s3://bucket/key", b"...")

Each backend exposes AWS operations as snake_case methods that take the operation's request
members as keyword arguments (AWS's own member names) and return AWS's response shape.  The
HTTP server maps API actions onto these same methods.

One process owns a state directory at a time; ownership is an exclusive lock on
``<state dir>/owner.lock`` (:class:`~localaws.layout.StateDir`), whose JSON body says who owns it (pid, and the server URL when
the owner is a server).  CLI commands start shared (``start(shared=True)``): any number of
them hold a shared lock at once, each running its own executions over the one SQLite
database (WAL), and wait while an exclusive owner holds the directory.  Lambda workers and endpoint model servers are child processes of
the owner and stop with it.
"""

from __future__ import annotations

import fcntl
import json
import os
import threading
from collections.abc import Callable
from functools import cached_property
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any, Protocol

from localaws import backup, botocore_model, config
from localaws.errors import PlatformError
from localaws.layout import StateDir
from localaws.registry import BY_ATTRIBUTE, BY_BOTOCORE_NAME, SERVICES
from localaws.store import Database, atomic_write


class ApiListener(Protocol):
    """An HTTP listener serving a runtime's APIs (``localaws.server.serve.PrivateListener``)."""

    url: str

    def stop(self) -> None: ...


if TYPE_CHECKING:
    from localaws.lambda_.backend import LambdaBackend
    from localaws.lambdakit.storage import LocalStorage
    from localaws.motobridge.bridge import MotoBridge
    from localaws.s3.backend import ObjectStore
    from localaws.sagemaker.backend import SageMakerBackend
    from localaws.sagemaker.featurestore import FeatureStoreRuntimeBackend
    from localaws.sagemaker.hosting import SageMakerRuntimeBackend
    from localaws.stepfunctions.backend import StepFunctionsBackend


class StateDirBusy(PlatformError):
    """Another process owns the state directory."""

    def __init__(self, state_dir: Path, owner: dict[str, Any]):
        who = f"pid {owner.get('pid')}"
        if owner.get("url"):
            who += f", serving {owner['url']}"
        super().__init__(
            f"state directory {state_dir} is owned by another process ({who}); "
            "stop it, use another --state-dir, or send commands through its server"
        )
        self.owner = owner


def _owner_body(fh: Any) -> dict[str, Any]:
    fh.seek(0)
    try:
        body = json.loads(fh.read() or "{}")
    except json.JSONDecodeError:
        return {}
    return body if isinstance(body, dict) else {}


def read_owner(state_dir: str | os.PathLike[str] | None = None) -> dict[str, Any] | None:
    """Who owns the state directory now, or None when nobody does."""
    path = StateDir(config.state_dir(state_dir)).owner_lock
    try:
        fh = open(path, "a+")  # noqa: SIM115 - closed below
    except FileNotFoundError:
        return None
    with fh:
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            fh.seek(0)
            try:
                return json.loads(fh.read() or "{}")
            except json.JSONDecodeError:
                return {}
        fcntl.flock(fh, fcntl.LOCK_UN)
        return None


class Runtime:
    """Owns a state directory: the database, local S3, Lambda, SageMaker and Step Functions."""

    if TYPE_CHECKING:  # built on first use by __getattr__, from localaws.registry
        s3: ObjectStore
        lambda_: LambdaBackend
        sagemaker: SageMakerBackend
        sagemaker_runtime: SageMakerRuntimeBackend
        sagemaker_featurestore_runtime: FeatureStoreRuntimeBackend
        stepfunctions: StepFunctionsBackend

    def __init__(
        self,
        state_dir: str | os.PathLike[str] | None = None,
        *,
        region: str | None = None,
        account_id: str | None = None,
        credentials: tuple[str, str] | None = None,
        api_listener: Callable[[Runtime], ApiListener] | None = None,
    ):
        self.state_dir = config.state_dir(state_dir)
        self.layout = StateDir(self.state_dir)
        self.region = config.region(region)
        self.account_id = config.account_id(account_id)
        # The access key pair workers (Lambdas, jobs) sign their calls to the server with.
        self.credentials = credentials or (config.DEFAULT_ACCESS_KEY, config.DEFAULT_SECRET_KEY)
        self._lock_fh: Any = None
        self._building = threading.RLock()
        self._bridge_lock = threading.Lock()  # opening the services bridge vs closing
        self._closing = False
        self._started = False
        self.url: str | None = None  # the server's URL when a server owns this runtime
        self._listener: ApiListener | None = None
        self._api_listener = api_listener
        # Whether start() continues what a dead process left running (executions, jobs):
        # only an owner that holds the state directory alone does (see start()).
        self.resumes = True
        self._backups: backup.Backups | None = None

    # -- ownership -------------------------------------------------------------------

    def start(
        self,
        *,
        url: str | None = None,
        shared: bool = False,
        on_wait: Callable[[dict[str, Any]], None] | None = None,
    ) -> Runtime:
        """Take ownership of the state directory and bring back what was running.

        ``shared`` (CLI commands): several processes may hold the directory at once, each
        running its own executions over the one database; the first one in recovers what a
        dead process left.  While an exclusive owner (a server, a program's Runtime) holds
        it, a shared start waits, calling ``on_wait(owner)`` once.
        """
        if self._started:
            return self
        botocore_model.share_service_models()
        self.state_dir.mkdir(parents=True, exist_ok=True)
        fh = open(self.layout.owner_lock, "a+")  # noqa: SIM115 - held while we own the dir
        first = False
        waited = False
        while True:
            try:
                fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
                first = True
                break
            except BlockingIOError:
                owner = _owner_body(fh)
            if not shared:
                fh.close()
                raise StateDirBusy(self.state_dir, owner) from None
            try:
                fcntl.flock(fh, fcntl.LOCK_SH | fcntl.LOCK_NB)
                break  # other CLI commands hold it: share it with them
            except BlockingIOError:
                pass
            if not waited and on_wait is not None:
                on_wait(owner)
            waited = True
            fcntl.flock(fh, fcntl.LOCK_SH)  # blocks while an exclusive owner holds it
            fcntl.flock(fh, fcntl.LOCK_UN)  # then try again, to recover if we are alone
        try:  # a damaged database stops here, named, before anything reads or resets it
            backup.check(self.state_dir)
        except BaseException:
            fcntl.flock(fh, fcntl.LOCK_UN)
            fh.close()
            raise
        if first:
            fh.seek(0)
            fh.truncate()
            fh.write(json.dumps({"pid": os.getpid(), "url": url}))
            fh.flush()
            if shared:
                fcntl.flock(fh, fcntl.LOCK_SH)
        self._lock_fh = fh
        self._started = True
        self._closing = False
        # A CLI command (shared) may live a moment: it leaves interrupted executions and
        # jobs RUNNING for the next exclusive owner (a server, a program's Runtime).
        self.resumes = not shared
        self.url = url
        if first:
            self.recover()
            self._backups = backup.Backups(self.state_dir, config.backup_seconds()).start()
        return self

    def recover(self) -> None:
        """After a restart: continue interrupted executions and jobs, bring endpoints back."""
        for service in SERVICES:
            getattr(self, service.attribute).recover()
        if (self.layout.services / "journal.db").exists():
            self.motobridge  # noqa: B018 - rules, schedules and buffers come back with it

    def close(self) -> None:
        """Stop executions, endpoints and workers, and release the state directory."""
        if self._listener is not None:
            self._listener.stop()
            self._listener = None
        if not self._started:
            return
        with self._bridge_lock:  # a bridge being opened is attached before its wiring closes
            self._closing = True
        for service in reversed(SERVICES):
            backend = self.__dict__.get(service.attribute)
            if backend is not None:
                backend.close()
        bridge = self.__dict__.pop("motobridge", None)
        if bridge is not None:
            bridge.close()
        if self._backups is not None:
            self._backups.close()  # the last backup, after every writer stopped
            self._backups = None
        self.db.close()
        fcntl.flock(self._lock_fh, fcntl.LOCK_UN)
        self._lock_fh.close()
        self._lock_fh = None
        self._started = False
        self.url = None

    def __enter__(self) -> Runtime:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    # -- components (created on first use) --------------------------------------------

    @cached_property
    def db(self) -> Database:
        return Database(self.layout.database)

    @cached_property
    def storage(self) -> LocalStorage:
        from localaws.lambdakit.storage import LocalStorage

        return LocalStorage(self.layout.s3)

    @cached_property
    def motobridge(self) -> MotoBridge:
        """moto's backends for the services it serves (DynamoDB, SQS, ...), opened on first
        use: the journal in ``<state dir>/services/`` is replayed then."""
        from localaws.motobridge.bridge import MotoBridge

        with self._bridge_lock:
            if self._closing:  # a delivery thread of a closing runtime: it retries at start
                raise PlatformError(
                    f"the runtime over {self.state_dir} is closing: its services do not open now"
                )
            bridge = MotoBridge(
                self.layout.made(self.layout.services),
                region=self.region,
                account_id=self.account_id,
            ).open()
            # The wiring that observes the services' calls (EventBridge rules, Firehose
            # delivery) and the log shipper start with the bridge, before any call they must
            # see.
            self.events.attach(bridge)
            self.firehose.attach(bridge)
            self.logs.attach(bridge)
            self.glue.attach(bridge)
            self.athena.attach(bridge)
            return bridge

    def api_url(self) -> str:
        """Where this runtime's AWS APIs answer over HTTP, for its child processes (Lambda
        workers get it as ``AWS_ENDPOINT_URL``): the server's URL when a server owns the
        runtime; else the listener ``api_listener`` starts (the CLI's in-process runtime
        passes ``localaws.server.serve.private_listener``: a free loopback port), started on
        first need and stopped with the runtime; else ``config.NO_API_ENDPOINT``, which
        refuses connections, so that a Lambda's AWS call fails at once and never reaches AWS."""
        if self.url is not None:
            return self.url
        if self._listener is None and self._api_listener is not None:
            self._listener = self._api_listener(self)
        return self._listener.url if self._listener is not None else config.NO_API_ENDPOINT

    def backend(self, service: str) -> Any:
        """A backend by its botocore service name (``dynamodb``, ``sagemaker-runtime``...)."""
        line = BY_BOTOCORE_NAME.get(service)
        if line is None:
            raise KeyError(f"{service} is not served locally; see localaws/registry.py")
        return getattr(self, line.attribute)

    def __getattr__(self, name: str) -> Any:
        """A service backend (``rt.stepfunctions``, ``rt.s3``...), built on first use from its
        line in :data:`localaws.registry.SERVICES`."""
        service = BY_ATTRIBUTE.get(name)
        if service is None:
            raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")
        with self._building:  # server threads may ask for the same backend at once
            backend = self.__dict__.get(name)
            if backend is None:
                backend = service.backend_class()(self)
                self.__dict__[name] = backend
        return backend

    # -- helpers shared by backends ----------------------------------------------------

    def arn(self, service: str, resource: str) -> str:
        return f"arn:aws:{service}:{self.region}:{self.account_id}:{resource}"

    def write_json(self, path: Path, body: Any) -> None:
        atomic_write(path, json.dumps(body, indent=2, default=str).encode())
