"""dask clients for the parallel steps: a LocalCluster of single-threaded worker processes, or an
existing scheduler (``tcp://HOST:PORT``) when one is given.

dask starts worker processes with ``MALLOC_TRIM_THRESHOLD_=65536``, which makes glibc map and
unmap every large array: abTEM runs ~1.8x slower under it (measured, 480 x 480 exit waves). The
LocalCluster here starts its workers without it; unset it on the workers of a remote scheduler too.
"""

from __future__ import annotations

import contextlib
import logging
import os
from collections.abc import Iterator
from typing import TYPE_CHECKING

from hrtem_core.errors import HRTEMError

if TYPE_CHECKING:
    from distributed import Client

_MALLOC_TRIM = "distributed.nanny.pre-spawn-environ.MALLOC_TRIM_THRESHOLD_"


class SchedulerError(HRTEMError):
    """The dask scheduler given cannot be reached."""


@contextlib.contextmanager
def dask_client(workers: int | None = None, scheduler: str | None = None) -> Iterator[Client]:
    """A client of ``scheduler`` if given, else of a LocalCluster of ``workers`` processes
    (default: one per core), one thread each; closed (cluster shut down) on exit."""
    import dask
    from distributed import Client, LocalCluster

    if scheduler is not None:
        try:
            client = Client(scheduler, timeout="10s")
        except OSError as error:
            raise SchedulerError(
                f"{scheduler}: cannot reach the dask scheduler ({error})"
            ) from None
        with client:
            yield client
        return
    with (
        dask.config.set({_MALLOC_TRIM: None}),
        LocalCluster(
            n_workers=workers or os.cpu_count() or 1,
            threads_per_worker=1,
            processes=True,
            dashboard_address=":0",  # a free port: clusters may run side by side
            silence_logs=logging.ERROR,
        ) as cluster,
        Client(cluster) as client,
    ):
        yield client
