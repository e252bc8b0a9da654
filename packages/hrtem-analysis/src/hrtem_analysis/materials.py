"""Materials: the lattice d-spacings a particle's Fourier peaks are paired at, and the zone-axis
threshold on the peak-pair ratio calibrated for them on simulations.

One YAML per material, ``configs/materials/<name>.yaml`` (the project's ``configs/``: see
:func:`hrtem_core.paths.config_dir`), written by ``hrtem check threshold``::

    # how it was made (command and numbers)
    name: au
    d_spacings: [2.355, 2.039]   # [Å]
    threshold: 3.1               # peak-pair ratio; <= threshold: on a zone axis
    calibration: {...}           # what the threshold was derived from

The analysis reads it for the default ``--threshold`` and d-spacings. No torch here.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from hrtem_core.atomic import atomic_write_text
from hrtem_core.errors import SpecError
from hrtem_core.paths import config_dir


@dataclass(frozen=True)
class Material:
    """name; d_spacings [Å]; threshold: the peak-pair ratio at and below which a particle is on a
    zone axis; calibration: how the threshold was derived (free-form, from the YAML)."""

    name: str
    d_spacings: tuple[float, ...]
    threshold: float
    calibration: dict[str, Any] = field(default_factory=dict)


def material_path(material: str | Path) -> Path:
    """A material's YAML: ``material`` itself when it names a ``.yaml`` file, else
    ``configs/materials/<material>.yaml``."""
    path = Path(material)
    if path.suffix in (".yaml", ".yml"):
        return path
    return config_dir() / "materials" / f"{material}.yaml"


@functools.lru_cache(maxsize=8)
def load_material(material: str | Path) -> Material:
    """The material named ``material`` (or the YAML at that path); SpecError naming the file when
    it is missing or malformed."""
    path = material_path(material)
    if not path.is_file():
        known = sorted(p.stem for p in path.parent.glob("*.yaml")) if path.parent.is_dir() else []
        raise SpecError(
            f"material {str(material)!r}: no file {path} (known: {', '.join(known) or 'none'}); "
            "make one with `hrtem check threshold`"
        )
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
        result = Material(
            name=str(raw["name"]),
            d_spacings=tuple(float(d) for d in raw["d_spacings"]),
            threshold=float(raw["threshold"]),
            calibration=dict(raw.get("calibration") or {}),
        )
    except (yaml.YAMLError, KeyError, TypeError, ValueError) as error:
        reason = str(error).splitlines()[0] if str(error) else type(error).__name__
        raise SpecError(
            f"{path}: not a material file with name, d_spacings and threshold ({reason})"
        ) from None
    if not (result.d_spacings and all(d > 0 for d in result.d_spacings)):
        raise SpecError(f"{path}: d_spacings must be positive lengths [Å], got {result.d_spacings}")
    if not (math.isfinite(result.threshold) and result.threshold >= 1):
        raise SpecError(f"{path}: threshold must be a finite ratio >= 1, got {result.threshold}")
    return result


def write_material(material: Material, path: Path, comment: str) -> Path:
    """Write ``material`` to ``path`` atomically, ``comment`` (lines) as a header."""
    header = "".join(f"# {line}".rstrip() + "\n" for line in comment.splitlines())
    body = yaml.safe_dump(
        {
            "name": material.name,
            "d_spacings": [float(d) for d in material.d_spacings],
            "threshold": float(material.threshold),
            "calibration": material.calibration,
        },
        sort_keys=False,
        allow_unicode=True,
    )
    written = atomic_write_text(path, header + body)
    load_material.cache_clear()
    return written
