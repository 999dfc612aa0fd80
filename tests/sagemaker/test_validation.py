"""Requests are checked against botocore's SageMaker model, with AWS's wording."""

from __future__ import annotations

import pytest

from localaws.botocore_model import UNKNOWN, RequestValidator, service_model, validate_request
from localaws.errors import ServiceError

ROLE = "arn:aws:iam::123456789012:role/SageMakerRole"


def training_request(**overrides):
    request = {
        "TrainingJobName": "job-1",
        "RoleArn": ROLE,
        "AlgorithmSpecification": {
            "TrainingImage": "img/sagemaker-xgboost:1.7-1",
            "TrainingInputMode": "File",
        },
        "OutputDataConfig": {"S3OutputPath": "s3://bucket/out"},
        "ResourceConfig": {"InstanceType": "ml.m5.xlarge", "InstanceCount": 1, "VolumeSizeInGB": 5},
        "StoppingCondition": {"MaxRuntimeInSeconds": 3600},
        "InputDataConfig": [
            {
                "ChannelName": "train",
                "DataSource": {"S3DataSource": {"S3DataType": "S3Prefix", "S3Uri": "s3://b/t"}},
            }
        ],
    }
    request.update(overrides)
    return request


def message(operation, request):
    with pytest.raises(ServiceError) as info:
        validate_request("sagemaker", operation, request)
    assert info.value.code == "ValidationException"
    return info.value.message


def test_valid_request_passes():
    validate_request("sagemaker", "CreateTrainingJob", training_request())


def test_name_pattern_uses_aws_wording():
    assert message("CreateTrainingJob", training_request(TrainingJobName="x y")) == (
        "1 validation error detected: Value 'x y' at 'trainingJobName' failed to satisfy constraint: "
        "Member must satisfy regular expression pattern: ^[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}"
    )


def test_length_and_pattern_both_reported():
    text = message("CreateTrainingJob", training_request(TrainingJobName="a" * 64))
    assert text.startswith(
        "1 validation error detected: Value '" + "a" * 64 + "' at 'trainingJobName'"
    )
    assert "Member must have length less than or equal to 63" in text


@pytest.mark.parametrize(
    ("overrides", "expected"),
    [
        pytest.param(
            {
                "ResourceConfig": {
                    "InstanceType": "ml.bogus",
                    "InstanceCount": 1,
                    "VolumeSizeInGB": 5,
                }
            },
            "Value 'ml.bogus' at 'resourceConfig.instanceType' failed to satisfy constraint: "
            "Member must satisfy enum value set: [",
            id="enum",
        ),
        pytest.param(
            {"StoppingCondition": {"MaxRuntimeInSeconds": 0}},
            "Value '0' at 'stoppingCondition.maxRuntimeInSeconds' failed to satisfy constraint: "
            "Member must have value greater than or equal to 1",
            id="range",
        ),
        pytest.param(
            {
                "InputDataConfig": [
                    {
                        "ChannelName": "bad name",
                        "DataSource": {
                            "S3DataSource": {"S3DataType": "S3Prefix", "S3Uri": "s3://b/t"}
                        },
                    }
                ]
            },
            "at 'inputDataConfig.1.member.channelName' failed to satisfy constraint: "
            "Member must satisfy regular expression pattern",
            id="nested-list",
        ),
        pytest.param(
            {"HyperParameters": {"num_round": "x" * 2600}},
            "at 'hyperParameters.num_round.value' failed to satisfy constraint: "
            "Member must have length less than or equal to 2500",
            id="map-value",
        ),
    ],
)
def test_constraints(overrides, expected):
    assert expected in message("CreateTrainingJob", training_request(**overrides))


def test_two_errors_counted():
    text = message(
        "CreateTrainingJob",
        training_request(TrainingJobName="x y", RoleArn="not-a-role-arn-but-long-enough"),
    )
    assert text.startswith("2 validation errors detected: ")
    assert "at 'roleArn'" in text


def test_missing_required_member():
    request = training_request()
    del request["RoleArn"]
    assert message("CreateTrainingJob", request) == 'Missing required parameter in input: "RoleArn"'


def test_missing_nested_required_member():
    request = training_request(AlgorithmSpecification={"TrainingImage": "img"})
    assert message("CreateTrainingJob", request) == (
        'Missing required parameter in AlgorithmSpecification: "TrainingInputMode"'
    )


def test_unknown_member():
    text = message("DescribeModel", {"ModelName": "m", "Bogus": 1})
    assert text.startswith('Unknown parameter in input: "Bogus", must be one of: ModelName')


def test_wrong_type():
    text = message("DescribeModel", {"ModelName": 5})
    assert text.startswith("Invalid type for parameter ModelName, value: 5")


def test_bool_is_not_an_integer():
    request = training_request(
        ResourceConfig={"InstanceType": "ml.m5.xlarge", "InstanceCount": True, "VolumeSizeInGB": 5}
    )
    assert "Invalid type for parameter ResourceConfig.InstanceCount" in message(
        "CreateTrainingJob", request
    )


def test_run_time_values_are_not_checked():
    validator = RequestValidator(service_model("sagemaker"))
    found = validator.problems(
        "CreateModel",
        {"ModelName": UNKNOWN, "ExecutionRoleArn": ROLE, "PrimaryContainer": {"Image": "i"}},
    )
    assert found.structural == [] and found.constraints == []


def test_generic_over_other_services():
    with pytest.raises(ServiceError) as info:
        validate_request("stepfunctions", "DescribeExecution", {})
    assert info.value.message == 'Missing required parameter in input: "executionArn"'
