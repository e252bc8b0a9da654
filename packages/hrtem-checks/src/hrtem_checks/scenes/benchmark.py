"""The scene benchmark: how well a nanoparticle model finds and classifies particles on frames like
the users' (large, mostly amorphous carbon, several particles on and off their zone axes).

1. Scenes: ``data_specs/benchmarks/scenes.yaml`` (a seed disjoint from training). A frame covers
   ``size`` px at the first model's sampling (the extent E [Å]); the periodic cell is E plus a
   margin of the largest particle's diameter and the spacing, so a particle straddling the cell's
   seam shows only its part inside the frame, cut by the frame's edge as in a user's frame. The
   exit waves are simulated at half the model's sampling, once, and cached under
   ``<root>/scenes-<spec hash>/`` like any dataset (abTEM and ASE are imported only then;
   without them, one error naming the extra).
2. Frames: each scene's exit wave through :class:`hrtem_sim.optics.ImageFormation` with the
   microscope ranges of the nanoparticle task (``configs/task/nanoparticle.yaml``; one draw per
   scene, the same at every dose; the lens applied once for all doses), the detector over
   [0, E)^2 at a sampling drawn per scene from ``frame_sampling`` (0.15-0.4 Å/px: E / sampling
   px; the analysis resamples it to the model's), at each dose, in counts per pixel (what a
   camera gives). True particle masks are rendered per particle on the same grid, in a box
   around it (:func:`hrtem_sim.labels.render_mask_near`: discs of the task's label radius
   around its atoms, closed); a particle with less than the analysis' smallest area inside the frame is not
   scored, and one whose mask touches the frame's edge is scored as an edge particle.
3. Methods, each on the same raw frames: every model through the full analysis path
   (:func:`hrtem_analysis.tiled_predict`, probability > 0.5, mask cleaning, particles, peak-pair
   ratios; defaults of :class:`hrtem_analysis.settings.Settings`), the classical baseline
   (:mod:`hrtem_checks.scenes.classical`, same cleaning) and "truth" (the true masks: detection 1.0 by
   construction, its zone accuracy is the ceiling of the peak-pair classification).
4. Scores per method and dose (:mod:`hrtem_checks.scenes.detection`).
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from hrtem_analysis.fourier import PeakPairResult, cleaning_pixels, particle_ratios, peak_pair_ratio
from hrtem_analysis.models import default_device
from hrtem_analysis.settings import Settings
from hrtem_analysis.tiled import tiled_predict
from hrtem_analysis.zone_naming import name_zone, on_zone
from hrtem_core.cards import ModelCard
from hrtem_core.errors import SpecError
from hrtem_sim.labels import render_mask_near
from hrtem_sim.optics import DetectorGrid, ImageFormation, ImageFormationConfig, Range
from hrtem_sim.spec import DataSpec, load_spec
from hrtem_sim.types import Sample
from torch import nn
from tqdm import tqdm

from hrtem_checks.scenes.classical import classical_mask
from hrtem_checks.scenes.detection import match_particles, summarise

DOSES = (50.0, 200.0, 1000.0)  # [e-/Å^2]
SIZE = 2048  # [px] frame side at the model's sampling
FRAME_SAMPLING = (0.15, 0.4)  # [Å/px] range of the frames' sampling, one draw per scene
CLASSICAL = "classical"
TRUTH = "truth"


@dataclass(frozen=True)
class Example:
    """One frame for the outline figure: its scene index, image ``[H, W]`` [counts], sampling
    [Å/px], dose, true labels ``[H, W]`` and each method's predicted labels ``[H, W]``."""

    scene: int
    image: np.ndarray
    sampling: tuple[float, float]
    dose: float
    truth: np.ndarray
    predicted: dict[str, np.ndarray]


@dataclass(frozen=True)
class SceneResult:
    """summary: metrics per method and dose; frames, particles: the rows they summarise;
    example: one frame with outlines; spec_hash and path: the cached scenes; size [px] and
    sampling [Å/px]: a frame's side at the model's sampling; frame_sampling [Å/px]: the range
    the frames were imaged at."""

    summary: pd.DataFrame
    frames: pd.DataFrame
    particles: pd.DataFrame
    example: Example
    spec_hash: str
    path: Path
    size: int
    sampling: float
    frame_sampling: tuple[float, float]


