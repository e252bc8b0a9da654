"""The realistic vacancy check: a MoS2 model's counts on focal series that look like experiments.

The test split of a model's training run (:mod:`hrtem_checks.vacancies.test_split`) is made of crops
inside a periodic layer, aligned, at the training sampling. Users' frames are not: they are
larger, the frame cuts the lattice, flakes end in vacuum and have holes, the focal images drift
against each other. :mod:`hrtem_checks.vacancies.scenes` simulates such series (cached by the
scenes' spec hash) with known vacancies; here each is counted as a user would count it, through
:func:`hrtem_analysis.focal_series.count_focal_series` (defocus check, registration, tiled
inference, vacancy count with its area), and compared with the truth at the S sites counted:

- per frame: counted and true vacancies, S1 columns and empty sites at the counted sites, S1
  columns counted where the truth has one (``s1_hit``), counted sites on no true site
  (``off_lattice``), the counted area and density, and the oracle: the count of the true
  species labels (a perfect model) with its area and density (``density_true``), and the
  registration's largest error [Å];
- per dose (:func:`scene_summary`): mean absolute error and bias of the counts, absolute and
  relative to the mean true count, the fraction counted exactly, S1 precision, recall and F1,
  the densities (summed vacancies over summed area) counted and true, and the coverage (counted
  area over the oracle's: the errors above are over the sites counted, so a model finding little
  lattice must show it here).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd
from hrtem_analysis.focal_series import FocalSeriesCount, check_series, count_focal_series
from hrtem_analysis.focal_series import reference_channel as reference_of
from hrtem_analysis.settings import Settings
from hrtem_analysis.vacancies import SPECIES, VacancyCount, count_vacancies
from hrtem_core.errors import SpecError
from hrtem_msd.evaluation.dose_sweep import Evaluated, check_doses
from matplotlib.figure import Figure
from scipy.spatial import cKDTree

from hrtem_checks.vacancies.scenes import SceneFrame, scene_frames, simulate_scenes
from hrtem_checks.vacancies.test_split import (
    agreement_panels,
    agreement_summary,
    check_species_model,
)

SCENES = "mos2_scenes.yaml"  # beside the model's training spec (data_specs/)


def scene_agreement(
    model: Evaluated,
    doses: Sequence[float],
    defocus: Sequence[float] | None = None,
    scenes: str | Path | None = None,
    profile: str = "small",
    settings: Settings | None = None,
    workers: int | None = None,
    progress: bool = True,
) -> pd.DataFrame:
    """One row per scene and dose (see the module docstring). defocus [Å] of the series (default:
    the model's nominal); scenes: the scenes' spec (default ``mos2_scenes.yaml`` beside the
    model's training spec) at ``profile``, simulated under the model's data root where missing
    (``workers``: simulation processes, 0 in this process); settings: the analysis settings."""
    check_doses(doses)
    check_species_model(model)
    card = model.net.config
    series = tuple(float(d) for d in (card.defocus if defocus is None else defocus))
    check_series(card, series)
    spec = Path(scenes) if scenes is not None else Path(model.config.task.spec).with_name(SCENES)
    path = simulate_scenes(spec, profile, model.config.data.root, workers, progress)
    from hrtem_sim import open_dataset
    from tqdm import tqdm

    dataset = open_dataset(path)
    if abs(dataset.card.energy - card.energy) > 1e-6 * card.energy:
        raise SpecError(
            f"{path}: scenes at {dataset.card.energy / 1e3:g} kV; the model takes "
            f"{card.energy / 1e3:g} kV"
        )
    settings = settings or Settings()
    optics, spot = model.config.task.optics, model.config.task.labels.spot
    seed, reference = dataset.spec.seed, reference_of(card)
    rows = []
    for sample in tqdm(dataset, desc=f"scenes ({model.uri})", disable=not progress):
        frames = scene_frames(sample, optics, card.sampling, series, reference, doses, seed, spot)
        for frame in frames:
            result = count_focal_series(model.net, frame.image, frame.sampling, settings, series)
            rows.append(compare(frame, result, settings.vacancy_border))
    return pd.DataFrame(rows)


def _lost(count: VacancyCount) -> np.ndarray:
    """S atoms lost at each counted site, as counted: 0 (S2), 1 (S1), 2 (empty)."""
    sites = count.positions["sites"]
    lost = np.zeros(len(sites), dtype=np.int64)
    for key, value in (("s1_sites", 1), ("empty", 2)):
        if len(sites) and len(count.positions[key]):
            distance, _ = cKDTree(count.positions[key]).query(sites)
            lost[distance < 1e-6] = value
    return lost


def compare(frame: SceneFrame, result: FocalSeriesCount, vacancy_border: float) -> dict:
    """The row of one frame: its count against the truth at the counted sites, and the oracle."""
    count, sampling = result.count, np.asarray(frame.sampling)
    truth = frame.truth
    lost = _lost(count)
    tolerance = 0.5 * count.bond if np.isfinite(count.bond) else 0.0
    true_lost = np.zeros(len(lost), dtype=np.int64)
    matched = np.zeros(len(lost), dtype=bool)
    if len(lost) and len(truth.sites):
        distance, nearest = cKDTree(truth.sites).query(
            count.positions["sites"] * sampling, distance_upper_bound=tolerance
        )
        matched = np.isfinite(distance)
        true_lost[matched] = truth.lost[nearest[matched]]
    border = vacancy_border + result.registered.largest_shift * sampling.max()
    one_hot = np.eye(len(SPECIES))[truth.labels].transpose(2, 0, 1)
    oracle = count_vacancies(one_hot, frame.sampling, border=border)
    found = result.registered.shifts * sampling
    return {
        "scene": frame.scene,
        "dose": frame.dose,
        "vacancies_true": int(true_lost.sum()),
        "vacancies_pred": count.vacancies,
        "s1_true": int((true_lost == 1).sum()),
        "s1_pred": count.s1_sites,
        "s1_hit": int(((lost == 1) & (true_lost == 1)).sum()),
        "empty_true": int((true_lost == 2).sum()),
        "empty_pred": count.empty_sites,
        "sites": count.sites,
        "off_lattice": int((~matched).sum()),
        "area": count.area,
        "density_pred": count.density,
        "vacancies_oracle": oracle.vacancies,
        "area_oracle": oracle.area,
        "density_true": oracle.density,
        "shift_error": float(np.hypot(*(found - frame.drift).T).max()),
    }


def _ratio(numerator: pd.Series, denominator: pd.Series) -> pd.Series:
    return numerator / denominator.where(denominator > 0)


def scene_summary(table: pd.DataFrame) -> pd.DataFrame:
    """Per dose: images, mean true and counted vacancies per frame, mae, bias, their ratios to the
    mean true count (mae_rel, bias_rel), exact fraction, S1 precision / recall / F1 (over all
    frames' counted sites), densities [1/nm^2] counted and true (oracle), the mean counted and
    oracle areas [nm^2], coverage (counted area / oracle area: a model that finds no lattice
    counts nothing wrong, but covers nothing) and the registration's largest error [Å]."""
    summary = agreement_summary(table)
    sums = table.groupby("dose").sum(numeric_only=True)
    maxima = table.groupby("dose").max(numeric_only=True)
    means = table.groupby("dose").mean(numeric_only=True)
    precision = _ratio(sums["s1_hit"], sums["s1_pred"])
    recall = _ratio(sums["s1_hit"], sums["s1_true"])
    extra = pd.DataFrame(
        {
            "mae_rel": _ratio(summary.set_index("dose")["mae"], means["vacancies_true"]),
            "bias_rel": _ratio(summary.set_index("dose")["bias"], means["vacancies_true"]),
            "s1_precision": precision,
            "s1_recall": recall,
            "s1_f1": _ratio(2 * precision * recall, precision + recall),
            "density_pred": _ratio(sums["vacancies_pred"], sums["area"]),
            "density_true": _ratio(sums["vacancies_oracle"], sums["area_oracle"]),
            "area": means["area"],
            "area_oracle": means["area_oracle"],
            "coverage": _ratio(sums["area"], sums["area_oracle"]),
            "shift_error": maxima["shift_error"],
        }
    )
    return summary.merge(extra, left_on="dose", right_index=True)


def scene_figure(table: pd.DataFrame) -> Figure:
    """Top: counted against true vacancies per frame, one panel per dose. Bottom: relative MAE and
    bias of the counts, and S1 precision, recall and F1, against dose."""
    summary = scene_summary(table)
    doses = summary["dose"].to_numpy()
    fig = Figure(figsize=(max(7.0, 3.2 * len(doses)), 7.4), layout="constrained")
    top, bottom = fig.subfigures(2, 1, height_ratios=[1.1, 1.0])
    agreement_panels(top, table)
    errors, species = bottom.subplots(1, 2)
    errors.axhline(0, color="0.6", lw=1)
    errors.plot(doses, 100 * summary["mae_rel"], "o-", label="MAE / mean true count")
    errors.plot(doses, 100 * summary["bias_rel"], "s-", label="bias / mean true count")
    density = summary["density_pred"] / summary["density_true"] - 1
    errors.plot(doses, 100 * density, "^-", label="density counted / true - 1")
    errors.plot(doses, 100 * summary["coverage"], "v--", label="area counted / oracle's")
    errors.set_ylabel("[%]")
    for name in ("s1_precision", "s1_recall", "s1_f1"):
        species.plot(doses, summary[name], "o-", label=name.removeprefix("s1_"))
    species.set(ylim=(0, 1.05), ylabel="S1 columns at the counted sites")
    for ax in (errors, species):
        ax.set_xscale("log")
        ax.set_xlim(doses.min() / 1.5, doses.max() * 1.5)  # also when a quantity has no values
        ax.set_xlabel("dose [e$^-$/Å$^2$]")
        ax.legend(fontsize=8)
        ax.grid(True, which="both", alpha=0.3)
    return fig
