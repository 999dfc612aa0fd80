"""The shape shared by the integrations of the services moto serves (DynamoDB, SQS, SNS,
EventBridge): ``arn:aws:states:::<service>:<action>``, whose Parameters are the API request.

Each module declares its ``SERVICE``, ``ACTIONS`` (action -> patterns), the botocore service
it calls and ``ERROR_PREFIX``; this class does the rest: checks at definition time that the
static Parameters name the operation's required members, calls the runtime's backend of the
service (so the call is journaled like any other) and returns the API response.  An API error
becomes ``<ERROR_PREFIX>.<exception>`` with AWS's exception names
(``DynamoDB.ConditionalCheckFailedException``, ``SQS.QueueDoesNotExistException``); the
cause is the service's message.  With ``.waitForTaskToken`` the call is made and the engine
waits for the token.
"""

from __future__ import annotations

import base64
from collections.abc import Mapping
from datetime import datetime
from functools import cache
from typing import TYPE_CHECKING, Any, ClassVar

from botocore import xform_name

from localaws.asl.errors import StateFailure
from localaws.asl.integrations import Integration, Pattern, TaskRequest
from localaws.errors import ServiceError

if TYPE_CHECKING:
    from localaws.runtime import Runtime


def operation_name(action: str) -> str:
    """``putItem`` -> ``PutItem``."""
    return action[:1].upper() + action[1:]


@cache
def exception_names(botocore_service: str) -> dict[str, str]:
    """Error code on the wire -> the exception's name (``Exception`` appended when the
    model's shape lacks it, as the AWS SDK for Java, whose names Step Functions uses)."""
    from localaws.motobridge.services import service_model

    names: dict[str, str] = {}
    for shape in service_model(botocore_service).error_shapes:
        name = shape.name if shape.name.endswith("Exception") else f"{shape.name}Exception"
        query_code = shape.metadata.get("error", {}).get("code")  # awsQueryError (SQS, SNS)
        for code in {shape.name, shape.error_code, query_code} - {None}:
            names[code] = name
    return names


def json_text(value: Any) -> Any:
    """A member Step Functions sends as text: a JSON object or array is serialised."""
    import json

    return json.dumps(value, separators=(",", ":")) if isinstance(value, dict | list) else value


def to_json(value: Any) -> Any:
    """An API response -> JSON values: timestamps as epoch milliseconds, binary as base64."""
    if isinstance(value, datetime):
        return int(value.timestamp() * 1000)
    if isinstance(value, dict):
        return {k: to_json(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set):
        return [to_json(v) for v in value]
    if isinstance(value, bytes | bytearray):
        return base64.b64encode(value).decode()
    return value


class MountedApiIntegration(Integration):
    SERVICE: ClassVar[str]
    ACTIONS: ClassVar[Mapping[str, frozenset[Pattern]]]
    BOTOCORE_SERVICE: ClassVar[str]
    ERROR_PREFIX: ClassVar[str]

    def __init__(self, runtime: Runtime):
        self.runtime = runtime

    def validate(self, action: str, pattern: Pattern, parameters: Any, where: str) -> list[str]:
        from localaws.motobridge.services import service_model

        operation = operation_name(action)
        if parameters is None:
            parameters = {}
        if not isinstance(parameters, dict):
            return [f"{where}.Parameters: must be an object holding the {operation} request"]
        shape = service_model(self.BOTOCORE_SERVICE).operation_model(operation).input_shape
        given = {k[:-2] if k.endswith(".$") else k for k in parameters}
        problems = [
            f"{where}.Parameters.{member}: required by {self.SERVICE}:{action}; add it "
            f'(or "{member}.$" with a path)'
            for member in (shape.required_members if shape is not None else [])
            if member not in given
        ]
        unknown = sorted(given - set(shape.members if shape is not None else {}))
        problems += [
            f"{where}.Parameters.{member}: not a member of the {operation} request; "
            f"members: {', '.join(shape.members) if shape is not None else 'none'}"
            for member in unknown
        ]
        return problems

    def prepare(self, action: str, params: dict[str, Any]) -> dict[str, Any]:
        """The request to send for ``params`` (a module overrides it to encode members)."""
        return params

    def run(self, request: TaskRequest) -> Any:
        from botocore.exceptions import ParamValidationError

        params = request.parameters if isinstance(request.parameters, dict) else {}
        params = self.prepare(request.action, dict(params))
        backend = self.runtime.backend(self.BOTOCORE_SERVICE)
        method = getattr(backend, xform_name(operation_name(request.action)))
        try:
            return to_json(method(**params))
        except ServiceError as e:
            name = exception_names(self.BOTOCORE_SERVICE).get(e.code, e.code)
            raise StateFailure(f"{self.ERROR_PREFIX}.{name}", e.message) from e
        except ParamValidationError as e:
            raise StateFailure(f"{self.ERROR_PREFIX}.ValidationException", str(e)) from e