@dataclass(frozen=True)
class SceneSetup:
    """How scenes are made and imaged: spec file (and profile), microscope ranges and label radius
    [Å] of the nanoparticle task, and where datasets are cached."""

    spec: Path
    optics: ImageFormationConfig
    label_radius: float = 1.5
    profile: str | None = None
    root: Path = Path("data")
    workers: int | None = None
    settings: Settings = field(default_factory=Settings)
    substrates: tuple[str, ...] | None = None  # replaces the spec's (None: the held-out family)
    frame_sampling: tuple[float, float] = FRAME_SAMPLING  # [Å/px], drawn uniformly per scene
    parallel: int = 1  # scenes scored at once (threads; torch and NumPy release the GIL)


def default_setup(
    root: str | Path = "data",
    workers: int | None = None,
    spec: str | Path | None = None,
    profile: str | None = None,
    substrates: Sequence[str] | None = None,
    frame_sampling: tuple[float, float] = FRAME_SAMPLING,
    parallel: int = 1,
    settings: Settings | None = None,
) -> SceneSetup:
    """The nanoparticle task's optics and label radius from ``configs/``, the scenes of ``spec``
    (default: the project's ``data_specs/benchmarks/scenes.yaml``) with ``profile`` (None: as
    written), when given ``substrates`` instead of the spec's, and the frames' sampling range
    ``frame_sampling`` [Å/px] (low <= high, both > 0, else a SpecError), scoring ``parallel``
    scenes at once with the analysis ``settings`` (None: :class:`Settings`' defaults)."""
    from hrtem_msd.config import compose, default_config_dir

    task = compose(["task=nanoparticle"]).task
    if spec is None:
        spec = default_config_dir().resolve().parent / "data_specs" / "benchmarks" / "scenes.yaml"
    chosen = tuple(substrates) if substrates else None
    low, high = (float(v) for v in frame_sampling)
    if not (0 < low <= high and math.isfinite(high)):
        raise SpecError(f"frame sampling: need 0 < low <= high Å/px, got {low:g}, {high:g}")
    if parallel < 1:
        raise SpecError(f"parallel: need at least 1 scene at once, got {parallel}")
    return SceneSetup(
        Path(spec), task.optics, task.labels.radius, profile, Path(root), workers,
        settings or Settings(), substrates=chosen, frame_sampling=(low, high),
        parallel=int(parallel),
    )  # fmt: skip


def frame_extent(size: int, sampling: float) -> float:
    """The side [Å] of a frame of ``size`` px at the model's ``sampling`` [Å/px]."""
    return round(size * sampling, 6)


def edge_margin(spec: DataSpec) -> float:
    """[Å] the cell's extra side beyond the frame: a particle straddling the periodic seam then
    shows inside the frame on one side only (0 when the spec's particles never straddle it)."""
    params = spec.structure.params
    return float(params.diameter[1] + params.spacing) if params.wrap else 0.0


def scene_spec(setup: SceneSetup, scenes: int, sampling: float, size: int) -> DataSpec:
    """The scenes' spec: ``scenes`` samples in a cell of the frame's extent (``size`` px at the
    model's ``sampling`` [Å/px]) plus the :func:`edge_margin`, simulated at half that sampling.
    Its structure is checked when scenes are simulated (:func:`simulate_scenes` fails before any
    work on a cell too small for its particles)."""
    if scenes < 1 or size < 8:
        raise SpecError(
            f"scenes: need at least 1 scene of at least 8 px, got {scenes} of {size} px"
        )
    spec = load_spec(setup.spec, setup.profile)
    extent = round(frame_extent(size, sampling) + edge_margin(spec), 6)
    params = spec.structure.params
    if setup.substrates:
        params = dataclasses.replace(params, substrates=list(setup.substrates))
    return dataclasses.replace(
        spec,
        samples=int(scenes),
        structure=dataclasses.replace(spec.structure, cell=(extent, extent), params=params),
        simulation=dataclasses.replace(spec.simulation, sampling=sampling / 2),
    )


