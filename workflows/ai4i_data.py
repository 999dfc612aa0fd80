"""The AI4I 2020 predictive-maintenance data: a seeded generator and a reader for the real file.

The generator follows the generation process published with the dataset (Matzka, "Explainable
Artificial Intelligence for Predictive Maintenance Applications", 2020; UCI dataset 601):

* ``Type``: quality variant L/M/H drawn with probabilities 60/30/10 %.
* ``Air temperature [K]``: a random walk around 300 K, normalised to a standard deviation of
  2 K.  We use a mean-reverting walk (AR(1), phi = 0.998) so that the marginal is the same for
  100 rows or 10 million; a pure random walk would drift with the length of the series.
* ``Process temperature [K]``: the air temperature plus 10 K plus a second such walk with a
  standard deviation of 1 K.
* ``Torque [Nm]``: normal around 40 Nm, sd 10 Nm, no negative values.
* ``Rotational speed [rpm]``: derived from a constant power with normal noise.  Taken
  literally (omega = 2,860 W / torque) this gives ~680 rpm, not the published 1,539 rpm
  mean, so the constant-power law is softened to ``speed = 1,512 (torque / 40)^-0.37`` plus
  normal noise (sd 55 rpm), calibrated to the real file: mean 1,539 rpm, sd ~180 rpm,
  correlation with torque -0.88, and its failure counts.
* ``Tool wear [min]``: each process adds 5/3/2 minutes of wear to the tool for H/M/L (the
  variant of the previous row, as in the real file).  Each tool is replaced at a wear drawn
  uniformly between 200 and 240 minutes; the replacement is a tool wear failure with
  probability 51/120 (the published 51 failures among 120 replacements), and wear then
  restarts at 0.  After an overstrain failure the tool is replaced with probability 0.35:
  without that, rows near the end of a tool's life are too common and OSF comes out ~25 %
  above the published count; with every overstrained tool replaced, TWF halves.

Failure modes, and ``Machine failure`` = any of them:

* TWF: at the tool replacement, as above.
* HDF: process minus air temperature below 8.6 K and speed below 1,380 rpm.
* PWF: power (torque x speed in rad/s) below 3,500 W or above 9,000 W.
* OSF: tool wear x torque above 11,000 / 12,000 / 13,000 minNm for L / M / H.
* RNF: probability 0.1 %, independent of everything else.

Everything is vectorised numpy; the one loop is over tools (about one per 85 rows).
"""

from __future__ import annotations

import codecs
import io
import os
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
from scipy.signal import lfilter

# Raw schema, in the order of the published file.
LABEL = "Machine failure"
FAILURE_MODES = ("TWF", "HDF", "PWF", "OSF", "RNF")
COLUMNS = (
    "UDI",
    "Product ID",
    "Type",
    "Air temperature [K]",
    "Process temperature [K]",
    "Rotational speed [rpm]",
    "Torque [Nm]",
    "Tool wear [min]",
    LABEL,
    *FAILURE_MODES,
)

# The generation process's constants.
TYPES = ("L", "M", "H")
TYPE_PROBABILITIES = (0.6, 0.3, 0.1)
WEAR_PER_PROCESS_MIN = {"L": 2, "M": 3, "H": 5}
OVERSTRAIN_LIMIT_MIN_NM = {"L": 11_000.0, "M": 12_000.0, "H": 13_000.0}
# Serial-number bases of the real file's product ids (M14860 is UDI 1, L47181 UDI 2...).
SERIAL_BASE = {"L": 47_179, "M": 14_859, "H": 29_411}

