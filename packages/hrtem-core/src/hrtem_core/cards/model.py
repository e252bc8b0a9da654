"""ModelCard: what a trained network needs to be used correctly, stored beside its weights.

It travels as ``model_config.yaml`` with every logged model and checkpoint, is attached to the
network that :func:`hrtem_msd.load_model` returns (``net.config``), and is shown by
``hrtem models show`` and in the registered version's MLflow description. Fields after
``energy`` were added with the cards; a card written before them loads with the default (None:
not recorded).
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

from hrtem_core.cards.fields import (
    Check,
    card_from_dict,
    check_values,
    dict_of,
    is_int,
    is_number,
    is_str,
    list_of,
    load_yaml,
    optional,
    plain,
    save_yaml,
)
from hrtem_core.errors import CardError

NORMALISATIONS = ("per_image",)
NOT_RECORDED = "not recorded"


@dataclasses.dataclass(frozen=True)
class ModelCard:
    """How a network was trained and what its input must look like.

    task:           task name, e.g. "nanoparticle", "columns", "mos2".
    architecture:   a name of ``hrtem_msd.nets.get_model`` ("msd" or "unet").
    model_args:     the network's constructor arguments besides in/out channels, e.g. {"depth": 100}.
    classes:        class names, index 0 = background; K = len(classes) output channels.
    in_channels:    C input channels, one per defocus value.
    defocus:        nominal defocus [Å] of each channel (abTEM: defocus = -C10, positive = underfocus).
    sampling:       nominal detector sampling of the training images [Å/px].
    normalisation:  "per_image": each channel minus its mean, divided by its std.
    spec_hash:      hash of the dataset spec the network was trained on.
    energy:         electron energy [eV].
    crop:           (h, w) [px] of the training images.
    sampling_range: (low, high) detector sampling of the training images [Å/px].
    camera_range:   (low, high) sampling the training images were recorded at before they were
                    resized to the detector's [Å/px], as frames are for analysis; None: not
                    resized.
    dose_range:     (low, high) dose of the training images [e/Å^2].
    defocus_ranges: per channel (low, high) defocus [Å] of the training images.
    dataset_card:   hash of the DatasetCard of the training data.
    substrates:     the substrates of the training data (amorphous-carbon families among them),
                    from its DatasetCard; None when not recorded.
    metrics:        test metrics of the training run (name -> value).
    checks:         figures of the project's checks on held-out simulations (name -> value, e.g.
                    "scenes/200/recall_1.5-3nm"), recorded when a model is shipped.
    """

    task: str
    architecture: str
    model_args: dict[str, Any]
    classes: list[str]
    in_channels: int
    defocus: list[float]
    sampling: float
    normalisation: str
    spec_hash: str
    energy: float
    crop: list[int] | None = None
    sampling_range: list[float] | None = None
    camera_range: list[float] | None = None
    dose_range: list[float] | None = None
    defocus_ranges: list[list[float]] | None = None
    dataset_card: str | None = None
    substrates: list[str] | None = None
    metrics: dict[str, float] = dataclasses.field(default_factory=dict)
    checks: dict[str, float] = dataclasses.field(default_factory=dict)

    def __post_init__(self) -> None:
        values = dataclasses.asdict(self)
        check_values(values, "ModelCard", CHECKS)
        _check_consistent(values, "ModelCard")

    @property
    def out_channels(self) -> int:
        """K, the number of classes."""
        return len(self.classes)

    def class_index(self, name: str) -> int:
        """Index of class ``name``; a CardError naming the model's classes if it has none."""
        if name not in self.classes:
            raise CardError(
                f"the {self.task} model has no class {name!r} (classes: {', '.join(self.classes)})"
            )
        return self.classes.index(name)

    def to_dict(self) -> dict[str, Any]:
        """Plain YAML-safe dict (lists and dicts copied)."""
        return plain(dataclasses.asdict(self))

    def replace(self, **changes: Any) -> ModelCard:
        return dataclasses.replace(self, **changes)

    @classmethod
    def from_dict(cls, data: Any, source: str = "model card") -> ModelCard:
        """Build from a mapping; an unknown or missing key or a wrong type is a CardError naming ``source``."""
        return card_from_dict(cls, data, source, CHECKS, _check_consistent)

    def save(self, path: str | Path) -> Path:
        """Write ``path`` as YAML, atomically."""
        return save_yaml(self, path)

    @classmethod
    def load(cls, path: str | Path) -> ModelCard:
        """Read a ``model_config.yaml``; a missing or malformed file is a CardError naming it."""
        return cls.from_dict(load_yaml(path), source=str(path))

    def describe(self) -> str:
        """The card as short lines of ``key: value`` with units (for people, not for parsing)."""

        def span(values: list[float] | None, unit: str) -> str:
            if values is None:
                return NOT_RECORDED
            low, high = values
            return f"{low:g} {unit}" if low == high else f"{low:g}-{high:g} {unit}"

        channels = (
            ", ".join(span(r, "Å") for r in self.defocus_ranges)
            if self.defocus_ranges is not None
            else NOT_RECORDED
        )
        args = ", ".join(f"{k}={v}" for k, v in self.model_args.items())
        crop = f"{self.crop[0]} x {self.crop[1]} px" if self.crop else NOT_RECORDED
        metrics = ", ".join(f"{k} {v:.4g}" for k, v in sorted(self.metrics.items()))
        checks = ", ".join(f"{k} {v:.4g}" for k, v in sorted(self.checks.items()))
        return "\n".join(
            [
                f"task: {self.task} (classes: {', '.join(self.classes)})",
                f"architecture: {self.architecture} ({args})",
                f"input: {self.in_channels} channel(s), normalisation {self.normalisation}",
                f"defocus: nominal {', '.join(f'{d:g}' for d in self.defocus)} Å; "
                f"trained per channel {channels} (positive = underfocus)",
                f"sampling: nominal {self.sampling:g} Å/px; trained "
                f"{span(self.sampling_range, 'Å/px')}"
                + (
                    f", recorded at {span(self.camera_range, 'Å/px')} and resized"
                    if self.camera_range
                    else ""
                ),
                f"training crop: {crop}",
                f"dose: {span(self.dose_range, 'e-/Å^2')}",
                f"energy: {self.energy / 1e3:g} kV",
                f"dataset: spec {self.spec_hash}, card {self.dataset_card or NOT_RECORDED}",
                f"substrates: {', '.join(self.substrates) if self.substrates else NOT_RECORDED}",
                f"metrics: {metrics or NOT_RECORDED}",
                f"checks: {checks or NOT_RECORDED}",
            ]
        )


