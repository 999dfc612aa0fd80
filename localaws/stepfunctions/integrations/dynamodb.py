"""Step Functions' DynamoDB integration: ``arn:aws:states:::dynamodb:<action>``.

The Parameters are the DynamoDB API request; the result is its response; an API error is
``DynamoDB.<exception>``.
"""

from __future__ import annotations

from typing import ClassVar

from localaws.asl.integrations import Pattern
from localaws.stepfunctions.integrations.mounted_api import MountedApiIntegration

SERVICE = "dynamodb"
RR = Pattern.REQUEST_RESPONSE
ACTIONS: dict[str, frozenset[Pattern]] = {
    "getItem": frozenset({RR}),
    "putItem": frozenset({RR}),
    "updateItem": frozenset({RR}),
    "deleteItem": frozenset({RR}),
}
BOTOCORE_SERVICE = "dynamodb"
ERROR_PREFIX = "DynamoDB"


class DynamoDBIntegration(MountedApiIntegration):
    SERVICE: ClassVar[str] = SERVICE
    ACTIONS: ClassVar[dict[str, frozenset[Pattern]]] = ACTIONS
    BOTOCORE_SERVICE: ClassVar[str] = BOTOCORE_SERVICE
    ERROR_PREFIX: ClassVar[str] = ERROR_PREFIX
