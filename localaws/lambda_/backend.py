"""The Lambda API, local: functions from a zip, invoked in warm worker processes.

Operations take AWS's request members and return AWS's response shapes; errors are
``ServiceError`` with AWS's codes (ResourceNotFoundException, ResourceConflictException,
InvalidParameterValueException, ValidationException, InvalidRequestContentException).

Code is extracted once per content hash to ``<state dir>/lambda/<name>/<sha256>/`` (into a
temp directory, then renamed).  Each function has a small pool of warm workers
(:class:`localaws.lambda_.worker.WorkerProcess`): an invocation takes an idle one or starts
a new one, up to ``max_workers`` per function, and waits for one to free up beyond that, so
concurrent invocations (a Map state) run in parallel as on AWS, each worker serving one
invocation at a time.  Changing the code or configuration retires the workers; invocations
already running finish on the old ones.  A timeout kills the worker; so does cancellation.
Handler output goes to ``<state dir>/lambda/<name>/logs/<date>-<id>.log`` (one file per
worker, like a CloudWatch log stream).
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import io
import json
import logging
import re
import shutil
import site
import sysconfig
import tempfile
import threading
import time
import uuid
import zipfile
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import cached_property
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Any

from localaws import config
from localaws.errors import ServiceError, UserError, excerpt
from localaws.lambda_.worker import (
    WorkerCancelled,
    WorkerExited,
    WorkerOutOfMemory,
    WorkerProcess,
    WorkerTimeout,
)
from localaws.store import JsonRecords

if TYPE_CHECKING:
    from localaws.lambda_.async_invoke import AsyncInvoker
    from localaws.lambda_.event_sources import EventSources
    from localaws.runtime import Runtime

log = logging.getLogger(__name__)

KIND = "lambda.function"
LATEST = "$LATEST"
DEFAULT_TIMEOUT = 3
DEFAULT_MEMORY = 128
MIN_MEMORY, MAX_MEMORY = 128, 10240
MIN_TIMEOUT, MAX_TIMEOUT = 1, 900
INIT_TIMEOUT_S = 10.0  # AWS's limit on a function's init phase
MAX_SYNC_PAYLOAD = 6 * 1024 * 1024
MAX_UNZIPPED = 262_144_000
MAX_ENV_BYTES = 4096
LOG_TAIL_BYTES = 4096
DEFAULT_MAX_WORKERS = 4
RESERVED_ENV = frozenset(
    {
        "_HANDLER",
        "_X_AMZN_TRACE_ID",
        "AWS_DEFAULT_REGION",
        "AWS_REGION",
        "AWS_EXECUTION_ENV",
        "AWS_LAMBDA_FUNCTION_NAME",
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE",
        "AWS_LAMBDA_FUNCTION_VERSION",
        "AWS_LAMBDA_INITIALIZATION_TYPE",
        "AWS_LAMBDA_LOG_GROUP_NAME",
        "AWS_LAMBDA_LOG_STREAM_NAME",
        "AWS_ACCESS_KEY",
        "AWS_ACCESS_KEY_ID",
        "AWS_SECRET_ACCESS_KEY",
        "AWS_SESSION_TOKEN",
        "AWS_LAMBDA_RUNTIME_API",
        "LAMBDA_TASK_ROOT",
        "LAMBDA_RUNTIME_DIR",
    }
)
NAME_PATTERN = r"(arn:(aws[a-zA-Z-]*)?:lambda:)?([a-z]{2}(-gov)?-[a-z]+-\d{1}:)?(\d{12}:)?(function:)?([a-zA-Z0-9-_]+)(:(\$LATEST|[a-zA-Z0-9-_]+))?"
_FUNCTION_REF = re.compile(
    r"^(?:arn:aws[a-zA-Z-]*:lambda:(?P<region>[a-z0-9-]+):(?P<arn_account>\d{12}):function:"
    r"|(?P<account>\d{12}):function:)?(?P<name>[a-zA-Z0-9_-]{1,64})(?::(?P<qualifier>\$LATEST|[a-zA-Z0-9_-]{1,128}))?$"
)
_ROLE = re.compile(r"^arn:(aws[a-zA-Z-]*)?:iam::\d{12}:role/?[a-zA-Z_0-9+=,.@\-/]+$")
_ENV_KEY = re.compile(r"^[a-zA-Z]([a-zA-Z0-9_])+$")
_RUNTIME = re.compile(r"^python3\.\d+$")
_UPDATABLE = ("Role", "Handler", "Description", "Timeout", "MemorySize", "Environment", "Runtime")


class InvocationCancelled(Exception):
    """The caller cancelled an invocation; its worker was killed."""


def _not_found(arn: str) -> ServiceError:
    return ServiceError("ResourceNotFoundException", f"Function not found: {arn}", status=404)


def _invalid(message: str) -> ServiceError:
    return ServiceError("InvalidParameterValueException", message)


def _validation(value: Any, member: str, constraint: str) -> ServiceError:
    return ServiceError(
        "ValidationException",
        f"1 validation error detected: Value '{value}' at '{member}' failed to satisfy constraint: {constraint}",
    )


def _marker(marker: str, count: int) -> int:
    """ListFunctions' Marker (the NextMarker of the page before) as a position."""
    if not marker.isdigit() or int(marker) > count:
        raise _invalid(
            f"Marker {excerpt(marker, 60)!r} is not a NextMarker this server returned; "
            "pass the NextMarker of the previous page, or none for the first page"
        )
    return int(marker)


