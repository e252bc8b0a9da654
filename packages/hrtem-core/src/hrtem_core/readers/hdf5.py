"""HDF5 files holding one image dataset; sampling from its ``sampling``/``units`` attributes."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import h5py
import numpy as np

from hrtem_core.errors import ImageError
from hrtem_core.readers.info import StackInfo
from hrtem_core.readers.units import Sampling, pair, to_angstrom

SUFFIXES = (".h5", ".hdf5", ".hdf")
RANKS = (2, 3, 4)


def info(path: Path) -> StackInfo:
    with h5py.File(path, "r") as file:
        dataset = image_dataset(file, path)
        return StackInfo(tuple(dataset.shape), dataset.dtype, _sampling(dataset, file), None)


def read(path: Path, index: Any) -> np.ndarray:
    with h5py.File(path, "r") as file:
        return image_dataset(file, path)[index]


def image_dataset(file: h5py.File, path: Path) -> h5py.Dataset:
    """The one dataset of rank 2 to 4 in an open file (else an ImageError naming ``path``)."""
    found: list[h5py.Dataset] = []
    file.visititems(
        lambda _, obj: (
            found.append(obj) if isinstance(obj, h5py.Dataset) and obj.ndim in RANKS else None
        )
    )
    if len(found) != 1:
        names = [d.name for d in found]
        raise ImageError(
            f"{path}: need exactly one image dataset (rank 2 to 4), found {len(found)} {names}"
        )
    return found[0]


def _sampling(dataset: h5py.Dataset, file: h5py.File) -> Sampling:
    """``sampling`` (and ``units``, default Å) of the dataset or the file, given per stored axis
    (rows = y, columns = x)."""
    attrs = dataset.attrs if "sampling" in dataset.attrs else file.attrs
    if "sampling" not in attrs:
        return None
    raw = np.broadcast_to(np.asarray(attrs["sampling"], dtype=float), (2,))
    units = attrs.get("units", "Å")
    units = units.decode() if isinstance(units, bytes) else units
    return pair(to_angstrom(raw[1], units), to_angstrom(raw[0], units))
