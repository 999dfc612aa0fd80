"""A raw sensor reading of the AI4I machines, as the inference pipeline's endpoint takes it.

``Type,Air temperature,Process temperature,Rotational speed,Torque,Tool wear``, e.g.
``L,298.4,308.2,1582,70.7,216``: the quality variant (L, M or H) and five numbers.  The
same rules as the featurizer's own check (``workflows/jobs/featurizer.py``), applied before
a request reaches the endpoint so that a bad row is a 400 with a message, not a model error.
"""

from __future__ import annotations

import math

TYPES = ("L", "M", "H")
READING = (
    "Type",
    "Air temperature",
    "Process temperature",
    "Rotational speed",
    "Torque",
    "Tool wear",
)
EXAMPLE = "L,298.4,308.2,1582,70.7,216"
MAX_LENGTH = 200  # characters of one reading


class BadReading(ValueError):
    """The text is not one reading; the message names the field and shows the format."""


def parse_reading(text: str) -> tuple[str, list[float]]:
    """One CSV reading -> (type, five numbers), or :class:`BadReading`."""
    line = text.strip()
    if not line:
        raise BadReading(f"empty body; send one reading: {','.join(READING)} (e.g. {EXAMPLE})")
    if len(line) > MAX_LENGTH or "\n" in line:
        raise BadReading(f"send one reading of at most {MAX_LENGTH} characters, e.g. {EXAMPLE}")
    fields = [f.strip() for f in line.split(",")]
    if len(fields) != len(READING):
        raise BadReading(
            f"{len(fields)} fields; a reading has {len(READING)}: {','.join(READING)} "
            f"(e.g. {EXAMPLE})"
        )
    kind = fields[0]
    if kind not in TYPES:
        raise BadReading(f"Type {kind[:20]!r} is not one of {'/'.join(TYPES)}")
    values = []
    for name, field in zip(READING[1:], fields[1:], strict=True):
        try:
            value = float(field)
        except ValueError:
            raise BadReading(f"{name} {field[:20]!r} is not a number") from None
        if not math.isfinite(value):
            raise BadReading(f"{name} must be a finite number, got {field[:20]!r}")
        values.append(value)
    return kind, values


def to_csv(kind: str, values: list[float]) -> str:
    return ",".join([kind, *(repr(v) for v in values)])
