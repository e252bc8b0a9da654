"""The series check: its scoring against known answers, and a tiny simulated series whose drift,
tilts and column events are what the truth says, analysed end to end."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hrtem_analysis.frame_analysis import Analysis
from hrtem_analysis.registration import drift
from hrtem_checks.series.check import score, series_check, true_events
from hrtem_checks.series.scenario import Scenario, SeriesScenario, Truth
from hrtem_sim.frames import Microscope

_spec = importlib.util.spec_from_file_location(
    "synthetic", Path(__file__).parents[1] / "analysis" / "synthetic.py"
)
synthetic = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(synthetic)


def hand_truth() -> Truth:
    """Five frames of six columns 3 Å apart: column 0 vanishes at frame 1, frame 2 is tilted,
    column 0 returns and column 5 vanishes at frame 3."""
    present = np.ones((5, 6), dtype=bool)
    present[1:3, 0] = False
    present[3:, 5] = False
    columns = np.stack([10.0 + 3.0 * np.arange(6), np.full(6, 20.0)], axis=1)
    drift = np.array([[0, 0], [1.0, 0.5], [2.0, 0.0], [2.5, -1.0], [2.0, -2.0]])
    on_axis = np.array([True, True, False, True, True])
    return Truth(on_axis, drift, present, columns, cell=40.0)


def perfect_analysis(truth: Truth) -> tuple[pd.DataFrame, pd.DataFrame]:
    """What an analysis that gets everything right writes: rows and events."""
    on = truth.on_axis
    rows = pd.DataFrame({"frame": range(5), "interpretable": on, "ratio": np.where(on, 1.5, 30.0)})
    rows["columns"] = pd.array(np.where(on, truth.present.sum(1), -1), dtype="Int64")
    rows.loc[~on, "columns"] = pd.NA
    steps = truth.drift - truth.drift[[0, 0, 1, 1, 3]]  # against the previous on-axis frame
    rows["drift_x"], rows["drift_y"] = np.where(
        on[:, None] & (np.arange(5) > 0)[:, None], steps, np.nan
    ).T
    return rows, true_events(truth)


def test_true_events_are_counted_between_on_axis_frames_where_they_are() -> None:
    truth = hand_truth()
    events = true_events(truth)
    assert events[["frame", "kind"]].values.tolist() == [
        [1, "vanished"],
        [3, "appeared"],
        [3, "vanished"],
    ]  # frame 2 is tilted: frame 3 is compared with frame 1
    np.testing.assert_allclose(events[["x", "y"]], [[11.0, 20.5], [12.5, 19.0], [27.5, 19.0]])


def test_a_perfect_analysis_scores_perfectly_and_errors_cost_what_they_should() -> None:
    truth = hand_truth()
    rows, events = perfect_analysis(truth)
    table, summary = score(truth, rows, events)
    assert (summary.frame_accuracy, summary.count_error, summary.count_error_max) == (1, 0, 0)
    assert (summary.precision, summary.recall, summary.drift_error) == (1, 1, 0)
    assert table["appeared_true"].tolist() == table["appeared_counted"].tolist() == [0, 0, 0, 1, 0]

    wrong = rows.copy()
    wrong.loc[2, ["interpretable", "columns"]] = [True, 5]  # the tilted frame let through
    wrong.loc[3, "columns"] = 4  # 5 true: 20 % off
    misplaced = events.copy()
    misplaced.loc[2, "x"] += 1.6  # more than half the 3 Å spacing from where it happened
    extra = pd.DataFrame([{"frame": 4, "kind": "appeared", "x": 30.0, "y": 18.0}])
    _, summary = score(truth, wrong, pd.concat([misplaced, extra], ignore_index=True))
    assert summary.frame_accuracy == pytest.approx(4 / 5)
    assert summary.count_error_max == pytest.approx(0.2)
    assert (summary.precision, summary.recall) == (pytest.approx(2 / 4), pytest.approx(2 / 3))


TINY = Scenario(
    frames=4, cell=32.0, diameter=16.0, carbon=10.0, tilted=(2,), events=(1, 3), columns_per_event=2
)


def test_a_tiny_simulated_series_holds_what_its_truth_says(tmp_path: Path, models) -> None:
    analysis = Analysis("particles", models["particle"], models["columns"])
    run = series_check(analysis, tmp_path / "check", TINY, Microscope(), progress=False)
    frames = np.load(tmp_path / "check" / "frames.npy")
    assert frames.shape == (4, 160, 160) and np.isfinite(frames).all()  # 32 Å at 0.2 Å/px
    table = run.table
    assert table["on_axis"].tolist() == [True, True, False, True]
    assert table["vanished_true"].tolist() == [0, 2, 0, 0]  # the two return at frame 3 ...
    assert table["appeared_true"].tolist() == [0, 0, 0, 2]  # ... counted against frame 1
    assert table["columns_true"].iloc[1] == table["columns_true"].iloc[0] - 2
    # The frames drift as the truth says: register whole frames (particle and carbon).
    truth = SeriesScenario(TINY).truth
    assert np.all(np.hypot(*np.diff(truth.drift, axis=0).T) <= TINY.max_drift + 1e-9)
    step = drift(frames[0].T, frames[1].T, max_shift=20) * 0.2  # [Å]
    np.testing.assert_allclose(step, truth.drift[1] - truth.drift[0], atol=0.15)
    assert run.csv.is_file() and run.plot.stat().st_size > 20_000
    assert (run.analysis / "events.csv").is_file()
    assert run.summary.true_events == 4
    assert run.summary.lines()[0].startswith("frame selection accuracy")
    (row,) = pd.read_csv(run.summary_csv).to_dict("records")  # what a model card ships
    assert (row["columns_model"], row["case"], row["dose"]) == (models["columns"], "seed0", 1000)
    assert (row["true_events"], row["recall"]) == (
        4,
        pytest.approx(run.summary.recall, nan_ok=True),
    )