def _now_string() -> str:
    """Lambda's LastModified format: ``2024-01-31T23:59:59.123+0000``."""
    now = datetime.now(UTC)
    return now.strftime("%Y-%m-%dT%H:%M:%S.") + f"{now.microsecond // 1000:03d}+0000"


@dataclass
class Invocation:
    """What one invocation produced (the backend turns it into Invoke's response)."""

    payload: bytes
    function_error: str | None
    request_id: str
    log_tail: bytes = b""


@dataclass
class _Pool:
    """The warm workers of one function."""

    max_workers: int
    generation: int = 0
    idle: list[WorkerProcess] = field(default_factory=list)
    busy: set[WorkerProcess] = field(default_factory=set)
    cond: threading.Condition = field(default_factory=threading.Condition)


class LambdaBackend:
    """Lambda's API over the runtime's state directory."""

    def __init__(self, runtime: Runtime, *, max_workers: int = DEFAULT_MAX_WORKERS):
        self.runtime = runtime
        self.records = JsonRecords(runtime.db)
        self.max_workers = max_workers
        self._pools: dict[str, _Pool] = {}
        self._lock = threading.Lock()
        self._closed = False

    # -- paths and names ---------------------------------------------------------------

    @property
    def root(self) -> Path:
        return self.runtime.layout.made(self.runtime.layout.lambda_code)

    def function_arn(self, name: str) -> str:
        return self.runtime.arn("lambda", f"function:{name}")

    def log_dir(self, name: str) -> Path:
        return self.root / name / "logs"

    def log_files(self, FunctionName: str) -> list[Path]:
        """The function's log files (one per worker it ran), oldest first."""
        name = self.resolve_name(FunctionName)
        directory = self.log_dir(name)
        if not directory.is_dir():
            return []
        return sorted(directory.glob("*.log"), key=lambda p: p.stat().st_mtime)

    def resolve_name(self, function_name: Any, qualifier: str | None = None) -> str:
        """The function's name from a name, partial ARN or ARN; only $LATEST exists locally."""
        if not isinstance(function_name, str) or not function_name:
            raise _validation(function_name, "functionName", "Member must not be null")
        m = _FUNCTION_REF.match(function_name)
        if m is None:
            raise _validation(
                function_name,
                "functionName",
                f"Member must satisfy regular expression pattern: {NAME_PATTERN}",
            )
        name = m["name"]
        account = m["arn_account"] or m["account"]
        if account is not None and account != self.runtime.account_id:
            raise _not_found(function_name)
        if m["region"] is not None and m["region"] != self.runtime.region:
            raise _not_found(function_name)
        derived = m["qualifier"]
        if derived is not None and qualifier is not None and derived != qualifier:
            raise _invalid(
                "The derived qualifier from the function name does not match the specified qualifier."
            )
        wanted = qualifier or derived
        if wanted is not None and wanted != LATEST:
            raise _not_found(f"{self.function_arn(name)}:{wanted}")
        return name

    def _record(self, name: str) -> dict[str, Any]:
        record = self.records.get(KIND, name)
        if record is None:
            raise _not_found(self.function_arn(name))
        return record

    # -- code --------------------------------------------------------------------------

    def _zip_bytes(self, code: Any) -> bytes:
        if not isinstance(code, dict):
            raise _invalid("Code: required; give ZipFile (the zip's bytes) or S3Bucket and S3Key")
        if code.get("ImageUri"):
            raise _invalid(
                "Code.ImageUri: container image functions do not run locally; package the function as a zip (ZipFile)"
            )
        if "ZipFile" in code:
            data = code["ZipFile"]
            if isinstance(data, str):
                data = base64.b64decode(data)
            if not isinstance(data, bytes | bytearray) or not data:
                raise _invalid("Code.ZipFile: must be the bytes of a zip file")
            return bytes(data)
        bucket, key = code.get("S3Bucket"), code.get("S3Key")
        if bucket and key:
            from localaws.lambdakit.storage import NoSuchKey

            try:
                return self.runtime.storage.read(f"s3://{bucket}/{key}")
            except NoSuchKey as e:
                raise _invalid(
                    f"Error occurred while GetObject. S3 Error Code: NoSuchKey. S3 Error Message: "
                    f"The specified key does not exist. (s3://{bucket}/{key})"
                ) from e
            except UserError as e:
                raise _invalid(f"Code.S3Bucket/S3Key: {e}") from e
        raise _invalid("Code: give ZipFile (the zip's bytes) or both S3Bucket and S3Key")

    def _install(self, name: str, data: bytes) -> tuple[Path, str, str]:
        """Extract the zip (once per content) and keep it; return (code dir, sha256 b64, hex)."""
        digest = hashlib.sha256(data)
        hexdigest, b64 = digest.hexdigest(), base64.b64encode(digest.digest()).decode()
        function_dir = self.root / name
        function_dir.mkdir(parents=True, exist_ok=True)
        target = function_dir / hexdigest
        zip_path = function_dir / f"{hexdigest}.zip"
        if target.is_dir() and zip_path.is_file():
            return target, b64, hexdigest
        try:
            archive = zipfile.ZipFile(io.BytesIO(data))
            members = archive.infolist()
        except (zipfile.BadZipFile, OSError) as e:
            raise _invalid(
                "Could not unzip uploaded file. Please check your file, then try to upload again."
            ) from e
        if sum(m.file_size for m in members) > MAX_UNZIPPED:
            raise _invalid(f"Unzipped size must be smaller than {MAX_UNZIPPED} bytes")
        for member in members:
            path = PurePosixPath(member.filename)
            if (
                path.is_absolute()
                or ".." in path.parts
                or "\\" in member.filename
                or "\x00" in member.filename
            ):
                raise _invalid(
                    f"Code.ZipFile: entry {member.filename!r} would be written outside the code "
                    "directory; rebuild the zip with relative paths and no '..'"
                )
        tmp = Path(tempfile.mkdtemp(dir=function_dir, prefix=".extract-"))
        try:
            try:
                archive.extractall(tmp)
            except (zipfile.BadZipFile, OSError, EOFError) as e:
                raise _invalid(
                    "Could not unzip uploaded file. Please check your file, then try to upload again."
                ) from e
            try:
                tmp.rename(target)
            except OSError:
                if not target.is_dir():  # lost a race with the same content: keep the winner
                    raise
            from localaws.store import atomic_write

            atomic_write(zip_path, data)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
        return target, b64, hexdigest

    # -- configuration -----------------------------------------------------------------

    def _check_config(self, conf: dict[str, Any]) -> None:
        runtime = conf.get("Runtime")
        if not isinstance(runtime, str) or not _RUNTIME.match(runtime):
            raise _invalid(
                f"Runtime: {runtime!r} does not run locally; the local runtime runs Python functions "
                "(python3.x) in the interpreter it runs on; set Runtime to e.g. 'python3.11'"
            )
        role = conf.get("Role")
        if not isinstance(role, str) or not _ROLE.match(role):
            raise _validation(
                role,
                "role",
                "Member must satisfy regular expression pattern: arn:(aws[a-zA-Z-]*)?:iam::\\d{12}:role/?[a-zA-Z_0-9+=,.@\\-_/]+",
            )
        handler = conf.get("Handler")
        if (
            not isinstance(handler, str)
            or not handler
            or len(handler) > 128
            or re.search(r"\s", handler)
        ):
            raise _validation(
                handler, "handler", "Member must satisfy regular expression pattern: [^\\s]+"
            )
        for member, low, high in (
            ("Timeout", MIN_TIMEOUT, MAX_TIMEOUT),
            ("MemorySize", MIN_MEMORY, MAX_MEMORY),
        ):
            value = conf.get(member)
            lower = member[0].lower() + member[1:]
            if isinstance(value, bool) or not isinstance(value, int):
                raise _validation(value, lower, "Member must be an integer")
            if value < low:
                raise _validation(
                    value, lower, f"Member must have value greater than or equal to {low}"
                )
            if value > high:
                raise _validation(
                    value, lower, f"Member must have value less than or equal to {high}"
                )
        variables = conf.get("Environment", {}).get("Variables", {})
        if not isinstance(variables, dict):
            raise _invalid("Environment.Variables: must be a map of names to string values")
        for key, value in variables.items():
            if not isinstance(key, str) or not _ENV_KEY.match(key):
                raise _validation(
                    key,
                    "environment.variables",
                    "Member must satisfy regular expression pattern: [a-zA-Z]([a-zA-Z0-9_])+",
                )
            if not isinstance(value, str):
                raise _invalid(
                    f"Environment.Variables.{key}: values must be strings, got {value!r}"
                )
        reserved = sorted(set(variables) & RESERVED_ENV)
        if reserved:
            raise _invalid(
                "Lambda was unable to configure your environment variables because the environment "
                "variables you have provided contains reserved keys that are currently not supported "
                f"for modification. Reserved keys used in this request: {', '.join(reserved)}"
            )
        measured = json.dumps(variables, separators=(",", ":"))
        if len(measured.encode()) > MAX_ENV_BYTES:
            raise _invalid(
                "Lambda was unable to configure your environment variables because the environment "
                f"variables you have provided exceeded the 4KB limit. String measured: {measured}"
            )

    # -- API ---------------------------------------------------------------------------

    def create_function(
        self,
        *,
        FunctionName: str,
        Role: str,
        Code: dict[str, Any],
        Runtime: str | None = None,
        Handler: str | None = None,
        Description: str = "",
        Timeout: int = DEFAULT_TIMEOUT,
        MemorySize: int = DEFAULT_MEMORY,
        Environment: dict[str, Any] | None = None,
        PackageType: str = "Zip",
        Layers: list[str] | None = None,
        **_ignored: Any,
    ) -> dict[str, Any]:
        name = self.resolve_name(FunctionName)
        if PackageType != "Zip":
            raise _invalid(f"PackageType: {PackageType!r} does not run locally; use 'Zip'")
        if Layers:
            raise _invalid(
                "Layers: layers are not supported locally; put the layer's modules in the function's zip"
            )
        conf: dict[str, Any] = {
            "FunctionName": name,
            "FunctionArn": self.function_arn(name),
            "Runtime": Runtime,
            "Role": Role,
            "Handler": Handler,
            "Description": Description,
            "Timeout": Timeout,
            "MemorySize": MemorySize,
            "Environment": {"Variables": dict((Environment or {}).get("Variables") or {})},
        }
        self._check_config(conf)
        if self.records.get(KIND, name) is not None:
            raise ServiceError(
                "ResourceConflictException", f"Function already exist: {name}", status=409
            )
        data = self._zip_bytes(Code)
        code_dir, sha, _ = self._install(name, data)
        conf.update(self._code_fields(data, sha))
        conf.update(
            {
                "Version": LATEST,
                "TracingConfig": {"Mode": "PassThrough"},
                "State": "Active",
                "LastUpdateStatus": "Successful",
                "PackageType": "Zip",
                "Architectures": ["x86_64"],
                "EphemeralStorage": {"Size": 512},
                "LoggingConfig": {"LogFormat": "Text", "LogGroup": f"/aws/lambda/{name}"},
            }
        )
        record = {"Configuration": conf, "CodeDir": str(code_dir)}
        if not self.records.insert_new(KIND, name, record, time.time()):
            raise ServiceError(
                "ResourceConflictException", f"Function already exist: {name}", status=409
            )
        return dict(conf)

    @staticmethod
    def _code_fields(data: bytes, sha: str) -> dict[str, Any]:
        return {
            "CodeSize": len(data),
            "CodeSha256": sha,
            "LastModified": _now_string(),
            "RevisionId": str(uuid.uuid4()),
        }

    def get_function(self, *, FunctionName: str, Qualifier: str | None = None) -> dict[str, Any]:
        name = self.resolve_name(FunctionName, Qualifier)
        record = self._record(name)
        conf = record["Configuration"]
        zip_path = Path(record["CodeDir"]).with_suffix(".zip")
        return {
            "Configuration": dict(conf),
            "Code": {"RepositoryType": "S3", "Location": zip_path.as_uri()},
        }

    def get_function_configuration(
        self, *, FunctionName: str, Qualifier: str | None = None
    ) -> dict[str, Any]:
        return dict(self._record(self.resolve_name(FunctionName, Qualifier))["Configuration"])

    def list_functions(
        self, *, Marker: str | None = None, MaxItems: int | None = None, **_: Any
    ) -> dict[str, Any]:
        confs = sorted(
            (r["Configuration"] for r in self.records.list(KIND)), key=lambda c: c["FunctionName"]
        )
        start = _marker(Marker, len(confs)) if Marker else 0
        end = len(confs) if not MaxItems else start + int(MaxItems)
        response: dict[str, Any] = {"Functions": confs[start:end]}
        if end < len(confs):
            response["NextMarker"] = str(end)
        return response

    def update_function_code(
        self,
        *,
        FunctionName: str,
        ZipFile: bytes | None = None,
        S3Bucket: str | None = None,
        S3Key: str | None = None,
        **_ignored: Any,
    ) -> dict[str, Any]:
        name = self.resolve_name(FunctionName)
        record = self._record(name)
        code: dict[str, Any] = (
            {"ZipFile": ZipFile} if ZipFile is not None else {"S3Bucket": S3Bucket, "S3Key": S3Key}
        )
        data = self._zip_bytes(code)
        code_dir, sha, _ = self._install(name, data)
        record["Configuration"].update(self._code_fields(data, sha))
        record["CodeDir"] = str(code_dir)
        self.records.put(KIND, name, record, time.time())
        self._retire(name)
        return dict(record["Configuration"])

    def update_function_configuration(self, *, FunctionName: str, **changes: Any) -> dict[str, Any]:
        name = self.resolve_name(FunctionName)
        record = self._record(name)
        conf = dict(record["Configuration"])
        for member in _UPDATABLE:
            if member in changes:
                conf[member] = changes[member]
        if "Environment" in changes:
            conf["Environment"] = {
                "Variables": dict((changes["Environment"] or {}).get("Variables") or {})
            }
        self._check_config(conf)
        conf["LastModified"] = _now_string()
        conf["RevisionId"] = str(uuid.uuid4())
        record["Configuration"] = conf
        self.records.put(KIND, name, record, time.time())
        self._retire(name)
        return dict(conf)

    def delete_function(self, *, FunctionName: str, Qualifier: str | None = None) -> dict[str, Any]:
        name = self.resolve_name(FunctionName, Qualifier)
        self._record(name)
        self._retire(name, forget=True)
        self.records.delete(KIND, name)
        function_dir = self.root / name
        if function_dir.is_dir():
            for child in function_dir.iterdir():
                if child.name != "logs":  # logs outlive the function, as in CloudWatch
                    if child.is_dir():
                        shutil.rmtree(child, ignore_errors=True)
                    else:
                        child.unlink(missing_ok=True)
        return {}

    def invoke(
        self,
        *,
        FunctionName: str,
        InvocationType: str = "RequestResponse",
        LogType: str = "None",
        Payload: bytes | str | Any = b"",
        Qualifier: str | None = None,
        **_ignored: Any,
    ) -> dict[str, Any]:
        """AWS's Invoke: ``{StatusCode, ExecutedVersion, Payload (bytes), FunctionError?, LogResult?}``."""
        name = self.resolve_name(FunctionName, Qualifier)
        if InvocationType not in ("RequestResponse", "Event", "DryRun"):
            raise _validation(
                InvocationType,
                "invocationType",
                "Member must satisfy enum value set: [Event, RequestResponse, DryRun]",
            )
        if LogType not in ("None", "Tail"):
            raise _validation(
                LogType, "logType", "Member must satisfy enum value set: [None, Tail]"
            )
        payload = _payload_bytes(Payload)
        self._record(name)
        if InvocationType == "DryRun":
            return {"StatusCode": 204, "Payload": b""}
        if InvocationType == "Event":
            self.async_invoker.submit(name, payload)
            return {"StatusCode": 202, "Payload": b""}
        result = self.invoke_function(name, payload, tail=LogType == "Tail")
        response: dict[str, Any] = {
            "StatusCode": 200,
            "ExecutedVersion": LATEST,
            "Payload": result.payload,
        }
        if result.function_error:
            response["FunctionError"] = result.function_error
        if LogType == "Tail":
            response["LogResult"] = base64.b64encode(result.log_tail[-LOG_TAIL_BYTES:]).decode()
        return response

    # -- asynchronous invocation (localaws/lambda_/async_invoke.py) ----------------------

    @cached_property
    def async_invoker(self) -> AsyncInvoker:
        from localaws.lambda_.async_invoke import AsyncInvoker

        return AsyncInvoker(self)

    def put_function_event_invoke_config(
        self, *, FunctionName: str, Qualifier: str | None = None, **params: Any
    ) -> dict[str, Any]:
        name = self.resolve_name(FunctionName, Qualifier)
        self._record(name)
        return self.async_invoker.put_config(name, params, update=False)

    def update_function_event_invoke_config(
        self, *, FunctionName: str, Qualifier: str | None = None, **params: Any
    ) -> dict[str, Any]:
        name = self.resolve_name(FunctionName, Qualifier)
        self._record(name)
        return self.async_invoker.put_config(name, params, update=True)

    def get_function_event_invoke_config(
        self, *, FunctionName: str, Qualifier: str | None = None
    ) -> dict[str, Any]:
        return self.async_invoker.get_config(self.resolve_name(FunctionName, Qualifier))

    def delete_function_event_invoke_config(
        self, *, FunctionName: str, Qualifier: str | None = None
    ) -> dict[str, Any]:
        self.async_invoker.delete_config(self.resolve_name(FunctionName, Qualifier))
        return {}

    def list_function_event_invoke_configs(
        self, *, FunctionName: str, **_paging: Any
    ) -> dict[str, Any]:
        name = self.resolve_name(FunctionName)
        try:
            return {"FunctionEventInvokeConfigs": [self.async_invoker.get_config(name)]}
        except ServiceError:
            return {"FunctionEventInvokeConfigs": []}

    # -- event source mappings (localaws/lambda_/event_sources.py) -------------------------

    @cached_property
    def event_sources(self) -> EventSources:
        from localaws.lambda_.event_sources import EventSources

        return EventSources(self)

    def create_event_source_mapping(self, **params: Any) -> dict[str, Any]:
        return self.event_sources.create(params)

    def get_event_source_mapping(self, *, UUID: str) -> dict[str, Any]:
        return self.event_sources.get(UUID)

    def update_event_source_mapping(self, *, UUID: str, **params: Any) -> dict[str, Any]:
        return self.event_sources.update(UUID, params)

    def delete_event_source_mapping(self, *, UUID: str) -> dict[str, Any]:
        return self.event_sources.delete(UUID)

    def list_event_source_mappings(
        self,
        *,
        EventSourceArn: str | None = None,
        FunctionName: str | None = None,
        **_paging: Any,
    ) -> dict[str, Any]:
        return {"EventSourceMappings": self.event_sources.list(EventSourceArn, FunctionName)}

    # -- running -----------------------------------------------------------------------

    def invoke_function(
        self,
        name: str,
        payload: bytes,
        *,
        cancelled: threading.Event | None = None,
        tail: bool = False,
    ) -> Invocation:
        """Run the function once in a warm worker; the payload is JSON text."""
        if self._closed:
            raise ServiceError(
                "ServiceException",
                "the local runtime is shutting down",
                status=500,
                sender_fault=False,
            )
        record = self._record(name)
        conf = record["Configuration"]
        request_id = str(uuid.uuid4())
        pool = self._pool(name)
        worker, error = self._acquire(name, pool, record)
        if worker is None:
            assert error is not None
            error["requestId"] = request_id
            return Invocation(json.dumps(error).encode(), "Unhandled", request_id)
        healthy = False
        offset = _size(worker.log_path) if tail else 0
        timeout = float(conf["Timeout"])
        try:
            reply = worker.call(
                {
                    "id": request_id,
                    "payload": payload.decode(),
                    "deadline_ms": int((time.time() + timeout) * 1000),
                    "arn": conf["FunctionArn"],
                },
                time.monotonic() + timeout,
                cancelled,
            )
            healthy = True
            body = reply["payload"].encode()
            function_error = None if reply["ok"] else "Unhandled"
            if len(body) > MAX_SYNC_PAYLOAD:
                body = json.dumps(
                    {
                        "errorMessage": f"Response payload size ({len(body)} bytes) exceeded maximum allowed payload size ({MAX_SYNC_PAYLOAD} bytes).",
                        "errorType": "Function.ResponseSizeTooLarge",
                    }
                ).encode()
                function_error = "Unhandled"
        except WorkerTimeout:
            message = f"RequestId: {request_id} Error: Task timed out after {timeout:.2f} seconds"
            _append_log(
                worker.log_path,
                f"{_log_time()} {request_id} Task timed out after {timeout:.2f} seconds\n",
            )
            body = json.dumps({"errorType": "Sandbox.Timedout", "errorMessage": message}).encode()
            function_error = "Unhandled"
        except WorkerOutOfMemory as e:
            message = (
                f"RequestId: {request_id} Error: Runtime exited with error: {e.exit_description()}"
            )
            _append_log(
                worker.log_path,
                f"{message}\nRuntime.OutOfMemory (used {e.used_mb} MB of {e.limit_mb} MB)\n",
            )
            body = json.dumps(
                {"errorType": "Runtime.OutOfMemory", "errorMessage": message}
            ).encode()
            function_error = "Unhandled"
        except WorkerExited as e:
            message = (
                f"RequestId: {request_id} Error: Runtime exited with error: {e.exit_description()}"
            )
            _append_log(worker.log_path, f"{message}\nRuntime.ExitError\n")
            body = json.dumps({"errorType": "Runtime.ExitError", "errorMessage": message}).encode()
            function_error = "Unhandled"
        except WorkerCancelled as e:
            raise InvocationCancelled(name) from e
        finally:
            self._release(pool, worker, healthy)
        log_tail = _read_from(worker.log_path, offset) if tail else b""
        return Invocation(body, function_error, request_id, log_tail)

    def _pool(self, name: str) -> _Pool:
        with self._lock:
            pool = self._pools.get(name)
            if pool is None:
                pool = self._pools[name] = _Pool(self.max_workers)
            return pool

    def _acquire(
        self, name: str, pool: _Pool, record: dict[str, Any]
    ) -> tuple[WorkerProcess | None, dict[str, Any] | None]:
        """An idle warm worker, or a new one once it has loaded the handler."""
        with pool.cond:
            while True:
                while pool.idle:
                    candidate = pool.idle.pop()
                    if candidate.alive() and candidate.generation == pool.generation:
                        pool.busy.add(candidate)
                        return candidate, None
                    candidate.kill()
                if len(pool.busy) < pool.max_workers:
                    break
                pool.cond.wait()
            generation = pool.generation
            placeholder = _Placeholder()
            pool.busy.add(placeholder)  # type: ignore[arg-type]
        worker: WorkerProcess | None = None
        error: dict[str, Any] | None = None
        try:
            worker = self._start_worker(name, record, generation)
            error = self._await_ready(worker, float(record["Configuration"]["Timeout"]))
        finally:
            with pool.cond:
                pool.busy.discard(placeholder)  # type: ignore[arg-type]
                if worker is not None and error is None:
                    pool.busy.add(worker)
                else:
                    pool.cond.notify()
        if error is not None:
            return None, error
        return worker, None

    @staticmethod
    def _await_ready(worker: WorkerProcess, timeout: float) -> dict[str, Any] | None:
        """None once the worker has loaded the handler, else AWS's error object (worker killed)."""
        limit = max(INIT_TIMEOUT_S, timeout)
        try:
            ready = worker.wait_ready(limit)
        except WorkerTimeout:
            return {
                "errorType": "Sandbox.Timedout",
                "errorMessage": f"Error: Task timed out after {limit:.2f} seconds (init phase)",
            }
        except WorkerExited as e:
            worker.kill()
            return {
                "errorType": "Runtime.ExitError",
                "errorMessage": f"Error: Runtime exited with error: {e.exit_description()}",
            }
        if ready.get("ready"):
            return None
        worker.kill()
        return dict(ready["error"])

    def _release(self, pool: _Pool, worker: WorkerProcess, healthy: bool) -> None:
        with pool.cond:
            pool.busy.discard(worker)
            if (
                healthy
                and worker.alive()
                and worker.generation == pool.generation
                and not self._closed
            ):
                pool.idle.append(worker)
            else:
                worker.kill()
            pool.cond.notify()

    def _start_worker(self, name: str, record: dict[str, Any], generation: int) -> WorkerProcess:
        conf = record["Configuration"]
        code_dir = Path(record["CodeDir"])
        if not code_dir.is_dir():  # removed by hand: extract the kept zip again
            zip_path = code_dir.with_suffix(".zip")
            if not zip_path.is_file():
                raise ServiceError(
                    "ServiceException",
                    f"the code of function {name} is missing from {code_dir}; update the function's code",
                    status=500,
                    sender_fault=False,
                )
            code_dir = self._install(name, zip_path.read_bytes())[0]
        stream_id = uuid.uuid4().hex
        today = datetime.now(UTC)
        stream = f"{today:%Y/%m/%d}/[{LATEST}]{stream_id}"
        env = self.worker_environment(conf, code_dir, stream)
        log_path = self.log_dir(name) / f"{today:%Y-%m-%d}-{stream_id}.log"
        return WorkerProcess(
            code_dir=code_dir,
            handler=conf["Handler"],
            env=env,
            log_path=log_path,
            site_dirs=_site_dirs(),
            generation=generation,
            memory_mb=int(conf["MemorySize"]),
        )

    def worker_environment(
        self, conf: dict[str, Any], code_dir: Path, log_stream: str
    ) -> dict[str, str]:
        """The worker's whole environment (docs/architecture.md, 'Lambda workers' environment')."""
        import os

        env = {
            "PATH": os.environ.get("PATH", "/usr/local/bin:/usr/bin:/bin"),
            "HOME": os.environ.get("HOME", str(code_dir)),
            "LANG": os.environ.get("LANG", "C.UTF-8"),
            "TZ": ":UTC",
        }
        name = conf["FunctionName"]
        env.update(
            {
                "AWS_LAMBDA_FUNCTION_NAME": name,
                "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(conf["MemorySize"]),
                "AWS_LAMBDA_FUNCTION_VERSION": LATEST,
                "AWS_LAMBDA_LOG_GROUP_NAME": f"/aws/lambda/{name}",
                "AWS_LAMBDA_LOG_STREAM_NAME": log_stream,
                "AWS_LAMBDA_INITIALIZATION_TYPE": "on-demand",
                "AWS_EXECUTION_ENV": f"AWS_Lambda_{conf['Runtime']}",
                "AWS_REGION": self.runtime.region,
                "AWS_DEFAULT_REGION": self.runtime.region,
                "LAMBDA_TASK_ROOT": str(code_dir),
                "_HANDLER": conf["Handler"],
                # the function's own ephemeral /tmp (tempfile and the like read TMPDIR)
                "TMPDIR": str(self.runtime.layout.made(self.runtime.layout.lambda_tmp(name))),
            }
        )
        env.update(conf.get("Environment", {}).get("Variables", {}))
        env.update(
            {
                config.ENV_S3_ROOT: str(self.runtime.layout.s3),
                config.ENV_ENDPOINTS_DIR: str(self.runtime.layout.endpoints),
                config.ENV_ENDPOINT_URL: self.runtime.api_url(),
                config.ENV_ACCOUNT: self.runtime.account_id,
                config.ENV_REGION: self.runtime.region,
                "AWS_ACCESS_KEY_ID": self.runtime.credentials[0],
                "AWS_SECRET_ACCESS_KEY": self.runtime.credentials[1],
            }
        )
        return env

    def _retire(self, name: str, *, forget: bool = False) -> None:
        """Kill idle workers and mark busy ones for killing when they finish."""
        with self._lock:
            pool = self._pools.pop(name, None) if forget else self._pools.get(name)
        if pool is None:
            return
        with pool.cond:
            pool.generation += 1
            idle, pool.idle = pool.idle, []
            pool.cond.notify_all()
        for worker in idle:
            worker.kill()

    def worker_pids(self, FunctionName: str) -> list[int]:
        """Pids of the function's live workers (idle and busy), for tests and diagnostics."""
        pool = self._pools.get(self.resolve_name(FunctionName))
        if pool is None:
            return []
        with pool.cond:
            workers = [*pool.idle, *pool.busy]
        return [w.pid for w in workers if isinstance(w, WorkerProcess) and w.alive()]

    # -- lifecycle ---------------------------------------------------------------------

    def recover(self) -> None:
        """After a restart: no worker survives; drop half-finished code extractions."""
        root = self.runtime.layout.lambda_code
        if root.is_dir():
            for leftover in root.glob("*/.extract-*"):
                shutil.rmtree(leftover, ignore_errors=True)
        self.async_invoker.outbox.start()
        self.event_sources.start()

    def close(self) -> None:
        """Stop the pollers and queued invocations, kill every worker."""
        self._closed = True
        # Signal the pollers and the queue first, kill the workers (which ends the
        # invocations they wait on), then wait for the threads.
        if "event_sources" in self.__dict__:
            self.event_sources.stop(wait=False)
        if "async_invoker" in self.__dict__:
            self.async_invoker.outbox.stop(wait=False)
        with self._lock:
            pools, self._pools = list(self._pools.values()), {}
        for pool in pools:
            with pool.cond:
                workers = [*pool.idle, *pool.busy]
                pool.idle = []
                pool.generation += 1
                pool.cond.notify_all()
            for worker in workers:
                if isinstance(worker, WorkerProcess):
                    worker.kill()
        if "event_sources" in self.__dict__:
            self.event_sources.stop()
        if "async_invoker" in self.__dict__:
            self.async_invoker.outbox.stop()


