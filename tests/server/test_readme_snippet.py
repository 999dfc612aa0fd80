"""The README's boto3 snippet runs, unchanged but for the port, against a live server."""

import json
import re
from pathlib import Path

README = Path(__file__).resolve().parents[2] / "README.md"


def test_readme_boto3_snippet_lists_executions(server, client) -> None:
    [snippet] = [
        block
        for block in re.findall(r"```python\n(.*?)```", README.read_text(), re.S)
        if "http://127.0.0.1:8083" in block
    ]
    sfn = client("stepfunctions")
    arn = sfn.create_state_machine(
        name="readme",
        definition=json.dumps({"StartAt": "P", "States": {"P": {"Type": "Pass", "End": True}}}),
        roleArn="arn:aws:iam::123456789012:role/r",
    )["stateMachineArn"]
    sfn.start_execution(stateMachineArn=arn, name="one")
    code = snippet.replace("http://127.0.0.1:8083", server.url)
    code = code.replace("\nsfn.list_executions(", "\nresult = sfn.list_executions(")
    scope: dict = {}
    exec(compile(code, str(README), "exec"), scope)
    assert [e["name"] for e in scope["result"]["executions"]] == ["one"]
