"""A check's summary table as a model card's ``checks``: the figures shipped with a model.

Every check writes a summary with one row per case (dose, substrate family, seed, ...) and a
column naming the model each row scored. :func:`card_figures` keeps that model's rows and names
each numeric figure ``<check>/<case keys...>/<metric>``, e.g. ``scenes/clumped_carbon/200/recall``
or ``vacancies/2000/mae_rel``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import pandas as pd
from hrtem_core.errors import SpecError


def _key(value: object) -> str:
    return f"{value:g}" if isinstance(value, float) else str(value)


def card_figures(
    summary: pd.DataFrame, check: str, model: str, column: str, keys: Sequence[str]
) -> dict[str, float]:
    """The figures of the rows whose ``column`` is ``model``: ``check/<keys>/<metric>`` for each
    finite numeric metric; a SpecError naming the models in ``summary`` when it has none."""
    if column not in summary:
        raise SpecError(f"the {check} check's table has no {column!r} column")
    rows = summary[summary[column] == model]
    if rows.empty:
        known = ", ".join(map(str, summary[column].unique())) or "none"
        raise SpecError(f"the {check} check has no rows of {model!r} ({column}: {known})")
    figures = {}
    skip = {column, *keys}
    for _, row in rows.iterrows():
        prefix = "/".join([check, *(_key(row[k]) for k in keys)])
        for name, value in row.items():
            number = pd.api.types.is_number(value) and not pd.api.types.is_bool(value)
            if name not in skip and number and math.isfinite(value):
                figures[f"{prefix}/{name}"] = float(value)
    return figures
