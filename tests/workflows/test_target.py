"""The target: the runtime in this process over a state dir, and AWS (moto); the same
start / follow / summary path and the same error translation on both."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace

import pytest

from localaws.errors import ServiceError
from localaws.runtime import Runtime, StateDirBusy
from workflows import target as target_module
from workflows.errors import AwsCredentialsError, ExitCode, translate
from workflows.target import (
    AwsTarget,
    LocalTarget,
    ProgressLines,
    ServerTarget,
    open_target,
    summary_lines,
)

ROLE = "arn:aws:iam::123456789012:role/target-test"
MAP_FAILS = {
    "StartAt": "Items",
    "States": {
        "Items": {
            "Type": "Map",
            "ItemProcessor": {
                "StartAt": "Each",
                "States": {
                    "Each": {
                        "Type": "Task",
                        "Resource": "arn:aws:states:::local:fail",
                        "Parameters": {"Error": "Item.Bad", "Cause": "bad item"},
                        "End": True,
                    }
                },
            },
            "End": True,
        }
    },
}
TWO_PASSES = {
    "StartAt": "A",
    "States": {"A": {"Type": "Pass", "Next": "B"}, "B": {"Type": "Pass", "End": True}},
}


@pytest.fixture
def local(tmp_path: Path) -> Iterator[LocalTarget]:
    with LocalTarget(tmp_path / "state") as target:
        yield target


def test_local_target_runs_and_follows_through_the_fold(local: LocalTarget) -> None:
    arn = local.put_state_machine("two", TWO_PASSES, ROLE)
    assert local.put_state_machine("two", TWO_PASSES, ROLE) == arn  # updated, same ARN
    lines: list[str] = []
    view = local.follow(local.start(arn, {"x": 1}, name="run-1"), ProgressLines(lines.append))
    assert (view.status, view.name, view.output, view.exit_code) == (
        "SUCCEEDED",
        "run-1",
        {"x": 1},
        ExitCode.OK,
    )
    assert [(v.name, v.status) for v in view.states] == [("A", "succeeded"), ("B", "succeeded")]
    assert any(line.endswith("A succeeded") or "A succeeded (" in line for line in lines)
    assert summary_lines(view)[0].startswith("execution SUCCEEDED in ")


def test_a_map_failure_is_the_maps_in_every_view(local: LocalTarget) -> None:
    arn = local.put_state_machine("mapper", MAP_FAILS, ROLE)
    lines: list[str] = []
    view = local.follow(local.start(arn, [1]), ProgressLines(lines.append))
    assert view.exit_code == ExitCode.FAILED
    assert [(v.name, v.status, v.error) for v in view.states] == [("Items", "failed", "Item.Bad")]
    assert [(v.name, v.depth, v.status) for v in view.visits] == [
        ("Items", 0, "failed"),
        ("Each", 1, "failed"),
    ]
    assert lines[-1].startswith("  ✘ [0] Each failed") or any(
        line.startswith("  ✘ [0] Each failed") for line in lines
    )
    assert summary_lines(view)[1] == "  error: Item.Bad  cause: bad item"


def test_the_local_follow_is_woken_by_the_executions_end(
    local: LocalTarget, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Between two polls the local follow waits for the execution's end, not a poll interval:
    it never sleeps on an execution this process runs."""

    def no_sleep(seconds: float) -> None:
        raise AssertionError(f"slept {seconds} s instead of waiting for the execution's end")

    monkeypatch.setattr(
        target_module, "time", SimpleNamespace(monotonic=time.monotonic, sleep=no_sleep)
    )
    wait = {"StartAt": "W", "States": {"W": {"Type": "Wait", "Seconds": 1, "End": True}}}
    arn = local.start(local.put_state_machine("waiter", wait, ROLE), {})
    view = local.follow(arn, poll_seconds=600)
    assert view.status == "SUCCEEDED"


def test_following_with_a_timeout_returns_a_running_view(local: LocalTarget) -> None:
    wait = {"StartAt": "W", "States": {"W": {"Type": "Wait", "Seconds": 30, "End": True}}}
    arn = local.start(local.put_state_machine("waiter", wait, ROLE), {})
    view = local.follow(arn, timeout=0.2, poll_seconds=0.05)
    assert (view.status, view.exit_code) == ("RUNNING", ExitCode.STILL_RUNNING)
    assert "still RUNNING after 0.2 s" in summary_lines(view, timeout=0.2)[0]
    local.stepfunctions.stop_execution(executionArn=arn)


