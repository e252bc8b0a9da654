"""RunRecord: the resolved values of one training run, logged with fixed keys (params ``run.*``).

The config says what was asked ("auto" precision, "auto" devices); the record says what ran.
``hrtem runs compare`` reads these keys; a run logged before a key existed shows it as missing.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

from hrtem_core.cards.fields import plain

PREFIX = "run."


@dataclasses.dataclass(frozen=True)
class RunRecord:
    """What one training run resolved to.

    precision:            Lightning precision that ran, e.g. "bf16-mixed", "32-true".
    accelerator:          "cpu", "cuda", ...
    devices:              devices per node; num_nodes: nodes; world_size: processes in all.
    strategy:             Lightning strategy, e.g. "single_device", "ddp".
    batch_size:           samples per device per step; effective_batch_size: per optimiser step.
    lr:                   the learning rate used (after scaling with the number of processes).
    profile:              dataset size profile ("tiny", "small", "full").
    max_time:             wall-clock limit "DD:HH:MM:SS", or None.
    dataset_path:         the dataset folder; dataset_spec_hash, dataset_card_hash: its hashes.
    git_commit:           the code's commit (``+dirty`` with local changes), or None.
    package_versions:     versions of hrtem and its main libraries.
    """

    precision: str | None = None
    accelerator: str | None = None
    devices: int | None = None
    num_nodes: int | None = None
    world_size: int | None = None
    strategy: str | None = None
    batch_size: int | None = None
    effective_batch_size: int | None = None
    lr: float | None = None
    profile: str | None = None
    max_time: str | None = None
    dataset_path: str | None = None
    dataset_spec_hash: str | None = None
    dataset_card_hash: str | None = None
    git_commit: str | None = None
    package_versions: dict[str, str] = dataclasses.field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return plain(dataclasses.asdict(self))

    def params(self) -> dict[str, str]:
        """MLflow params ``run.<key>`` (package versions as ``run.package_versions.<name>``)."""
        flat: dict[str, str] = {}
        for key, value in self.to_dict().items():
            if isinstance(value, dict):
                flat.update({f"{PREFIX}{key}.{k}": str(v) for k, v in value.items()})
            elif value is not None:
                flat[f"{PREFIX}{key}"] = str(value)
        return flat

    @classmethod
    def from_params(cls, params: Mapping[str, str]) -> RunRecord:
        """The record from a run's MLflow params; keys the run did not log are None."""
        values: dict[str, Any] = {}
        for field in dataclasses.fields(cls):
            if field.name == "package_versions":
                prefix = f"{PREFIX}{field.name}."
                values[field.name] = {
                    k[len(prefix) :]: v for k, v in params.items() if k.startswith(prefix)
                }
                continue
            raw = params.get(f"{PREFIX}{field.name}")
            values[field.name] = None if raw in (None, "None") else _parse(raw, str(field.type))
        return cls(**values)


def _parse(raw: str, annotation: str) -> Any:
    """A logged param back to the field's type (params are strings in MLflow)."""
    try:
        if annotation.startswith("int"):
            return int(raw)
        if annotation.startswith("float"):
            return float(raw)
    except ValueError:
        return None
    return raw
