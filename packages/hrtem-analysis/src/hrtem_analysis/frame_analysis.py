"""Per-frame analysis: a frame in, one table row (and column positions) out.

Nanoparticles ("particles"): the particle model's probabilities (:func:`tiled_predict` at the
frame's sampling) -> mask (probability > 0.5, opened by a disc of ``opening`` Å, holes filled)
-> particles (connected components of at least ``min_area`` nm^2) -> each particle's area [nm^2],
peak-pair ratio and zone named from its spots. The frame's ``ratio`` and ``zone`` are those of
its largest particle (the one a series follows); the frame is *interpretable* (on a zone axis)
when that zone is a single-crystal one, or "twinned" with the ratio finite and <= ``threshold``
(:func:`hrtem_analysis.zone_naming.on_zone`). On interpretable frames an optional columns model
gives column positions [Å] and the largest particle's neighbourhood (a
:class:`~hrtem_analysis.drift_tracking.Region`); drift and events between frames are found by
:mod:`hrtem_analysis.series`, which sees the frames in order.

MoS2 ("mos2"): the focal series ``[C, nx, ny]``, its defocus checked against the model's and its
drift undone, -> the species model's probabilities -> :func:`count_vacancies` (see
:func:`hrtem_analysis.focal_series.count_focal_series`): Mo/S2/S1 columns, vacancies at the S
sites counted and the area they cover, so vacancies per nm^2 do not follow the field of view.

Every row has ``status``: "ok", "no particle" (empty mask: a row, not an error) or "failed" with
the reason in ``error`` (unreadable frame, NaNs, ...); one frame's failure never ends a run.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
import torch
from hrtem_core.errors import HRTEMError
from torch import nn

from hrtem_analysis.columns import detect_columns
from hrtem_analysis.drift_tracking import Region, particle_region
from hrtem_analysis.focal_series import check_series, count_focal_series
from hrtem_analysis.fourier import alignment_map, cleaning_pixels, particle_ratios
from hrtem_analysis.frames import Frame, FrameSource
from hrtem_analysis.models import analysis_model, default_device
from hrtem_analysis.settings import Settings
from hrtem_analysis.tiled import tiled_predict
from hrtem_analysis.zone_naming import column_spacing, name_zone, on_zone

if TYPE_CHECKING:
    from hrtem_msd.store.trained import TrainedModel

Kind = Literal["particles", "mos2"]
Models = dict[str, nn.Module]
TASKS: dict[str, str] = {"particles": "nanoparticle", "mos2": "mos2", "columns": "columns"}
COLUMNS: dict[str, str] = {
    "frame": "Int64", "time": "float64", "source": "string", "status": "string",
    "error": "string", "particles": "Int64", "area": "float64", "areas": "string",
    "ratio": "float64", "ratios": "string", "zone": "string", "zones": "string",
    "interpretable": "boolean", "columns": "Int64",
    "appeared": "Int64", "vanished": "Int64", "events": "Int64", "drift_x": "float64",
    "drift_y": "float64", "mo": "Int64", "s2": "Int64",
    "s1": "Int64", "vacancies": "Int64", "vacancy_density": "float64", "sites": "Int64",
    "counted_area": "float64", "focal_shift": "float64", "defocus": "string",
}  # fmt: skip
"""Table columns and their pandas dtypes. area: total particle area [nm^2]; areas, ratios, zones: per particle, largest first,
";"-separated; ratio, zone: of the largest particle (zone: "<110>", "<100>", "<111>", "twinned" or
"off axis", named from its spots by :func:`hrtem_analysis.zone_naming.name_zone`); time [s] (or the frame index when unknown);
drift_x, drift_y [Å]: drift against the previous interpretable frame;
mo, s2, s1: MoS2 columns found in the frame; vacancies at the ``sites`` S sites counted, over
``counted_area`` [nm^2] (vacancy_density [1/nm^2]); focal_shift: largest drift undone between
the focal images [Å]; defocus: of the series [Å], ";"-separated (empty: not known)."""


@dataclass(frozen=True)
class Analysis:
    """What to run on every frame: picklable (URIs, not networks), so dask workers load their own.

    kind: "particles" (model: a nanoparticle model; columns_model optional) or "mos2" (model: a
    MoS2 species model). figures: folder for per-frame PNG panels, or None. masks: keep each
    frame's particle mask in its record (for a live view).
    """

    kind: Kind
    model: str
    columns_model: str | None = None
    settings: Settings = field(default_factory=Settings)
    figures: Path | None = None
    masks: bool = False

    def channels(self) -> int:
        """C, images per frame: the model's ``in_channels`` (loads the model in this process)."""
        return analysis_model(self.model, TASKS[self.kind]).config.in_channels

    def load_models(self) -> Models:
        """The networks, loaded once here (a bad URI or task, or a focal series ``defocus`` the
        model was not trained on, is one error before any frame): {"model": ..., "columns": ...}
        (no "columns" without a columns model)."""
        models = {"model": analysis_model(self.model, TASKS[self.kind])}
        if self.kind == "mos2" and self.settings.defocus is not None:
            check_series(models["model"].config, self.settings.defocus)
        if self.columns_model is not None:
            models["columns"] = analysis_model(self.columns_model, TASKS["columns"])
        return models


@dataclass(frozen=True)
class FrameRecord:
    """One frame's row (keys: :data:`COLUMNS`), its column positions ``[M, 2]`` [Å] and the
    largest particle's region (both None unless columns were counted); ``mask`` ``[nx, ny]`` bool,
    the particles (None unless :attr:`Analysis.masks`)."""

    row: dict[str, Any]
    positions: np.ndarray | None = None
    region: Region | None = None
    mask: np.ndarray | None = None


