"""The `hrtem` command line (Typer). Only this package knows about Typer."""
