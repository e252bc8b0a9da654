"""How well a MoS2 model counts sulphur vacancies, checked on simulations with known counts.

The test split of the model's own training run (abTEM exit waves of MoS2 layers with random S1
columns and empty S sites) is formed into focal series at each dose as in evaluation, but over
one whole period of each exit wave rather than the training crop (a crop of 128 px leaves only a
few S sites inside the counting margin; a period is a frame cut from a periodic layer, each
site seen once); the vacancies counted on the model's probabilities are compared with those
counted on the labels.
The label count is the truth: the labels hold every S1 column and no column at an empty site, and
:func:`hrtem_analysis.vacancies.count_vacancies` is exact on them (tested on generated layers).
Run it at the dose of your experiment before publishing counts from that model.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F
from hrtem_analysis.vacancies import SPECIES, count_vacancies
from hrtem_core.atomic import atomic_write
from hrtem_core.errors import SpecError
from hrtem_msd.evaluation.dose_sweep import Evaluated, check_doses, held_out_data
from hrtem_msd.training.datamodule import HRTEMDataModule
from hrtem_sim.optics import ImageFormation
from matplotlib.figure import Figure, SubFigure


def vacancy_agreement(
    model: Evaluated, doses: Sequence[float], batch_size: int = 8, progress: bool = True
) -> pd.DataFrame:
    """One row per test image and dose: dose [e-/Å^2], index, and true / predicted ``vacancies``,
    ``s1`` columns and ``empty`` S sites (``*_true``, ``*_pred``)."""
    check_doses(doses)
    check_species_model(model)
    from tqdm import tqdm

    data = held_out_data(model, batch_size)
    data.formation = ImageFormation(
        dataclasses.replace(data.formation.config, output_size=_one_period(data))
    )
    rows = []
    for dose in tqdm(doses, desc=f"vacancies ({model.uri})", disable=not progress):
        data.set_eval_dose(dose)
        with torch.no_grad():
            for batch in data.test_dataloader():
                formed = data.form(batch, training=False)
                predicted = torch.softmax(model.net(formed["image"]), dim=1)
                truth = F.one_hot(formed["label"], len(SPECIES)).permute(0, 3, 1, 2).float()
                rows += [
                    _counts(float(dose), index, p, t, tuple(sampling))
                    for index, p, t, sampling in zip(
                        formed["index"].tolist(),
                        predicted,
                        truth,
                        formed["sampling"].tolist(),
                        strict=True,
                    )
                ]
    return pd.DataFrame(rows)


def check_species_model(model: Evaluated) -> None:
    """A SpecError unless ``model`` is a species model of the mos2 task."""
    classes = tuple(model.net.config.classes)
    if classes != SPECIES:
        raise SpecError(
            f"{model.uri}: classes {list(classes)}; counting vacancies needs {list(SPECIES)} "
            "(a model of the mos2 task)"
        )


def _one_period(data: HRTEMDataModule) -> list[int]:
    """(h, w) [px] of one period of the test exit waves at the coarsest detector sampling."""
    sample = data.dataset[int(data.splits["test"][0])]
    period = np.array(sample.exit_wave.shape) * np.array(sample.sampling)
    coarsest = data.formation.config.detector_sampling.high
    return [int(length / coarsest) for length in period]


def _counts(
    dose: float,
    index: int,
    predicted: torch.Tensor,
    truth: torch.Tensor,
    sampling: tuple[float, float],
) -> dict[str, float]:
    """One row: the counts of one image from its predicted and true probabilities ``[4, h, w]``."""
    row: dict[str, float] = {"dose": dose, "index": index}
    for suffix, probabilities in (("true", truth), ("pred", predicted)):
        count = count_vacancies(probabilities, sampling)
        row[f"vacancies_{suffix}"] = count.vacancies
        row[f"s1_{suffix}"] = count.s1_sites
        row[f"empty_{suffix}"] = count.empty_sites
    return row


def agreement_summary(table: pd.DataFrame) -> pd.DataFrame:
    """Per dose: images, mean true and predicted vacancies per image, mean absolute error, bias
    (mean predicted - true) and the fraction of images counted exactly."""
    error = table["vacancies_pred"] - table["vacancies_true"]
    grouped = table.assign(error=error, abs_error=error.abs(), exact=error == 0).groupby("dose")
    return pd.DataFrame(
        {
            "images": grouped.size(),
            "true_mean": grouped["vacancies_true"].mean(),
            "pred_mean": grouped["vacancies_pred"].mean(),
            "mae": grouped["abs_error"].mean(),
            "bias": grouped["error"].mean(),
            "exact": grouped["exact"].mean(),
        }
    ).reset_index()


def agreement_figure(table: pd.DataFrame) -> Figure:
    """Counted against true vacancies, one panel per dose, with the identity line; a marker's
    area grows with the number of images at that point."""
    doses = sorted(table["dose"].unique())
    fig = Figure(figsize=(3.2 * len(doses), 3.6), layout="constrained")
    agreement_panels(fig, table)
    return fig


def agreement_panels(fig: Figure | SubFigure, table: pd.DataFrame) -> None:
    """The panels of :func:`agreement_figure`, drawn into ``fig``."""
    doses = sorted(table["dose"].unique())
    axes = np.atleast_1d(fig.subplots(1, len(doses), sharex=True, sharey=True))
    top = max(1, int(table[["vacancies_true", "vacancies_pred"]].to_numpy().max()))
    for ax, dose in zip(axes, doses, strict=True):
        rows = table[table["dose"] == dose]
        ax.plot([0, top], [0, top], color="0.6", lw=1)
        pairs = rows.groupby(["vacancies_true", "vacancies_pred"]).size().reset_index(name="n")
        ax.scatter(pairs["vacancies_true"], pairs["vacancies_pred"], s=12 * pairs["n"], alpha=0.7)
        ax.set_title(f"{dose:g} e$^-$/Å$^2$")
        ax.set_xlabel("true vacancies")
        ax.set(xlim=(-0.5, top + 0.5), ylim=(-0.5, top + 0.5), aspect="equal")
    axes[0].set_ylabel("counted vacancies")


def write_check(table: pd.DataFrame, out: Path, name: str = "vacancy_check") -> tuple[Path, Path]:
    """``out/NAME.csv`` (the table) and ``out/NAME.png`` (its figure), atomically."""
    return write_table_and_figure(table, agreement_figure(table), out, name)


def write_table_and_figure(
    table: pd.DataFrame, figure: Figure, out: Path, name: str
) -> tuple[Path, Path]:
    """``out/NAME.csv`` and ``out/NAME.png``, atomically."""
    csv = atomic_write(out / f"{name}.csv", lambda tmp: table.to_csv(tmp, index=False))
    png = atomic_write(out / f"{name}.png", lambda tmp: figure.savefig(tmp, dpi=120, format="png"))
    return csv, png
