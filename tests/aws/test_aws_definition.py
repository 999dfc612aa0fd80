"""The ASL in the template, checked by tools that know AWS and are not our engine.

* Validity: moto's Step Functions provider, whose ASL parser and static analyser are
  LocalStack's (an ANTLR grammar of the language, maintained against AWS's behaviour),
  through the public ``CreateStateMachine`` API, which refuses an invalid definition; cfn-lint's E3601 also checks the
  definition against AWS's ASL schema (see test_aws_template.py).
* Requests: each Task's ``Parameters``, with JSONPath members and ``${...}`` substitutions
  replaced by typed sample values, validate against the botocore input shape of the API the
  integration calls.
"""

from __future__ import annotations

import datetime
import json
import re
import subprocess
from pathlib import Path
from typing import Any

import botocore.session
import pytest
from botocore.validate import ParamValidator

from workflows import aws_template as tpl

# Step Functions integration resource -> (botocore service, operation)
INTEGRATIONS = {
    "arn:aws:states:::lambda:invoke": ("lambda", "Invoke"),
    "arn:aws:states:::sagemaker:createTrainingJob.sync": ("sagemaker", "CreateTrainingJob"),
    "arn:aws:states:::sagemaker:createTransformJob.sync": ("sagemaker", "CreateTransformJob"),
    "arn:aws:states:::sagemaker:createModel": ("sagemaker", "CreateModel"),
    "arn:aws:states:::sagemaker:createEndpointConfig": ("sagemaker", "CreateEndpointConfig"),
    "arn:aws:states:::sagemaker:createEndpoint": ("sagemaker", "CreateEndpoint"),
    "arn:aws:states:::sagemaker:updateEndpoint": ("sagemaker", "UpdateEndpoint"),
    "arn:aws:states:::aws-sdk:sagemaker:describeEndpoint": ("sagemaker", "DescribeEndpoint"),
    "arn:aws:states:::sagemaker:createProcessingJob.sync": ("sagemaker", "CreateProcessingJob"),
    "arn:aws:states:::aws-sdk:sagemaker:createModelPackage": ("sagemaker", "CreateModelPackage"),
    "arn:aws:states:::aws-sdk:sagemaker:listModelPackages": ("sagemaker", "ListModelPackages"),
    "arn:aws:states:::aws-sdk:sagemaker:createMonitoringSchedule": (
        "sagemaker",
        "CreateMonitoringSchedule",
    ),
    "arn:aws:states:::aws-sdk:sagemaker:updateMonitoringSchedule": (
        "sagemaker",
        "UpdateMonitoringSchedule",
    ),
}

# What CloudFormation puts where the definition says ${Variable}.
SUBSTITUTED = {
    "SageMakerRoleArn": "arn:aws:iam::111122223333:role/stack-SageMakerExecutionRole-ABC",
    "DataBucket": "predictive-maintenance-111122223333-eu-west-1",
    "PredictionsTable": "predictive-maintenance-predictions",
    "XGBoostImage": "141502667606.dkr.ecr.eu-west-1.amazonaws.com/sagemaker-xgboost:1.7-1",
    "SKLearnImage": "141502667606.dkr.ecr.eu-west-1.amazonaws.com/sagemaker-scikit-learn:1.2-1-cpu-py3",
    "MonitorImage": "468650794304.dkr.ecr.eu-west-1.amazonaws.com/sagemaker-model-monitor-analyzer",
    "TrainingInstanceType": "ml.m5.xlarge",
    "TransformInstanceType": "ml.m5.xlarge",
    "EndpointInstanceType": "ml.t2.medium",
}


def _substitute(text: str) -> str:
    def value(match: re.Match[str]) -> str:
        name = match.group(1)
        if name.endswith("FunctionArn"):
            return f"arn:aws:lambda:eu-west-1:111122223333:function:predictive-maintenance-{name[:-11].lower()}"
        return SUBSTITUTED[name]

    return re.sub(r"\$\{(\w+)\}", value, text)


@pytest.fixture(scope="module", params=["pipeline", "lambda"])
def concrete_definition(request: pytest.FixtureRequest) -> str:
    """The definition as CloudFormation would hand it to Step Functions, of each variant
    (``featurizer.mode``) the stack can hold."""
    template = request.getfixturevalue(
        "template" if request.param == "pipeline" else "lambda_template"
    )
    return _substitute(template["Resources"]["StateMachine"]["Properties"]["DefinitionString"])


ROLE = "arn:aws:iam::123456789012:role/states"


def _create(session: Any, definition: str) -> Any:
    """CreateStateMachine on moto's ASL-parsing provider, which refuses an invalid definition."""
    from moto import mock_aws

    with mock_aws(config={"stepfunctions": {"execute_state_machine": True}}):
        sfn = session.client("stepfunctions")
        return sfn.create_state_machine(name="validate", definition=definition, roleArn=ROLE)


def test_moto_step_functions_accepts_the_definition(moto: Any, concrete_definition: str) -> None:
    assert _create(moto, concrete_definition)["stateMachineArn"].endswith(":validate")


