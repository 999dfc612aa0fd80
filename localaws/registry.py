"""Every AWS service the runtime serves: one line each.

A line names the service as botocore does (its model drives the wire protocol, request
validation and the operation names), the ``Runtime`` attribute that holds its backend, and
the backend class as ``"module:Class"``.  :class:`~localaws.runtime.Runtime` builds a backend
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
)

BY_ATTRIBUTE = {s.attribute: s for s in SERVICES}
BY_BOTOCORE_NAME = {s.botocore_name: s for s in SERVICES}
