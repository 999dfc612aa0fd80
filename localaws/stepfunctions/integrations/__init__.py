"""Step Functions service integrations: one module per service, mapped by resource ARN."""

from __future__ import annotations

from typing import TYPE_CHECKING

from localaws.asl.integrations import IntegrationRegistry

if TYPE_CHECKING:
    from localaws.runtime import Runtime


def default_registry(runtime: Runtime) -> IntegrationRegistry:
    """The integrations a runtime offers: test pass-through, Lambda, SageMaker, Step Functions
    (startExecution, activities)."""
    from localaws.stepfunctions.integrations.activity import ActivityIntegration
    from localaws.stepfunctions.integrations.aws_sdk import AwsSdkIntegration
    from localaws.stepfunctions.integrations.lambda_ import LambdaIntegration
    from localaws.stepfunctions.integrations.passthrough import PassthroughIntegration
    from localaws.stepfunctions.integrations.sagemaker import SageMakerIntegration
    from localaws.stepfunctions.integrations.states import StatesIntegration

    return IntegrationRegistry(
        [
            PassthroughIntegration(),
            LambdaIntegration(runtime),
            SageMakerIntegration(runtime),
            StatesIntegration(),
            ActivityIntegration(),
            AwsSdkIntegration(runtime),
        ]
    )