def exposure(card: ModelCard, substrates: Sequence[str]) -> str:
    """Whether a model saw the scenes' ``substrates`` in training, from its card: "held out",
    "seen in training: NAMES" or "not recorded" (a model from before the cards named them)."""
    if card.substrates is None:
        return "not recorded"
    seen = sorted(set(card.substrates) & set(substrates))
    return f"seen in training: {', '.join(seen)}" if seen else "held out"


def simulate_scenes(spec: DataSpec, root: Path, workers: int | None, progress: bool) -> Path:
    """The cached scenes of ``spec`` under ``root``, simulating the missing ones."""
    from hrtem_sim.errors import require_simulation

    require_simulation("the scene benchmark (simulating its scenes)")
    from hrtem_sim.simulate import simulate_dataset

    return simulate_dataset(spec, root, workers=workers, progress=progress)


def frame_optics(
    optics: ImageFormationConfig, dose: float, sampling: float, size: int
) -> ImageFormationConfig:
    """``optics`` at one ``dose`` [e-/Å^2], the camera at ``sampling`` [Å/px] over ``size`` px
    from the cell's origin (the raw frame: the analysis resizes it)."""
    return dataclasses.replace(
        optics,
        dose=Range(dose, dose),
        detector_sampling=Range(sampling, sampling),
        output_size=[size, size],
        random_origin=False,
        camera_sampling=None,
    )


def frame_sampling(setup: SceneSetup, seed: int, index: int) -> float:
    """The sampling [Å/px] of scene ``index``'s frame, drawn from ``setup.frame_sampling`` by
    (seed, index): the same at every dose and on every run."""
    low, high = setup.frame_sampling
    return float(np.random.default_rng([seed, index]).uniform(low, high))


@dataclass(frozen=True)
class TrueParticles:
    """The particles seen in a frame: instance labels ``[H, W]`` (1..K), the index into
    ``sample.meta["particles"]`` of each and whether its mask touches the frame's edge."""

    labels: np.ndarray
    index: list[int]
    edge: list[bool]


def true_labels(
    sample: Sample, grid: DetectorGrid, radius: float, min_pixels: int = 1
) -> TrueParticles:
    """The particles of ``sample.meta["particles"]`` on ``grid`` with at least ``min_pixels``
    pixels in it, numbered in the meta's order (a particle in front keeps its pixels)."""
    labelled = sample.atoms.positions[sample.atoms.arrays["labelled"].astype(bool), :2]
    ends = np.cumsum([p["n_atoms"] for p in sample.meta["particles"]])
    labels = np.zeros(grid.shape, dtype=np.int64)
    index, edge = [], []
    for k, points in enumerate(np.split(labelled, ends[:-1]) if len(ends) else []):
        mask = render_mask_near(points, grid, radius=radius).numpy().astype(bool)
        mask &= labels == 0
        if mask.sum() >= max(min_pixels, 1):
            labels[mask] = len(index) + 1
            index.append(k)
            edge.append(bool(mask[[0, -1]].any() or mask[:, [0, -1]].any()))
    return TrueParticles(labels, index, edge)


def _predicted(
    model: nn.Module, image: np.ndarray, sampling: tuple[float, float], settings: Settings
) -> np.ndarray:
    """The model's particle probability ``[H, W]`` on a raw frame ``[C, H, W]`` (tiled)."""
    probabilities = tiled_predict(
        model,
        image,
        window=settings.window,
        overlap=settings.overlap,
        batch_size=settings.batch_size,
        sampling=sampling,
        device=settings.device or default_device(),
    )
    return probabilities[model.config.class_index("particle")].numpy()


def detect(
    method: str,
    models: dict[str, nn.Module],
    image: np.ndarray,
    truth: np.ndarray,
    sampling: tuple[float, float],
    settings: Settings,
) -> tuple[np.ndarray, list[PeakPairResult]]:
    """Labels ``[H, W]`` of ``method``'s particles on a raw frame ``[C, H, W]`` and the
    peak-pair result of each: a model of ``models``, CLASSICAL or TRUTH (the labels ``truth``)."""
    min_px, opening = cleaning_pixels(settings.min_area, settings.opening, sampling)
    if method == TRUTH:
        results = [
            peak_pair_ratio(image[0], truth == k, sampling, settings.d_spacings, min_area=min_px)
            for k in range(1, int(truth.max(initial=0)) + 1)
        ]
        return truth, results
    if method == CLASSICAL:
        mask = classical_mask(image[0], sampling)
    else:
        mask = _predicted(models[method], image, sampling, settings)
    return particle_ratios(image[0], mask, sampling, min_px, settings.d_spacings, opening)


