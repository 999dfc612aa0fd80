"""moto's backends mounted in-process behind the local server, made durable by a journal.

A request for a mounted service (``services.route``) reaches :meth:`MotoBridge.handle` with
its method, path, headers and body.  The bridge rewrites the URL onto the service's AWS host
for the runtime's region (``https://sqs.us-east-1.amazonaws.com/...``), adds moto's
``x-moto-account-id`` header with the runtime's account, and calls the handler moto itself
registers for that URL (moto's ``url_paths`` + ``responses`` classes), exactly as
``mock_aws`` does: moto parses the request and answers it.

Durability: a call that may change state runs under one lock with a fresh seed and a frozen
clock (:mod:`.determinism`); when moto accepts it (status < 400) it is appended to the
journal (:mod:`.journal`) under that lock; the reply waits, outside the lock, until the entry
is on the disk (unless ``LOCALAWS_JOURNAL_SYNC=normal``), sharing one fsync with the calls
that committed meanwhile; a read waits likewise for the writes it may show.  :meth:`open` resets
moto's backends for the mounted services and replays the journal in order, which rebuilds the
same state with the same ids (MessageId, receipt handles, sequence numbers, timestamps).
A snapshot (:mod:`.snapshot`) every ``LOCALAWS_SNAPSHOT_EVERY`` (1000) mutations and at close
bounds the replay to the entries after it.

moto's backends are process-wide globals, so one bridge owns them at a time per process
(:class:`BridgeBusy` otherwise).  Observers (:meth:`observe`) see every accepted mutating
call after it is journaled, in order; the wiring (notifications, event source mappings,
rules, deliveries) hangs off them and must only enqueue work, never call back in.
"""

from __future__ import annotations

import json
import logging
import re
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

from localaws import config
from localaws.errors import PlatformError, ServiceError
from localaws.motobridge import adaptations, determinism, services, snapshot
from localaws.motobridge.journal import Call, Journal

log = logging.getLogger(__name__)

ACCOUNT_HEADER = "x-moto-account-id"
# Request headers not kept in the journal (they change per connection or carry signatures).
_DROPPED_HEADERS = frozenset(
    {"host", "authorization", "content-length", "connection", "x-amz-date", "x-amz-security-token"}
)
_DROPPED_REPLY_HEADERS = frozenset({"status", "content-length", "server", "date"})
SQS_MAX_WAIT_S = 20
# Services whose accepted calls can put a message on a queue (SQS itself; SNS and EventBridge
# deliver to SQS subscribers and targets inside moto): they wake a waiting ReceiveMessage.
# Other services' calls (the log shipper's, a few a job) do not.
WAKES_RECEIVE = frozenset({"sqs", "sns", "events"})

_owner_lock = threading.Lock()
_owner: MotoBridge | None = None


class BridgeBusy(PlatformError):
    """Another runtime in this process has moto's backends."""


@dataclass
class Reply:
    status: int
    headers: dict[str, str]
    body: bytes


@dataclass(frozen=True)
class Mutation:
    """An accepted mutating call, as observers see it."""

    service: str  # botocore name
    operation: str | None  # botocore operation (None: a REST call; see method/path)
    method: str
    path: str  # path and query string
    headers: dict[str, str]
    body: bytes
    reply: Reply


# An operation served partly by the runtime (Glue crawls and job runs, Athena queries):
# ``overlay(request members, moto)`` returns the response members; ``moto()`` makes the
# call through moto (journaled when mutating) and returns its response members, or
# answers moto's error as it stands.  Raising ``ServiceError`` answers that error.
Overlay = Callable[[dict[str, Any], Callable[[], dict[str, Any]]], dict[str, Any]]


class _MotoRefused(Exception):
    def __init__(self, reply: Reply):
        self.reply = reply


@dataclass
class _Mounted:
    info: services.ServiceInfo
    handlers: list[tuple[re.Pattern[str], Callable[..., Any]]] = field(default_factory=list)


