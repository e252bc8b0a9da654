"""A trained network as users get it: its model card and its preprocessing travel with it.

:func:`hrtem_msd.load_model` returns a :class:`TrainedModel`: it takes raw images (counts, or
any linear scale of them) and normalises them as the network was trained
(``card.normalisation``), so the CLI, :func:`hrtem_analysis.tiled_predict`, notebooks and the
README's examples all get the same result from the same frames.
"""

from __future__ import annotations

import torch
from hrtem_core.cards import ModelCard
from torch import nn

from hrtem_msd.nets.normalise import normalise


class TrainedModel(nn.Module):
    """``net`` behind its input normalisation: raw images ``[B, C, H, W]`` -> logits ``[B, K, H, W]``.

    ``.config`` is the model card; ``.net`` the bare network (it takes normalised images).
    """

    def __init__(self, net: nn.Module, card: ModelCard) -> None:
        super().__init__()
        self.net = net
        self.config = card

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.net(normalise(images))
