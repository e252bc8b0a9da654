"""Microscope formats through rosettasciio: Gatan DM3/DM4, EMD (Berkeley, Velox), FEI TIA
SER/EMI, MRC.

A file's first real-space image (or image stack) is its frames; a file that holds none is one
ImageError saying what it holds (:func:`hrtem_core.readers.kinds.describe`). A TIA ``NAME_1.ser``
is read through its ``NAME.emi`` when that is beside it: the microscope's mode (image or
diffraction) and the axes' units are recorded there. Time axes come from rosettasciio's leading
axis (DM stacks, EMD, SER), in s, ms or µs.
"""

from __future__ import annotations

import importlib
import re
from pathlib import Path
from typing import Any

import h5py
import numpy as np

from hrtem_core.errors import ImageError
from hrtem_core.readers.info import StackInfo
from hrtem_core.readers.kinds import describe
from hrtem_core.readers.units import Sampling, pair, to_angstrom, to_seconds

READERS = {
    ".dm3": "digitalmicrograph", ".dm4": "digitalmicrograph", ".emd": "emd",
    ".ser": "tia", ".emi": "tia", ".mrc": "mrc",
}  # fmt: skip
SUFFIXES = tuple(READERS)


def info(path: Path) -> StackInfo:
    signal = image_signal(path, with_emi=True)
    axes = signal["axes"]
    data = signal["data"]
    time_step = time_axis(axes) if np.ndim(data) > 2 else None
    return StackInfo(tuple(data.shape), np.dtype(data.dtype), signal_sampling(axes), time_step)


def read(path: Path, index: Any) -> np.ndarray:
    return np.asarray(image_signal(path, with_emi=False)["data"][index])


def emi_beside(path: Path) -> Path | None:
    """The ``NAME.emi`` that TIA writes beside ``NAME_1.ser``, ``NAME_2.ser`` ..., if present."""
    stem = re.sub(r"_\d+$", "", path.stem)
    for suffix in (".emi", ".EMI"):
        if (found := path.with_name(stem + suffix)).is_file():
            return found
    return None


def _signals(path: Path, with_emi: bool) -> list[dict[str, Any]]:
    """rosettasciio's signals of ``path``, data lazy (dask) where the reader allows it."""
    suffix = path.suffix.lower()
    if suffix == ".emd" and _velox_spectrum_image(path):
        raise ImageError(f"{path}: a spectrum image (Velox EDS spectrum stream), not an image")
    source = path
    if suffix == ".ser" and with_emi and (emi := emi_beside(path)) is not None:
        source = emi
    reader = importlib.import_module(f"rsciio.{READERS[suffix]}").file_reader
    try:
        signals = reader(str(source), lazy=True)
    except ValueError as error:  # DM's RGB(A) images cannot be read lazily
        if "lazy" not in str(error).lower():
            raise
        signals = reader(str(source), lazy=False)
    if source != path:  # the .emi reads every series beside it: keep this file's own
        own = [s for s in signals if s["metadata"]["General"]["original_filename"] == path.name]
        signals = own or reader(str(path), lazy=True)
    if suffix == ".emi" and not signals:
        raise ImageError(f"{path}: no series beside it ({path.stem}_1.ser ...)")
    return signals


def _velox_spectrum_image(path: Path) -> bool:
    """A Velox EMD holding an EDS spectrum image (rosettasciio needs `sparse` to read it)."""
    try:
        with h5py.File(path, "r") as file:
            return "Version" in file and "SpectrumImage" in file.get("Data", {})
    except OSError:
        return False  # not HDF5: rosettasciio says why


def image_signal(path: Path, with_emi: bool = True) -> dict[str, Any]:
    """The first real-space image (or stack) of the file, its data a lazy (dask) array."""
    signals = _signals(path, with_emi)
    kinds = [describe(signal) for signal in signals]
    for signal, kind in zip(signals, kinds, strict=True):
        if kind is None:
            return signal
    if not signals:
        raise ImageError(f"{path}: no data in the file")
    if len(set(kinds)) == 1:
        raise ImageError(f"{path}: {kinds[0]}, not an image")
    raise ImageError(f"{path}: no image in the file, only {'; '.join(kinds)}")


def time_axis(axes: list[dict[str, Any]]) -> float | None:
    """Time [s] between the images of the leading axis, when its units are a time."""
    return to_seconds(axes[0].get("scale", 0), axes[0].get("units")) if axes else None


def signal_sampling(axes: list[dict[str, Any]]) -> Sampling:
    """(sx, sy) [Å] from the last two (row = y, column = x) axes of a rosettasciio signal."""
    if len(axes) < 2:
        return None
    row, col = axes[-2], axes[-1]
    return pair(
        to_angstrom(col.get("scale", 0), col.get("units")),
        to_angstrom(row.get("scale", 0), row.get("units")),
    )
