"""The DatasetCard of a spec: what every shard of its dataset says about the data."""

from __future__ import annotations

import importlib.metadata

from hrtem_core.cards import DatasetCard

from hrtem_sim.columns import COLUMN_CLASSES
from hrtem_sim.spec import DataSpec, spec_hash


def generator() -> str:
    """This simulation code, e.g. ``hrtem-sim 0.2.0``."""
    try:
        return f"hrtem-sim {importlib.metadata.version('hrtem-sim')}"
    except importlib.metadata.PackageNotFoundError:
        return "hrtem-sim (not installed)"


def dataset_card(spec: DataSpec, generated_by: str | None = None) -> DatasetCard:
    """The card of ``spec``'s dataset; ``generated_by`` defaults to this code (:func:`generator`)."""
    return DatasetCard(
        spec_hash=spec_hash(spec),
        name=spec.name,
        task=spec.task,
        energy=float(spec.simulation.energy),
        sampling=float(spec.simulation.sampling),
        cell=[float(length) for length in spec.structure.cell],
        label_scheme=spec.labels.scheme,
        classes=list(COLUMN_CLASSES[spec.labels.scheme]),
        structure_kinds=[spec.structure.kind],
        samples=spec.samples,
        generator=generated_by or generator(),
        substrates=sorted(set(getattr(spec.structure.params, "substrates", None) or [])),
    )
