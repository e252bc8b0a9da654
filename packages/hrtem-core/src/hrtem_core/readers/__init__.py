"""Microscope-file readers: one dispatch by suffix, one transpose to abTEM's order, lazy stacks."""

from hrtem_core.readers.stack import (
    FOLDER_SUFFIXES,
    SUFFIXES,
    Stack,
    open_stack,
    read_image,
    read_stack,
)
from hrtem_core.readers.units import Sampling, to_angstrom, to_seconds

__all__ = [
    "FOLDER_SUFFIXES",
    "SUFFIXES",
    "Sampling",
    "Stack",
    "open_stack",
    "read_image",
    "read_stack",
    "to_angstrom",
    "to_seconds",
]
