"""What the benches share: timing a step (median after a warm-up) and printing the table."""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable, Sequence


def median_seconds(step: Callable[[], object], repeats: int) -> float:
    """The median wall time of ``step`` over ``repeats`` runs, after one warm-up run."""
    step()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        step()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def print_table(
    title: str, columns: Sequence[tuple[str, int]], rows: Sequence[Sequence[str]]
) -> None:
    """``title``, a header of ``columns`` (name, width; the first left-aligned, the others
    right-aligned), a rule, then ``rows`` of already formatted cells."""

    def line(cells: Sequence[str]) -> str:
        first, *rest = zip(cells, (w for _, w in columns), strict=True)
        return " ".join([f"{first[0]:<{first[1]}}", *(f"{c:>{w}}" for c, w in rest)])

    print(title)
    header = line([name for name, _ in columns])
    print(header)
    print("-" * len(header))
    for row in rows:
        print(line(row))
