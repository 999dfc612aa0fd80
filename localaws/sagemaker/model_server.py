"""The local model server: one process per endpoint variant (or transform job).

It implements the SageMaker inference container contract:

* ``GET /ping`` - 200 once the model is loaded; 500 with the reason when loading failed.
* ``POST /invocations`` - 200 with the encoded predictions, 204 on an empty body,
  400 when the payload does not parse, 406 for an unsupported ``Accept``, 415 for an
  unsupported ``Content-Type``, 500 when the model failed to load or a user hook raised.

for four kinds of models, described by a JSON spec file written by the parent:

* the built-in XGBoost algorithm: ``xgboost-model`` from ``model.tar.gz`` (a Booster saved
  with ``save_model`` or pickled, as older containers wrote);
* the built-in Factorization Machines algorithm: ``model_algo-1`` (JSON and RecordIO-protobuf
  requests, :mod:`localaws.sagemaker.fm_algorithm`);
* script mode: ``SAGEMAKER_PROGRAM`` in ``SAGEMAKER_SUBMIT_DIRECTORY`` with
  ``model_fn`` / ``input_fn`` / ``predict_fn`` / ``output_fn`` (or ``transform_fn``) hooks
  and the inference toolkits' defaults for the ones it leaves out;
* inference pipelines: the containers in order, each one's response the next one's request,
  intermediate containers answering with their ``SAGEMAKER_DEFAULT_INVOCATIONS_ACCEPT``.

Run as ``python -m localaws.sagemaker.model_server --spec SPEC.json --port 0``.  Once the
port is bound and the model loaded it prints one JSON line ``{"port": N, "pid": P}`` on its
original stdout (everything else, user prints included, goes to stderr).  SIGTERM drains:
stop accepting, finish in-flight requests, exit.  It exits when its parent dies.
"""

from __future__ import annotations

import argparse
import ctypes
import importlib.util
import io
import json
import os
import pickle
import signal
import socket
import socketserver
import sys
import threading
import time
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from localaws.sagemaker import codecs

HOST = "127.0.0.1"
MODEL_FILE = "xgboost-model"
ENV_PROGRAM = "SAGEMAKER_PROGRAM"
ENV_SUBMIT_DIR = "SAGEMAKER_SUBMIT_DIRECTORY"
ENV_DEFAULT_ACCEPT = "SAGEMAKER_DEFAULT_INVOCATIONS_ACCEPT"
ENV_BATCH = "SAGEMAKER_BATCH"
DRAIN_TIMEOUT_S = 60.0
MAX_HEADER_LINE = 65536

KIND_XGBOOST = "xgboost"  # the built-in algorithm
KIND_FM = "factorization-machines"  # the built-in Factorization Machines algorithm
KIND_SCRIPT = "script"  # script mode (framework images)
FRAMEWORK_XGBOOST = "xgboost"
FRAMEWORK_SKLEARN = "sklearn"


class InvocationError(Exception):
    """A request the container answers with a non-200 status."""

    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status
        self.message = message


# -- the built-in XGBoost algorithm ------------------------------------------------------


def load_booster(path: Path) -> Any:
    """Load a Booster saved with ``save_model`` (JSON, UBJSON, binary) or pickled."""
    import xgboost as xgb

    booster = xgb.Booster()
    try:
        booster.load_model(bytearray(path.read_bytes()))  # the format is sniffed from the bytes
    except (xgb.core.XGBoostError, ValueError) as load_error:  # UnicodeDecodeError: a pickle
        try:
            with open(path, "rb") as fh:
                booster = pickle.load(fh)
        except Exception as pickle_error:
            raise RuntimeError(
                f"model file {path.name} is neither a saved XGBoost model ({load_error}) "
                f"nor a pickled Booster ({pickle_error})"
            ) from pickle_error
        if not isinstance(booster, xgb.Booster):
            raise RuntimeError(
                f"model file {path.name} unpickles to {type(booster).__name__}, not xgboost.Booster"
            ) from None
    return booster