def test_open_target_waits_while_a_program_owns_the_dir(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A program's Runtime holds the directory for itself: the command says so and waits."""
    import threading

    import workflows.target as target_module

    waiting = threading.Event()
    monkeypatch.setattr(target_module, "_say_waiting", lambda owner: waiting.set())
    owner = Runtime(tmp_path / "owned").start()
    kinds: list[type] = []

    def command() -> None:
        with open_target(tmp_path / "owned") as target:
            kinds.append(type(target))

    thread = threading.Thread(target=command)
    thread.start()
    try:
        assert waiting.wait(30), "the command never said it was waiting"
        assert not kinds, "the command ran while the directory was owned"
    finally:
        owner.close()
    thread.join(30)
    assert kinds == [LocalTarget]


def test_a_second_exclusive_runtime_is_refused(tmp_path: Path) -> None:
    with (
        Runtime(tmp_path / "owned").start(),
        pytest.raises(StateDirBusy, match="owned by another"),
    ):
        Runtime(tmp_path / "owned").start()


def test_open_target_goes_through_the_server_that_owns_the_dir(tmp_path: Path) -> None:
    from localaws.server.serve import LocalServer

    with LocalServer(tmp_path / "served") as server, open_target(tmp_path / "served") as target:
        assert isinstance(target, ServerTarget)
        assert target.url == server.url


# -- AWS, on moto -----------------------------------------------------------------------


@pytest.fixture
def aws_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for key in ("AWS_PROFILE", "AWS_DEFAULT_PROFILE", "AWS_SESSION_TOKEN", "AWS_ENDPOINT_URL"):
        monkeypatch.delenv(key, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_REGION", "us-east-1")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.setenv("AWS_CONFIG_FILE", os.devnull)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", os.devnull)
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")


def test_aws_target_runs_and_follows_on_moto(aws_env: None) -> None:
    import boto3
    from moto import mock_aws

    with mock_aws(config={"stepfunctions": {"execute_state_machine": True}}):
        target = AwsTarget(boto3.Session(region_name="us-east-1"))
        arn = target.put_state_machine("two", TWO_PASSES, ROLE)
        assert arn == target.arn("states", "stateMachine:two")
        view = target.follow(target.start(arn, {"x": 1}, name="r1"), poll_seconds=0.05, timeout=30)
        assert view.status == "SUCCEEDED"
        assert [(v.name, v.status) for v in view.states] == [("A", "succeeded"), ("B", "succeeded")]
        with pytest.raises(ServiceError) as info:
            target.view(arn.replace(":stateMachine:", ":execution:") + ":missing")
        assert info.value.code == "ExecutionDoesNotExist"


def test_aws_target_without_credentials_says_so(
    aws_env: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    import boto3

    monkeypatch.delenv("AWS_ACCESS_KEY_ID")
    monkeypatch.delenv("AWS_SECRET_ACCESS_KEY")
    target = AwsTarget(boto3.Session(region_name="us-east-1"))
    with pytest.raises(AwsCredentialsError, match="no AWS credentials"):
        target.stepfunctions.list_state_machines()


def test_aws_target_needs_a_region(aws_env: None, monkeypatch: pytest.MonkeyPatch) -> None:
    import boto3

    monkeypatch.delenv("AWS_REGION")
    monkeypatch.delenv("AWS_DEFAULT_REGION")
    with pytest.raises(AwsCredentialsError, match="no AWS region"):
        AwsTarget(boto3.Session())


def test_translate_keeps_aws_codes_and_leaves_other_errors_alone() -> None:
    from botocore.exceptions import ClientError

    error = ClientError(
        {"Error": {"Code": "ThrottlingException", "Message": "slow down"}}, "StartExecution"
    )
    translated = translate(error)
    assert isinstance(translated, ServiceError)
    assert (translated.code, translated.message) == ("ThrottlingException", "slow down")
    bug = KeyError("x")
    assert translate(bug) is bug


def test_a_connection_lost_any_way_names_the_server() -> None:
    from botocore import exceptions as bx

    from workflows.errors import ServerUnreachable, exit_code

    url = "http://127.0.0.1:1"
    for raised in (
        bx.EndpointConnectionError(endpoint_url=url),
        bx.ConnectionClosedError(endpoint_url=url),
        bx.ReadTimeoutError(endpoint_url=url),
        bx.HTTPClientError(error=RuntimeError("IncompleteRead")),  # killed mid-response
    ):
        translated = translate(raised, url=url, during="DescribeExecution")
        assert isinstance(translated, ServerUnreachable), raised
        assert exit_code(translated) == ExitCode.UNREACHABLE


def test_a_request_botocore_refuses_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    from botocore.exceptions import ParamValidationError

    from localaws.errors import UserError
    from workflows.errors import exit_code, one_line

    error = translate(ParamValidationError(report='Invalid bucket name "Not!"\nmore'))
    assert isinstance(error, UserError) and exit_code(error) == ExitCode.USAGE
    assert "\n" not in one_line(error) and 'Invalid bucket name "Not!"' in one_line(error)


def test_the_cli_turns_a_template_error_into_one_line_and_exit_2(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from workflows import aws, cli

    monkeypatch.setattr(aws, "lambda_specs", lambda: [])  # renders into TemplateError
    assert cli.main(["build", "--target", "aws"]) == ExitCode.USAGE
    err = capsys.readouterr().err
    assert err == "error: lambdas/functions.yaml lists no function; nothing to deploy\n"


def test_the_cli_turns_a_client_error_from_deploy_into_one_line(
    aws_env: None, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    from moto import mock_aws

    from workflows import cli

    with mock_aws():
        code = cli.main(["deploy", "--code-bucket", "ab", "--region", "us-east-1"])
    err = capsys.readouterr().err
    assert code == ExitCode.FAILED
    assert err.startswith("InvalidBucketName: ")
    assert err.count("\n") == 1 and "Traceback" not in err


def test_execute_without_a_stack_names_the_fix(
    aws_env: None, capsys: pytest.CaptureFixture[str]
) -> None:
    from moto import mock_aws

    from workflows import cli

    with mock_aws():
        code = cli.main(["execute", "--stack-name", "missing", "--no-follow"])
    err = capsys.readouterr().err
    assert code == ExitCode.USAGE
    assert "no such stack" in err and err.count("\n") == 1


def test_the_readme_documents_every_exit_code() -> None:
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text(encoding="utf-8")
    for code in ExitCode:
        assert f"| {int(code)} | `{code.name}` |" in readme, code