AIR_MEAN_K, AIR_SD_K = 300.0, 2.0
PROCESS_OFFSET_K, PROCESS_SD_K = 10.0, 1.0
WALK_PHI = 0.998
TORQUE_MEAN_NM, TORQUE_SD_NM = 40.0, 10.0
SPEED_AT_MEAN_TORQUE_RPM, SPEED_EXPONENT, SPEED_NOISE_RPM = 1512.0, -0.37, 55.0
TOOL_LIFE_MIN = (200, 240)
TOOL_FAILURE_PROBABILITY = 51 / 120
TOOL_REPLACED_AFTER_OVERSTRAIN = 0.35
HDF_MAX_DIFFERENCE_K, HDF_MAX_SPEED_RPM = 8.6, 1380.0
PWF_MIN_W, PWF_MAX_W = 3500.0, 9000.0
RNF_PROBABILITY = 0.001


def generate(rows: int, seed: int) -> pd.DataFrame:
    """``rows`` rows of AI4I 2020 data in the raw schema (:data:`COLUMNS`), reproducible by ``seed``."""
    if isinstance(rows, bool) or not isinstance(rows, int) or rows < 1:
        raise ValueError(f"rows: must be a positive integer, got {rows!r}")
    rng = np.random.default_rng(seed)
    types = np.asarray(TYPES)[rng.choice(len(TYPES), size=rows, p=TYPE_PROBABILITIES)]

    air = _walk(rng, rows, AIR_SD_K) + AIR_MEAN_K
    process = air + PROCESS_OFFSET_K + _walk(rng, rows, PROCESS_SD_K)

    torque = np.abs(rng.normal(TORQUE_MEAN_NM, TORQUE_SD_NM, rows))
    torque = np.maximum(torque, 0.1)  # never zero (the speed law divides by it)
    speed = SPEED_AT_MEAN_TORQUE_RPM * (torque / TORQUE_MEAN_NM) ** SPEED_EXPONENT
    speed = np.maximum(speed + rng.normal(0.0, SPEED_NOISE_RPM, rows), 1.0)
    # The file holds speed in whole rpm and temperatures / torque to 0.1.
    air, process, torque = np.round(air, 1), np.round(process, 1), np.round(torque, 1)
    speed = np.round(speed).astype(np.int64)

    limit = np.select([types == t for t in TYPES], [OVERSTRAIN_LIMIT_MIN_NM[t] for t in TYPES])
    wear, worn_out = _tool_wear(rng, types, torque, limit)
    twf = worn_out & (rng.random(rows) < TOOL_FAILURE_PROBABILITY)
    hdf = (process - air < HDF_MAX_DIFFERENCE_K) & (speed < HDF_MAX_SPEED_RPM)
    power = torque * speed * (2.0 * np.pi / 60.0)
    pwf = (power < PWF_MIN_W) | (power > PWF_MAX_W)
    osf = wear * torque > limit
    rnf = rng.random(rows) < RNF_PROBABILITY
    failure = twf | hdf | pwf | osf | rnf

    udi = np.arange(1, rows + 1, dtype=np.int64)
    base = np.select([types == t for t in TYPES], [SERIAL_BASE[t] for t in TYPES])
    # Type letter + 5-digit serial, built by pyarrow: a million Python strings would stay
    # behind in the allocator of the process that generated them (the runtime's, in `run`).
    serial = pc.utf8_lpad(pc.cast(pa.array((base + udi) % 100_000), pa.string()), 5, "0")
    product_id = pd.array(
        pc.binary_join_element_wise(pa.array(types), serial, ""),
        dtype=pd.StringDtype("pyarrow", na_value=np.nan),
    )
    flags = {
        name: flag.astype(np.int64)
        for name, flag in zip(FAILURE_MODES, (twf, hdf, pwf, osf, rnf), strict=True)
    }
    return pd.DataFrame(
        {
            "UDI": udi,
            "Product ID": product_id,
            "Type": types.astype(object),
            "Air temperature [K]": air,
            "Process temperature [K]": process,
            "Rotational speed [rpm]": speed,
            "Torque [Nm]": torque,
            "Tool wear [min]": wear,
            LABEL: failure.astype(np.int64),
            **flags,
        },
        columns=list(COLUMNS),
    )


