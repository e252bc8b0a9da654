"""Figures as PNG: the Figure-1 panel, the Figure-2 alignment overlay and the time series."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pandas as pd
from hrtem_analysis import figures
from hrtem_analysis.fourier import alignment_map
from matplotlib.image import imread

_spec = importlib.util.spec_from_file_location(
    "synthetic", Path(__file__).with_name("synthetic.py")
)
synthetic = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(synthetic)
SAMPLING = (synthetic.SAMPLING, synthetic.SAMPLING)


def disc_mask() -> np.ndarray:
    x = np.arange(synthetic.SIZE)[:, None] * synthetic.SAMPLING
    y = np.arange(synthetic.SIZE)[None, :] * synthetic.SAMPLING
    return np.hypot(x - synthetic.CENTRE[0], y - synthetic.CENTRE[1]) < synthetic.RADIUS


def check_png(path: Path, min_bytes: int) -> np.ndarray:
    assert path.stat().st_size > min_bytes
    pixels = imread(path)
    assert pixels[..., :3].std() > 0.05  # not a blank canvas
    return pixels


def test_frame_panel_and_alignment_overlay(tmp_path: Path) -> None:
    image = synthetic.particle_frame("on")
    mask = disc_mask()
    panel = figures.save(
        figures.frame_panel(image, mask * 1.0, mask, SAMPLING, "on axis"), tmp_path / "panel.png"
    )
    pixels = check_png(panel, 50_000)
    assert pixels.shape[1] > 2.5 * pixels.shape[0]  # four panels side by side
    empty = figures.frame_panel(np.ones_like(image), 0 * image, ~mask & False, SAMPLING)
    assert empty.axes[3].get_title() == "no particle"
    probabilities = np.stack([~mask, mask]).astype(np.float32)
    alignment = alignment_map(probabilities, image, SAMPLING, min_area=100)
    assert alignment[mask].mean() > 0.6  # on a zone axis: coloured near 1
    overlay = figures.alignment_overlay(image, alignment, mask, SAMPLING)
    check_png(figures.save(overlay, tmp_path / "overlay.png"), 20_000)


def test_series_plot_draws_each_measured_quantity(tmp_path: Path) -> None:
    table = pd.DataFrame(
        {
            "time": [0.0, 0.5, 1.0, 1.5],
            "ratio": [1.2, np.inf, 1.3, 1.1],
            "interpretable": pd.array([True, False, True, True], dtype="boolean"),
            "columns": pd.array([26, None, 25, 26], dtype="Int64"),
            "events": pd.array([0, None, 1, 1], dtype="Int64"),
            "vacancies": pd.array([None] * 4, dtype="Int64"),
        }
    )
    fig = figures.series_plot(table, threshold=2.0)
    assert [ax.get_ylabel() for ax in fig.axes] == [
        "peak-pair ratio",
        "atomic columns",
        "diffusion events",
    ]
    check_png(figures.save(fig, tmp_path / "series.png"), 20_000)


def test_series_plot_shows_the_drift_and_the_column_panel_marks_events(tmp_path: Path) -> None:
    from hrtem_analysis.columns import column_changes
    from hrtem_analysis.drift_tracking import particle_region

    table = pd.DataFrame(
        {
            "time": [0.0, 1.0, 2.0],
            "columns": pd.array([26, 25, 26], dtype="Int64"),
            "events": pd.array([0, 1, 1], dtype="Int64"),
            "appeared": pd.array([0, 0, 1], dtype="Int64"),
            "vanished": pd.array([0, 1, 0], dtype="Int64"),
            "drift_x": [np.nan, 1.2, -0.4],
            "drift_y": [np.nan, 0.3, 0.9],
        }
    )
    fig = figures.series_plot(table)
    assert [ax.get_ylabel() for ax in fig.axes] == [
        "atomic columns",
        "diffusion events",
        "drift [Å]",
    ]
    assert [line.get_label() for line in fig.axes[2].lines[:2]] == ["dx", "dy"]
    sites = synthetic.lattice_sites()
    region = particle_region(synthetic.particle_frame("on"), disc_mask(), SAMPLING, 2.0)
    changes = column_changes(sites, np.delete(sites, [4], axis=0), 1.25)
    panel = figures.column_panel(region, np.delete(sites, [4], axis=0), changes, "frame 1")
    labels = panel.axes[0].get_legend_handles_labels()[1]
    assert labels == ["columns (25)", "appeared (0)", "vanished (1)"]
    check_png(figures.save(panel, tmp_path / "columns.png"), 20_000)
