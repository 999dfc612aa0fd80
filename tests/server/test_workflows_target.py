"""``workflows.target.ServerTarget`` against a real local server: the same start / follow /
fold path as in-process, AWS error codes through boto3, and a lost server named in one line."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from localaws.errors import ServiceError
from localaws.server.serve import LocalServer
from workflows.errors import ExitCode, ServerUnreachable, exit_code, one_line
from workflows.target import ProgressLines, ServerTarget

ROLE = "arn:aws:iam::123456789012:role/local-test"
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
                        "Parameters": {"Error": "Item.Bad"},
                        "End": True,
                    }
                },
            },
            "Catch": [{"ErrorEquals": ["States.ALL"], "Next": "Recover"}],
            "Next": "Recover",
        },
        "Recover": {"Type": "Pass", "End": True},
    },
}


def test_server_target_runs_follows_and_folds(server: LocalServer) -> None:
    target = ServerTarget(server.url)
    arn = target.put_state_machine("caught-map", MAP_FAILS, ROLE)
    assert arn == server.runtime.arn("states", "stateMachine:caught-map")
    lines: list[str] = []
    view = target.follow(target.start(arn, [1, 2]), ProgressLines(lines.append), poll_seconds=0.05)
    assert view.exit_code == ExitCode.OK
    assert [(v.name, v.status) for v in view.states] == [
        ("Items", "caught"),
        ("Recover", "succeeded"),
    ]
    assert {(v.name, v.depth) for v in view.visits if v.path} == {("Each", 1)}
    assert view.output == view.visits[-1].output_value


def test_server_target_storage_and_errors(server: LocalServer) -> None:
    target = ServerTarget(server.url)
    target.ensure_bucket("target-bucket")
    target.ensure_bucket("target-bucket")  # already there
    target.storage.write("s3://target-bucket/a/b.txt", b"hello")
    assert target.storage.read("s3://target-bucket/a/b.txt") == b"hello"
    assert not target.storage.exists("s3://target-bucket/a/missing.txt")
    with pytest.raises(ServiceError) as info:
        target.stepfunctions.describe_state_machine(
            stateMachineArn=target.arn("states", "stateMachine:nope")
        )
    assert info.value.code == "StateMachineDoesNotExist"


def test_a_closed_port_is_one_line_naming_the_url(tmp_path: Path) -> None:
    with socket.socket() as sock:  # a port nobody listens on once closed
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    url = f"http://127.0.0.1:{port}"
    target = ServerTarget(url)
    with pytest.raises(ServerUnreachable) as info:
        target.stepfunctions.list_state_machines()
    assert exit_code(info.value) == ExitCode.UNREACHABLE
    line = one_line(info.value)
    assert url in line and "list_state_machines" in line
    with pytest.raises(ServerUnreachable):
        target.storage.write("s3://bucket/key", b"x")
