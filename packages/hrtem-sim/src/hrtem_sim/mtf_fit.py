"""Fit the detector MTF from images of vacuum: the noise power spectrum goes as A MTF(k)^2 + B.

Shot noise is white before the detector, so behind it the noise power spectrum (NPS) is
``A * MTF(k)^2 + B`` with a white floor B (read-out noise). ``k`` is in units of the detector's
Nyquist frequency (as in `hrtem_sim.optics.mtf`), so the fit needs no sampling; the sampling,
when known, is only recorded. ``c0 = MTF(0)`` is fixed at 1: the NPS fixes the MTF only up to a
scale, which A absorbs. Each image's NPS is divided by its mean (the NPS of shot noise is
proportional to the dose), so images at different exposures combine.

Not every image is vacuum. Refused, in one line with the reason: images with no noise (constant,
or no power near Nyquist), and images with structure: peaks above the fitted shot-noise
spectrum (a lattice), a radial NPS that the model does not fit (a film), or strong
low-frequency power (a specimen), which the fit can only follow with an MTF that halves below
0.2 Nyquist, faster than any detector's. A fit whose parameters are less certain than their
values is kept, with a :attr:`MTFFit.warning`.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import yaml
from hrtem_core.atomic import atomic_write, atomic_write_text
from hrtem_core.errors import ImageError
from hrtem_core.readers import read_image
from scipy.optimize import curve_fit

from hrtem_sim.optics.mtf import mtf_curve

if TYPE_CHECKING:
    from matplotlib.figure import Figure

K_MAX = math.sqrt(2.0)
LOW_K = 0.2  # [Nyquist units]: below, excess power is low-frequency structure, above, a peak
C2_MIN = 0.1  # smallest knee of a detector's MTF (half-way at k = 2 c2 = 0.2 Nyquist)
C1_TOLERANCE = 0.05  # c1 (the MTF at high k, near 0) counts as known within this of MTF(0) = 1
NO_NOISE = 1e-6  # NPS near Nyquist below this fraction of the low-k NPS: no noise
STRUCTURE = "vacuum image(s) with structure, NPS not A*MTF^2+B"


@dataclass(frozen=True)
class BinnedNPS:
    """Radially averaged NPS: k [bins] (mean |k| per bin, Nyquist units), nps, error, count."""

    k: np.ndarray
    nps: np.ndarray
    error: np.ndarray
    count: np.ndarray


@dataclass(frozen=True)
class MTFFit:
    """A fitted detector MTF: coefficients c0..c3 with 1-sigma uncertainties, and the data."""

    coefficients: dict[str, float]
    uncertainties: dict[str, float]
    gain: float
    floor: float
    chi2: float
    data: BinnedNPS
    k_min: float
    sampling: float | None = None
    files: list[str] = field(default_factory=list)

    def nps(self, k: np.ndarray) -> np.ndarray:
        """The fitted NPS model at ``k`` [Nyquist units]."""
        return _model(k, self.gain, *(self.coefficients[c] for c in ("c1", "c2", "c3")), self.floor)

    @property
    def warning(self) -> str | None:
        """One line when a parameter's uncertainty exceeds its value (c1, near 0, when it exceeds
        ``C1_TOLERANCE`` too), else None."""
        c, u = self.coefficients, self.uncertainties
        limits = {"c1": max(c["c1"], C1_TOLERANCE), "c2": c["c2"], "c3": c["c3"]}
        poor = [f"{key} = {c[key]:.3g} ± {u[key]:.2g}" for key in limits if u[key] > limits[key]]
        if not poor:
            return None
        images = len(self.files)
        return (
            f"{', '.join(poor)}: uncertainty larger than the value; fit more or larger vacuum "
            f"images (now {images} image{'s' * (images != 1)}, {int(self.data.count.sum())} px)"
        )


def _model(k: np.ndarray, gain: float, c1: float, c2: float, c3: float, floor: float) -> np.ndarray:
    return gain * mtf_curve(k, 1.0, c1, c2, c3) ** 2 + floor


def hann_window(shape: tuple[int, int]) -> np.ndarray:
    """Separable 2-D Hann window (periodic form) of ``shape``."""
    wx, wy = (0.5 - 0.5 * np.cos(2 * np.pi * np.arange(n) / n) for n in shape)
    return wx[:, None] * wy[None, :]


def periodogram(image: np.ndarray, name: str = "image") -> tuple[np.ndarray, np.ndarray]:
    """2-D NPS of one image, divided by its mean, and |k| [Nyquist units], each of its shape.

    Hann-windowed after removing the mean; normalised so that white noise of variance v gives v.
    """
    image = np.asarray(image, dtype=np.float64)
    if image.ndim != 2 or min(image.shape) < 16:
        raise ImageError(f"{name}: need a 2-D image of at least 16 x 16 px, got {image.shape}")
    mean = image.mean()
    if not mean > 0:
        raise ImageError(f"{name}: mean {mean:.4g} <= 0; vacuum images must be in counts")
    window = hann_window(image.shape)
    spectrum = np.abs(np.fft.fft2((image - mean) * window)) ** 2 / (window**2).sum() / mean
    kx = np.fft.fftfreq(image.shape[0]) * 2
    ky = np.fft.fftfreq(image.shape[1]) * 2
    return spectrum, np.sqrt(kx[:, None] ** 2 + ky[None, :] ** 2)


def radial_average(spectrum: np.ndarray, k: np.ndarray, bins: int = 64) -> BinnedNPS:
    """Radial average of a `periodogram` in ``bins`` equal bins of |k| from 0 to sqrt(2).

    The error of each bin allows (conservatively) for the Hann window's correlation of
    neighbouring frequencies and the Hermitian symmetry of a real image's spectrum.
    """
    index = np.minimum((k.ravel() / K_MAX * bins).astype(int), bins - 1)
    count = np.bincount(index, minlength=bins).astype(float)
    total = np.bincount(index, spectrum.ravel(), minlength=bins)
    k_sum = np.bincount(index, k.ravel(), minlength=bins)
    window = hann_window(spectrum.shape)
    correlation = window.size * (window**4).sum() / (window**2).sum() ** 2
    with np.errstate(invalid="ignore", divide="ignore"):
        nps = total / count
        error = nps / np.sqrt(np.maximum(count / (2 * correlation), 1.0))
        return BinnedNPS(k=k_sum / count, nps=nps, error=error, count=count)


def _combine(spectra: Sequence[BinnedNPS]) -> BinnedNPS:
    """Count-weighted mean of several binned spectra (errors combined accordingly)."""
    count = np.sum([s.count for s in spectra], axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        weights = [s.count / count for s in spectra]
        nps = np.sum([np.nan_to_num(w * s.nps) for w, s in zip(weights, spectra, strict=True)], 0)
        k = np.sum([np.nan_to_num(w * s.k) for w, s in zip(weights, spectra, strict=True)], 0)
        var = np.sum(
            [np.nan_to_num((w * s.error) ** 2) for w, s in zip(weights, spectra, strict=True)], 0
        )
    return BinnedNPS(k=k, nps=nps, error=np.sqrt(var), count=count)


def _median(spectra: Sequence[BinnedNPS]) -> BinnedNPS:
    """Per-bin median of several binned spectra; errors those of the mean times sqrt(pi / 2)."""
    mean = _combine(spectra)
    nps = np.median([s.nps for s in spectra], axis=0)
    return BinnedNPS(k=mean.k, nps=nps, error=mean.error * math.sqrt(math.pi / 2), count=mean.count)


def _check_noise(name: str, spectrum: BinnedNPS) -> None:
    """An ImageError when the image has no noise: its NPS near Nyquist (k in [0.8, 1]) is below
    ``NO_NOISE`` of its NPS at low k (constant images have none anywhere)."""
    filled = spectrum.count > 0
    low = spectrum.nps[filled & (spectrum.k < LOW_K)].mean()
    high = spectrum.nps[filled & (spectrum.k >= 0.8) & (spectrum.k <= 1.0)].mean()
    if not high > NO_NOISE * low:
        what = (
            "constant image"
            if not low > 0
            else f"NPS near Nyquist {high / low:.2g} x its low-k level"
        )
        raise ImageError(
            f"{name}: no noise ({what}); vacuum images must carry the beam's shot noise"
        )


def _chi2(data: BinnedNPS, fit_bins: np.ndarray, model: np.ndarray) -> float:
    residual = (data.nps[fit_bins] - model) / data.error[fit_bins]
    return float(np.mean(residual**2))


def _fit(data: BinnedNPS, use: np.ndarray, names: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
    """Least-squares fit of (A, c1, c2, c3, B) to the bins ``use``: values and covariance."""
    k, nps, err = data.k[use], data.nps[use], data.error[use]
    start = [nps[0], 0.05, 0.3, 2.5, 0.1 * nps.min()]
    bounds = ([0, 0, 1e-3, 0.1, 0], [np.inf, 1, 10, 20, np.inf])
    try:
        return curve_fit(
            _model, k, nps, p0=start, sigma=err, absolute_sigma=True, bounds=bounds, max_nfev=10000
        )
    except (RuntimeError, ValueError) as error:
        raise ImageError(f"MTF fit to {', '.join(names)} failed: {error}") from None


def _structure(
    name: str,
    spectrum: BinnedNPS,
    power: tuple[np.ndarray, np.ndarray],
    values: np.ndarray,
    use: np.ndarray,
    limits: tuple[float, float],
) -> str | None:
    """Why one image's NPS is not the fitted ``values`` (chi^2 or a peak), or None if it is."""
    chi2 = _chi2(spectrum, use, _model(spectrum.k[use], *values))
    if not chi2 <= limits[0]:
        return f"{name} (chi2/dof {chi2:.3g})"
    periodogram_, k2d = power
    ratio = np.where(k2d >= spectrum.k[use].min(), periodogram_ / _model(k2d, *values), 0.0)
    peak = np.unravel_index(int(np.argmax(ratio)), ratio.shape)
    if not ratio[peak] <= limits[1]:
        where = f"{ratio[peak]:.3g} x the fit at k = {k2d[peak]:.3f} Nyquist"
        if k2d[peak] < LOW_K:
            return f"{name} (strong low-frequency power, {where})"
        return f"{name} (a peak {where})"
    return None


