"""Objects by ``s3://bucket/key`` URI: a local directory or real S3, behind one interface.

* :class:`LocalStorage` maps ``s3://bucket/key`` to ``<root>/bucket/key``.  Writes are atomic
  (a temp file under ``<root>/.tmp``, then a rename), so readers see the old object or the new
  one and :meth:`Storage.list` never sees a half-written one.  Bucket names must follow S3's
  rules and keys that could leave the root (``..`` or ``.`` segments, a leading ``/``, empty
  segments, NUL, backslashes) are refused with a :class:`~localaws.lambdakit.errors.UserError`; every
  path is also checked, after resolving symlinks, to lie inside the root.
  A key segment longer than a file name may be (255 bytes; valid on S3) is kept on disk as
  ``~<sha256 of the segment>``, the segment itself in ``<root>/.longnames/<sha256>``, so
  that listings give the key back.
* :class:`S3Storage` does the same operations through a boto3 S3 client.

:func:`storage_from_env` picks one: ``LOCALAWS_S3_ROOT`` set (the local runtime sets it in its
Lambda workers) gives local storage, otherwise S3.

Part of :mod:`localaws.lambdakit`: it imports only the standard library, boto3 (lazily) and
its own package.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
import shutil
from abc import ABC, abstractmethod
from pathlib import Path
from typing import IO, Any

from localaws.lambdakit import config
from localaws.lambdakit.errors import UserError
from localaws.lambdakit.files import atomic_fill, atomic_write

SCHEME = "s3://"
TMP_DIR = ".tmp"  # under the local root; not a valid bucket name, so never listed
LONG_NAMES_DIR = ".longnames"  # under the local root: key segments too long for a file name
MAX_KEY_BYTES = 1024
MAX_NAME_BYTES = 255  # a file name's limit on common filesystems (NAME_MAX)
_BUCKET = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")
_IP_ADDRESS = re.compile(r"^\d+\.\d+\.\d+\.\d+$")
_COPY_CHUNK = 8 * 1024 * 1024
_LONG_NAME = re.compile(r"^~([0-9a-f]{64})$")


class InvalidUri(UserError):
    """Not an ``s3://bucket/key`` URI this storage accepts."""


class NoSuchKey(UserError, FileNotFoundError):
    """No object at the URI (also a FileNotFoundError, as for a missing local file)."""

    def __init__(self, uri: str):
        super().__init__(f"{uri}: no such object; check the bucket and key")
        self.uri = uri


def parse_s3_uri(uri: str) -> tuple[str, str]:
    """``s3://bucket/key`` -> ``("bucket", "key")``; the key may be empty (a bucket prefix)."""
    if not isinstance(uri, str) or not uri.startswith(SCHEME):
        raise InvalidUri(f"{uri!r}: not an S3 URI; expected s3://bucket/key")
    bucket, _, key = uri[len(SCHEME) :].partition("/")
    check_bucket(bucket, uri)
    return bucket, key


def check_bucket(bucket: str, uri: str) -> None:
    """Refuse a bucket name that breaks S3's naming rules."""
    if not _BUCKET.match(bucket) or ".." in bucket or _IP_ADDRESS.match(bucket):
        raise InvalidUri(
            f"{uri!r}: bucket name {bucket!r} is not valid; S3 bucket names are 3-63 characters "
            "of lowercase letters, digits, dots and hyphens, starting and ending with a letter or "
            "digit, with no '..' and not shaped like an IP address"
        )


def s3_uri(bucket: str, key: str) -> str:
    return f"{SCHEME}{bucket}/{key}"


class Storage(ABC):
    """The object operations the runtime and the Lambdas use."""

    @abstractmethod
    def read(self, uri: str) -> bytes:
        """The object's bytes; :class:`NoSuchKey` when there is none."""

    @abstractmethod
    def write(self, uri: str, data: bytes) -> None:
        """Create or replace the object, atomically."""

    @abstractmethod
    def list(self, prefix_uri: str) -> list[str]:
        """URIs of every object whose key starts with the prefix, sorted."""

    @abstractmethod
    def delete(self, uri: str) -> None:
        """Remove the object; nothing happens when there is none (as on S3)."""

    @abstractmethod
    def exists(self, uri: str) -> bool:
        """Whether an object is at the URI."""

    @abstractmethod
    def open_read(self, uri: str) -> IO[bytes]:
        """A binary file-like object to stream the object from; close it after use."""

    @abstractmethod
    def download_to(self, uri: str, path: str | os.PathLike[str]) -> None:
        """Copy the object to a local file without holding it in memory."""

    @abstractmethod
    def upload_from(self, path: str | os.PathLike[str], uri: str) -> None:
        """Copy a local file to the object without holding it in memory."""


# -- local directory -------------------------------------------------------------------------


