"""`hrtem simulate`: simulate a dataset from a data spec on dask workers."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Annotated

import typer

from hrtem_cli.errors import one_line_errors


@one_line_errors()
def simulate(
    spec: Annotated[
        Path, typer.Argument(help="Data spec YAML, e.g. data_specs/nanoparticle.yaml.")
    ],
    profile: Annotated[
        str | None,
        typer.Option("--profile", "-p", help="Size profile from the spec: tiny, small or full."),
    ] = None,
    workers: Annotated[
        int | None,
        typer.Option(
            "--workers",
            "-w",
            min=0,
            help="Local worker processes (default: one per core; 0: in this process).",
        ),
    ] = None,
    scheduler: Annotated[
        str | None,
        typer.Option(
            help="Existing dask scheduler to run on, e.g. tcp://HOST:8786 (workers must see --out)."
        ),
    ] = None,
    out: Annotated[Path, typer.Option(help="Root directory of datasets.")] = Path("data"),
) -> None:
    """Simulate the exit waves and labels of SPEC into OUT/<name>-<spec hash>/, one shard per task.

    Finished shards are kept: run the same command again to resume an interrupted run.
    """
    from hrtem_sim.simulate import run_simulation
    from hrtem_sim.spec import load_spec

    log = logging.getLogger("hrtem_sim")
    if not log.handlers:  # progress notes (e.g. shards skipped on resume) on stderr
        log.addHandler(logging.StreamHandler())
        log.setLevel(logging.INFO)
        log.propagate = False
    data_spec = load_spec(spec, profile)
    summary = run_simulation(data_spec, out, workers=workers, scheduler=scheduler)
    typer.echo(
        f"{summary.path}: {summary.samples} samples; shards simulated {summary.simulated}, "
        f"skipped {summary.skipped} (already finished); {summary.seconds:.1f} s"
    )