FRAME_COLUMNS = ["method", "dose", "scene", "sampling", "true", "predicted", "found", "false", "intersection", "union"]  # fmt: skip
PARTICLE_COLUMNS = [
    "method", "dose", "scene", "sampling", "particle", "shape", "zone_axis", "tilt", "diameter", "edge",
    "found", "iou", "ratio", "classified_on", "zone_named",
]  # fmt: skip


def score(
    key: dict[str, object],
    particles: list[dict],
    truth: np.ndarray,
    labels: np.ndarray,
    results: list[PeakPairResult],
    threshold: float,
) -> tuple[dict[str, object], list[dict[str, object]]]:
    """One frame row and one row per true particle (``particles``: the meta of those seen, in
    label order, each with ``edge``) of one method, dose and scene (``key``); see
    :data:`FRAME_COLUMNS`, :data:`PARTICLE_COLUMNS`."""
    matches = match_particles(truth, labels)
    frame = {
        **key,
        "true": len(matches.partner),
        "predicted": matches.iou.shape[1],
        "found": matches.found,
        "false": matches.false,
        "intersection": matches.intersection,
        "union": matches.union,
    }
    rows = []
    for k, (particle, partner) in enumerate(zip(particles, matches.partner, strict=True)):
        ratio = results[partner - 1].ratio if partner else math.nan
        zone = name_zone(results[partner - 1].pairs) if partner else ""
        rows.append(
            {
                **key,
                "particle": k + 1,
                "shape": particle["shape"],
                "zone_axis": particle["zone_axis"],
                "tilt": particle["tilt"],
                "diameter": particle["diameter"],
                "edge": particle["edge"],
                "found": bool(partner),
                "iou": float(matches.iou[k, partner - 1]) if partner else math.nan,
                "ratio": ratio,
                "classified_on": on_zone(zone, ratio, threshold) if partner else math.nan,
                "zone_named": zone,
            }
        )
    return frame, rows


def check_benchmark_doses(doses: Sequence[float]) -> list[float]:
    """``doses`` [e-/Å^2] as floats: one or more finite values > 0, else a SpecError."""
    values = [float(d) for d in doses]
    if not values or not all(math.isfinite(d) and d > 0 for d in values):
        raise SpecError(f"doses: need one or more finite values > 0 e-/Å^2, got {list(doses)}")
    return values


def form_frames(
    sample: Sample,
    optics: ImageFormationConfig,
    doses: Sequence[float],
    sampling: float,
    size: int,
    seed: int,
) -> tuple[list[np.ndarray], DetectorGrid]:
    """The raw frames ``[C, size, size]`` [counts per pixel] of a scene at each of ``doses``
    [e-/Å^2] and their grid; the microscope is drawn from ``optics`` by (seed, scene index), the
    same at every dose (the lens applied once)."""
    formation = ImageFormation(frame_optics(optics, doses[0], sampling, size))
    params = formation.draw_fixed([int(sample.meta["index"])], seed)
    wave = torch.from_numpy(np.ascontiguousarray(sample.exit_wave))[None]
    grid = formation.grid(wave.shape[-2:], sample.sampling, params)
    area = float(grid.sampling[0].prod())  # [Å^2] of a pixel: a dose in electrons per pixel
    images = formation.at_doses(wave, sample.sampling, params, doses)
    return [
        (image[0] * dose * area).numpy() for image, dose in zip(images, doses, strict=True)
    ], grid


