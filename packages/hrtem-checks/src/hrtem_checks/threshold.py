"""The zone-axis threshold derived from simulations of the material's particles on and off axis.

A particle on a zone axis shows crossed fringes, so its peak-pair ratio
(:func:`hrtem_analysis.fourier.peak_pair_ratio`) is small; tilted, one set of fringes survives
and the ratio is large or infinite. How small "on axis" is depends on the material, the shapes
(a multiply twinned particle shows fringes of several domains) and the sizes, so the threshold is
calibrated: Au particles on amorphous carbon, of the shapes, zone axes and sizes of the scene
benchmark (``data_specs/benchmarks/scenes.yaml``: truncated octahedra, decahedra, icosahedra and
random fcc cuts on <110>, <100> and <111>, 15-80 Å), are simulated on axis (tilt 0-1°) and
tilted (8-15°) with the project's simulation (:mod:`hrtem_sim.frames`), the ratio
of each is measured with its true mask, and the threshold that separates the two best (highest
balanced accuracy; among equals, the middle of the widest gap) is kept with the d-spacings it
was measured at, in the material's file (:mod:`hrtem_analysis.materials`).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
from hrtem_analysis.fourier import peak_pair_ratio
from hrtem_analysis.materials import Material, write_material
from hrtem_analysis.settings import AU_D_SPACINGS
from hrtem_core.atomic import atomic_write
from hrtem_core.errors import SpecError
from hrtem_sim.frames import Microscope, simulate_frame
from matplotlib.figure import Figure

KINDS = ("on axis", "tilted")


@dataclass(frozen=True)
class Population:
    """The simulated particles: Au shapes and zone axes (crystal direction along the beam; twinned
    shapes only on 110), diameter range [Å], tilt ranges [deg] on and off axis, a-C thickness
    [Å], and the a-C margin [Å] around each particle (its cell is its diameter + 2 margins)."""

    shapes: list[str] = field(
        default_factory=lambda: ["truncated_octahedron", "decahedron", "icosahedron", "fcc_random"]
    )
    zone_axes: list[str] = field(default_factory=lambda: ["110", "100", "111"])
    diameter: list[float] = field(default_factory=lambda: [15.0, 80.0])
    on_axis_tilt: list[float] = field(default_factory=lambda: [0.0, 1.0])
    tilted: list[float] = field(default_factory=lambda: [8.0, 15.0])
    carbon: list[float] = field(default_factory=lambda: [10.0, 30.0])
    margin: float = 12.0


@dataclass(frozen=True)
class Separation:
    """threshold: ratio at and below which a particle counts as on axis; balanced_accuracy: mean
    of the fractions of on-axis particles kept and of tilted particles rejected."""

    threshold: float
    balanced_accuracy: float
    on_axis_kept: float
    tilted_rejected: float


def separate(on_axis: np.ndarray, tilted: np.ndarray) -> Separation:
    """The threshold that best separates the ratios ``on_axis`` from ``tilted``.

    A ratio passes when finite and <= threshold (nan and inf never pass). Candidates lie midway
    (geometrically) between consecutive distinct finite ratios, and beyond both ends; the best
    has the highest balanced accuracy, and among equals the widest gap around it.
    """
    on_axis, tilted = (np.asarray(v, dtype=float) for v in (on_axis, tilted))
    if not (len(on_axis) and len(tilted)):
        raise SpecError("a threshold needs ratios of on-axis and of tilted particles")
    ratios = np.concatenate([on_axis, tilted])
    finite = np.unique(np.maximum(ratios[np.isfinite(ratios)], 1.0))
    if not len(finite):
        return Separation(1.0, 0.5, 0.0, 1.0)
    edges = np.concatenate([[finite[0] / 1.5], finite, [finite[-1] * 1.5]])
    candidates = np.sqrt(edges[:-1] * edges[1:])
    gaps = np.log(edges[1:] / edges[:-1])
    kept = np.array([np.mean(np.isfinite(on_axis) & (on_axis <= t)) for t in candidates])
    rejected = np.array([np.mean(~(np.isfinite(tilted) & (tilted <= t))) for t in candidates])
    accuracy = (kept + rejected) / 2
    best = np.flatnonzero(np.isclose(accuracy, accuracy.max()))
    choice = best[np.argmax(gaps[best])]
    return Separation(
        float(max(candidates[choice], 1.0)),
        float(accuracy[choice]),
        float(kept[choice]),
        float(rejected[choice]),
    )


# [Å]: one particle's size range, wider than the steps between an icosahedron's sizes (12 Å)
SIZE_WINDOW = 15.0


def size_window(diameter: list[float], rng: np.random.Generator) -> tuple[float, float]:
    """A random window ``SIZE_WINDOW`` [Å] wide (narrower if the range is) within the diameter
    range [Å] (min, max): one particle's size range, so that its cell is only as large as it."""
    low, high = diameter
    start = float(rng.uniform(low, max(low, high - SIZE_WINDOW)))
    return start, min(high, start + SIZE_WINDOW)