def test_moto_rejects_an_unknown_state_type(moto: Any, concrete_definition: str) -> None:
    """The check above can fail (moto answers with an empty error code, hence the message)."""
    from botocore.exceptions import ClientError

    broken = json.loads(concrete_definition)
    broken["States"][broken["StartAt"]]["Type"] = "Taks"
    with pytest.raises(ClientError, match="ASLParserException"):
        _create(moto, json.dumps(broken))


def _asl_validate(
    validator: Path, definition: str, tmp_path: Path
) -> subprocess.CompletedProcess[str]:
    path = tmp_path / "definition.json"
    path.write_text(definition, encoding="utf-8")
    return subprocess.run(
        [str(validator), "--json-path", str(path)], capture_output=True, text=True, timeout=120
    )


def test_asl_validator_accepts_the_definition(
    asl_validator: Path, concrete_definition: str, tmp_path: Path
) -> None:
    result = _asl_validate(asl_validator, concrete_definition, tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize(
    ("breakage", "error"),
    [
        pytest.param(
            lambda d: d["States"][d["StartAt"]].update(Next="NoSuchState"),
            "MISSING_TRANSITION_TARGET",
            id="dangling-next",
        ),
        pytest.param(
            lambda d: d["States"][d["StartAt"]].update(Type="Taks"),
            "SCHEMA_VALIDATION_FAILED",
            id="unknown-type",
        ),
    ],
)
def test_asl_validator_rejects_a_broken_definition(
    asl_validator: Path, concrete_definition: str, tmp_path: Path, breakage: Any, error: str
) -> None:
    broken = json.loads(concrete_definition)
    breakage(broken)
    result = _asl_validate(asl_validator, json.dumps(broken), tmp_path)
    assert result.returncode != 0
    assert error in result.stdout + result.stderr


_session = botocore.session.get_session()


def _sample(shape: Any) -> Any:
    kind = shape.type_name
    if kind == "string":
        return shape.enum[0] if shape.enum else "sample-value"
    if kind in ("integer", "long"):
        return max(1, int(shape.metadata.get("min", 1)))
    if kind in ("float", "double"):
        return 1.0
    if kind == "boolean":
        return True
    if kind == "blob":
        return b"{}"
    if kind == "timestamp":
        return datetime.datetime(2024, 1, 1, tzinfo=datetime.UTC)
    if kind == "list":
        return [_sample(shape.member)]
    if kind == "map":
        return {"key": _sample(shape.value)}
    return {name: _sample(shape.members[name]) for name in shape.required_members}


def _resolve(params: Any, shape: Any) -> Any:
    """Replace ``Key.$`` members by ``Key`` with a sample of the member's type."""
    if shape is None:
        return params
    if isinstance(params, dict) and shape.type_name == "structure":
        out = {}
        for key, value in params.items():
            name = key[:-2] if key.endswith(".$") else key
            member = shape.members.get(name)
            out[name] = (
                _sample(member)
                if key.endswith(".$") and member is not None
                else _resolve(value, member)
            )
        return out
    if isinstance(params, dict) and shape.type_name == "map":
        return {
            (k[:-2] if k.endswith(".$") else k): (
                _sample(shape.value) if k.endswith(".$") else _resolve(v, shape.value)
            )
            for k, v in params.items()
        }
    if isinstance(params, list) and shape.type_name == "list":
        return [_resolve(item, shape.member) for item in params]
    if shape.type_name == "blob" and isinstance(params, dict | list):
        return json.dumps(params).encode()  # Step Functions serialises a JSON Payload
    return params


def _requests(concrete_definition: str) -> list[tuple[str, str, str, dict[str, Any]]]:
    out = []
    for name, state in tpl.task_states(json.loads(concrete_definition)):
        service, operation = INTEGRATIONS[state["Resource"]]
        out.append((name, service, operation, state.get("Parameters", {})))
    return out


def test_every_task_uses_a_known_integration(concrete_definition: str) -> None:
    services = {service for _, service, _, _ in _requests(concrete_definition)}
    assert services == {"lambda", "sagemaker"}


def test_every_request_validates_against_botocore(concrete_definition: str) -> None:
    errors = []
    for name, service, operation, parameters in _requests(concrete_definition):
        shape = _session.get_service_model(service).operation_model(operation).input_shape
        request = _resolve(parameters, shape)
        report = ParamValidator().validate(request, shape)
        if report.has_errors():
            errors.append(f"{name} ({service}.{operation}): {report.generate_report()}")
    assert errors == []


def test_request_validation_can_fail(concrete_definition: str) -> None:
    """A misspelt member is caught, so the test above is not vacuous."""
    _name, service, operation, parameters = next(
        r for r in _requests(concrete_definition) if r[2] == "CreateTrainingJob"
    )
    shape = _session.get_service_model(service).operation_model(operation).input_shape
    request = _resolve({**parameters, "ResourceConfiguration": {}}, shape)
    assert ParamValidator().validate(request, shape).has_errors()