def score_scene(
    sample: Sample,
    models: dict[str, nn.Module],
    doses: Sequence[float],
    setup: SceneSetup,
    seed: int,
    frame: tuple[float, int],
    bar: tqdm,
) -> tuple[list[dict], list[dict], Example]:
    """One scene's frame and particle rows for every method at each of ``doses`` (``frame``: the
    model's sampling [Å/px] and the frame's size [px] at it), and its frame at the dose nearest
    200 e-/Å^2 for the example figure; ``bar`` advances by one per dose."""
    settings = setup.settings.resolved()
    sampling, size = frame
    index = int(sample.meta["index"])
    pixel_size = frame_sampling(setup, seed, index)
    pixels = round(frame_extent(size, sampling) / pixel_size)
    shown = min(doses, key=lambda d: abs(math.log(d / 200.0)))
    frames, particles, example = [], [], None
    images, grid = form_frames(sample, setup.optics, doses, pixel_size, pixels, seed)
    pixel = (float(grid.sampling[0, 0]), float(grid.sampling[0, 1]))
    min_px, _ = cleaning_pixels(settings.min_area, settings.opening, pixel)
    seen = true_labels(sample, grid, setup.label_radius, min_px)  # the same grid at every dose
    metas = [
        {**sample.meta["particles"][k], "edge": edge}
        for k, edge in zip(seen.index, seen.edge, strict=True)
    ]
    for dose, image in zip(doses, images, strict=True):
        predicted = {}
        for method in [*models, CLASSICAL, TRUTH]:
            labels, results = detect(method, models, image, seen.labels, pixel, settings)
            key = {"method": method, "dose": dose, "scene": index, "sampling": pixel[0]}
            row, rows = score(key, metas, seen.labels, labels, results, settings.threshold)
            frames.append(row)
            particles += rows
            predicted[method] = labels
        if dose == shown:
            example = Example(index, image[0], pixel, dose, seen.labels, predicted)
        bar.update()
    return frames, particles, example


def scene_benchmark(
    models: dict[str, nn.Module],
    scenes: int,
    doses: Sequence[float] = DOSES,
    size: int = SIZE,
    setup: SceneSetup | None = None,
    progress: bool = True,
) -> SceneResult:
    """Score ``models`` (label -> loaded nanoparticle model), the classical baseline and the true
    masks on ``scenes`` held-out frames of ``size`` px (at the model's sampling) at each dose;
    see the module doc. The example frame is the first scene with the most particles, at the dose
    nearest 200 e-/Å^2."""
    from hrtem_sim import open_dataset, spec_hash

    doses = check_benchmark_doses(doses)
    setup = setup or default_setup()
    setup.settings.resolved()  # a bad material fails before any simulation
    if not models:
        raise SpecError("the scene benchmark needs at least one model")
    for model in models.values():
        model.config.class_index("particle")  # a CardError for a model of another task
    sampling = float(next(iter(models.values())).config.sampling)
    spec = scene_spec(setup, scenes, sampling, size)
    path = simulate_scenes(spec, setup.root, setup.workers, progress)
    frames, particles, example = [], [], None
    bar = tqdm(total=scenes * len(doses), desc="scene frames", unit="frame", disable=not progress)
    threads = torch.get_num_threads()
    torch.set_num_threads(max(1, threads // setup.parallel))  # the cores shared by the scenes
    try:
        with open_dataset(path) as dataset, bar, ThreadPoolExecutor(setup.parallel) as pool:

            def one(i: int) -> tuple[list[dict], list[dict], Example]:
                return score_scene(
                    dataset[i], models, doses, setup, spec.seed, (sampling, size), bar
                )

            for scene_frames, scene_particles, shown in pool.map(one, range(len(dataset))):
                frames += scene_frames
                particles += scene_particles
                if example is None or shown.truth.max() > example.truth.max():
                    example = shown
    finally:
        torch.set_num_threads(threads)
    frames_table = pd.DataFrame(frames, columns=FRAME_COLUMNS)
    particles_table = pd.DataFrame(particles, columns=PARTICLE_COLUMNS)
    return SceneResult(
        summary=summarise(frames_table, particles_table).assign(
            substrates=", ".join(spec.structure.params.substrates),
            exposure=lambda table: table["method"].map(
                lambda m: (
                    exposure(models[m].config, spec.structure.params.substrates)
                    if m in models
                    else "-"
                )
            ),
        ),
        frames=frames_table,
        particles=particles_table,
        example=example,
        spec_hash=spec_hash(spec),
        path=path,
        size=size,
        sampling=sampling,
        frame_sampling=setup.frame_sampling,
    )
