"""The server closed to other origins (issue 9, part 6): one test per attack, each refused
with the protocol's error and status before any work, and nothing created or run."""

from __future__ import annotations

import base64
import http.client
import io
import json
import os
import re
import subprocess
import sys
import zipfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import boto3
import botocore.exceptions
import httpx
import pytest
from botocore.config import Config
from signed_http import signed_headers

from localaws.errors import UserError
from localaws.server.serve import LocalServer

ROLE = "arn:aws:iam::123456789012:role/security-test"
SFN_JSON = "application/x-amz-json-1.0"
EVIL = "http://evil.example"
CONSOLE = {"X-Localaws-Console": "1"}
MB = 1024 * 1024

HANDLER = """
import os, pathlib

def handler(event, context):
    marker = event.get("marker")
    if marker:
        pathlib.Path(marker).write_text("ran")
    return {"key": os.environ.get("AWS_ACCESS_KEY_ID")}
"""


def code_zip() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("app.py", HANDLER)
    return buffer.getvalue()


def create_function_body(name: str) -> bytes:
    return json.dumps(
        {
            "FunctionName": name,
            "Runtime": "python3.11",
            "Role": ROLE,
            "Handler": "app.handler",
            "Code": {"ZipFile": base64.b64encode(code_zip()).decode()},
        }
    ).encode()


def function_names(server: LocalServer) -> list[str]:
    functions = server.runtime.lambda_.list_functions()["Functions"]
    return [f["FunctionName"] for f in functions]


def signed_post(
    server: LocalServer, target: str, body: bytes, *, extra: dict[str, str] | None = None
) -> httpx.Response:
    url = server.url + "/"
    headers = {"X-Amz-Target": target, "Content-Type": SFN_JSON, **(extra or {})}
    headers = signed_headers("POST", url, body, service="states", headers=headers)
    return httpx.post(url, content=body, headers=headers, timeout=60)


# -- browser attacks -------------------------------------------------------------------


def test_csrf_pair_creates_and_runs_nothing(server: LocalServer, tmp_path: Path) -> None:
    """A page's simple requests (text/plain, foreign Origin, no Authorization) to create a
    function, then to invoke it: both refused, no function, no handler run."""
    marker = tmp_path / "ran"
    browser = {"Content-Type": "text/plain", "Origin": EVIL}
    created = httpx.post(
        server.url + "/2015-03-31/functions",
        content=create_function_body("csrf"),
        headers=browser,
    )
    invoked = httpx.post(
        server.url + "/2015-03-31/functions/csrf/invocations",
        content=json.dumps({"marker": str(marker)}).encode(),
        headers=browser,
    )
    for response in (created, invoked):
        assert response.status_code == 403, response.text
        assert response.headers["x-amzn-ErrorType"] == "AccessDeniedException"
        assert "evil.example" in response.json()["message"]
    assert "csrf" not in function_names(server)
    assert not marker.exists()


def test_foreign_origin_is_refused_even_when_signed(server: LocalServer) -> None:
    body = json.dumps(
        {
            "name": "from-a-page",
            "definition": '{"StartAt":"P","States":{"P":{"Type":"Pass","End":true}}}',
            "roleArn": ROLE,
        }
    ).encode()
    refused = signed_post(
        server, "AWSStepFunctions.CreateStateMachine", body, extra={"Origin": EVIL}
    )
    assert refused.status_code == 403
    assert refused.json()["__type"] == "AccessDeniedException"
    machines = server.runtime.stepfunctions.list_state_machines()["stateMachines"]
    assert "from-a-page" not in [m["name"] for m in machines]
    # The console's own origin is welcome.
    own = signed_post(
        server, "AWSStepFunctions.ListStateMachines", b"{}", extra={"Origin": server.url}
    )
    assert own.status_code == 200, own.text


