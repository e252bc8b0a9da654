"""Models for analysis: each window normalised as in training, one loaded copy per process.

Training normalises each (window-sized) image per channel (``hrtem_msd.normalise``); at inference
:class:`Normalised` does the same to every window that :func:`hrtem_analysis.tiled_predict` feeds
the network, so a large frame is seen as the training images were. :func:`analysis_model` caches
the loaded network per (URI, task, device): a dask worker process loads each model once.
"""

from __future__ import annotations

import functools

import torch
from hrtem_core.cards import ModelCard
from hrtem_msd.normalise import normalise
from torch import nn


class Normalised(nn.Module):
    """``net`` applied to windows ``[B, C, h, w]`` normalised per image and channel; keeps ``.config``."""

    def __init__(self, net: nn.Module) -> None:
        super().__init__()
        self.net = net
        self.config: ModelCard = net.config

    def forward(self, windows: torch.Tensor) -> torch.Tensor:
        """Logits ``[B, K, h, w]``."""
        return self.net(normalise(windows))


@functools.lru_cache(maxsize=4)
def analysis_model(uri: str, task: str | None = None) -> Normalised:
    """The model at ``uri`` (see :func:`hrtem_msd.load_model`) on CPU, wrapped in :class:`Normalised`.

    task: the task the caller needs ("nanoparticle", "columns", "mos2"); a model of another task
    is a RegistryError naming both. Loaded once per process and (uri, task); inference moves it
    to its device.
    """
    from hrtem_msd.registry import load_model

    return Normalised(load_model(uri, task=task)).eval()


def default_device() -> str:
    """ "cuda" when a CUDA device is present, else "cpu"."""
    return "cuda" if torch.cuda.is_available() else "cpu"
