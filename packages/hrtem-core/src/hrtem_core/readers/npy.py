"""NumPy ``.npy`` files, memory-mapped, never unpickled."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from hrtem_core.readers.info import StackInfo

SUFFIXES = (".npy",)


def _open(path: Path) -> np.ndarray:
    return np.load(path, mmap_mode="r", allow_pickle=False)


def info(path: Path) -> StackInfo:
    data = _open(path)
    return StackInfo(tuple(data.shape), data.dtype, None, None)


def read(path: Path, index: Any) -> np.ndarray:
    return np.array(_open(path)[index])