@pytest.mark.parametrize(
    ("method", "path", "headers", "protocol", "code"),
    [
        (
            "POST",
            "/",
            {"X-Amz-Target": "AWSStepFunctions.ListStateMachines", "Content-Type": SFN_JSON},
            "json",
            "MissingAuthenticationTokenException",
        ),
        ("GET", "/2015-03-31/functions/", {}, "rest", "MissingAuthenticationTokenException"),
        ("POST", "/endpoints/any/invocations", {}, "rest", "MissingAuthenticationTokenException"),
        ("GET", "/some-bucket/some-key", {}, "s3", "AccessDenied"),
        ("PUT", "/some-bucket", {}, "s3", "AccessDenied"),
        (
            "POST",
            "/",
            {
                "X-Amz-Target": "AWSStepFunctions.ListStateMachines",
                "Authorization": "AWS4-HMAC-SHA256 Credential=k/20240101/us-east-1/states/aws4_request, SignedHeaders=host, Signature=00",
            },
            "json",
            "IncompleteSignatureException",
        ),
    ],
    ids=[
        "json",
        "lambda-rest",
        "sagemaker-runtime-rest",
        "s3-get",
        "s3-create-bucket",
        "malformed",
    ],
)
def test_unsigned_requests_are_refused_in_the_protocols_shape(
    server: LocalServer,
    method: str,
    path: str,
    headers: dict[str, str],
    protocol: str,
    code: str,
) -> None:
    response = httpx.request(method, server.url + path, headers=headers, content=b"{}")
    assert response.status_code == 403, response.text
    if protocol == "s3":
        assert f"<Code>{code}</Code>".encode() in response.content
        assert response.headers["content-type"] == "application/xml"
    elif protocol == "json":
        assert response.json()["__type"] == code
    else:
        assert response.headers["x-amzn-ErrorType"] == code
    assert not (server.runtime.state_dir / "s3" / "some-bucket").exists()


def test_console_api_needs_its_header_and_a_served_host(server: LocalServer) -> None:
    url = server.url + "/console/api/object"
    params = {"uri": "s3://nowhere-bucket/"}
    port = server.url.rsplit(":", 1)[1]
    assert httpx.get(url, params=params).status_code == 403
    rebound = httpx.get(url, params=params, headers={**CONSOLE, "Host": f"evil.example:{port}"})
    assert rebound.status_code == 403
    assert "does not name this server" in rebound.json()["message"]
    for host in (f"127.0.0.1:{port}", f"localhost:{port}"):
        ok = httpx.get(url, params=params, headers={**CONSOLE, "Host": host})
        assert ok.status_code == 200, ok.text
    # The console's own AWS calls: unsigned, same origin, with the header.
    listed = httpx.post(
        server.url + "/",
        content=b"{}",
        headers={
            **CONSOLE,
            "Origin": server.url,
            "X-Amz-Target": "AWSStepFunctions.ListStateMachines",
            "Content-Type": SFN_JSON,
        },
    )
    assert listed.status_code == 200, listed.text


# -- bodies ------------------------------------------------------------------------------


def test_oversized_body_gets_413_and_a_small_answer(server: LocalServer) -> None:
    body = b'{"name": "' + b"x" * (50 * MB) + b'"}'
    response = signed_post(server, "AWSStepFunctions.CreateStateMachine", body)
    assert response.status_code == 413
    assert response.json()["__type"] == "RequestEntityTooLarge"
    assert len(response.content) < 1024


def test_a_large_bad_value_is_not_echoed(server: LocalServer) -> None:
    value = "y" * (10 * MB)
    for doc in (
        {"stateMachineArn": 5, "name": "n", "input": {"big": value}},  # wrong type
        {"stateMachineArn": "arn:aws:states:us-east-1:123456789012:stateMachine:x", "name": value},
    ):
        response = signed_post(server, "AWSStepFunctions.StartExecution", json.dumps(doc).encode())
        assert response.status_code == 400
        assert len(response.content) < 4096
        assert "more characters" in response.json()["message"]


@pytest.mark.parametrize(
    ("target", "body"),
    [
        ("AWSStepFunctions.ListStateMachines", b"[" * 100_000),
        ("AWSStepFunctions.ListStateMachines", b'{"a":' * 500 + b"1" + b"}" * 500),
    ],
    ids=["unclosed", "valid-but-deep"],
)
def test_deeply_nested_json_is_a_400(server: LocalServer, target: str, body: bytes) -> None:
    response = signed_post(server, target, body)
    assert response.status_code == 400, response.text
    assert response.json()["__type"] == "SerializationException"


