"""Data specs: the typed description of a simulated dataset, its size profiles and its hash.

A spec file (``data_specs/*.yaml``) holds one :class:`DataSpec` plus ``profiles:``, a mapping of
profile name (``tiny``, ``small``, ``full``) to a dot-list of overrides merged onto the spec::

    profiles:
      tiny: ["samples=4", "structure.cell=[20, 20]", "simulation.sampling=0.2"]

:func:`load_spec` applies the profile, validates every key against the dataclasses below (the
structure's ``params`` against ``hrtem_sim.structures.params_type(kind)``) and checks ranges.
Any problem is one :class:`~hrtem_core.errors.SpecError` naming the file and the key. The
resolved spec holds no profiles; :func:`spec_hash` hashes it, and :func:`dataset_path` names the
dataset directory ``<root>/<name>-<hash>``.
"""

from __future__ import annotations

import dataclasses
import difflib
import hashlib
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from hrtem_core.errors import SpecError
from omegaconf import MISSING, OmegaConf
from omegaconf.errors import ConfigKeyError, MissingMandatoryValue, OmegaConfBaseException

from hrtem_sim.errors import StructureError
from hrtem_sim.types import ADDED_PARAM

PROFILES = ("tiny", "small", "full")
TASK_SCHEMES = {"nanoparticle": "particle", "columns": "particle", "mos2": "mos2"}
PARAMETRIZATIONS = ("lobato", "kirkland", "peng")
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")


@dataclass(frozen=True)
class StructureSpec:
    """kind: a generator of ``hrtem_sim.structures``; cell: (Lx, Ly) [Å]; params: its random ranges."""

    kind: str = MISSING
    cell: tuple[float, float] = MISSING
    params: Any = None


@dataclass(frozen=True)
class LabelSpec:
    """scheme: column classes (``hrtem_sim.columns.COLUMN_CLASSES``); tolerance [Å] of grouping."""

    scheme: str = MISSING
    tolerance: float = 0.5


@dataclass(frozen=True)
class FrozenPhononsSpec:
    """num_configs: configurations averaged (0 = off); sigma [Å]: displacement std per direction."""

    num_configs: int = 0
    sigma: float = 0.0


@dataclass(frozen=True)
class SimulationSpec:
    """energy [eV], sampling [Å/px] (upper bound: the grid is rounded up to an FFT-friendly size),
    slice_thickness [Å], abTEM potential parametrization."""

    energy: float = MISSING
    sampling: float = MISSING
    slice_thickness: float = 1.0
    parametrization: str = "lobato"
    frozen_phonons: FrozenPhononsSpec = field(default_factory=FrozenPhononsSpec)


