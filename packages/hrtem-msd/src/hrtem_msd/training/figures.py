"""Figures of input, target and prediction, logged through whichever Lightning logger takes images.

Figures are made without pyplot, so importing this module never changes the matplotlib backend.
"""

from __future__ import annotations

from pathlib import Path

import torch
from hrtem_core.atomic import atomic_write
from matplotlib.figure import Figure


def prediction_figure(
    image: torch.Tensor, label: torch.Tensor, pred: torch.Tensor, class_names: list[str]
) -> Figure:
    """One row: every input channel [C, H, W], the target [H, W] and the prediction [H, W] (class maps).

    Arrays are in abTEM order (axis 0 = x), so they are shown transposed, x to the right.
    """
    channels = image.shape[0]
    fig = Figure(figsize=(3 * (channels + 2), 3.2))  # no pyplot: no GUI backend, no global state
    axes = fig.subplots(1, channels + 2, squeeze=False)
    k = len(class_names)
    panels = [(image[c].float(), f"input {c}", "gray", None) for c in range(channels)]
    panels += [
        (label, "target", "viridis", (0, k - 1)),
        (pred, "prediction", "viridis", (0, k - 1)),
    ]
    for ax, (data, title, cmap, limits) in zip(axes[0], panels, strict=True):
        vmin, vmax = limits if limits else (None, None)
        ax.imshow(data.detach().cpu().numpy().T, cmap=cmap, vmin=vmin, vmax=vmax, origin="lower")
        ax.set_title(title)
        ax.set_axis_off()
    fig.suptitle("classes: " + ", ".join(f"{i}={name}" for i, name in enumerate(class_names)))
    fig.tight_layout()
    return fig


def log_figure(loggers: list, fig: Figure, name: str, step: int, fallback_dir: str) -> list[str]:
    """Log ``fig`` as ``figures/{name}.png`` to every logger that takes images; returns where it went.

    MLflow runs get an artifact, TensorBoard an image; when no logger takes images the PNG is written
    (atomically) under ``fallback_dir/figures``.
    """
    places = []
    for logger in loggers:
        experiment = logger.experiment
        run_id = getattr(logger, "run_id", None)
        if run_id is not None and hasattr(experiment, "log_figure"):  # MLflow
            experiment.log_figure(run_id, fig, f"figures/{name}.png")
            places.append(f"mlflow:{run_id}/figures/{name}.png")
        elif hasattr(experiment, "add_figure"):  # TensorBoard
            experiment.add_figure(name, fig, global_step=step, close=False)
            places.append(f"tensorboard:{name}")
    if not places:
        path = Path(fallback_dir) / "figures" / f"{name}.png"
        atomic_write(path, lambda tmp: fig.savefig(tmp, dpi=100, format="png"))
        places.append(str(path))
    return places
