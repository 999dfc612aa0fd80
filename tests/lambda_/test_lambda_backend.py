"""LambdaBackend: the API shapes, warm workers, timeouts, errors and isolated environments."""

from __future__ import annotations

import base64
import json
import os
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from lambda_helpers import ROLE, handlers_zip, make_zip

from localaws import config
from localaws.errors import ServiceError
from localaws.runtime import Runtime

Create = Callable[..., dict[str, Any]]


def invoke(
    runtime: Runtime, name: str, event: Any = None, **kwargs: Any
) -> tuple[dict[str, Any], Any]:
    response = runtime.lambda_.invoke(FunctionName=name, Payload=json.dumps(event or {}), **kwargs)
    return response, json.loads(response["Payload"]) if response["Payload"] else None


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:  # a zombie is dead for our purposes
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().split(")")[-1].split()[0] != "Z"
    except FileNotFoundError:
        return False


# -- the API --------------------------------------------------------------------------------


def test_create_returns_function_configuration(create_function: Create) -> None:
    conf = create_function("fn-a", "basic.echo", Environment={"Variables": {"STAGE": "test"}})
    assert conf["FunctionName"] == "fn-a"
    assert conf["FunctionArn"] == "arn:aws:lambda:us-east-1:123456789012:function:fn-a"
    assert conf["Handler"] == "basic.echo"
    assert conf["Runtime"] == "python3.11"
    assert conf["Version"] == "$LATEST"
    assert conf["State"] == "Active"
    assert conf["Environment"] == {"Variables": {"STAGE": "test"}}
    assert conf["CodeSize"] == len(handlers_zip())
    assert len(base64.b64decode(conf["CodeSha256"])) == 32


def test_code_extracted_under_state_dir_by_sha(runtime: Runtime, create_function: Create) -> None:
    conf = create_function("fn-a", "basic.echo")
    digest = base64.b64decode(conf["CodeSha256"]).hex()
    code_dir = runtime.state_dir / "lambda" / "fn-a" / digest
    assert (code_dir / "basic.py").is_file()
    assert not list((runtime.state_dir / "lambda" / "fn-a").glob(".extract-*"))


def test_get_list_and_delete(runtime: Runtime, create_function: Create) -> None:
    create_function("fn-b", "basic.echo")
    create_function("fn-a", "basic.echo")
    backend = runtime.lambda_
    got = backend.get_function(FunctionName="fn-a")
    assert got["Configuration"]["FunctionName"] == "fn-a"
    assert got["Code"]["Location"].startswith("file://")
    assert backend.get_function_configuration(FunctionName="fn-a")["Handler"] == "basic.echo"
    assert [f["FunctionName"] for f in backend.list_functions()["Functions"]] == ["fn-a", "fn-b"]
    page = backend.list_functions(MaxItems=1)
    assert [f["FunctionName"] for f in page["Functions"]] == ["fn-a"]
    assert (
        backend.list_functions(Marker=page["NextMarker"])["Functions"][0]["FunctionName"] == "fn-b"
    )
    assert backend.delete_function(FunctionName="fn-a") == {}
    with pytest.raises(ServiceError) as info:
        backend.get_function(FunctionName="fn-a")
    assert info.value.code == "ResourceNotFoundException"
    assert (
        info.value.message
        == "Function not found: arn:aws:lambda:us-east-1:123456789012:function:fn-a"
    )


def test_create_twice_conflicts(create_function: Create) -> None:
    create_function("fn-a", "basic.echo")
    with pytest.raises(ServiceError) as info:
        create_function("fn-a", "basic.echo")
    assert (info.value.code, info.value.message) == (
        "ResourceConflictException",
        "Function already exist: fn-a",
    )


