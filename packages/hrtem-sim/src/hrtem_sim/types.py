"""Plain data carried between the simulation steps: structures, projected columns and samples.

Conventions (abTEM's, kept everywhere): lengths in Å; the beam runs along +z; arrays are indexed
``[ix, iy]`` and pixel ``(i, j)`` sits at ``(x, y) = (i * sampling[0], j * sampling[1])``, offset 0.
A position ``(p0, p1)`` in Å therefore lands at array index ``(p0 / sampling[0], p1 / sampling[1])``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from ase import Atoms


ADDED_PARAM = {"hash": "omitted at default"}
"""Field metadata of a spec parameter added after datasets were written with the spec: at its
default it is left out of the spec's hash (:func:`hrtem_sim.spec.spec_hash`), so those datasets
keep their hash and stay valid."""


@dataclass(frozen=True)
class Columns:
    """Atoms grouped into columns along the beam.

    positions: [M, 2] float64, (x, y) in Å in the exit wave's frame.
    classes:   [M] int64 class indices, >= 1 (0 is background and never a column).
    counts:    [M] int64 number of atoms in each column.
    """

    positions: np.ndarray
    classes: np.ndarray
    counts: np.ndarray

    def __len__(self) -> int:
        return len(self.classes)


@dataclass(frozen=True)
class Structure:
    """A generated structure, before multislice.

    atoms:    ASE Atoms in an orthogonal cell, beam along +z.
    labelled: [N] bool, the atoms that carry labels (the particle, or the MoS2 layer).
    meta:     JSON-serialisable structure parameters (shape, size, zone axis, tilt, substrate, ...).
    """

    atoms: Atoms
    labelled: np.ndarray
    meta: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Sample:
    """One simulated sample as stored in a dataset.

    exit_wave: [H, W] complex64 exit wave, abTEM array order (axis 0 = x).
    sampling:  (sx, sy) in Å/px, read back from abTEM.
    columns:   the labelled columns, positions in the exit wave's frame.
    atoms:     the atoms abTEM sliced (``potential.get_transformed_atoms()``, wrapped into the
               cell), with a boolean per-atom array ``"labelled"``.
    meta:      structure parameters, seed and sample index.
    """

    exit_wave: np.ndarray
    sampling: tuple[float, float]
    columns: Columns
    atoms: Atoms
    meta: dict[str, Any]