def test_deeply_nested_execution_input_is_a_400(server: LocalServer) -> None:
    definition = {"StartAt": "P", "States": {"P": {"Type": "Pass", "End": True}}}
    arn = server.runtime.stepfunctions.create_state_machine(
        name="deep-input", definition=json.dumps(definition), roleArn=ROLE
    )["stateMachineArn"]
    body = json.dumps({"stateMachineArn": arn, "input": "[" * 100_000 + "]" * 100_000})
    response = signed_post(server, "AWSStepFunctions.StartExecution", body.encode())
    assert response.status_code == 400, response.text
    assert response.json()["__type"] in ("InvalidExecutionInput", "ValidationException")
    executions = server.runtime.stepfunctions.list_executions(stateMachineArn=arn)["executions"]
    assert executions == []


def test_deeply_nested_rest_body_is_a_400(server: LocalServer) -> None:
    url = server.url + "/2015-03-31/functions"
    body = b'{"a":' * 500 + b"1" + b"}" * 500
    response = httpx.post(
        url, content=body, headers=signed_headers("POST", url, body, service="lambda")
    )
    assert response.status_code == 400, response.text
    assert response.headers["x-amzn-ErrorType"] == "SerializationException"


# -- S3 -----------------------------------------------------------------------------------


@pytest.fixture
def s3(client: Callable[..., Any], server: LocalServer) -> Any:
    if not (server.runtime.storage.root / "security").is_dir():
        client("s3").create_bucket(Bucket="security")
    return client("s3")


def test_s3_key_segment_over_255_bytes_works(s3: Any) -> None:
    key = "deep/" + "s" * 300 + "/" + "é" * 200
    s3.put_object(Bucket="security", Key=key, Body=b"long")
    assert s3.get_object(Bucket="security", Key=key)["Body"].read() == b"long"
    listed = s3.list_objects_v2(Bucket="security", Prefix="deep/")["Contents"]
    assert [o["Key"] for o in listed] == [key]


def test_s3_key_over_1024_bytes_is_key_too_long(s3: Any) -> None:
    with pytest.raises(botocore.exceptions.ClientError) as caught:
        s3.put_object(Bucket="security", Key="k" * 1025, Body=b"x")
    assert caught.value.response["Error"]["Code"] == "KeyTooLongError"


def test_s3_put_over_5_gib_is_entity_too_large(server: LocalServer, s3: Any) -> None:
    path = "/security/huge"
    size = 6 * 1024**3
    headers = signed_headers(
        "PUT",
        server.url + path,
        service="s3",
        headers={"Content-Length": str(size), "x-amz-content-sha256": "UNSIGNED-PAYLOAD"},
    )
    host, port = server.url.removeprefix("http://").split(":")
    connection = http.client.HTTPConnection(host, int(port), timeout=30)
    connection.putrequest("PUT", path, skip_host=True, skip_accept_encoding=True)
    for name, value in headers.items():
        connection.putheader(name, value)
    connection.endheaders()  # the body is never sent: the answer comes first
    response = connection.getresponse()
    body = response.read()
    connection.close()
    assert response.status == 400
    assert b"<Code>EntityTooLarge</Code>" in body


def test_lambda_bad_marker_is_invalid_parameter(client: Callable[..., Any]) -> None:
    with pytest.raises(botocore.exceptions.ClientError) as caught:
        client("lambda").list_functions(Marker="not-a-marker")
    assert caught.value.response["Error"]["Code"] == "InvalidParameterValueException"
    assert caught.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400


def test_no_error_body_names_the_state_directory(
    server: LocalServer, s3: Any, client: Callable[..., Any]
) -> None:
    state = str(server.runtime.state_dir)
    bodies: list[bytes] = []
    for raw_key in ("../outside", "a//b", "%2e%2e/x"):
        path = f"/security/{raw_key}"
        headers = signed_headers("PUT", server.url + path, b"x", service="s3")
        host, port = server.url.removeprefix("http://").split(":")
        connection = http.client.HTTPConnection(host, int(port), timeout=10)
        connection.request("PUT", path, body=b"x", headers=headers)
        response = connection.getresponse()
        bodies.append(response.read())
        connection.close()
        assert response.status == 400
    s3.put_object(Bucket="security", Key="file", Body=b"x")
    for key in ("file/under", "file/"):  # a key under an object; a folder over it
        try:
            s3.put_object(Bucket="security", Key=key, Body=b"y")
        except botocore.exceptions.ClientError as e:
            bodies.append(json.dumps(e.response["Error"]).encode())
    console = {"X-Localaws-Console": "1"}
    for params in ({"uri": "s3://security/../x"}, {"uri": "s3://security/missing"}):
        bodies.append(
            httpx.get(server.url + "/console/api/object", params=params, headers=console).content
        )
    bodies.append(signed_post(server, "AWSStepFunctions.ListStateMachines", b"{bad").content)
    with pytest.raises(botocore.exceptions.ClientError) as caught:
        client("lambda").invoke(FunctionName="absent")
    bodies.append(json.dumps(caught.value.response["Error"]).encode())
    assert len(bodies) >= 8
    for body in bodies:
        assert state.encode() not in body, body[:300]


