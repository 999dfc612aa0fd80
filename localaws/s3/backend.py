"""S3's object store, without HTTP: buckets, objects, their metadata, multipart uploads.

``s3://bucket/key`` is ``<state dir>/s3/bucket/key`` (:class:`~localaws.lambdakit.storage.LocalStorage`),
so objects written through the S3 API are the objects the runtime, the Lambdas and the
training jobs read, and the other way round.  What a file cannot carry lives beside the tree:

* ``<state dir>/s3-meta/<bucket>/<sha256(key)>.json``: ETag, Content-Type and user metadata
  of an object written through the API, valid while the file's size and mtime match.  An
  object written by other means gets an ETag derived from its size and mtime.
* ``<state dir>/s3-uploads/<upload id>/``: a multipart upload's parts, assembled into one
  temporary file and renamed into place on CompleteMultipartUpload (readers see the old
  object or the whole new one).

Failures are :class:`S3Error` with S3's code; :mod:`localaws.server.s3_protocol` speaks the
REST-XML protocol over this store.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import shutil
import tempfile
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import cached_property
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

from localaws.errors import UserError
from localaws.lambdakit.storage import TMP_DIR, InvalidUri, check_bucket, s3_uri

if TYPE_CHECKING:
    from localaws.runtime import Runtime
    from localaws.s3.notifications import S3Notifications

MIN_PART_SIZE = 5 * 1024 * 1024
MAX_UPLOAD_SIZE = 5 * 1024**3  # S3's limit on one PUT (an object or a part)
MAX_KEY_BYTES = 1024
IO_CHUNK = 1024 * 1024
_UPLOAD_ID = re.compile(r"^[0-9a-f]{32}$")

# S3's error codes and their HTTP status.
ERRORS = {
    "AccessDenied": 403,
    "BadDigest": 400,
    "BucketAlreadyOwnedByYou": 409,
    "BucketNotEmpty": 409,
    "EntityTooLarge": 400,
    "EntityTooSmall": 400,
    "IncompleteBody": 400,
    "InternalError": 500,
    "InvalidArgument": 400,
    "InvalidBucketName": 400,
    "InvalidDigest": 400,
    "InvalidPart": 400,
    "InvalidPartOrder": 400,
    "InvalidRange": 416,
    "InvalidRequest": 400,
    "KeyTooLongError": 400,
    "MalformedXML": 400,
    "MethodNotAllowed": 405,
    "NoSuchBucket": 404,
    "NoSuchKey": 404,
    "NoSuchUpload": 404,
    "NotImplemented": 501,
    "XAmzContentSHA256Mismatch": 400,
}


class S3Error(Exception):
    """An S3 API error: code (one of ERRORS), message, and extra elements of the error XML."""

    def __init__(self, code: str, message: str, **extra: str):
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message
        self.status = ERRORS.get(code, 400)
        self.extra = extra


# -- objects on disk ---------------------------------------------------------------------------


@dataclass
class ObjectInfo:
    key: str
    size: int
    etag: str  # quoted, as on the wire
    last_modified: datetime
    content_type: str = "binary/octet-stream"
    metadata: dict[str, str] = field(default_factory=dict)


@dataclass
class Spooled:
    """A request body written to a temporary file."""

    path: Path
    size: int
    md5: bytes


class ObjectStore:
    """Buckets, objects, their metadata and multipart uploads, on the local storage tree
    (``Runtime.s3``)."""

    def __init__(self, runtime: Runtime):
        self.storage = runtime.storage
        self.root = self.storage.root
        self.meta_root = runtime.layout.s3_meta
        self.uploads_root = runtime.layout.s3_uploads
        self.region = runtime.region
        self._runtime = runtime

    @cached_property
    def notifications(self) -> S3Notifications:
        """Bucket notification configurations and their delivery (:mod:`.notifications`)."""
        from localaws.s3.notifications import S3Notifications

        return S3Notifications(self._runtime)

    def recover(self) -> None:
        """Every object and upload is on disk; start delivering queued notifications."""
        self.notifications.outbox.start()

    def close(self) -> None:
        """Stop delivering notifications (the queued ones wait in the database)."""
        if "notifications" in self.__dict__:
            self.notifications.outbox.stop()

    # -- buckets -----------------------------------------------------------------------

    def bucket_dir(self, bucket: str) -> Path:
        try:
            check_bucket(bucket, f"s3://{bucket}")
        except InvalidUri as e:
            raise S3Error("InvalidBucketName", str(e), BucketName=bucket) from e
        return self.root / bucket

    def require_bucket(self, bucket: str) -> Path:
        path = self.bucket_dir(bucket)
        if not path.is_dir():
            raise S3Error("NoSuchBucket", "The specified bucket does not exist", BucketName=bucket)
        return path

    def list_buckets(self) -> list[tuple[str, datetime]]:
        if not self.root.is_dir():
            return []
        found = []
        for entry in sorted(self.root.iterdir()):
            if entry.is_dir() and not entry.name.startswith("."):
                found.append((entry.name, self._bucket_created(entry.name)))
        return found

    def create_bucket(self, bucket: str) -> None:
        path = self.bucket_dir(bucket)
        if path.is_dir():
            raise S3Error(
                "BucketAlreadyOwnedByYou",
                "Your previous request to create the named bucket succeeded and you already "
                "own it.",
                BucketName=bucket,
            )
        path.mkdir(parents=True)
        meta = self.meta_root / bucket
        meta.mkdir(parents=True, exist_ok=True)
        (meta / "bucket.json").write_text(json.dumps({"created": _now().timestamp()}))

    def delete_bucket(self, bucket: str) -> None:
        path = self.require_bucket(bucket)
        if any(p.is_file() for p in path.rglob("*")):
            raise S3Error(
                "BucketNotEmpty", "The bucket you tried to delete is not empty", BucketName=bucket
            )
        shutil.rmtree(path)
        shutil.rmtree(self.meta_root / bucket, ignore_errors=True)
        self.notifications.forget(bucket)

    def put_bucket_notification_configuration(
        self, bucket: str, configuration: dict[str, Any]
    ) -> None:
        self.require_bucket(bucket)
        self.notifications.put(bucket, configuration)

    def get_bucket_notification_configuration(self, bucket: str) -> dict[str, Any]:
        self.require_bucket(bucket)
        return self.notifications.get(bucket)

    def _bucket_created(self, bucket: str) -> datetime:
        with contextlib.suppress(OSError, ValueError, KeyError):
            doc = json.loads((self.meta_root / bucket / "bucket.json").read_text())
            return datetime.fromtimestamp(doc["created"], UTC)
        return datetime.fromtimestamp((self.root / bucket).stat().st_mtime, UTC)

    # -- objects -----------------------------------------------------------------------

    def object_path(self, bucket: str, key: str) -> Path:
        self.require_bucket(bucket)
        if len(key.encode("utf-8", "surrogatepass")) > MAX_KEY_BYTES:
            raise S3Error(
                "KeyTooLongError",
                "Your key is too long",
                Size=str(len(key.encode())),
                Key=key[:100],
            )
        try:
            return self.storage.path(s3_uri(bucket, key))
        except UserError as e:
            raise S3Error("InvalidArgument", str(e), Key=key, BucketName=bucket) from e

    def _meta_file(self, bucket: str, key: str) -> Path:
        return self.meta_root / bucket / (hashlib.sha256(key.encode()).hexdigest() + ".json")

    def info(self, bucket: str, key: str) -> ObjectInfo:
        path = self.object_path(bucket, key)
        try:
            st = path.stat()
        except (FileNotFoundError, NotADirectoryError):
            raise S3Error("NoSuchKey", "The specified key does not exist.", Key=key) from None
        if path.is_dir() and not key.endswith("/"):
            raise S3Error("NoSuchKey", "The specified key does not exist.", Key=key)
        size = 0 if path.is_dir() else st.st_size
        info = ObjectInfo(key, size, _pseudo_etag(size, st.st_mtime_ns), _mtime(st.st_mtime))
        with contextlib.suppress(OSError, ValueError, KeyError):
            doc = json.loads(self._meta_file(bucket, key).read_text())
            if doc["size"] == size and doc["mtime_ns"] == st.st_mtime_ns:
                info.etag = doc["etag"]
                info.content_type = doc.get("content_type") or info.content_type
                info.metadata = doc.get("metadata") or {}
        return info

    def list_keys(self, bucket: str, prefix: str) -> list[str]:
        self.require_bucket(bucket)
        try:
            uris = self.storage.list(s3_uri(bucket, prefix))
        except UserError as e:
            raise S3Error("InvalidArgument", str(e), BucketName=bucket) from e
        cut = len(s3_uri(bucket, ""))
        return [u[cut:] for u in uris]

    def new_temp(self) -> tuple[IO[bytes], Path]:
        """A temporary file on the storage's filesystem, so that a rename commits it."""
        tmp_dir = self.root / TMP_DIR
        tmp_dir.mkdir(parents=True, exist_ok=True)
        fd, name = tempfile.mkstemp(dir=tmp_dir, suffix=".part")
        return os.fdopen(fd, "wb"), Path(name)

    def commit(
        self,
        temp: Path,
        bucket: str,
        key: str,
        etag: str,
        content_type: str | None,
        metadata: dict[str, str],
        *,
        event: str = "Put",
    ) -> ObjectInfo:
        """Rename ``temp`` into place as the object (atomically) and record its metadata;
        ``event`` (``Put``, ``Copy``, ``CompleteMultipartUpload``) names the
        ``s3:ObjectCreated:*`` notification it queues."""
        try:
            path = self.object_path(bucket, key)
            if key.endswith("/"):
                if temp.stat().st_size:
                    raise S3Error(
                        "InvalidArgument",
                        f"key {key!r} ends in '/', which local storage keeps as a folder; "
                        "a folder marker holds no data",
                        Key=key,
                    )
                path.mkdir(parents=True, exist_ok=True)
                temp.unlink()
            else:
                try:
                    path.parent.mkdir(parents=True, exist_ok=True)
                except (FileExistsError, NotADirectoryError) as e:
                    raise S3Error(
                        "InvalidArgument",
                        f"a parent of key {key!r} is already an object, and local storage keeps "
                        "objects as files; delete that object or choose another key",
                        Key=key,
                    ) from e
                if path.is_dir():
                    raise S3Error(
                        "InvalidArgument",
                        f"other objects use key {key!r} as a folder, and local storage keeps "
                        "objects as files; choose another key",
                        Key=key,
                    )
                os.replace(temp, path)
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                temp.unlink()
            raise
        st = path.stat()
        size = 0 if path.is_dir() else st.st_size
        meta_file = self._meta_file(bucket, key)
        meta_file.parent.mkdir(parents=True, exist_ok=True)
        doc = {
            "key": key,
            "size": size,
            "mtime_ns": st.st_mtime_ns,
            "etag": etag,
            "content_type": content_type,
            "metadata": metadata,
        }
        meta_file.write_text(json.dumps(doc))
        info = self.info(bucket, key)
        self.notifications.object_event(f"ObjectCreated:{event}", bucket, key, info.size, info.etag)
        return info

    def delete(self, bucket: str, key: str) -> None:
        path = self.object_path(bucket, key)
        if key.endswith("/") and path.is_dir():
            with contextlib.suppress(OSError):
                path.rmdir()  # only when empty, as deleting a marker leaves the objects under it
        else:
            self.storage.delete(s3_uri(bucket, key))
        with contextlib.suppress(FileNotFoundError):
            self._meta_file(bucket, key).unlink()
        self.notifications.object_event("ObjectRemoved:Delete", bucket, key)

    def copy_to_temp(self, bucket: str, key: str, first: int, last: int) -> Spooled:
        """Bytes ``first..last`` of an object, copied into a temporary file."""
        source = self.object_path(bucket, key)
        out, temp = self.new_temp()
        md5 = hashlib.md5()
        size = 0
        try:
            with out, open(source, "rb") as src:
                src.seek(first)
                left = last - first + 1
                while left > 0:
                    data = src.read(min(IO_CHUNK, left))
                    if not data:
                        break
                    md5.update(data)
                    out.write(data)
                    size += len(data)
                    left -= len(data)
        except BaseException:
            temp.unlink(missing_ok=True)
            raise
        return Spooled(temp, size, md5.digest())

    # -- multipart uploads -------------------------------------------------------------

    def create_upload(
        self, bucket: str, key: str, content_type: str | None, metadata: dict[str, str]
    ) -> str:
        self.object_path(bucket, key)  # refuse a bad key now, not at completion
        upload_id = uuid.uuid4().hex
        directory = self.uploads_root / upload_id
        directory.mkdir(parents=True)
        doc = {"bucket": bucket, "key": key, "content_type": content_type, "metadata": metadata}
        (directory / "upload.json").write_text(json.dumps(doc))
        return upload_id

    def upload(self, bucket: str, key: str, upload_id: str) -> tuple[Path, dict[str, Any]]:
        missing = S3Error(
            "NoSuchUpload",
            "The specified upload does not exist. The upload ID may be invalid, or the upload "
            "may have been aborted or completed.",
            UploadId=upload_id,
        )
        if not _UPLOAD_ID.match(upload_id):
            raise missing
        directory = self.uploads_root / upload_id
        try:
            doc = json.loads((directory / "upload.json").read_text())
        except FileNotFoundError:
            raise missing from None
        if doc["bucket"] != bucket or doc["key"] != key:
            raise missing
        return directory, doc

    def put_part(self, directory: Path, number: int, spooled: Spooled) -> str:
        etag = f'"{spooled.md5.hex()}"'
        os.replace(spooled.path, directory / f"part-{number:05d}")
        (directory / f"part-{number:05d}.json").write_text(
            json.dumps({"etag": etag, "size": spooled.size})
        )
        return etag

    def complete_upload(
        self, bucket: str, key: str, upload_id: str, parts: list[tuple[int, str]]
    ) -> ObjectInfo:
        directory, doc = self.upload(bucket, key, upload_id)
        if not parts:
            raise S3Error("MalformedXML", "You must specify at least one part")
        numbers = [n for n, _ in parts]
        if numbers != sorted(set(numbers)):
            raise S3Error(
                "InvalidPartOrder",
                "The list of parts was not in ascending order. The parts list must be specified "
                "in order by part number.",
            )
        files = []
        md5s = b""
        for i, (number, etag) in enumerate(parts):
            part = directory / f"part-{number:05d}"
            try:
                record = json.loads(part.with_suffix(".json").read_text())
            except FileNotFoundError:
                record = None
            if record is None or record["etag"].strip('"') != etag.strip('"'):
                raise S3Error(
                    "InvalidPart",
                    "One or more of the specified parts could not be found. The part may not "
                    "have been uploaded, or the specified entity tag may not match the part's "
                    "entity tag.",
                    PartNumber=str(number),
                    ETag=etag,
                )
            if i < len(parts) - 1 and record["size"] < MIN_PART_SIZE:
                raise S3Error(
                    "EntityTooSmall",
                    f"Your proposed upload is smaller than the minimum allowed size: part "
                    f"{number} is {record['size']} bytes; every part but the last must be at "
                    f"least {MIN_PART_SIZE} bytes",
                    PartNumber=str(number),
                )
            files.append(part)
            md5s += bytes.fromhex(record["etag"].strip('"'))
        out, temp = self.new_temp()
        try:
            with out:
                for part in files:
                    with open(part, "rb") as src:
                        shutil.copyfileobj(src, out, IO_CHUNK)
                out.flush()
                os.fsync(out.fileno())
        except BaseException:
            temp.unlink(missing_ok=True)
            raise
        etag = f'"{hashlib.md5(md5s).hexdigest()}-{len(files)}"'
        info = self.commit(
            temp,
            bucket,
            key,
            etag,
            doc["content_type"],
            doc["metadata"],
            event="CompleteMultipartUpload",
        )
        shutil.rmtree(directory, ignore_errors=True)
        return info

    def abort_upload(self, bucket: str, key: str, upload_id: str) -> None:
        directory, _ = self.upload(bucket, key, upload_id)
        shutil.rmtree(directory, ignore_errors=True)


def _now() -> datetime:
    return datetime.now(UTC)


def _mtime(ts: float) -> datetime:
    return datetime.fromtimestamp(int(ts), UTC)  # S3 keeps whole seconds


def _pseudo_etag(size: int, mtime_ns: int) -> str:
    """The ETag of an object not written through this API: stable until the file changes."""
    return '"' + hashlib.md5(f"{size}:{mtime_ns}".encode()).hexdigest() + '"'
