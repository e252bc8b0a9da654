"""Errors for bad input. Each message is one line naming the input (file, key or value) at fault.

The CLI prints ``str(error)`` on one line and exits non-zero; it never shows a traceback for these.
"""


class HRTEMError(ValueError):
    """Base of every bad-input error in hrtem (all packages derive theirs from it)."""


class SpecError(HRTEMError):
    """A data spec or config is missing, malformed, or has an unknown key, wrong type or bad range."""


class DatasetError(HRTEMError):
    """A dataset or shard is missing, corrupt, truncated or inconsistent."""


class ImageError(HRTEMError):
    """An image or wave has the wrong dtype, shape, sampling or contains NaNs; a parameter is out of range."""


class CardError(HRTEMError):
    """A card is malformed, or what one stage hands the next does not match what it needs."""
