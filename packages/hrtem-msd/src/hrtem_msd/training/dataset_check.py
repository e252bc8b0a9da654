"""The hand-over from data to training: a task's config checked against its dataset's card.

Energy, classes and sampling are set twice, in the data spec (the exit waves) and in the task
(the microscope and the labels); a mismatch trains on wrong physics without a word, so it is
one error line naming both values before any work.
"""

from __future__ import annotations

from pathlib import Path

from hrtem_core.cards import DatasetCard
from hrtem_core.errors import CardError

from hrtem_msd.config import TaskConfig

BINARY_KINDS = ("mask", "columns")  # label kinds with one foreground class


def _names(classes: list[str] | tuple[str, ...]) -> str:
    return f"[{', '.join(classes)}]"


def check_task_data(task: TaskConfig, card: DatasetCard, path: str | Path) -> None:
    """A CardError naming the first of the task's settings that the dataset at ``path`` cannot
    serve: the electron energy, the class list of species labels, the sampling."""
    where = f"task {task.name}"
    data = str(path)
    optics = task.optics
    if abs(optics.energy - card.energy) > 1e-6 * card.energy:
        raise CardError(
            f"{where}: optics.energy {optics.energy / 1e3:g} kV but {data} exit waves are at "
            f"{card.energy / 1e3:g} kV"
        )
    kind = task.labels.kind
    if kind in BINARY_KINDS and len(task.classes) != 2:
        raise CardError(
            f"{where}: labels.kind {kind} gives 2 classes but classes lists "
            f"{len(task.classes)} {_names(task.classes)}"
        )
    if kind == "species" and list(task.classes) != list(card.classes):
        raise CardError(
            f"{where}: classes {_names(task.classes)} but {data} labels columns as "
            f"{_names(card.classes)} (scheme {card.label_scheme})"
        )
    for key in ("detector_sampling", "camera_sampling"):
        pixels = getattr(optics, key)
        if pixels is not None and pixels.low < card.sampling * (1 - 1e-9):
            raise CardError(
                f"{where}: optics.{key} from {pixels.low:g} Å/px is finer than {data} "
                f"exit waves at {card.sampling:g} Å/px"
            )
