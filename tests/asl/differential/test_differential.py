"""Differential test: every corpus definition on our engine and on moto's interpreter.

Both engines run the whole corpus once per module, all executions started before any is
awaited (moto's Retry sleeps its IntervalSeconds for real), and each case then compares
status, output (parsed JSON), error and cause.  Where moto is wrong the case carries the
result AWS documents: our engine must give it, and moto must still differ (when moto is
fixed, drop the case from ``DIFFERENCES`` and its entry from ``docs/asl-differences.md``).
"""

from __future__ import annotations

import json
import time
from typing import Any

import boto3
import pytest
from diff_corpus import CASES, Case
from moto import mock_aws

from localaws import Runtime

ROLE = "arn:aws:iam::123456789012:role/differential"
REGION = "us-east-1"
DEADLINE_SECONDS = 60


def parsed(output: str | None) -> Any:
    if not output:  # moto gives "" where there is no output
        return None
    try:
        return json.loads(output)
    except json.JSONDecodeError:
        return {"not JSON": output}


def result(description: dict[str, Any]) -> dict[str, Any]:
    """The compared part of a describe_execution response."""
    return {
        "status": description["status"],
        "output": parsed(description.get("output")),
        "error": description.get("error"),
        "cause": description.get("cause"),
    }


def machine_name(case: Case) -> str:
    return case.id.replace("/", "--")


def run_on_moto(cases: list[Case], monkeypatch: pytest.MonkeyPatch) -> dict[str, dict[str, Any]]:
    for var, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_SESSION_TOKEN": "testing",
        "AWS_DEFAULT_REGION": REGION,
    }.items():
        monkeypatch.setenv(var, value)
    with mock_aws(config={"stepfunctions": {"execute_state_machine": True}}):
        client = boto3.client("stepfunctions", region_name=REGION)
        running = {}
        for case in cases:
            arn = client.create_state_machine(
                name=machine_name(case), definition=json.dumps(case.definition), roleArn=ROLE
            )["stateMachineArn"]
            # moto names every unnamed execution "None": name each one
            running[case.id] = client.start_execution(
                stateMachineArn=arn, name="differential", input=json.dumps(case.input)
            )["executionArn"]
        results: dict[str, dict[str, Any]] = {}
        deadline = time.monotonic() + DEADLINE_SECONDS
        while running and time.monotonic() < deadline:
            for case_id, arn in list(running.items()):
                description = client.describe_execution(executionArn=arn)
                if description["status"] != "RUNNING":
                    results[case_id] = result(description)
                    del running[case_id]
            time.sleep(0.05)
        for case_id in running:
            results[case_id] = {"status": "RUNNING (moto did not finish)"}
    return results


def run_on_engine(cases: list[Case], state_dir) -> dict[str, dict[str, Any]]:
    with Runtime(state_dir) as rt:
        sfn = rt.stepfunctions
        running = {}
        for case in cases:
            arn = sfn.create_state_machine(
                name=machine_name(case), definition=json.dumps(case.definition), roleArn=ROLE
            )["stateMachineArn"]
            running[case.id] = sfn.start_execution(
                stateMachineArn=arn, name="differential", input=json.dumps(case.input)
            )["executionArn"]
        return {
            case_id: result(sfn.wait(arn, timeout=DEADLINE_SECONDS))
            for case_id, arn in running.items()
        }


@pytest.fixture(scope="module")
def moto_results() -> dict[str, dict[str, Any]]:
    with pytest.MonkeyPatch.context() as monkeypatch:
        return run_on_moto(CASES, monkeypatch)


@pytest.fixture(scope="module")
def engine_results(tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict[str, Any]]:
    return run_on_engine(CASES, tmp_path_factory.mktemp("differential"))


def test_corpus_is_large_and_ids_are_unique():
    ids = [case.id for case in CASES]
    assert len(ids) >= 60
    assert len(set(ids)) == len(ids)


def case_param(case: Case) -> object:
    marks = [pytest.mark.xfail(reason=case.engine_bug, strict=True)] if case.engine_bug else []
    return pytest.param(case, id=case.id, marks=marks)


@pytest.mark.parametrize("case", [case_param(case) for case in CASES])
def test_engine_agrees_with_moto_or_with_aws(case: Case, engine_results, moto_results):
    ours, moto = engine_results[case.id], moto_results[case.id]
    if case.aws is None:
        assert {k: ours[k] for k in case.compare} == {k: moto.get(k) for k in case.compare}
        return
    assert {k: ours[k] for k in case.aws} == case.aws, (
        f"AWS documents this result: docs/asl-differences.md, '{case.doc}'"
    )
    assert {k: moto.get(k) for k in case.aws} != case.aws, (
        f"moto now gives AWS's result: drop {case.id} from DIFFERENCES and its entry "
        f"'{case.doc}' from docs/asl-differences.md"
    )