@dataclass(frozen=True)
class DataSpec:
    """A resolved dataset spec. Sample i is drawn from ``default_rng([seed, i])``; shard k holds
    samples ``[k * shard_size, (k + 1) * shard_size)``."""

    name: str = MISSING
    task: str = MISSING
    seed: int = MISSING
    structure: StructureSpec = field(default_factory=StructureSpec)
    labels: LabelSpec = field(default_factory=LabelSpec)
    simulation: SimulationSpec = field(default_factory=SimulationSpec)
    samples: int = MISSING
    shard_size: int = MISSING

    @property
    def num_shards(self) -> int:
        return -(-self.samples // self.shard_size)

    def shard_indices(self, shard: int) -> range:
        """The sample indices held by shard ``shard``."""
        start = shard * self.shard_size
        return range(start, min(start + self.shard_size, self.samples))


def load_spec(path: str | Path, profile: str | None = None, build: bool = True) -> DataSpec:
    """Read, validate and resolve the spec at ``path`` with ``profile`` (None: no overrides);
    build: as :func:`spec_from_yaml`."""
    return spec_from_yaml(_read(path), str(path), profile, build)


def spec_profiles(path: str | Path) -> list[str]:
    """The names of the profiles the spec at ``path`` defines, in the file's order."""
    profiles = _parse(_read(path), str(path)).get("profiles") or {}
    if not isinstance(profiles, dict):
        raise SpecError(f"{path}: profiles: expected a mapping of profile name to overrides")
    return list(profiles)


def _read(path: str | Path) -> str:
    try:
        return Path(path).read_text()
    except FileNotFoundError:
        raise SpecError(f"{path}: no such spec file") from None
    except OSError as error:
        raise SpecError(f"{path}: cannot read spec file: {error.strerror}") from None


def spec_from_yaml(
    text: str, source: str, profile: str | None = None, build: bool = True
) -> DataSpec:
    """Validate and resolve spec YAML ``text``; ``source`` names it in errors. build: also build
    sample 0's structure to check the params against the cell (needs the simulate extra; seconds
    for a large scene), off for the spec a simulated dataset stores (checked when it was made)."""
    raw = _parse(text, source)
    profiles = raw.pop("profiles", {}) or {}
    if profile is not None:
        raw = _apply_profile(raw, profiles, profile, source)
    structure = raw.get("structure")
    params = (structure.pop("params", None) if isinstance(structure, dict) else None) or {}
    spec = _typed(DataSpec, raw, source, prefix="")
    _check_ranges(spec, source)
    params_obj = _typed_params(spec.structure.kind, params, source)
    spec = dataclasses.replace(
        spec, structure=dataclasses.replace(spec.structure, params=params_obj)
    )
    if build:
        _check_structure(spec, source)
    return spec


def spec_to_yaml(spec: DataSpec) -> str:
    """The resolved spec as YAML (no profiles); ``spec_from_yaml`` reads it back."""
    return OmegaConf.to_yaml(OmegaConf.create(spec_to_dict(spec)))


def _plain(value: Any) -> Any:
    """``value`` as plain data, like ``dataclasses.asdict``, without the :data:`ADDED_PARAM`
    fields at their defaults."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {
            f.name: _plain(getattr(value, f.name))
            for f in dataclasses.fields(value)
            if not (f.metadata == ADDED_PARAM and getattr(value, f.name) == f.default)
        }
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return value


def spec_to_dict(spec: DataSpec) -> dict[str, Any]:
    """The resolved spec as plain JSON-able data (tuples become lists; a parameter added later
    is left out at its default, :data:`hrtem_sim.types.ADDED_PARAM`)."""
    return json.loads(json.dumps(_plain(spec)))


def spec_hash(spec: DataSpec) -> str:
    """Short sha256 (12 hex digits) of the canonical resolved spec: every key, sorted."""
    canonical = json.dumps(spec_to_dict(spec), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()[:12]


def dataset_path(spec: DataSpec, root: str | Path = "data") -> Path:
    """Where ``spec``'s dataset lives: ``<root>/<name>-<hash>``."""
    return Path(root) / f"{spec.name}-{spec_hash(spec)}"


def _parse(text: str, source: str) -> dict[str, Any]:
    """The top-level mapping of spec YAML ``text``, else a SpecError naming ``source``."""
    try:
        raw = yaml.safe_load(text)
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark is not None else ""
        problem = getattr(error, "problem", None) or "cannot parse"
        raise SpecError(f"{source}: malformed YAML{where}: {problem}") from None
    if not isinstance(raw, dict):
        raise SpecError(f"{source}: expected a mapping of keys at the top level")
    return raw


def _apply_profile(raw: dict[str, Any], profiles: Any, profile: str, source: str) -> dict[str, Any]:
    if not isinstance(profiles, dict):
        raise SpecError(f"{source}: profiles: expected a mapping of profile name to overrides")
    if profile not in profiles:
        known = ", ".join(profiles) or "none"
        raise SpecError(f"{source}: unknown profile '{profile}' (known: {known})")
    overrides = profiles[profile] or []
    if not isinstance(overrides, list) or not all(
        isinstance(o, str) and "=" in o for o in overrides
    ):
        raise SpecError(f"{source}: profiles.{profile}: expected a list of 'key=value' overrides")
    try:
        merged = OmegaConf.merge(OmegaConf.create(raw), OmegaConf.from_dotlist(overrides))
    except OmegaConfBaseException as error:
        raise SpecError(f"{source}: profiles.{profile}: {_first_line(error)}") from None
    return OmegaConf.to_container(merged)  # type: ignore[return-value]


def _leaves(node: Any, prefix: str) -> Iterator[tuple[str, Any]]:
    """(dotted key, value) for every leaf of a nested mapping; lists are leaves."""
    if isinstance(node, dict) and (node or not prefix):
        for key, value in node.items():
            yield from _leaves(value, f"{prefix}.{key}" if prefix else str(key))
    else:
        yield prefix, node


def _nest(key: str, value: Any) -> dict[str, Any]:
    for part in reversed(key.split(".")[1:]):
        value = {part: value}
    return {key.split(".")[0]: value}


def _typed(schema: type, raw: dict[str, Any], source: str, prefix: str) -> Any:
    """Merge ``raw`` onto the dataclass ``schema`` leaf by leaf, so an error names its key."""
    config = OmegaConf.structured(schema)
    for key, value in _leaves(raw, ""):
        try:
            config = OmegaConf.merge(config, _nest(key, value))
        except ConfigKeyError as error:
            raise SpecError(f"{source}: {prefix}{key}: unknown key{_suggest(key, error)}") from None
        except OmegaConfBaseException as error:
            reason = _first_line(error).replace("'$VALUE' of type '$VALUE_TYPE'", "")
            raise SpecError(f"{source}: {prefix}{key}: invalid value {value!r}: {reason}") from None
    try:
        return OmegaConf.to_object(config)
    except MissingMandatoryValue as error:
        raise SpecError(f"{source}: {prefix}{error.full_key}: missing value") from None
    except (OmegaConfBaseException, StructureError, ValueError) as error:
        raise SpecError(f"{source}: {prefix.rstrip('.') or 'spec'}: {_first_line(error)}") from None


def _suggest(key: str, error: ConfigKeyError) -> str:
    """`` (did you mean 'x'?)`` for the closest field of the dataclass that lacks ``key``."""
    schema = error.object_type
    names = [f.name for f in dataclasses.fields(schema)] if dataclasses.is_dataclass(schema) else []
    close = difflib.get_close_matches(key.split(".")[-1], names, n=1)
    return f" (did you mean '{close[0]}'?)" if close else ""


def _typed_params(kind: str, params: Any, source: str) -> Any:
    from hrtem_sim.structures import list_structures, params_type

    if kind not in list_structures():
        known = ", ".join(list_structures())
        raise SpecError(
            f"{source}: structure.kind: unknown structure kind '{kind}' (known: {known})"
        )
    if not isinstance(params, dict):
        raise SpecError(f"{source}: structure.params: expected a mapping")
    return _typed(params_type(kind), params, source, prefix="structure.params.")


def _check_structure(spec: DataSpec, source: str) -> None:
    """Build sample 0's structure (cheap, no abTEM): the generator checks params against the cell."""
    import numpy as np

    from hrtem_sim.errors import require_simulation

    require_simulation(f"{source}: checking the structure")
    from hrtem_sim.structures import build_structure

    kind = spec.structure.kind
    try:
        build_structure(
            kind, spec.structure.params, spec.structure.cell, np.random.default_rng([spec.seed, 0])
        )
    except StructureError as error:
        message = str(error)
        if message.startswith(f"{kind}."):
            raise SpecError(f"{source}: structure.params.{message[len(kind) + 1 :]}") from None
        raise SpecError(f"{source}: structure: {message}") from None


def _check_ranges(spec: DataSpec, source: str) -> None:
    from hrtem_sim.columns import COLUMN_CLASSES

    sim = spec.simulation
    checks: list[tuple[bool, str, str]] = [
        (bool(_NAME.match(spec.name)), "name", "letters, digits, '_', '.', '-' only"),
        (spec.task in TASK_SCHEMES, "task", f"one of {', '.join(TASK_SCHEMES)}"),
        (spec.seed >= 0, "seed", ">= 0"),
        (min(spec.structure.cell) > 0, "structure.cell", "both lengths > 0 Å"),
        (
            spec.labels.scheme in COLUMN_CLASSES,
            "labels.scheme",
            f"one of {', '.join(COLUMN_CLASSES)}",
        ),
        (spec.labels.tolerance > 0, "labels.tolerance", "> 0 Å"),
        (sim.energy > 0, "simulation.energy", "> 0 eV"),
        (
            0 < sim.sampling <= min(spec.structure.cell) / 8,
            "simulation.sampling",
            "> 0 and at most 1/8 of the cell",
        ),
        (sim.slice_thickness > 0, "simulation.slice_thickness", "> 0 Å"),
        (
            sim.parametrization in PARAMETRIZATIONS,
            "simulation.parametrization",
            f"one of {', '.join(PARAMETRIZATIONS)}",
        ),
        (sim.frozen_phonons.num_configs >= 0, "simulation.frozen_phonons.num_configs", ">= 0"),
        (
            sim.frozen_phonons.sigma > 0 or sim.frozen_phonons.num_configs == 0,
            "simulation.frozen_phonons.sigma",
            "> 0 Å when num_configs > 0",
        ),
        (spec.samples >= 1, "samples", ">= 1"),
        (spec.shard_size >= 1, "shard_size", ">= 1"),
    ]
    for ok, key, expected in checks:
        if not ok:
            value = _get(spec, key)
            raise SpecError(f"{source}: {key}: invalid value {value!r}: expected {expected}")
    if TASK_SCHEMES[spec.task] != spec.labels.scheme:
        raise SpecError(
            f"{source}: labels.scheme: task '{spec.task}' needs scheme "
            f"'{TASK_SCHEMES[spec.task]}', got '{spec.labels.scheme}'"
        )


def _get(spec: Any, dotted: str) -> Any:
    for part in dotted.split("."):
        spec = getattr(spec, part)
    return list(spec) if isinstance(spec, tuple) else spec


def _first_line(error: Exception) -> str:
    return str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