def find_model_file(model_dir: Path) -> Path:
    """``xgboost-model``, else the only file in the model directory (as the container does)."""
    preferred = model_dir / MODEL_FILE
    if preferred.is_file():
        return preferred
    files = [p for p in sorted(model_dir.iterdir()) if p.is_file() and not p.name.startswith(".")]
    if len(files) == 1:
        return files[0]
    raise RuntimeError(
        f"model.tar.gz holds no '{MODEL_FILE}' file (found: {[p.name for p in files] or 'nothing'}); "
        "the built-in XGBoost algorithm writes its model as 'xgboost-model'"
    )


# The arguments inplace_predict passes by default (xgboost.core.make_jcargs).
_PREDICT_ARGS = json.dumps(
    {"type": 0, "training": False, "iteration_begin": 0, "iteration_end": 0,
     "missing": float("nan"), "strict_shape": False, "cache_id": 0}
).encode()  # fmt: skip


class BoosterPredictor:
    """Prediction with the built-in algorithm's semantics, shared by the server and the
    in-process batch transform so that both give the same answers."""

    def __init__(self, booster: Any, nthread: int = 1):
        self.booster = booster
        booster.set_param({"nthread": nthread})
        self.num_features = booster.num_features()

    @classmethod
    def from_model_dir(cls, model_dir: Path, nthread: int = 1) -> BoosterPredictor:
        return cls(load_booster(find_model_file(model_dir)), nthread=nthread)

    def predict(self, data: Any) -> np.ndarray:
        n_cols = data.shape[1]
        if n_cols != self.num_features:
            if n_cols > self.num_features:
                raise InvocationError(
                    400,
                    f"Feature size of inference data {n_cols} is larger than the feature size "
                    f"of the trained model {self.num_features}; send the features only, "
                    "without the label column",
                )
            data = _pad_columns(data, self.num_features)
        try:
            if isinstance(data, np.ndarray) and data.dtype == np.float32 and data.ndim == 2:
                return self._predict_dense(np.ascontiguousarray(data))
            return self.booster.inplace_predict(data)
        except ValueError as e:
            raise InvocationError(400, f"Unable to evaluate payload provided: {e}") from e

    def _predict_dense(self, data: np.ndarray) -> np.ndarray:
        """``inplace_predict`` on a C-contiguous float32 matrix, minus its per-call Python
        overhead (type dispatch, config JSON): the same C call with the same arguments."""
        from xgboost.core import _LIB, _check_call, c_bst_ulong

        preds = ctypes.POINTER(ctypes.c_float)()
        shape = ctypes.POINTER(c_bst_ulong)()
        dims = c_bst_ulong()
        iface = b'{"data":[%d,true],"shape":[%d,%d],"typestr":"<f4","version":3}' % (
            data.ctypes.data,
            data.shape[0],
            data.shape[1],
        )
        _check_call(
            _LIB.XGBoosterPredictFromDense(
                self.booster.handle,
                iface,
                _PREDICT_ARGS,
                None,
                ctypes.byref(shape),
                ctypes.byref(dims),
                ctypes.byref(preds),
            )
        )
        out_shape = tuple(int(shape[i]) for i in range(dims.value))
        size = 1
        for n in out_shape:
            size *= n
        # the buffer belongs to the booster (per thread) until its next prediction: copy
        out = np.ctypeslib.as_array(preds, shape=(size,)).copy()
        return out.reshape(out_shape) if len(out_shape) > 1 else out


def _pad_columns(data: Any, n_cols: int) -> Any:
    if isinstance(data, np.ndarray):
        padded = np.full((data.shape[0], n_cols), np.nan, dtype=np.float32)
        padded[:, : data.shape[1]] = data
        return padded
    data = data.copy()
    data.resize((data.shape[0], n_cols))
    return data


class XGBoostAlgorithmContainer:
    """The built-in XGBoost algorithm's serving container."""

    def __init__(self, spec: dict[str, Any]):
        self.env: dict[str, str] = spec.get("env") or {}
        self.batch = bool(self.env.get(ENV_BATCH))
        self.default_accept = self.env.get(ENV_DEFAULT_ACCEPT, codecs.CSV)
        self.predictor = BoosterPredictor.from_model_dir(Path(spec["model_dir"]))

    def invoke(
        self, body: bytes, content_type: str | None, accept: str | None
    ) -> tuple[bytes, str]:
        try:
            data = codecs.decode(body, content_type)
            out_type = codecs.negotiate_accept(accept, self.default_accept)
        except codecs.CodecError as e:
            raise InvocationError(e.status, str(e)) from e
        preds = self.predictor.predict(data)
        return codecs.encode(preds, out_type, batch=self.batch), out_type


