"""A simulated series with known content: one Au particle on amorphous carbon that drifts, tilts
off axis in some frames and loses or regains surface columns at known frames.

Frame t shows the specimen (particle and carbon together) shifted by the drift ``r_t`` [Å]
(each step drawn with a length up to ``max_drift`` in a random direction, reflected to keep the
particle inside the cell), the particle tilted by ``tilt`` [deg] about its centre on the frames
``tilted``, and without the atoms of the columns removed so far. At each frame of ``events``,
``columns_per_event`` columns of the particle's outline toggle: those removed earlier return
(appear), else as many new ones, far apart, are removed (vanish). Each frame is an independent
abTEM simulation imaged by one :class:`~hrtem_sim.frames.Microscope` with its own
noise. The truth: per frame whether it is on axis, the columns present and their positions
[Å] in that frame, and r_t.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
from hrtem_analysis.columns import group_close
from hrtem_msd.nets.points import spacing
from hrtem_sim.frames import Microscope, SimulatedFrame, simulate_frame

if TYPE_CHECKING:
    from hrtem_sim.types import Structure

_VACUUM = 4.0  # [Å] kept below and above the atoms when a tilt moves them along z


@dataclass(frozen=True)
class Scenario:
    """frames; cell [Å] (square); diameter [Å] (within 15 %), shape and zone_axis of the Au particle; carbon:
    a-C thickness [Å]; max_drift [Å per frame]; tilted: frames shown ``tilt`` [deg] off axis;
    events: frames at which ``columns_per_event`` outline columns toggle; seed."""

    frames: int = 12
    cell: float = 56.0
    diameter: float = 30.0
    shape: str = "truncated_octahedron"
    zone_axis: str = "110"
    carbon: float = 20.0
    max_drift: float = 3.0
    tilted: tuple[int, ...] = (4, 9)
    tilt: float = 12.0
    events: tuple[int, ...] = (3, 6, 10)
    columns_per_event: int = 5
    seed: int = 0


@dataclass(frozen=True)
class Truth:
    """What the series holds. on_axis ``[T]`` bool; drift ``[T, 2]`` r_t [Å] (the specimen's
    offset from frame 0); present ``[T, K]`` bool: column k in frame t; columns ``[K, 2]`` [Å]:
    column positions in frame 0 (in frame t at ``columns + drift[t]``, wrapped into the cell);
    cell [Å]."""

    on_axis: np.ndarray
    drift: np.ndarray
    present: np.ndarray
    columns: np.ndarray
    cell: float

    def positions(self, frame: int, which: np.ndarray | None = None) -> np.ndarray:
        """Positions ``[N, 2]`` [Å] in frame ``frame`` of the columns ``which`` (default: present)."""
        which = self.present[frame] if which is None else which
        return np.mod(self.columns[which] + self.drift[frame], self.cell)


def _drifts(scenario: Scenario, room: float, rng: np.random.Generator) -> np.ndarray:
    """Offsets r_t ``[T, 2]`` [Å] from r_0 = 0: steps up to max_drift, reflected at +-room."""
    offsets = np.zeros((scenario.frames, 2))
    for t in range(1, scenario.frames):
        length = rng.uniform(0.3, 1.0) * scenario.max_drift
        angle = rng.uniform(0, 2 * np.pi)
        step = length * np.array([np.cos(angle), np.sin(angle)])
        nxt = offsets[t - 1] + step
        step = np.where(np.abs(nxt) > room, -step, step)  # reflect inside the room
        offsets[t] = offsets[t - 1] + step
    return offsets


def _outline(columns: np.ndarray) -> np.ndarray:
    """Indices of the columns with fewer neighbours (within 1.2 column spacings) than most."""
    distance = np.hypot(*(columns[:, None] - columns[None]).transpose(2, 0, 1))
    neighbours = (distance < 1.2 * spacing(columns)).sum(axis=1) - 1
    return np.flatnonzero(neighbours < np.median(neighbours))


def _spread(candidates: np.ndarray, columns: np.ndarray, n: int, rng: np.random.Generator):
    """``n`` of ``candidates`` far apart (greedy farthest point from a random start)."""
    chosen = [int(rng.choice(candidates))]
    while len(chosen) < min(n, len(candidates)):
        distance = np.min(
            np.hypot(*(columns[candidates, None] - columns[chosen][None]).transpose(2, 0, 1)),
            axis=1,
        )
        chosen.append(int(candidates[np.argmax(distance)]))
    return np.array(chosen)


class SeriesScenario:
    """The particle and the truth of a :class:`Scenario`; :meth:`frame` simulates frame t."""

    def __init__(self, scenario: Scenario) -> None:
        from hrtem_sim.errors import require_simulation

        require_simulation("hrtem check series")
        from hrtem_sim.structures import AuParticleParams, build_structure

        self.scenario = scenario
        rng = np.random.default_rng(scenario.seed)
        params = AuParticleParams(
            diameter=[0.85 * scenario.diameter, 1.15 * scenario.diameter],
            shapes=[scenario.shape],
            zone_axes=[scenario.zone_axis],
            tilt=[0.0, 0.0],
            substrates=["carbon"],
            substrate_thickness=[scenario.carbon, scenario.carbon],
        )
        self.base = build_structure("au_particle", params, (scenario.cell,) * 2, rng)
        atoms, labelled = self.base.atoms, self.base.labelled
        xy = atoms.positions[labelled, :2]
        centre = (xy.max(axis=0) + xy.min(axis=0)) / 2
        shift = np.append(scenario.cell / 2 - centre, 0.0)  # the particle in the middle
        atoms.positions[labelled] += shift
        self.particle_xy = atoms.positions[labelled, :2]
        n, self.column_of = group_close(self.particle_xy, 0.5)
        counts = np.bincount(self.column_of, minlength=n)
        columns = np.stack(
            [np.bincount(self.column_of, self.particle_xy[:, a], n) / counts for a in (0, 1)], 1
        )
        extent = self.particle_xy.max(axis=0) - self.particle_xy.min(axis=0)
        room = max(0.0, (scenario.cell - extent.max()) / 2 - 4.0)
        drift = _drifts(scenario, room, rng)
        self.tilt_axis = rng.uniform(0, 360)
        present = np.ones((scenario.frames, n), dtype=bool)
        outline = _outline(columns)
        removed = np.zeros(0, dtype=int)
        for t in sorted(e for e in scenario.events if 0 < e < scenario.frames):
            if len(removed):
                present[t:, removed] = True
                removed = np.zeros(0, dtype=int)
            else:
                removed = _spread(outline, columns, scenario.columns_per_event, rng)
                present[t:, removed] = False
        on_axis = np.array([t not in scenario.tilted for t in range(scenario.frames)])
        self.truth = Truth(on_axis, drift, present, columns, scenario.cell)

    def structure(self, t: int) -> Structure:
        """The atoms of frame ``t``: drifted, tilted off axis if it is, columns removed."""
        from hrtem_sim.structures.orientation import tilt
        from hrtem_sim.types import Structure

        atoms = self.base.atoms.copy()
        labelled = self.base.labelled
        particle = np.flatnonzero(labelled)
        keep = np.ones(len(atoms), dtype=bool)
        keep[particle] = self.truth.present[t][self.column_of]
        if not self.truth.on_axis[t]:
            positions = atoms.positions[particle]
            centre = positions.mean(axis=0)
            rotation = tilt(self.scenario.tilt, self.tilt_axis)
            atoms.positions[particle] = rotation.apply(positions - centre) + centre
        atoms.positions[:, :2] = np.mod(
            atoms.positions[:, :2] + self.truth.drift[t], self.truth.cell
        )
        atoms.positions[:, 2] += max(0.0, _VACUUM - atoms.positions[:, 2].min())
        atoms.cell[2, 2] = max(atoms.cell[2, 2], atoms.positions[:, 2].max() + _VACUUM)
        atoms = atoms[keep]
        return Structure(atoms, labelled[keep], {**self.base.meta, "frame": t})

    def frame(self, t: int, microscope: Microscope) -> SimulatedFrame:
        """Frame ``t`` as ``microscope`` records it (noise seeded by t and the scenario's seed)."""
        return simulate_frame(self.structure(t), microscope, seed=self.scenario.seed * 1000 + t)
