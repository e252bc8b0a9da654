"""Models for analysis: one loaded copy per process and (URI, task).

:func:`hrtem_msd.load_model` returns a model that normalises its input as in training, so the
windows :func:`hrtem_analysis.tiled_predict` cuts from a raw frame go in as they are.
"""

from __future__ import annotations

import functools

import torch
from hrtem_msd.store.trained import TrainedModel


@functools.lru_cache(maxsize=4)
def analysis_model(uri: str, task: str | None = None) -> TrainedModel:
    """The model at ``uri`` (see :func:`hrtem_msd.load_model`) on CPU, in eval mode.

    task: the task the caller needs ("nanoparticle", "columns", "mos2"); a model of another task
    is a RegistryError naming both. Each call loads it (from the registry: a download), so
    callers load once and pass the model on; inference moves it to its device.
    """
    from hrtem_msd.store.load import load_model

    return load_model(uri, task=task)


def default_device() -> str:
    """ "cuda" when a CUDA device is present, else "cpu"."""
    return "cuda" if torch.cuda.is_available() else "cpu"
