"""The cards the stages hand each other: dataset -> model -> run record."""

from hrtem_core.cards.dataset import DatasetCard
from hrtem_core.cards.model import NORMALISATIONS, ModelCard
from hrtem_core.cards.run import RunRecord

__all__ = ["NORMALISATIONS", "DatasetCard", "ModelCard", "RunRecord"]
