"""The classical baseline the networks must beat: local variance and an Otsu threshold.

Crystalline particles carry lattice fringes and strong contrast; amorphous carbon carries weaker,
random contrast. So: smooth the image with a Gaussian of ``smooth`` [Å] (takes the pixel noise
off, keeps the Au fringes of 2.0-2.4 Å), take the variance in a disc of ``radius`` [Å] around each
pixel (a few lattice periods across), and split its logarithm into two classes with Otsu's
threshold (the one that maximises the between-class variance of the histogram). The
high-variance class is "particle"; it reaches up to about ``radius`` beyond a particle's edge.
The mask is then cleaned and split into particles like a network's
(:func:`hrtem_analysis.fourier.particles`).

The defaults were chosen on the first scene of the scene benchmark (7 particles of 3-6 nm on
a-C, 1024^2 px at 0.275 Å/px, pixel IoU at 50 / 200 / 1000 e-/Å^2): log variance, smooth 0.2 Å,
radius 4 Å: 0.72 / 0.77 / 0.90; smooth 0.4 Å: 0.58 / 0.73 / 0.89; radius 8 Å: 0.59 / 0.70 / 0.79;
the variance itself instead of its logarithm: 0.14 / 0.12 / 0.13 (Otsu then splits off only the
strongest fringes).
"""

from __future__ import annotations

import numpy as np
from hrtem_analysis.fourier import disc
from hrtem_core.errors import ImageError
from hrtem_core.readers.units import sampling_pair
from scipy import ndimage, signal
from skimage.filters import threshold_otsu

SMOOTH = 0.2  # [Å]
RADIUS = 4.0  # [Å]


def local_variance(
    image: np.ndarray,
    sampling: float | tuple[float, float],
    smooth: float = SMOOTH,
    radius: float = RADIUS,
) -> np.ndarray:
    """Variance ``[H, W]`` of the Gaussian-smoothed ``image`` ``[H, W]`` in a disc of ``radius``
    [Å] around each pixel (``sampling`` [Å/px]; edges mirrored)."""
    image = np.asarray(image, dtype=np.float64)
    if image.ndim != 2 or not np.isfinite(image).all():
        raise ImageError(f"image {image.shape} must be a finite [H, W] array")
    pixel = np.mean(sampling_pair(sampling))
    smoothed = ndimage.gaussian_filter(image, smooth / pixel, mode="reflect")
    footprint = disc(max(radius / pixel, 1.0)).astype(np.float64)
    footprint /= footprint.sum()
    mean, square = (_disc_mean(x, footprint) for x in (smoothed, smoothed**2))
    return np.maximum(square - mean**2, 0.0)


def _disc_mean(image: np.ndarray, footprint: np.ndarray) -> np.ndarray:
    """Mean of ``image`` under the normalised ``footprint`` at each pixel (FFT, edges mirrored)."""
    r = footprint.shape[0] // 2
    padded = np.pad(image, r, mode="reflect")
    return signal.fftconvolve(padded, footprint, mode="valid")


def classical_mask(
    image: np.ndarray,
    sampling: float | tuple[float, float],
    smooth: float = SMOOTH,
    radius: float = RADIUS,
) -> np.ndarray:
    """Particle mask ``[H, W]`` bool: the logarithm of the local variance
    (:func:`local_variance`) above its Otsu threshold. A flat image has no particle."""
    if np.ptp(image) == 0:
        return np.zeros(np.shape(image), dtype=bool)
    variance = np.log(local_variance(image, sampling, smooth, radius) + 1e-30)
    return variance > threshold_otsu(variance)