class LocalStorage(Storage):
    """``s3://bucket/key`` -> ``<root>/bucket/key``."""

    def __init__(self, root: str | os.PathLike[str]):
        self.root = Path(root).resolve()

    def __repr__(self) -> str:
        return f"LocalStorage({str(self.root)!r})"

    def path(self, uri: str) -> Path:
        """The local file of ``uri``, after refusing anything that could leave the root."""
        bucket, key = parse_s3_uri(uri)
        _check_key(key, uri)
        path = self.root / bucket / self._disk_key(key)
        resolved = path.resolve()
        if not resolved.is_relative_to(self.root / bucket):
            raise InvalidUri(
                f"{uri!r}: key {key!r} resolves outside the bucket's directory; use a key "
                "without links that point out of the bucket"
            )
        return path

    def _disk_key(self, key: str) -> str:
        """``key`` with each segment too long for a file name replaced by its hashed name."""
        return "/".join(self._disk_name(segment) for segment in key.split("/"))

    def _disk_name(self, segment: str) -> str:
        if len(segment.encode("utf-8", "surrogatepass")) <= MAX_NAME_BYTES:
            return segment
        digest = hashlib.sha256(segment.encode("utf-8", "surrogatepass")).hexdigest()
        record = self.root / LONG_NAMES_DIR / digest
        if not record.is_file():
            atomic_write(record, segment.encode("utf-8", "surrogatepass"))
        return f"~{digest}"

    def _key_name(self, name: str) -> str:
        """The key segment a file name on disk stands for (the inverse of _disk_name)."""
        m = _LONG_NAME.match(name)
        if m is None:
            return name
        try:
            return (
                (self.root / LONG_NAMES_DIR / m.group(1))
                .read_bytes()
                .decode("utf-8", "surrogatepass")
            )
        except FileNotFoundError:
            return name  # a key that merely looks like a hashed name

    def read(self, uri: str) -> bytes:
        path = self.path(uri)
        try:
            return path.read_bytes()
        except (FileNotFoundError, NotADirectoryError, IsADirectoryError):
            raise NoSuchKey(uri) from None

    def write(self, uri: str, data: bytes) -> None:
        path = self.path(uri)
        if uri.endswith("/"):
            if data:
                raise InvalidUri(
                    f"{uri!r}: a key ending in '/' is a folder marker and holds no data"
                )
            self._mkdirs(path, uri)
            return
        self._replace(uri, path, lambda fh: fh.write(data))

    def list(self, prefix_uri: str) -> list[str]:
        bucket, prefix = parse_s3_uri(prefix_uri)
        if prefix:
            _check_key(prefix, prefix_uri, prefix=True)
        base = self.root / bucket
        start = base / self._disk_key(prefix.rpartition("/")[0]) if "/" in prefix else base
        if not start.is_dir():
            return []
        found = []
        for dirpath, dirnames, filenames in os.walk(start):
            dirnames.sort()
            rel_dir = Path(dirpath).relative_to(base).as_posix()
            rel_dir = (
                ""
                if rel_dir == "."
                else "/".join(self._key_name(p) for p in rel_dir.split("/")) + "/"
            )
            for name in filenames:
                key = rel_dir + self._key_name(name)
                if key.startswith(prefix):
                    found.append(s3_uri(bucket, key))
        return sorted(found)

    def delete(self, uri: str) -> None:
        path = self.path(uri)
        bucket_dir = self.root / parse_s3_uri(uri)[0]
        with contextlib.suppress(FileNotFoundError, NotADirectoryError, IsADirectoryError):
            path.unlink()
        # drop directories the object left empty, so a later key may use the name as a file
        parent = path.parent
        while parent != bucket_dir and parent.is_relative_to(bucket_dir):
            try:
                parent.rmdir()
            except OSError:
                break
            parent = parent.parent

    def exists(self, uri: str) -> bool:
        path = self.path(uri)
        return path.is_dir() if uri.endswith("/") else path.is_file()

    def open_read(self, uri: str) -> IO[bytes]:
        path = self.path(uri)
        try:
            return open(path, "rb")
        except (FileNotFoundError, NotADirectoryError, IsADirectoryError):
            raise NoSuchKey(uri) from None

    def download_to(self, uri: str, path: str | os.PathLike[str]) -> None:
        source = self.path(uri)
        if not source.is_file():
            raise NoSuchKey(uri)
        target = Path(path)
        target.parent.mkdir(parents=True, exist_ok=True)
        with open(source, "rb") as src:
            atomic_fill(target, lambda out: shutil.copyfileobj(src, out, _COPY_CHUNK))

    def upload_from(self, path: str | os.PathLike[str], uri: str) -> None:
        target = self.path(uri)
        with open(path, "rb") as src:
            self._replace(uri, target, lambda fh: shutil.copyfileobj(src, fh, _COPY_CHUNK))

    # -- internals ---------------------------------------------------------------------

    def _mkdirs(self, directory: Path, uri: str) -> None:
        try:
            directory.mkdir(parents=True, exist_ok=True)
        except (FileExistsError, NotADirectoryError) as e:
            raise UserError(
                f"{uri!r}: a parent of this key is already an object, and local storage keeps "
                "objects as files, so it cannot also be a folder; delete that object or choose "
                "another key"
            ) from e

    def _replace(self, uri: str, path: Path, fill: Any) -> None:
        self._mkdirs(path.parent, uri)
        if path.is_dir():
            raise UserError(
                f"{uri!r}: other objects use this key as a folder, and local storage keeps "
                "objects as files; choose another key or delete the objects under it"
            )
        tmp_dir = self.root / TMP_DIR
        tmp_dir.mkdir(parents=True, exist_ok=True)
        atomic_fill(path, fill, tmp_dir=tmp_dir)