class FMAlgorithmContainer:
    """The built-in Factorization Machines algorithm's serving container: JSON or
    RecordIO-protobuf in; JSON (default), JSON Lines or RecordIO-protobuf out."""

    def __init__(self, spec: dict[str, Any]):
        from localaws.sagemaker import fm_algorithm

        self.fm = fm_algorithm
        self.env: dict[str, str] = spec.get("env") or {}
        self.default_accept = self.env.get(ENV_DEFAULT_ACCEPT, codecs.JSON)
        self.model = fm_algorithm.FMModel.from_model_dir(Path(spec["model_dir"]))

    def invoke(
        self, body: bytes, content_type: str | None, accept: str | None
    ) -> tuple[bytes, str]:
        fm = self.fm
        ctype = codecs.media_type(content_type, codecs.JSON)
        if ctype not in fm.REQUEST_TYPES:
            raise InvocationError(
                415,
                f"Content-type {ctype} is not supported by the Factorization Machines "
                f"algorithm; send {' or '.join(fm.REQUEST_TYPES)}",
            )
        out_type = self.default_accept
        for part in (accept or "").split(","):
            mtype = codecs.media_type(part, self.default_accept)
            if mtype in fm.RESPONSE_TYPES or mtype == codecs.ANY:
                out_type = self.default_accept if mtype == codecs.ANY else mtype
                break
        else:
            if accept:
                raise InvocationError(
                    406,
                    f"Accept type {accept} is not supported; supported accept types are "
                    f"{', '.join(fm.RESPONSE_TYPES)}",
                )
        try:
            x = fm.decode_request(body, ctype, len(self.model.w))
        except fm.RequestError as e:
            raise InvocationError(400, f"Unable to evaluate payload provided: {e}") from e
        scores = self.model.scores(x)
        return fm.encode_response(scores, self.model.predictor_type, out_type), out_type


# -- script mode ---------------------------------------------------------------------------


def toolkit_decode(body: bytes, content_type: str) -> Any:
    """The inference toolkits' default ``input_fn``: CSV, JSON or NPY into a numpy array."""
    if content_type == codecs.CSV:
        return codecs.decode_csv(body)
    if content_type == codecs.JSON:
        try:
            return np.array(json.loads(body))
        except ValueError as e:
            raise codecs.PayloadError(f"Loading json data failed: {e}") from e
    if content_type == "application/x-npy":
        return np.load(io.BytesIO(body), allow_pickle=False)
    if content_type in (codecs.LIBSVM, codecs.X_LIBSVM):
        return codecs.decode_libsvm(body)
    raise codecs.UnsupportedContentType(
        f"Content-type {content_type} not supported by the default input_fn; "
        "supported: text/csv, application/json, application/x-npy (or write an input_fn)"
    )


def toolkit_encode(prediction: Any, accept: str) -> bytes:
    """The inference toolkits' default ``output_fn``."""
    array = np.asarray(prediction)
    if accept == codecs.JSON:
        return json.dumps(array.tolist()).encode()
    if accept == codecs.CSV:
        stream = io.StringIO()
        np.savetxt(stream, array, delimiter=",", fmt="%s")
        return stream.getvalue().encode()
    if accept == "application/x-npy":
        buffer = io.BytesIO()
        np.save(buffer, array)
        return buffer.getvalue()
    raise codecs.UnsupportedAccept(
        f"Accept type {accept} is not supported by the default output_fn; "
        "supported: application/json, text/csv, application/x-npy (or write an output_fn)"
    )


TOOLKIT_ACCEPTS = (codecs.JSON, codecs.CSV, "application/x-npy")


