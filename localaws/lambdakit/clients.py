"""AWS clients for Lambda handlers, local or real (part of :mod:`localaws.lambdakit`: stdlib + boto3).

``sagemaker_runtime_client()`` returns, when ``LOCALAWS_ENDPOINTS_DIR`` is set (the local
runtime sets it in its Lambda workers), a client that calls the local endpoints' model
servers directly, found through the endpoint registry files ``<dir>/<name>.json`` that the
runtime writes; otherwise ``boto3.client("sagemaker-runtime")``.  Both have the same
``invoke_endpoint`` signature, return boto3's response shape (``Body`` with ``.read()``,
``ContentType``, ``InvokedProductionVariant``) and raise the same exception classes, reachable
as ``client.exceptions.ModelError`` and ``client.exceptions.ValidationError``.
"""

from __future__ import annotations

import http.client
import io
import json
import os
import random
import socket
import threading
from pathlib import Path
from typing import Any

from localaws.lambdakit.config import DEFAULT_ACCOUNT, ENV_ACCOUNT, ENV_ENDPOINTS_DIR

OPERATION = "InvokeEndpoint"
MODEL_ERROR_STATUS = 424
REQUEST_TIMEOUT_S = 70.0  # SageMaker's invocation timeout is 60 s
# A keep-alive connection can be closed by a model server that is draining after an
# UpdateEndpoint; the request is then sent again, to the port the registry names now.
_RETRIABLE = (ConnectionError, http.client.RemoteDisconnected, http.client.BadStatusLine)


class EndpointNotFound(LookupError):
    """No registry file for the endpoint."""


def registry_path(endpoints_dir: str | os.PathLike[str], name: str) -> Path:
    if not name or "/" in name or name.startswith("."):
        raise EndpointNotFound(name)
    return Path(endpoints_dir) / f"{name}.json"


class LocalEndpoints:
    """Finds endpoints in the registry directory and posts to their model servers."""

    def __init__(self, endpoints_dir: str | os.PathLike[str]):
        self.endpoints_dir = Path(endpoints_dir)
        self._records: dict[str, tuple[int, dict[str, Any]]] = {}
        self._local = threading.local()

    def record(self, name: str) -> dict[str, Any]:
        """The endpoint's registry record, re-read when the file changes."""
        path = registry_path(self.endpoints_dir, name)
        try:
            mtime = path.stat().st_mtime_ns
        except FileNotFoundError:
            self._records.pop(name, None)
            raise EndpointNotFound(name) from None
        cached = self._records.get(name)
        if cached is not None and cached[0] == mtime:
            return cached[1]
        try:
            record = json.loads(path.read_text())
        except FileNotFoundError:
            raise EndpointNotFound(name) from None
        self._records[name] = (mtime, record)
        return record

    def forget(self, name: str) -> None:
        """Drop the cached record: the next call re-reads the registry file."""
        self._records.pop(name, None)

    @staticmethod
    def choose_variant(record: dict[str, Any], target_variant: str | None) -> dict[str, Any]:
        variants = record.get("variants") or [
            {
                "VariantName": record.get("variant", "AllTraffic"),
                "port": record["port"],
                "weight": 1.0,
            }
        ]
        if target_variant is not None:
            for variant in variants:
                if variant["VariantName"] == target_variant:
                    return variant
            raise EndpointNotFound(target_variant)
        if len(variants) == 1:
            return variants[0]
        weights = [float(v.get("weight", 1.0)) for v in variants]
        if sum(weights) <= 0:
            weights = [1.0] * len(variants)
        return random.choices(variants, weights=weights)[0]

    def _connection(self, port: int) -> http.client.HTTPConnection:
        conns = getattr(self._local, "conns", None)
        if conns is None:
            conns = self._local.conns = {}
        conn = conns.get(port)
        if conn is None:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=REQUEST_TIMEOUT_S)
            conn.connect()
            conn.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            conns[port] = conn
        return conn

    def _drop(self, port: int) -> None:
        conn = getattr(self._local, "conns", {}).pop(port, None)
        if conn is not None:
            conn.close()

    def post(
        self,
        name: str,
        body: bytes,
        content_type: str | None,
        accept: str | None,
        target_variant: str | None = None,
    ) -> tuple[int, bytes, str, str, dict[str, Any]]:
        """POST /invocations; returns (status, body, content type, variant name, record)."""
        headers = {"Content-Type": content_type or "text/csv"}
        if accept:
            headers["Accept"] = accept
        last_error: Exception | None = None
        for _attempt in range(4):
            record = self.record(name)
            variant = self.choose_variant(record, target_variant)
            port = int(variant["port"])
            try:
                conn = self._connection(port)
                conn.request("POST", "/invocations", body=body, headers=headers)
                response = conn.getresponse()
                data = response.read()
                if response.getheader("Connection", "").lower() == "close":
                    self._drop(port)
                ctype = response.getheader("Content-Type", "application/octet-stream")
                return response.status, data, ctype, variant["VariantName"], record
            except _RETRIABLE as e:
                self._drop(port)
                last_error = e
                # the registry is rewritten before an old server stops: reread it
                self._records.pop(name, None)
        assert last_error is not None
        raise last_error

    def close(self) -> None:
        for conn in getattr(self._local, "conns", {}).values():
            conn.close()
        self._local = threading.local()


