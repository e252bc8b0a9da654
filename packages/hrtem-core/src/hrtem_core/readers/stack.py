"""Microscope files as lazy stacks of images in abTEM's array order.

Files store images with row = y; :meth:`Stack.read` returns them TRANSPOSED, so that axis -2 is x
(abTEM's order, docs/architecture.md). This is the one place where that happens. ``sampling = (sx, sy)``
[Å/px] comes from the file's metadata when it has any (nm, µm, pm converted to Å), else None;
a pixel size outside :data:`~hrtem_core.readers.units.SAMPLING_RANGE` is no real-space sampling.
Only real-space images and image stacks are read: spectra, spectrum images, diffraction
patterns, FFTs, colour images and complex data are refused, saying what the file holds.
Every failure is one :class:`~hrtem_core.errors.ImageError` line naming the file.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np

from hrtem_core.errors import HRTEMError, ImageError
from hrtem_core.readers import hdf5, microscope, npy, tiff
from hrtem_core.readers.info import StackInfo
from hrtem_core.readers.units import SAMPLING_RANGE, Sampling

_BACKENDS: dict[str, ModuleType] = {
    suffix: module for module in (tiff, microscope, npy, hdf5) for suffix in module.SUFFIXES
}
SUFFIXES = tuple(_BACKENDS)
FOLDER_SUFFIXES = tuple(s for s in SUFFIXES if s != ".emi")
"""Files that are frames in a folder: a TIA ``.emi`` is read through the ``.ser`` beside it."""
RANKS = (2, 3, 4)


def _first_line(error: BaseException) -> str:
    text = str(error).strip()
    return text.splitlines()[0] if text else type(error).__name__


@dataclass(frozen=True)
class Stack:
    """The images of one file, read on demand; picklable (a path and header facts).

    shape: in the file's order: ``[rows, cols]``, ``[N, rows, cols]`` or ``[T, C, rows, cols]``.
    sampling: (sx, sy) [Å/px] or None; time_step: [s] between the images of axis 0, or None.
    """

    path: Path
    shape: tuple[int, ...]
    sampling: Sampling
    time_step: float | None

    def __len__(self) -> int:
        """Images (or rank-4 frames) along axis 0; 1 for a single image."""
        return 1 if len(self.shape) == 2 else self.shape[0]

    @property
    def image_shape(self) -> tuple[int, int]:
        """(nx, ny) [px] of one image, in abTEM's order."""
        return (self.shape[-1], self.shape[-2])

    def read(self, index: Any = ...) -> np.ndarray:
        """Pixels at ``index`` of the leading axes as float32 ``[..., nx, ny]`` (transposed)."""
        backend = _BACKENDS[self.path.suffix.lower()]
        try:
            data = np.asarray(backend.read(self.path, index))
        except HRTEMError:
            raise
        except Exception as error:  # any reader's failure on a corrupt or truncated file
            raise ImageError(f"{self.path}: unreadable ({_first_line(error)})") from None
        _check_dtype(self.path, data.dtype)
        data = data.astype(np.float32, copy=False)
        if data.size == 0:
            raise ImageError(f"{self.path}: image is empty (shape {data.shape})")
        if not np.isfinite(data).all():
            raise ImageError(f"{self.path}: image contains NaN or infinite values")
        return np.ascontiguousarray(np.swapaxes(data, -1, -2))


def _check_dtype(path: Path, dtype: np.dtype) -> None:
    if np.issubdtype(dtype, np.complexfloating):
        raise ImageError(f"{path}: complex data ({dtype}), not an image")
    if not np.issubdtype(dtype, np.number):
        raise ImageError(f"{path}: expected real pixel values, got dtype {dtype}")


def _check_sampling(path: Path, sampling: Sampling) -> None:
    """A pixel size no real-space image has (e.g. a diffraction calibration read as metres)."""
    low, high = SAMPLING_RANGE
    if sampling is not None and not all(low <= s <= high for s in sampling):
        hint = ""
        if path.suffix.lower() == ".ser":
            hint = "; a TIA diffraction pattern? its .emi, kept beside it, records the mode"
        raise ImageError(
            f"{path}: pixel size {sampling[0]:.3g} x {sampling[1]:.3g} Å is no real-space "
            f"sampling ({low:g} to {high:g} Å/px){hint}"
        )


def open_stack(path: str | Path) -> Stack:
    """The stack in ``path`` (TIFF, DM3/DM4, EMD, SER/EMI, MRC, NPY, HDF5), header read, pixels
    not."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in _BACKENDS:
        raise ImageError(f"{path}: unknown image format {suffix!r} (known: {', '.join(SUFFIXES)})")
    if not path.is_file():
        raise ImageError(f"{path}: no such file")
    try:
        info: StackInfo = _BACKENDS[suffix].info(path)
    except HRTEMError:
        raise
    except Exception as error:
        raise ImageError(f"{path}: unreadable ({_first_line(error)})") from None
    if len(info.shape) not in RANKS:
        raise ImageError(f"{path}: expected images [N, rows, cols], got shape {info.shape}")
    _check_dtype(path, info.dtype)
    _check_sampling(path, info.sampling)
    return Stack(path, info.shape, info.sampling, info.time_step)


def read_image(path: str | Path) -> tuple[np.ndarray, Sampling]:
    """One 2-D image: (array [nx, ny] float32, axis 0 = x; sampling (sx, sy) [Å/px] or None)."""
    stack = open_stack(path)
    if len(stack.shape) != 2:
        raise ImageError(f"{path}: expected a 2-D image, got shape {stack.shape}")
    return stack.read(), stack.sampling


def read_stack(path: str | Path) -> tuple[np.ndarray, Sampling]:
    """A series ``[N, nx, ny]`` float32 (N = 1 for a 2-D file) and its sampling [Å/px] or None."""
    stack = open_stack(path)
    if len(stack.shape) == 4:
        raise ImageError(f"{path}: expected a 2-D image or a 3-D stack, got shape {stack.shape}")
    data = stack.read()
    return (data[None] if data.ndim == 2 else data), stack.sampling
