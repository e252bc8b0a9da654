"""Segmentation networks chosen by name from config: ``get_model("msd", in_channels=1, out_channels=2)``.

Every model maps ``[B, in_channels, H, W]`` float to logits ``[B, out_channels, H, W]``.
"""

from __future__ import annotations

import inspect
from collections.abc import Mapping
from typing import TYPE_CHECKING

import torch
from torch import nn

from hrtem_msd.nets.errors import ModelError
from hrtem_msd.nets.msd import MSDNet
from hrtem_msd.nets.unet import UNet

if TYPE_CHECKING:
    from hrtem_core.cards import ModelCard

MODELS: dict[str, type[nn.Module]] = {"msd": MSDNet, "unet": UNet}


def list_models() -> list[str]:
    """Names accepted by :func:`get_model`."""
    return sorted(MODELS)


def get_model(name: str, **args: object) -> nn.Module:
    """Build the model called ``name`` with its constructor arguments (those of MSDNet or UNet).

    An unknown name, an unknown or missing argument is a :class:`ModelError` naming it.
    """
    if name not in MODELS:
        raise ModelError(f"unknown model {name!r}; known models: {', '.join(list_models())}")
    cls = MODELS[name]
    signature = inspect.signature(cls)
    unknown = sorted(set(args) - set(signature.parameters))
    if unknown:
        raise ModelError(
            f"model {name!r}: unknown argument(s) {', '.join(unknown)}; "
            f"known: {', '.join(signature.parameters)}"
        )
    try:
        signature.bind(**args)
    except TypeError as err:
        raise ModelError(f"model {name!r}: {err}") from None
    return cls(**args)


def build(
    card: ModelCard, state: Mapping[str, torch.Tensor] | None = None, source: str = "model card"
) -> nn.Module:
    """The network a model card describes ([B, C, H, W] -> logits [B, K, H, W]), the card as its
    ``.config``; with the weights ``state`` (a state dict) loaded when given. An unknown
    architecture or arguments, or weights that do not fit, are a ModelError naming ``source``."""
    try:
        net = get_model(
            card.architecture,
            in_channels=card.in_channels,
            out_channels=card.out_channels,
            **card.model_args,
        )
    except ModelError as error:
        raise ModelError(f"{source}: {error}") from None
    if state is not None:
        try:
            net.load_state_dict(state)
        except RuntimeError as err:
            detail = " ".join(str(err).split())
            raise ModelError(f"{source}: weights do not fit the model card ({detail})") from None
    net.config = card
    return net


__all__ = ["MODELS", "MSDNet", "ModelError", "UNet", "build", "get_model", "list_models"]
