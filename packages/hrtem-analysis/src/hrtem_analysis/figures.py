"""Figures of the analysis (matplotlib ``Figure`` without pyplot: no GUI backend, no global state).

- :func:`frame_panel`: the paper's Figure 1 for one frame: image, inference, |FFT| of the frame,
  |FFT| of the masked particle (log scale, spatial frequency in 1/Å);
- :func:`alignment_overlay`: the Figure-2 overlay: the frame with every particle coloured by its
  alignment (:func:`hrtem_analysis.alignment_map`: 1 on a zone axis, 0 off axis);
- :func:`column_panel`: the particle's region of one frame with its columns, those that
  appeared since the previous interpretable frame and where those that vanished were;
- :func:`mos2_panel`: one MoS2 focal series: image, species map, and the image with the
  counted region outlined and the vacancies marked;
- :func:`series_plot`: ratio, column count, events, drift, vacancies, vacancy density and
  counted area against time.

Arrays are in abTEM order (axis 0 = x): shown transposed with ``origin="lower"``, x to the right
and y up, axes in Å.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
from hrtem_core.atomic import atomic_write
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator
from scipy import ndimage

if TYPE_CHECKING:
    from hrtem_analysis.columns import ColumnChanges
    from hrtem_analysis.drift_tracking import Region
    from hrtem_analysis.vacancies import VacancyCount


def save(fig: Figure, path: Path, dpi: int = 100) -> Path:
    """Write ``fig`` as PNG at ``path`` atomically (temporary name, then rename)."""
    return atomic_write(path, lambda tmp: fig.savefig(tmp, dpi=dpi, format="png"))


def _extent(shape: tuple[int, ...], sampling: tuple[float, float]) -> tuple[float, ...]:
    """imshow extent [Å] of a transposed ``[nx, ny]`` array."""
    return (0.0, shape[0] * sampling[0], 0.0, shape[1] * sampling[1])


def _log_spectrum(
    image: np.ndarray, sampling: tuple[float, float]
) -> tuple[np.ndarray, tuple[float, ...]]:
    """log(1 + |FFT|) centred ``[nx, ny]`` of a mean-subtracted image and its extent [1/Å]."""
    spectrum = np.log1p(np.abs(np.fft.fftshift(np.fft.fft2(image - image.mean()))))
    kx, ky = (0.5 / s for s in sampling)  # Nyquist [1/Å]
    return spectrum, (-kx, kx, -ky, ky)


def frame_panel(
    image: np.ndarray,
    probability: np.ndarray,
    mask: np.ndarray,
    sampling: tuple[float, float],
    title: str = "",
) -> Figure:
    """Four panels: image ``[nx, ny]``, particle probability ``[nx, ny]``, log |FFT| of the frame,
    log |FFT| of the image times the particle ``mask`` (soft edge; blank when the mask is empty)."""
    fig = Figure(figsize=(13, 3.6))
    axes = fig.subplots(1, 4)
    extent = _extent(image.shape, sampling)
    axes[0].imshow(image.T, cmap="gray", origin="lower", extent=extent)
    axes[0].set_title("image")
    shown = axes[1].imshow(
        probability.T, cmap="magma", origin="lower", extent=extent, vmin=0, vmax=1
    )
    axes[1].set_title("inference")
    fig.colorbar(shown, ax=axes[1], fraction=0.046, label="particle probability")
    spectrum, k_extent = _log_spectrum(image, sampling)
    axes[2].imshow(spectrum.T, cmap="inferno", origin="lower", extent=k_extent)
    axes[2].set_title("|FFT| of the frame (log)")
    soft = ndimage.gaussian_filter(mask.astype(float), 2.0)
    masked = (image - (image * soft).sum() / max(soft.sum(), 1e-12)) * soft
    spectrum, _ = _log_spectrum(masked, sampling)
    axes[3].imshow(spectrum.T, cmap="inferno", origin="lower", extent=k_extent)
    axes[3].set_title("|FFT| of the particle (log)" if mask.any() else "no particle")
    for ax in axes[:2]:
        ax.set_xlabel("x [Å]")
        ax.set_ylabel("y [Å]")
    for ax in axes[2:]:
        ax.set_xlabel("kx [1/Å]")
        ax.set_ylabel("ky [1/Å]")
    fig.suptitle(title)
    fig.tight_layout()
    return fig


def alignment_overlay(
    image: np.ndarray,
    alignment: np.ndarray,
    mask: np.ndarray,
    sampling: tuple[float, float],
    title: str = "",
) -> Figure:
    """The frame ``[nx, ny]`` in grey, every particle (``mask`` ``[nx, ny]``) coloured by its
    ``alignment`` ``[nx, ny]`` (1: on a zone axis, 0: off axis)."""
    fig = Figure(figsize=(7, 6))
    ax = fig.subplots()
    extent = _extent(image.shape, sampling)
    ax.imshow(image.T, cmap="gray", origin="lower", extent=extent)
    shown = ax.imshow(
        np.ma.masked_where(~mask, alignment).T,
        cmap="viridis",
        origin="lower",
        extent=extent,
        vmin=0,
        vmax=1,
        alpha=0.6,
    )
    fig.colorbar(shown, ax=ax, label="alignment (probability / peak-pair ratio)")
    ax.set_xlabel("x [Å]")
    ax.set_ylabel("y [Å]")
    ax.set_title(title or "particles coloured by zone-axis alignment")
    fig.tight_layout()
    return fig


def column_panel(
    region: Region, positions: np.ndarray, changes: ColumnChanges, title: str = ""
) -> Figure:
    """The particle's region ``[h, w]`` in grey, in the frame's coordinates [Å], with its column
    ``positions`` ``[M, 2]`` [Å], the columns that appeared (green +) and where those that vanished
    would lie (red x), from ``changes``."""
    fig = Figure(figsize=(6.5, 6))
    ax = fig.subplots()
    (sx, sy), (i0, j0) = region.sampling, region.origin
    h, w = region.image.shape
    extent = (i0 * sx, (i0 + h) * sx, j0 * sy, (j0 + w) * sy)
    ax.imshow(region.image.T, cmap="gray", origin="lower", extent=extent)
    marks = (
        (positions, dict(marker="o", s=8, c="tab:cyan", lw=0), "columns"),
        (changes.appeared, dict(marker="+", s=90, c="tab:green", lw=2), "appeared"),
        (changes.vanished, dict(marker="x", s=70, c="tab:red", lw=2), "vanished"),
    )
    for points, style, label in marks:
        points = np.asarray(points).reshape(-1, 2)
        ax.scatter(points[:, 0], points[:, 1], label=f"{label} ({len(points)})", **style)
    ax.set(xlim=extent[:2], ylim=extent[2:], xlabel="x [Å]", ylabel="y [Å]")
    ax.legend(fontsize=8, loc="upper right")
    ax.set_title(title or "columns and events")
    fig.tight_layout()
    return fig


_SERIES = (
    ("ratio", "peak-pair ratio"),
    ("columns", "atomic columns"),
    ("events", "diffusion events"),
    ("drift_x", "drift [Å]"),
    ("vacancies", "S vacancies"),
    ("vacancy_density", "S vacancies per nm$^2$"),
    ("counted_area", "counted area [nm$^2$]"),
)
_COUNTS = ("columns", "events", "vacancies")
_SPECIES_COLOURS = ("#000000", "#4c72b0", "#dd8452", "#c44e52")  # background, Mo, S2, S1


def mos2_panel(
    image: np.ndarray,
    probabilities: np.ndarray,
    count: VacancyCount,
    sampling: tuple[float, float],
    title: str = "",
) -> Figure:
    """Three panels of one MoS2 focal series: the reference image ``[nx, ny]``; the species map
    (most likely class of ``probabilities`` ``[4, nx, ny]``); the image with the region where
    vacancies were counted outlined and the counted S1 columns (one vacancy) and empty S sites
    (two) marked."""
    from matplotlib.colors import ListedColormap
    from matplotlib.patches import Patch

    from hrtem_analysis.vacancies import SPECIES, counted_region

    fig = Figure(figsize=(15, 5))
    axes = fig.subplots(1, 3, sharex=True, sharey=True)
    extent = _extent(image.shape, sampling)
    species = np.asarray(probabilities).argmax(axis=0)
    axes[0].imshow(image.T, cmap="gray", origin="lower", extent=extent)
    axes[0].set_title("image (reference channel)")
    axes[1].imshow(
        species.T, cmap=ListedColormap(_SPECIES_COLOURS), origin="lower", extent=extent,
        vmin=-0.5, vmax=3.5, interpolation="nearest",
    )  # fmt: skip
    axes[1].legend(
        handles=[Patch(color=c, label=n) for c, n in zip(_SPECIES_COLOURS[1:], SPECIES[1:], strict=True)],
        loc="upper right", fontsize=8,
    )  # fmt: skip
    axes[1].set_title("species")
    axes[2].imshow(image.T, cmap="gray", origin="lower", extent=extent)
    region = counted_region(count, image.shape, sampling)
    x = (np.arange(image.shape[0]) + 0.5) * sampling[0]
    y = (np.arange(image.shape[1]) + 0.5) * sampling[1]
    if region.any():
        axes[2].contour(x, y, region.T.astype(float), levels=[0.5], colors="#55a868")
    for key, marker, label in (("s1_sites", "o", "S1 (1 vacancy)"), ("empty", "s", "empty (2)")):
        points = count.positions.get(key, np.zeros((0, 2))) * np.asarray(sampling)
        axes[2].plot(*points.T, marker, mfc="none", mec="#c44e52", ms=7, ls="", label=label)
    axes[2].legend(loc="upper right", fontsize=8)
    axes[2].set_title(
        f"{count.vacancies} vacancies in {count.area:.1f} nm$^2$ (outlined): "
        f"{count.density:.3g} per nm$^2$"
    )
    for ax in axes:
        ax.set_xlabel("x [Å]")
    axes[0].set_ylabel("y [Å]")
    fig.suptitle(title)
    fig.tight_layout()
    return fig


def series_plot(table: pd.DataFrame, threshold: float | None = None) -> Figure:
    """One panel per measured quantity of ``table`` (ratio, columns, events, drift against the
    previous interpretable frame, vacancies, vacancy density, counted area) vs time.

    Quantities without any value are left out. Ratios of interpretable frames are drawn filled,
    others hollow, infinite ones (one pair of peaks) as crosses on the top edge; ``threshold``
    dashed.
    """
    present = [spec for spec in _SERIES if spec[0] in table and table[spec[0]].notna().any()]
    fig = Figure(figsize=(8, 2.2 * max(1, len(present)) + 0.6))
    axes = np.atleast_1d(fig.subplots(max(1, len(present)), 1, sharex=True, squeeze=False)[:, 0])
    time = table["time"].astype(float).to_numpy()
    for ax, (name, label) in zip(axes, present, strict=False):
        values = table[name].astype(float).to_numpy()
        if name == "ratio":
            good = table["interpretable"].fillna(False).astype(bool).to_numpy()
            ax.plot(time[good], values[good], "o", ms=4, label="interpretable")
            shown = ~good & np.isfinite(values)
            ax.plot(time[shown], values[shown], "o", mfc="none", ms=4, label="not interpretable")
            off = np.isinf(values)  # one pair of peaks: drawn on the top edge
            ax.plot(
                time[off],
                np.ones(off.sum()),
                "x",
                transform=ax.get_xaxis_transform(),
                label="one pair (off axis)",
            )
            if threshold is not None:
                ax.axhline(threshold, color="k", ls="--", lw=1, label=f"threshold {threshold:g}")
            ax.legend(fontsize=8)
        elif name == "events":
            for column, style in (("events", "o-"), ("appeared", "^"), ("vanished", "v")):
                if column not in table:
                    continue
                counts = table[column].astype(float).to_numpy()
                shown = np.isfinite(counts)
                ax.plot(time[shown], counts[shown], style, ms=4, label=column)
            ax.yaxis.set_major_locator(MaxNLocator(integer=True))
            ax.legend(fontsize=8)
        elif name == "drift_x":
            for axis in ("x", "y"):
                drift = table[f"drift_{axis}"].astype(float).to_numpy()
                shown = np.isfinite(drift)
                ax.plot(time[shown], drift[shown], "o-", ms=4, label=f"d{axis}")
            ax.axhline(0, color="0.6", lw=1)
            ax.legend(fontsize=8)
        else:
            measured = np.isfinite(values)
            ax.plot(time[measured], values[measured], "o-", ms=4)
            ax.yaxis.set_major_locator(MaxNLocator(integer=name in _COUNTS))
        ax.set_ylabel(label)
    if not present:
        axes[0].text(
            0.5, 0.5, "no measured values", ha="center", va="center", transform=axes[0].transAxes
        )
    axes[-1].set_xlabel("time [s] (frame index when the series has no time)")
    fig.tight_layout()
    return fig
