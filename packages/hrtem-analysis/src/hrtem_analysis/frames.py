"""Frame sources: the images of a series, one time point at a time, read lazily.

A *frame* is one time point: an array ``[C, nx, ny]`` float32 in abTEM order (axis 0 = x; files
store row = y and are transposed once, by :mod:`hrtem_core.readers`), with C the model's
``in_channels``. Its sampling (sx, sy) [Å/px] comes from ``sampling=`` when given (it overrides
the file), else from the file's metadata.

Where the images come from:

- a **stack file** (TIFF, NPY, HDF5, DM3/DM4, EMD, SER, MRC) ``[N, rows, cols]`` (or one image
  ``[rows, cols]``): image k is slice k, read one slice at a time (NPY memory-mapped, HDF5 and
  TIFF by slice, microscope formats through rosettasciio's lazy readers);
  ``[T, C, rows, cols]`` (rank 4) holds the C channels of each frame explicitly;
- a **folder** (or a list of files): one image per file, files in natural order (frame2 before
  frame10). When C > 1 and the first file is a 3-D stack of C images, each file is one frame.

Focal series (C > 1, e.g. MoS2 with C = 3): C *consecutive* images make one frame, in the order
of the model's ``config.defocus`` (images ``t C .. t C + C - 1`` are frame t). A leftover of fewer
than C images at the end is a failed frame, and a source of fewer than C images is an ImageError.

Defocus [Å] of each image (positive = underfocus) comes from the ``defocus`` attribute of an
HDF5 image dataset (or of its file): one value per image along axis 0, or C values (one per
channel) shared by every frame; None for other formats (give ``--defocus``).

Time [s] of frame t: ``t * frame_interval`` when given, else the stack's time axis (rosettasciio
frame axis in s/ms/µs), else the frame index t. A frame that cannot be read (truncated,
corrupt, NaNs) comes back as a :class:`Frame` with ``error`` set and ``image`` None.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import h5py
import numpy as np
from hrtem_core.errors import HRTEMError, ImageError
from hrtem_core.readers import (
    FOLDER_SUFFIXES,
    Sampling,
    Stack,
    hdf5,
    open_stack,
    read_image,
    read_stack,
)
from hrtem_core.readers.units import sampling_pair


@dataclass(frozen=True)
class Frame:
    """One time point. image ``[C, nx, ny]`` float32 (None when ``error``); sampling [Å/px];
    defocus [Å] of its C images from the file's metadata (None when the file has none)."""

    index: int
    time: float
    source: str
    image: np.ndarray | None
    sampling: tuple[float, float] | None
    error: str | None = None
    defocus: tuple[float, ...] | None = None


def natural_key(path: Path) -> list[int | str]:
    """Sort key putting ``frame2`` before ``frame10`` (digit runs compare as numbers)."""
    return [int(part) if part.isdigit() else part.lower() for part in re.split(r"(\d+)", path.name)]


def _first_line(error: BaseException) -> str:
    text = str(error).strip()
    return text.splitlines()[0] if text else type(error).__name__


