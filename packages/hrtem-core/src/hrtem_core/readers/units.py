"""Units of microscope metadata: lengths to Å, times to s."""

from __future__ import annotations

from typing import Any

import numpy as np

from hrtem_core.errors import ImageError

Sampling = tuple[float, float] | None
"""(sx, sy) [Å/px] in abTEM's axis order, or None when the file does not say."""

_LENGTHS = {
    "å": 1.0, "a": 1.0, "angstrom": 1.0, "ang": 1.0, "nm": 10.0, "nanometer": 10.0,
    "pm": 0.01, "µm": 1e4, "um": 1e4, "μm": 1e4, "micron": 1e4, "micrometer": 1e4,
    "mm": 1e7, "m": 1e10,
}  # fmt: skip
_TIMES = {
    "s": 1.0, "sec": 1.0, "second": 1.0, "seconds": 1.0, "ms": 1e-3, "msec": 1e-3,
    "µs": 1e-6, "us": 1e-6, "μs": 1e-6, "ns": 1e-9, "min": 60.0,
}  # fmt: skip
SAMPLING_RANGE = (1e-3, 1e7)
"""Real-space pixel sizes [Å/px] a microscope image can have (0.1 pm to 1 mm)."""


def to_angstrom(scale: float, units: Any) -> float | None:
    """``scale`` in ``units`` converted to Å, or None for an unknown or missing unit."""
    factor = _LENGTHS.get(str(units).strip().lower()) if units is not None else None
    return float(scale) * factor if factor is not None and scale and scale > 0 else None


def to_seconds(scale: float, units: Any) -> float | None:
    """``scale`` in ``units`` converted to s, or None for an unknown or missing unit."""
    factor = _TIMES.get(str(units).strip()) if units is not None else None
    return float(scale) * factor if factor is not None and scale and scale > 0 else None


def pair(sx: float | None, sy: float | None) -> Sampling:
    """(sx, sy) when both are known, else None."""
    return (sx, sy) if sx is not None and sy is not None else None


def sampling_pair(sampling: float | tuple[float, float]) -> tuple[float, float]:
    """(sx, sy) [Å/px] from a scalar or a pair; each must be finite and > 0."""
    pair = np.broadcast_to(np.asarray(sampling, dtype=float), (2,))
    if not np.all(np.isfinite(pair) & (pair > 0)):
        raise ImageError(f"sampling={sampling!r} [Å/px] must be finite and > 0")
    return (float(pair[0]), float(pair[1]))
