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
import tempfile
from pathlib import Path

import pandas as pd

from bench.report import median_seconds, print_table
from workflows import ai4i_data


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

    print_table(
        f"{rows:,} rows, median of {repeats} run(s)",
        [("step", 28), ("seconds", 8), ("us/row", 7), ("vs read", 8)],
        [
            [name, f"{seconds:.2f}", f"{seconds / rows * 1e6:.2f}", f"{seconds / read_s:.1f}x"]
            for name, seconds in (
                ("generate (ai4i_data)", generate_s),
                ("read_csv (baseline)", read_s),
            )
        ],
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
