"""The simulation's own bad-input error; the shared hierarchy lives in :mod:`hrtem_core.errors`."""

from hrtem_core.errors import HRTEMError


class StructureError(HRTEMError):
    """A structure cannot be built as asked (unknown kind, cell too small for the particle, ...)."""
