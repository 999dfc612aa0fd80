"""Step Functions service integrations: one module per service, mapped by resource ARN."""

from __future__ import annotations

from typing import TYPE_CHECKING

from localaws.asl.integrations import IntegrationRegistry

if TYPE_CHECKING:
    from localaws.runtime import Runtime


def default_registry(runtime: Runtime) -> IntegrationRegistry:
    """The integrations a runtime offers: test pass-through, Lambda, SageMaker."""
    from localaws.services.lambda_invoke import LambdaIntegration
    from localaws.services.passthrough import PassthroughIntegration
    from localaws.services.sagemaker_tasks import SageMakerIntegration

    return IntegrationRegistry(
        [
            PassthroughIntegration(),
            LambdaIntegration(runtime),
            SageMakerIntegration(runtime),
        ]
    )
