"""`hrtem runs compare`: the MLflow runs of one task side by side, as a table and a PNG of curves."""

from __future__ import annotations

import math
import shutil
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from hrtem_cli.errors import one_line_errors

app = typer.Typer(
    rich_markup_mode=None,  # help texts hold units in brackets, e.g. [Å/px], not markup
    name="runs",
    help="Tracked training runs: compare them.",
    no_args_is_help=True,
)
RUN_ID_CHARS = 8  # enough to tell runs apart; MLflow accepts no prefix, the UI shows the rest
HEADERS = {
    "run_id": "run",
    "run_name": "name",
    "architecture": "model",
    "num_nodes": "nodes",
    "best_epoch": "at epoch",
    "duration_s": "duration",
}


def _cell(column: str, value: object) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    if column == "run_id":
        return str(value)[:RUN_ID_CHARS]
    if column == "duration_s":
        minutes, seconds = divmod(round(float(value)), 60)
        return f"{minutes // 60}:{minutes % 60:02d}:{seconds:02d}"
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


@app.command("compare")
@one_line_errors()
def compare(
    task: Annotated[str, typer.Option(help="Task whose runs to compare, e.g. nanoparticle.")],
    metric: Annotated[str, typer.Option(help="Metric to rank and plot, per epoch.")] = "val/iou",
    out: Annotated[
        Path | None, typer.Option(help="PNG of the metric curves [default: compare-TASK.png].")
    ] = None,
) -> None:
    """Table of the runs of TASK (architecture, depth, precision, devices, dataset, best metric,
    test metrics, duration), best first, and a PNG of METRIC against epoch."""
    from hrtem_msd.evaluation.compare import compare_runs, plot_metric_curves

    table = compare_runs(task, metric)
    if table.empty:
        typer.echo(f"no runs of task {task!r} yet")
        return
    table = table.dropna(axis="columns", how="all")
    shown = Table(title=f"runs of {task}, by best {metric}")
    columns = [column for column in table.columns if column != "start"]
    for column in columns:
        shown.add_column(HEADERS.get(column, column), overflow="fold")
    for _, row in table.iterrows():
        shown.add_row(*(_cell(column, row[column]) for column in columns))
    Console(width=max(200, shutil.get_terminal_size().columns)).print(shown)
    path = plot_metric_curves(table, metric, out or Path(f"compare-{task}.png"))
    typer.echo(f"{path}: {metric} of {len(table)} run(s)")