def _check_knee(names: Sequence[str], c2: float) -> None:
    """Low-frequency power that the fit can only follow with an MTF no detector has."""
    if not c2 >= C2_MIN:
        shown = ", ".join(names[:3]) + (", ..." if len(names) > 3 else "")
        why = f"the fit's MTF halves by k = {2 * c2:.3g} Nyquist, c2 = {c2:.3g} < {C2_MIN:g}"
        raise ImageError(
            f"{STRUCTURE}: {shown} (strong low-frequency power; {why}, faster than a detector's)"
        )


def fit_mtf(
    images: Sequence[np.ndarray],
    names: Sequence[str] | None = None,
    sampling: float | None = None,
    k_min: float = 0.05,
    bins: int = 64,
    max_chi2: float = 3.0,
    max_peak: float = 50.0,
) -> MTFFit:
    """Fit c1, c2, c3 (c0 = 1), the gain A and the floor B to the NPS of vacuum ``images``.

    images: 2-D arrays in counts; names: for messages (default image0, image1, ...); sampling
    [Å/px] is recorded only. Bins with k < k_min [Nyquist units] are left out (illumination
    gradients). An image without noise raises ImageError naming it (``_check_noise``), and so
    does a vacuum image with structure in it: its radially averaged NPS departs from the fit by
    more than ``max_chi2`` (reduced chi^2; broad structure, e.g. a film), or one frequency exceeds
    the fit ``max_peak`` times (a lattice, or strong low-frequency power below ``LOW_K``; shot
    noise alone exceeds 50 with probability e^-50 per frequency), or the fit needs a knee
    ``c2 < C2_MIN`` (low-frequency power the fit absorbs). With three or more images, each is
    judged against a fit to their per-bin median, so that one bad image does not hide among good
    ones.
    """
    if not images:
        raise ImageError("no vacuum images given")
    names = list(names) if names is not None else [f"image{i}" for i in range(len(images))]
    periodograms = [periodogram(im, n) for im, n in zip(images, names, strict=True)]
    spectra = [radial_average(p, k, bins) for p, k in periodograms]
    for name, spectrum in zip(names, spectra, strict=True):
        _check_noise(name, spectrum)
    data = _combine(spectra)
    use = (data.count > 0) & (data.k >= k_min) & (data.error > 0)
    # Judge each image against a fit to the per-bin median over images (robust to a minority of
    # bad images), then fit the mean of all.
    reference = _median(spectra) if len(spectra) > 2 else data
    robust, _ = _fit(reference, use, names)
    _check_knee(names, robust[2])
    limits = (max_chi2, max_peak)
    checks = zip(names, spectra, periodograms, strict=True)
    poor = [_structure(n, s, p, robust, use, limits) for n, s, p in checks]
    if any(poor):
        found = ", ".join(p for p in poor if p)
        raise ImageError(f"{STRUCTURE}: {found}")
    values, covariance = _fit(data, use, names)
    sigma = np.sqrt(np.diag(covariance))
    keys = ("c1", "c2", "c3")
    return MTFFit(
        coefficients={
            "c0": 1.0,
            **{key: float(abs(v)) for key, v in zip(keys, values[1:4], strict=True)},
        },
        uncertainties={
            "c0": 0.0,
            **{key: float(v) for key, v in zip(keys, sigma[1:4], strict=True)},
        },
        gain=float(values[0]),
        floor=float(values[4]),
        chi2=_chi2(data, use, _model(data.k[use], *values)),
        data=data,
        k_min=k_min,
        sampling=sampling,
        files=names,
    )


