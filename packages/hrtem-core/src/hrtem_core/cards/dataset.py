"""DatasetCard: what a simulated dataset holds, written into every one of its shards.

Training checks the task it runs against this card before any work (energy, label scheme and
classes, sampling); the model card keeps its hash, so a model names the data it learned from.
"""

from __future__ import annotations

import dataclasses
import json
from typing import Any

from hrtem_core.cards.fields import (
    Check,
    card_from_dict,
    card_hash,
    check_values,
    is_int,
    is_number,
    is_str,
    list_of,
    plain,
)
from hrtem_core.errors import CardError

UNKNOWN_GENERATOR = "unknown (simulated before dataset cards)"


@dataclasses.dataclass(frozen=True)
class DatasetCard:
    """A dataset's identity and physics.

    spec_hash:       hash of the resolved data spec (it names the dataset folder).
    name, task:      the spec's name and task ("nanoparticle", "columns", "mos2").
    energy:          electron energy of the exit waves [eV].
    sampling:        exit-wave sampling [Å/px] (an upper bound: grids are rounded up to FFT sizes).
    cell:            (Lx, Ly) of the simulated cells [Å].
    label_scheme:    column classes of the stored labels ("particle", "mos2").
    classes:         their names, index 0 = background.
    structure_kinds: the structure generators of the samples (e.g. ["au_particle"]).
    samples:         number of samples.
    generator:       the simulation code that wrote it, e.g. "hrtem-sim 0.2.0".
    substrates:      the substrates its structures draw from, e.g. ["graded_carbon", "ceo2"]
                     (the amorphous-carbon families among them); [] when not recorded.
    """

    spec_hash: str
    name: str
    task: str
    energy: float
    sampling: float
    cell: list[float]
    label_scheme: str
    classes: list[str]
    structure_kinds: list[str]
    samples: int
    generator: str = UNKNOWN_GENERATOR
    substrates: list[str] = dataclasses.field(default_factory=list)

    def __post_init__(self) -> None:
        check_values(dataclasses.asdict(self), "DatasetCard", CHECKS)

    @property
    def card_hash(self) -> str:
        """Short hash of every field of the card."""
        return card_hash(self)

    def to_dict(self) -> dict[str, Any]:
        return plain(dataclasses.asdict(self))

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), sort_keys=True)

    @classmethod
    def from_dict(cls, data: Any, source: str = "dataset card") -> DatasetCard:
        return card_from_dict(cls, data, source, CHECKS)

    @classmethod
    def from_json(cls, text: str, source: str = "dataset card") -> DatasetCard:
        try:
            data = json.loads(text)
        except json.JSONDecodeError as err:
            raise CardError(f"{source}: not valid JSON ({err.msg})") from None
        return cls.from_dict(data, source)


CHECKS: dict[str, Check] = {
    "spec_hash": (is_str, "a string"),
    "name": (is_str, "a string"),
    "task": (is_str, "a string"),
    "energy": (lambda v: is_number(v) and v > 0, "a number > 0 [eV]"),
    "sampling": (lambda v: is_number(v) and v > 0, "a number > 0 [Å/px]"),
    "cell": (list_of(is_number, 2), "two lengths [Å]"),
    "label_scheme": (is_str, "a string"),
    "classes": (lambda v: list_of(is_str)(v) and len(v) >= 2, "a list of >= 2 class names"),
    "structure_kinds": (list_of(is_str), "a list of strings"),
    "samples": (lambda v: is_int(v) and v >= 1, "an integer >= 1"),
    "generator": (is_str, "a string"),
    "substrates": (list_of(is_str), "a list of strings"),
}
