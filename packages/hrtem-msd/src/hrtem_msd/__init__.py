"""hrtem-msd: Mixed-Scale Dense networks, a U-Net baseline, and the Lightning module that trains them.

``SegmentationModule`` is imported on first use, so inference code does not pay Lightning's import;
``load_model`` (a registered model by URI) likewise does not import MLflow until used.
"""

from typing import Any

from hrtem_msd.model_config import ModelConfig
from hrtem_msd.models import MSDNet, UNet, get_model, list_models
from hrtem_msd.threads import configure_threads

__all__ = [
    "MSDNet",
    "ModelConfig",
    "SegmentationModule",
    "UNet",
    "configure_threads",
    "get_model",
    "list_models",
    "load_model",
]


def __getattr__(name: str) -> Any:
    if name == "SegmentationModule":
        from hrtem_msd.module import SegmentationModule

        return SegmentationModule
    if name == "load_model":
        from hrtem_msd.registry import load_model

        return load_model
    raise AttributeError(f"module 'hrtem_msd' has no attribute {name!r}")
