"""Options and parsers several command groups share: model URIs, devices, doses, defocus."""

from __future__ import annotations

from typing import Annotated

import typer

MODEL_HELP = (
    "Model URI: models:/NAME@ALIAS, models:/NAME/VERSION, @ALIAS (short for models:/hrtem-<task>@ALIAS, "
    "e.g. @pretrained), runs:/ID/model or a directory."
)
Model = Annotated[str, typer.Option("--model", "-m", help=MODEL_HELP)]
Device = Annotated[
    str | None,
    typer.Option(help="torch device, e.g. cpu, cuda, cuda:1 (default: CUDA when present)."),
]
Defocus = Annotated[
    str | None,
    typer.Option(
        help="Defocus of each image of a focal series [Å], e.g. -60,0,60 (positive = underfocus); "
        "overrides the files' metadata. A series the model was not trained on is refused."
    ),
]
# the scene check's defaults (hrtem_checks.scenes.benchmark: DOSES, SIZE, FRAME_SAMPLING), here
# without importing torch; tests/cli/test_check_scenes_cli.py keeps them equal
SCENE_DOSES = "50,200,1000"
SCENE_SIZE = 2048
SCENE_SAMPLING = "0.15,0.4"


def parse_doses(text: str) -> list[float]:
    """ "10,20,50" -> [10.0, 20.0, 50.0]; a bad item is a BadParameter naming it."""
    try:
        return [float(item) for item in text.split(",") if item.strip()]
    except ValueError:
        raise typer.BadParameter(
            f"doses must be comma-separated numbers in e-/Å^2, got {text!r}"
        ) from None


def parse_range(text: str, option: str) -> tuple[float, float]:
    """ "0.15,0.4" -> (0.15, 0.4), "0.2" -> (0.2, 0.2); anything else is a BadParameter naming
    ``option``."""
    try:
        values = [float(item) for item in text.split(",")]
    except ValueError:
        values = []
    if len(values) not in (1, 2):
        raise typer.BadParameter(f"{option} must be LOW,HIGH or one number, got {text!r}")
    return values[0], values[-1]


def parse_defocus(text: str | None) -> tuple[float, ...] | None:
    """ "-60,0,60" -> (-60.0, 0.0, 60.0) [Å]; a bad item is a BadParameter naming it."""
    if text is None:
        return None
    try:
        return tuple(float(item) for item in text.split(",") if item.strip())
    except ValueError:
        raise typer.BadParameter(
            f"defocus must be comma-separated numbers in Å, one per image, got {text!r}"
        ) from None
