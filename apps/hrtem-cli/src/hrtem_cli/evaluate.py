"""`hrtem evaluate`: test-set metrics of registered models against dose (the scenes are `hrtem check scenes`)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from hrtem_cli.errors import one_line_errors
from hrtem_cli.options import Model, parse_doses

DOSES = "10,20,50,100,200,500,1000"


@one_line_errors()
def evaluate(
    model: Model,
    doses: Annotated[str, typer.Option(help="Comma-separated doses [e-/Å^2].")] = DOSES,
    compare: Annotated[
        list[str] | None,
        typer.Option(
            "--compare",
            "-c",
            help="Another model to sweep on the same test set (repeatable), e.g. the U-Net baseline.",
        ),
    ] = None,
    out: Annotated[Path, typer.Option(help="Where the tables and plots go.")] = Path(
        "outputs/evaluate"
    ),
    log: Annotated[bool, typer.Option(help="Log the table and plot to an MLflow run.")] = True,
    overrides: Annotated[
        list[str] | None,
        typer.Argument(
            help="Config overrides for a model directory, e.g. seed=3.", show_default=False
        ),
    ] = None,
) -> None:
    """Test-set IoU, Dice and F1 at each dose, as a table and a plot of metric against dose.

    The test split and microscope ranges are those of the model's own training run: images like
    the training data, so this says little about users' frames; `hrtem check` does (scenes,
    series, vacancies).
    """
    from hrtem_msd.evaluation.dose_sweep import evaluate as run

    uris = [model, *(compare or [])]
    table = run(uris, parse_doses(doses), out, overrides or [], log=log)
    typer.echo(
        table[["model", "dose", "iou", "dice", "f1"]].to_string(index=False, float_format="%.3f")
    )
    typer.echo(f"wrote {out / 'dose_sweep.csv'} and {out / 'dose_sweep.png'}")