# -- the bind address ------------------------------------------------------------------


def test_remote_host_is_refused_without_allow_remote(tmp_path: Path) -> None:
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "workflows",
            "serve",
            "--host",
            "0.0.0.0",
            "--port",
            "0",
            "--state-dir",
            str(tmp_path / "state"),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "SAGEMAKER_SUPPRESS_V2_WARNING": "1"},
    )
    assert result.returncode == 2, result.stderr
    assert "--allow-remote" in result.stderr
    assert "run code" in result.stderr
    assert "serving on" not in result.stderr
    assert not (tmp_path / "state").exists()
    with pytest.raises(UserError, match="--allow-remote"):
        LocalServer(tmp_path / "other", host="0.0.0.0")


# -- verified signatures ---------------------------------------------------------------

KEY, SECRET = "AKIDLOCALTEST", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"


@pytest.fixture(scope="module")
def verifying(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalServer]:
    root = tmp_path_factory.mktemp("verifying")
    credentials = root / "credentials"
    credentials.write_text(
        f"[default]\naws_access_key_id = {KEY}\naws_secret_access_key = {SECRET}\n"
    )
    with LocalServer(root / "state", credentials=credentials) as running:
        yield running


def clients(server: LocalServer, key: str, secret: str, **config: Any) -> Callable[[str], Any]:
    def make(service: str) -> Any:
        return boto3.client(
            service,
            endpoint_url=server.url,
            region_name="us-east-1",
            aws_access_key_id=key,
            aws_secret_access_key=secret,
            config=Config(retries={"max_attempts": 1}, **config),
        )

    return make


def test_listed_credentials_work_for_every_client(verifying: LocalServer, tmp_path: Path) -> None:
    make = clients(verifying, KEY, SECRET)
    assert make("stepfunctions").list_state_machines()["stateMachines"] == []
    s3 = make("s3")
    s3.create_bucket(Bucket="verified")
    key = "a b/c+d=e&f~é.txt"
    s3.put_object(Bucket="verified", Key=key, Body=b"signed")
    assert s3.list_objects_v2(Bucket="verified", Prefix="a b/")["KeyCount"] == 1
    for presigner in (s3, clients(verifying, KEY, SECRET, signature_version="s3v4")("s3")):
        url = presigner.generate_presigned_url(
            "get_object", Params={"Bucket": "verified", "Key": key}
        )
        assert httpx.get(url).content == b"signed"
        tampered = re.sub(r"Expires=(\d+)", lambda m: f"Expires={int(m.group(1)) + 1}", url)
        assert httpx.get(tampered).status_code == 403
    lam = make("lambda")
    lam.create_function(
        FunctionName="whoami",
        Runtime="python3.11",
        Role=ROLE,
        Handler="app.handler",
        Code={"ZipFile": code_zip()},
    )
    payload = json.loads(lam.invoke(FunctionName="whoami", Payload=b"{}")["Payload"].read())
    assert payload == {"key": KEY}  # workers sign with a listed key
    env = {
        **os.environ,
        "AWS_ACCESS_KEY_ID": KEY,
        "AWS_SECRET_ACCESS_KEY": SECRET,
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_PAGER": "",
    }
    env.pop("AWS_SESSION_TOKEN", None)
    source = tmp_path / "cli.txt"
    source.write_text("from the CLI")
    subprocess.run(
        ["aws", "--endpoint-url", verifying.url, "s3", "cp", str(source), "s3://verified/cli.txt"],
        check=True,
        capture_output=True,
        env=env,
        timeout=120,
    )
    assert s3.get_object(Bucket="verified", Key="cli.txt")["Body"].read() == b"from the CLI"


