"""InvokeEndpoint through the server: the event-loop path (a plain request) and the generic
route (any other SageMaker header) answer alike, errors included."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import botocore.exceptions
import pytest
from endpoint_support import csv_text, deploy_endpoint, features

from localaws.sagemaker import invoke_async

BUCKET = "invoke"


@pytest.fixture(scope="module")
def endpoint(server: Any) -> Iterator[str]:
    yield deploy_endpoint(server, "fast", BUCKET)


def test_plain_requests_take_the_event_loop_path() -> None:
    plain = {"content-type": "text/csv", "accept": "text/csv", "host": "127.0.0.1:1"}
    assert invoke_async.plain_request("POST", "/endpoints/fast/invocations", plain, b"1") == "fast"
    variant = {**plain, "x-amzn-sagemaker-target-variant": "AllTraffic"}
    assert invoke_async.plain_request("POST", "/endpoints/fast/invocations", variant, b"1") is None
    assert invoke_async.plain_request("GET", "/endpoints/fast/invocations", plain, b"1") is None
    assert invoke_async.plain_request("POST", "/endpoints/fast/invocations", plain, b"") is None
    assert invoke_async.plain_request("POST", "/endpoints/-bad/invocations", plain, b"1") is None
    huge = b"1" * (invoke_async.MAX_BODY + 1)
    assert invoke_async.plain_request("POST", "/endpoints/fast/invocations", plain, huge) is None


def test_both_paths_answer_alike(client: Callable[..., Any], endpoint: str) -> None:
    runtime = client("sagemaker-runtime")
    rows = csv_text(features(5, 3))
    fast = runtime.invoke_endpoint(EndpointName=endpoint, Body=rows, ContentType="text/csv")
    generic = runtime.invoke_endpoint(
        EndpointName=endpoint, Body=rows, ContentType="text/csv", TargetVariant="AllTraffic"
    )
    body = fast["Body"].read()
    assert body == generic["Body"].read()
    assert len([float(v) for v in body.decode().replace(",", "\n").split()]) == 5
    assert fast["ContentType"] == generic["ContentType"]
    assert fast["InvokedProductionVariant"] == generic["InvokedProductionVariant"] == "AllTraffic"


def test_errors_are_the_same_on_both_paths(client: Callable[..., Any], endpoint: str) -> None:
    runtime = client("sagemaker-runtime")

    def error(**request: Any) -> dict[str, Any]:
        with pytest.raises(botocore.exceptions.ClientError) as caught:
            runtime.invoke_endpoint(**request)
        response = caught.value.response
        return {
            **response["Error"],
            "status": response["ResponseMetadata"]["HTTPStatusCode"],
            "original": response.get("OriginalStatusCode"),
        }

    missing = error(EndpointName="nowhere", Body=b"1,2,3,4", ContentType="text/csv")
    assert missing["Code"] == "ValidationError" and "nowhere" in missing["Message"]
    bad = {"EndpointName": endpoint, "Body": b"1,2,3,4", "ContentType": "image/png"}
    fast = error(**bad)
    generic = error(**bad, TargetVariant="AllTraffic")
    assert fast == generic
    assert fast["Code"] == "ModelError" and fast["original"] == 415
    assert 'Received client error (415) from primary with message "' in fast["Message"]
