"""Local SageMaker hosting: endpoints as model-server child processes, and InvokeEndpoint.

:class:`EndpointManager` is driven by the SageMaker backend (which owns the endpoint records):
``deploy`` downloads each variant's model data, starts a model server
(:mod:`localaws.sagemaker.model_server`) on a free 127.0.0.1 port, waits for ``/ping``, then
points the endpoint at it, and only then stops the previous server once its in-flight requests
have drained, so that an UpdateEndpoint loses no request.  The endpoint's port is written to
the registry file ``<state dir>/endpoints/<name>.json`` that :mod:`localaws.lambdakit.clients` reads in
Lambda workers.

:class:`SageMakerRuntimeBackend` is the SageMaker Runtime API (``invoke_endpoint``).
"""

from __future__ import annotations

import contextlib
import http.client
import json
import os
import select
import shutil
import signal
import subprocess
import sys
import threading
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from localaws.errors import PlatformError, ServiceError, UserError
from localaws.lambdakit.clients import (
    MODEL_ERROR_STATUS,
    EndpointNotFound,
    LocalEndpoints,
    model_error_message,
    not_found_message,
)
from localaws.sagemaker import forkserver, model_server, sandbox
from localaws.sagemaker.capture import record_invocation
from localaws.sagemaker.training import extract_archive

if TYPE_CHECKING:
    from localaws.runtime import Runtime

START_TIMEOUT_S = 300.0  # SageMaker allows a container this long to pass /ping
STOP_TIMEOUT_S = model_server.DRAIN_TIMEOUT_S + 5
SERVER_MODULE = "localaws.sagemaker.model_server"
DEFAULT_VARIANT = "AllTraffic"
PACKAGE_ROOT = str(Path(model_server.__file__).resolve().parents[2])  # where `localaws` lives

# Images of the built-in XGBoost algorithm and of the framework containers, by repository name.
XGBOOST_IMAGE_MARKERS = ("sagemaker-xgboost", "xgboost")
FM_IMAGE_MARKERS = ("factorization-machines",)
SKLEARN_IMAGE_MARKERS = ("sagemaker-scikit-learn", "scikit-learn", "sklearn")


class ModelError(ServiceError):
    """InvokeEndpoint's ModelError: the container answered with an error status."""

    def __init__(
        self, message: str, *, original_status: int, original_message: str, log_stream_arn: str
    ):
        super().__init__("ModelError", message, status=MODEL_ERROR_STATUS)
        self.original_status = original_status
        self.original_message = original_message
        self.log_stream_arn = log_stream_arn

    def to_dict(self) -> dict[str, Any]:  # type: ignore[override]
        return {
            **super().to_dict(),
            "OriginalStatusCode": self.original_status,
            "OriginalMessage": self.original_message,
            "LogStreamArn": self.log_stream_arn,
        }


# -- model data and container specs ---------------------------------------------------------


