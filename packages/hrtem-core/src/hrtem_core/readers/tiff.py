"""TIFF files (tifffile): ImageJ calibration and frame interval, else the microscope tags
rosettasciio knows (DigitalMicrograph, FEI, Zeiss, ...), including DigitalMicrograph's frame
axis. Colour images (RGB, RGBA, palette) are refused."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import tifffile

from hrtem_core.errors import ImageError
from hrtem_core.readers.info import StackInfo
from hrtem_core.readers.units import Sampling, pair, to_angstrom, to_seconds

SUFFIXES = (".tif", ".tiff")
_COLOUR = {
    tifffile.PHOTOMETRIC.RGB: "RGB",
    tifffile.PHOTOMETRIC.PALETTE: "palette",
    tifffile.PHOTOMETRIC.YCBCR: "YCbCr",
    tifffile.PHOTOMETRIC.SEPARATED: "CMYK",
}


def info(path: Path) -> StackInfo:
    with tifffile.TiffFile(path) as tif:
        series = tif.series[0]
        _refuse_colour(series, path)
        shape, dtype = tuple(series.shape), np.dtype(series.dtype)
        imagej = tif.imagej_metadata or {}
        tags = tif.pages.first.tags
        sampling, time_step = _imagej_calibration(imagej, tags), _imagej_interval(imagej)
    if sampling is None or (time_step is None and len(shape) > 2):
        from rsciio.tiff import file_reader  # DigitalMicrograph, FEI, Zeiss ... tags

        from hrtem_core.readers.microscope import signal_sampling, time_axis

        axes = file_reader(str(path), lazy=True)[0]["axes"]
        sampling = sampling or signal_sampling(axes)
        if time_step is None and len(shape) > 2:
            time_step = time_axis(axes)
    return StackInfo(shape, dtype, sampling, time_step)


def read(path: Path, index: Any) -> np.ndarray:
    with tifffile.TiffFile(path) as tif:
        shape = tif.series[0].shape
        if len(shape) == 2:
            return tif.asarray(series=0)
        keys = np.arange(int(np.prod(shape[:-2]))).reshape(shape[:-2])[index]
        data = tif.asarray(key=np.ravel(keys).tolist(), series=0)
        return data.reshape(*np.shape(keys), *shape[-2:])


def _refuse_colour(series: tifffile.TiffPageSeries, path: Path) -> None:
    """An ImageError for a colour image: RGB(A) samples per pixel, or a colour photometric."""
    page = series.pages[0] if series.pages else None
    kind = _COLOUR.get(page.photometric) if page is not None else None
    if "S" in series.axes:
        samples = series.shape[series.axes.index("S")]
        kind = {3: "RGB", 4: "RGBA"}.get(samples, kind or f"{samples} samples per pixel")
    if kind is not None:
        raise ImageError(f"{path}: a colour ({kind}) image, not an image")


def _imagej_calibration(imagej: dict, tags: tifffile.TiffTags) -> Sampling:
    """(sx, sy) [Å] from ImageJ's ``unit`` and the X/YResolution tags [px per unit]."""
    unit = imagej.get("unit")
    if unit is None or "XResolution" not in tags or "YResolution" not in tags:
        return None
    rx, ry = (n / d for n, d in (tags["XResolution"].value, tags["YResolution"].value))
    return pair(to_angstrom(1 / rx, unit), to_angstrom(1 / ry, unit))


def _imagej_interval(imagej: dict) -> float | None:
    """ImageJ's frame interval ``finterval`` [s] (in ``tunit`` when it says)."""
    interval = imagej.get("finterval")
    return None if interval is None else to_seconds(float(interval), imagej.get("tunit", "s"))
