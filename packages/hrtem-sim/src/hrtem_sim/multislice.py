"""Exit waves: abTEM 1.0 multislice of one structure under plane-wave illumination.

Conventions (abTEM's, kept as they come): the beam runs along +z; the exit wave is indexed
``[ix, iy]`` and pixel ``(i, j)`` sits at ``(x, y) = (i * sampling[0], j * sampling[1])``, offset 0,
so an atom at ``(x, y)`` lands at array index ``(x / sampling[0], y / sampling[1])``. The sampling
is read back from abTEM (``extent / gpts``), never assumed. Labels come from the atoms abTEM
actually slices (``potential.get_transformed_atoms()``), wrapped into the cell as abTEM wraps them.

No CTF, noise or MTF here: image formation (``hrtem_sim.optics``) applies those at training time.
abTEM is imported inside the functions so that ``import hrtem_sim`` stays light.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from ase import Atoms

from hrtem_sim.spec import SimulationSpec
from hrtem_sim.types import Structure

_SMOOTH_PRIMES = (2, 3, 5, 7)


@dataclass(frozen=True)
class ExitWave:
    """array: [H, W] complex64 exit wave; sampling: (sx, sy) [Å/px]; atoms: the sliced atoms,
    wrapped into the cell, with the bool per-atom array ``"labelled"``."""

    array: np.ndarray
    sampling: tuple[float, float]
    atoms: Atoms


def fft_friendly(n: int) -> int:
    """The smallest integer >= n whose prime factors are all 2, 3, 5 or 7."""
    m = max(int(n), 1)
    while True:
        rest = m
        for p in _SMOOTH_PRIMES:
            while rest % p == 0:
                rest //= p
        if rest == 1:
            return m
        m += 1


def grid_points(cell: tuple[float, float], sampling: float) -> tuple[int, int]:
    """FFT-friendly gpts for a cell (Lx, Ly) [Å] at a sampling of at most ``sampling`` [Å/px]."""
    nx, ny = (fft_friendly(math.ceil(length / sampling - 1e-9)) for length in cell)
    return nx, ny


def exit_wave(structure: Structure, simulation: SimulationSpec, phonon_seed: int = 0) -> ExitWave:
    """The exit wave of ``structure`` for plane-wave illumination at ``simulation.energy`` [eV].

    With frozen phonons on (``num_configs > 0``), ``num_configs`` displaced configurations
    (std ``sigma`` [Å] per direction, drawn from ``phonon_seed``) are simulated and their complex
    exit waves averaged (the coherent, elastic part of the wave). Runs single-threaded on the
    calling process (dask ``scheduler="synchronous"``), without progress bars.
    """
    import abtem

    atoms = structure.atoms.copy()
    atoms.set_array("labelled", np.asarray(structure.labelled, dtype=bool))
    if not abtem.atoms.is_cell_orthogonal(atoms):
        atoms = abtem.orthogonalize_cell(atoms)  # repeats atoms, carrying their arrays along
    cell = (float(atoms.cell[0, 0]), float(atoms.cell[1, 1]))
    phonons = simulation.frozen_phonons
    source = (
        abtem.FrozenPhonons(
            atoms, num_configs=phonons.num_configs, sigmas=phonons.sigma, seed=phonon_seed
        )
        if phonons.num_configs > 0
        else atoms
    )
    potential = abtem.Potential(
        source,
        gpts=grid_points(cell, simulation.sampling),
        slice_thickness=simulation.slice_thickness,
        parametrization=simulation.parametrization,
        projection="infinite",
    )
    waves = abtem.PlaneWave(energy=simulation.energy).multislice(potential, lazy=True)
    waves = waves.compute(scheduler="synchronous", progress_bar=False)
    array = np.asarray(waves.array)
    if phonons.num_configs > 0:
        array = array.mean(axis=0)
    sampling = (float(waves.sampling[0]), float(waves.sampling[1]))
    return ExitWave(array.astype(np.complex64), sampling, _sliced_atoms(potential))


def _sliced_atoms(potential: object) -> Atoms:
    """The atoms abTEM slices, wrapped into [0, L) per axis as abTEM wraps them."""
    atoms = potential.get_transformed_atoms().copy()  # type: ignore[attr-defined]
    if "labelled" not in atoms.arrays:
        raise RuntimeError("abTEM dropped the per-atom 'labelled' array while slicing")
    lengths = np.diag(np.asarray(atoms.cell))
    positions = np.mod(atoms.positions, lengths)
    positions[(positions > lengths - 1e-10) | (np.abs(positions) < 1e-10)] = 0.0
    atoms.positions = positions
    return atoms
