"""The model card: what a trained network needs to be used correctly, stored as ``model_config.yaml``.

A :class:`ModelConfig` travels with the weights of every logged model and is attached to the network
returned by :func:`hrtem_msd.load_model` as ``model.config``.
"""

from __future__ import annotations

import dataclasses
import os
import tempfile
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import yaml
from torch import nn

from hrtem_msd.models import get_model, list_models
from hrtem_msd.models.errors import ModelError

NORMALISATIONS = ("per_image",)


@dataclasses.dataclass(frozen=True)
class ModelConfig:
    """How a network was trained and how its input must look.

    task:          task name, e.g. "nanoparticle", "columns", "mos2".
    architecture:  a name of :func:`hrtem_msd.models.get_model` ("msd" or "unet").
    model_args:    the network's constructor arguments besides in/out channels, e.g. {"depth": 100}.
    classes:       class names, index 0 = background; K = len(classes) output channels.
    in_channels:   C input channels, one per defocus value.
    defocus:       nominal defocus [Å] of each channel (abTEM sign: defocus = -C10, positive = underfocus).
    sampling:      detector sampling of the training images [Å/px].
    normalisation: "per_image": each channel minus its mean, divided by its std.
    spec_hash:     hash of the dataset spec the network was trained on.
    energy:        electron energy [eV].
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

    def __post_init__(self) -> None:
        _validate(dataclasses.asdict(self), "ModelConfig")

    @property
    def out_channels(self) -> int:
        """K, the number of classes."""
        return len(self.classes)

    def to_dict(self) -> dict[str, Any]:
        """Plain YAML-safe dict (lists and dicts copied)."""
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], source: str = "model config") -> ModelConfig:
        """Build from a mapping; an unknown or missing key or a wrong type is a ModelError naming ``source``."""
        if not isinstance(data, Mapping):
            raise ModelError(f"{source}: expected a mapping of keys, got {type(data).__name__}")
        names = [field.name for field in dataclasses.fields(cls)]
        unknown = sorted(set(data) - set(names))
        if unknown:
            raise ModelError(
                f"{source}: unknown key {unknown[0]!r}; known keys: {', '.join(names)}"
            )
        missing = [name for name in names if name not in data]
        if missing:
            raise ModelError(f"{source}: missing key {missing[0]!r}")
        values = {name: data[name] for name in names}
        _validate(values, source)
        return cls(**values)

    def save(self, path: str | Path) -> Path:
        """Write ``path`` as YAML, atomically (temporary name, then rename)."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
        try:
            with os.fdopen(fd, "w") as stream:
                yaml.safe_dump(self.to_dict(), stream, sort_keys=False)
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        return path

    @classmethod
    def load(cls, path: str | Path) -> ModelConfig:
        """Read a ``model_config.yaml``; a missing or malformed file is a ModelError naming it."""
        path = Path(path)
        try:
            data = yaml.safe_load(path.read_text())
        except OSError as err:
            raise ModelError(f"{path}: cannot read model config ({err.strerror})") from None
        except yaml.YAMLError as err:
            raise ModelError(f"{path}: not valid YAML ({str(err).splitlines()[0]})") from None
        return cls.from_dict(data, source=str(path))


def build(config: ModelConfig) -> nn.Module:
    """The untrained network described by ``config``: [B, C, H, W] -> logits [B, K, H, W]."""
    return get_model(
        config.architecture,
        in_channels=config.in_channels,
        out_channels=config.out_channels,
        **config.model_args,
    )


def _validate(values: Mapping[str, Any], source: str) -> None:
    """Types, then values, of a config's fields; the first problem is a ModelError naming ``source``."""
    for key, (check, expected) in _CHECKS.items():
        if not check(values[key]):
            raise ModelError(f"{source}: key {key!r} must be {expected}, got {values[key]!r}")
    in_channels = values["in_channels"]
    problems = [
        ("architecture", values["architecture"] in list_models(), f"one of {list_models()}"),
        ("classes", len(values["classes"]) >= 2, "at least 2 names (index 0 = background)"),
        ("in_channels", in_channels >= 1, ">= 1"),
        (
            "defocus",
            len(values["defocus"]) == in_channels,
            f"{in_channels} values (one per channel)",
        ),
        ("sampling", values["sampling"] > 0, "> 0 [Å/px]"),
        (
            "normalisation",
            values["normalisation"] in NORMALISATIONS,
            f"one of {list(NORMALISATIONS)}",
        ),
        ("energy", values["energy"] > 0, "> 0 [eV]"),
    ]
    for key, ok, expected in problems:
        if not ok:
            raise ModelError(f"{source}: key {key!r} must be {expected}, got {values[key]!r}")


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: Any) -> bool:
    return isinstance(value, float) or _is_int(value)


def _is_str(value: Any) -> bool:
    return isinstance(value, str)


def _is_yaml_scalar(value: Any) -> bool:
    return value is None or isinstance(value, str | int | float)


def _list_of(check: Callable[[Any], bool]) -> Callable[[Any], bool]:
    return lambda value: isinstance(value, list) and all(check(item) for item in value)


def _is_model_args(value: Any) -> bool:
    return isinstance(value, dict) and all(
        isinstance(key, str) and (_is_yaml_scalar(item) or _list_of(_is_yaml_scalar)(item))
        for key, item in value.items()
    )


_CHECKS: dict[str, tuple[Callable[[Any], bool], str]] = {
    "task": (_is_str, "a string"),
    "architecture": (_is_str, "a string"),
    "model_args": (_is_model_args, "a mapping of argument names to numbers, strings or lists"),
    "classes": (_list_of(_is_str), "a list of strings"),
    "in_channels": (_is_int, "an integer"),
    "defocus": (_list_of(_is_number), "a list of numbers [Å]"),
    "sampling": (_is_number, "a number [Å/px]"),
    "normalisation": (_is_str, "a string"),
    "spec_hash": (_is_str, "a string"),
    "energy": (_is_number, "a number [eV]"),
}
