"""What a microscope file holds, from its metadata: only real-space images and image stacks are
frames.

:func:`describe` reads a rosettasciio signal (``data``, ``axes``, ``metadata``,
``original_metadata``) and says what it holds when that is not an image: a spectrum or spectrum
image (an energy or wavelength axis, a spectroscopic ``signal_type``, DigitalMicrograph's
``Meta Data.Format``), diffraction patterns (image axes in 1/length or an angle, a diffraction
``signal_type``, a TIA or DM diffraction mode), an FFT or other complex data, a colour image.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np

from hrtem_core.readers.units import to_angstrom, to_seconds

_ENERGIES = {"ev", "kev", "mev"}
_ANGLES = {"rad", "mrad", "µrad", "μrad", "urad", "deg", "°", "degree", "degrees"}
_SPECTRAL_NAMES = {"energy", "energy loss", "wavelength", "raman shift"}
_SPECTRAL_TYPES = ("eels", "eds", "edx", "cl", "lumi", "xps", "spectrum")
_COLOUR_FIELDS = set("RGBA")


def unit_kind(units: Any) -> str:
    """ "length", "reciprocal", "angle", "energy", "time", "other", or "" (none given)."""
    text = "" if units is None else str(units).replace(" ", "").strip().lower()
    if text in ("", "none", "<undefined>", "undefined", "px", "pixel", "pixels"):
        return ""
    if text.startswith("1/") or text.endswith(("^-1", "⁻¹", "-1")):
        return "reciprocal"
    if text in _ANGLES:
        return "angle"
    if text in _ENERGIES:
        return "energy"
    if to_angstrom(1.0, units) is not None:
        return "length"
    if to_seconds(1.0, units) is not None:
        return "time"
    return "other"


def _lookup(tree: Any, *keys: str) -> Any:
    """``tree[k0][k1]...`` of nested mappings, or None where a key is missing."""
    for key in keys:
        if not isinstance(tree, Mapping) or key not in tree:
            return None
        tree = tree[key]
    return tree


def recorded_mode(signal: Mapping[str, Any]) -> str:
    """What the acquisition software says it recorded, lower case ("" if it does not say):
    DigitalMicrograph's ``ImageTags.Meta Data.Format`` (e.g. "Spectrum image", "Diffraction
    image"), TIA's ``ExperimentalDescription.Mode`` (e.g. "TEM uP SA Zoom Diffraction")."""
    tags = signal.get("original_metadata") or {}
    image = _lookup(tags, "ImageList", "TagGroup0", "ImageTags") or {}
    found = (
        _lookup(image, "Meta Data", "Format"),
        _lookup(image, "Meta_Data", "Format"),
        _lookup(tags, "ObjectInfo", "ExperimentalDescription", "Mode"),
    )
    return " ".join(str(value) for value in found if value).lower()


def _units(axis: Mapping[str, Any]) -> str:
    return str(axis.get("units") or "").strip()


def _count(n: int, one: str, many: str) -> str:
    return one if n == 1 else f"{n} {many}"


def _spectral_axis(axes: list[Mapping[str, Any]], spectral: bool) -> int | None:
    """Index of the energy (or wavelength) axis, or None."""
    for i, axis in enumerate(axes):
        name = str(axis.get("name") or "").lower()
        if unit_kind(axis.get("units")) == "energy" or (spectral and name in _SPECTRAL_NAMES):
            return i
    return None


def _spectra(axes: list[Mapping[str, Any]], index: int) -> str:
    axis = axes[index]
    name = "wavelength" if "wave" in str(axis.get("name") or "").lower() else "energy"
    channels = f"{int(axis['size'])} {name} channels"
    others = [a for i, a in enumerate(axes) if i != index and int(a["size"]) > 1]
    if any(unit_kind(a.get("units")) == "length" for a in others):
        return f"a spectrum image ({channels})"
    count = math.prod(int(a["size"]) for a in others)
    return f"{_count(count, 'a spectrum', 'spectra')} ({channels})"


def describe(signal: Mapping[str, Any]) -> str | None:
    """None when ``signal`` is a real-space image or a stack of them (leading time or frame axes),
    else what it holds, e.g. "a spectrum image (2048 energy channels)"."""
    data, axes = signal["data"], list(signal.get("axes") or [])
    dtype = np.dtype(data.dtype)
    signal_type = str(_lookup(signal.get("metadata"), "Signal", "signal_type") or "").lower()
    mode = recorded_mode(signal)
    if dtype.names and set(dtype.names) <= _COLOUR_FIELDS:
        return f"a colour ({''.join(dtype.names)}) image"
    spectral = signal_type.startswith(_SPECTRAL_TYPES) or "spectrum" in mode
    index = _spectral_axis(axes, spectral)
    if index is not None:
        return _spectra(axes, index)
    if len(axes) < 2 or np.ndim(data) < 2:
        size = int(np.prod(np.shape(data)))
        return f"a spectrum ({size} channels)" if spectral else f"a 1-D signal of {size} values"
    if spectral:
        return f"a spectrum image (recorded as {signal_type or mode!r})"
    image_axes = axes[-2:]
    reciprocal = [unit_kind(a.get("units")) in ("reciprocal", "angle") for a in image_axes]
    count = math.prod(int(a["size"]) for a in axes[:-2])
    if np.issubdtype(dtype, np.complexfloating):
        if any(reciprocal):
            return f"{_count(count, 'an FFT', 'FFTs')} (complex, axes in {_units(image_axes[-1])})"
        return f"complex data ({dtype})"
    if any(reciprocal) or "diffraction" in signal_type or "diffraction" in mode:
        why = (
            f"axes in {_units(image_axes[-1])}"
            if any(reciprocal)
            else f"recorded as {mode or signal_type!r}"
        )
        return f"{_count(count, 'a diffraction pattern', 'diffraction patterns')} ({why})"
    return None