def fit_mtf_files(
    paths: Sequence[str | Path], sampling: float | None = None, max_chi2: float = 3.0
) -> MTFFit:
    """:func:`fit_mtf` on the vacuum images in ``paths``; ``sampling`` [Å/px] is recorded when
    the files carry none. Files at different samplings are one ImageError naming them."""
    images, found = [], []
    for path in paths:
        image, file_sampling = read_image(path)
        images.append(image)
        if file_sampling is not None:
            found.append((path, file_sampling[0]))
    if found and max(s for _, s in found) > 1.01 * min(s for _, s in found):
        listing = ", ".join(f"{p}: {s:.4g}" for p, s in found)
        raise ImageError(f"vacuum images at different samplings [Å/px] ({listing})")
    recorded = found[0][1] if found else sampling
    if recorded is not None and not recorded > 0:
        raise ImageError(f"--sampling must be > 0 Å/px, got {recorded}")
    return fit_mtf(images, [str(p) for p in paths], recorded, max_chi2=max_chi2)


def write_yaml(fit: MTFFit, path: str | Path) -> None:
    """Write the detector file (c0..c3 at the top level, as `load_detector` reads) atomically."""
    path = Path(path)
    content = {
        **fit.coefficients,
        "uncertainty": fit.uncertainties,
        "k_units": "nyquist",
        "fit": {
            "model": "NPS(k) = gain * MTF(k)^2 + floor, NPS divided by the image mean",
            "gain": fit.gain,
            "floor": fit.floor,
            "chi2_per_dof": fit.chi2,
            "k_min": fit.k_min,
            "sampling": fit.sampling,
            "files": list(fit.files),
            **({"warning": fit.warning} if fit.warning else {}),
        },
    }
    header = (
        "# Detector MTF fitted by `hrtem mtf fit`: MTF(k) = (c0 - c1) / (1 + (k / (2 c2))^|c3|) + c1,\n"
        "# k in units of the detector's Nyquist frequency (1 at Nyquist on the axes).\n"
    )
    text = yaml.safe_dump(content, sort_keys=False, allow_unicode=True, width=1000)
    atomic_write_text(path, header + text)


