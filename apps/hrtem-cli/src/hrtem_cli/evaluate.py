"""`hrtem evaluate`: test-set metrics of registered models against dose, or the scene benchmark."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from hrtem_cli.errors import one_line_errors

DOSES = "10,20,50,100,200,500,1000"
SCENE_DOSES = "50,200,1000"


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
    doses: Annotated[
        str | None,
        typer.Option(
            help=f"Comma-separated doses [e-/Å^2] (default {DOSES}; with --scenes {SCENE_DOSES}).",
            show_default=False,
        ),
    ] = None,
    compare: Annotated[
        list[str] | None,
        typer.Option(
            "--compare",
            "-c",
            help="Another model to sweep on the same test set (repeatable), e.g. the U-Net baseline.",
        ),
    ] = None,
    scenes: Annotated[
        int,
        typer.Option(
            help="Run the scene benchmark on this many held-out large frames (0: the dose sweep "
            "on the test split).",
            min=0,
        ),
    ] = 0,
    scene_size: Annotated[
        int, typer.Option(help="Side [px] of a scene frame, at the first model's sampling.", min=8)
    ] = 1024,
    scene_spec: Annotated[
        Path | None,
        typer.Option(
            help="Spec of the scenes (default: data_specs/benchmarks/scenes.yaml).",
            show_default=False,
        ),
    ] = None,
    scene_profile: Annotated[
        str | None, typer.Option(help="Profile of the scene spec (e.g. tiny).", show_default=False)
    ] = None,
    data_root: Annotated[Path, typer.Option(help="Where simulated scenes are cached.")] = Path(
        "data"
    ),
    workers: Annotated[
        int | None,
        typer.Option(
            help="Simulation workers for missing scenes (default: one per core; 0: this process).",
            show_default=False,
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

    The test split and microscope ranges are those of the model's own training run. With
    --scenes N: the scene benchmark of nanoparticle models instead, on N simulated large frames
    (cached under --data-root): particle precision and recall (IoU >= 0.5), mean IoU, false
    particles per frame and zone-axis accuracy per dose, beside a local-variance + Otsu baseline.
    """
    uris = [model, *(compare or [])]
    if scenes:
        from hrtem_analysis.scene_report import evaluate_scenes, table_text, zone_text

        result, files = evaluate_scenes(
            uris, scenes, parse_doses(doses or SCENE_DOSES), out, scene_size, data_root,
            workers, scene_spec, scene_profile, log=log,
        )  # fmt: skip
        typer.echo(table_text(result.summary))
        typer.echo(zone_text(result.particles))
        typer.echo("wrote " + ", ".join(str(f) for f in files))
        return
    from hrtem_msd.evaluate import evaluate as run

    table = run(uris, parse_doses(doses or DOSES), out, overrides or [], log=log)
    typer.echo(
        table[["model", "dose", "iou", "dice", "f1"]].to_string(index=False, float_format="%.3f")
    )
    typer.echo(f"wrote {out / 'dose_sweep.csv'} and {out / 'dose_sweep.png'}")