@pytest.mark.parametrize(
    ("overrides", "code", "fragment"),
    [
        ({"Timeout": 0}, "ValidationException", "at 'timeout' failed to satisfy constraint"),
        ({"Timeout": 901}, "ValidationException", "less than or equal to 900"),
        ({"MemorySize": 64}, "ValidationException", "at 'memorySize'"),
        ({"Role": "not-a-role"}, "ValidationException", "at 'role'"),
        (
            {"Runtime": "nodejs20.x"},
            "InvalidParameterValueException",
            "'nodejs20.x' does not run locally",
        ),
        (
            {"Code": {"ZipFile": b"not a zip"}},
            "InvalidParameterValueException",
            "Could not unzip uploaded file",
        ),
        ({"Code": {"ImageUri": "x"}}, "InvalidParameterValueException", "container image"),
        (
            {"Code": {"S3Bucket": "code-bucket", "S3Key": "missing.zip"}},
            "InvalidParameterValueException",
            "NoSuchKey",
        ),
        (
            {"Environment": {"Variables": {"AWS_REGION": "eu-west-1"}}},
            "InvalidParameterValueException",
            "Reserved keys used in this request: AWS_REGION",
        ),
        (
            {"Environment": {"Variables": {"BIG": "x" * 5000}}},
            "InvalidParameterValueException",
            "4KB limit",
        ),
        ({"FunctionName": "bad name!"}, "ValidationException", "at 'functionName'"),
        (
            {"Layers": ["arn:aws:lambda:us-east-1:123456789012:layer:x:1"]},
            "InvalidParameterValueException",
            "Layers",
        ),
    ],
    ids=[
        "timeout-low",
        "timeout-high",
        "memory",
        "role",
        "runtime",
        "bad-zip",
        "image",
        "s3-missing",
        "reserved-env",
        "env-too-big",
        "name",
        "layers",
    ],
)
def test_create_validation(
    create_function: Create, overrides: dict[str, Any], code: str, fragment: str
) -> None:
    with pytest.raises(ServiceError) as info:
        create_function(overrides.pop("FunctionName", "fn-v"), "basic.echo", **overrides)
    assert info.value.code == code
    assert fragment in info.value.message


def test_zip_entries_escaping_the_code_dir_refused(
    runtime: Runtime, create_function: Create
) -> None:
    evil = make_zip({"../../escaped.py": "x = 1", "ok.py": ""})
    with pytest.raises(ServiceError) as info:
        create_function("fn-evil", "ok.handler", Code={"ZipFile": evil})
    assert info.value.code == "InvalidParameterValueException"
    assert "'../../escaped.py'" in info.value.message
    assert not list(runtime.state_dir.rglob("escaped.py"))


def test_code_from_local_s3(runtime: Runtime, create_function: Create) -> None:
    runtime.storage.write("s3://code-bucket/fn.zip", handlers_zip())
    create_function("fn-s3", "basic.echo", Code={"S3Bucket": "code-bucket", "S3Key": "fn.zip"})
    assert invoke(runtime, "fn-s3", {"a": 1})[1] == {"event": {"a": 1}}


@pytest.mark.parametrize(
    "ref",
    [
        "fn-a",
        "fn-a:$LATEST",
        "123456789012:function:fn-a",
        "arn:aws:lambda:us-east-1:123456789012:function:fn-a",
        "arn:aws:lambda:us-east-1:123456789012:function:fn-a:$LATEST",
    ],
)
def test_function_name_forms(runtime: Runtime, create_function: Create, ref: str) -> None:
    create_function("fn-a", "basic.echo")
    assert invoke(runtime, ref, {"x": 1})[1] == {"event": {"x": 1}}


@pytest.mark.parametrize(
    "ref",
    [
        "fn-a:1",
        "arn:aws:lambda:us-east-1:999999999999:function:fn-a",
        "arn:aws:lambda:eu-west-1:123456789012:function:fn-a",
    ],
    ids=["version", "other-account", "other-region"],
)
def test_unknown_qualifier_account_region_not_found(
    runtime: Runtime, create_function: Create, ref: str
) -> None:
    create_function("fn-a", "basic.echo")
    with pytest.raises(ServiceError) as info:
        invoke(runtime, ref)
    assert info.value.code == "ResourceNotFoundException"


# -- invoking -----------------------------------------------------------------------------


def test_invoke_response_shape(runtime: Runtime, create_function: Create) -> None:
    create_function("fn-a", "basic.echo")
    response, payload = invoke(runtime, "fn-a", {"k": [1, 2]})
    assert response["StatusCode"] == 200
    assert response["ExecutedVersion"] == "$LATEST"
    assert isinstance(response["Payload"], bytes)
    assert "FunctionError" not in response
    assert payload == {"event": {"k": [1, 2]}}


