"""Generating AI4I 2020 rows (workflows/ai4i_data.py) against reading the same rows back.

    python -m bench.ai4i_generate            # 1,000,000 rows (a few seconds)
    python -m bench.ai4i_generate --quick    # smoke run: 20,000 rows, one repeat

The baseline, measured in the same run, is pandas reading the generated rows back from the
CSV file ``write_csv`` makes: what any consumer of the data pays once.  Generating should
cost about as much as reading, not many times more.  Each step runs ``--repeats`` times
after one warm-up; the table reports the median.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import pandas as pd

from workflows import ai4i_data


def median_seconds(fn: Callable[[], object], repeats: int) -> float:
    fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="20,000 rows, one repeat")
    parser.add_argument("--rows", type=int, default=None)
    parser.add_argument("--repeats", type=int, default=None)
    args = parser.parse_args(argv)
    rows = args.rows or (20_000 if args.quick else 1_000_000)
    repeats = args.repeats or (1 if args.quick else 3)

    with tempfile.TemporaryDirectory(prefix="bench-ai4i-") as tmp:
        path = ai4i_data.write_csv(ai4i_data.generate(rows, seed=9), Path(tmp) / "ai4i2020.csv")
        generate_s = median_seconds(lambda: ai4i_data.generate(rows, seed=9), repeats)
        read_s = median_seconds(lambda: pd.read_csv(path), repeats)

    print(f"{rows:,} rows, median of {repeats} run(s)")
    header = f"{'step':<28} {'seconds':>8} {'us/row':>7} {'vs read':>8}"
    print(header)
    print("-" * len(header))
    for name, seconds in (("generate (ai4i_data)", generate_s), ("read_csv (baseline)", read_s)):
        print(f"{name:<28} {seconds:>8.2f} {seconds / rows * 1e6:>7.2f} {seconds / read_s:>7.1f}x")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
