"""Benchmark: `hrtem check scenes --parallel N` against one scene at a time (`--parallel 1`).

Runs the whole command, each variant in its own process on the same cached scenes, model and
doses (the scenes are simulated first, outside the timing, when not cached), ``--repeats``
times in A B B A order, and prints the wall time of each and the ratio pair by pair (median,
min, max), so a drift in the machine's speed cancels. Its tables must match: scoring scenes on
threads changes the time, not the rows (asserted).

    .venv/bin/python benchmarks/scene_check.py --model models:/hrtem-nanoparticle@candidate
    .venv/bin/python benchmarks/scene_check.py --model M --doses 50,200,1000 --repeats 2

Target (issue 25): the check's default (4 scenes of 2048^2, 3 doses, one model) under 5 min on
2 cores.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd

HRTEM = Path(sys.executable).with_name("hrtem")


def check(model: str, doses: str, scenes: int, parallel: int, out: Path) -> float:
    """Wall time [s] of one `hrtem check scenes` run writing into ``out``."""
    command = [str(HRTEM), "check", "scenes", "--model", model, "--doses", doses,
               "--scenes", str(scenes), "--parallel", str(parallel), "--no-log", "--out", str(out)]  # fmt: skip
    start = time.perf_counter()
    subprocess.run(command, check=True, capture_output=True, text=True)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", required=True, help="A nanoparticle model URI.")
    parser.add_argument("--doses", default="200", help="Comma-separated doses [e-/Å^2].")
    parser.add_argument("--scenes", type=int, default=4)
    parser.add_argument("--parallel", type=int, default=2, help="Scenes at once (variant B).")
    parser.add_argument("--repeats", type=int, default=1, help="A B B A blocks.")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        check(args.model, args.doses, args.scenes, 1, root / "warm")  # simulates if not cached
        order = [1, args.parallel, args.parallel, 1] * args.repeats
        times: dict[int, list[float]] = {1: [], args.parallel: []}
        for k, parallel in enumerate(order):
            times[parallel].append(
                check(args.model, args.doses, args.scenes, parallel, root / f"r{k}")
            )
        tables = {p: pd.read_csv(root / f"r{order.index(p)}" / "scenes.csv") for p in times}
        pd.testing.assert_frame_equal(tables[1], tables[args.parallel])
    ratios = [a / b for a, b in zip(times[1], times[args.parallel], strict=True)]
    print(f"check scenes, {args.scenes} scenes at {args.doses} e-/Å^2, model {args.model}")
    for parallel, values in times.items():
        print(f"  --parallel {parallel}: {statistics.median(values):7.1f} s  (runs {values})")
    print(
        f"  speed-up of --parallel {args.parallel}: median {statistics.median(ratios):.2f}x "
        f"(min {min(ratios):.2f}, max {max(ratios):.2f})"
    )


if __name__ == "__main__":
    main()