def test_invoke_missing_function(runtime: Runtime) -> None:
    with pytest.raises(ServiceError) as info:
        runtime.lambda_.invoke(FunctionName="nope")
    assert info.value.code == "ResourceNotFoundException"


def test_invoke_bad_json_payload(runtime: Runtime, create_function: Create) -> None:
    create_function("fn-a", "basic.echo")
    with pytest.raises(ServiceError) as info:
        runtime.lambda_.invoke(FunctionName="fn-a", Payload=b"{not json")
    assert info.value.code == "InvalidRequestContentException"


def test_empty_payload_is_empty_object(runtime: Runtime, create_function: Create) -> None:
    create_function("fn-a", "basic.echo")
    assert json.loads(runtime.lambda_.invoke(FunctionName="fn-a")["Payload"]) == {"event": {}}


def test_event_and_dry_run(runtime: Runtime, create_function: Create) -> None:
    create_function("fn-a", "basic.echo")
    assert runtime.lambda_.invoke(FunctionName="fn-a", InvocationType="DryRun")["StatusCode"] == 204
    assert (
        runtime.lambda_.invoke(FunctionName="fn-a", InvocationType="Event", Payload=b"{}")[
            "StatusCode"
        ]
        == 202
    )


def test_context_object(runtime: Runtime, create_function: Create) -> None:
    create_function("fn-ctx", "basic.context_fields", Timeout=7, MemorySize=512)
    _, ctx = invoke(runtime, "fn-ctx")
    assert ctx["function_name"] == "fn-ctx"
    assert ctx["function_version"] == "$LATEST"
    assert ctx["memory_limit_in_mb"] == "512"
    assert ctx["invoked_function_arn"] == "arn:aws:lambda:us-east-1:123456789012:function:fn-ctx"
    assert ctx["log_group_name"] == "/aws/lambda/fn-ctx"
    assert "[$LATEST]" in ctx["log_stream_name"]
    assert len(ctx["aws_request_id"]) == 36
    assert 5000 < ctx["remaining_ms"] <= 7000
    code_dir = str(runtime.state_dir / "lambda" / "fn-ctx")
    assert ctx["cwd"].startswith(code_dir)
    assert ctx["sys_path_0"] == ctx["cwd"]


def test_worker_is_reused_while_warm_and_replaced_after_change(
    runtime: Runtime, create_function: Create
) -> None:
    create_function("fn-warm", "basic.context_fields")
    first = invoke(runtime, "fn-warm")[1]
    second = invoke(runtime, "fn-warm")[1]
    assert second["pid"] == first["pid"]
    assert second["calls"] == first["calls"] + 1
    assert second["aws_request_id"] != first["aws_request_id"]
    runtime.lambda_.update_function_configuration(FunctionName="fn-warm", MemorySize=1024)
    third = invoke(runtime, "fn-warm")[1]
    assert third["pid"] != first["pid"]
    assert third["calls"] == 1
    assert third["memory_limit_in_mb"] == "1024"
    assert not _alive(first["pid"])


def test_update_function_code_runs_new_code(runtime: Runtime, create_function: Create) -> None:
    before = create_function(
        "fn-up",
        "main.handler",
        Code={"ZipFile": make_zip({"main.py": "def handler(e, c):\n    return 1\n"})},
    )
    assert invoke(runtime, "fn-up")[1] == 1
    after = runtime.lambda_.update_function_code(
        FunctionName="fn-up", ZipFile=make_zip({"main.py": "def handler(e, c):\n    return 2\n"})
    )
    assert after["CodeSha256"] != before["CodeSha256"]
    assert after["RevisionId"] != before["RevisionId"]
    assert invoke(runtime, "fn-up")[1] == 2