def _walk(rng: np.random.Generator, rows: int, sd: float) -> np.ndarray:
    """A mean-reverting random walk with mean 0 and standard deviation exactly ``sd``."""
    steps = rng.normal(0.0, 1.0, rows)
    # Start in the stationary distribution so that short series are not pinned near 0.
    steps[0] /= np.sqrt(1.0 - WALK_PHI**2)
    walk = lfilter([1.0], [1.0, -WALK_PHI], steps)
    spread = walk.std()
    if rows < 2 or spread == 0.0:
        return np.zeros(rows)
    return (walk - walk.mean()) / spread * sd


def _tool_wear(
    rng: np.random.Generator, types: np.ndarray, torque: np.ndarray, limit: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Tool wear per row, and whether the tool reaches its life (is replaced) at that row.

    A tool is also replaced right after an overstrain failure (wear x torque over the
    variant's limit): a machine stopped by overstrain gets a new tool.
    """
    rows = len(types)
    added = np.select([types == t for t in TYPES], [WEAR_PER_PROCESS_MIN[t] for t in TYPES])
    # Wear before row i: what rows 0..i-1 added (the previous process wore the tool).
    before = np.concatenate(([0], np.cumsum(added[:-1])))
    wear = np.empty(rows, dtype=np.int64)
    replaced = np.zeros(rows, dtype=bool)
    # Enough tool lives for the worst case (every row an L adding 2 min to a 200-min tool).
    lives = rng.integers(TOOL_LIFE_MIN[0], TOOL_LIFE_MIN[1] + 1, size=rows // 100 + 2)
    start, tool = 0, 0
    while start < rows:
        if tool == len(lives):
            lives = np.concatenate(
                (lives, rng.integers(TOOL_LIFE_MIN[0], TOOL_LIFE_MIN[1] + 1, size=len(lives)))
            )
        end = int(np.searchsorted(before, before[start] + lives[tool], side="left"))
        stop = min(end + 1, rows)  # the row that reaches the life is the replacement row
        segment = before[start:stop] - before[start]
        overstrained = np.flatnonzero(
            (segment * torque[start:stop] > limit[start:stop])
            & (rng.random(stop - start) < TOOL_REPLACED_AFTER_OVERSTRAIN)
        )
        if len(overstrained) and overstrained[0] < stop - start - 1:
            stop = start + int(overstrained[0]) + 1  # new tool after the overstrain failure
            segment = segment[: stop - start]
        elif end < rows:
            replaced[end] = True
        wear[start:stop] = segment
        start, tool = stop, tool + 1
    return wear, replaced


def write_csv(df: pd.DataFrame, path: str | os.PathLike[str]) -> Path:
    """Write ``df`` as the published file is written: comma-separated, header, no index."""
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    df.to_csv(out, index=False, float_format="%.1f")
    return out


def read_ai4i(path: str | os.PathLike[str]) -> pd.DataFrame:
    """Read the real UCI file (``ai4i2020.csv``): with or without a UTF-8 byte-order mark,
    comma- or tab-separated.  Refuses a file whose columns are not the raw schema, naming
    the missing and unexpected ones."""
    data = Path(path).read_bytes()
    if data.startswith(codecs.BOM_UTF8):
        data = data[len(codecs.BOM_UTF8) :]
    first_line = data.split(b"\n", 1)[0]
    sep = "\t" if b"\t" in first_line else ","
    df = pd.read_csv(io.BytesIO(data), sep=sep, encoding="utf-8")
    df.columns = [str(c).strip() for c in df.columns]
    missing = [c for c in COLUMNS if c not in df.columns]
    unexpected = [c for c in df.columns if c not in COLUMNS]
    if missing or unexpected:
        raise ValueError(
            f"{path}: not the AI4I 2020 schema; missing columns: {missing or 'none'}; "
            f"unexpected columns: {unexpected or 'none'}; expected: {list(COLUMNS)}"
        )
    return df[list(COLUMNS)]