class _Placeholder:
    """Holds a pool slot while a worker starts."""


def _payload_bytes(payload: Any) -> bytes:
    if hasattr(payload, "read"):
        payload = payload.read()
    if isinstance(payload, str):
        payload = payload.encode()
    if payload is None or payload == b"":
        payload = b"{}"
    if not isinstance(payload, bytes | bytearray):
        raise _invalid(f"Payload: must be bytes or a JSON string, got {type(payload).__name__}")
    if len(payload) > MAX_SYNC_PAYLOAD:
        raise ServiceError(
            "RequestTooLargeException",
            f"Request must be smaller than {MAX_SYNC_PAYLOAD} bytes for the InvokeFunction operation",
            status=413,
        )
    try:
        json.loads(payload)
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise ServiceError(
            "InvalidRequestContentException", f"Could not parse request body into json: {e}"
        ) from e
    return bytes(payload)


def _site_dirs() -> list[str]:
    """The parent interpreter's site-packages, so functions import what it has installed."""
    dirs = [*site.getsitepackages(), sysconfig.get_path("purelib"), sysconfig.get_path("platlib")]
    with contextlib.suppress(AttributeError):
        dirs.append(site.getusersitepackages())
    seen: list[str] = []
    for d in dirs:
        if d and d not in seen and Path(d).is_dir():
            seen.append(d)
    return seen


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except FileNotFoundError:
        return 0


def _read_from(path: Path, offset: int) -> bytes:
    try:
        with open(path, "rb") as fh:
            fh.seek(offset)
            return fh.read()
    except FileNotFoundError:
        return b""


def _append_log(path: Path, text: str) -> None:
    with open(path, "a", encoding="utf-8") as fh:
        fh.write(text)


def _log_time() -> str:
    now = datetime.now(UTC)
    return now.strftime("%Y-%m-%dT%H:%M:%S.") + f"{now.microsecond // 1000:03d}Z"
