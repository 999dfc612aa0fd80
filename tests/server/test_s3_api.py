"""S3 over HTTP: boto3 (managed transfers included), raw aws-chunked bodies and the AWS CLI,
over the runtime's local storage."""

from __future__ import annotations

import base64
import hashlib
import http.client
import os
import subprocess
import sys
import zlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import botocore.exceptions
import httpx
import pytest
from boto3.s3.transfer import TransferConfig
from server_shapes import assert_output_shape
from signed_http import signed_headers

from localaws.server.serve import LocalServer

MB = 1024 * 1024


def error_code(caught: pytest.ExceptionInfo[botocore.exceptions.ClientError]) -> str:
    return str(caught.value.response["Error"]["Code"])


@pytest.fixture
def s3(client: Callable[..., Any]) -> Any:
    return client("s3")


@pytest.fixture
def bucket(s3: Any, request: pytest.FixtureRequest) -> str:
    name = "test-" + hashlib.sha1(request.node.nodeid.encode()).hexdigest()[:16]
    s3.create_bucket(Bucket=name)
    return name


def test_buckets(s3: Any, server: LocalServer) -> None:
    assert_output_shape(s3, "CreateBucket", s3.create_bucket(Bucket="lifecycle-bucket"))
    s3.head_bucket(Bucket="lifecycle-bucket")
    listed = s3.list_buckets()
    assert_output_shape(s3, "ListBuckets", listed)
    assert "lifecycle-bucket" in [b["Name"] for b in listed["Buckets"]]
    assert (server.runtime.state_dir / "s3" / "lifecycle-bucket").is_dir()

    with pytest.raises(botocore.exceptions.ClientError) as caught:
        s3.create_bucket(Bucket="lifecycle-bucket")
    assert error_code(caught) == "BucketAlreadyOwnedByYou"
    s3.put_object(Bucket="lifecycle-bucket", Key="k", Body=b"x")
    with pytest.raises(botocore.exceptions.ClientError) as caught:
        s3.delete_bucket(Bucket="lifecycle-bucket")
    assert error_code(caught) == "BucketNotEmpty"
    s3.delete_object(Bucket="lifecycle-bucket", Key="k")
    s3.delete_bucket(Bucket="lifecycle-bucket")
    with pytest.raises(botocore.exceptions.ClientError) as caught:
        s3.head_bucket(Bucket="lifecycle-bucket")
    assert error_code(caught) == "404"
    with pytest.raises(s3.exceptions.NoSuchBucket):
        s3.list_objects_v2(Bucket="lifecycle-bucket")


def test_put_get_head_delete(s3: Any, bucket: str, server: LocalServer) -> None:
    body = b"hello, local s3"
    put = s3.put_object(
        Bucket=bucket, Key="dir/a b+c.txt", Body=body, ContentType="text/plain", Metadata={"k": "v"}
    )
    assert_output_shape(s3, "PutObject", put)
    assert put["ETag"] == f'"{hashlib.md5(body).hexdigest()}"'

    got = s3.get_object(Bucket=bucket, Key="dir/a b+c.txt")
    assert_output_shape(s3, "GetObject", got)
    assert got["Body"].read() == body
    assert (got["ContentType"], got["Metadata"], got["ETag"]) == (
        "text/plain",
        {"k": "v"},
        put["ETag"],
    )

    head = s3.head_object(Bucket=bucket, Key="dir/a b+c.txt")
    assert_output_shape(s3, "HeadObject", head)
    assert head["ContentLength"] == len(body)
    assert head["LastModified"].tzinfo is not None

    # the same tree the runtime and the Lambdas use
    assert server.runtime.storage.read(f"s3://{bucket}/dir/a b+c.txt") == body
    server.runtime.storage.write(f"s3://{bucket}/from-runtime.txt", b"written by the runtime")
    assert (
        s3.get_object(Bucket=bucket, Key="from-runtime.txt")["Body"].read()
        == b"written by the runtime"
    )
    assert s3.head_object(Bucket=bucket, Key="from-runtime.txt")["ETag"].startswith('"')

    assert_output_shape(s3, "DeleteObject", s3.delete_object(Bucket=bucket, Key="dir/a b+c.txt"))
    with pytest.raises(s3.exceptions.NoSuchKey):
        s3.get_object(Bucket=bucket, Key="dir/a b+c.txt")
    with pytest.raises(botocore.exceptions.ClientError) as caught:
        s3.head_object(Bucket=bucket, Key="dir/a b+c.txt")
    assert error_code(caught) == "404"
    with pytest.raises(s3.exceptions.NoSuchBucket):
        s3.get_object(Bucket="no-such-bucket", Key="x")