def _import_program(code_dir: Path, program: str, index: int) -> Any:
    path = (code_dir / program).resolve()
    if not path.is_relative_to(code_dir.resolve()):
        raise RuntimeError(f"{ENV_PROGRAM}={program}: resolves outside the submit directory")
    if not path.is_file():
        raise RuntimeError(
            f"{ENV_PROGRAM}={program}: no such file in the submit directory "
            f"(it holds {sorted(p.name for p in code_dir.iterdir())})"
        )
    if str(code_dir) not in sys.path:
        sys.path.insert(0, str(code_dir))
    name = path.stem if index == 0 and path.stem not in sys.modules else f"{path.stem}_{index}"
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


class ScriptModeContainer:
    """A framework container running the user's inference module."""

    def __init__(self, spec: dict[str, Any], index: int = 0):
        self.env: dict[str, str] = spec.get("env") or {}
        self.framework = spec.get("framework", FRAMEWORK_SKLEARN)
        self.default_accept = self.env.get(ENV_DEFAULT_ACCEPT, codecs.JSON)
        model_dir = Path(spec["model_dir"])
        os.environ.update(self.env)
        os.environ["SM_MODEL_DIR"] = str(model_dir)
        module = _import_program(Path(spec["code_dir"]), spec["program"], index)
        self.transform_fn: Callable[..., Any] | None = getattr(module, "transform_fn", None)
        self.input_fn: Callable[..., Any] = getattr(module, "input_fn", self._default_input_fn)
        self.predict_fn: Callable[..., Any] = getattr(
            module, "predict_fn", self._default_predict_fn
        )
        self.output_fn: Callable[..., Any] = getattr(module, "output_fn", self._default_output_fn)
        model_fn = getattr(module, "model_fn", None)
        if model_fn is None:
            if self.framework != FRAMEWORK_XGBOOST:
                raise RuntimeError(
                    f"{spec['program']} defines no model_fn(model_dir); the scikit-learn "
                    "container has no default, add one that loads and returns the model"
                )
            model_fn = self._default_xgboost_model_fn
        self.model = model_fn(str(model_dir))

    @staticmethod
    def _default_xgboost_model_fn(model_dir: str) -> Any:
        return load_booster(find_model_file(Path(model_dir)))

    @staticmethod
    def _default_input_fn(body: bytes, content_type: str) -> Any:
        return toolkit_decode(body, codecs.media_type(content_type, codecs.CSV))

    @staticmethod
    def _default_predict_fn(data: Any, model: Any) -> Any:
        if hasattr(model, "inplace_predict"):
            return model.inplace_predict(data)
        return model.predict(data)

    @staticmethod
    def _default_output_fn(prediction: Any, accept: str) -> bytes:
        return toolkit_encode(prediction, accept)

    def invoke(
        self, body: bytes, content_type: str | None, accept: str | None
    ) -> tuple[bytes, str]:
        ctype = codecs.media_type(content_type, codecs.CSV)
        out_type = codecs.media_type(accept, self.default_accept)
        if out_type == codecs.ANY:
            out_type = self.default_accept
        if self.output_fn is self._default_output_fn and out_type not in TOOLKIT_ACCEPTS:
            raise InvocationError(
                406, f"Accept type {out_type} is not supported by the default output_fn"
            )
        try:
            if self.transform_fn is not None:
                result = self.transform_fn(self.model, body, ctype, out_type)
            else:
                data = self.input_fn(body, ctype)
                prediction = self.predict_fn(data, self.model)
                result = self.output_fn(prediction, out_type)
        except codecs.CodecError as e:
            raise InvocationError(e.status, str(e)) from e
        except InvocationError:
            raise
        except Exception as e:
            traceback.print_exc()
            raise InvocationError(500, f"{type(e).__name__}: {e}") from e
        if isinstance(result, tuple):
            result, out_type = result
        if isinstance(result, str):
            result = result.encode()
        return bytes(result), out_type


# -- the served model: one container or a pipeline ----------------------------------------------


