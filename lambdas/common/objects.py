"""Reading and writing objects through ``localaws.lambdakit.storage`` (local files or S3)."""

from __future__ import annotations

import codecs
from functools import lru_cache
from typing import Any

from common.errors import DataQualityError, InputNotFoundError, InvalidEventError


@lru_cache(maxsize=1)
def storage() -> Any:
    """The storage of this worker, created on first use: local when ``LOCALAWS_S3_ROOT`` is set,
    S3 otherwise."""
    from localaws.lambdakit.storage import storage_from_env

    return storage_from_env()


def require_uri(event: dict[str, Any], field: str) -> str:
    value = event.get(field)
    if not isinstance(value, str) or not value.startswith("s3://") or len(value) <= len("s3://"):
        raise InvalidEventError(f"{field}: expected an s3://bucket/key URI, got {value!r}")
    return value


def join(prefix: str, *parts: str) -> str:
    """``s3://b/p/`` + ``a``, ``b.csv`` -> ``s3://b/p/a/b.csv``."""
    return "/".join([prefix.rstrip("/"), *(p.strip("/") for p in parts)])


def objects_at(store: Any, uri: str, field: str, suffixes: tuple[str, ...] = ()) -> list[str]:
    """The object at ``uri``, or else every object under it taken as a prefix (sorted,
    keeping only names ending in ``suffixes`` when given).  Refuses an empty result."""
    if not uri.endswith("/") and store.exists(uri):
        return [uri]
    prefix = uri if uri.endswith("/") else uri + "/"
    found = sorted(u for u in store.list(prefix) if not u.endswith("/"))
    if suffixes:
        found = [u for u in found if u.endswith(suffixes)]
    if not found:
        wanted = f" ending in {' or '.join(suffixes)}" if suffixes else ""
        raise InputNotFoundError(
            f"{field}: no object at {uri} and no object{wanted} under {prefix}; check the URI"
        )
    return found


def read_text(store: Any, uri: str) -> str:
    """The object as text: UTF-8, a leading byte-order mark removed."""
    return decode_text(store.read(uri), uri)


def decode_text(data: bytes, uri: str) -> str:
    """An object's bytes as text: UTF-8, a leading byte-order mark removed."""
    try:
        return codecs.decode(data, "utf-8-sig")
    except UnicodeDecodeError as e:
        raise DataQualityError(
            f"{uri}: not UTF-8 text (undecodable byte at offset {e.start}); the object is "
            "corrupted or not a CSV file"
        ) from e
