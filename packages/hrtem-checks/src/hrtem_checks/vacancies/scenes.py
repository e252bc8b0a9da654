"""Realistic MoS2 focal series with known vacancies: the frames of the realistic vacancy check.

Scenes are exit waves simulated from a data spec (``data_specs/mos2_scenes.yaml``: MoS2 flakes
with holes in a cell larger than the frame, seeds disjoint from training) by hrtem_sim's dataset
machinery, so they are cached on disk by their spec hash (``DATA/<name>-<hash>/``) and resumed
like any dataset; simulating needs ``hrtem-sim[simulate]``. Each scene becomes, at each dose, a
focal series as a microscope takes it (:func:`scene_frames`):

- the model's microscope ranges (Cs, astigmatism, focal spread, MTF: one fixed draw per scene),
  the model's nominal sampling and the series' defocus;
- a field of view of ``FIELD`` of the cell per axis, centred on the flake to within ``JITTER``
  of the frame, so the frame cuts the lattice on some sides and shows flake edges, holes and
  vacuum on others;
- drift between the images, uniform in time (up to ``DRIFT`` per image, in any direction) plus
  ``DRIFT_JITTER`` per image: each image is formed at its own position in the exit wave (new
  content comes in at the edges, as in a real series), with its own Poisson noise at the dose.

The truth of a frame (:class:`SceneTruth`): every S site of the flake, in the reference image's
frame [Å], with the S atoms it lost (0: S2, 1: S1, 2: empty), and the species labels on the
reference image's grid (what a perfect model would see).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import torch
from hrtem_sim.labels import pad_points, render_columns
from hrtem_sim.optics import DetectorGrid, ImageFormation, ImageFormationConfig, Range

if TYPE_CHECKING:
    from hrtem_sim.types import Sample

FIELD = 0.75  # field of view / cell extent, per axis
JITTER = 0.15  # frame centre within this fraction of the frame of the flake's centre
DRIFT = 1.0  # [Å] largest drift per image (uniform in time)
DRIFT_JITTER = 0.1  # [Å] standard deviation of each image's deviation from uniform drift


@dataclass(frozen=True)
class SceneTruth:
    """sites ``[S, 2]`` [Å] (reference image's frame: pixel (i, j) at (i sx, j sy)); lost ``[S]``
    S atoms lost per site (0, 1, 2); labels ``[nx, ny]`` int64 species on the reference grid."""

    sites: np.ndarray
    lost: np.ndarray
    labels: np.ndarray


@dataclass(frozen=True)
class SceneFrame:
    """One focal series: scene index, dose [e-/Å^2], image ``[C, nx, ny]`` float32 (vacuum 1),
    sampling (sx, sy) [Å/px], defocus [Å] per image, drift ``[C, 2]`` [Å] of each image against
    the reference (content moved by it), and the truth."""

    scene: int
    dose: float
    image: np.ndarray
    sampling: tuple[float, float]
    defocus: tuple[float, ...]
    drift: np.ndarray
    truth: SceneTruth


def simulate_scenes(
    spec_path: str | Path, profile: str, root: str | Path, workers: int | None, progress: bool
) -> Path:
    """The scenes' dataset directory under ``root``, simulated where missing (cached by hash)."""
    from hrtem_sim import load_spec, simulate_dataset
    from hrtem_sim.errors import require_simulation

    require_simulation("simulating the realistic MoS2 scenes")
    spec = load_spec(spec_path, profile=profile)
    return simulate_dataset(spec, root, workers=workers, progress=progress)


def _drift(rng: np.random.Generator, channels: int, reference: int) -> np.ndarray:
    """``[C, 2]`` [Å]: uniform drift in time plus jitter, 0 for the reference image."""
    angle = rng.uniform(0, 2 * np.pi)
    speed = DRIFT * np.sqrt(rng.random()) * np.array([np.cos(angle), np.sin(angle)])
    steps = np.arange(channels)[:, None] - reference
    drift = steps * speed + rng.normal(0.0, DRIFT_JITTER, (channels, 2))
    return drift - drift[reference]


def scene_frames(
    sample: Sample,
    optics: ImageFormationConfig,
    sampling: float,
    defocus: Sequence[float],
    reference: int,
    doses: Sequence[float],
    seed: int,
    spot: float,
) -> list[SceneFrame]:
    """The focal series of one scene (an :class:`hrtem_sim.types.Sample` of the scenes' dataset)
    at each dose; ``optics``: the model's microscope ranges; ``sampling`` [Å/px] of the frames;
    ``defocus`` [Å] of each image; ``spot`` [Å]: the model's label disc radius. Everything but
    the noise is the same at every dose; all draws come from ``seed`` and the scene's index."""
    index = int(sample.meta["index"])
    wave = torch.from_numpy(np.ascontiguousarray(sample.exit_wave))[None]
    wave_sampling = tuple(float(s) for s in sample.sampling)
    period = np.array(wave.shape[-2:]) * np.array(wave_sampling)
    shape = [int(FIELD * length / sampling) for length in period]
    config = dataclasses.replace(
        optics,
        output_size=shape,
        detector_sampling=Range(sampling, sampling),
        random_origin=False,
        camera_sampling=None,
    )
    formation = ImageFormation(config)
    drawn = formation.draw_fixed([index], seed)  # this scene's microscope
    grid = formation.grid(wave.shape[-2:], wave_sampling, drawn)
    extent = np.array(shape) * grid.sampling[0].numpy()
    rng = np.random.default_rng([seed, index, 0x5CE])
    origin = period / 2 - extent / 2 + rng.uniform(-JITTER, JITTER, 2) * extent
    drift = _drift(rng, len(defocus), reference)
    truth = _truth(sample, dataclasses.replace(grid, origin=torch.from_numpy(origin[None])), spot)
    frames = []
    for dose in doses:
        images = []
        for c, value in enumerate(defocus):
            lens = dataclasses.replace(drawn.lens, defocus=torch.tensor([[float(value)]]))
            params = dataclasses.replace(
                drawn,
                lens=lens,
                dose=torch.tensor([float(dose)]),
                origin=torch.tensor(np.mod((origin - drift[c]) / period, 1.0)[None]).float(),
                noise_seed=torch.tensor([int(rng.integers(2**62))]),
            )
            images.append(formation(wave, wave_sampling, params)[0, 0].numpy())
        frames.append(
            SceneFrame(
                scene=index,
                dose=float(dose),
                image=np.stack(images).astype(np.float32),
                sampling=tuple(float(s) for s in grid.sampling[0]),
                defocus=tuple(float(d) for d in defocus),
                drift=drift,
                truth=truth,
            )
        )
    return frames


def _truth(sample: Sample, grid: DetectorGrid, spot: float) -> SceneTruth:
    """The scene's S sites and species labels seen from the reference image's ``grid``."""
    columns = sample.columns
    empty = np.array(sample.meta.get("empty_sites", []), dtype=float).reshape(-1, 2)
    is_s = columns.classes > 1
    sites = np.concatenate([columns.positions[is_s], empty])
    lost = np.concatenate([columns.classes[is_s] - 2, np.full(len(empty), 2)]).astype(np.int64)
    points, classes, valid = pad_points([columns.positions], [columns.classes])
    labels = render_columns(points, classes, valid, grid, spot=spot)[0].numpy()
    offset = np.mod(sites - grid.origin[0].numpy(), grid.period[0].numpy())
    return SceneTruth(offset, lost, labels)
