"""Benchmark: simulate_dataset against a bare abTEM multislice of the same structures, and 1 vs 2 workers.

    .venv/bin/python benchmarks/simulate.py [--spec data_specs/nanoparticle.yaml] [--profile small]
                                            [--samples 32] [--shard-size 4]

Prints, in one run:
- bare abTEM: per-sample multislice time of the spec's first N structures (built beforehand) in
  one fresh process, after one warm-up sample (numba JIT, FFTW planning); then split over two
  processes at once, which shows the speed-up the (shared) machine can give at the moment;
- simulate_dataset with 1 and 2 LocalCluster workers: end-to-end per-sample time (cluster start,
  abTEM import and warm-up in each worker included) and steady per-sample time (from the shard
  completion times, after every worker finished its first shard);
- ratios: steady 1-worker time / bare (target <= 1.1) and the 1 -> 2 worker speed-up (target >= 1.7).
"""

from __future__ import annotations

import argparse
import dataclasses
import multiprocessing
import os
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

from hrtem_sim.multislice import grid_points
from hrtem_sim.simulate import make_structure, run_simulation
from hrtem_sim.spec import DataSpec, load_spec
from hrtem_sim.types import Structure


def bare_run(spec: DataSpec, structure: Structure) -> None:
    """abTEM's own PlaneWave multislice of one structure, as the dataset's settings ask."""
    import abtem

    sim = spec.simulation
    cell = (structure.atoms.cell[0, 0], structure.atoms.cell[1, 1])
    potential = abtem.Potential(
        structure.atoms,
        gpts=grid_points(cell, sim.sampling),
        slice_thickness=sim.slice_thickness,
        parametrization=sim.parametrization,
        projection="infinite",
    )
    wave = abtem.PlaneWave(energy=sim.energy).multislice(potential, lazy=True)
    wave.compute(scheduler="synchronous", progress_bar=False)


def bare_loop(spec: DataSpec, structures: list[Structure]) -> tuple[float, float]:
    """(start, end) [s, perf_counter] of a bare multislice loop, after one warm-up sample."""
    bare_run(spec, structures[0])
    start = time.perf_counter()
    for structure in structures:
        bare_run(spec, structure)
    return start, time.perf_counter()


def bare_multislice(spec: DataSpec, structures: list[Structure], processes: int) -> float:
    """Seconds per structure of bare multislice loops in ``processes`` fresh processes at once."""
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(processes, mp_context=context) as pool:
        parts = [structures[i::processes] for i in range(processes)]
        spans = list(pool.map(bare_loop, [spec] * processes, parts))
    return (max(end for _, end in spans) - min(start for start, _ in spans)) / len(structures)


def dataset_times(spec: DataSpec, workers: int, root: Path) -> tuple[float, float]:
    """(end-to-end, steady) seconds per sample of simulate_dataset with ``workers`` workers."""
    summary = run_simulation(spec, root / f"workers-{workers}", workers=workers, progress=False)
    done = sorted(os.stat(p).st_mtime for p in summary.path.glob("shard-*.h5"))
    warm = done[workers - 1]  # every worker has finished one shard
    after = sum(t > warm for t in done) * spec.shard_size
    return summary.seconds / spec.samples, (done[-1] - warm) / after


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--spec", default="data_specs/nanoparticle.yaml")
    parser.add_argument("--profile", default="small")
    parser.add_argument("--samples", type=int, default=32)
    parser.add_argument("--shard-size", type=int, default=4)
    args = parser.parse_args()

    spec = dataclasses.replace(
        load_spec(args.spec, args.profile), samples=args.samples, shard_size=args.shard_size
    )
    print(
        f"{args.spec} [{args.profile}]: {spec.samples} samples, shards of {spec.shard_size}, "
        f"{os.cpu_count()} cores (shared machine: figures vary with load)"
    )
    structures = [make_structure(spec, i)[0] for i in range(spec.samples)]
    bare, bare2 = bare_multislice(spec, structures, 1), bare_multislice(spec, structures, 2)
    with tempfile.TemporaryDirectory() as tmp:
        total1, steady1 = dataset_times(spec, 1, Path(tmp))
        total2, steady2 = dataset_times(spec, 2, Path(tmp))
    print(f"bare abTEM multislice        {bare:7.3f} s/sample")
    print(
        f"bare abTEM, 2 processes      {bare2:7.3f} s/sample  (speed-up {bare / bare2:.2f}: what the machine gives now)"
    )
    print(f"simulate_dataset, 1 worker   {steady1:7.3f} s/sample steady, {total1:7.3f} end-to-end")
    print(f"simulate_dataset, 2 workers  {steady2:7.3f} s/sample steady, {total2:7.3f} end-to-end")
    print(
        f"ratio 1 worker / bare        {steady1 / bare:7.2f} steady, {total1 / bare:5.2f} end-to-end  (target <= 1.1)"
    )
    print(
        f"speed-up 1 -> 2 workers      {steady1 / steady2:7.2f} steady, {total1 / total2:5.2f} end-to-end  (target >= 1.7)"
    )


if __name__ == "__main__":
    main()
