"""Read microscope images (TIFF, DM3/DM4, EMD, SER, MRC, NPY, HDF5) into abTEM's array order.

Files store images with row = y; the arrays returned here are TRANSPOSED once, so that axis 0 is
x (abTEM's order, DESIGN.md), and ``sampling = (sx, sy)`` in Å/px comes from the file's metadata
when it has any (nm, µm, pm converted to Å), else None. TIFF data are read with tifffile, the
microscope formats with rosettasciio, NPY without pickles, HDF5 from its one image dataset.
Every failure is one `ImageError` line naming the file.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import h5py
import numpy as np
import tifffile

from hrtem_sim.errors import ImageError

Sampling = tuple[float, float] | None

# Length units to Å.
_UNITS = {
    "å": 1.0, "a": 1.0, "angstrom": 1.0, "ang": 1.0, "nm": 10.0, "nanometer": 10.0,
    "pm": 0.01, "µm": 1e4, "um": 1e4, "μm": 1e4, "micron": 1e4, "micrometer": 1e4,
    "mm": 1e7, "m": 1e10,
}  # fmt: skip
_RSCIIO = {
    ".dm3": "digitalmicrograph", ".dm4": "digitalmicrograph", ".emd": "emd",
    ".ser": "tia", ".mrc": "mrc",
}  # fmt: skip
_TIFF = (".tif", ".tiff")
_HDF5 = (".h5", ".hdf5", ".hdf")
SUFFIXES = (*_TIFF, *_RSCIIO, ".npy", *_HDF5)


def to_angstrom(scale: float, units: Any) -> float | None:
    """``scale`` in ``units`` converted to Å, or None for an unknown or missing unit."""
    factor = _UNITS.get(str(units).strip().lower()) if units is not None else None
    return float(scale) * factor if factor is not None and scale and scale > 0 else None


def _pair(sx: float | None, sy: float | None) -> Sampling:
    return (sx, sy) if sx is not None and sy is not None else None


def _read_tiff(path: Path) -> tuple[np.ndarray, Sampling]:
    with tifffile.TiffFile(path) as tif:
        return tif.asarray(), tiff_sampling(tif, path)


def tiff_sampling(tif: tifffile.TiffFile, path: Path) -> Sampling:
    """(sx, sy) [Å] of an open TIFF: ImageJ calibration, else microscope tags (rosettasciio)."""
    unit = (tif.imagej_metadata or {}).get("unit")
    tags = tif.pages.first.tags
    if unit is not None and "XResolution" in tags and "YResolution" in tags:
        rx, ry = (n / d for n, d in (tags["XResolution"].value, tags["YResolution"].value))
        return _pair(to_angstrom(1 / rx, unit), to_angstrom(1 / ry, unit))
    # Microscope-specific TIFF tags (FEI, Zeiss, Gatan, ...) as rosettasciio knows them.
    from rsciio.tiff import file_reader

    return signal_sampling(file_reader(str(path), lazy=True)[0]["axes"])


def signal_sampling(axes: list[dict[str, Any]]) -> Sampling:
    """(sx, sy) [Å] from the last two (row = y, column = x) axes of a rosettasciio signal."""
    if len(axes) < 2:
        return None
    row, col = axes[-2], axes[-1]
    return _pair(
        to_angstrom(col.get("scale", 0), col.get("units")),
        to_angstrom(row.get("scale", 0), row.get("units")),
    )


def is_image_signal(signal: dict[str, Any]) -> bool:
    """Whether a rosettasciio signal holds images: its last two axes (rows, columns) are signal
    axes. Leading axes count frames whether marked navigation or not (Berkeley EMD marks none)."""
    axes = signal["axes"]
    return len(axes) >= 2 and not any(axis.get("navigate", False) for axis in axes[-2:])


def rsciio_image_signal(path: Path, lazy: bool = False) -> dict[str, Any]:
    """The first image signal of a microscope file (DM3/DM4, EMD, SER, MRC) read by
    rosettasciio; ``lazy``: its data a dask array, read when indexed."""
    import importlib

    reader = importlib.import_module(f"rsciio.{_RSCIIO[path.suffix.lower()]}").file_reader
    signals = reader(str(path), lazy=lazy)
    images = [s for s in signals if is_image_signal(s)]
    if not images:
        shapes = [tuple(np.shape(s["data"])) for s in signals]
        raise ImageError(f"{path}: no 2-D image in the file (signals of shape {shapes})")
    return images[0]


def _read_rsciio(path: Path) -> tuple[np.ndarray, Sampling]:
    signal = rsciio_image_signal(path)
    return np.asarray(signal["data"]), signal_sampling(signal["axes"])


def _read_hdf5(path: Path, ranks: tuple[int, ...]) -> tuple[np.ndarray, Sampling]:
    with h5py.File(path, "r") as file:
        dataset = hdf5_image_dataset(file, path, ranks)
        return dataset[()], hdf5_sampling(dataset, file)


def hdf5_image_dataset(file: h5py.File, path: Path, ranks: tuple[int, ...]) -> h5py.Dataset:
    """The one dataset of rank in ``ranks`` in an open HDF5 file (else an ImageError naming ``path``)."""
    found: list[h5py.Dataset] = []
    file.visititems(
        lambda _, obj: (
            found.append(obj) if isinstance(obj, h5py.Dataset) and obj.ndim in ranks else None
        )
    )
    if len(found) != 1:
        names = [d.name for d in found]
        raise ImageError(
            f"{path}: need exactly one dataset of rank {' or '.join(map(str, ranks))}, "
            f"found {len(found)} {names}"
        )
    return found[0]


def hdf5_sampling(dataset: h5py.Dataset, file: h5py.File) -> Sampling:
    """(sx, sy) [Å] from the ``sampling`` (and ``units``) attributes of the dataset or the file."""
    attrs = dataset.attrs if "sampling" in dataset.attrs else file.attrs
    if "sampling" not in attrs:
        return None
    raw = np.broadcast_to(np.asarray(attrs["sampling"], dtype=float), (2,))
    units = attrs.get("units", "Å")
    units = units.decode() if isinstance(units, bytes) else units
    # ``sampling`` is given per axis of the stored array: (rows = y, columns = x).
    return _pair(to_angstrom(raw[1], units), to_angstrom(raw[0], units))


def _read(path: str | Path, ranks: tuple[int, ...]) -> tuple[np.ndarray, Sampling]:
    """Data in the file's order (..., rows, columns) and (sx, sy) [Å] or None."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in SUFFIXES:
        raise ImageError(f"{path}: unknown image format {suffix!r} (known: {', '.join(SUFFIXES)})")
    if not path.is_file():
        raise ImageError(f"{path}: no such file")
    try:
        if suffix in _TIFF:
            data, sampling = _read_tiff(path)
        elif suffix == ".npy":
            data, sampling = np.load(path, allow_pickle=False), None
        elif suffix in _HDF5:
            data, sampling = _read_hdf5(path, ranks)
        else:
            data, sampling = _read_rsciio(path)
    except ImageError:
        raise
    except Exception as error:  # any reader's failure on a corrupt or foreign file
        message = str(error).splitlines()[0] if str(error) else type(error).__name__
        raise ImageError(f"{path}: unreadable ({message})") from None
    data = np.asarray(data)
    if data.ndim not in ranks:
        raise ImageError(
            f"{path}: expected a {' or '.join(map(str, ranks))}-D image, got shape {data.shape}"
        )
    if np.iscomplexobj(data) or not np.issubdtype(data.dtype, np.number):
        raise ImageError(f"{path}: expected real pixel values, got dtype {data.dtype}")
    data = data.astype(np.float32)
    if data.size == 0 or not np.isfinite(data).all():
        raise ImageError(f"{path}: image is empty or contains NaN or infinite values")
    return data, sampling


def read_image(path: str | Path) -> tuple[np.ndarray, Sampling]:
    """One 2-D image: (array [nx, ny] float32, axis 0 = x; sampling (sx, sy) [Å/px] or None)."""
    data, sampling = _read(path, (2,))
    return np.ascontiguousarray(data.T), sampling


def read_stack(path: str | Path) -> tuple[np.ndarray, Sampling]:
    """A frame series: (array [N, nx, ny] float32, axis 1 = x; sampling [Å/px] or None).

    A 2-D file gives N = 1; a 3-D file's first axis counts the frames.
    """
    data, sampling = _read(path, (2, 3))
    data = data[None] if data.ndim == 2 else data
    return np.ascontiguousarray(np.swapaxes(data, 1, 2)), sampling
