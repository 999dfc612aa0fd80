"""Expedia-shaped hotel search data: a seeded generator and a reader for real files.

The public Expedia hotel-recommendations data has two files this use case reads:

* ``train.csv``: search and booking events with the columns of :data:`EVENT_COLUMNS`
  (``orig_destination_distance``, ``srch_ci`` and ``srch_co`` may be empty) and the label
  ``hotel_cluster`` (0-99);
* ``destinations.csv``: ``srch_destination_id`` and ``d1..d149``, log probabilities of
  review words (negative floats).

The real files are gigabytes; :func:`generate` writes files of the same shape with a
learnable relation between destination, market and cluster:

* every destination has a *type* (0-9); its ``d1..d149`` are a shared base profile plus the
  type's direction in a three-dimensional subspace plus noise, so a PCA of ``d1..d149``
  recovers the type in its first components;
* a type prefers a block of ten clusters (``10 * type + k``); each destination draws three
  clusters from its block with probabilities 0.6, 0.25, 0.15, and its ``hotel_market``
  shifts the main cluster for a fifth of the markets, so destination, market and the PCA
  components together predict the cluster;
* about 36 % of ``orig_destination_distance`` are empty and 0.1 % of the dates, as in the
  real file; about 15 % of events are bookings (8 % in the real file: more here, so that a
  few thousand generated rows leave enough bookings to learn from).

``python -m workflows.hotel_data DIR --rows N`` writes both files into ``DIR``.
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from localaws.errors import UserError

EVENTS_FILE = "train.csv"
DESTINATIONS_FILE = "destinations.csv"
DESTINATION_FEATURES = tuple(f"d{i}" for i in range(1, 150))
EVENT_COLUMNS = (
    "date_time",
    "site_name",
    "posa_continent",
    "user_location_country",
    "user_location_region",
    "user_location_city",
    "orig_destination_distance",
    "user_id",
    "is_mobile",
    "is_package",
    "channel",
    "srch_ci",
    "srch_co",
    "srch_adults_cnt",
    "srch_children_cnt",
    "srch_rm_cnt",
    "srch_destination_id",
    "srch_destination_type_id",
    "is_booking",
    "cnt",
    "hotel_continent",
    "hotel_country",
    "hotel_market",
    "hotel_cluster",
)
NUM_CLUSTERS = 100
TYPES = 10
BOOKING_RATE = 0.15
DISTANCE_NULL_RATE = 0.36
DATE_NULL_RATE = 0.001


@dataclass(frozen=True)
class HotelData:
    """The two tables, as the files hold them (dates and times as text)."""

    events: pd.DataFrame
    destinations: pd.DataFrame

    def write(self, directory: str | Path) -> tuple[Path, Path]:
        out = Path(directory)
        out.mkdir(parents=True, exist_ok=True)
        events, destinations = out / EVENTS_FILE, out / DESTINATIONS_FILE
        self.events.to_csv(events, index=False)
        self.destinations.to_csv(destinations, index=False, float_format="%.6f")
        return events, destinations


def generate(rows: int, seed: int = 42, *, destinations: int = 150) -> HotelData:
    """``rows`` events over ``destinations`` destinations, reproducible from ``seed``."""
    if rows < 1:
        raise UserError(
            f"rows: {rows} is not a positive number of events; pass --rows 1000 or more"
        )
    if destinations < TYPES:
        raise UserError(f"destinations: {destinations} is fewer than the {TYPES} types; use 150")
    rng = np.random.default_rng(seed)
    dest = _destinations(rng, destinations)
    events = _events(rng, rows, dest)
    return HotelData(events=events, destinations=dest.table)


@dataclass(frozen=True)
class _Destinations:
    table: pd.DataFrame  # srch_destination_id, d1..d149
    ids: np.ndarray
    kind: np.ndarray  # type per destination
    clusters: np.ndarray  # (n, 3) preferred clusters
    market: np.ndarray
    country: np.ndarray
    continent: np.ndarray


def _destinations(rng: np.random.Generator, n: int) -> _Destinations:
    ids = np.sort(rng.choice(np.arange(1, 65_000), size=n, replace=False))
    kind = np.arange(n) % TYPES
    rng.shuffle(kind)
    dims = len(DESTINATION_FEATURES)
    base = -2.2 + rng.normal(0.0, 0.08, dims)
    basis = np.linalg.qr(rng.normal(size=(dims, 3)))[0].T  # three orthonormal directions
    angles = 2 * np.pi * np.arange(TYPES) / TYPES
    coords = np.stack([np.cos(angles), np.sin(angles), np.linspace(-1, 1, TYPES)], axis=1)
    values = base + 0.9 * (coords[kind] @ basis) + rng.normal(0.0, 0.02, (n, dims))
    values = np.minimum(values, -1e-3)  # log probabilities: negative
    table = pd.DataFrame(values.round(6), columns=list(DESTINATION_FEATURES))
    table.insert(0, "srch_destination_id", ids)
    offsets = np.stack([rng.choice(10, 3, replace=False) for _ in range(n)])
    clusters = 10 * kind[:, None] + offsets
    market = rng.integers(1, 2_100, n)
    country = rng.integers(1, 213, n)
    continent = rng.integers(0, 7, n)
    return _Destinations(table, ids, kind, clusters, market, country, continent)


def _events(rng: np.random.Generator, rows: int, d: _Destinations) -> pd.DataFrame:
    users = max(1, rows // 4)
    user_ids = rng.choice(np.arange(1, 1_200_000), size=users, replace=False)
    user_country = rng.integers(0, 240, users)
    user_region = rng.integers(0, 1_000, users)
    user_city = rng.integers(0, 56_000, users)
    user_site = rng.choice(
        [2, 11, 37, 24, 8, 13, 34], users, p=[0.4, 0.15, 0.1, 0.1, 0.1, 0.1, 0.05]
    )
    user_posa = rng.choice([3, 1, 2, 4, 0], users, p=[0.8, 0.1, 0.05, 0.03, 0.02])
    who = rng.integers(0, users, rows)
    where = rng.integers(0, len(d.ids), rows)

    start = np.datetime64("2013-01-07T00:00:00")
    seconds = rng.integers(0, 2 * 365 * 86_400, rows)
    when = start + seconds.astype("timedelta64[s]")
    lead = np.minimum(rng.geometric(1 / 40, rows) - 1, 360)
    stay = np.minimum(rng.geometric(1 / 3, rows), 28)
    ci = when.astype("datetime64[D]") + lead.astype("timedelta64[D]")
    co = ci + stay.astype("timedelta64[D]")

    # The label: the destination's preferred clusters; a fifth of the markets shift the main one.
    pick = rng.choice(3, rows, p=[0.6, 0.25, 0.15])
    cluster = d.clusters[where, pick]
    shifted = (d.market[where] % 5 == 0) & (pick == 0)
    cluster = np.where(shifted, (cluster // 10) * 10 + (cluster + 5) % 10, cluster)

    distance = np.round(rng.lognormal(6.5, 1.3, rows), 4)
    frame = pd.DataFrame(
        {
            "date_time": pd.to_datetime(when).strftime("%Y-%m-%d %H:%M:%S"),
            "site_name": user_site[who],
            "posa_continent": user_posa[who],
            "user_location_country": user_country[who],
            "user_location_region": user_region[who],
            "user_location_city": user_city[who],
            "orig_destination_distance": np.where(
                rng.random(rows) < DISTANCE_NULL_RATE, np.nan, distance
            ),
            "user_id": user_ids[who],
            "is_mobile": (rng.random(rows) < 0.13).astype(int),
            "is_package": (rng.random(rows) < 0.25).astype(int),
            "channel": rng.choice(11, rows),
            "srch_ci": _dates_with_nulls(rng, ci),
            "srch_co": _dates_with_nulls(rng, co),
            "srch_adults_cnt": rng.choice([1, 2, 3, 4], rows, p=[0.2, 0.65, 0.1, 0.05]),
            "srch_children_cnt": rng.choice([0, 1, 2], rows, p=[0.8, 0.12, 0.08]),
            "srch_rm_cnt": rng.choice([1, 2], rows, p=[0.92, 0.08]),
            "srch_destination_id": d.ids[where],
            "srch_destination_type_id": 1 + d.kind[where] % 8,
            "is_booking": (rng.random(rows) < BOOKING_RATE).astype(int),
            "cnt": rng.geometric(0.7, rows),
            "hotel_continent": d.continent[where],
            "hotel_country": d.country[where],
            "hotel_market": d.market[where],
            "hotel_cluster": cluster,
        },
        columns=list(EVENT_COLUMNS),
    )
    return frame.sort_values("date_time", kind="stable").reset_index(drop=True)


def _dates_with_nulls(rng: np.random.Generator, days: np.ndarray) -> pd.Series:
    text = pd.Series(pd.to_datetime(days).strftime("%Y-%m-%d"))
    return text.mask(rng.random(len(days)) < DATE_NULL_RATE)


def read(directory: str | Path) -> HotelData:
    """``train.csv`` and ``destinations.csv`` from ``directory`` (the real files or ours)."""
    root = Path(directory)
    if not root.is_dir():
        raise UserError(
            f"--data {directory}: no such directory; pass a directory holding "
            f"{EVENTS_FILE} and {DESTINATIONS_FILE}, or leave --data out to generate rows"
        )
    found = {}
    for name in (EVENTS_FILE, DESTINATIONS_FILE):
        path = root / name
        if not path.is_file() and (root / f"{name}.gz").is_file():
            path = root / f"{name}.gz"
        if not path.is_file():
            raise UserError(
                f"--data {directory}: {name} is missing; the directory needs both "
                f"{EVENTS_FILE} and {DESTINATIONS_FILE} (Expedia's file names)"
            )
        found[name] = path
    events = pd.read_csv(
        found[EVENTS_FILE], dtype={"srch_ci": str, "srch_co": str, "date_time": str}
    )
    destinations = pd.read_csv(found[DESTINATIONS_FILE])
    _check_columns(events, EVENT_COLUMNS, found[EVENTS_FILE])
    _check_columns(
        destinations, ("srch_destination_id", *DESTINATION_FEATURES), found[DESTINATIONS_FILE]
    )
    return HotelData(events=events[list(EVENT_COLUMNS)], destinations=destinations)


def _check_columns(frame: pd.DataFrame, wanted: tuple[str, ...], path: Path) -> None:
    missing = [c for c in wanted if c not in frame.columns]
    if missing:
        raise UserError(
            f"{path}: columns {missing[:5]}{' ...' if len(missing) > 5 else ''} are missing; "
            "the file must have the columns of the Expedia hotel-recommendations data"
        )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m workflows.hotel_data", description=__doc__)
    parser.add_argument("directory")
    parser.add_argument("--rows", type=int, default=20_000)
    parser.add_argument("--seed", type=int, default=42)
    args = parser.parse_args(argv)
    for path in generate(args.rows, args.seed).write(args.directory):
        print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
