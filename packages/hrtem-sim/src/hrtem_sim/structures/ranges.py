"""Checks and draws for the random ranges of structure parameters.

A range is a list ``[min, max]`` (min == max fixes the value); a choice is a non-empty list of
names from a known set. Every failed check is one StructureError naming ``kind.key`` and the value.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from hrtem_sim.errors import StructureError


def check_range(
    kind: str, key: str, values: Sequence[float], low: float = 0.0, high: float = math.inf
) -> tuple[float, float]:
    """``values`` as (min, max), checked to be two finite numbers with low <= min <= max <= high."""
    pair = [float(v) for v in values]
    if len(pair) != 2 or not all(math.isfinite(v) for v in pair):
        raise StructureError(
            f"{kind}.{key}: expected a range [min, max] of two numbers, got {pair}"
        )
    lo, hi = pair
    if lo > hi:
        raise StructureError(f"{kind}.{key}: range [{lo}, {hi}] has min > max")
    if lo < low or hi > high:
        raise StructureError(f"{kind}.{key}: range [{lo}, {hi}] must lie within [{low}, {high}]")
    return lo, hi


def check_value(
    kind: str, key: str, value: float, low: float = 0.0, high: float = math.inf
) -> float:
    """``value`` as a float, checked to be finite and within [low, high]."""
    v = float(value)
    if not (math.isfinite(v) and low <= v <= high):
        raise StructureError(f"{kind}.{key}: {v} must lie within [{low}, {high}]")
    return v


def check_choices(kind: str, key: str, values: Sequence[str], known: Sequence[str]) -> list[str]:
    """``values`` as a list, checked to be non-empty and drawn from ``known``."""
    chosen = [str(v) for v in values]
    unknown = [v for v in chosen if v not in known]
    if not chosen or unknown:
        raise StructureError(
            f"{kind}.{key}: {chosen} must be a non-empty subset of {list(known)}"
            + (f" (unknown: {unknown})" if unknown else "")
        )
    return chosen


DRAWS = ("uniform", "log_uniform")


def draw(rng: np.random.Generator, bounds: tuple[float, float], how: str = "uniform") -> float:
    """A draw from [min, max] (exactly min when they are equal): ``uniform``, or ``log_uniform``
    (uniform in log, as many between 1 and 1.5 nm as between 4 and 6 nm; min > 0). One draw of
    ``rng`` either way."""
    if how == "log_uniform":
        return float(np.exp(rng.uniform(*np.log(bounds))))
    return float(rng.uniform(*bounds))


def choose(rng: np.random.Generator, options: Sequence[str]) -> str:
    """One of ``options``, uniformly."""
    return str(options[int(rng.integers(len(options)))])
