"""Lambda and SageMaker over HTTP (REST-JSON and JSON 1.1) with boto3."""

from __future__ import annotations

import io
import json
import zipfile
from collections.abc import Callable
from typing import Any

import botocore.exceptions
import pytest
from server_shapes import assert_output_shape

ROLE = "arn:aws:iam::123456789012:role/lambda-role"
HANDLER = """
class TooBigError(Exception):
    pass


def handler(event, context):
    if event.get("n", 0) > 100:
        raise TooBigError(f"n={event['n']} is over 100")
    print("doubling", event.get("n"))
    return {"double": event.get("n", 0) * 2, "function": context.function_name}
"""


def tiny_zip() -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("app.py", HANDLER)
    return buf.getvalue()


@pytest.fixture
def doubler(client: Callable[..., Any]) -> Any:
    lam = client("lambda")
    created = lam.create_function(
        FunctionName="doubler",
        Runtime="python3.11",
        Role=ROLE,
        Handler="app.handler",
        Code={"ZipFile": tiny_zip()},
        Timeout=30,
    )
    assert_output_shape(lam, "CreateFunction", created)
    yield lam
    lam.delete_function(FunctionName="doubler")


def test_lambda_invoke(doubler: Any) -> None:
    lam = doubler
    result = lam.invoke(FunctionName="doubler", Payload=json.dumps({"n": 21}), LogType="Tail")
    assert_output_shape(lam, "Invoke", result)
    assert result["StatusCode"] == 200
    assert "FunctionError" not in result
    assert json.loads(result["Payload"].read()) == {"double": 42, "function": "doubler"}


def test_lambda_function_error(doubler: Any) -> None:
    result = doubler.invoke(FunctionName="doubler", Payload=json.dumps({"n": 101}))
    assert result["FunctionError"] == "Unhandled"
    error = json.loads(result["Payload"].read())
    assert error["errorType"] == "TooBigError"
    assert "over 100" in error["errorMessage"]


def test_lambda_management(doubler: Any) -> None:
    lam = doubler
    got = lam.get_function(FunctionName="doubler")
    assert_output_shape(lam, "GetFunction", got)
    assert got["Configuration"]["Handler"] == "app.handler"
    listed = lam.list_functions()
    assert_output_shape(lam, "ListFunctions", listed)
    assert "doubler" in [f["FunctionName"] for f in listed["Functions"]]
    config = lam.get_function_configuration(FunctionName="doubler")
    assert config["Timeout"] == 30


def test_lambda_errors(client: Callable[..., Any]) -> None:
    lam = client("lambda")
    with pytest.raises(lam.exceptions.ResourceNotFoundException):
        lam.invoke(FunctionName="no-such-function", Payload=b"{}")
    with pytest.raises(botocore.exceptions.ClientError) as caught:
        lam.get_function(FunctionName="no-such-function")
    assert caught.value.response["Error"]["Code"] == "ResourceNotFoundException"


def test_sagemaker_describe_and_list(client: Callable[..., Any]) -> None:
    sm = client("sagemaker")
    for operation, call in [
        ("ListTrainingJobs", sm.list_training_jobs),
        ("ListEndpoints", sm.list_endpoints),
    ]:
        response = call()
        assert_output_shape(sm, operation, response)
    with pytest.raises(botocore.exceptions.ClientError) as caught:
        sm.describe_training_job(TrainingJobName="never-started")
    assert caught.value.response["Error"]["Code"] == "ValidationException"
    with pytest.raises(botocore.exceptions.ClientError) as caught:
        sm.describe_endpoint(EndpointName="no-endpoint")
    assert caught.value.response["Error"]["Code"] == "ValidationException"
    with pytest.raises(botocore.exceptions.ClientError) as caught:
        sm.describe_training_job(TrainingJobName="bad name!")
    assert "failed to satisfy constraint" in caught.value.response["Error"]["Message"]


def test_sagemaker_model_round_trip(client: Callable[..., Any]) -> None:
    sm = client("sagemaker")
    created = sm.create_model(
        ModelName="http-model",
        PrimaryContainer={
            "Image": "683313688378.dkr.ecr.us-east-1.amazonaws.com/sagemaker-xgboost:1.7-1",
            "ModelDataUrl": "s3://models-bucket/model.tar.gz",
        },
        ExecutionRoleArn="arn:aws:iam::123456789012:role/sagemaker",
    )
    assert_output_shape(sm, "CreateModel", created)
    described = sm.describe_model(ModelName="http-model")
    assert_output_shape(sm, "DescribeModel", described)
    assert described["ModelArn"] == created["ModelArn"]
    sm.delete_model(ModelName="http-model")


def test_invoke_unknown_endpoint(client: Callable[..., Any]) -> None:
    runtime = client("sagemaker-runtime")
    with pytest.raises(botocore.exceptions.ClientError) as caught:
        runtime.invoke_endpoint(EndpointName="no-endpoint", Body=b"1,2,3", ContentType="text/csv")
    assert caught.value.response["Error"]["Code"] == "ValidationError"
    assert "no-endpoint" in caught.value.response["Error"]["Message"]