class MotoBridge:
    """Owns moto's backends for the mounted services, for one state directory."""

    def __init__(self, directory: Path, *, region: str, account_id: str, sync: str | None = None):
        self.directory = directory
        self.sync = config.journal_sync(sync)
        self.snapshot_every = config.snapshot_every()
        self.region = region
        self.account_id = account_id
        self._lock = threading.RLock()
        self._changed = threading.Condition(self._lock)
        self._journal: Journal | None = None
        self._mounted: dict[str, _Mounted] = {}
        self._observers: list[Callable[[Mutation], None]] = []
        self._overlays: dict[tuple[str, str], Overlay] = {}
        self.replayed = 0
        self.replay_seconds = 0.0
        self._seq = 0  # the journal's last entry
        self._snapshot_seq = 0  # the last entry the snapshot on disk includes

    # -- lifecycle ---------------------------------------------------------------------

    def open(self) -> MotoBridge:
        """Take moto's backends for this process, reset them and replay the journal."""
        global _owner
        with _owner_lock:
            if _owner is not None and _owner is not self:
                raise BridgeBusy(
                    f"moto's backends in this process already serve {_owner.directory}; "
                    f"close that runtime before using the services of {self.directory}"
                )
            _owner = self
        try:
            self._mount()
            self._journal = Journal(self.directory / "journal.db", sync=self.sync)
            self._replay()
        except BaseException:
            self.close()
            raise
        return self

    def close(self) -> None:
        global _owner
        if self._journal is not None:
            with self._lock:
                if self._seq > self._snapshot_seq:
                    self._snapshot()
                self._journal.close()
                self._journal = None
        with _owner_lock:
            if _owner is self:
                _owner = None

    def observe(self, observer: Callable[[Mutation], None]) -> None:
        """Call ``observer`` after every accepted mutating call (not during replay)."""
        self._observers.append(observer)

    def overlay(self, service: str, operation: str, fn: Overlay) -> None:
        """Serve ``operation`` of a JSON-protocol ``service`` through ``fn`` (see
        :data:`Overlay`): for the runtime's part of an API moto only records (a crawl's
        state, a query's results).  A mutating operation's overlay runs under the bridge's
        lock, so a check it makes holds until moto has answered."""
        self._overlays[(service, operation)] = fn

    def _mount(self) -> None:
        import moto.backends as backends
        from moto.core import DEFAULT_ACCOUNT_ID

        for name in services.MOUNTED:
            info = services.info(name)
            backend_dict = backends.get_backend(info.moto_name)  # type: ignore[call-overload]
            for account_backends in backend_dict.values():
                account_backends.reset()
            backend_dict.clear()
            per_account = backend_dict[DEFAULT_ACCOUNT_ID]
            regional = per_account["us-east-1" if "us-east-1" in per_account else "aws"]
            handlers = [(re.compile(url), handler) for url, handler in regional.urls.items()]
            self._mounted[name] = _Mounted(info, handlers)
        determinism.install()
        adaptations.apply()

    @property
    def snapshot_path(self) -> Path:
        return self.directory / "snapshot.pickle"

    def _backend_dicts(self) -> dict[str, Any]:
        import moto.backends as backends

        return {
            m.info.moto_name: backends.get_backend(m.info.moto_name)  # type: ignore[call-overload]
            for m in self._mounted.values()
        }

    def _snapshot(self) -> None:
        """Write a snapshot of every mounted backend (under the lock: nothing changes)."""
        try:
            snapshot.dump(
                self.snapshot_path,
                self._seq,
                {name: dict(bd) for name, bd in self._backend_dicts().items()},
            )
        except Exception:  # an optimisation only: the journal already holds every call
            log.exception("could not write the services snapshot; the journal is complete")
            return
        self._snapshot_seq = self._seq

    def _restore(self) -> int:
        """Load the snapshot into moto's backends; the journal entry it ends at (0: none)."""
        found = snapshot.load(self.snapshot_path)
        dicts = self._backend_dicts()
        if found is None or set(found.backends) != set(dicts):
            return 0
        for name, backend_dict in dicts.items():
            backend_dict.clear()
            backend_dict.update(found.backends[name])
        return found.seq

    def _replay(self) -> None:
        assert self._journal is not None
        started = time.perf_counter()
        self._seq = self._journal.last_seq()
        self._snapshot_seq = self._restore()
        if self._snapshot_seq > self._seq:  # a snapshot newer than the journal: not ours
            log.warning("the services snapshot is ahead of the journal; replaying it all")
            self._mount()
            self._snapshot_seq = 0
        count = 0
        for call in self._journal.since(self._snapshot_seq):
            reply = self._dispatch(call)
            if reply.status >= 400:
                log.warning(
                    "replaying %s %s answered %s: %s",
                    call.service,
                    call.method,
                    reply.status,
                    reply.body[:200],
                )
            count += 1
        self.replayed = count
        self.replay_seconds = time.perf_counter() - started

    # -- calls -------------------------------------------------------------------------

    def url(self, service: str, path: str) -> str:
        """``path`` (with its query string) on the service's AWS host for the region."""
        return f"https://{self._mounted[service].info.host(self.region)}{path}"

    def handle(
        self, service: str, method: str, path: str, headers: dict[str, str], body: bytes
    ) -> Reply:
        """Serve one request for a mounted service.  ``path`` includes the query string."""
        if service not in self._mounted:
            raise PlatformError(f"{service} is not mounted; mounted: {', '.join(self._mounted)}")
        headers = {k.lower(): v for k, v in headers.items()}
        target = headers.get("x-amz-target")
        split = urlsplit(path)
        operation = services.operation_name(service, method, target, split.query, body)
        if service == "sqs" and operation == "ReceiveMessage":
            return self._receive_message(method, path, headers, body)
        overlay = self._overlays.get((service, operation or ""))
        if overlay is not None:
            return self._overlaid(overlay, service, operation, method, path, headers, body)
        return self._call(service, operation, method, path, headers, body)

    def _overlaid(
        self,
        overlay: Overlay,
        service: str,
        operation: str | None,
        method: str,
        path: str,
        headers: dict[str, str],
        body: bytes,
    ) -> Reply:
        def moto() -> dict[str, Any]:
            reply = self._call(service, operation, method, path, headers, body)
            if reply.status >= 400:
                raise _MotoRefused(reply)
            return services.json_body(reply.body)

        request = services.json_body(body)
        try:
            if services.is_mutating(operation, method):
                with self._lock:
                    result = overlay(request, moto)
            else:
                result = overlay(request, moto)
        except _MotoRefused as e:
            return e.reply
        except ServiceError as e:
            return _error_reply(e.status, e.code, e.message)
        version = self._mounted[service].info.json_version or "1.1"
        return Reply(
            200,
            {"Content-Type": f"application/x-amz-json-{version}"},
            json.dumps(result, default=_json_default).encode(),
        )

    def _call(
        self,
        service: str,
        operation: str | None,
        method: str,
        path: str,
        headers: dict[str, str],
        body: bytes,
        *,
        journal: Callable[[Reply], bool] = lambda reply: reply.status < 400,
    ) -> Reply:
        kept = {k: v for k, v in headers.items() if k not in _DROPPED_HEADERS}
        kept[ACCOUNT_HEADER] = self.account_id
        call = Call(service, method, self.url(service, path), kept, body, 0, 0.0)
        with self._lock:
            journal_ = self._journal
            if not services.is_mutating(operation, method):
                reply = self._dispatch(call, seed=secrets.randbits(63), at=time.time())
            elif journal_ is None:
                raise PlatformError("the services bridge is closed")
            else:
                call = Call(
                    service, method, call.url, kept, body, secrets.randbits(63), time.time()
                )
                reply = self._dispatch(call)
                if journal(reply):
                    self._seq = journal_.append(call)
                    if service in WAKES_RECEIVE:
                        self._changed.notify_all()
                    if self._seq - self._snapshot_seq >= self.snapshot_every:
                        self._snapshot()
                    # Under the lock, so observers see mutations in journal order.
                    mutation = Mutation(service, operation, method, path, kept, body, reply)
                    for observer in self._observers:
                        observer(mutation)
            seen = self._seq  # the state this reply shows includes every entry up to here
        # Outside the lock: calls that commit meanwhile share the fsync (group commit).  A
        # read waits too, so no reply shows a write the disk might not have yet.
        if journal_ is not None:
            journal_.sync_to(seen)
        return reply

    def _dispatch(self, call: Call, *, seed: int | None = None, at: float | None = None) -> Reply:
        from moto.core.exceptions import HTTPException
        from moto.core.request import Request

        mounted = self._mounted[call.service]
        split = urlsplit(call.url)
        clean = f"{split.scheme}://{split.netloc}{split.path}"
        handler = next((h for pattern, h in mounted.handlers if pattern.match(clean)), None)
        if handler is None:
            return _error_reply(
                404, "UnknownOperationException", f"no {call.service} API at {split.path}"
            )
        with determinism.repeatable(
            call.seed if seed is None else seed, call.at if at is None else at
        ):
            # What moto's normalize_request makes of a botocore request, without the
            # botocore request and its email-message headers in between.
            normalized = Request.from_primitives(call.method, call.url, call.headers, call.body)
            try:
                status, headers, body = handler(normalized, normalized.raw_url, normalized.headers)
            except HTTPException as e:
                status, headers, body = e.code, dict(e.get_headers() or []), e.get_body()
            except Exception as e:  # a moto bug or a gap: AWS's 500, never journaled
                log.exception("%s %s failed in moto", call.service, call.method)
                return _error_reply(
                    500, "InternalFailure", f"{call.service} failed: {type(e).__name__}: {e}"
                )
        reply_headers = {
            str(k): str(v)
            for k, v in dict(headers or {}).items()
            if str(k).lower() not in _DROPPED_REPLY_HEADERS
        }
        if isinstance(body, str):
            body = body.encode()
        return Reply(int(status), reply_headers, bytes(body or b""))

    # -- SQS long polling --------------------------------------------------------------

    def _receive_message(
        self, method: str, path: str, headers: dict[str, str], body: bytes
    ) -> Reply:
        """ReceiveMessage with ``WaitTimeSeconds`` served as repeated zero-wait receives
        woken by every accepted mutation: moto's own wait loop would hold the lock (and
        block the send it waits for), and a replayed call must never wait.  A receive that
        returned no message changed nothing and is not journaled."""
        params, encode = _sqs_params(headers, body)
        wait = params.get("WaitTimeSeconds")
        if wait is None:
            wait = self._queue_wait_seconds(str(params.get("QueueUrl", "")))
        try:
            wait_s = max(0, min(int(str(wait)), SQS_MAX_WAIT_S))
        except ValueError:  # moto answers the invalid value itself
            return self._call("sqs", "ReceiveMessage", method, path, headers, body)
        params["WaitTimeSeconds"] = 0
        rewritten = encode(params)
        deadline = time.monotonic() + wait_s
        while True:
            reply = self._call(
                "sqs", "ReceiveMessage", method, path, headers, rewritten, journal=_has_messages
            )
            if reply.status >= 400 or _has_messages(reply):
                return reply
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return reply
            with self._changed:
                self._changed.wait(min(remaining, 1.0))

    def _queue_wait_seconds(self, queue_url: str) -> int:
        from moto.sqs.models import sqs_backends

        name = queue_url.rstrip("/").rsplit("/", 1)[-1]
        try:
            queue = sqs_backends[self.account_id][self.region].get_queue(name)
        except Exception:  # moto answers the missing queue itself
            return 0
        return int(getattr(queue, "receive_message_wait_time_seconds", 0) or 0)


def _json_default(value: Any) -> Any:
    """JSON protocols carry timestamps as epoch seconds."""
    from datetime import datetime

    if isinstance(value, datetime):
        return value.timestamp()
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


def _has_messages(reply: Reply) -> bool:
    return reply.status < 400 and (b'"Messages"' in reply.body or b"<Message>" in reply.body)


def _sqs_params(
    headers: dict[str, str], body: bytes
) -> tuple[dict[str, Any], Callable[[dict[str, Any]], bytes]]:
    """The members of an SQS request and how to encode them back (JSON or query form)."""
    if "json" in headers.get("content-type", ""):
        return services.json_body(body), lambda p: json.dumps(p).encode()
    form = {k: v[0] for k, v in parse_qs(body.decode("utf-8", "replace")).items()}
    return form, lambda p: urlencode(p).encode()


def _error_reply(status: int, code: str, message: str) -> Reply:
    return Reply(
        status,
        {"Content-Type": "application/x-amz-json-1.1", "x-amzn-ErrorType": code},
        json.dumps({"__type": code, "message": message}).encode(),
    )
