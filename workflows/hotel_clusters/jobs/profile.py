"""Processing job: per-column statistics of a snapshot of a feature group's offline store.

Arguments: ``ROOT --id-column NAME --time-column NAME [--label TEXT]``.  Reads every Parquet
file under ``ROOT/input`` (the offline store's prefix), keeps the latest row per id (event
time, then write time; deleted rows dropped) and writes ``ROOT/profile/profile.json``:
``{"label", "rows", "columns": {name: {"count", "missing", "mean", "std", "min", "p50",
"max", "distinct"}}}`` (numeric statistics for numeric columns only).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import pandas as pd

EXTRA = ("write_time", "api_invocation_time", "is_deleted")


def snapshot(root: Path, id_column: str, time_column: str) -> pd.DataFrame:
    files = sorted(root.rglob("*.parquet"))
    if not files:
        raise SystemExit(f"no Parquet file under {root}: has the offline store been written?")
    frame = pd.concat([pd.read_parquet(p) for p in files], ignore_index=True)
    frame = frame[~frame["is_deleted"].astype(bool)]
    frame = frame.sort_values([time_column, "write_time"]).drop_duplicates(id_column, keep="last")
    return frame.drop(columns=[c for c in EXTRA if c in frame.columns])


def profile(frame: pd.DataFrame) -> dict[str, dict[str, float | int | None]]:
    out: dict[str, dict[str, float | int | None]] = {}
    for name in frame.columns:
        column = frame[name]
        stats: dict[str, float | int | None] = {
            "count": int(column.notna().sum()),
            "missing": int(column.isna().sum()),
            "distinct": int(column.nunique()),
        }
        if pd.api.types.is_numeric_dtype(column):
            described = column.astype(float).describe()
            for key, source in (
                ("mean", "mean"),
                ("std", "std"),
                ("min", "min"),
                ("p50", "50%"),
                ("max", "max"),
            ):
                value = described.get(source)
                stats[key] = None if value is None or pd.isna(value) else float(value)
        out[name] = stats
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("root")
    parser.add_argument("--id-column", required=True)
    parser.add_argument("--time-column", required=True)
    parser.add_argument("--label", default="")
    args = parser.parse_args(argv)
    root = Path(args.root)
    frame = snapshot(root / "input", args.id_column, args.time_column)
    result = {"label": args.label, "rows": len(frame), "columns": profile(frame)}
    out = root / "profile"
    out.mkdir(parents=True, exist_ok=True)
    (out / "profile.json").write_text(json.dumps(result, indent=1), encoding="utf-8")
    print(json.dumps({"rows": len(frame), "columns": len(result["columns"])}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
