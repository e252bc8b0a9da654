"""TIFF files (tifffile): ImageJ calibration, else the microscope tags rosettasciio knows."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import tifffile

from hrtem_core.readers.info import StackInfo
from hrtem_core.readers.units import Sampling, pair, to_angstrom

SUFFIXES = (".tif", ".tiff")


def info(path: Path) -> StackInfo:
    with tifffile.TiffFile(path) as tif:
        series = tif.series[0]
        return StackInfo(tuple(series.shape), np.dtype(series.dtype), _sampling(tif, path), None)


def read(path: Path, index: Any) -> np.ndarray:
    with tifffile.TiffFile(path) as tif:
        shape = tif.series[0].shape
        if len(shape) == 2:
            return tif.asarray(series=0)
        keys = np.arange(int(np.prod(shape[:-2]))).reshape(shape[:-2])[index]
        data = tif.asarray(key=np.ravel(keys).tolist(), series=0)
        return data.reshape(*np.shape(keys), *shape[-2:])


def _sampling(tif: tifffile.TiffFile, path: Path) -> Sampling:
    unit = (tif.imagej_metadata or {}).get("unit")
    tags = tif.pages.first.tags
    if unit is not None and "XResolution" in tags and "YResolution" in tags:
        rx, ry = (n / d for n, d in (tags["XResolution"].value, tags["YResolution"].value))
        return pair(to_angstrom(1 / rx, unit), to_angstrom(1 / ry, unit))
    from rsciio.tiff import file_reader  # FEI, Zeiss, Gatan ... tags

    from hrtem_core.readers.microscope import signal_sampling

    return signal_sampling(file_reader(str(path), lazy=True)[0]["axes"])
