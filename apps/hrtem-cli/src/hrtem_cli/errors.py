"""Bad input on the command line: one line on stderr and exit code 1, never a traceback."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import typer
from hrtem_core.errors import HRTEMError


@contextlib.contextmanager
def one_line_errors() -> Iterator[None]:
    """Turn an ``HRTEMError`` into ``error: <message>`` on stderr and exit 1.

    Use as ``with one_line_errors(): ...`` or as a decorator ``@one_line_errors()``.
    """
    try:
        yield
    except HRTEMError as error:
        typer.echo(f"error: {error}", err=True)
        raise typer.Exit(1) from None
