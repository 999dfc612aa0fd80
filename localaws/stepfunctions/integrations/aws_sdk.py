"""AWS SDK integrations: ``arn:aws:states:::aws-sdk:<service>:<action>`` calls any API the
local runtime serves (request-response, or ``.waitForTaskToken``).

``<service>`` is the SDK's service name (``s3``, ``sagemaker``, ``lambda``, ``sfn``,
``dynamodb`` ...) and ``<action>`` the operation in camelCase (``getObject``,
``describeTrainingJob``).  Both are checked against botocore's model and the runtime's
service registry when the definition is created; an unknown one is refused with the ARN
named.  As on AWS, ``Parameters`` are the operation's request members written in
PascalCase (``"StateMachineArn"`` for Step Functions' ``stateMachineArn``), nested members
too; the result is the response with its member names in PascalCase (timestamps as ISO
8601 text, a blob such as S3's ``Body`` as text).

An API error fails the task with ``<Service>.<ErrorCode>``: ``S3.NoSuchKey``,
``SageMaker.ResourceNotFound``, ``Sfn.ExecutionDoesNotExist``.
"""

from __future__ import annotations

import base64
import hashlib
from datetime import datetime
from typing import TYPE_CHECKING, Any, ClassVar

from botocore.model import ListShape, MapShape, OperationModel, Shape, StructureShape

from localaws import registry
from localaws.asl.errors import StateFailure
from localaws.asl.integrations import Integration, Pattern, TaskRequest, UnknownResource
from localaws.botocore_model import service_model, snake_case
from localaws.errors import ServiceError
from localaws.s3.backend import S3Error

if TYPE_CHECKING:
    from localaws.runtime import Runtime

SERVICE = "aws-sdk"
PATTERNS = frozenset({Pattern.REQUEST_RESPONSE, Pattern.WAIT_FOR_TASK_TOKEN})
# SDK service name -> botocore service name, where they differ.
SDK_TO_BOTOCORE = {
    "sfn": "stepfunctions",
    "sagemakerruntime": "sagemaker-runtime",
    "eventbridge": "events",
    "cloudwatchlogs": "logs",
}
# The service part of error names (the SDK's client name), where it is not botocore's
# serviceId without spaces.
ERROR_PREFIX = {"sfn": "Sfn", "dynamodb": "DynamoDb", "sqs": "Sqs", "sns": "Sns"}
# S3 operations the object store answers (it has no botocore-shaped methods).
S3_ACTIONS = ("GetObject", "PutObject", "HeadObject", "DeleteObject", "ListObjectsV2")


def _operation(sdk_service: str, action: str) -> tuple[str, OperationModel]:
    """(botocore service, operation model) of an aws-sdk resource, or UnknownResource."""
    arn = f"arn:aws:states:::aws-sdk:{sdk_service}:{action}"
    botocore_name = SDK_TO_BOTOCORE.get(sdk_service, sdk_service)
    served = registry.BY_BOTOCORE_NAME.get(botocore_name)
    if served is None:
        raise UnknownResource(
            f"Resource {arn!r}: the local runtime does not serve {sdk_service!r}; it serves "
            + ", ".join(sorted(registry.BY_BOTOCORE_NAME))
        )
    model = service_model(botocore_name)
    name = action[:1].upper() + action[1:]
    if name not in model.operation_names:
        raise UnknownResource(
            f"Resource {arn!r}: {sdk_service} has no action {action!r} (botocore's "
            f"{model.service_name} model has no operation {name})"
        )
    if botocore_name == "s3":
        if name not in S3_ACTIONS:
            raise UnknownResource(
                f"Resource {arn!r}: locally, aws-sdk:s3 offers "
                + ", ".join(a[:1].lower() + a[1:] for a in S3_ACTIONS)
            )
    elif served.moto:
        if not _moto_implements(botocore_name, name):
            raise UnknownResource(
                f"Resource {arn!r}: the local {sdk_service} (moto's) does not implement {name}"
            )
    elif not hasattr(served.backend_class(), snake_case(name)):
        raise UnknownResource(
            f"Resource {arn!r}: the local {sdk_service} does not implement {name}"
        )
    return botocore_name, model.operation_model(name)


def _moto_implements(service: str, operation: str) -> bool:
    """Whether moto's response class of a mounted service answers ``operation`` (a
    ``MotoBackend`` forwards every operation, so its class cannot tell)."""
    import importlib

    from moto.core.responses import BaseResponse

    from localaws.motobridge.services import MOUNTED

    module = importlib.import_module(f"moto.{MOUNTED[service]}.responses")
    method = snake_case(operation)
    return any(
        isinstance(c, type) and issubclass(c, BaseResponse) and hasattr(c, method)
        for c in vars(module).values()
    )


def _to_request(shape: Shape | None, value: Any, where: str) -> Any:
    """PascalCase parameters -> the operation's member names (nested too)."""
    if isinstance(shape, StructureShape) and isinstance(value, dict):
        by_lower = {m.lower(): m for m in shape.members}
        out = {}
        for key, item in value.items():
            member = by_lower.get(key.lower())
            if member is None:
                raise StateFailure(
                    "States.Runtime",
                    f"{where}.{key}: not a member of {shape.name}; members: "
                    + ", ".join(m[:1].upper() + m[1:] for m in shape.members),
                )
            out[member] = _to_request(shape.members[member], item, f"{where}.{key}")
        return out
    if isinstance(shape, ListShape) and isinstance(value, list):
        return [_to_request(shape.member, v, where) for v in value]
    if isinstance(shape, MapShape) and isinstance(value, dict):
        return {k: _to_request(shape.value, v, where) for k, v in value.items()}
    return value


