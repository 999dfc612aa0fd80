"""Atomic file writes: readers see the old file or the new one, never half of it.

Used by the Lambda side (local storage) and by the runtime (:mod:`localaws.store` re-exports
:func:`atomic_write`).
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import IO


def atomic_fill(
    path: Path, fill: Callable[[IO[bytes]], object], *, tmp_dir: Path | None = None
) -> None:
    """Write ``path`` through ``fill(file)``: into a temporary file in ``tmp_dir`` (default:
    beside ``path``; it must be on the same filesystem), synced, then renamed into place.
    The parent directories must exist."""
    if tmp_dir is None:
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    else:
        fd, tmp = tempfile.mkstemp(dir=tmp_dir, suffix=".part")
    try:
        with os.fdopen(fd, "wb") as fh:
            fill(fh)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def atomic_write(path: str | os.PathLike[str], data: bytes) -> None:
    """Write ``data`` to ``path`` (creating its directory) atomically."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_fill(path, lambda fh: fh.write(data))
