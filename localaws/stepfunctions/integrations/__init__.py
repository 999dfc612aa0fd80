"""Step Functions service integrations: one module per service, mapped by resource ARN."""

from __future__ import annotations

from typing import TYPE_CHECKING

from localaws.asl.integrations import IntegrationRegistry

if TYPE_CHECKING:
    from localaws.runtime import Runtime


def default_registry(runtime: Runtime) -> IntegrationRegistry:
    """The integrations a runtime offers: test pass-through, Lambda, SageMaker, Step Functions
    (startExecution, activities, aws-sdk:*), and the services moto serves (DynamoDB, SQS,
    SNS, EventBridge, Glue, Athena, API Gateway)."""
    from localaws.stepfunctions.integrations.activity import ActivityIntegration
    from localaws.stepfunctions.integrations.apigateway import ApiGatewayIntegration
    from localaws.stepfunctions.integrations.athena import AthenaIntegration
    from localaws.stepfunctions.integrations.aws_sdk import AwsSdkIntegration
    from localaws.stepfunctions.integrations.dynamodb import DynamoDBIntegration
    from localaws.stepfunctions.integrations.events import EventBridgeIntegration
    from localaws.stepfunctions.integrations.glue import GlueIntegration
    from localaws.stepfunctions.integrations.lambda_ import LambdaIntegration
    from localaws.stepfunctions.integrations.passthrough import PassthroughIntegration
    from localaws.stepfunctions.integrations.sagemaker import SageMakerIntegration
    from localaws.stepfunctions.integrations.sns import SNSIntegration
    from localaws.stepfunctions.integrations.sqs import SQSIntegration
    from localaws.stepfunctions.integrations.states import StatesIntegration

    return IntegrationRegistry(
        [
            PassthroughIntegration(),
            LambdaIntegration(runtime),
            SageMakerIntegration(runtime),
            DynamoDBIntegration(runtime),
            SQSIntegration(runtime),
            SNSIntegration(runtime),
            EventBridgeIntegration(runtime),
            GlueIntegration(runtime),
            AthenaIntegration(runtime),
            ApiGatewayIntegration(runtime),
            StatesIntegration(),
            ActivityIntegration(),
            AwsSdkIntegration(runtime),
        ]
    )
