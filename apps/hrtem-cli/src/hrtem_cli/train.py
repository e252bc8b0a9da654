"""`hrtem train`: compose the config from configs/ and overrides, then hand off to hrtem_msd.training.train."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from hrtem_core.errors import SpecError

from hrtem_cli.errors import one_line_errors
from hrtem_cli.options import SCENE_DOSES, SCENE_SIZE, parse_doses


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
    preset: Annotated[
        Path | None,
        typer.Option(
            help="A file of overrides applied before the command line's, e.g. "
            "configs/pretrained/nanoparticle.yaml (what `make pretrained` trains).",
            dir_okay=False,
        ),
    ] = None,
    scenes: Annotated[
        int,
        typer.Option(
            help="After training a nanoparticle model, run the scene benchmark on this many "
            "held-out large frames; logged to the run and the registered version.",
            min=0,
        ),
    ] = 0,
    scene_doses: Annotated[
        str, typer.Option(help="Doses [e-/Å^2] of the scene benchmark.")
    ] = SCENE_DOSES,
    scene_size: Annotated[
        int, typer.Option(help="Side [px] of a scene frame, at the model's sampling.", min=8)
    ] = SCENE_SIZE,
) -> None:
    """Train a segmentation network on simulated data; track it in MLflow and register it.

    Merges configs/train.yaml with configs/task/<task>.yaml, configs/model/<model>.yaml and
    configs/trainer/<trainer>.yaml, then the overrides. Simulates the task's dataset first if it
    is missing. Tracks to MLFLOW_TRACKING_URI, or to sqlite:///mlflow.db in this directory, and
    registers the best checkpoint as hrtem-<task> with the alias "candidate".
    """
    from hrtem_msd.config import compose, load_preset

    config = compose([*(load_preset(preset) if preset else []), *(overrides or [])])
    doses = parse_doses(scene_doses)
    if scenes:  # checked before hours of training, not after
        from hrtem_checks.scenes.benchmark import check_benchmark_doses

        check_benchmark_doses(doses)
        if config.task.name != "nanoparticle":
            raise SpecError(
                f"--scenes benchmarks nanoparticle models; task is {config.task.name!r}"
            )
    from hrtem_msd.training.train import monitor
    from hrtem_msd.training.train import train as run

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
    if scenes and result.model_uri:
        from hrtem_checks.scenes.benchmark import default_setup
        from hrtem_checks.scenes.report import benchmark_run, table_text, zone_text

        out = f"{config.out}/scenes/{result.run_id}"
        setup = default_setup(config.data.root)
        bench, _ = benchmark_run(
            result.model_uri, result.run_id, scenes, doses, out, scene_size, setup
        )
        typer.echo(table_text(bench.summary))
        typer.echo(zone_text(bench.particles))
        typer.echo(f"scene benchmark in {out} and the run's artifacts (scenes/)")