def model_error_message(status: int, message: str, name: str, record: dict[str, Any]) -> str:
    region = record.get("region", "us-east-1")
    kind = "client" if status < 500 else "server"
    return (
        f'Received {kind} error ({status}) from primary with message "{message}". See '
        f"https://{region}.console.aws.amazon.com/cloudwatch/home?region={region}"
        f"#logEventViewer:group=/aws/sagemaker/Endpoints/{name} in account "
        f"{record.get('account', '')} for more information."
    )


def not_found_message(name: str, account: str) -> str:
    return f"Endpoint {name} of account {account} not found."


# -- the boto3-shaped local client --------------------------------------------------------------


def _client_error_classes() -> tuple[type[Exception], type[Exception]]:
    from botocore.exceptions import ClientError

    class ModelError(ClientError):
        """The model server answered with an error (boto3: client.exceptions.ModelError)."""

    class ValidationError(ClientError):
        """Bad request, e.g. an unknown endpoint (boto3: client.exceptions.ValidationError)."""

    return ModelError, ValidationError


class _Exceptions:
    def __init__(self) -> None:
        self.ModelError, self.ValidationError = _client_error_classes()
        from botocore.exceptions import ClientError

        self.ClientError = ClientError


class LocalSageMakerRuntimeClient:
    """``invoke_endpoint`` against local endpoints, with boto3's request and response shapes."""

    def __init__(self, endpoints_dir: str | os.PathLike[str]):
        self.endpoints = LocalEndpoints(endpoints_dir)
        self.exceptions = _Exceptions()

    def _error(
        self, cls: type[Exception], code: str, message: str, status: int, **extra: Any
    ) -> Exception:
        response = {
            "Error": {"Code": code, "Message": message},
            "ResponseMetadata": {"HTTPStatusCode": status},
            **extra,
        }
        return cls(response, OPERATION)  # type: ignore[call-arg]

    def invoke_endpoint(
        self,
        *,
        EndpointName: str,
        Body: bytes | str | Any,
        ContentType: str = "application/octet-stream",
        Accept: str | None = None,
        TargetVariant: str | None = None,
        **_: Any,
    ) -> dict[str, Any]:
        from botocore.response import StreamingBody

        if hasattr(Body, "read"):
            Body = Body.read()
        if isinstance(Body, str):
            Body = Body.encode()
        try:
            status, data, ctype, variant, record = self.endpoints.post(
                EndpointName, Body, ContentType, Accept, TargetVariant
            )
        except EndpointNotFound:
            account = os.environ.get(ENV_ACCOUNT, DEFAULT_ACCOUNT)
            raise self._error(
                self.exceptions.ValidationError,
                "ValidationError",
                not_found_message(EndpointName, account),
                400,
            ) from None
        if status >= 300:
            message = data.decode("utf-8", "replace")
            raise self._error(
                self.exceptions.ModelError,
                "ModelError",
                model_error_message(status, message, EndpointName, record),
                MODEL_ERROR_STATUS,
                OriginalStatusCode=status,
                OriginalMessage=message,
                LogStreamArn=f"arn:aws:logs:{record.get('region', '')}:{record.get('account', '')}:"
                f"log-group:/aws/sagemaker/Endpoints/{EndpointName}",
            )
        return {
            "Body": StreamingBody(io.BytesIO(data), len(data)),
            "ContentType": ctype,
            "InvokedProductionVariant": variant,
            "ResponseMetadata": {"HTTPStatusCode": 200},
        }


def sagemaker_runtime_client(endpoints_dir: str | None = None) -> Any:
    """A local client when ``LOCALAWS_ENDPOINTS_DIR`` is set (or given), else boto3's."""
    endpoints_dir = endpoints_dir or os.environ.get(ENV_ENDPOINTS_DIR)
    if endpoints_dir:
        return LocalSageMakerRuntimeClient(endpoints_dir)
    import boto3

    return boto3.client("sagemaker-runtime")