def _download(runtime: Runtime, uri: str, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    runtime.storage.download_to(uri, path)


def _extract(archive: Path, dest: Path, what: str) -> None:
    extract_archive(archive, dest, what=what, fix="package it as model.tar.gz")


def container_kind(container: dict[str, Any], where: str) -> tuple[str, str]:
    """(kind, framework) of a container definition, refused with the field named."""
    image = (container.get("Image") or "").lower()
    env = container.get("Environment") or {}
    framework = model_server.FRAMEWORK_XGBOOST
    if any(m in image for m in SKLEARN_IMAGE_MARKERS):
        framework = model_server.FRAMEWORK_SKLEARN
    if env.get(model_server.ENV_PROGRAM):
        return model_server.KIND_SCRIPT, framework
    if any(m in image for m in FM_IMAGE_MARKERS):
        return model_server.KIND_FM, framework
    if any(m in image for m in XGBOOST_IMAGE_MARKERS):
        return model_server.KIND_XGBOOST, framework
    raise UserError(
        f"{where}.Image: {container.get('Image')!r} runs locally only as the built-in XGBoost "
        f"or Factorization Machines algorithm (a sagemaker-xgboost or factorization-machines "
        f"image) or in script mode; set "
        f"{where}.Environment.{model_server.ENV_PROGRAM} and {model_server.ENV_SUBMIT_DIR}"
    )


def model_containers(model: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    """The model's containers in order with their field names (PrimaryContainer or Containers)."""
    if model.get("Containers"):
        return [(f"Containers[{i}]", c) for i, c in enumerate(model["Containers"])]
    if model.get("PrimaryContainer"):
        return [("PrimaryContainer", model["PrimaryContainer"])]
    raise UserError(f"model {model.get('ModelName')}: has neither PrimaryContainer nor Containers")


def prepare_model(
    runtime: Runtime, model: dict[str, Any], workdir: Path, extra_env: dict[str, str] | None = None
) -> dict[str, Any]:
    """Download and unpack the model's data and code into ``workdir``; return the server spec."""
    specs = []
    for i, (where, container) in enumerate(model_containers(model)):
        kind, framework = container_kind(container, where)
        env = {**(container.get("Environment") or {}), **(extra_env or {})}
        cdir = workdir / f"container-{i + 1}"
        model_dir = cdir / "model"
        model_dir.mkdir(parents=True, exist_ok=True)
        url = container.get("ModelDataUrl")
        if url:
            archive = cdir / "model.tar.gz"
            _download(runtime, url, archive)
            _extract(archive, model_dir, f"{where}.ModelDataUrl {url}")
            archive.unlink()
        elif kind in (model_server.KIND_XGBOOST, model_server.KIND_FM):
            raise UserError(f"{where}.ModelDataUrl: required by the built-in {kind} algorithm")
        spec: dict[str, Any] = {
            "name": f"{model.get('ModelName', 'model')} {where}",
            "kind": kind,
            "framework": framework,
            "model_dir": str(model_dir),
            "env": env,
        }
        if kind == model_server.KIND_SCRIPT:
            from localaws.sagemaker.script_mode import program_path

            spec["program"] = env[model_server.ENV_PROGRAM]
            program_path(None, spec["program"], f"{where}.Environment.{model_server.ENV_PROGRAM}")
            spec["code_dir"] = str(
                _code_dir(runtime, env.get(model_server.ENV_SUBMIT_DIR), cdir, model_dir, where)
            )
        specs.append(spec)
    return {"containers": specs}


def _code_dir(
    runtime: Runtime, submit: str | None, cdir: Path, model_dir: Path, where: str
) -> Path:
    if not submit:
        return model_dir / "code" if (model_dir / "code").is_dir() else model_dir
    if submit.startswith("s3://"):
        archive = cdir / "sourcedir.tar.gz"
        _download(runtime, submit, archive)
        code = cdir / "code"
        _extract(archive, code, f"{where}.Environment.{model_server.ENV_SUBMIT_DIR} {submit}")
        return code
    if submit.startswith("/opt/ml/model"):
        return model_dir / submit[len("/opt/ml/model") :].lstrip("/")
    if submit.startswith("file://"):
        return Path(submit[len("file://") :])
    raise UserError(
        f"{where}.Environment.{model_server.ENV_SUBMIT_DIR}: {submit!r} is neither an s3:// URI "
        "of a sourcedir.tar.gz nor a path under /opt/ml/model"
    )


# -- model-server processes ----------------------------------------------------------------------


def server_sandbox(
    spec: dict[str, Any], workdir: Path
) -> tuple[sandbox.Sandbox | None, dict[str, Any]]:
    """The sandbox a model server of ``spec`` (its files in ``workdir``) runs in (None where
    there is none) and the spec with the paths the server sees: the first container's
    directory is /opt/ml; the server's files, the other containers' and the interpreter stay
    readable where they are (even under the private /tmp)."""
    if not sandbox.available() or not spec.get("containers"):
        return None, spec
    first = dict(spec["containers"][0])
    model_dir = Path(first["model_dir"])
    if model_dir.name != "model":
        return None, spec
    root = model_dir.parent
    first["model_dir"] = sandbox.container_path(model_dir, root)
    if first.get("code_dir"):
        first["code_dir"] = sandbox.container_path(first["code_dir"], root)
    visible = [str(workdir), PACKAGE_ROOT, sys.prefix, sys.base_prefix]
    for container in spec["containers"][1:]:
        visible += [
            container["model_dir"],
            *([container["code_dir"]] if container.get("code_dir") else []),
        ]
    if first.get("code_dir") and not first["code_dir"].startswith(sandbox.CONTAINER_ROOT):
        visible.append(first["code_dir"])
    box = sandbox.Sandbox(root, read_only=("model",), sealed=True, visible=tuple(visible))
    return box, {**spec, "containers": [first, *spec["containers"][1:]]}


@dataclass
class ServerProcess:
    """A running model server."""

    proc: subprocess.Popen[bytes] | forkserver.WarmProcess
    port: int
    workdir: Path
    log_path: Path
    variant: str = DEFAULT_VARIANT
    weight: float = 1.0
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def pid(self) -> int:
        return self.proc.pid

    @property
    def url(self) -> str:
        return f"http://{model_server.HOST}:{self.port}"

    def ping(self, timeout: float = 5.0) -> tuple[int, str]:
        conn = http.client.HTTPConnection(model_server.HOST, self.port, timeout=timeout)
        try:
            conn.request("GET", "/ping")
            response = conn.getresponse()
            return response.status, response.read().decode("utf-8", "replace")
        finally:
            conn.close()

    def stop(self, timeout: float = STOP_TIMEOUT_S) -> None:
        """SIGTERM (the server drains its in-flight requests), then SIGKILL after ``timeout``."""
        if self.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if self.proc.stdout is not None:
            self.proc.stdout.close()

    def log_tail(self, chars: int = 2000) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-chars:]
        except FileNotFoundError:
            return ""


def start_server(
    spec: dict[str, Any], workdir: Path, timeout: float = START_TIMEOUT_S
) -> ServerProcess:
    """Start a model server for ``spec`` and return once it has bound its port and loaded.

    Where bubblewrap works (:mod:`~localaws.sagemaker.sandbox`), the server runs as in the
    inference container: its first container's directory is /opt/ml, with the model at
    /opt/ml/model read-only, and the rest of the file system read-only but a private /tmp
    (an inference pipeline's other containers are read at their own paths, read-only)."""
    workdir.mkdir(parents=True, exist_ok=True)
    box, spec = server_sandbox(spec, workdir)
    spec_path = workdir / "spec.json"
    spec_path.write_text(json.dumps(spec, indent=2))
    log_path = workdir / "server.log"
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    env["PYTHONPATH"] = os.pathsep.join(p for p in (PACKAGE_ROOT, env.get("PYTHONPATH")) if p)
    if box is not None:
        env["TMPDIR"] = "/tmp"  # the private one: nothing else is writable
    with open(log_path, "ab") as log:
        log.write(sandbox.note(box.root if box else workdir).encode())
        log.flush()
        proc = forkserver.spawn(
            [sys.executable, "-m", SERVER_MODULE, "--spec", str(spec_path), "--port", "0"],
            stdout=subprocess.PIPE,
            stderr=log,
            cwd=box.root if box else workdir,
            env=env,
            opt_ml=box,
        )
    assert proc.stdout is not None
    server = ServerProcess(proc=proc, port=0, workdir=workdir, log_path=log_path)
    deadline = time.monotonic() + timeout
    line = b""
    while not line.endswith(b"\n"):
        left = deadline - time.monotonic()
        if left <= 0:
            server.stop(timeout=1)
            raise PlatformError(
                f"model server did not start within {timeout:.0f} s; log: {log_path}"
            )
        ready, _, _ = select.select([proc.stdout], [], [], min(left, 0.5))
        if ready:
            chunk = os.read(proc.stdout.fileno(), 4096)
            if not chunk:
                proc.wait()
                raise PlatformError(
                    f"model server exited with status {proc.returncode} before it was ready; "
                    f"log {log_path}:\n{server.log_tail()}"
                )
            line += chunk
    server.port = int(json.loads(line)["port"])
    return server


# -- endpoints ---------------------------------------------------------------------------------------


class EndpointManager:
    """Model servers of the runtime's endpoints; the SageMaker backend drives it."""

    def __init__(self, runtime: Runtime):
        self.runtime = runtime
        self.registry_dir = runtime.layout.made(runtime.layout.endpoints)
        self._servers: dict[str, list[ServerProcess]] = {}
        self._lock = threading.Lock()
        self._retiring: list[threading.Thread] = []

    def registry_file(self, endpoint_name: str) -> Path:
        return self.runtime.layout.endpoint_record(endpoint_name)

    def deploy(self, endpoint_name: str, variants: list[dict[str, Any]]) -> None:
        """Start servers for ``variants``, switch the endpoint to them, retire the old ones.

        Raises :class:`UserError` (the endpoint's FailureReason) when a model cannot be
        prepared or a container fails its ping health check; the old servers keep serving.
        """
        if not variants:
            raise UserError(
                f"endpoint {endpoint_name}: the endpoint config has no ProductionVariants"
            )
        deployment = f"{time.strftime('%Y%m%dT%H%M%S')}-{uuid.uuid4().hex[:8]}"
        base = self.runtime.layout.made(self.runtime.layout.hosting(endpoint_name, deployment))
        started: list[ServerProcess] = []
        try:
            for variant in variants:
                started.append(self._start_variant(endpoint_name, variant, base))
        except BaseException:
            for server in started:
                server.stop(timeout=5)
            shutil.rmtree(base, ignore_errors=True)
            raise
        with self._lock:
            old = self._servers.get(endpoint_name)
            if old is None:
                self._stop_stale(endpoint_name)
            self._servers[endpoint_name] = started
            self._write_registry(endpoint_name, started)
        if old:
            self._retire(old)

    def _start_variant(
        self, endpoint_name: str, variant: dict[str, Any], base: Path
    ) -> ServerProcess:
        name = variant.get("VariantName", DEFAULT_VARIANT)
        model = variant.get("Model")
        if not model:
            raise UserError(
                f"ProductionVariants[{name}].ModelName: model {variant.get('ModelName')} not found"
            )
        workdir = base / name
        spec = prepare_model(self.runtime, model, workdir)
        server = start_server(spec, workdir)
        status, message = server.ping()
        if status != 200:
            server.stop(timeout=5)
            raise UserError(
                f"The primary container for production variant {name} did not pass the ping "
                f"health check: {message}. Check the log {server.log_path}"
            )
        server.variant = name
        server.weight = float(variant.get("InitialVariantWeight", 1.0))
        return server

    def _write_registry(self, endpoint_name: str, servers: list[ServerProcess]) -> None:
        first = servers[0]
        self.runtime.write_json(
            self.registry_file(endpoint_name),
            {
                "name": endpoint_name,
                "port": first.port,
                "pid": first.pid,
                "url": first.url,
                "account": self.runtime.account_id,
                "region": self.runtime.region,
                "variants": [
                    {
                        "VariantName": s.variant,
                        "port": s.port,
                        "pid": s.pid,
                        "url": s.url,
                        "weight": s.weight,
                    }
                    for s in servers
                ],
            },
        )

    def _stop_stale(self, endpoint_name: str) -> None:
        """A registry file left by a previous owner of the state dir: stop its servers."""
        path = self.registry_file(endpoint_name)
        try:
            record = json.loads(path.read_text())
        except (FileNotFoundError, json.JSONDecodeError):
            return
        import psutil

        for variant in record.get("variants", []):
            with contextlib.suppress(psutil.Error, KeyError):
                proc = psutil.Process(variant["pid"])
                command = " ".join(proc.cmdline())
                forked = forkserver.MODULE in command and Path(proc.cwd()).is_relative_to(
                    self.runtime.layout.hosting(endpoint_name)
                )
                if SERVER_MODULE in command or forked:
                    proc.terminate()

    def _retire(self, servers: list[ServerProcess]) -> None:
        def run() -> None:
            for server in servers:
                server.stop()
                shutil.rmtree(server.workdir, ignore_errors=True)

        thread = threading.Thread(target=run, name="retire-model-server", daemon=True)
        thread.start()
        self._retiring.append(thread)

    def undeploy(self, endpoint_name: str) -> None:
        """Stop the endpoint's servers and forget it (no error when it has none)."""
        with self._lock:
            servers = self._servers.pop(endpoint_name, None)
            with contextlib.suppress(FileNotFoundError):
                self.registry_file(endpoint_name).unlink()
        for server in servers or []:
            server.stop()
        shutil.rmtree(self.runtime.layout.hosting(endpoint_name), ignore_errors=True)

    def port(self, endpoint_name: str) -> int:
        with self._lock:
            servers = self._servers.get(endpoint_name)
        if not servers:
            raise KeyError(endpoint_name)
        return servers[0].port

    def servers(self, endpoint_name: str) -> list[ServerProcess]:
        with self._lock:
            return list(self._servers.get(endpoint_name, []))

    def close(self) -> None:
        """Stop every server; registry files go so that no client finds a dead port."""
        with self._lock:
            everything = self._servers
            self._servers = {}
        for name, servers in everything.items():
            with contextlib.suppress(FileNotFoundError):
                self.registry_file(name).unlink()
            for server in servers:
                server.stop()
        for thread in self._retiring:
            thread.join()
        self._retiring = []


# -- SageMaker Runtime -----------------------------------------------------------------------------


class SageMakerRuntimeBackend:
    """The SageMaker Runtime API over the local endpoints' model servers."""

    def __init__(self, runtime: Runtime):
        self.runtime = runtime
        self.endpoints = LocalEndpoints(runtime.layout.made(runtime.layout.endpoints))

    def invoke_endpoint(
        self,
        EndpointName: str,
        Body: bytes | str,
        ContentType: str = "text/csv",
        Accept: str | None = None,
        TargetVariant: str | None = None,
        InferenceId: str | None = None,
        **_: Any,
    ) -> dict[str, Any]:
        body = Body.encode() if isinstance(Body, str) else bytes(Body)
        try:
            status, data, ctype, variant, record = self.endpoints.post(
                EndpointName, body, ContentType, Accept, TargetVariant
            )
        except EndpointNotFound:
            raise self.not_found(EndpointName, TargetVariant) from None
        except OSError as e:
            raise self.unavailable(EndpointName, e) from e
        if status >= 300:
            raise self.model_error(EndpointName, record, status, data)
        record_invocation(
            self.runtime, EndpointName, variant, (ContentType, body), (ctype, data), InferenceId
        )
        return {"Body": data, "ContentType": ctype, "InvokedProductionVariant": variant}

    # The answers InvokeEndpoint gives, shared with the event-loop path (invoke_async).

    def not_found(self, name: str, target_variant: str | None) -> ServiceError:
        if target_variant is not None and self._has_record(name):
            return ServiceError(
                "ValidationError", f"Variant {target_variant} not found for endpoint {name}."
            )
        return ServiceError("ValidationError", not_found_message(name, self.runtime.account_id))

    @staticmethod
    def unavailable(name: str, error: OSError) -> ServiceError:
        return ServiceError(
            "ServiceUnavailable",
            f"endpoint {name}: its model server does not answer ({error})",
            status=503,
            sender_fault=False,
        )

    def model_error(
        self, name: str, record: dict[str, Any], status: int, data: bytes
    ) -> ServiceError:
        message = data.decode("utf-8", "replace")
        return ModelError(
            model_error_message(status, message, name, record),
            original_status=status,
            original_message=message,
            log_stream_arn=self.runtime.arn("logs", f"log-group:/aws/sagemaker/Endpoints/{name}"),
        )

    def _has_record(self, endpoint_name: str) -> bool:
        try:
            return self.runtime.layout.endpoint_record(endpoint_name).exists()
        except EndpointNotFound:
            return False

    def recover(self) -> None:
        """Nothing to do: the SageMaker backend redeploys the endpoints that were InService."""

    def close(self) -> None:
        self.endpoints.close()


__all__ = ["EndpointManager", "ModelError", "SageMakerRuntimeBackend"]