class ServedModel:
    """The containers of one model, loaded once; a load failure is kept and reported."""

    def __init__(self, spec: dict[str, Any]):
        self.containers: list[Any] = []
        self.load_error: str | None = None
        try:
            for i, container in enumerate(spec["containers"]):
                if container["kind"] == KIND_XGBOOST:
                    self.containers.append(XGBoostAlgorithmContainer(container))
                elif container["kind"] == KIND_FM:
                    self.containers.append(FMAlgorithmContainer(container))
                elif container["kind"] == KIND_SCRIPT:
                    self.containers.append(ScriptModeContainer(container, index=i))
                else:
                    raise RuntimeError(f"unknown container kind {container['kind']!r}")
        except Exception as e:
            traceback.print_exc()
            where = spec["containers"][len(self.containers)].get(
                "name", f"container {len(self.containers) + 1}"
            )
            self.load_error = f"{where}: {type(e).__name__}: {e}"
            self.containers = []

    def invoke(
        self, body: bytes, content_type: str | None, accept: str | None
    ) -> tuple[bytes, str]:
        if self.load_error is not None:
            raise InvocationError(500, f"Unable to load model: {self.load_error}")
        last = len(self.containers) - 1
        for i, container in enumerate(self.containers):
            body, content_type = container.invoke(body, content_type, accept if i == last else None)
            if i != last and not body:
                raise InvocationError(
                    500, f"container {i + 1} of the pipeline returned an empty body"
                )
        return body, content_type  # type: ignore[return-value]


# -- HTTP -----------------------------------------------------------------------------------

_REASONS = {200: "OK", 204: "No Content", 400: "Bad Request", 403: "Forbidden", 404: "Not Found", 405: "Method Not Allowed",
            406: "Not Acceptable", 411: "Length Required", 413: "Payload Too Large",
            415: "Unsupported Media Type", 500: "Internal Server Error"}  # fmt: skip


class _Handler(socketserver.StreamRequestHandler):
    """HTTP/1.1 with keep-alive, parsed by hand: the container needs three headers."""

    server: ModelHTTPServer
    rbufsize = 65536
    wbufsize = 0

    def setup(self) -> None:
        super().setup()
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def handle(self) -> None:
        rfile = self.rfile
        while True:
            line = rfile.readline(MAX_HEADER_LINE)
            if not line:
                return
            if line in (b"\r\n", b"\n"):
                continue
            parts = line.split()
            if len(parts) != 3:
                self._send(400, b"malformed request line", "text/plain", close=True)
                return
            method, target, version = parts
            length = 0
            content_type = accept = None
            foreign: str | None = None
            keep_alive = version == b"HTTP/1.1"
            while True:
                header = rfile.readline(MAX_HEADER_LINE)
                if header in (b"\r\n", b"\n", b""):
                    break
                name, _, value = header.partition(b":")
                name = name.strip().lower()
                if name == b"content-length":
                    length = int(value)
                elif name == b"content-type":
                    content_type = value.strip().decode("latin-1")
                elif name == b"accept":
                    accept = value.strip().decode("latin-1")
                elif name == b"origin":  # a browser's request: only the runtime may call
                    foreign = foreign or "Origin"
                elif name == b"host" and not _loopback_host(value.strip()):
                    foreign = foreign or "Host"  # a DNS-rebound name
                elif name == b"connection":
                    token = value.strip().lower()
                    keep_alive = token == b"keep-alive" or (keep_alive and token != b"close")
                elif name == b"transfer-encoding":
                    self._send(
                        411,
                        b"chunked bodies are not supported; send Content-Length",
                        "text/plain",
                        close=True,
                    )
                    return
            body = rfile.read(length) if length else b""
            if foreign is not None:
                self._send(403, _REFUSED[foreign], "text/plain", close=True)
                return
            server = self.server
            server.begin()
            try:
                status, payload, out_type = server.dispatch(
                    method, target.split(b"?", 1)[0], body, content_type, accept
                )
            finally:
                server.end()
            close = not keep_alive or server.draining
            self._send(status, payload, out_type, close=close)
            if close:
                return

    def _send(self, status: int, body: bytes, content_type: str, *, close: bool) -> None:
        head = (
            f"HTTP/1.1 {status} {_REASONS.get(status, 'Error')}\r\n"
            f"Content-Type: {content_type}\r\nContent-Length: {len(body)}\r\n"
            f"Connection: {'close' if close else 'keep-alive'}\r\n\r\n"
        ).encode("latin-1")
        self.connection.sendall(head + body)


_REFUSED = {
    "Origin": b"refused: a request from a web page (it has an Origin header); this model server "
    b"takes requests from the local runtime only: call InvokeEndpoint on the runtime's port",
    "Host": b"refused: the Host header does not name 127.0.0.1 or localhost; this model server "
    b"takes requests from the local runtime only: call InvokeEndpoint on the runtime's port",
}