def simulate_ratios(
    particles: int,
    microscope: Microscope,
    population: Population,
    d_spacings: tuple[float, ...] = AU_D_SPACINGS,
    seed: int = 0,
    progress: bool = True,
) -> pd.DataFrame:
    """Peak-pair ratios of ``particles`` simulated Au particles, half on axis, half tilted: one
    row each (kind "on axis" / "tilted", index, shape, zone_axis, diameter [Å], tilt [deg],
    ratio, status, pairs)."""
    from hrtem_sim.errors import require_simulation
    from tqdm import tqdm

    require_simulation("hrtem check threshold")
    from hrtem_sim.structures import AuParticleParams, build_structure

    kinds = list(zip(KINDS, (population.on_axis_tilt, population.tilted), strict=True))
    jobs = [(k, i) for i in range(particles) for k in range(2)][:particles]
    rows = []
    for kind, index in tqdm(jobs, desc="particles", disable=not progress):
        name, tilt = kinds[kind]
        rng = np.random.default_rng([seed, kind, index])
        diameter = size_window(population.diameter, rng)
        params = AuParticleParams(
            diameter=list(diameter),
            shapes=list(population.shapes),
            zone_axes=list(population.zone_axes),
            tilt=list(tilt),
            substrates=["carbon"],
            substrate_thickness=list(population.carbon),
        )
        cell = diameter[1] + 2.0 * population.margin
        structure = build_structure("au_particle", params, (cell, cell), rng)
        frame = simulate_frame(structure, microscope, seed=2 * index + kind)
        result = peak_pair_ratio(frame.image, frame.mask, frame.sampling, d_spacings)
        meta = structure.meta
        rows.append(
            {
                "kind": name,
                "index": index,
                "shape": meta["shape"],
                "zone_axis": meta["zone_axis"],
                "diameter": meta["diameter"],
                "tilt": meta["tilt"],
                "ratio": result.ratio,
                "status": result.status,
                "pairs": len(result.pairs),
            }
        )
    return pd.DataFrame(rows)


def _log_ratio(values: np.ndarray, top: float) -> np.ndarray:
    """log10 of the finite ratios; inf drawn at ``top``."""
    values = values[~np.isnan(values)]
    return np.where(np.isinf(values), top, np.log10(np.maximum(values, 1.0)))


def calibration_figure(table: pd.DataFrame, separation: Separation) -> Figure:
    """Histograms of log10(ratio) on and off axis, one pair (inf) on the right, the threshold."""
    fig = Figure(figsize=(7.5, 4))
    ax = fig.subplots()
    ratios = table["ratio"].to_numpy(dtype=float)
    finite = ratios[np.isfinite(ratios)]
    top = float(np.log10(max(finite.max(), 10.0))) + 0.3 if len(finite) else 1.3
    bins = np.linspace(0.0, top + 0.15, 30)
    for kind, colour in (("on axis", "tab:blue"), ("tilted", "tab:orange")):
        values = table.loc[table["kind"] == kind, "ratio"].to_numpy(dtype=float)
        missing = int(np.isnan(values).sum())
        label = f"{kind} ({len(values)}; {missing} without peaks)"
        ax.hist(_log_ratio(values, top), bins=bins, alpha=0.6, color=colour, label=label)
    ax.axvline(np.log10(separation.threshold), color="k", ls="--", lw=1)
    ax.text(top, ax.get_ylim()[1] * 0.95, "one pair\n(inf)", ha="center", va="top", fontsize=8)
    ax.set_xlabel("log10 peak-pair ratio")
    ax.set_ylabel("particles")
    ax.set_title(
        f"threshold {separation.threshold:.2f}: balanced accuracy "
        f"{separation.balanced_accuracy:.2f} (on axis kept {separation.on_axis_kept:.0%}, "
        f"tilted rejected {separation.tilted_rejected:.0%})",
        fontsize=9,
    )
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


