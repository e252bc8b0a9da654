"""Drift of a particle between two frames, measured on the particle's neighbourhood.

For each interpretable frame the analysis keeps the particle's :class:`Region`: the frame cut to
the bounding box of the particle's mask grown by twice the drift cap (plus 8 px), and where that
crop lies in the frame. Two consecutive regions are registered on the part of the frame that
covers both particles (the union of the two masks' bounding boxes, grown by the cap plus 4 px,
kept inside both crops): :func:`hrtem_analysis.registration.drift` (sub-pixel phase correlation)
within the cap. The drift (dx, dy) [Å] is how far the content moved from the previous frame to
this one, in array order (axis 0 = x).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from hrtem_core.atomic import atomic_write
from hrtem_core.errors import ImageError
from scipy import ndimage

from hrtem_analysis.registration import drift

_SMALLEST = 16  # [px] per axis: a common box smaller than this cannot be registered


@dataclass(frozen=True)
class Region:
    """A particle's neighbourhood in one frame: image ``[h, w]`` float32 and mask ``[h, w]`` bool
    cut from the frame, origin: index (i, j) [px] of the crop's pixel (0, 0) in the frame,
    sampling (sx, sy) [Å/px]."""

    image: np.ndarray
    mask: np.ndarray
    origin: tuple[int, int]
    sampling: tuple[float, float]

    def save(self, path: Path) -> Path:
        """Write the region to ``path`` (``.npz``) atomically."""
        arrays = {
            "image": self.image,
            "mask": self.mask,
            "origin": np.asarray(self.origin, dtype=np.int64),
            "sampling": np.asarray(self.sampling, dtype=np.float64),
        }
        return atomic_write(path, lambda tmp: _savez(tmp, arrays))

    @classmethod
    def load(cls, path: Path) -> Region:
        """The region saved at ``path`` (no pickles)."""
        with np.load(path, allow_pickle=False) as data:
            origin = tuple(int(v) for v in data["origin"])
            sampling = tuple(float(v) for v in data["sampling"])
            return cls(data["image"], data["mask"].astype(bool), origin, sampling)  # type: ignore[arg-type]


def _savez(path: Path, arrays: dict[str, np.ndarray]) -> None:
    with open(path, "wb") as stream:
        np.savez(stream, **arrays)


def _cap_px(max_drift: float, sampling: tuple[float, float]) -> int:
    return math.ceil(max_drift / min(sampling))


def particle_region(
    image: np.ndarray, mask: np.ndarray, sampling: tuple[float, float], max_drift: float
) -> Region:
    """The neighbourhood of the particle ``mask`` ``[nx, ny]`` in ``image`` ``[nx, ny]``, with a
    margin of twice the drift cap ``max_drift`` [Å] (+ 8 px) where the frame allows."""
    boxes = ndimage.find_objects(np.asarray(mask, dtype=np.int8))
    if not boxes:
        raise ImageError("particle region: the mask is empty")
    margin = 2 * _cap_px(max_drift, sampling) + 8
    box = tuple(
        slice(max(0, s.start - margin), min(n, s.stop + margin))
        for s, n in zip(boxes[0], image.shape, strict=True)
    )
    return Region(
        image=np.asarray(image[box], dtype=np.float32),
        mask=np.asarray(mask[box], dtype=bool),
        origin=(box[0].start, box[1].start),
        sampling=(float(sampling[0]), float(sampling[1])),
    )


def _mask_box(region: Region) -> np.ndarray:
    """[2, 2] (lower, upper) [px, frame index] of the region's mask bounding box."""
    box = ndimage.find_objects(region.mask.astype(np.int8))[0]
    origin = np.asarray(region.origin)
    return np.array([[s.start for s in box], [s.stop for s in box]]) + origin


def region_drift(previous: Region, current: Region, max_drift: float) -> np.ndarray:
    """Drift ``[2]`` (dx, dy) [Å] of ``current`` against ``previous``, at most ``max_drift`` [Å];
    nan when the two regions share too little of the frame to register."""
    if not np.allclose(previous.sampling, current.sampling, rtol=1e-6):
        raise ImageError(
            f"frames to register have samplings {previous.sampling} and {current.sampling} Å/px"
        )
    cap = _cap_px(max_drift, current.sampling)
    boxes = np.stack([_mask_box(previous), _mask_box(current)])
    lower = boxes[:, 0].min(axis=0) - cap - 4
    upper = boxes[:, 1].max(axis=0) + cap + 4
    for region in (previous, current):
        start = np.asarray(region.origin)
        lower = np.maximum(lower, start)
        upper = np.minimum(upper, start + np.asarray(region.image.shape))
    if np.any(upper - lower < _SMALLEST):
        return np.full(2, np.nan)
    cuts = []
    for region in (previous, current):
        i, j = lower - np.asarray(region.origin)
        h, w = upper - lower
        cuts.append(region.image[i : i + h, j : j + w])
    return drift(cuts[0], cuts[1], max_shift=max_drift / min(current.sampling)) * np.asarray(
        current.sampling
    )
