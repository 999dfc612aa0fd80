"""Step Functions' Lambda integration: ``arn:aws:states:::lambda:invoke`` and function ARNs.

* ``lambda:invoke`` (request-response): Parameters are Invoke's request (``FunctionName``
  required: a name, partial or full ARN, with or without a qualifier; ``Payload``,
  ``Qualifier``, ``InvocationType``, ``LogType``, ``ClientContext``).  The result is the
  optimized integration's shape: ``ExecutedVersion``, ``Payload`` (parsed JSON),
  ``SdkHttpMetadata``, ``SdkResponseMetadata``, ``StatusCode``.
* ``lambda:invoke.waitForTaskToken``: the same invocation; the task then waits for the token.
* Legacy resource ``arn:aws:lambda:<region>:<account>:function:<name>[:qualifier]``: the
  state's Parameters (or input) are the payload and the result is the parsed payload.

A function error fails the state with the function's ``errorType`` as error and the error
payload (JSON text) as cause, or ``Lambda.Unknown`` when the payload names no error type; a
Lambda API error becomes ``Lambda.<Code>``.  Cancellation kills the worker.
"""

from __future__ import annotations

import json
import re
from email.utils import formatdate
from typing import TYPE_CHECKING, Any, ClassVar

from localaws.asl.errors import StateFailure, StatesError
from localaws.asl.integrations import Integration, Pattern, TaskRequest
from localaws.errors import PlatformError, ServiceError

if TYPE_CHECKING:
    from localaws.runtime import Runtime

SERVICE = "lambda"
ACTIONS: dict[str, frozenset[Pattern]] = {
    "invoke": frozenset({Pattern.REQUEST_RESPONSE, Pattern.WAIT_FOR_TASK_TOKEN}),
}
LEGACY_ARN = re.compile(
    r"^arn:aws[a-zA-Z-]*:lambda:[a-z0-9-]+:\d{12}:function:[a-zA-Z0-9_-]{1,64}(?::(?:\$LATEST|[a-zA-Z0-9_-]+))?$"
)
PARAMETERS = frozenset(
    {"FunctionName", "Payload", "Qualifier", "InvocationType", "LogType", "ClientContext"}
)
INVOCATION_TYPES = ("RequestResponse", "Event", "DryRun")
ERROR_UNKNOWN = "Lambda.Unknown"
# An invocation in flight when the runtime died: an infrastructure failure, which AWS's
# Step Functions reports as Lambda.ServiceException (covered by the usual Retry).
ERROR_SERVICE = "Lambda.ServiceException"
INTERRUPTED_CAUSE = (
    "The local runtime stopped while this Lambda invocation was in flight; its result is "
    "lost. Retry Lambda.ServiceException to invoke it again."
)
UNKNOWN_CAUSE = "The cause could not be determined because Lambda did not return an error type. Returned payload: {}"


