"""What a stack file holds, read from its header without its pixels."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from hrtem_core.readers.units import Sampling


@dataclass(frozen=True)
class StackInfo:
    """shape in the file's order (..., rows = y, columns = x); dtype of the pixels; sampling
    (sx, sy) [Å/px] or None; time_step [s] between the images of axis 0, or None."""

    shape: tuple[int, ...]
    dtype: np.dtype
    sampling: Sampling
    time_step: float | None
