"""Lightning checkpoints as models: the card and the network's weights, read without unpickling.

A checkpoint of :class:`~hrtem_msd.training.module.SegmentationModule` holds the model card under
``"model_card"`` and the network's weights under ``"state_dict"`` (keys ``net.*``). It is read
with ``torch.load(..., weights_only=True)``: plain tensors and containers only.
"""

from __future__ import annotations

import pickle
from pathlib import Path

import torch
from hrtem_core.cards import ModelCard
from hrtem_core.errors import HRTEMError

from hrtem_msd.nets import build
from hrtem_msd.store.trained import TrainedModel

CARD_KEY = "model_card"
NET_PREFIX = "net."


class CheckpointError(HRTEMError):
    """A checkpoint cannot be read, holds no model card, or its weights do not fit the card."""


def load_checkpoint(path: str | Path, device: str | torch.device = "cpu") -> TrainedModel:
    """The :class:`TrainedModel` in checkpoint ``path``, on ``device``, in eval mode."""
    path = Path(path)
    try:
        checkpoint = torch.load(path, map_location="cpu", weights_only=True)
    except FileNotFoundError:
        raise CheckpointError(f"{path}: no such checkpoint") from None
    except (OSError, RuntimeError, EOFError, pickle.UnpicklingError) as err:
        reason = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise CheckpointError(f"{path}: not a readable checkpoint ({reason})") from None
    if not isinstance(checkpoint, dict) or CARD_KEY not in checkpoint:
        raise CheckpointError(
            f"{path}: no model card in the checkpoint (not an hrtem training run?)"
        )
    card = ModelCard.from_dict(checkpoint[CARD_KEY], f"{path} ({CARD_KEY})")
    state = {
        key[len(NET_PREFIX) :]: value
        for key, value in checkpoint.get("state_dict", {}).items()
        if key.startswith(NET_PREFIX)
    }
    return TrainedModel(build(card, state, str(path)), card).to(device).eval()