def empty_row(frame: Frame) -> dict[str, Any]:
    """A row with the frame's identity and every measurement missing."""
    row: dict[str, Any] = dict.fromkeys(COLUMNS)
    row.update(frame=frame.index, time=frame.time, source=frame.source, status="ok", error="")
    return row


def analyse_frame(frame: Frame, analysis: Analysis, models: Models) -> FrameRecord:
    """The record of one frame; a failure is a row with status "failed" and its reason."""
    if frame.error is not None:
        return FrameRecord({**empty_row(frame), "status": "failed", "error": frame.error})
    try:
        if analysis.kind == "mos2":
            return _mos2(frame, analysis, models["model"])
        return _particles(frame, analysis, models)
    except HRTEMError as error:
        reason = f"{frame.source}: {error}"
    except Exception as error:  # e.g. out of memory on one huge frame: record it and go on
        reason = f"{frame.source}: {type(error).__name__}: {error}"
    return FrameRecord({**empty_row(frame), "status": "failed", "error": reason.splitlines()[0]})


def analyse_batch(
    frames: list[int], source: FrameSource, analysis: Analysis, models: Models
) -> list[FrameRecord]:
    """Read and analyse frames ``frames`` of a :class:`FrameSource` (a dask task)."""
    return [analyse_frame(source.read(t), analysis, models) for t in frames]


def _probabilities(model: nn.Module, frame: Frame, settings: Settings) -> torch.Tensor:
    """Probabilities ``[K, nx, ny]`` on the frame's grid."""
    return tiled_predict(
        model,
        frame.image,
        window=settings.window,
        overlap=settings.overlap,
        batch_size=settings.batch_size,
        sampling=frame.sampling,
        device=settings.device or default_device(),
        max_resample=settings.max_resample,
    )


def _joined(values: list[float]) -> str:
    return ";".join(f"{v:.4g}" for v in values)


def _particles(frame: Frame, analysis: Analysis, models: Models) -> FrameRecord:
    settings = analysis.settings.resolved()
    model = models["model"]
    probabilities = _probabilities(model, frame, settings)
    probability = probabilities[model.config.class_index("particle")].numpy()
    image = frame.image[0]
    pixel_area = frame.sampling[0] * frame.sampling[1] / 100.0  # [nm^2 per px]
    min_px, opening = cleaning_pixels(settings.min_area, settings.opening, frame.sampling)
    labels, results = particle_ratios(
        image, probability, frame.sampling, min_px, settings.d_spacings, opening
    )
    order = sorted(range(len(results)), key=lambda i: -results[i].area)
    areas = [results[i].area * pixel_area for i in order]
    ratios = [results[i].ratio for i in order]
    ratio = ratios[0] if ratios else float("nan")
    lattice = settings.d_spacings[0] * math.sqrt(3.0)  # fcc: the first d-spacing is {111}
    zones = [name_zone(results[i].pairs, lattice) for i in order]
    interpretable = bool(zones) and on_zone(zones[0], ratio, settings.threshold)
    row = empty_row(frame)
    row.update(
        status="ok" if results else "no particle",
        particles=len(results),
        area=float(sum(areas)),
        areas=_joined(areas),
        ratio=ratio,
        ratios=_joined(ratios),
        zone=zones[0] if zones else None,
        zones=";".join(zones),
        interpretable=interpretable,
    )
    positions = region = None
    largest = labels == order[0] + 1 if results else np.zeros_like(labels, dtype=bool)
    if interpretable and "columns" in models:
        columns = _probabilities(models["columns"], frame, settings)
        column = models["columns"].config.class_index("column")
        radius = settings.suppress * column_spacing(zones[0], lattice)  # [Å]
        positions = detect_columns(
            columns[column].numpy(), suppress=radius, sampling=frame.sampling
        )
        row["columns"] = len(positions)
        region = particle_region(image, largest, frame.sampling, settings.max_drift)
    if analysis.figures is not None:
        from hrtem_analysis import figures  # matplotlib only when figures are asked for

        alignment = alignment_map(
            probabilities,
            image,
            frame.sampling,
            model.config.class_index("particle"),
            min_px,
            settings.d_spacings,
            opening,
        )
        stem = analysis.figures / f"frame_{frame.index:06d}"
        figures.save(
            figures.frame_panel(image, probability, largest, frame.sampling, frame.source),
            stem.with_suffix(".png"),
        )
        figures.save(
            figures.alignment_overlay(image, alignment, labels > 0, frame.sampling, frame.source),
            Path(f"{stem}_alignment.png"),
        )
    return FrameRecord(row, positions, region, labels > 0 if analysis.masks else None)


def _mos2(frame: Frame, analysis: Analysis, model: TrainedModel) -> FrameRecord:
    result = count_focal_series(
        model, frame.image, frame.sampling, analysis.settings, frame.defocus
    )
    count = result.count
    row = empty_row(frame)
    row.update(
        columns=count.mo + count.s2 + count.s1,
        mo=count.mo,
        s2=count.s2,
        s1=count.s1,
        vacancies=count.vacancies,
        vacancy_density=count.density,
        sites=count.sites,
        counted_area=count.area,
        focal_shift=result.registered.largest_shift * max(frame.sampling),
        defocus="" if result.defocus is None else _joined(list(result.defocus)),
    )
    if analysis.figures is not None:
        from hrtem_analysis import figures

        reference = result.registered.image[result.registered.reference]
        figures.save(
            figures.mos2_panel(
                reference, result.probabilities, count, frame.sampling, frame.source
            ),
            analysis.figures / f"frame_{frame.index:06d}.png",
        )
    return FrameRecord(row)
