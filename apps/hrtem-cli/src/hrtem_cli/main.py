"""The `hrtem` Typer app: one sub-app per concern, each only parses and hands off."""

import typer

app = typer.Typer(
    name="hrtem",
    help="Deep-learning analysis of HR-TEM data, trained on abTEM simulations.",
    no_args_is_help=True,
    add_completion=False,
)


@app.callback()
def main() -> None:
    """hrtem: simulate datasets, fit the detector MTF, train, evaluate and analyse HR-TEM data."""
