"""Drift registration: known sub-pixel shifts of a particle on noise are recovered, within the cap."""

from __future__ import annotations

import numpy as np
import pytest
from hrtem_analysis.registration import drift
from hrtem_core.errors import ImageError
from scipy import ndimage


def scene(seed: int = 0, size: int = 128) -> np.ndarray:
    """A lattice-fringed disc (a particle) on smoothed noise (amorphous carbon)."""
    rng = np.random.default_rng(seed)
    x, y = np.meshgrid(np.arange(size), np.arange(size), indexing="ij")
    disc = np.hypot(x - 60.0, y - 70.0) < 20
    fringes = np.cos(2 * np.pi * (x + 0.5 * y) / 7.0)
    carbon = ndimage.gaussian_filter(rng.normal(size=(size, size)), 1.5)
    return carbon + disc * (1.0 + 0.8 * fringes)


@pytest.mark.parametrize("shift", [(0.0, 0.0), (3.3, -1.7), (-7.6, 5.25), (0.4, 0.9)])
def test_a_known_sub_pixel_shift_is_recovered(shift: tuple[float, float]) -> None:
    reference = scene()
    moving = ndimage.shift(reference, shift, order=3, mode="wrap")
    moving += np.random.default_rng(1).normal(scale=0.05, size=moving.shape)
    np.testing.assert_allclose(drift(reference, moving), shift, atol=0.15)


def test_a_lattice_spacing_is_not_mistaken_for_drift() -> None:
    """A drift of 7 px (one fringe period) is found as 7 px, not as 0."""
    reference = scene()
    moving = ndimage.shift(reference, (7.0, 0.0), order=3, mode="wrap")
    np.testing.assert_allclose(drift(reference, moving), (7.0, 0.0), atol=0.15)


def test_the_cap_bounds_the_search() -> None:
    reference = scene()
    moving = ndimage.shift(reference, (20.0, 0.0), order=3, mode="wrap")
    assert np.hypot(*drift(reference, moving, max_shift=5.0)) <= 5.5


def test_bad_images_are_one_line() -> None:
    with pytest.raises(ImageError, match=r"must be 2-D and alike, got \(4, 4\) and \(4, 5\)"):
        drift(np.zeros((4, 4)), np.zeros((4, 5)))
    bad = np.zeros((8, 8))
    bad[1, 1] = np.nan
    with pytest.raises(ImageError, match="NaN"):
        drift(bad, np.zeros((8, 8)))
