"""The `hrtem` Typer app: one sub-app per concern, each only parses and hands off."""

import os

# OpenMP threads that spin at barriers make torch several times slower on small shared machines;
# this only acts if set before torch is imported (see hrtem_msd.threads).
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import typer

from hrtem_cli.analyze import app as analyze_app
from hrtem_cli.check import app as check_app
from hrtem_cli.evaluate import evaluate
from hrtem_cli.models import app as models_app
from hrtem_cli.mtf import app as mtf_app
from hrtem_cli.runs import app as runs_app
from hrtem_cli.simulate import simulate
from hrtem_cli.train import train

app = typer.Typer(
    rich_markup_mode=None,  # help texts hold units in brackets, e.g. [Å/px], not markup
    name="hrtem",
    help="Deep-learning analysis of HR-TEM data, trained on abTEM simulations.",
    no_args_is_help=True,
    add_completion=False,
)


@app.callback()
def main() -> None:
    """hrtem: simulate datasets, fit the detector MTF, train, evaluate, analyse HR-TEM data and
    check models on simulations with known truth."""


app.command()(simulate)
app.command()(train)
app.command()(evaluate)
app.add_typer(mtf_app, name="mtf")
app.add_typer(models_app, name="models")
app.add_typer(runs_app, name="runs")
app.add_typer(analyze_app, name="analyze")
app.add_typer(check_app, name="check")


if __name__ == "__main__":
    app()