@pytest.mark.parametrize(
    ("service", "call", "key", "secret", "code"),
    [
        ("stepfunctions", "list_state_machines", KEY, "wrong", "InvalidSignatureException"),
        (
            "stepfunctions",
            "list_state_machines",
            "AKIDOTHER",
            SECRET,
            "UnrecognizedClientException",
        ),
        ("lambda", "list_functions", KEY, "wrong", "InvalidSignatureException"),
        ("s3", "list_buckets", KEY, "wrong", "SignatureDoesNotMatch"),
        ("s3", "list_buckets", "AKIDOTHER", SECRET, "InvalidAccessKeyId"),
    ],
    ids=["sfn-secret", "sfn-key", "lambda-secret", "s3-secret", "s3-key"],
)
def test_bad_signature_is_refused(
    verifying: LocalServer, service: str, call: str, key: str, secret: str, code: str
) -> None:
    with pytest.raises(botocore.exceptions.ClientError) as caught:
        getattr(clients(verifying, key, secret)(service), call)()
    assert caught.value.response["Error"]["Code"] == code
    assert caught.value.response["ResponseMetadata"]["HTTPStatusCode"] == 403


def test_console_needs_the_printed_token_when_verifying(verifying: LocalServer) -> None:
    url = verifying.url + "/console/api/object"
    params = {"uri": "s3://verified-nothing/"}
    assert httpx.get(url, params=params, headers=CONSOLE).status_code == 403
    assert "?token=" in verifying.console_url
    with httpx.Client() as browser:
        assert browser.get(verifying.console_url).status_code == 200  # sets the cookie
        assert browser.get(url, params=params, headers=CONSOLE).status_code == 200
        listed = browser.post(
            verifying.url + "/",
            content=b"{}",
            headers={
                **CONSOLE,
                "X-Amz-Target": "AWSStepFunctions.ListStateMachines",
                "Content-Type": SFN_JSON,
            },
        )
        assert listed.status_code == 200, listed.text


# -- settings ----------------------------------------------------------------------------


def test_body_limit_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    from localaws import config
    from localaws.server.guard import Policy

    monkeypatch.delenv(config.ENV_MAX_BODY, raising=False)
    assert Policy.create(port=1).max_body == 16 * MB
    monkeypatch.setenv(config.ENV_MAX_BODY, "1000")
    assert Policy.create(port=1).max_body == 1000
    monkeypatch.setenv(config.ENV_MAX_BODY, "lots")
    with pytest.raises(UserError, match="LOCALAWS_MAX_REQUEST_BYTES='lots'"):
        Policy.create(port=1)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[default]\naws_access_key_id = K\n", "needs both aws_access_key_id"),
        ("", "no \\[profile\\] section"),
        ("key = value\n", "not in the AWS credentials format"),
    ],
    ids=["no-secret", "empty", "no-section"],
)
def test_bad_credentials_file_is_refused(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "credentials"
    path.write_text(text)
    with pytest.raises(UserError, match=message):
        LocalServer(tmp_path / "state", credentials=path)


def test_local_clients_sign_with_the_configured_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from localaws import config
    from localaws.server.sigv4 import client_credentials

    monkeypatch.delenv(config.ENV_CREDENTIALS, raising=False)
    assert client_credentials() == (config.DEFAULT_ACCESS_KEY, config.DEFAULT_SECRET_KEY)
    path = tmp_path / "credentials"
    path.write_text(f"[a]\naws_access_key_id = {KEY}\naws_secret_access_key = {SECRET}\n")
    monkeypatch.setenv(config.ENV_CREDENTIALS, str(path))
    assert client_credentials() == (KEY, SECRET)


def test_allow_remote_warns_that_the_server_runs_code(caplog: pytest.LogCaptureFixture) -> None:
    from localaws.server.serve import check_host

    check_host("127.0.0.1", allow_remote=False, credentials=None)
    check_host("::1", allow_remote=False, credentials=None)
    assert not caplog.records
    with caplog.at_level("WARNING", logger="localaws.server.serve"):
        check_host("0.0.0.0", allow_remote=True, credentials=None)
    assert "run code on this machine" in caplog.text
    assert "no --credentials given" in caplog.text
