"""Columns tracked between frames: drift registered on the particle, matching tied to the lattice,
events with their positions, through the pipeline a user runs (synthetic frames, real models)."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hrtem_analysis.columns import ColumnChanges, column_changes, confirmed_changes, match_distance
from hrtem_analysis.drift_tracking import Region, particle_region, region_drift
from hrtem_analysis.frame_analysis import Analysis
from hrtem_analysis.frames import open_frames
from hrtem_analysis.series import run_series
from hrtem_analysis.settings import Settings
from scipy import ndimage

_spec = importlib.util.spec_from_file_location(
    "synthetic", Path(__file__).with_name("synthetic.py")
)
synthetic = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(synthetic)
S = synthetic.SAMPLING
# The farthest point from every column of the Au <110> lattice (1.53 Å from the nearest, more
# than half the 2.50 Å spacing): a drift by it, not removed, turns every column into two events.
HOLE = np.array([0.51, 1.4425])  # [Å]


def shifted(image: np.ndarray, by: np.ndarray) -> np.ndarray:
    """``image`` ``[nx, ny]`` with its content moved by ``by`` [Å] (cubic spline)."""
    return ndimage.shift(image, by / S, order=3, mode="nearest").astype(np.float32)


def analyse(frames: list[np.ndarray], out: Path, models, settings: Settings | None = None):
    """run_series on ``frames`` (abTEM order) written as a stack file; (rows, events)."""
    out.mkdir(parents=True)
    np.save(out / "frames.npy", np.stack([f.T for f in frames]))  # file order: row = y
    analysis = Analysis("particles", models["particle"], models["columns"], settings or Settings())
    source = open_frames(out / "frames.npy", channels=1, sampling=S)
    summary = run_series(source, analysis, out / "result")
    return pd.read_parquet(summary.parquet), pd.read_csv(summary.events)


def test_the_drift_of_a_particle_region_is_recovered_in_angstrom() -> None:
    image = synthetic.particle_frame("on", seed=0)
    x, y = (np.arange(synthetic.SIZE) * S for _ in range(2))
    mask = np.hypot(x[:, None] - synthetic.CENTRE[0], y[None] - synthetic.CENTRE[1]) < 8.0
    reference = particle_region(image, mask, (S, S), max_drift=5.0)
    for by in (np.array([1.37, -0.62]), HOLE, np.array([-2.9, 1.1])):
        moved = particle_region(
            shifted(image, by), ndimage.shift(mask, by / S, order=0), (S, S), 5.0
        )
        np.testing.assert_allclose(region_drift(reference, moved, 5.0), by, atol=0.05)
    far = Region(image[:16, :16], np.ones((16, 16), bool), (120, 120), (S, S))
    assert np.isnan(region_drift(reference, far, 5.0)).all()  # 8 px in common: too little


def test_matching_distance_is_a_fraction_of_the_measured_spacing() -> None:
    sites = synthetic.lattice_sites()
    assert match_distance(sites, sites[:1], 0.5, 9.0) == pytest.approx(0.5 * 2.498, abs=0.01)
    assert match_distance(sites[:1], sites[:1], 0.5, 2.355) == pytest.approx(0.5 * 2.355)
    changes = column_changes(sites, np.delete(sites, [2], axis=0) + HOLE, 1.25, drift=HOLE)
    assert (len(changes.appeared), changes.matched) == (0, len(sites) - 1)
    np.testing.assert_allclose(changes.vanished, sites[[2]] + HOLE)  # where it would be now


def test_a_drifted_copy_of_a_frame_gives_zero_events(tmp_path: Path, models) -> None:
    frame = synthetic.particle_frame("on", seed=0)
    frames = [frame, shifted(frame, HOLE)]
    rows, events = analyse(frames, tmp_path / "registered", models)
    assert rows["columns"].tolist() == [26, 26]
    assert rows["events"].tolist() == [0, 0] and len(events) == 0
    np.testing.assert_allclose(rows.loc[1, ["drift_x", "drift_y"]].to_numpy(float), HOLE, atol=0.1)
    # Without removing the drift (a cap far below it) every column vanishes and appears again.
    rows, events = analyse(frames, tmp_path / "capped", models, Settings(max_drift=0.2))
    assert rows.loc[1, ["appeared", "vanished"]].tolist() == [26, 26]


def test_a_frame_with_two_columns_removed_gives_exactly_two_vanished(
    tmp_path: Path, models
) -> None:
    sites = synthetic.lattice_sites()
    frames = [
        synthetic.particle_frame("on", seed=0),
        shifted(synthetic.particle_frame("on", seed=1, missing=(3, 17)), HOLE),
    ]
    rows, events = analyse(frames, tmp_path / "out", models)
    assert rows[["columns", "appeared", "vanished", "events"]].values.tolist() == [
        [26, 0, 0, 0],
        [24, 0, 2, 2],
    ]
    assert events["frame"].tolist() == [1, 1] and set(events["kind"]) == {"vanished"}
    found = events.sort_values("x")[["x", "y"]].to_numpy()
    expected = (sites[[3, 17]] + HOLE)[np.argsort(sites[[3, 17], 0])]
    np.testing.assert_allclose(found, expected, atol=0.15)  # [Å], in frame 1's coordinates


# Column 3 missing from frame 1 only, column 17 gone from frame 3 on; every frame drifted.
FLICKER_DRIFT = np.cumsum([[0, 0], HOLE, -HOLE / 2, HOLE, -HOLE], axis=0)  # [Å] from frame 0
FLICKER_MISSING = [(), (3,), (), (17,), (17,)]


def flicker_frames() -> list[np.ndarray]:
    return [
        shifted(synthetic.particle_frame("on", seed=t, missing=gone), FLICKER_DRIFT[t])
        for t, gone in enumerate(FLICKER_MISSING)
    ]


def test_one_frame_flickers_are_no_events_and_a_lasting_change_is(tmp_path: Path, models) -> None:
    """Confirmed, one event (17 vanished at frame 3, where it would lie); raw, three."""
    sites, drift, frames = synthetic.lattice_sites(), FLICKER_DRIFT, flicker_frames()
    rows, events = analyse(frames, tmp_path / "confirmed", models)
    assert rows["events"].tolist() == [0, 0, 0, 1, 0]
    assert events[["frame", "kind"]].values.tolist() == [[3, "vanished"]]
    np.testing.assert_allclose(events[["x", "y"]].to_numpy()[0], sites[17] + drift[3], atol=0.15)
    raw_rows, raw = analyse(frames, tmp_path / "raw", models, Settings(confirm_events=False))
    assert raw[["frame", "kind"]].values.tolist() == [
        [1, "vanished"], [2, "appeared"], [3, "vanished"]
    ]  # fmt: skip
    assert raw_rows["columns"].tolist() == rows["columns"].tolist() == [26, 25, 26, 25, 25]


def test_confirmation_drops_what_a_neighbouring_frame_undoes() -> None:
    """confirmed_changes: a column in one frame only, or missing from one frame only, is no
    event; the next frame's drift is removed before comparing."""
    spot, other, move = np.array([[5.0, 5.0]]), np.array([[9.0, 1.0]]), np.array([2.0, -1.0])
    none = np.zeros((0, 2))
    appeared = ColumnChanges(spot, none, 10, 1.0)  # into this frame
    gone_next = ColumnChanges(none, spot + move, 10, 1.0)  # the next frame, drifted by move
    assert len(confirmed_changes(appeared, None, (0, 0), gone_next, move).appeared) == 0
    assert len(confirmed_changes(appeared, None, (0, 0), gone_next, (0, 0)).appeared) == 1
    stays = ColumnChanges(none, other + move, 10, 1.0)
    assert len(confirmed_changes(appeared, None, (0, 0), stays, move).appeared) == 1
    assert len(confirmed_changes(appeared, None, (0, 0), None, (0, 0)).appeared) == 1
    vanished = ColumnChanges(none, spot, 10, 1.0)
    came_before = ColumnChanges(spot - move, none, 10, 1.0)  # the previous frame's coordinates
    assert len(confirmed_changes(vanished, came_before, move, None, (0, 0)).vanished) == 0
    back_next = ColumnChanges(spot + move, none, 10, 1.0)
    assert len(confirmed_changes(vanished, None, (0, 0), back_next, move).vanished) == 0
    assert len(confirmed_changes(vanished, None, (0, 0), None, (0, 0)).vanished) == 1


def test_a_run_stopped_while_a_frame_waits_for_confirmation_resumes_to_the_same_tables(
    tmp_path: Path, models
) -> None:
    """Stopped once frame 1's row is written (frame 2 held, lost): the rerun analyses frame 2
    again and confirms it against frame 1's changes read back from the files."""
    full_rows, full_events = analyse(flicker_frames(), tmp_path / "full", models)
    out = tmp_path / "stopped"
    out.mkdir()
    np.save(out / "frames.npy", np.stack([f.T for f in flicker_frames()]))
    analysis = Analysis("particles", models["particle"], models["columns"])
    source = open_frames(out / "frames.npy", channels=1, sampling=S)

    def stop_after_frame_1(done: int, row: dict | None) -> None:
        if row is not None and row["frame"] == 1:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        run_series(source, analysis, out / "result", progress=stop_after_frame_1)
    assert pd.read_csv(out / "result" / "frames.csv")["frame"].tolist() == [0, 1]
    summary = run_series(source, analysis, out / "result")
    assert (summary.analysed, summary.skipped) == (3, 2)
    pd.testing.assert_frame_equal(pd.read_parquet(summary.parquet), full_rows)
    pd.testing.assert_frame_equal(pd.read_csv(summary.events), full_events)
