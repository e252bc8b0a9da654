"""Segmentation networks chosen by name from config: ``get_model("msd", in_channels=1, out_channels=2)``.

Every model maps ``[B, in_channels, H, W]`` float to logits ``[B, out_channels, H, W]``.
"""

from __future__ import annotations

import inspect

from torch import nn

from hrtem_msd.models.errors import ModelError
from hrtem_msd.models.msd import MSDNet
from hrtem_msd.models.unet import UNet

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


__all__ = ["MODELS", "MSDNet", "ModelError", "UNet", "get_model", "list_models"]
