"""Focal series as microscopes take them: checked against the model's training, then registered.

A MoS2 model takes C images of one area at C defocus values (``card.defocus``, nominal, and
``card.defocus_ranges``, trained per channel; defocus as abTEM: positive = underfocus), aligned
as in training. A microscope takes them one after the other, so they drift against each other.

- :func:`check_series` refuses, in one line, a series the model was not trained on: a channel's
  defocus outside its trained range, or its focal step from the reference channel outside the
  trained steps (channel range minus the reference's; exact when the reference channel's offset
  is fixed, as in training, where offsets are added to one drawn defocus).
- :func:`register_series` measures and undoes the drift (sub-pixel, Fourier shift) onto the
  reference channel. The images are taken in channel order, so the drift is taken as uniform in
  time: the outer pair (first and last image, the largest defocus difference, the strongest
  contrast between them) is registered over ``max_drift``; each inner image is registered
  against the mean of the aligned outer pair (whose transfer is the inner image's up to a real
  factor per ring of spatial frequency, to first order), within ``INNER_DRIFT`` of its share of
  the outer drift. That keeps an image near focus, whose weak lattice contrast may mimic a shift
  by half a bond or a bond, from being put there (measured on the realistic scenes: against the
  first image alone, 10 % of inner images were 0.9 Å off at 2e4 e-/Å^2; against the outer mean,
  all within 0.13 Å).
- :func:`count_focal_series` is the whole path of one time point: check, register, tiled
  inference, vacancy count (``hrtem analyze mos2`` and the realistic vacancy check run it).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
from hrtem_core.cards import ModelCard
from hrtem_core.errors import ImageError, SpecError

from hrtem_analysis.models import default_device
from hrtem_analysis.registration import focal_drift
from hrtem_analysis.settings import Settings
from hrtem_analysis.tiled import tiled_predict
from hrtem_analysis.vacancies import VacancyCount, count_vacancies

if TYPE_CHECKING:
    from hrtem_msd.store.trained import TrainedModel

INNER_DRIFT = 0.5  # [Å] an inner image's deviation from uniform drift (under half a bond)
K_MAX = 0.8  # [1/Å] highest spatial frequency the registration uses
WINDOW = 512  # [px] registration on the central window of at most this size per axis


def reference_channel(card: ModelCard) -> int:
    """The channel the others are registered onto: the one with the narrowest trained defocus
    range (its offset fixed in training), the middle one when several are alike or none is
    recorded."""
    middle = (card.in_channels - 1) / 2
    if card.defocus_ranges is None:
        return int(middle)
    widths = [high - low for low, high in card.defocus_ranges]
    return min(range(card.in_channels), key=lambda c: (round(widths[c], 6), abs(c - middle)))


def _values(defocus: Sequence[float]) -> str:
    return ", ".join(f"{d:g}" for d in defocus)


def check_series(card: ModelCard, defocus: Sequence[float]) -> None:
    """A SpecError (one line) unless the focal series ``defocus`` [Å] is one the model was trained
    on: C values, each channel's defocus and its step from the reference channel in the trained
    ranges. Models whose card does not record the ranges cannot be checked (accepted)."""
    series = f"focal series defocus {_values(defocus)} Å"
    if len(defocus) != card.in_channels:
        raise SpecError(
            f"{series}: {len(defocus)} images; the model takes {card.in_channels} "
            f"(trained at {_values(card.defocus)} Å)"
        )
    if card.defocus_ranges is None:
        return
    for c, (value, (low, high)) in enumerate(zip(defocus, card.defocus_ranges, strict=True)):
        if not low - 1e-6 <= value <= high + 1e-6:
            raise SpecError(
                f"{series}: channel {c + 1} at {value:g} Å is outside the trained {low:g}..{high:g} Å"
            )
    ref = reference_channel(card)
    ref_low, ref_high = card.defocus_ranges[ref]
    for c, (low, high) in enumerate(card.defocus_ranges):
        step, lowest, highest = defocus[c] - defocus[ref], low - ref_low, high - ref_high
        if c != ref and not min(lowest, highest) - 1e-6 <= step <= max(lowest, highest) + 1e-6:
            raise SpecError(
                f"{series}: channel {c + 1} is {step:+g} Å from channel {ref + 1}; the model was "
                f"trained with {min(lowest, highest):+g}..{max(lowest, highest):+g} Å"
            )


def fourier_shift(image: np.ndarray, shift: Sequence[float]) -> np.ndarray:
    """``image`` ``[nx, ny]`` moved by ``shift`` [px] (array order), periodically (Fourier phase
    ramp): content at ``r`` goes to ``r + shift``; the band of ``|shift|`` at the edges wraps."""
    kx, ky = (np.fft.fftfreq(n) for n in image.shape)
    ramp = np.exp(-2j * np.pi * (kx[:, None] * shift[0] + ky[None, :] * shift[1]))
    return np.fft.ifft2(np.fft.fft2(image) * ramp).real.astype(image.dtype)


@dataclass(frozen=True)
class Registered:
    """A focal series on one grid: image ``[C, nx, ny]`` (every channel on the reference's grid),
    shifts ``[C, 2]`` [px] each channel was found to have drifted against the reference (undone),
    reference: its channel."""

    image: np.ndarray
    shifts: np.ndarray
    reference: int

    @property
    def largest_shift(self) -> float:
        """[px] the largest drift undone (that band at the frame's edges was filled by wrapping)."""
        return float(np.hypot(*self.shifts.T).max()) if len(self.shifts) else 0.0


def _window(image: np.ndarray) -> np.ndarray:
    """The central ``WINDOW``-px part of ``image`` ``[C, nx, ny]`` (all of it when smaller)."""
    starts = [max(0, (n - WINDOW) // 2) for n in image.shape[1:]]
    return image[:, starts[0] : starts[0] + WINDOW, starts[1] : starts[1] + WINDOW]


def register_series(
    image: np.ndarray, sampling: tuple[float, float], reference: int, max_drift: float
) -> Registered:
    """Register the focal series ``image`` ``[C, nx, ny]`` (taken in channel order) onto channel
    ``reference``; ``max_drift`` [Å]: the largest drift between the first and the last image.
    See the module docstring."""
    image = np.asarray(image, dtype=np.float32)
    channels = image.shape[0]
    if not 0 <= reference < channels:
        raise ImageError(f"reference channel {reference} of a series of {channels} images")
    if not np.isfinite(image).all():
        raise ImageError("focal series contains NaN or infinite values")
    scale = float(np.mean(sampling))
    positions = np.zeros((channels, 2))  # drift of each image against the first [px]
    if channels > 1:
        window = _window(image).astype(np.float64)
        k_max = min(0.5, K_MAX * scale)
        last = channels - 1
        positions[last] = focal_drift(window[0], window[last], max_drift / scale, k_max=k_max)
        outer = 0.5 * (window[0] + fourier_shift(window[last], -positions[last]))
        for c in range(1, last):
            prior = positions[last] * c / last
            positions[c] = focal_drift(
                outer, window[c], INNER_DRIFT / scale, tuple(prior), k_max=k_max
            )
    shifts = positions - positions[reference]
    aligned = np.stack([fourier_shift(im, -s) for im, s in zip(image, shifts, strict=True)])
    return Registered(aligned, shifts, reference)


@dataclass(frozen=True)
class FocalSeriesCount:
    """One focal series analysed: its vacancy count, the registered series, the species
    probabilities ``[4, nx, ny]`` on the reference's grid, and the defocus [Å] it was checked at
    (None: not known, assumed the model's)."""

    count: VacancyCount
    registered: Registered
    probabilities: np.ndarray
    defocus: tuple[float, ...] | None


def count_focal_series(
    model: TrainedModel,
    image: np.ndarray,
    sampling: tuple[float, float],
    settings: Settings,
    defocus: Sequence[float] | None = None,
) -> FocalSeriesCount:
    """The whole MoS2 path for one time point ``image`` ``[C, nx, ny]`` (raw counts) at ``sampling``
    [Å/px]: check the series' defocus (``settings.defocus`` overrides ``defocus``, e.g. from the
    file) against the model's card, register it onto the reference channel, run tiled inference
    and count vacancies, keeping ``settings.vacancy_border`` plus the drift undone from the edges."""
    card = model.config
    series = settings.defocus if settings.defocus is not None else defocus
    if series is not None:
        series = tuple(float(d) for d in series)
        check_series(card, series)
    registered = register_series(image, sampling, reference_channel(card), settings.focal_drift)
    probabilities = tiled_predict(
        model,
        registered.image,
        window=settings.window,
        overlap=settings.overlap,
        batch_size=settings.batch_size,
        sampling=sampling,
        device=settings.device or default_device(),
    ).numpy()
    border = settings.vacancy_border + registered.largest_shift * max(sampling)
    count = count_vacancies(probabilities, sampling, border=border)
    return FocalSeriesCount(count, registered, probabilities, series)