def _to_result(value: Any) -> Any:
    """A response as the task's result: PascalCase names, JSON values."""
    if isinstance(value, dict):
        return {k[:1].upper() + k[1:]: _to_result(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_to_result(v) for v in value]
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, bytes | bytearray):
        try:
            return value.decode()
        except UnicodeDecodeError:
            return base64.b64encode(value).decode()
    return value


class AwsSdkIntegration(Integration):
    SERVICE: ClassVar[str] = SERVICE
    ACTIONS: ClassVar[dict[str, frozenset[Pattern]]] = {}

    def __init__(self, runtime: Runtime):
        self.runtime = runtime

    def patterns(self, action: str) -> frozenset[Pattern] | None:
        sdk_service, _, name = action.partition(":")
        if not name:
            raise UnknownResource(
                f"Resource 'arn:aws:states:::aws-sdk:{action}': expected "
                "arn:aws:states:::aws-sdk:<service>:<action>"
            )
        _operation(sdk_service, name)
        return PATTERNS

    def validate(self, action: str, pattern: Pattern, parameters: Any, where: str) -> list[str]:
        sdk_service, _, name = action.partition(":")
        _, operation = _operation(sdk_service, name)
        if not isinstance(parameters, dict):
            return []
        members = {m.lower() for m in operation.input_shape.members}
        return [
            f"{where}.Parameters.{key}: not a parameter of {sdk_service}:{name}; use "
            + ", ".join(m[:1].upper() + m[1:] for m in operation.input_shape.members)
            for key in parameters
            if key.removesuffix(".$").lower() not in members
        ]

    def run(self, request: TaskRequest) -> Any:
        sdk_service, _, name = request.action.partition(":")
        botocore_name, operation = _operation(sdk_service, name)
        params = _to_request(
            operation.input_shape, request.parameters or {}, f"{request.state_name}.Parameters"
        )
        prefix = ERROR_PREFIX.get(
            sdk_service, service_model(botocore_name).metadata["serviceId"].replace(" ", "")
        )
        try:
            if botocore_name == "s3":
                response = _S3(self.runtime).call(operation.name, params)
            else:
                attribute = registry.BY_BOTOCORE_NAME[botocore_name].attribute
                method = getattr(getattr(self.runtime, attribute), snake_case(operation.name))
                response = method(**params)
        except ServiceError as e:
            raise StateFailure(f"{prefix}.{e.code}", e.message) from e
        except S3Error as e:
            raise StateFailure(f"{prefix}.{e.code}", e.message) from e
        except TypeError as e:
            raise StateFailure(f"{prefix}.ValidationException", f"{operation.name}: {e}") from e
        return _to_result(response or {})


class _S3:
    """The S3 operations aws-sdk:s3 offers, over the runtime's object store."""

    def __init__(self, runtime: Runtime):
        self.store = runtime.s3

    def call(self, operation: str, params: dict[str, Any]) -> dict[str, Any]:
        bucket = params.get("Bucket")
        if not isinstance(bucket, str):
            raise S3Error("InvalidArgument", f"{operation}: Bucket is required")
        if operation == "ListObjectsV2":
            prefix = str(params.get("Prefix", ""))
            infos = [self.store.info(bucket, k) for k in self.store.list_keys(bucket, prefix)]
            limit = int(params.get("MaxKeys", 1000))
            contents = [
                {
                    "Key": i.key,
                    "Size": i.size,
                    "ETag": i.etag,
                    "LastModified": i.last_modified,
                    "StorageClass": "STANDARD",
                }
                for i in infos[:limit]
            ]
            return {
                "Name": bucket,
                "Prefix": prefix,
                "KeyCount": len(contents),
                "MaxKeys": limit,
                "IsTruncated": len(infos) > limit,
                "Contents": contents,
            }
        key = params.get("Key")
        if not isinstance(key, str):
            raise S3Error("InvalidArgument", f"{operation}: Key is required")
        if operation == "PutObject":
            body = params.get("Body", b"")
            data = body.encode() if isinstance(body, str) else bytes(body)
            out, temp = self.store.new_temp()
            with out:
                out.write(data)
            etag = '"' + hashlib.md5(data).hexdigest() + '"'
            self.store.commit(
                temp, bucket, key, etag, params.get("ContentType"), params.get("Metadata") or {}
            )
            return {"ETag": etag}
        if operation == "DeleteObject":
            self.store.delete(bucket, key)
            return {}
        info = self.store.info(bucket, key)
        head = {
            "ContentLength": info.size,
            "ContentType": info.content_type,
            "ETag": info.etag,
            "LastModified": info.last_modified,
            "Metadata": info.metadata,
        }
        if operation == "HeadObject":
            return head
        return {**head, "Body": self.store.object_path(bucket, key).read_bytes()}