@pytest.mark.parametrize(
    ("header", "expected", "content_range"),
    [
        ("bytes=0-3", b"0123", "bytes 0-3/10"),
        ("bytes=7-", b"789", "bytes 7-9/10"),
        ("bytes=-2", b"89", "bytes 8-9/10"),
        ("bytes=5-100", b"56789", "bytes 5-9/10"),
    ],
    ids=["first-four", "open-ended", "suffix", "past-the-end"],
)
def test_ranged_get(s3: Any, bucket: str, header: str, expected: bytes, content_range: str) -> None:
    s3.put_object(Bucket=bucket, Key="digits", Body=b"0123456789")
    got = s3.get_object(Bucket=bucket, Key="digits", Range=header)
    assert got["ResponseMetadata"]["HTTPStatusCode"] == 206
    assert (got["Body"].read(), got["ContentRange"], got["ContentLength"]) == (
        expected,
        content_range,
        len(expected),
    )


def test_unsatisfiable_range(s3: Any, bucket: str) -> None:
    s3.put_object(Bucket=bucket, Key="digits", Body=b"0123456789")
    with pytest.raises(botocore.exceptions.ClientError) as caught:
        s3.get_object(Bucket=bucket, Key="digits", Range="bytes=10-20")
    assert error_code(caught) == "InvalidRange"
    assert caught.value.response["ResponseMetadata"]["HTTPStatusCode"] == 416


def test_list_objects_v2_delimiter_and_pagination(s3: Any, bucket: str) -> None:
    keys = ["a.txt", "logs/1", "logs/2", "logs/sub/3", "models/m", "z+y z"]
    for key in keys:
        s3.put_object(Bucket=bucket, Key=key, Body=key.encode())

    page = s3.list_objects_v2(Bucket=bucket, Delimiter="/")
    assert_output_shape(s3, "ListObjectsV2", page)
    assert [c["Key"] for c in page["Contents"]] == ["a.txt", "z+y z"]
    assert [p["Prefix"] for p in page["CommonPrefixes"]] == ["logs/", "models/"]
    assert page["KeyCount"] == 4

    nested = s3.list_objects_v2(Bucket=bucket, Prefix="logs/", Delimiter="/")
    assert [c["Key"] for c in nested["Contents"]] == ["logs/1", "logs/2"]
    assert [p["Prefix"] for p in nested["CommonPrefixes"]] == ["logs/sub/"]

    pages = list(
        s3.get_paginator("list_objects_v2").paginate(
            Bucket=bucket, PaginationConfig={"PageSize": 2}
        )
    )
    assert [len(p["Contents"]) for p in pages] == [2, 2, 2]
    assert [c["Key"] for p in pages for c in p["Contents"]] == sorted(keys)
    assert pages[0]["IsTruncated"] and not pages[-1]["IsTruncated"]

    grouped = list(
        s3.get_paginator("list_objects_v2").paginate(
            Bucket=bucket, Delimiter="/", PaginationConfig={"PageSize": 1}
        )
    )
    flat = [c["Key"] for p in grouped for c in p.get("Contents", [])]
    flat += [c["Prefix"] for p in grouped for c in p.get("CommonPrefixes", [])]
    assert sorted(flat) == ["a.txt", "logs/", "models/", "z+y z"]

    after = s3.list_objects_v2(Bucket=bucket, StartAfter="logs/2")
    assert [c["Key"] for c in after["Contents"]] == ["logs/sub/3", "models/m", "z+y z"]
    assert s3.list_objects_v2(Bucket=bucket, MaxKeys=0)["KeyCount"] == 0
    v1 = s3.list_objects(Bucket=bucket, Prefix="models/")
    assert [c["Key"] for c in v1["Contents"]] == ["models/m"]


