"""Errors for bad model input: an unknown architecture name, bad hyper-parameters, a wrong input shape."""

from hrtem_core.errors import HRTEMError


class ModelError(HRTEMError):
    """A model is asked for by an unknown name, with bad arguments, or fed an input it cannot take."""