def calibrated_material(
    name: str,
    d_spacings: tuple[float, ...],
    table: pd.DataFrame,
    separation: Separation,
    microscope: Microscope,
    population: Population,
    seed: int,
) -> Material:
    """The material with the calibrated threshold and a record of how it was derived."""

    rows = distribution_table(table).set_index("kind")

    def summary(kind: str) -> dict[str, float | int]:
        row = rows.loc[kind]
        counts = {
            "particles": row["particles"],
            "one_pair": row["one pair"],
            "no_peaks": row["no peaks"],
        }
        ratios = {f"ratio_{q}": round(float(row[q]), 3) for q in ("p10", "median", "p90")}
        return {**{k: int(v) for k, v in counts.items()}, **ratios}

    calibration = {
        "balanced_accuracy": round(separation.balanced_accuracy, 3),
        "on_axis_kept": round(separation.on_axis_kept, 3),
        "tilted_rejected": round(separation.tilted_rejected, 3),
        "on_axis": summary("on axis"),
        "tilted": summary("tilted"),
        "population": asdict(population),
        "microscope": asdict(microscope),
        "seed": seed,
    }
    return Material(name, tuple(d_spacings), round(separation.threshold, 2), calibration)


@dataclass(frozen=True)
class CalibrationRun:
    """What :func:`calibrate` wrote: the material, its file, the ratios (CSV) and the plot."""

    material: Material
    separation: Separation
    table: pd.DataFrame
    material_file: Path
    csv: Path
    plot: Path


def calibrate(
    particles: int,
    microscope: Microscope,
    material_file: Path,
    report: Path,
    command: str,
    population: Population | None = None,
    seed: int = 0,
    progress: bool = True,
) -> CalibrationRun:
    """Simulate, separate and write: ``report/ratios.csv``, ``report/ratios.png`` and the Au
    material file ``material_file`` (headed by ``command`` and the numbers), all atomically."""
    population = population or Population()
    table = simulate_ratios(particles, microscope, population, AU_D_SPACINGS, seed, progress)
    ratios = {k: table.loc[table["kind"] == k, "ratio"].to_numpy(float) for k in KINDS}
    separation = separate(ratios["on axis"], ratios["tilted"])
    material = calibrated_material(
        "au", AU_D_SPACINGS, table, separation, microscope, population, seed
    )
    csv = atomic_write(report / "ratios.csv", lambda tmp: table.to_csv(tmp, index=False))
    plot = atomic_write(
        report / "ratios.png",
        lambda tmp: calibration_figure(table, separation).savefig(tmp, dpi=110, format="png"),
    )
    on, off = (material.calibration[k] for k in ("on_axis", "tilted"))
    comment = (
        f"Au: zone-axis threshold calibrated on simulations, made by\n"
        f"  {command}\n"
        f"on axis (tilt {population.on_axis_tilt} deg, zone axes {population.zone_axes}): "
        f"{on['particles']} particles, median ratio {on['ratio_median']}, p90 {on['ratio_p90']}\n"
        f"tilted ({population.tilted} deg): {off['particles']} particles, median ratio "
        f"{off['ratio_median']}, {off['one_pair']} with one pair (inf), {off['no_peaks']} without peaks\n"
        f"threshold {material.threshold} keeps {separation.on_axis_kept:.0%} on axis and rejects "
        f"{separation.tilted_rejected:.0%} tilted (balanced accuracy {separation.balanced_accuracy:.2f})"
    )
    written = write_material(material, material_file, comment)
    return CalibrationRun(material, separation, table, written, csv, plot)


def distribution_table(table: pd.DataFrame) -> pd.DataFrame:
    """Per kind: particles, one pair (inf), no peaks (nan) and quantiles of the finite ratios."""
    rows = []
    for kind in KINDS:
        values = table.loc[table["kind"] == kind, "ratio"].to_numpy(float)
        finite = values[np.isfinite(values)]
        quantiles = np.quantile(finite, [0.0, 0.1, 0.5, 0.9, 1.0]) if len(finite) else [np.nan] * 5
        rows.append(
            {
                "kind": kind,
                "particles": len(values),
                "one pair": int(np.isinf(values).sum()),
                "no peaks": int(np.isnan(values).sum()),
                **dict(zip(("min", "p10", "median", "p90", "max"), quantiles, strict=True)),
            }
        )
    return pd.DataFrame(rows)
