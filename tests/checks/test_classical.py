"""The classical baseline (local variance + Otsu) on a crystal in amorphous-looking noise."""

import numpy as np
from hrtem_checks.scenes.classical import RADIUS, classical_mask, local_variance
from scipy import ndimage

SAMPLING = 0.2  # [Å/px]
N = 200


def test_covers_a_lattice_disc_within_one_window_and_nothing_in_a_flat_frame() -> None:
    x = np.arange(N)[:, None] * SAMPLING
    y = np.arange(N)[None, :] * SAMPLING
    disc = np.hypot(x - 20.0, y - 18.0) < 8.0
    lattice = np.cos(2 * np.pi * x / 2.355) + np.cos(2 * np.pi * (x + y) / (2.039 * 2**0.5))
    rng = np.random.default_rng(0)
    image = 1.0 + 0.3 * lattice * disc + rng.normal(0, 0.05, (N, N))
    mask = classical_mask(image, SAMPLING)
    assert mask[disc].mean() > 0.98  # the whole crystal
    reach = np.hypot(x - 20.0, y - 18.0) < 8.0 + RADIUS + 2 * SAMPLING
    assert not (mask & ~reach).any()  # and nothing farther than one window from it
    variance = local_variance(image, SAMPLING)
    assert variance[ndimage.binary_erosion(disc, iterations=20)].min() > 10 * np.median(
        variance[~reach]
    )
    assert not classical_mask(np.ones((N, N)), SAMPLING).any()
