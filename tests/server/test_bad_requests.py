"""Bad requests over raw HTTP get AWS's error code and message, never a stack trace."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest
from signed_http import signed_headers

from localaws.server.serve import LocalServer

SFN = "application/x-amz-json-1.0"


def post_json(
    server: LocalServer, target: str, body: bytes, content_type: str = SFN
) -> httpx.Response:
    service = "states" if target.startswith("AWSStepFunctions") else "sagemaker"
    headers = {"X-Amz-Target": target, "Content-Type": content_type}
    url = server.url + "/"
    return httpx.post(
        url,
        content=body,
        headers=signed_headers("POST", url, body, service=service, headers=headers),
    )


def assert_aws_error(response: httpx.Response, code: str, status: int = 400) -> dict[str, Any]:
    assert response.status_code == status, response.text
    doc = response.json()
    assert doc["__type"] == code
    assert doc["message"]
    assert "Traceback" not in response.text
    return doc  # type: ignore[no-any-return]


@pytest.mark.parametrize(
    ("target", "body", "code", "message"),
    [
        ("AWSStepFunctions.DoSomething", b"{}", "UnknownOperationException", "DoSomething"),
        ("NoSuchService.DoSomething", b"{}", "UnknownOperationException", "NoSuchService"),
        ("AWSStepFunctions.ListStateMachines", b"{not json", "SerializationException", "JSON"),
        ("AWSStepFunctions.ListStateMachines", b"[1, 2]", "SerializationException", "object"),
        (
            "AWSStepFunctions.StartExecution",
            b"{}",
            "ValidationException",
            'Missing required parameter in input: "stateMachineArn"',
        ),
        (
            "AWSStepFunctions.CreateStateMachine",
            b'{"name": "x", "roleArn": "arn:aws:iam::123456789012:role/r"}',
            "ValidationException",
            '"definition"',
        ),
        (
            "AWSStepFunctions.ListExecutions",
            b'{"stateMachineArn": 5}',
            "ValidationException",
            "Invalid type for parameter stateMachineArn",
        ),
        (
            "AWSStepFunctions.DescribeStateMachine",
            json.dumps(
                {"stateMachineArn": "arn:aws:states:us-east-1:123456789012:stateMachine:ghost"}
            ).encode(),
            "StateMachineDoesNotExist",
            "ghost",
        ),
    ],
    ids=[
        "unknown-action",
        "unknown-service",
        "malformed-json",
        "not-an-object",
        "missing-member",
        "missing-definition",
        "wrong-type",
        "unknown-state-machine",
    ],
)
def test_step_functions_bad_requests(
    server: LocalServer, target: str, body: bytes, code: str, message: str
) -> None:
    doc = assert_aws_error(post_json(server, target, body), code)
    assert message in doc["message"]


def test_sagemaker_errors_use_json_1_1(server: LocalServer) -> None:
    response = post_json(
        server,
        "SageMaker.DescribeTrainingJob",
        b"{}",
        content_type="application/x-amz-json-1.1",
    )
    doc = assert_aws_error(response, "ValidationException")
    assert '"TrainingJobName"' in doc["message"]
    assert response.headers["content-type"] == "application/x-amz-json-1.1"


def test_unknown_rest_api_is_an_aws_error(server: LocalServer) -> None:
    url = server.url + "/2099-01-01/nothing"
    response = httpx.get(url, headers=signed_headers("GET", url, service="lambda"))
    assert response.status_code == 404
    assert response.headers["x-amzn-ErrorType"] == "UnknownOperationException"
    assert "Traceback" not in response.text


def test_unsigned_requests_go_to_the_console(server: LocalServer) -> None:
    response = httpx.get(server.url + "/")
    assert response.status_code == 200
    assert "text/html" in response.headers["content-type"]
    console = {"X-Localaws-Console": "1"}
    assert httpx.get(server.url + "/console/api/anything", headers=console).status_code == 404
