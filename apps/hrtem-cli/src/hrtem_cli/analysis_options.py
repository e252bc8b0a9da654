"""Options of the `hrtem analyze` commands (series, mos2, watch); defaults come from
:class:`hrtem_analysis.settings.Settings`."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

Inputs = Annotated[
    list[Path],
    typer.Argument(help="Frame files (each one frame or a stack), or one folder (natural order)."),
]
Sampling = Annotated[
    float | None,
    typer.Option(
        help="Frame sampling [Å/px]; overrides the files' metadata (needed when they have none)."
    ),
]
FrameInterval = Annotated[
    float | None,
    typer.Option(
        help="Time between frames [s]; default: the files' time axis, else the frame index."
    ),
]
Out = Annotated[
    Path, typer.Option("--out", "-o", help="Output folder: frames.csv/.parquet, figures.")
]
Window = Annotated[
    int, typer.Option(min=8, help="Tiled-inference window [px, at the model's sampling].")
]
Overlap = Annotated[
    float, typer.Option(min=0.0, max=0.95, help="Overlap of neighbouring windows (fraction).")
]
BatchSize = Annotated[int, typer.Option(min=1, help="Windows per forward pass.")]
MaxResample = Annotated[
    float,
    typer.Option(
        min=1.0,
        help="Refuse frames whose sampling differs from the model's by more than this factor.",
    ),
]
Workers = Annotated[
    int,
    typer.Option(
        "--workers", "-w", min=0, help="Local dask worker processes (0: in this process)."
    ),
]
Scheduler = Annotated[
    str | None,
    typer.Option(
        help="Existing dask scheduler, e.g. tcp://HOST:8786 (workers must see the input and --out)."
    ),
]
ColumnsModel = Annotated[
    str | None,
    typer.Option(help="Column model URI: count columns and events on interpretable frames."),
]
Threshold = Annotated[
    float | None,
    typer.Option(
        help="Frames whose peak-pair ratio is <= this are interpretable (on a zone axis) "
        "[default: the material's, calibrated on simulations: configs/materials/MATERIAL.yaml]."
    ),
]
Material = Annotated[
    str,
    typer.Option(help="Material file (name or .yaml) giving the threshold and d-spacings."),
]
MinArea = Annotated[float, typer.Option(help="Smallest particle [nm^2].")]