def test_exception_returns_aws_error_payload(runtime: Runtime, create_function: Create) -> None:
    create_function("fn-fail", "basic.fail")
    response, payload = invoke(runtime, "fn-fail", {"why": "negative rows"})
    assert response["StatusCode"] == 200
    assert response["FunctionError"] == "Unhandled"
    assert payload["errorType"] == "ValueError"
    assert payload["errorMessage"] == "bad input: negative rows"
    assert set(payload) == {"errorMessage", "errorType", "requestId", "stackTrace"}
    assert len(payload["stackTrace"]) == 1
    assert 'basic.py", line' in payload["stackTrace"][0]
    assert "in fail" in payload["stackTrace"][0]
    # the worker survives a handled exception and stays warm
    assert len(runtime.lambda_.worker_pids("fn-fail")) == 1


def test_custom_exception_type_name(runtime: Runtime, create_function: Create) -> None:
    create_function("fn-nr", "basic.not_ready")
    assert invoke(runtime, "fn-nr")[1]["errorType"] == "ModelNotReadyError"


@pytest.mark.parametrize(
    ("handler", "error_type", "fragment"),
    [
        (
            "missing_module.handler",
            "Runtime.ImportModuleError",
            "Unable to import module 'missing_module'",
        ),
        ("basic.nope", "Runtime.HandlerNotFound", "Handler 'nope' missing on module 'basic'"),
        ("nodot", "Runtime.MalformedHandlerName", "Bad handler 'nodot'"),
        ("basic.unserializable", "Runtime.MarshalError", "Unable to marshal response"),
    ],
)
def test_runtime_errors(
    runtime: Runtime, create_function: Create, handler: str, error_type: str, fragment: str
) -> None:
    create_function("fn-rt", handler)
    response, payload = invoke(runtime, "fn-rt")
    assert response["FunctionError"] == "Unhandled"
    assert payload["errorType"] == error_type
    assert fragment in payload["errorMessage"]


def test_timeout_kills_the_worker_and_its_children(
    runtime: Runtime, create_function: Create, tmp_path: Path
) -> None:
    create_function("fn-slow", "basic.spawn_and_sleep", Timeout=1)
    pid_file = tmp_path / "child.pid"
    response, payload = invoke(runtime, "fn-slow", {"pid_file": str(pid_file)})
    assert response["FunctionError"] == "Unhandled"
    assert payload["errorType"] == "Sandbox.Timedout"
    assert payload["errorMessage"].endswith("Error: Task timed out after 1.00 seconds")
    assert payload["errorMessage"].startswith("RequestId: ")
    assert runtime.lambda_.worker_pids("fn-slow") == []
    child = int(pid_file.read_text())
    deadline = time.monotonic() + 5
    while _alive(child) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not _alive(child)
    # the next invocation gets a fresh worker
    assert (
        invoke(runtime, "fn-slow", {"pid_file": str(pid_file)})[1]["errorType"]
        == "Sandbox.Timedout"
    )


def test_worker_crash_is_runtime_exit_error(runtime: Runtime, create_function: Create) -> None:
    create_function("fn-crash", "basic.crash")
    response, payload = invoke(runtime, "fn-crash")
    assert response["FunctionError"] == "Unhandled"
    assert payload["errorType"] == "Runtime.ExitError"
    assert payload["errorMessage"].endswith("Runtime exited with error: exit status 3")
    assert runtime.lambda_.worker_pids("fn-crash") == []


