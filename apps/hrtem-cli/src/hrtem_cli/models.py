"""`hrtem models list|show|promote`: the MLflow Model Registry of trained networks."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from hrtem_cli.errors import one_line_errors

app = typer.Typer(
    rich_markup_mode=None,  # help texts hold units in brackets, e.g. [Å/px], not markup
    name="models",
    help="Registered models: list, show, promote a version.",
    no_args_is_help=True,
)
SUMMARY_METRICS = ("val/iou", "val/dice", "test/iou", "test/dice", "test/f1")


def _aliases(aliases: dict[str, int]) -> str:
    return ", ".join(f"@{alias} -> v{version}" for alias, version in aliases.items()) or "-"


def _number(value: float | None) -> str:
    return "-" if value is None else f"{value:.4g}"


@app.command("list")
@one_line_errors()
def list_() -> None:
    """Every registered model: newest version, aliases, last update."""
    from hrtem_msd.store.registry import registered_models
    from hrtem_msd.store.tracking import tracking_uri

    models = registered_models()
    if not models:
        typer.echo(f"no registered models at {tracking_uri()}")
        return
    table = Table(title=f"registered models at {tracking_uri()}")
    for column in ("name", "latest", "aliases", "updated (UTC)"):
        table.add_column(column)
    for model in models:
        latest = "-" if model.latest_version is None else f"v{model.latest_version}"
        updated = model.updated.strftime("%Y-%m-%d %H:%M")
        table.add_row(model.name, latest, _aliases(model.aliases), updated)
    Console(width=140).print(table)


@app.command("show")
@one_line_errors()
def show(
    name: Annotated[str, typer.Argument(help="Registered model, e.g. hrtem-nanoparticle.")],
) -> None:
    """Versions of NAME (run, aliases, final metrics) and the model card of its newest version."""
    from hrtem_msd.store.registry import show_model

    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")  # one small YAML
    details = show_model(name)
    console = Console(width=140)
    table = Table(title=f"{name}  (aliases: {_aliases(details.summary.aliases)})")
    for column in ("version", "aliases", "status", "created (UTC)", "run"):
        table.add_column(column, no_wrap=True)
    for metric in SUMMARY_METRICS:
        table.add_column(metric)
    for version in details.versions:
        table.add_row(
            f"v{version.version}",
            ", ".join(f"@{alias}" for alias in version.aliases) or "-",
            version.status,
            version.created.strftime("%Y-%m-%d %H:%M"),
            version.run_id or "-",
            *(_number(version.metrics.get(metric)) for metric in SUMMARY_METRICS),
        )
    console.print(table)
    config = details.config
    if config is not None:
        newest = details.versions[0].version
        console.print(f"model card of v{newest}:")
        for line in config.describe().splitlines():
            console.print(f"  {line}", highlight=False)


@app.command("promote")
@one_line_errors()
def promote(
    name: Annotated[str, typer.Argument(help="Registered model, e.g. hrtem-nanoparticle.")],
    version: Annotated[int, typer.Argument(help="Version to promote.")],
    alias: Annotated[str, typer.Option(help="Alias to point at VERSION.")] = "champion",
) -> None:
    """Point ALIAS of NAME at VERSION (e.g. load it as models:/NAME@champion)."""
    from hrtem_msd.store.registry import promote as set_alias

    set_alias(name, version, alias)
    typer.echo(f"models:/{name}@{alias} -> version {version}")


@app.command("install")
@one_line_errors()
def install(
    tasks: Annotated[
        list[str] | None,
        typer.Argument(help="Tasks whose shipped model to install (default: every shipped one)."),
    ] = None,
) -> None:
    """Register the models shipped with hrtem as hrtem-<task>@pretrained in the MLflow store.

    Each shipped file is checked (size, SHA-256, model card) before anything is registered; a
    model already installed with the same weights is left as it is. Afterwards, every command
    that takes a model accepts models:/hrtem-<task>@pretrained, or @pretrained for short.
    """
    from hrtem_msd.store.pretrained import ALIAS
    from hrtem_msd.store.pretrained import install as register

    for done in register(list(tasks or [])):
        state = "installed" if done.new else "already installed, nothing changed"
        typer.echo(f"models:/{done.name}@{ALIAS} -> version {done.version} ({state})")


@app.command("export")
@one_line_errors()
def export(
    model: Annotated[
        str, typer.Argument(help="The model to ship, e.g. models:/hrtem-nanoparticle/3.")
    ],
    task: Annotated[str, typer.Option(help="Its task (refused if the card says another).")],
    scenes: Annotated[
        list[Path] | None,
        typer.Option(
            help="scenes.csv of `hrtem check scenes` run on MODEL (repeatable: held-out and "
            "training families); its rows of MODEL become the card's check figures.",
            exists=True,
            dir_okay=False,
        ),
    ] = None,
    series: Annotated[
        list[Path] | None,
        typer.Option(
            help="series_check_summary.csv of `hrtem check series` with --columns-model MODEL "
            "(repeatable: seeds, doses).",
            exists=True,
            dir_okay=False,
        ),
    ] = None,
    vacancies: Annotated[
        list[Path] | None,
        typer.Option(
            help="vacancy_scenes_summary.csv of `hrtem check vacancies` run on MODEL.",
            exists=True,
            dir_okay=False,
        ),
    ] = None,
    trained_by: Annotated[
        str | None,
        typer.Option(
            help="How MODEL was trained, recorded in the manifest [default: the task's preset, "
            "configs/pretrained/TASK.yaml]; e.g. 'make train TASK=nanoparticle' when the "
            "default training beat the preset's.",
        ),
    ] = None,
    out: Annotated[
        Path | None, typer.Option(help="Shipped directory [default: hrtem_msd/pretrained/].")
    ] = None,
) -> None:
    """Ship MODEL: its weights and card (with the check figures) into the shipped directory and
    its SHA-256 into the manifest, for `hrtem models install`. For maintainers."""
    import pandas as pd
    from hrtem_checks.card import card_figures
    from hrtem_msd.store.pretrained import export as ship

    figures: dict[str, float] = {}
    checks = [  # (files, check, column naming the model, case keys)
        (scenes, "scenes", "method", ("substrates", "dose")),
        (series, "series", "columns_model", ("case", "dose")),
        (vacancies, "vacancies", "model", ("dose",)),
    ]
    for files, check, column, keys in checks:
        for path in files or []:
            figures.update(card_figures(pd.read_csv(path), check, model, column, keys))
    how = (
        {"trained_by": trained_by} if trained_by else {"preset": f"configs/pretrained/{task}.yaml"}
    )
    entry = ship(model, task, figures, {"model": model, **how}, out)
    typer.echo(
        f"{entry.folder}: {entry.size} bytes, sha256 {entry.sha256}, {len(figures)} check figures"
    )