def test_copy_and_delete_objects(s3: Any, bucket: str) -> None:
    s3.put_object(Bucket=bucket, Key="src", Body=b"payload", Metadata={"origin": "src"})
    copied = s3.copy_object(
        Bucket=bucket, Key="copies/dst", CopySource={"Bucket": bucket, "Key": "src"}
    )
    assert_output_shape(s3, "CopyObject", copied)
    got = s3.get_object(Bucket=bucket, Key="copies/dst")
    assert (got["Body"].read(), got["Metadata"]) == (b"payload", {"origin": "src"})

    with pytest.raises(s3.exceptions.NoSuchKey):
        s3.copy_object(Bucket=bucket, Key="x", CopySource={"Bucket": bucket, "Key": "missing"})

    deleted = s3.delete_objects(
        Bucket=bucket, Delete={"Objects": [{"Key": "src"}, {"Key": "copies/dst"}, {"Key": "never"}]}
    )
    assert_output_shape(s3, "DeleteObjects", deleted)
    assert sorted(d["Key"] for d in deleted["Deleted"]) == ["copies/dst", "never", "src"]
    assert s3.list_objects_v2(Bucket=bucket)["KeyCount"] == 0


def test_multipart_transfer_of_20_mb(
    s3: Any, bucket: str, tmp_path: Path, server: LocalServer
) -> None:
    source = tmp_path / "big.bin"
    source.write_bytes(os.urandom(20 * MB))
    config = TransferConfig(
        multipart_threshold=5 * MB, multipart_chunksize=5 * MB, max_concurrency=4
    )
    s3.upload_file(str(source), bucket, "data/big.bin", Config=config)

    head = s3.head_object(Bucket=bucket, Key="data/big.bin")
    assert head["ContentLength"] == 20 * MB
    assert head["ETag"].endswith('-4"')  # a multipart ETag: md5 of the parts' md5s, part count
    stored = server.runtime.state_dir / "s3" / bucket / "data" / "big.bin"
    assert stored.read_bytes() == source.read_bytes()
    assert not any((server.runtime.state_dir / "s3-uploads").iterdir())

    target = tmp_path / "back.bin"
    s3.download_file(bucket, "data/big.bin", str(target), Config=config)  # ranged GETs
    assert (
        hashlib.sha256(target.read_bytes()).digest() == hashlib.sha256(source.read_bytes()).digest()
    )

    s3.copy({"Bucket": bucket, "Key": "data/big.bin"}, bucket, "data/copy.bin", Config=config)
    assert s3.head_object(Bucket=bucket, Key="data/copy.bin")["ContentLength"] == 20 * MB


def test_multipart_errors_and_abort(s3: Any, bucket: str) -> None:
    upload = s3.create_multipart_upload(Bucket=bucket, Key="parts")
    assert_output_shape(s3, "CreateMultipartUpload", upload)
    uid = upload["UploadId"]
    small = s3.upload_part(Bucket=bucket, Key="parts", UploadId=uid, PartNumber=1, Body=b"a" * 10)
    assert_output_shape(s3, "UploadPart", small)
    last = s3.upload_part(Bucket=bucket, Key="parts", UploadId=uid, PartNumber=2, Body=b"b")
    parts = [{"PartNumber": 1, "ETag": small["ETag"]}, {"PartNumber": 2, "ETag": last["ETag"]}]
    with pytest.raises(botocore.exceptions.ClientError) as caught:
        s3.complete_multipart_upload(
            Bucket=bucket, Key="parts", UploadId=uid, MultipartUpload={"Parts": parts}
        )
    assert error_code(caught) == "EntityTooSmall"
    with pytest.raises(botocore.exceptions.ClientError) as caught:
        s3.complete_multipart_upload(
            Bucket=bucket,
            Key="parts",
            UploadId=uid,
            MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": '"0000"'}]},
        )
    assert error_code(caught) == "InvalidPart"
    one = s3.complete_multipart_upload(
        Bucket=bucket, Key="parts", UploadId=uid, MultipartUpload={"Parts": parts[1:]}
    )
    assert_output_shape(s3, "CompleteMultipartUpload", one)
    assert s3.get_object(Bucket=bucket, Key="parts")["Body"].read() == b"b"

    second = s3.create_multipart_upload(Bucket=bucket, Key="aborted")["UploadId"]
    assert_output_shape(
        s3,
        "AbortMultipartUpload",
        s3.abort_multipart_upload(Bucket=bucket, Key="aborted", UploadId=second),
    )
    with pytest.raises(s3.exceptions.NoSuchUpload):
        s3.upload_part(Bucket=bucket, Key="aborted", UploadId=second, PartNumber=1, Body=b"x")
    with pytest.raises(s3.exceptions.NoSuchUpload):
        s3.abort_multipart_upload(Bucket=bucket, Key="aborted", UploadId="../../etc")