def _check_key(key: str, uri: str, *, prefix: bool = False) -> None:
    """Refuse keys that a directory tree cannot hold safely."""

    def bad(why: str) -> InvalidUri:
        return InvalidUri(f"{uri!r}: key {key!r} {why}")

    if not key and not prefix:
        raise bad("is empty; name an object after the bucket (s3://bucket/key)")
    if "\x00" in key:
        raise bad("contains a NUL character; remove it")
    if "\\" in key:
        raise bad("contains a backslash; use '/' to separate folders")
    if key.startswith("/"):
        raise bad(
            "starts with '/' (an absolute path); write s3://bucket/key with no '/' before the key"
        )
    if len(key.encode("utf-8", "surrogatepass")) > MAX_KEY_BYTES:
        raise bad(f"is longer than S3's limit of {MAX_KEY_BYTES} bytes; shorten it")
    segments = key.split("/")
    # a trailing '/' (folder marker or prefix) leaves one empty last segment, which is fine
    inner = segments[:-1] if segments[-1] == "" else segments
    for segment in inner:
        if segment in ("", ".", ".."):
            shown = segment or "an empty segment ('//')"
            raise bad(
                f"has {shown!s} as a path segment, which local storage refuses because it could "
                "name a file outside the bucket; use a key without '.', '..' or '//' segments"
            )


# -- real S3 ---------------------------------------------------------------------------------


class S3Storage(Storage):
    """The same operations through a boto3 S3 client."""

    def __init__(self, client: Any):
        self.client = client

    def __repr__(self) -> str:
        return "S3Storage()"

    def read(self, uri: str) -> bytes:
        with self.open_read(uri) as body:
            return body.read()

    def write(self, uri: str, data: bytes) -> None:
        bucket, key = _object(uri)
        self.client.put_object(Bucket=bucket, Key=key, Body=data)

    def list(self, prefix_uri: str) -> list[str]:
        bucket, prefix = parse_s3_uri(prefix_uri)
        found: list[str] = []
        for page in self.client.get_paginator("list_objects_v2").paginate(
            Bucket=bucket, Prefix=prefix
        ):
            found.extend(s3_uri(bucket, item["Key"]) for item in page.get("Contents", []))
        return sorted(found)

    def delete(self, uri: str) -> None:
        bucket, key = _object(uri)
        self.client.delete_object(Bucket=bucket, Key=key)

    def exists(self, uri: str) -> bool:
        bucket, key = _object(uri)
        try:
            self.client.head_object(Bucket=bucket, Key=key)
        except Exception as e:
            if _is_missing(e):
                return False
            raise
        return True

    def open_read(self, uri: str) -> IO[bytes]:
        bucket, key = _object(uri)
        try:
            return self.client.get_object(Bucket=bucket, Key=key)["Body"]  # type: ignore[no-any-return]
        except Exception as e:
            if _is_missing(e):
                raise NoSuchKey(uri) from e
            raise

    def download_to(self, uri: str, path: str | os.PathLike[str]) -> None:
        bucket, key = _object(uri)
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        try:
            self.client.download_file(bucket, key, os.fspath(path))
        except Exception as e:
            if _is_missing(e):
                raise NoSuchKey(uri) from e
            raise

    def upload_from(self, path: str | os.PathLike[str], uri: str) -> None:
        bucket, key = _object(uri)
        self.client.upload_file(os.fspath(path), bucket, key)


def _object(uri: str) -> tuple[str, str]:
    bucket, key = parse_s3_uri(uri)
    if not key:
        raise InvalidUri(f"{uri!r}: no key; name an object after the bucket (s3://bucket/key)")
    return bucket, key


def _is_missing(error: Exception) -> bool:
    """A botocore ClientError saying the object or bucket is not there."""
    response = getattr(error, "response", None)
    if not isinstance(response, dict):
        return False
    code = str(response.get("Error", {}).get("Code", ""))
    return code in ("404", "NoSuchKey", "NotFound", "NoSuchBucket")


# -- choosing one ----------------------------------------------------------------------------


def storage_from_env() -> Storage:
    """Local storage under ``LOCALAWS_S3_ROOT`` when it is set, else S3 through boto3."""
    root = config.resolve(None, config.ENV_S3_ROOT, "")
    if root:
        return LocalStorage(root)
    import boto3

    return S3Storage(boto3.client("s3"))
