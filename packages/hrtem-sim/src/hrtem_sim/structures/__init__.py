"""Seeded structure generators, by name.

``build_structure(kind, params, cell, rng)`` returns a :class:`~hrtem_sim.types.Structure`: ASE
atoms in an orthogonal cell with the beam along +z, which atoms carry labels, and a
JSON-serialisable record of every random draw. All randomness comes from ``rng``, so one seed
gives one structure. Kinds:

- ``au_particle`` (:class:`AuParticleParams`): an Au nanoparticle on a zone axis, turned and
  tilted, on amorphous carbon, a CeO2 slab or nothing; the cell is (Lx, Ly) exactly.
- ``au_scene`` (:class:`AuSceneParams`): a larger periodic cell with zero to several Au particles
  (on and off their zone axes, no overlaps) on amorphous carbon, holey carbon, CeO2 or nothing,
  or substrate only (nothing labelled).
- ``mos2`` (:class:`MoS2Params`): a MoS2 monolayer with vacancies; the cell is the commensurate
  one nearest (Lx, Ly). ``mos2_flake`` (:class:`MoS2FlakeParams`): that layer cut to a flake
  with holes.

Params are dataclasses of OmegaConf-compatible fields (floats, strings, lists), so a spec's YAML
validates against ``OmegaConf.structured(params_type(kind))``.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np
from omegaconf import DictConfig, OmegaConf

from hrtem_sim.errors import StructureError
from hrtem_sim.structures.gold import AuParticleParams, build_au_particle
from hrtem_sim.structures.mos2 import MoS2FlakeParams, MoS2Params, build_mos2
from hrtem_sim.structures.scene import AuSceneParams, build_au_scene
from hrtem_sim.types import Structure

STRUCTURES: dict[str, tuple[type, Callable[..., Structure]]] = {
    "au_particle": (AuParticleParams, build_au_particle),
    "au_scene": (AuSceneParams, build_au_scene),
    "mos2": (MoS2Params, build_mos2),
    "mos2_flake": (MoS2FlakeParams, build_mos2),
}

__all__ = [
    "STRUCTURES",
    "AuParticleParams",
    "AuSceneParams",
    "MoS2FlakeParams",
    "MoS2Params",
    "build_structure",
    "list_structures",
    "params_type",
]


def list_structures() -> list[str]:
    """The known structure kinds, sorted."""
    return sorted(STRUCTURES)


def params_type(kind: str) -> type:
    """The params dataclass of ``kind``; StructureError naming the kind and the known ones."""
    if kind not in STRUCTURES:
        raise StructureError(
            f"unknown structure kind {kind!r}; known: {', '.join(list_structures())}"
        )
    return STRUCTURES[kind][0]


def build_structure(
    kind: str, params: Any, cell: tuple[float, float], rng: np.random.Generator
) -> Structure:
    """One structure of ``kind`` in a lateral cell (Lx, Ly) [Å], every draw from ``rng``.

    params: an instance of ``params_type(kind)``, a structured DictConfig of it, or None for
    its defaults. Raises StructureError for bad params, a bad cell or a particle that cannot fit.
    """
    expected = params_type(kind)
    if params is None:
        params = expected()
    elif isinstance(params, DictConfig):
        params = OmegaConf.to_object(params)
    if not isinstance(params, expected):
        raise StructureError(
            f"structure {kind!r} takes {expected.__name__} params, got {type(params).__name__}"
        )
    lateral = tuple(float(v) for v in cell)
    if len(lateral) != 2 or not all(math.isfinite(v) and v > 0 for v in lateral):
        raise StructureError(
            f"{kind}: cell must be two positive lengths (Lx, Ly) in Å, got {list(cell)}"
        )
    return STRUCTURES[kind][1](params, lateral, rng)
