"""Zone-axis detection from the Fourier peaks of each nanoparticle (the paper's Figures 1 and 2).

A particle on a zone axis shows several crossed lattice fringes: several pairs of symmetric
peaks ``(k, -k)`` in its power spectrum, and the pairs of one family of planes (the two {111}
pairs of <110>, the two {200} of <100>, the three {220} of <111>) are of similar brightness,
since the zone's symmetry makes them equivalent. Off axis, one set of fringes (or none) survives.
The ratio of the brightest pair to the next-brightest pair OF THE BRIGHTEST PAIR'S FAMILY is
therefore near 1 on axis and large (or infinite) off axis; a threshold on it marks interpretable
frames. Two choices depart from the paper's "brightest over dimmest pair", both measured on the
scene benchmark's particles with true masks at 1000 e-/Å^2 (46 particles, four shapes, three
zone axes, each rule at its best threshold; the paper's rule: accuracy 0.74):

- pairs of different families are not compared: their brightness differs on axis too
  (structure factor, the microscope's transfer at each spacing), so a ratio across families is
  ~2-25 on axis (brightest over dimmest within the brightest family: 0.83);
- the dimmest pair of a family is often a weak spurious peak (noise, the substrate, a second
  twin domain), which sends on-axis particles to ratios of 10-120; the next-brightest pair is
  the crossed fringe that marks a zone axis (0.91 with the {220} spacing, which a <111> particle
  shows instead of {111} and {200}; 0.89 at the calibrated threshold 3.17).

Conventions: images ``[H, W]`` in abTEM order (axis 0 = x), sampling in Å/px, spatial
frequencies ``k = (kx, ky)`` in 1/Å, d-spacings in Å.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import torch
from hrtem_core.errors import ImageError
from hrtem_core.readers.units import sampling_pair
from scipy import ndimage

from hrtem_analysis.settings import AU_D_SPACINGS


@dataclass(frozen=True)
class PeakPair:
    """A lattice reflection and its symmetric partner: k1 = -k2 [1/Å], summed intensity of both,
    and the d-spacing [Å] of its family (the nearest of the material's d-spacings to 1 / |k1|)."""

    k1: tuple[float, float]
    k2: tuple[float, float]
    intensity: float
    d_spacing: float


@dataclass(frozen=True)
class PeakPairResult:
    """Brightest-to-next-brightest pair ratio of one particle.

    ratio:  brightest pair / next-brightest pair of the brightest pair's family (d-spacing); ``inf``
            when that family has one pair (one set of fringes: off axis), ``nan`` when there is
            no particle or no peak at all.
    pairs:  the pairs found, of every family, brightest first.
    status: "ok", "one pair", "no peaks" or "no particle".
    area:   particle area [px].
    """

    ratio: float
    pairs: list[PeakPair] = field(default_factory=list)
    status: str = "ok"
    area: int = 0


def disc(radius: float) -> np.ndarray:
    """A disc footprint ``[2r + 1, 2r + 1]`` bool of ``radius`` [px] (pixels whose centre is within it)."""
    r = int(np.floor(radius))
    i, j = np.ogrid[-r : r + 1, -r : r + 1]
    return i**2 + j**2 <= radius**2


def clean_mask(mask: np.ndarray, fill_holes: bool = True, opening: float = 0.0) -> np.ndarray:
    """A particle mask ``[H, W]`` (bool, or probabilities cut at 0.5), cleaned, as bool.

    opening: radius [px] of a disc opening (erosion then dilation), applied first: it removes
    specks and bridges narrower than about ``2 * opening`` and keeps larger shapes; 0 (or < 1 px)
    skips it. fill_holes: then fill background regions enclosed by a particle (a particle has
    no holes, so these are misses inside it).
    """
    mask = np.asarray(mask)
    binary = mask if mask.dtype == bool else mask > 0.5
    if opening >= 1.0:
        binary = ndimage.binary_opening(binary, structure=disc(opening))
    if fill_holes:
        binary = ndimage.binary_fill_holes(binary)
    return binary


def particles(
    mask: np.ndarray, min_area: int = 1, fill_holes: bool = True, opening: float = 0.0
) -> tuple[np.ndarray, int]:
    """Label the particles of a mask ``[H, W]`` (bool, or probabilities cut at 0.5).

    The mask is cleaned first (:func:`clean_mask`: an ``opening`` of radius [px], holes filled),
    then its connected components (4-connected) smaller than ``min_area`` [px] are dropped.
    Returns (labels ``[H, W]`` int, 0 = background, particles numbered 1..n, n).
    """
    labels, n = ndimage.label(clean_mask(mask, fill_holes, opening))
    areas = np.bincount(labels.ravel(), minlength=n + 1)
    keep = areas >= min_area
    keep[0] = False
    relabel = np.zeros(n + 1, dtype=np.int64)
    relabel[keep] = np.arange(1, keep.sum() + 1)
    return relabel[labels], int(keep.sum())


def cleaning_pixels(
    min_area: float, opening: float, sampling: float | tuple[float, float]
) -> tuple[int, float]:
    """(min_area [px], opening [px]) of a minimum particle area [nm^2] and an opening radius [Å]
    at ``sampling`` [Å/px] (the opening in pixels of the mean sampling)."""
    pixel = sampling_pair(sampling)
    pixel_area = pixel[0] * pixel[1] / 100.0  # [nm^2 per px]
    return max(1, math.ceil(min_area / pixel_area - 1e-9)), opening / float(np.mean(pixel))


def _power_spectrum(
    image: np.ndarray, mask: np.ndarray, edge: float, pad: int
) -> tuple[np.ndarray, int]:
    """Centred power spectrum of the soft-edged masked crop, zero-padded to a square of side n."""
    box = ndimage.find_objects(mask.astype(np.int8))[0]
    margin = int(np.ceil(3 * edge))
    box = tuple(
        slice(max(0, s.start - margin), min(size, s.stop + margin))
        for s, size in zip(box, mask.shape, strict=True)
    )
    soft = ndimage.gaussian_filter(mask[box].astype(float), edge) if edge > 0 else mask[box] * 1.0
    crop = image[box].astype(float)
    crop = (crop - np.sum(crop * soft) / soft.sum()) * soft
    n = int(2 ** np.ceil(np.log2(max(pad, *crop.shape))))
    spectrum = np.abs(np.fft.fft2(crop, s=(n, n))) ** 2
    return np.fft.fftshift(spectrum), n


def peak_pair_ratio(
    image: np.ndarray,
    mask: np.ndarray,
    sampling: float | tuple[float, float],
    d_spacings: tuple[float, ...] = AU_D_SPACINGS,
    band: float = 0.08,
    min_area: int = 100,
    edge: float = 2.0,
    snr: float = 10.0,
    min_separation: float = 0.1,
    pad: int = 256,
) -> PeakPairResult:
    """Ratio of the brightest to the next-brightest pair of symmetric lattice peaks of ONE
    particle, within the brightest pair's family of planes (see the module doc).

    image:  ``[H, W]`` intensity; mask ``[H, W]`` bool (or probabilities, cut at 0.5) of the
            particle; sampling [Å/px], scalar or (sx, sy).
    Steps: crop the mask's bounding box, multiply by the mask blurred with a Gaussian of ``edge``
    [px] (a soft edge, no ringing from the particle's outline), zero-pad to a square of at least
    ``pad`` px, take the power spectrum. Lattice peaks are local maxima within ``min_separation``
    [1/Å] that lie in a band ``|k - 1/d| <= band / d`` around any d-spacing and exceed ``snr``
    times the median power of the band (the background). Each peak is paired with its partner
    near ``-k``; a pair's intensity is the sum of both peaks, each the mean power in a box of
    half-width ``min_separation`` around it (robust to where the peak falls between pixels).
    A mask smaller than ``min_area`` [px] is "no particle" (ratio nan).
    """
    image = np.asarray(image, dtype=float)
    mask = np.asarray(mask)
    mask = mask if mask.dtype == bool else mask > 0.5
    if image.ndim != 2 or image.shape != mask.shape:
        raise ImageError(f"image {image.shape} and mask {mask.shape} must be the same [H, W]")
    if not np.isfinite(image).all():
        raise ImageError("image contains NaN or infinite values")
    pixel = np.asarray(sampling_pair(sampling))  # [Å/px]
    area = int(mask.sum())
    if area == 0 or area < min_area:
        return PeakPairResult(ratio=float("nan"), status="no particle", area=area)

    spectrum, n = _power_spectrum(image, mask, edge, pad)
    step = 1.0 / (n * pixel)  # [1/Å per px] of the spectrum, per axis
    kx = (np.arange(n) - n // 2)[:, None] * step[0]
    ky = (np.arange(n) - n // 2)[None, :] * step[1]
    k = np.hypot(kx, ky)
    in_band = np.zeros_like(k, dtype=bool)
    for d in d_spacings:
        in_band |= np.abs(k - 1.0 / d) <= band / d
    background = np.median(spectrum[in_band])
    radius = np.maximum(np.round(min_separation / step), 1).astype(int)
    local_max = spectrum == ndimage.maximum_filter(spectrum, size=tuple(2 * radius + 1))
    peaks = np.argwhere(in_band & local_max & (spectrum > snr * background))

    integrated = ndimage.uniform_filter(spectrum, size=tuple(2 * radius + 1))
    pairs = _pair(peaks, spectrum, n, radius)
    result = [
        PeakPair(
            k1=(float(kx[i, 0]), float(ky[0, j])),
            k2=(float(kx[pi, 0]), float(ky[0, pj])),
            intensity=float(integrated[i, j] + integrated[pi, pj]),
            d_spacing=min(d_spacings, key=lambda d: abs(k[i, j] - 1.0 / d)),
        )
        for (i, j), (pi, pj) in pairs
    ]
    result.sort(key=lambda p: p.intensity, reverse=True)
    if not result:
        return PeakPairResult(ratio=float("nan"), status="no peaks", area=area)
    family = [p for p in result if p.d_spacing == result[0].d_spacing]
    if len(family) == 1:
        return PeakPairResult(ratio=float("inf"), pairs=result, status="one pair", area=area)
    return PeakPairResult(
        ratio=family[0].intensity / family[1].intensity, pairs=result, status="ok", area=area
    )


def _pair(
    peaks: np.ndarray, spectrum: np.ndarray, n: int, radius: np.ndarray
) -> list[tuple[tuple[int, int], tuple[int, int]]]:
    """Match each peak [px index] with a peak within ``radius`` of its mirror through the centre."""
    centre = n // 2
    remaining = {tuple(int(v) for v in p) for p in peaks}
    pairs = []
    for peak in sorted(remaining, key=lambda p: -spectrum[p]):
        if peak not in remaining:
            continue
        mirror = np.array([2 * centre - peak[0], 2 * centre - peak[1]])
        partners = [
            q for q in remaining if q != peak and np.all(np.abs(np.subtract(q, mirror)) <= radius)
        ]
        if partners:
            partner = max(partners, key=lambda q: spectrum[q])
            remaining -= {peak, partner}
            pairs.append((peak, partner))
    return pairs


def particle_ratios(
    image: np.ndarray,
    mask: np.ndarray,
    sampling: float | tuple[float, float],
    min_area: int = 100,
    d_spacings: tuple[float, ...] = AU_D_SPACINGS,
    opening: float = 0.0,
) -> tuple[np.ndarray, list[PeakPairResult]]:
    """Per-particle results of a frame: (labels ``[H, W]`` as :func:`particles` with ``min_area``
    [px] and ``opening`` [px], holes filled; results for 1..n)."""
    labels, n = particles(mask, min_area, opening=opening)
    results = [
        peak_pair_ratio(image, labels == i, sampling, d_spacings=d_spacings, min_area=min_area)
        for i in range(1, n + 1)
    ]
    return labels, results


def alignment_map(
    probabilities: np.ndarray | torch.Tensor,
    image: np.ndarray,
    sampling: float | tuple[float, float],
    particle_class: int = 1,
    min_area: int = 100,
    d_spacings: tuple[float, ...] = AU_D_SPACINGS,
    opening: float = 0.0,
) -> np.ndarray:
    """The Figure-2 map ``[H, W]``: particle probability scaled by each particle's 1 / ratio.

    probabilities: ``[K, H, W]`` from :func:`hrtem_analysis.tiled_predict`; the particle mask is
    ``probabilities[particle_class] > 0.5``, cleaned as :func:`particles` (``min_area`` [px],
    ``opening`` [px]). Particles on a zone axis come out near their
    probability (ratio ~1), off-axis ones near 0; a particle with one pair or no peak is 0.
    """
    probability = np.asarray(probabilities, dtype=np.float32)[particle_class]
    labels, results = particle_ratios(image, probability, sampling, min_area, d_spacings, opening)
    scale = np.zeros(len(results) + 1, dtype=np.float32)
    for i, result in enumerate(results, start=1):
        scale[i] = 1.0 / result.ratio if np.isfinite(result.ratio) else 0.0
    return probability * scale[labels]
