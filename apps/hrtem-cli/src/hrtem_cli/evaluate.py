"""`hrtem evaluate`: test-set metrics of registered models against dose."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from hrtem_cli.errors import one_line_errors

DOSES = "10,20,50,100,200,500,1000"


def parse_doses(text: str) -> list[float]:
    """ "10,20,50" -> [10.0, 20.0, 50.0]; a bad item is a BadParameter naming it."""
    try:
        return [float(item) for item in text.split(",") if item.strip()]
    except ValueError:
        raise typer.BadParameter(
            f"doses must be comma-separated numbers in e-/Å^2, got {text!r}"
        ) from None


@one_line_errors()
def evaluate(
    model: Annotated[
        str,
        typer.Option(
            "--model",
            "-m",
            help="Model URI: models:/NAME@ALIAS, models:/NAME/VERSION, runs:/ID/model or a directory.",
        ),
    ],
    doses: Annotated[str, typer.Option(help="Comma-separated doses [e-/Å^2].")] = DOSES,
    compare: Annotated[
        list[str] | None,
        typer.Option(
            "--compare",
            "-c",
            help="Another model to sweep on the same test set (repeatable), e.g. the U-Net baseline.",
        ),
    ] = None,
    out: Annotated[Path, typer.Option(help="Where dose_sweep.csv and dose_sweep.png go.")] = Path(
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

    The test split and microscope ranges are those of the model's own training run.
    """
    from hrtem_msd.evaluate import evaluate as run

    table = run([model, *(compare or [])], parse_doses(doses), out, overrides or [], log=log)
    typer.echo(
        table[["model", "dose", "iou", "dice", "f1"]].to_string(index=False, float_format="%.3f")
    )
    typer.echo(f"wrote {out / 'dose_sweep.csv'} and {out / 'dose_sweep.png'}")
