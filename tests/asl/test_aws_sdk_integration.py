"""arn:aws:states:::aws-sdk:<service>:<action>: any API of the local runtime, PascalCase
parameters and results, <Service>.<ErrorCode> errors, unknown ARNs refused at creation."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from sfn_helpers import chain, create, execute

from localaws.errors import ServiceError
from localaws.runtime import Runtime
from localaws.stepfunctions.backend import StepFunctionsBackend
from localaws.stepfunctions.integrations import default_registry


@pytest.fixture
def sfn(tmp_path: Any) -> Iterator[StepFunctionsBackend]:
    runtime = Runtime(tmp_path / "state")
    backend = StepFunctionsBackend(runtime, default_registry(runtime))
    yield backend
    backend.close()
    backend.db.close()


def sdk(action: str, parameters: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {
        "Type": "Task",
        "Resource": f"arn:aws:states:::aws-sdk:{action}",
        "Parameters": parameters,
        **extra,
    }


def test_s3_put_then_get_object(sfn: StepFunctionsBackend) -> None:
    sfn.runtime.s3.create_bucket("sdk")
    done = execute(
        sfn,
        chain(
            (
                "Put",
                sdk(
                    "s3:putObject",
                    {"Bucket": "sdk", "Key": "a.json", "Body.$": "$.body"},
                    ResultPath=None,
                ),
            ),
            (
                "Get",
                sdk(
                    "s3:getObject",
                    {"Bucket": "sdk", "Key": "a.json"},
                    ResultSelector={"body.$": "$.Body", "size.$": "$.ContentLength"},
                ),
            ),
        ),
        {"body": "hello"},
    )
    assert done["status"] == "SUCCEEDED", done
    assert json.loads(done["output"]) == {"body": "hello", "size": 5}


def test_s3_missing_key_fails_with_s3_no_such_key(sfn: StepFunctionsBackend) -> None:
    sfn.runtime.s3.create_bucket("sdk")
    done = execute(sfn, chain(("Get", sdk("s3:getObject", {"Bucket": "sdk", "Key": "nope"}))))
    assert done["status"] == "FAILED"
    assert done["error"] == "S3.NoSuchKey"


def test_camel_case_api_takes_pascal_case_parameters(sfn: StepFunctionsBackend) -> None:
    inner = create(
        sfn, {"StartAt": "P", "States": {"P": {"Type": "Pass", "End": True}}}, name="inner"
    )
    done = execute(
        sfn,
        chain(("Describe", sdk("sfn:describeStateMachine", {"StateMachineArn": inner}))),
        name="outer",
    )
    out = json.loads(done["output"])
    assert out["StateMachineArn"] == inner
    assert out["Name"] == "inner"
    assert isinstance(out["CreationDate"], str)


def test_sagemaker_error_is_named_after_the_service(sfn: StepFunctionsBackend) -> None:
    done = execute(
        sfn,
        chain(("Describe", sdk("sagemaker:describeTrainingJob", {"TrainingJobName": "missing"}))),
    )
    assert done["status"] == "FAILED"
    # AWS answers DescribeTrainingJob for an unknown job with ValidationException.
    assert done["error"] == "SageMaker.ValidationException"
    assert done["cause"] == "Requested resource not found."


@pytest.mark.parametrize(
    ("resource", "named"),
    [
        ("arn:aws:states:::aws-sdk:s3:getObjekt", "getObjekt"),
        ("arn:aws:states:::aws-sdk:nosuchservice:doThing", "nosuchservice"),
        ("arn:aws:states:::aws-sdk:s3:createBucket", "createBucket"),
    ],
    ids=["unknown-action", "unknown-service", "s3-action-not-offered"],
)
def test_unknown_resource_is_refused_at_creation(
    sfn: StepFunctionsBackend, resource: str, named: str
) -> None:
    with pytest.raises(ServiceError) as e:
        create(sfn, chain(("T", {"Type": "Task", "Resource": resource})))
    assert e.value.code == "InvalidDefinition"
    assert resource in e.value.message and named in e.value.message


def test_unknown_parameter_is_refused_at_creation(sfn: StepFunctionsBackend) -> None:
    with pytest.raises(ServiceError) as e:
        create(sfn, chain(("T", sdk("s3:getObject", {"Bucket": "b", "Kee": "k"}))))
    assert "Kee" in e.value.message and "Key" in e.value.message
