"""Simulated frames with known content, for the checks that calibrate and test the analysis.

A structure (ASE atoms, :func:`hrtem_sim.structures.build_structure`) -> abTEM exit wave
(:func:`hrtem_sim.multislice.exit_wave`) -> the image one fixed :class:`Microscope` records
(:class:`hrtem_sim.optics.ImageFormation`: CTF with partial coherence, resampling to the
detector, Poisson noise at the dose, detector MTF) over the whole periodic cell, with the
particle's true mask (:func:`hrtem_sim.labels.render_mask`, as the nanoparticle task labels it).
Only project code; abTEM and ASE are imported when a frame is simulated, after
:func:`hrtem_sim.errors.require_simulation`. Arrays in abTEM order (axis 0 = x).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import torch
from hrtem_core.paths import config_dir

from hrtem_sim.labels import pad_points, render_mask
from hrtem_sim.optics import ImageFormation, ImageFormationConfig, MTFConfig, Range

if TYPE_CHECKING:
    from hrtem_sim.types import Structure


@dataclass(frozen=True)
class Microscope:
    """One microscope, fixed for every frame of a check.

    energy [eV]; defocus [Å] (= -C10, positive = underfocus, as abTEM); Cs [Å]; focal_spread [Å]
    (1/e width); dose [e-/Å^2] per frame; sampling [Å/px] of the detector; wave_sampling [Å/px]
    of the multislice (finer than the detector's); detector: an MTF YAML (None:
    ``configs/detector/default.yaml`` when present, else the default MTF).
    """

    energy: float = 300e3
    defocus: float = 100.0
    Cs: float = -1.0e5
    focal_spread: float = 30.0
    dose: float = 1000.0
    sampling: float = 0.2
    wave_sampling: float = 0.1
    detector: str | None = None


@dataclass(frozen=True)
class SimulatedFrame:
    """image ``[nx, ny]`` float32 (vacuum = 1); sampling (sx, sy) [Å/px]; mask ``[nx, ny]`` bool:
    the particle (discs of 1.5 Å around its atoms, holes closed)."""

    image: np.ndarray
    sampling: tuple[float, float]
    mask: np.ndarray


def _formation(microscope: Microscope, pixels: tuple[int, int]) -> ImageFormation:
    """Image formation with every range collapsed onto the microscope's values."""

    def fixed(value: float) -> Range:
        return Range(value, value)

    detector = microscope.detector
    if detector is None:
        default = config_dir() / "detector" / "default.yaml"
        detector = str(default) if default.is_file() else None
    config = ImageFormationConfig(
        energy=microscope.energy,
        defocus=fixed(microscope.defocus),
        Cs=fixed(microscope.Cs),
        astigmatism=fixed(0.0),
        astigmatism_angle=fixed(0.0),
        focal_spread=fixed(microscope.focal_spread),
        detector_sampling=fixed(microscope.sampling),
        output_size=list(pixels),
        dose=fixed(microscope.dose),
        mtf=MTFConfig(jitter=0.0),
        detector=detector,
        random_origin=False,
    )
    return ImageFormation(config)


def simulate_frame(structure: Structure, microscope: Microscope, seed: int = 0) -> SimulatedFrame:
    """The image of ``structure`` (its labelled atoms are the particle) over its whole cell;
    ``seed`` draws the noise."""
    from hrtem_sim.errors import require_simulation
    from hrtem_sim.spec import SimulationSpec

    require_simulation("simulating frames")
    from hrtem_sim.multislice import exit_wave

    simulation = SimulationSpec(energy=microscope.energy, sampling=microscope.wave_sampling)
    wave = exit_wave(structure, simulation)
    extent = np.asarray(wave.array.shape) * np.asarray(wave.sampling)
    pixels = tuple(math.floor(v / microscope.sampling + 1e-9) for v in extent)
    formation = _formation(microscope, pixels)  # type: ignore[arg-type]
    params = formation.draw_fixed([seed], seed)
    waves = torch.from_numpy(wave.array)[None]
    image = formation(waves, wave.sampling, params)[0, 0]
    grid = formation.grid(waves.shape[-2:], wave.sampling, params)
    labelled = wave.atoms.arrays["labelled"]
    points, _, valid = pad_points([wave.atoms.positions[labelled, :2]])
    mask = render_mask(points, valid, grid)[0].numpy().astype(bool)
    sampling = tuple(float(v) for v in grid.sampling[0])
    return SimulatedFrame(image.numpy().astype(np.float32), sampling, mask)  # type: ignore[arg-type]
