"""Drift between two images: sub-pixel translation by cross-correlation, within a cap.

``drift(reference, moving)`` is the translation ``d`` [px, array order: axis 0 = x] with
``moving(r) ≈ reference(r - d)``: how far the content moved. Both images are tapered by a Hann
window (the frame edges do not correlate); their cross-power spectrum is normalised to unit
modulus (phase correlation: every spatial frequency counts alike, so a crystal lattice, a few
strong frequencies, cannot pull the peak to a lattice vector) and multiplied by a Gaussian of
width ``smooth`` [px] in real space, which makes the peak a Gaussian. The peak is searched only
within ``max_shift`` px and refined to sub-pixel precision by a Gaussian (a parabola through the
logarithms of the peak and its neighbours) on each axis.

``focal_drift`` does the same between two images of a focal series, whose contrast transfer
functions differ in sign from one ring of spatial frequency to the next: see its docstring.
"""

from __future__ import annotations

import numpy as np
from hrtem_core.errors import ImageError


def _tapered(image: np.ndarray) -> np.ndarray:
    image = np.asarray(image, dtype=np.float64)
    window = np.outer(np.hanning(image.shape[0]), np.hanning(image.shape[1]))
    return (image - image.mean()) * window


def _refine(values: np.ndarray) -> float:
    """Offset in [-0.5, 0.5] of the centre of the Gaussian through three samples."""
    left, centre, right = np.log(np.maximum(values, 1e-12 * max(values.max(), 1e-300)))
    curvature = left - 2 * centre + right
    return 0.0 if curvature >= 0 else float(np.clip(0.5 * (left - right) / curvature, -0.5, 0.5))


def drift(
    reference: np.ndarray, moving: np.ndarray, max_shift: float | None = None, smooth: float = 1.5
) -> np.ndarray:
    """The drift ``[2]`` [px] of ``moving`` against ``reference`` (both ``[H, W]``); see the
    module docstring. max_shift [px]: largest plausible drift (default: a quarter of the image)."""
    _check_pair(reference, moving)
    cap = min(reference.shape) / 4 if max_shift is None else max_shift
    kx, ky = (np.fft.fftfreq(n) for n in reference.shape)
    lowpass = np.exp(-2 * (np.pi * smooth) ** 2 * (kx[:, None] ** 2 + ky[None, :] ** 2))
    spectrum = np.fft.fft2(_tapered(moving)) * np.conj(np.fft.fft2(_tapered(reference)))
    spectrum /= np.maximum(np.abs(spectrum), 1e-12 * np.abs(spectrum).max())
    correlation = np.fft.ifft2(spectrum * lowpass).real
    offsets = [np.fft.fftfreq(n, 1 / n) for n in reference.shape]  # 0, 1, ..., -1 [px]
    distance = np.hypot(offsets[0][:, None], offsets[1][None, :])
    return _peak(correlation, distance <= cap)


def _check_pair(reference: np.ndarray, moving: np.ndarray) -> None:
    if reference.shape != moving.shape or reference.ndim != 2:
        raise ImageError(
            f"images to register must be 2-D and alike, got {reference.shape} and {moving.shape}"
        )
    if not (np.isfinite(reference).all() and np.isfinite(moving).all()):
        raise ImageError("images to register contain NaN or infinite values")


def _peak(surface: np.ndarray, allowed: np.ndarray) -> np.ndarray:
    """The offset ``[2]`` [px] of the highest point of ``surface`` (FFT order) where ``allowed``,
    refined to sub-pixel precision by a Gaussian through its neighbours on each axis."""
    offsets = [np.fft.fftfreq(n, 1 / n) for n in surface.shape]  # 0, 1, ..., -1 [px]
    peak = np.unravel_index(np.argmax(np.where(allowed, surface, -np.inf)), surface.shape)
    result = np.empty(2)
    for axis in range(2):
        index = [peak[0], peak[1]]
        samples = []
        for step in (-1, 0, 1):
            index[axis] = (peak[axis] + step) % surface.shape[axis]
            samples.append(surface[tuple(index)])
        result[axis] = offsets[axis][peak[axis]] + _refine(np.array(samples))
    return result


def focal_drift(
    reference: np.ndarray,
    moving: np.ndarray,
    max_shift: float,
    around: tuple[float, float] = (0.0, 0.0),
    k_max: float = 0.25,
    smooth: float = 1.0,
    whiten: float = 0.25,
) -> np.ndarray:
    """The drift ``[2]`` [px] of ``moving`` against ``reference`` (as :func:`drift`) when the two
    are images of one object at different defocus.

    Each image is the object's spectrum times its own contrast transfer function, real and
    isotropic (up to astigmatism) but of either sign, changing from one ring of ``|k|`` to the
    next and from one defocus to the other: one cross-correlation cancels itself (:func:`drift`
    finds lattice vectors). So the cross-power spectrum, whitened by ``|X| ** whiten`` and
    smoothed by a Gaussian of ``smooth`` px, is cut into rings one reciprocal pixel wide up to
    ``k_max`` [cycles/px]; each ring's correlation counts by its magnitude, its sign dropped, and
    the rings are summed. Within a ring the relative phases of the reflections stay, so a shift
    by a bond (Mo onto S) does not fit. The peak is searched within ``max_shift`` px of
    ``around`` [px] and refined as in :func:`drift`.
    """
    _check_pair(reference, moving)
    shape = reference.shape
    spectrum = np.fft.rfft2(_tapered(moving)) * np.conj(np.fft.rfft2(_tapered(reference)))
    spectrum /= np.maximum(np.abs(spectrum), 1e-12 * np.abs(spectrum).max()) ** whiten
    kx, ky = np.fft.fftfreq(shape[0]), np.fft.rfftfreq(shape[1])
    k = np.hypot(kx[:, None], ky[None, :])  # [cycles/px]
    spectrum *= np.exp(-2 * (np.pi * smooth * k) ** 2)
    ring = np.floor(k * min(shape)).astype(int)
    surface = np.zeros(shape)
    for r in range(1, int(k_max * min(shape)) + 1):
        surface += np.abs(np.fft.irfft2(np.where(ring == r, spectrum, 0), s=shape))
    dx, dy = (np.fft.fftfreq(n, 1 / n) - c for n, c in zip(shape, around, strict=True))
    return _peak(surface, np.hypot(dx[:, None], dy[None, :]) <= max_shift)
