"""A cosine learning-rate schedule that ends with the run, whether steps or time run out first.

Lightning stops a run at ``max_epochs`` or at ``max_time``, whichever comes first. A cosine over
the planned steps alone never decays when the time limit stops the run early (the default CPU
run stopped after 17 of 30 epochs with the rate still at 40 % of its peak). Here the progress of
the schedule at a step is the larger of the fraction of planned steps done and the fraction of
the time limit used, so the rate reaches zero at the end of the run either way.
"""

from __future__ import annotations

import math

import torch
from lightning.pytorch import Trainer
from lightning.pytorch.callbacks import Timer


def run_progress(trainer: Trainer, step: int) -> float:
    """Fraction of the run done at ``step``: of the planned optimiser steps, or of ``max_time``."""
    total = max(1, int(trainer.estimated_stepping_batches))
    progress = step / total
    for timer in (c for c in trainer.callbacks if isinstance(c, Timer)):
        remaining = timer.time_remaining("train")
        if remaining is not None:
            elapsed = timer.time_elapsed("train")
            progress = max(progress, elapsed / max(elapsed + remaining, 1e-9))
    return min(1.0, progress)


def budget_cosine(
    optimizer: torch.optim.Optimizer, trainer: Trainer
) -> torch.optim.lr_scheduler.LambdaLR:
    """Cosine from the optimiser's rate to 0 over :func:`run_progress`; step it every optimiser step."""
    return torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda step: 0.5 * (1.0 + math.cos(math.pi * run_progress(trainer, step)))
    )