def _pair(check: Any = is_number) -> Any:
    return list_of(check, 2)


def _is_model_args(value: Any) -> bool:
    scalar = lambda item: item is None or isinstance(item, str | int | float)  # noqa: E731
    return dict_of(lambda item: scalar(item) or list_of(scalar)(item))(value)


def _check_consistent(values: dict[str, Any], source: str) -> None:
    """Relations between fields: channel counts, names, ranges."""
    channels = values["in_channels"]
    problems = [
        ("classes", len(values["classes"]) >= 2, "at least 2 names (index 0 = background)"),
        ("in_channels", channels >= 1, ">= 1"),
        ("defocus", len(values["defocus"]) == channels, f"{channels} values (one per channel)"),
        ("sampling", values["sampling"] > 0, "> 0 [Å/px]"),
        ("normalisation", values["normalisation"] in NORMALISATIONS, f"one of {NORMALISATIONS}"),
        ("energy", values["energy"] > 0, "> 0 [eV]"),
        (
            "defocus_ranges",
            values["defocus_ranges"] is None or len(values["defocus_ranges"]) == channels,
            f"{channels} (low, high) pairs (one per channel)",
        ),
    ]
    for key, ok, expected in problems:
        if not ok:
            raise CardError(f"{source}: key {key!r} must be {expected}, got {values[key]!r}")


CHECKS: dict[str, Check] = {
    "task": (is_str, "a string"),
    "architecture": (is_str, "a string"),
    "model_args": (_is_model_args, "a mapping of argument names to numbers, strings or lists"),
    "classes": (list_of(is_str), "a list of strings"),
    "in_channels": (is_int, "an integer"),
    "defocus": (list_of(is_number), "a list of numbers [Å]"),
    "sampling": (is_number, "a number [Å/px]"),
    "normalisation": (is_str, "a string"),
    "spec_hash": (is_str, "a string"),
    "energy": (is_number, "a number [eV]"),
    "crop": (optional(_pair(is_int)), "(h, w) [px] or null"),
    "sampling_range": (optional(_pair()), "(low, high) [Å/px] or null"),
    "camera_range": (optional(_pair()), "(low, high) [Å/px] or null"),
    "dose_range": (optional(_pair()), "(low, high) [e/Å^2] or null"),
    "defocus_ranges": (optional(list_of(_pair())), "a list of (low, high) [Å] or null"),
    "dataset_card": (optional(is_str), "a string or null"),
    "substrates": (optional(list_of(is_str)), "a list of strings or null"),
    "metrics": (dict_of(is_number), "a mapping of metric names to numbers"),
    "checks": (dict_of(is_number), "a mapping of check figure names to numbers"),
}
