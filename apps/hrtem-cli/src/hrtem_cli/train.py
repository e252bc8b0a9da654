"""`hrtem train`: compose the config from configs/ and overrides, then hand off to hrtem_msd.train."""

from __future__ import annotations

from typing import Annotated

import typer

from hrtem_cli.errors import one_line_errors


@one_line_errors()
def train(
    overrides: Annotated[
        list[str] | None,
        typer.Argument(
            help="Config groups and dot-list overrides, e.g. task=mos2 model=unet trainer=ddp "
            "trainer.devices=8 trainer.num_nodes=2 trainer.precision=bf16-mixed seed=3 resume=last",
            show_default=False,
        ),
    ] = None,
) -> None:
    """Train a segmentation network on simulated data; track it in MLflow and register it.

    Merges configs/train.yaml with configs/task/<task>.yaml, configs/model/<model>.yaml and
    configs/trainer/<trainer>.yaml, then the overrides. Simulates the task's dataset first if it
    is missing. Tracks to MLFLOW_TRACKING_URI, or to sqlite:///mlflow.db in this directory, and
    registers the best checkpoint as hrtem-<task> with the alias "candidate".
    """
    from hrtem_msd.config import compose

    config = compose(list(overrides or []))
    from hrtem_msd.train import monitor
    from hrtem_msd.train import train as run

    result = run(config)
    if result.run_id is None:  # not rank 0
        return
    best = f"{result.best_metric:.3f}" if result.best_metric is not None else "n/a"
    typer.echo(f"run        {result.run_id}  ({result.duration / 60:.1f} min)")
    typer.echo(f"best {monitor(config.task)} {best}")
    for key in sorted(result.test_metrics):
        if key.endswith(("/iou", "/dice", "/f1", "/loss", "/column_f1", "/column_rms")):
            typer.echo(
                f"{key:<10} {result.test_metrics[key]:.3f}  (dose {config.task.eval_dose:g} e/Å^2)"
            )
    if result.model_uri:
        typer.echo(
            f"model      {result.model_uri}" + (" (alias candidate)" if result.version else "")
        )