def test_environments_isolated_between_functions(
    runtime: Runtime, create_function: Create, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PARENT_SECRET", "do-not-leak")
    create_function(
        "fn-one", "basic.environment", Environment={"Variables": {"ONLY_ONE": "1", "SHARED": "one"}}
    )
    create_function("fn-two", "basic.environment", Environment={"Variables": {"SHARED": "two"}})
    one = invoke(runtime, "fn-one")[1]
    two = invoke(runtime, "fn-two")[1]
    assert one["SHARED"] == "one" and two["SHARED"] == "two"
    assert one["ONLY_ONE"] == "1" and "ONLY_ONE" not in two
    assert "PARENT_SECRET" not in one and "PARENT_SECRET" not in two
    for env, name in ((one, "fn-one"), (two, "fn-two")):
        assert env["AWS_LAMBDA_FUNCTION_NAME"] == name
        assert env["AWS_LAMBDA_FUNCTION_MEMORY_SIZE"] == "256"
        assert env["AWS_REGION"] == env["AWS_DEFAULT_REGION"] == "us-east-1"
        assert env["_HANDLER"] == "basic.environment"
        assert env[config.ENV_S3_ROOT] == str(runtime.state_dir / "s3")
        assert env[config.ENV_ENDPOINTS_DIR] == str(runtime.state_dir / "endpoints")
        assert env[config.ENV_ENDPOINT_URL] == runtime.api_url()
        assert env["AWS_ACCESS_KEY_ID"] == runtime.credentials[0]
        assert "PYTHONPATH" not in env


def test_handler_imports_parent_site_packages(runtime: Runtime, create_function: Create) -> None:
    import boto3

    create_function("fn-3p", "basic.third_party")
    assert invoke(runtime, "fn-3p")[1] == {"boto3": boto3.__version__}


def test_handler_uses_local_storage_from_env(runtime: Runtime, create_function: Create) -> None:
    create_function("fn-store", "basic.storage_roundtrip")
    payload = invoke(runtime, "fn-store", {"uri": "s3://bucket-a/x/y.txt", "body": "hi"})[1]
    assert payload == {"read": "hi", "kind": "LocalStorage"}
    assert runtime.storage.read("s3://bucket-a/x/y.txt") == b"hi"


def test_logs_kept_per_function_and_tail(runtime: Runtime, create_function: Create) -> None:
    create_function("fn-log", "basic.fail")
    response = runtime.lambda_.invoke(FunctionName="fn-log", Payload=b"{}", LogType="Tail")
    tail = base64.b64decode(response["LogResult"]).decode()
    assert "about to fail" in tail
    assert "START RequestId:" in tail and "REPORT RequestId:" in tail
    files = runtime.lambda_.log_files("fn-log")
    assert len(files) == 1
    assert files[0].is_relative_to(runtime.state_dir / "lambda" / "fn-log" / "logs")
    assert "[ERROR] ValueError: bad input: no reason" in files[0].read_text()


def test_concurrent_invocations_use_separate_workers(
    runtime: Runtime, create_function: Create, tmp_path: Path
) -> None:
    create_function("fn-par", "basic.rendezvous", Timeout=30)
    warm = tmp_path / "warm"
    warm.mkdir()
    invoke(runtime, "fn-par", {"dir": str(warm), "count": 1})  # warm one worker
    meeting = tmp_path / "meeting"
    meeting.mkdir()
    results: list[Any] = []

    def call() -> None:
        results.append(invoke(runtime, "fn-par", {"dir": str(meeting), "count": 3})[1])

    threads = [threading.Thread(target=call) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    # Each invocation returned only once all three had arrived: they ran at once.
    assert len({r.get("pid") for r in results}) == 3, results
    assert len(runtime.lambda_.worker_pids("fn-par")) == 3


def test_close_kills_workers(runtime: Runtime, create_function: Create) -> None:
    create_function("fn-a", "basic.context_fields")
    pid = invoke(runtime, "fn-a")[1]["pid"]
    assert _alive(pid)
    runtime.lambda_.close()
    assert not _alive(pid)


def test_delete_kills_workers_and_removes_code(runtime: Runtime, create_function: Create) -> None:
    create_function("fn-a", "basic.context_fields")
    pid = invoke(runtime, "fn-a")[1]["pid"]
    runtime.lambda_.delete_function(FunctionName="fn-a")
    assert not _alive(pid)
    remaining = [p.name for p in (runtime.state_dir / "lambda" / "fn-a").iterdir()]
    assert remaining == ["logs"]


def test_recover_drops_half_extracted_code(runtime: Runtime) -> None:
    leftover = runtime.state_dir / "lambda" / "fn-a" / ".extract-abc"
    leftover.mkdir(parents=True)
    runtime.lambda_.recover()
    assert not leftover.exists()


def test_functions_persist_across_backends(
    tmp_path: Path, create_function: Create, runtime: Runtime
) -> None:
    create_function("fn-a", "basic.echo")
    runtime.lambda_.close()
    again = Runtime(runtime.state_dir)
    try:
        assert again.lambda_.get_function_configuration(FunctionName="fn-a")["Role"] == ROLE
        assert json.loads(again.lambda_.invoke(FunctionName="fn-a", Payload=b"[1]")["Payload"]) == {
            "event": [1]
        }
    finally:
        again.lambda_.close()
        again.db.close()
