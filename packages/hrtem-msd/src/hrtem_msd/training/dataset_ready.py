"""The task's dataset, ready on every process: rank 0 simulates what is missing, the others wait.

Every process of a DDP run calls :func:`ensure_dataset`. Rank 0 simulates the missing shards; if
that fails it leaves the reason in ``<dataset>/.simulation-failed`` before it raises, and the
other ranks, which poll the folder, stop with that reason. They also stop when no new shard has
appeared for ``timeout`` seconds, so no rank ever waits forever.
"""

from __future__ import annotations

import contextlib
import os
import time
from pathlib import Path

from hrtem_core.atomic import atomic_write_text
from hrtem_core.errors import DatasetError
from hrtem_sim import dataset_path, open_dataset, simulate_dataset
from hrtem_sim.spec import DataSpec

FAILED = ".simulation-failed"
POLL = 2.0  # [s] between looks at the dataset folder
CLOCK_SLACK = 5.0  # [s] a failure marker this much older than the wait is a previous run's


def global_rank() -> int:
    """This process's rank from the launcher's environment (0 before any launch)."""
    for key in ("RANK", "SLURM_PROCID", "LOCAL_RANK"):
        if key in os.environ:
            return int(os.environ[key])
    return 0


def ensure_dataset(spec: DataSpec, root: str, timeout: float) -> Path:
    """The dataset folder of ``spec`` under ``root``, simulated first if missing (by rank 0;
    other ranks wait, see the module docstring)."""
    path = dataset_path(spec, root)
    if global_rank() != 0:
        return wait_for_dataset(path, spec.num_shards, timeout)
    with contextlib.suppress(OSError):
        (path / FAILED).unlink(missing_ok=True)
    try:
        return simulate_dataset(spec, root)
    except Exception as error:
        with contextlib.suppress(OSError):  # no folder to leave it in: the others time out
            atomic_write_text(path / FAILED, f"{type(error).__name__}: {error}\n")
        raise


def wait_for_dataset(path: Path, shards: int, timeout: float, poll: float = POLL) -> Path:
    """``path`` once its ``shards`` shards open; a DatasetError when rank 0 reports a failure or
    no new shard appears for ``timeout`` seconds."""
    rank = global_rank()
    started = time.time()
    seen, progress = -1, time.monotonic()
    while True:
        marker = path / FAILED
        if marker.is_file() and marker.stat().st_mtime >= started - CLOCK_SLACK:
            reason = marker.read_text().strip()
            raise DatasetError(f"rank {rank}: rank 0 could not make {path}: {reason}")
        count = len(list(path.glob("shard-*.h5"))) if path.is_dir() else 0
        if count >= shards and _opens(path):
            return path
        if count != seen:
            seen, progress = count, time.monotonic()
        elif time.monotonic() - progress > timeout:
            raise DatasetError(
                f"rank {rank}: no new shard of {path} from rank 0 in {timeout:g} s "
                f"({count} of {shards}); stopping (data.wait_timeout)"
            )
        time.sleep(poll)


def _opens(path: Path) -> bool:
    try:
        open_dataset(path).close()
    except DatasetError:
        return False
    return True
