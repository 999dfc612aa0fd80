"""localaws.lambdakit.storage: one behaviour table run against local storage and against S3 (moto)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import boto3
import pytest
from moto import mock_aws

from localaws import config
from localaws.errors import UserError
from localaws.lambdakit.storage import (
    InvalidUri,
    LocalStorage,
    NoSuchKey,
    S3Storage,
    Storage,
    parse_s3_uri,
    storage_from_env,
)

BUCKET = "data-bucket"


@pytest.fixture(params=["local", "s3"])
def storage(
    request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Storage]:
    if request.param == "local":
        yield LocalStorage(tmp_path / "s3")
        return
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    with mock_aws():
        client = boto3.client("s3", region_name="us-east-1")
        client.create_bucket(Bucket=BUCKET)
        yield S3Storage(client)


def uri(key: str) -> str:
    return f"s3://{BUCKET}/{key}"


# -- the behaviour table ---------------------------------------------------------------------


def test_write_then_read_roundtrips(storage: Storage) -> None:
    storage.write(uri("a/b.csv"), b"1,2\n")
    assert storage.read(uri("a/b.csv")) == b"1,2\n"
    assert storage.exists(uri("a/b.csv"))


def test_write_replaces(storage: Storage) -> None:
    storage.write(uri("k"), b"old")
    storage.write(uri("k"), b"new")
    assert storage.read(uri("k")) == b"new"


def test_read_missing_raises_no_such_key(storage: Storage) -> None:
    with pytest.raises(NoSuchKey) as info:
        storage.read(uri("missing/key"))
    assert isinstance(info.value, FileNotFoundError)
    assert "missing/key" in str(info.value)


def test_exists_false_for_missing_and_for_prefix(storage: Storage) -> None:
    storage.write(uri("dir/file"), b"x")
    assert not storage.exists(uri("nothing"))
    assert not storage.exists(uri("dir"))


def test_list_by_prefix_recursive_and_sorted(storage: Storage) -> None:
    for key in ["p/b.csv", "p/a.csv", "p/sub/c.csv", "pq/d.csv", "other/e.csv"]:
        storage.write(uri(key), b"x")
    assert storage.list(uri("p/")) == [uri("p/a.csv"), uri("p/b.csv"), uri("p/sub/c.csv")]
    assert storage.list(uri("p")) == [
        uri("p/a.csv"),
        uri("p/b.csv"),
        uri("p/sub/c.csv"),
        uri("pq/d.csv"),
    ]
    assert storage.list(uri("p/a")) == [uri("p/a.csv")]
    assert storage.list(f"s3://{BUCKET}") == sorted(
        uri(k) for k in ["p/b.csv", "p/a.csv", "p/sub/c.csv", "pq/d.csv", "other/e.csv"]
    )


def test_list_of_unknown_prefix_is_empty(storage: Storage) -> None:
    assert storage.list(uri("nope/")) == []


def test_delete_removes_and_is_idempotent(storage: Storage) -> None:
    storage.write(uri("d/x"), b"x")
    storage.delete(uri("d/x"))
    assert not storage.exists(uri("d/x"))
    assert storage.list(uri("d/")) == []
    storage.delete(uri("d/x"))


def test_download_and_upload_stream_files(storage: Storage, tmp_path: Path) -> None:
    source = tmp_path / "big.bin"
    source.write_bytes(os.urandom(3 * 1024 * 1024 + 7))
    storage.upload_from(source, uri("big/big.bin"))
    target = tmp_path / "out" / "copy.bin"
    storage.download_to(uri("big/big.bin"), target)
    assert target.read_bytes() == source.read_bytes()
    with storage.open_read(uri("big/big.bin")) as fh:
        assert fh.read(10) == source.read_bytes()[:10]


def test_download_missing_raises_no_such_key(storage: Storage, tmp_path: Path) -> None:
    with pytest.raises(NoSuchKey):
        storage.download_to(uri("missing"), tmp_path / "x")


@pytest.mark.parametrize(
    "bad",
    [
        "bucket/key",
        "s3:/b/k",
        "s3://Bad_Bucket/k",
        "s3://ab/k",
        "s3://a..b/k",
        "s3://192.168.1.1/k",
        "",
    ],
    ids=["no-scheme", "one-slash", "uppercase-bucket", "short-bucket", "dots", "ip", "empty"],
)
def test_invalid_uris_refused(storage: Storage, bad: str) -> None:
    with pytest.raises(InvalidUri) as info:
        storage.read(bad)
    assert isinstance(info.value, UserError)
    assert "s3://" in str(info.value) or "bucket" in str(info.value)


# -- parsing ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("s3://bucket-1/a/b.csv", ("bucket-1", "a/b.csv")),
        ("s3://bucket-1/", ("bucket-1", "")),
        ("s3://bucket-1", ("bucket-1", "")),
        ("s3://my.bucket/k", ("my.bucket", "k")),
    ],
)
def test_parse_s3_uri(given: str, expected: tuple[str, str]) -> None:
    assert parse_s3_uri(given) == expected


# -- local storage: the root cannot be escaped -------------------------------------------------


@pytest.mark.parametrize(
    "key",
    [
        "../outside",
        "a/../../outside",
        "a/..",
        "./a",
        "/etc/passwd",
        "a//b",
        "a\\..\\b",
        "a\x00b",
    ],
    ids=[
        "dotdot",
        "nested-dotdot",
        "trailing-dotdot",
        "dot",
        "absolute",
        "empty-segment",
        "backslash",
        "nul",
    ],
)
def test_local_refuses_keys_that_could_escape(tmp_path: Path, key: str) -> None:
    store = LocalStorage(tmp_path / "root")
    target = f"s3://{BUCKET}/{key}"
    for op in (
        lambda: store.write(target, b"x"),
        lambda: store.read(target),
        lambda: store.exists(target),
    ):
        with pytest.raises(InvalidUri) as info:
            op()
        assert repr(key) in str(info.value)
    assert not (tmp_path / "outside").exists()


@pytest.mark.parametrize(
    "key", ["%2e%2e/x", "%2E%2E%2Fx", "..%2fx", "\uff0e\uff0e/x", "...", "a..b"]
)
def test_local_keeps_encoded_lookalikes_inside_the_root(tmp_path: Path, key: str) -> None:
    """Percent-encoded or lookalike dots are literal characters in S3 keys: stored inside."""
    store = LocalStorage(tmp_path / "root")
    store.write(f"s3://{BUCKET}/{key}", b"x")
    written = [p for p in (tmp_path / "root").rglob("*") if p.is_file()]
    assert [
        p.resolve().is_relative_to((tmp_path / "root" / BUCKET).resolve()) for p in written
    ] == [True]
    assert store.list(f"s3://{BUCKET}/") == [f"s3://{BUCKET}/{key}"]


def test_local_refuses_symlink_out_of_the_bucket(tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    (tmp_path / "root" / BUCKET).mkdir(parents=True)
    (tmp_path / "root" / BUCKET / "link").symlink_to(outside)
    store = LocalStorage(tmp_path / "root")
    with pytest.raises(InvalidUri, match="outside the bucket"):
        store.write(f"s3://{BUCKET}/link/x", b"x")
    assert list(outside.iterdir()) == []


def test_local_refusal_message_names_the_key_and_the_fix(tmp_path: Path) -> None:
    with pytest.raises(InvalidUri) as info:
        LocalStorage(tmp_path).write(f"s3://{BUCKET}/a/../b", b"x")
    message = str(info.value)
    assert "'a/../b'" in message
    assert "use a key without" in message


def test_local_writes_are_atomic_and_temp_files_never_listed(tmp_path: Path) -> None:
    store = LocalStorage(tmp_path)

    class Boom(Exception):
        pass

    def failing(fh: object) -> None:
        fh.write(b"partial")  # type: ignore[attr-defined]
        raise Boom

    store.write(uri("k"), b"old")
    with pytest.raises(Boom):
        store._replace(uri("k"), store.path(uri("k")), failing)
    assert store.read(uri("k")) == b"old"
    assert store.list(f"s3://{BUCKET}/") == [uri("k")]
    assert list((tmp_path / ".tmp").iterdir()) == []


def test_local_file_and_folder_with_one_name_refused(tmp_path: Path) -> None:
    store = LocalStorage(tmp_path)
    store.write(uri("a"), b"x")
    with pytest.raises(UserError, match="already an object"):
        store.write(uri("a/b"), b"y")
    store.delete(uri("a"))
    store.write(uri("a/b"), b"y")
    with pytest.raises(UserError, match="use this key as a folder"):
        store.write(uri("a"), b"x")
    store.delete(uri("a/b"))
    store.write(uri("a"), b"x")  # the emptied folder was removed
    assert store.read(uri("a")) == b"x"


def test_local_layout_is_root_bucket_key(tmp_path: Path) -> None:
    LocalStorage(tmp_path).write(uri("x/y.txt"), b"hello")
    assert (tmp_path / BUCKET / "x" / "y.txt").read_bytes() == b"hello"


# -- choosing a backend ---------------------------------------------------------------------


def test_storage_from_env_local_when_root_set(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(config.ENV_S3_ROOT, str(tmp_path))
    store = storage_from_env()
    assert isinstance(store, LocalStorage)
    assert store.root == tmp_path.resolve()


def test_storage_from_env_s3_otherwise(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(config.ENV_S3_ROOT, raising=False)
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    assert isinstance(storage_from_env(), S3Storage)