@dataclass(frozen=True)
class FrameSource:
    """The frames of a series; picklable (paths and metadata only), so dask workers read their own.

    Build with :func:`open_frames`. ``len(source)`` frames, ``source.read(t)`` reads frame t.
    """

    files: tuple[Path, ...]
    channels: int
    stack: Stack | None
    images_per_file: int
    count: int
    sampling: tuple[float, float] | None
    frame_interval: float | None
    defocus: tuple[float, ...] | None = None

    def __len__(self) -> int:
        return self.count

    def __iter__(self) -> Iterator[Frame]:
        return (self.read(t) for t in range(self.count))

    def time(self, index: int) -> float:
        """Time [s] of frame ``index`` (its index when the series has no time information)."""
        step = self.frame_interval
        if step is None and self.stack is not None and self.stack.time_step is not None:
            step = self.stack.time_step * (self.channels if len(self.stack.shape) == 3 else 1)
        return float(index if step is None else index * step)

    def name(self, index: int) -> str:
        """Where frame ``index`` comes from: ``file[t]`` in a stack, else its (first) file's name."""
        if self.stack is not None:
            single = len(self.stack.shape) == 2
            return self.files[0].name if single else f"{self.files[0].name}[{index}]"
        return self.files[index * self.channels // self.images_per_file].name

    def read(self, index: int) -> Frame:
        """Frame ``index``; a read failure is a Frame with ``error`` set, never an exception."""
        if not 0 <= index < self.count:
            raise IndexError(f"frame {index} of a series of {self.count}")
        name = self.name(index)
        try:
            image, sampling = self._pixels(index, name)
            sampling = self.sampling or sampling
            if sampling is None:
                raise ImageError(
                    f"{name}: no sampling in the file's metadata and none given (--sampling Å/px)"
                )
            return Frame(
                index,
                self.time(index),
                name,
                image,
                sampling_pair(sampling),
                None,
                self._focus(index),
            )
        except HRTEMError as error:
            return Frame(index, self.time(index), name, None, None, _first_line(error))
        except Exception as error:  # a reader's failure on a corrupt file
            message = f"{name}: unreadable ({type(error).__name__}: {_first_line(error)})"
            return Frame(index, self.time(index), name, None, None, message)

    def _focus(self, index: int) -> tuple[float, ...] | None:
        """Defocus [Å] of frame ``index``'s images, when the metadata give one per image."""
        c = self.channels
        if self.defocus is None:
            return None
        if len(self.defocus) == c:
            return self.defocus
        values = self.defocus[index * c : (index + 1) * c]
        return values if len(values) == c else None

    def _pixels(self, index: int, name: str) -> tuple[np.ndarray, Sampling]:
        """``[C, nx, ny]`` float32 of frame ``index`` and the file's sampling."""
        c = self.channels
        if self.stack is not None:
            stack = self.stack
            rank = len(stack.shape)
            if rank == 2:
                return stack.read()[None], stack.sampling
            if rank == 4:
                return stack.read(index), stack.sampling
            if (index + 1) * c > stack.shape[0]:
                raise ImageError(
                    f"{name}: incomplete focal series, {stack.shape[0] - index * c} of {c} images"
                )
            return stack.read(slice(index * c, (index + 1) * c)), stack.sampling
        if self.images_per_file == c > 1:
            image, sampling = read_stack(self.files[index])
            if image.shape[0] != c:
                raise ImageError(
                    f"{name}: {image.shape[0]} images; expected {c} (one focal series)"
                )
            return image, sampling
        files = self.files[index * c : (index + 1) * c]
        if len(files) < c:
            raise ImageError(f"{name}: incomplete focal series, {len(files)} of {c} images")
        images = [read_image(path) for path in files]
        return np.stack([image for image, _ in images]), images[0][1]


def _list_files(paths: Sequence[Path]) -> list[Path]:
    """Files of a folder in natural order (image suffixes only), or the files given, in order."""
    if len(paths) == 1 and paths[0].is_dir():
        files = sorted(
            (
                p
                for p in paths[0].iterdir()
                if p.suffix.lower() in FOLDER_SUFFIXES and not p.name.startswith(".")
            ),
            key=natural_key,
        )
        if not files:
            raise ImageError(f"{paths[0]}: no image files ({', '.join(FOLDER_SUFFIXES)})")
        return files
    for path in paths:
        if not path.exists():
            raise ImageError(f"{path}: no such file or directory")
        if path.is_dir():
            raise ImageError(f"{path}: give one directory, or files only")
    return list(paths)


def open_frames(
    paths: Path | Sequence[Path],
    channels: int = 1,
    sampling: float | tuple[float, float] | None = None,
    frame_interval: float | None = None,
    probe: bool = True,
) -> FrameSource:
    """The frames of a stack file, a folder, or a list of files (see the module docstring).

    channels:       C, images per frame (the model's ``in_channels``).
    sampling:       [Å/px], overrides the files' metadata.
    frame_interval: [s] between frames, overrides the files' time axis.
    probe:          read the first frame to fail early on a missing sampling (a caller that
                    reads it next anyway passes False and gets the reason in its ``error``).
    Raises ImageError when the input is missing or unreadable, cannot form one frame of C
    images, or (with ``probe``) has no sampling (neither metadata nor ``sampling``).
    """
    paths = [Path(paths)] if isinstance(paths, str | Path) else [Path(p) for p in paths]
    if not paths:
        raise ImageError("no input frames given")
    if channels < 1:
        raise ImageError(f"channels={channels} must be >= 1")
    override = None if sampling is None else sampling_pair(sampling)
    files = _list_files(paths)
    stack, per_file = None, 1
    if len(files) == 1 and not paths[0].is_dir():
        stack, images = _open_stack(files[0], channels)
    else:
        first, _ = read_stack(files[0])
        per_file = channels if channels > 1 and first.shape[0] == channels else 1
        images = len(files) * per_file
    if images < channels:
        raise ImageError(
            f"{paths[0]}: {images} image(s) cannot make one frame of {channels} channels; the model "
            f"takes a focal series of {channels} consecutive images per time point"
        )
    count = -(-images // channels)  # a leftover partial focal series is reported as a failed frame
    focus = _defocus(files)
    source = FrameSource(
        tuple(files), channels, stack, per_file, count, override, frame_interval, focus
    )
    if not probe:
        return source
    first_frame = source.read(0)
    if first_frame.error is not None and "no sampling" in first_frame.error:
        raise ImageError(first_frame.error)
    return source


def _open_stack(path: Path, channels: int) -> tuple[Stack, int]:
    """The stack in ``path`` and its number of images, or an ImageError naming it."""
    stack = open_stack(path)
    rank = len(stack.shape)
    if rank == 4 and stack.shape[1] != channels:
        raise ImageError(
            f"{path}: frames of {stack.shape[1]} channels [T, C, rows, cols] = {stack.shape}; "
            f"the model takes {channels}"
        )
    images = {2: 1, 3: stack.shape[0], 4: stack.shape[0] * channels}[rank]
    return stack, images


def _defocus(files: Sequence[Path]) -> tuple[float, ...] | None:
    """Defocus [Å] from the HDF5 ``defocus`` attributes of ``files``, all files' values in order
    (see the module docstring); None unless every file has them."""
    values: list[float] = []
    for path in files:
        if path.suffix.lower() not in hdf5.SUFFIXES:
            return None
        try:
            with h5py.File(path, "r") as file:
                dataset = hdf5.image_dataset(file, path)
                attrs = dataset.attrs if "defocus" in dataset.attrs else file.attrs
                if "defocus" not in attrs:
                    return None
                values += np.atleast_1d(np.asarray(attrs["defocus"], dtype=float)).tolist()
        except (OSError, HRTEMError, ValueError, TypeError):
            return None
    return tuple(values) if values else None
