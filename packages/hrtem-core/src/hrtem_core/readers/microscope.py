"""Microscope formats through rosettasciio: Gatan DM3/DM4, EMD, FEI TIA SER, MRC."""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import Any

import numpy as np

from hrtem_core.errors import ImageError
from hrtem_core.readers.info import StackInfo
from hrtem_core.readers.units import Sampling, pair, to_angstrom, to_seconds

READERS = {
    ".dm3": "digitalmicrograph", ".dm4": "digitalmicrograph", ".emd": "emd",
    ".ser": "tia", ".mrc": "mrc",
}  # fmt: skip
SUFFIXES = tuple(READERS)


def info(path: Path) -> StackInfo:
    signal = image_signal(path)
    axes = signal["axes"]
    time_step = None
    if len(axes) == 3:  # the frame axis (EMD does not mark it as navigation)
        time_step = to_seconds(axes[0].get("scale", 0), axes[0].get("units"))
    data = signal["data"]
    return StackInfo(tuple(data.shape), np.dtype(data.dtype), signal_sampling(axes), time_step)


def read(path: Path, index: Any) -> np.ndarray:
    return np.asarray(image_signal(path)["data"][index])


def image_signal(path: Path) -> dict[str, Any]:
    """The first image signal of the file, its data a lazy (dask) array."""
    reader = importlib.import_module(f"rsciio.{READERS[path.suffix.lower()]}").file_reader
    signals = reader(str(path), lazy=True)
    images = [s for s in signals if _is_image(s)]
    if not images:
        shapes = [tuple(np.shape(s["data"])) for s in signals]
        raise ImageError(f"{path}: no 2-D image in the file (signals of shape {shapes})")
    return images[0]


def _is_image(signal: dict[str, Any]) -> bool:
    """The last two axes (rows, columns) are signal axes; leading axes count frames whether
    marked navigation or not (Berkeley EMD marks none)."""
    axes = signal["axes"]
    return len(axes) >= 2 and not any(axis.get("navigate", False) for axis in axes[-2:])


def signal_sampling(axes: list[dict[str, Any]]) -> Sampling:
    """(sx, sy) [Å] from the last two (row = y, column = x) axes of a rosettasciio signal."""
    if len(axes) < 2:
        return None
    row, col = axes[-2], axes[-1]
    return pair(
        to_angstrom(col.get("scale", 0), col.get("units")),
        to_angstrom(row.get("scale", 0), row.get("units")),
    )
