"""Simulate a dataset: one dask task per shard, on a LocalCluster or an existing scheduler.

Sample i is drawn from ``numpy.random.default_rng([spec.seed, i])`` alone, so it is the same
whatever the shard size, the number of workers or how often the run was resumed. A shard that is
already on disk and valid is kept and skipped; shards are written atomically by the workers, so
with a remote scheduler the output directory must be on a file system the workers share.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from hrtem_core.atomic import remove_stale_temporaries
from hrtem_core.cluster import dask_client
from hrtem_core.errors import DatasetError, HRTEMError
from tqdm import tqdm

from hrtem_sim.card import dataset_card
from hrtem_sim.errors import require_simulation
from hrtem_sim.shards import read_header, shard_name, write_shard
from hrtem_sim.spec import DataSpec, dataset_path, spec_hash, spec_to_yaml
from hrtem_sim.types import Sample, Structure

if TYPE_CHECKING:
    from distributed import Future

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class SimulationSummary:
    """path: the dataset directory; simulated/skipped: shards; seconds: wall time of the run."""

    path: Path
    samples: int
    simulated: int
    skipped: int
    seconds: float


def make_structure(spec: DataSpec, index: int) -> tuple[Structure, np.random.Generator]:
    """Sample ``index``'s structure and the generator it was drawn from (for later draws)."""
    from hrtem_sim.structures import build_structure

    rng = np.random.default_rng([spec.seed, index])
    structure = build_structure(
        spec.structure.kind, spec.structure.params, spec.structure.cell, rng
    )
    return structure, rng


def make_sample(spec: DataSpec, index: int) -> Sample:
    """Simulate sample ``index`` of ``spec``: structure, exit wave, labelled columns, meta."""
    from hrtem_sim.columns import group_columns
    from hrtem_sim.multislice import exit_wave

    structure, rng = make_structure(spec, index)
    phonon_seed = int(rng.integers(2**31))
    wave = exit_wave(structure, spec.simulation, phonon_seed)
    labelled = wave.atoms.arrays["labelled"]
    lengths = wave.atoms.cell.lengths()
    columns = group_columns(
        wave.atoms.positions[labelled, :2],
        wave.atoms.numbers[labelled],
        spec.labels.scheme,
        (float(lengths[0]), float(lengths[1])),
        tolerance=spec.labels.tolerance,
    )
    meta = {**structure.meta, "seed": spec.seed, "index": index}
    return Sample(wave.array, wave.sampling, columns, wave.atoms, meta)


def simulate_shard(spec: DataSpec, shard: int, directory: Path) -> int:
    """Simulate and write shard ``shard`` of ``spec`` into ``directory``; returns ``shard``."""
    samples = [make_sample(spec, i) for i in spec.shard_indices(shard)]
    write_shard(
        directory / shard_name(shard),
        samples,
        shard=shard,
        spec_yaml=spec_to_yaml(spec),
        card=dataset_card(spec),
    )
    return shard


def finished_shards(spec: DataSpec, directory: Path) -> list[int]:
    """The shards of ``spec`` already in ``directory`` and valid."""
    done = []
    for shard in range(spec.num_shards):
        path = directory / shard_name(shard)
        if not path.exists():
            continue
        try:
            header = read_header(path)
        except DatasetError as error:
            log.warning("%s; simulating it again", error)
            continue
        expected = list(spec.shard_indices(shard))
        if header.card.spec_hash == spec_hash(spec) and list(header.indices) == expected:
            done.append(shard)
    return done


def simulate_dataset(
    spec: DataSpec,
    out_dir: str | Path = "data",
    workers: int | None = None,
    scheduler: str | None = None,
    progress: bool = True,
) -> Path:
    """Simulate the missing shards of ``spec`` under ``out_dir``; returns the dataset directory.

    workers: LocalCluster worker processes (one thread each; default: one per core; 0 runs
    in this process). scheduler: address of an existing dask scheduler (``tcp://HOST:PORT``),
    used instead of a LocalCluster.
    """
    return run_simulation(spec, out_dir, workers, scheduler, progress).path


def run_simulation(
    spec: DataSpec,
    out_dir: str | Path = "data",
    workers: int | None = None,
    scheduler: str | None = None,
    progress: bool = True,
) -> SimulationSummary:
    """:func:`simulate_dataset`, returning what was done."""
    require_simulation()
    start = time.perf_counter()
    directory = dataset_path(spec, out_dir).resolve()
    try:
        directory.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise DatasetError(
            f"{directory}: cannot create the dataset directory: {error.strerror}"
        ) from None
    if scheduler is None:  # remote workers' pids mean nothing on this host
        remove_stale_temporaries(directory)
    done = set(finished_shards(spec, directory))
    missing = [k for k in range(spec.num_shards) if k not in done]
    if done:
        log.info(
            "%s: %d of %d shards already finished, skipping them",
            directory,
            len(done),
            spec.num_shards,
        )
    if missing:
        make_structure(spec, spec.shard_indices(missing[0])[0])  # bad params fail here, fast
        bar = tqdm(
            total=len(missing), desc=f"{spec.name} shards", unit="shard", disable=not progress
        )
        with bar:
            for _ in _run_shards(spec, missing, directory, workers, scheduler):
                bar.update()
    seconds = time.perf_counter() - start
    return SimulationSummary(directory, spec.samples, len(missing), len(done), seconds)


def _run_shards(
    spec: DataSpec, shards: list[int], directory: Path, workers: int | None, scheduler: str | None
) -> Iterator[int]:
    """Yield each shard as it is finished."""
    if workers == 0 and scheduler is None:
        for shard in shards:
            yield simulate_shard(spec, shard, directory)
        return
    from distributed import as_completed

    with dask_client(workers, scheduler) as client:
        futures = {
            client.submit(simulate_shard, spec, k, directory, key=f"shard-{k}-{spec_hash(spec)}"): k
            for k in shards
        }
        try:
            for future in as_completed(futures):
                yield _result(future, directory / shard_name(futures[future]))
        finally:
            client.cancel(list(futures))


def _result(future: Future, path: Path) -> int:
    """The shard a worker finished; its failure as one error naming the shard."""
    try:
        return future.result()
    except HRTEMError:
        raise
    except Exception as error:
        log.debug("shard failed", exc_info=True)
        raise DatasetError(f"{path}: simulation failed: {type(error).__name__}: {error}") from None
