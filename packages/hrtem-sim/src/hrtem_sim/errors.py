"""The simulation's own errors (the shared hierarchy lives in :mod:`hrtem_core.errors`) and the
check that the simulation extra is installed."""

import importlib.util

from hrtem_core.errors import HRTEMError

SIMULATION_MODULES = ("abtem", "ase")


def require_simulation(what: str = "simulating") -> None:
    """An HRTEMError naming the extra to install when abTEM or ASE is missing."""
    missing = [name for name in SIMULATION_MODULES if importlib.util.find_spec(name) is None]
    if missing:
        raise HRTEMError(
            f"{what} needs {' and '.join(missing)}, which this install lacks: "
            "pip install 'hrtem-sim[simulate]'"
        )


class StructureError(HRTEMError):
    """A structure cannot be built as asked (unknown kind, cell too small for the particle, ...)."""
