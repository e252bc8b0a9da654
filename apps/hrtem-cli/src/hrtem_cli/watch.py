"""`hrtem analyze watch DIR`: analyse frames as a camera writes them, optionally with a live page."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from hrtem_analysis.settings import Settings

from hrtem_cli.analysis_options import (
    BatchSize,
    ColumnsModel,
    FrameInterval,
    Material,
    MaxResample,
    MinArea,
    Overlap,
    Sampling,
    Scheduler,
    Threshold,
    Window,
    Workers,
)
from hrtem_cli.errors import one_line_errors
from hrtem_cli.options import Device, Model

DEFAULTS = Settings()
LOOPBACK = "127.0.0.1"


def parse_address(text: str) -> tuple[str, int]:
    """ "8050" or "HOST:PORT" -> (host, port); the host defaults to loopback."""
    host, _, port = text.rpartition(":")
    try:
        number = int(port)
    except ValueError:
        raise typer.BadParameter(f"give PORT or HOST:PORT, got {text!r}") from None
    if not 0 <= number < 65536:
        raise typer.BadParameter(f"port {number} is not in 0-65535")
    return host or LOOPBACK, number


@one_line_errors()
def watch(
    folder: Annotated[
        Path,
        typer.Argument(help="The folder the camera writes frames into (its own files only)."),
    ],
    model: Model,
    out: Annotated[
        Path,
        typer.Option(
            "--out", "-o", help="Output folder: frames.csv, events.csv, arrivals.csv, skipped.csv."
        ),
    ] = Path("outputs/watch"),
    columns_model: ColumnsModel = None,
    until: Annotated[
        int | None, typer.Option(min=1, help="Stop once the table holds this many frames.")
    ] = None,
    idle: Annotated[
        float | None,
        typer.Option(min=0.0, help="Stop after this many seconds without a new file [s]."),
    ] = None,
    keep_up: Annotated[
        bool,
        typer.Option(
            help="When frames arrive faster than they are analysed, analyse the newest and list "
            "the others in OUT/skipped.csv (a later run without --keep-up fills them in)."
        ),
    ] = False,
    serve: Annotated[
        str | None,
        typer.Option(
            help="Live page at PORT or HOST:PORT (loopback unless a host is given; 0: any free "
            "port): the latest frame with its particles, counts and events against time."
        ),
    ] = None,
    settle: Annotated[
        float,
        typer.Option(min=0.0, help="A file counts as written once unchanged this long [s]."),
    ] = 0.5,
    patience: Annotated[
        float,
        typer.Option(
            min=0.0,
            help="A file that cannot be read is retried until unchanged this long [s], then "
            "gets an error row.",
        ),
    ] = 10.0,
    polling: Annotated[
        bool,
        typer.Option(help="List the folder instead of filesystem events (network shares)."),
    ] = False,
    threshold: Threshold = DEFAULTS.threshold,
    material: Material = DEFAULTS.material,
    sampling: Sampling = None,
    frame_interval: FrameInterval = None,
    min_area: MinArea = DEFAULTS.min_area,
    window: Window = DEFAULTS.window,
    overlap: Overlap = DEFAULTS.overlap,
    batch_size: BatchSize = DEFAULTS.batch_size,
    max_resample: MaxResample = DEFAULTS.max_resample,
    device: Device = DEFAULTS.device,
    workers: Workers = 0,
    scheduler: Scheduler = None,
) -> None:
    """Watch FOLDER and analyse each frame once as it arrives, like `series` does after the
    fact: particles, their zones, and with --columns-model the columns and diffusion events.

    A file counts once it has not changed for --settle seconds and its reader succeeds (a file
    still being written is retried, never read half). Each frame's row is appended to
    OUT/frames.csv with its source file; a bad file gets a row with its error and the watch goes
    on. Restarting with the same --out resumes: no frame is done twice, none is lost. Ctrl-C,
    --until or --idle ends it; OUT/arrivals.csv has each frame's lag from its file's last write
    to its row. With --workers or --scheduler the frames are analysed on dask workers (which
    must see FOLDER), rows still in arrival order; a worker lost mid-frame has it redone.
    """
    from hrtem_analysis.frame_analysis import Analysis
    from hrtem_analysis.watch.run import WatchOptions, watch_folder
    from hrtem_msd import configure_threads
    from rich.console import Console

    configure_threads()
    address = parse_address(serve) if serve is not None else None
    settings = Settings(
        material=material, threshold=threshold, min_area=min_area, window=window,
        overlap=overlap, batch_size=batch_size, max_resample=max_resample, device=device,
    ).resolved()  # fmt: skip
    analysis = Analysis("particles", model, columns_model, settings, masks=address is not None)
    options = WatchOptions(
        settle=settle, patience=patience, polling=polling, until=until, idle=idle,
        keep_up=keep_up, sampling=sampling, frame_interval=frame_interval, workers=workers,
        scheduler=scheduler,
    )  # fmt: skip
    console = Console(stderr=True)
    live = None
    if address is not None:
        from hrtem_analysis.watch.live import LivePage

        live = LivePage(*address, title=str(folder))
        typer.echo(f"live page: {live.start()}")
    typer.echo(f"watching {folder} (Ctrl-C stops; a rerun with -o {out} resumes)")

    def shown(row: dict, frame: object, record: object) -> None:
        if live is not None:
            live.publish(row, frame, record)
        state = row["error"] if row["status"] == "failed" else f"{row['particles']} particle(s)"
        console.print(f"frame {row['frame']}: {row['source']}: {state}", highlight=False)

    try:
        summary = watch_folder(folder, analysis, out, options, on_frame=shown)
    except KeyboardInterrupt:
        typer.echo("stopped; rerun the same command to go on")
        raise typer.Exit(130) from None
    finally:
        if live is not None:
            live.stop()
    lag = max(summary.lags) if summary.lags else float("nan")
    typer.echo(
        f"frames: analysed {summary.analysed}, failed {summary.failed}, skipped "
        f"{summary.skipped} (behind), already in the table {summary.resumed}; "
        f"{summary.seconds:.1f} s; largest lag {lag:.2f} s"
    )
    typer.echo(f"table: {summary.csv}")