def _chunked(data: bytes, size: int, trailer: str | None) -> bytes:
    out = b""
    for i in range(0, len(data), size):
        piece = data[i : i + size]
        out += f"{len(piece):x};chunk-signature={'0' * 64}\r\n".encode() + piece + b"\r\n"
    out += b"0;chunk-signature=" + b"0" * 64 + b"\r\n"
    if trailer:
        out += trailer.encode() + b"\r\n"
    return out + b"\r\n"


@pytest.mark.parametrize("with_trailer", [False, True], ids=["signed-chunks", "crc32-trailer"])
def test_aws_chunked_body(server: LocalServer, s3: Any, bucket: str, with_trailer: bool) -> None:
    data = os.urandom(200_000)
    crc = base64.b64encode(zlib.crc32(data).to_bytes(4, "big")).decode()
    headers = {
        "x-amz-content-sha256": "STREAMING-AWS4-HMAC-SHA256-PAYLOAD",
        "Content-Encoding": "aws-chunked",
        "x-amz-decoded-content-length": str(len(data)),
    }
    if with_trailer:
        headers["x-amz-content-sha256"] = "STREAMING-UNSIGNED-PAYLOAD-TRAILER"
        headers["x-amz-trailer"] = "x-amz-checksum-crc32"
    body = _chunked(data, 65536, f"x-amz-checksum-crc32:{crc}" if with_trailer else None)
    url = f"{server.url}/{bucket}/chunked"
    response = httpx.put(
        url, content=body, headers=signed_headers("PUT", url, service="s3", headers=headers)
    )
    assert response.status_code == 200, response.text
    assert response.headers["etag"] == f'"{hashlib.md5(data).hexdigest()}"'
    assert s3.get_object(Bucket=bucket, Key="chunked")["Body"].read() == data

    if with_trailer:
        bad = _chunked(data, 65536, "x-amz-checksum-crc32:AAAAAA==")
        url = f"{server.url}/{bucket}/corrupt"
        headers = signed_headers("PUT", url, service="s3", headers=headers)
        response = httpx.put(url, content=bad, headers=headers)
        assert response.status_code == 400
        assert b"<Code>BadDigest</Code>" in response.content


@pytest.mark.parametrize(
    "raw_key",
    ["../outside", "a/../../outside", "%2e%2e/outside", "a//b"],
    ids=["dotdot", "nested-dotdot", "encoded-dotdot", "empty-segment"],
)
def test_keys_escaping_the_root_are_refused(server: LocalServer, bucket: str, raw_key: str) -> None:
    # http.client sends the path as written (httpx would normalise the dot segments away)
    host, port = server.url.removeprefix("http://").split(":")
    connection = http.client.HTTPConnection(host, int(port), timeout=10)
    path = f"/{bucket}/{raw_key}"
    headers = signed_headers("PUT", server.url + path, b"x", service="s3")
    connection.request("PUT", path, body=b"x", headers=headers)
    response = connection.getresponse()
    body = response.read()
    connection.close()
    assert response.status == 400
    assert b"<Code>InvalidArgument</Code>" in body
    assert not (server.runtime.state_dir / "s3" / "outside").exists()
    assert not (server.runtime.state_dir / "outside").exists()


def test_aws_cli_copies_in_and_out(server: LocalServer, bucket: str, tmp_path: Path) -> None:
    source = tmp_path / "cli.bin"
    source.write_bytes(os.urandom(9 * MB))  # above the CLI's 8 MB multipart threshold
    env = {**os.environ, "AWS_PAGER": ""}
    aws = [sys.executable, "-m", "awscli"] if _has_awscli_module() else ["aws"]

    def run(*args: str) -> str:
        done = subprocess.run(
            [*aws, "--endpoint-url", server.url, *args],
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert done.returncode == 0, done.stderr
        return done.stdout

    run("s3", "cp", str(source), f"s3://{bucket}/cli/cli.bin")
    assert "cli.bin" in run("s3", "ls", f"s3://{bucket}/cli/")
    run("s3", "cp", f"s3://{bucket}/cli/cli.bin", str(tmp_path / "back.bin"))
    assert (tmp_path / "back.bin").read_bytes() == source.read_bytes()
    run("s3", "rm", "--recursive", f"s3://{bucket}/cli/")
    assert "cli.bin" not in run("s3", "ls", f"s3://{bucket}/", "--recursive")


def _has_awscli_module() -> bool:
    import importlib.util

    return importlib.util.find_spec("awscli") is not None