def fit_figure(fit: MTFFit) -> Figure:
    """The radially averaged NPS with errors, the fit and its two terms (matplotlib ``Figure``,
    no pyplot). Axes: k from 0 to sqrt(2) Nyquist, NPS over the data's range (a fitted floor or
    MTF term far below the data stays off the plot)."""
    from matplotlib.figure import Figure

    data = fit.data
    ok = (data.count > 0) & (data.nps > 0)
    k = np.linspace(0, K_MAX, 400)
    c = fit.coefficients
    figure = Figure(figsize=(6, 4), layout="tight")
    axis = figure.add_subplot()
    axis.errorbar(data.k[ok], data.nps[ok], data.error[ok], fmt=".", ms=3, label="NPS (data)")
    axis.plot(k, fit.nps(k), label=f"fit, chi2/dof {fit.chi2:.2f}")
    axis.plot(
        k, fit.gain * mtf_curve(k, 1.0, c["c1"], c["c2"], c["c3"]) ** 2, "--", label="A MTF^2"
    )
    axis.axhline(fit.floor, ls=":", color="gray", label="floor B")
    axis.axvline(fit.k_min, ls=":", color="k", lw=0.8)
    axis.set_yscale("log")
    low, high = data.nps[ok].min(), data.nps[ok].max()
    axis.set_ylim(low / 3, high * 3)
    axis.set_xlim(0, K_MAX)
    unit = f" (Nyquist = {1 / (2 * fit.sampling):.3g} 1/Å)" if fit.sampling else ""
    axis.set_xlabel(f"k [units of Nyquist]{unit}")
    axis.set_ylabel("NPS / mean")
    axis.set_title(f"c1={c['c1']:.3g}  c2={c['c2']:.3g}  c3={c['c3']:.3g}")
    axis.legend(fontsize=8)
    return figure


def plot_fit(fit: MTFFit, path: str | Path) -> None:
    """Write :func:`fit_figure` to ``path`` (PNG, PDF, ... by suffix) atomically."""
    path = Path(path)
    figure = fit_figure(fit)
    atomic_write(
        path, lambda tmp: figure.savefig(tmp, format=path.suffix.lstrip(".") or "png", dpi=120)
    )
