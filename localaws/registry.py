"""Every AWS service the runtime serves: one line each.

A line names the service as botocore does (its model drives the wire protocol, request
validation and the operation names), the ``Runtime`` attribute that holds its backend, and
the backend class as ``"module:Class"``, and whether moto serves it (``moto=True``: the
server hands its requests, unparsed, to :mod:`localaws.motobridge`).  :class:`~localaws.runtime.Runtime` builds a backend
from its line on first use (``Class(runtime)``), recovers and closes them in this order
(closing in reverse); the server finds a request's backend here.  Adding a service is one
package under ``localaws/`` and one line below.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Service:
    botocore_name: str  # botocore's service name: "stepfunctions", "sagemaker-runtime"
    attribute: str  # the Runtime attribute: rt.stepfunctions, rt.sagemaker_runtime
    backend: str  # "module:Class"; Class(runtime) builds it
    moto: bool = False  # served by moto behind localaws.motobridge, which parses the wire

    def backend_class(self) -> type[Any]:
        module, _, name = self.backend.partition(":")
        cls: type[Any] = getattr(importlib.import_module(module), name)
        return cls


SERVICES = (
    Service("s3", "s3", "localaws.s3.backend:ObjectStore"),
    Service("lambda", "lambda_", "localaws.lambda_.backend:LambdaBackend"),
    Service("sagemaker", "sagemaker", "localaws.sagemaker.backend:SageMakerBackend"),
    Service(
        "sagemaker-runtime",
        "sagemaker_runtime",
        "localaws.sagemaker.hosting:SageMakerRuntimeBackend",
    ),
    Service(
        "sagemaker-featurestore-runtime",
        "sagemaker_featurestore_runtime",
        "localaws.sagemaker.featurestore:FeatureStoreRuntimeBackend",
    ),
    Service(
        "stepfunctions", "stepfunctions", "localaws.stepfunctions.backend:StepFunctionsBackend"
    ),
    # moto's implementations, mounted behind the server and made durable (issue 12).
    Service("dynamodb", "dynamodb", "localaws.dynamodb.backend:DynamoDBBackend", moto=True),
    Service(
        "dynamodbstreams",
        "dynamodbstreams",
        "localaws.dynamodb.backend:DynamoDBStreamsBackend",
        moto=True,
    ),
    Service("sqs", "sqs", "localaws.sqs.backend:SQSBackend", moto=True),
    Service("sns", "sns", "localaws.sns.backend:SNSBackend", moto=True),
    Service("kinesis", "kinesis", "localaws.kinesis.backend:KinesisBackend", moto=True),
    Service("firehose", "firehose", "localaws.firehose.backend:FirehoseBackend", moto=True),
    Service("events", "events", "localaws.events.backend:EventsBackend", moto=True),
    Service("scheduler", "scheduler", "localaws.events.backend:SchedulerBackend", moto=True),
    Service("apigateway", "apigateway", "localaws.apigateway.backend:APIGatewayBackend", moto=True),
    Service(
        "apigatewayv2",
        "apigatewayv2",
        "localaws.apigateway.backend:APIGatewayV2Backend",
        moto=True,
    ),
    Service("glue", "glue", "localaws.glue.backend:GlueBackend", moto=True),
    Service("athena", "athena", "localaws.athena.backend:AthenaBackend", moto=True),
    Service("logs", "logs", "localaws.logs.backend:LogsBackend", moto=True),
    Service("sts", "sts", "localaws.sts.backend:STSBackend", moto=True),
    Service("iam", "iam", "localaws.iam.backend:IAMBackend", moto=True),
)

BY_ATTRIBUTE = {s.attribute: s for s in SERVICES}
BY_BOTOCORE_NAME = {s.botocore_name: s for s in SERVICES}
