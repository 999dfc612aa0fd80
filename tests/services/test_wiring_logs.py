"""CloudWatch Logs written by Lambda invocations (START/END/REPORT and the handler's own
lines in ``/aws/lambda/<fn>``), read with boto3 and the AWS CLI."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from collections.abc import Callable
from typing import Any

from wiring_support import create_function, create_table, wait_for

from localaws.server.serve import LocalServer


def messages(logs: Any, group: str) -> list[str]:
    try:
        events = logs.filter_log_events(logGroupName=group)["events"]
    except logs.exceptions.ResourceNotFoundException:
        return []
    return [e["message"] for e in events]


def reported(lines: list[str]) -> list[str] | None:
    return lines if any("REPORT" in line for line in lines) else None


def test_lambda_invocations_write_their_log_group(
    server: LocalServer, client: Callable[..., Any], name: Callable[[str], str]
) -> None:
    lam, ddb, logs = client("lambda"), client("dynamodb"), client("logs")
    table, fn = name("table"), name("fn")
    create_table(ddb, table)
    create_function(lam, fn, "echo", table)
    answer = lam.invoke(FunctionName=fn, Payload=json.dumps({"id": "logged"}))
    assert "FunctionError" not in answer
    group = f"/aws/lambda/{fn}"

    lines = wait_for(
        "the REPORT line",
        lambda: reported(messages(logs, group)),
    )
    assert any(line.startswith("START RequestId:") for line in lines), lines
    assert any(line.startswith("END RequestId:") for line in lines), lines
    [stream] = logs.describe_log_streams(logGroupName=group)["logStreams"]
    assert "/[$LATEST]" in stream["logStreamName"]

    aws = shutil.which("aws")
    assert aws, "the AWS CLI is part of the test setup (make tools)"
    done = subprocess.run(
        # The CLI installed here is v1, which has no ``logs tail`` (v2 only); its
        # filter-log-events reads the same API ``tail`` polls.
        [aws, "--endpoint-url", server.url, "logs", "filter-log-events", "--log-group-name", group],
        env={**os.environ, "AWS_PAGER": ""},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert "REPORT RequestId:" in done.stdout