def _loopback_host(value: bytes) -> bool:
    """``Host`` names this machine's loopback (``127.0.0.1``, ``localhost``, ``[::1]``,
    with or without a port)."""
    host = value.strip().lower()
    host = host[: host.find(b"]") + 1] if host.startswith(b"[") else host.split(b":", 1)[0]
    return host in (b"127.0.0.1", b"localhost", b"[::1]")


class ModelHTTPServer(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 256

    def __init__(self, port: int, model: ServedModel):
        super().__init__((HOST, port), _Handler)
        self.model = model
        self.draining = False
        self._active = 0
        self._lock = threading.Lock()
        self._idle = threading.Condition(self._lock)

    def begin(self) -> None:
        with self._lock:
            self._active += 1

    def end(self) -> None:
        with self._lock:
            self._active -= 1
            if self._active == 0:
                self._idle.notify_all()

    def wait_idle(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        with self._lock:
            while self._active and time.monotonic() < deadline:
                self._idle.wait(deadline - time.monotonic())

    def dispatch(
        self, method: bytes, path: bytes, body: bytes, content_type: str | None, accept: str | None
    ) -> tuple[int, bytes, str]:
        if path == b"/invocations":
            if method != b"POST":
                return 405, b"use POST /invocations", "text/plain"
            if not body:
                return 204, b"", "text/plain"
            try:
                payload, out_type = self.model.invoke(body, content_type, accept)
            except InvocationError as e:
                return e.status, e.message.encode(), "text/plain"
            except Exception as e:  # a bug in this server: answer 500 and keep serving
                traceback.print_exc()
                return 500, f"{type(e).__name__}: {e}".encode(), "text/plain"
            return 200, payload, out_type
        if path == b"/ping":
            if self.model.load_error is not None:
                return 500, f"Unable to load model: {self.model.load_error}".encode(), "text/plain"
            return 200, b"", "text/plain"
        if path == b"/execution-parameters":
            params = {
                "MaxConcurrentTransforms": os.cpu_count() or 1,
                "BatchStrategy": "MULTI_RECORD",
                "MaxPayloadInMB": 6,
            }
            return 200, json.dumps(params).encode(), codecs.JSON
        return 404, b"not found; the container serves GET /ping and POST /invocations", "text/plain"


def _watch_parent(server: ModelHTTPServer, parent: int) -> None:
    while os.getppid() == parent:
        time.sleep(1.0)
    os._exit(0)


def serve(spec: dict[str, Any], port: int, ready: Callable[[int], None]) -> None:
    """Load the model, bind, report the port through ``ready``, serve until SIGTERM."""
    model = ServedModel(spec)
    server = ModelHTTPServer(port, model)
    stop = threading.Event()

    def on_term(signum: int, frame: Any) -> None:
        server.draining = True
        stop.set()

    signal.signal(signal.SIGTERM, on_term)
    signal.signal(signal.SIGINT, on_term)
    threading.Thread(
        target=server.serve_forever, kwargs={"poll_interval": 0.2}, daemon=True
    ).start()
    threading.Thread(target=_watch_parent, args=(server, os.getppid()), daemon=True).start()
    ready(server.server_address[1])
    while not stop.wait(3600):
        pass
    server.shutdown()
    server.socket.close()
    server.wait_idle(DRAIN_TIMEOUT_S)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m localaws.sagemaker.model_server")
    parser.add_argument("--spec", required=True, help="JSON file describing the model's containers")
    parser.add_argument("--port", type=int, default=0, help="0 picks a free port")
    args = parser.parse_args(argv)
    # Keep the original stdout for the ready line; everything printed from here on,
    # user code included, goes to stderr (the endpoint's log).
    ready_fd = os.dup(1)
    os.dup2(2, 1)
    spec = json.loads(Path(args.spec).read_text())

    def ready(port: int) -> None:
        os.write(ready_fd, (json.dumps({"port": port, "pid": os.getpid()}) + "\n").encode())
        os.close(ready_fd)

    serve(spec, args.port, ready)
    return 0


if __name__ == "__main__":
    sys.exit(main())