class LambdaIntegration(Integration):
    SERVICE: ClassVar[str] = SERVICE
    ACTIONS: ClassVar[dict[str, frozenset[Pattern]]] = ACTIONS
    LEGACY_ARN: ClassVar[re.Pattern[str] | None] = LEGACY_ARN

    def __init__(self, runtime: Runtime):
        self.runtime = runtime

    def validate(self, action: str, pattern: Pattern, parameters: Any, where: str) -> list[str]:
        if action == "legacy" or not isinstance(parameters, dict):
            if action != "legacy" and parameters is None:
                return [f"{where}: lambda:invoke needs Parameters with FunctionName"]
            return []
        problems = []
        if "FunctionName" not in parameters and "FunctionName.$" not in parameters:
            problems.append(
                f"{where}/FunctionName: required by lambda:invoke; give the function's name or ARN"
            )
        name = parameters.get("FunctionName")
        if name is not None and not isinstance(name, str):
            problems.append(f"{where}/FunctionName: must be a string, got {name!r}")
        for key in parameters:
            if key.removesuffix(".$") not in PARAMETERS:
                problems.append(
                    f"{where}/{key}: not a parameter of lambda:invoke; supported: "
                    f"{', '.join(sorted(PARAMETERS))}"
                )
        invocation_type = parameters.get("InvocationType")
        if invocation_type is not None and invocation_type not in INVOCATION_TYPES:
            problems.append(
                f"{where}/InvocationType: {invocation_type!r} is not one of {', '.join(INVOCATION_TYPES)}"
            )
        return problems

    def run(self, request: TaskRequest) -> Any:
        if request.resumed:
            raise StateFailure(ERROR_SERVICE, INTERRUPTED_CAUSE)
        if request.action == "legacy":
            payload = request.parameters
            result = self._invoke(request, request.resource, None, payload, "RequestResponse")
            return _parse(result["Payload"])
        params = request.parameters if isinstance(request.parameters, dict) else {}
        if not isinstance(params.get("FunctionName"), str):
            raise StateFailure(
                "Lambda.InvalidParameterValueException",
                f"FunctionName: required, a function name or ARN; got {params.get('FunctionName')!r}",
            )
        invocation_type = params.get("InvocationType", "RequestResponse")
        result = self._invoke(
            request,
            params["FunctionName"],
            params.get("Qualifier"),
            params.get("Payload"),
            invocation_type,
        )
        return self._sdk_response(result)

    def _invoke(
        self,
        request: TaskRequest,
        function_name: str,
        qualifier: str | None,
        payload: Any,
        invocation_type: str,
    ) -> dict[str, Any]:
        from localaws.lambda_.backend import InvocationCancelled

        backend = self.runtime.lambda_
        body = json.dumps(payload if payload is not None else {}).encode()
        try:
            if invocation_type != "RequestResponse":
                return backend.invoke(
                    FunctionName=function_name,
                    Qualifier=qualifier,
                    InvocationType=invocation_type,
                    Payload=body,
                )
            name = backend.resolve_name(function_name, qualifier)
            result = backend.invoke_function(name, body, cancelled=request.cancelled)
        except ServiceError as e:
            raise StateFailure(f"Lambda.{e.code}", e.message) from e
        except InvocationCancelled as e:
            raise StateFailure(
                StatesError.TASK_FAILED, "the task was cancelled; its Lambda worker was stopped"
            ) from e
        except (PlatformError, OSError) as e:
            raise StateFailure(ERROR_UNKNOWN, f"the local Lambda worker failed: {e}") from e
        if result.function_error:
            cause = result.payload.decode("utf-8", "replace")
            error = _error_type(cause)
            if error is None:
                raise StateFailure(ERROR_UNKNOWN, UNKNOWN_CAUSE.format(cause))
            raise StateFailure(error, cause)
        return {
            "StatusCode": 200,
            "ExecutedVersion": "$LATEST",
            "Payload": result.payload,
            "RequestId": result.request_id,
        }

    def _sdk_response(self, result: dict[str, Any]) -> dict[str, Any]:
        """The optimized integration's result, as Step Functions' Java SDK serialises it."""
        status = int(result["StatusCode"])
        raw = result.get("Payload") or b""
        request_id = str(result.get("RequestId", ""))
        headers = {
            "Connection": "keep-alive",
            "Content-Length": str(len(raw)),
            "Content-Type": "application/json",
            "Date": formatdate(usegmt=True),
            "X-Amz-Executed-Version": "$LATEST",
            "x-amzn-Remapped-Content-Length": "0",
            "x-amzn-RequestId": request_id,
        }
        response: dict[str, Any] = {}
        if status == 200:
            response["ExecutedVersion"] = "$LATEST"
        response["Payload"] = _parse(raw) if raw else None
        response["SdkHttpMetadata"] = {
            "AllHttpHeaders": {k: [v] for k, v in headers.items()},
            "HttpHeaders": headers,
            "HttpStatusCode": status,
        }
        response["SdkResponseMetadata"] = {"RequestId": request_id}
        response["StatusCode"] = status
        return response


def _parse(raw: bytes) -> Any:
    """A Lambda's payload as JSON; text that is not JSON stays text."""
    text = raw.decode("utf-8", "replace") if isinstance(raw, bytes | bytearray) else raw
    try:
        return json.loads(text)
    except (TypeError, json.JSONDecodeError):
        return text


def _error_type(cause: str) -> str | None:
    try:
        body = json.loads(cause)
    except json.JSONDecodeError:
        return None
    error = body.get("errorType") if isinstance(body, dict) else None
    return error if isinstance(error, str) and error else None
