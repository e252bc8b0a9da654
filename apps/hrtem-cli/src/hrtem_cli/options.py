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
SCENE_DOSES = "50,200,1000"


def parse_doses(text: str) -> list[float]:
    """ "10,20,50" -> [10.0, 20.0, 50.0]; a bad item is a BadParameter naming it."""
    try:
        return [float(item) for item in text.split(",") if item.strip()]
    except ValueError:
        raise typer.BadParameter(
            f"doses must be comma-separated numbers in e-/Å^2, got {text!r}"
        ) from None


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
