"""The intra-op thread count of torch on CPU, from an argument or the HRTEM_NUM_THREADS variable.

On small shared machines one thread per process is often faster than two: OpenMP threads spin at
barriers while another process holds the core (MSD-net depth 100 on 256^2, 2-core VM under load:
11.6 s with 2 spinning threads, 1.9 s with 2 threads and ``OMP_WAIT_POLICY=PASSIVE``, 2.0 s with 1
thread). ``OMP_WAIT_POLICY`` only acts if set before torch is imported. Training and inference
entry points call :func:`configure_threads` once, before any work.
"""

from __future__ import annotations

import os

import torch

from hrtem_msd.nets.errors import ModelError

ENV = "HRTEM_NUM_THREADS"


def configure_threads(threads: int | None = None) -> int:
    """Set torch's CPU threads to ``threads``, else to ``$HRTEM_NUM_THREADS`` when set; return the count."""
    if threads is None:
        value = os.environ.get(ENV, "").strip()
        if not value:
            return torch.get_num_threads()
        if not value.isdigit() or int(value) < 1:
            raise ModelError(f"{ENV} must be a positive integer, got {value!r}")
        threads = int(value)
    if threads < 1:
        raise ModelError(f"threads must be >= 1, got {threads}")
    torch.set_num_threads(threads)
    return threads
