"""`hrtem mtf fit`: fit the detector MTF from images of vacuum and write configs/detector/NAME.yaml."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from hrtem_cli.errors import one_line_errors

app = typer.Typer(
    rich_markup_mode=None,  # help texts hold units in brackets, e.g. [Å/px], not markup
    name="mtf",
    help="The detector's MTF, fitted from images of vacuum.",
    no_args_is_help=True,
)


@app.command("fit")
@one_line_errors()
def fit(
    vacuum: Annotated[
        list[Path],
        typer.Argument(
            help="Images of vacuum (TIFF, DM3/DM4, EMD, SER/EMI, MRC, NPY, HDF5), in counts."
        ),
    ],
    out: Annotated[
        Path, typer.Option(help="Detector YAML to write, e.g. configs/detector/NAME.yaml.")
    ],
    sampling: Annotated[
        float | None,
        typer.Option(help="Sampling [Å/px] where the files carry none (recorded only)."),
    ] = None,
    plot: Annotated[
        Path | None, typer.Option(help="Plot of the NPS and the fit (PNG, PDF).")
    ] = None,
    max_chi2: Annotated[
        float, typer.Option(help="Largest chi^2/dof of one image against the fit.")
    ] = 3.0,
) -> None:
    """Fit MTF(k) = (c0 - c1) / (1 + (k / (2 c2))^|c3|) + c1 (k in units of Nyquist, c0 = 1) to the
    noise power spectrum of VACUUM images, A MTF^2 + B, and write c0..c3 with uncertainties.

    Images without noise or with structure (a lattice, a film, a specimen) are refused; a fit
    whose uncertainties exceed its values is written with a warning on stderr.
    """
    from hrtem_sim.mtf_fit import fit_mtf_files, plot_fit, write_yaml

    result = fit_mtf_files(vacuum, sampling, max_chi2=max_chi2)
    write_yaml(result, out)
    if plot is not None:
        plot_fit(result, plot)
    c, u = result.coefficients, result.uncertainties
    summary = ", ".join(f"{key} = {c[key]:.4g} ± {u[key]:.2g}" for key in ("c1", "c2", "c3"))
    typer.echo(f"{out}: c0 = 1, {summary}; chi2/dof {result.chi2:.2f}")
    if result.warning is not None:
        typer.echo(f"warning: {result.warning}", err=True)
