"""A series of synthetic frames through the real pipeline: models saved with save_model_data and
loaded by URI, rows per frame, events, resume, corrupt frames, dask workers, MoS2 vacancies."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import tifffile
from hrtem_analysis.frame_analysis import Analysis
from hrtem_analysis.frames import open_frames
from hrtem_analysis.series import run_series
from hrtem_core.errors import ImageError

_spec = importlib.util.spec_from_file_location(
    "synthetic", Path(__file__).with_name("synthetic.py")
)
synthetic = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(synthetic)

# (kind, missing columns): on axis with all 26 columns, one gone, off axis, one gone, no
# particle, all back. Interpretable: 0, 1, 3, 5; events 0 -> 1: 1 vanished, 3 -> 5: 1 appeared.
SERIES = [("on", ()), ("on", (5,)), ("off", ()), ("on", (5,)), ("empty", ()), ("on", ())]


def write_series(folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for t, (kind, missing) in enumerate(SERIES):
        # rows = y as a microscope file stores them; the reader transposes back to [nx, ny]
        np.save(folder / f"frame{t}.npy", synthetic.particle_frame(kind, seed=t, missing=missing).T)
    return folder


def run(
    folder: Path | list[Path], out: Path, models: dict[str, str], workers: int = 0, progress=None
):
    analysis = Analysis("particles", models["particle"], models["columns"])
    source = open_frames(folder, channels=1, sampling=synthetic.SAMPLING)
    return run_series(source, analysis, out, workers=workers, progress=progress)


def test_one_row_per_frame_with_particles_ratios_columns_and_events(tmp_path: Path, models) -> None:
    summary = run(write_series(tmp_path / "frames"), tmp_path / "out", models)
    table = pd.read_parquet(summary.parquet)
    assert list(table["frame"]) == list(range(6))
    assert list(table["status"]) == ["ok", "ok", "ok", "ok", "no particle", "ok"]
    assert list(table["particles"]) == [1, 1, 1, 1, 0, 1]
    disc = np.pi * synthetic.RADIUS**2 / 100  # [nm^2]
    assert table.loc[table.particles == 1, "area"].to_numpy() == pytest.approx(disc, rel=0.03)
    assert list(table["interpretable"]) == [True, True, False, True, False, True]
    assert (table.loc[table.interpretable, "ratio"] < 1.5).all()
    assert np.isinf(table.loc[2, "ratio"])  # one set of fringes: one pair of peaks
    assert table["columns"].tolist() == [26, 25, pd.NA, 25, pd.NA, 26]
    assert table["vanished"].tolist() == [0, 1, pd.NA, 0, pd.NA, 0]
    assert table["appeared"].tolist() == [0, 0, pd.NA, 0, pd.NA, 1]
    assert table["events"].tolist() == [0, 1, pd.NA, 0, pd.NA, 1]
    assert table.loc[table.interpretable, "drift_x"].abs().max() < 0.05  # [Å]: frames do not move
    events = pd.read_csv(summary.events)
    assert events[["frame", "kind"]].values.tolist() == [[1, "vanished"], [5, "appeared"]]
    np.testing.assert_allclose(
        events[["x", "y"]], synthetic.lattice_sites()[[5, 5]], atol=0.1
    )  # where column 5 was and is [Å]
    csv = pd.read_csv(summary.csv)
    assert len(csv) == 6 and list(csv.columns) == list(table.columns)
    positions = np.load(tmp_path / "out" / "columns" / "frame_000000.npy")
    expected = synthetic.lattice_sites()
    nearest = np.min(np.hypot(*(positions[:, None] - expected[None]).transpose(2, 0, 1)), axis=1)
    assert nearest.max() < 0.1  # [Å]: columns found where they are
    assert (summary.analysed, summary.skipped, summary.failed, summary.no_particle) == (6, 0, 0, 1)
    assert summary.interpretable_fraction == pytest.approx(4 / 6)
    assert summary.plot.stat().st_size > 20_000


def test_rerun_skips_every_frame_and_a_half_done_table_resumes(tmp_path: Path, models) -> None:
    folder = write_series(tmp_path / "frames")
    first = run(folder, tmp_path / "out", models)
    full = pd.read_parquet(first.parquet)
    before = first.csv.read_bytes(), first.csv.stat().st_mtime_ns
    rows_seen: list = []
    again = run(folder, tmp_path / "out", models, progress=lambda done, row: rows_seen.append(row))
    assert (again.analysed, again.skipped) == (0, 6)
    assert rows_seen == [None]  # nothing analysed, nothing written
    assert (first.csv.read_bytes(), first.csv.stat().st_mtime_ns) == before

    # A crash while frame 4 was written: frames 0-3 done, then half a row (after an event row,
    # since a frame's events are written before its row).
    crashed = tmp_path / "crashed"
    run(sorted(folder.glob("*.npy"))[:4], crashed, models)
    with (crashed / "events.csv").open("a") as events:
        events.write("4,4.0,appeared,1.0,2.0\n")
    with (crashed / "frames.csv").open("a") as rows:
        rows.write(first.csv.read_text().splitlines()[5][:12])
    resumed = run(folder, crashed, models)
    assert (resumed.analysed, resumed.skipped) == (2, 4)
    table = pd.read_parquet(resumed.parquet)
    pd.testing.assert_frame_equal(table, full)  # frame 5 tracked against frame 3, drift included
    pd.testing.assert_frame_equal(pd.read_csv(resumed.events), pd.read_csv(first.events))


def test_corrupt_frames_are_rows_with_their_reason(tmp_path: Path, models) -> None:
    folder = write_series(tmp_path / "frames")
    data = (folder / "frame1.npy").read_bytes()
    (folder / "frame1.npy").write_bytes(data[: len(data) // 2])
    tifffile.imwrite(folder / "frame3.tif", synthetic.particle_frame("on").T)
    data = (folder / "frame3.tif").read_bytes()
    (folder / "frame3.npy").unlink()
    (folder / "frame3.tif").write_bytes(data[:300])
    summary = run(folder, tmp_path / "out", models)
    table = pd.read_parquet(summary.parquet)
    assert list(table["status"]) == ["ok", "failed", "ok", "failed", "no particle", "ok"]
    assert table.loc[1, "error"].startswith(f"{folder / 'frame1.npy'}: unreadable")
    assert table.loc[3, "error"].startswith(f"{folder / 'frame3.tif'}: unreadable")
    assert table["events"].tolist() == [0, pd.NA, pd.NA, pd.NA, pd.NA, 0]  # 0 -> 5: nothing moved
    assert (summary.analysed, summary.failed) == (4, 2)
    assert summary.first_error == table.loc[1, "error"]


def test_dask_workers_write_the_same_table(tmp_path: Path, models) -> None:
    folder = write_series(tmp_path / "frames")
    local = pd.read_parquet(run(folder, tmp_path / "local", models).parquet)
    spread = pd.read_parquet(run(folder, tmp_path / "dask", models, workers=2).parquet)
    pd.testing.assert_frame_equal(spread, local)


def test_wrong_channel_count_for_the_model_is_one_line(tmp_path: Path, models) -> None:
    np.save(tmp_path / "single.npy", synthetic.mos2_frame())
    analysis = Analysis("mos2", models["mos2"])
    with pytest.raises(ImageError, match=r"single\.npy: 1 image\(s\) cannot make one frame of 3"):
        open_frames(tmp_path / "single.npy", analysis.channels(), sampling=synthetic.SAMPLING)


def test_mos2_focal_series_counts_known_vacancies(tmp_path: Path, models) -> None:
    s = synthetic.interior_sulphur(4)
    time_points = [((), ()), ((s[0],), ()), ((s[0], s[1]), (s[2],)), ((), (s[2], s[3]))]
    images = []
    for single, empty in time_points:  # three defocus images per time point (here: alike)
        images += [synthetic.mos2_frame(single, empty).T] * 3
    np.save(tmp_path / "focal.npy", np.stack(images))
    analysis = Analysis("mos2", models["mos2"])
    source = open_frames(tmp_path / "focal.npy", analysis.channels(), sampling=synthetic.SAMPLING)
    summary = run_series(source, analysis, tmp_path / "out")
    table = pd.read_parquet(summary.parquet)
    assert table["vacancies"].tolist() == [0, 1, 4, 4]
    assert table["s1"].tolist() == [0, 1, 2, 0]
    mo = len(synthetic.mos2_sites()[0])
    assert table["mo"].tolist() == [mo] * 4
    sites = table["sites"].iloc[0]
    assert 0 < sites < len(synthetic.mos2_sites()[1]) and (table["sites"] == sites).all()
    area = sites * np.sqrt(3) / 2 * synthetic.MOS2_A**2 / 100  # one unit cell per site [nm^2]
    assert table["counted_area"].to_numpy() == pytest.approx(area, rel=0.05)  # pixelated discs
    np.testing.assert_allclose(table["vacancy_density"], table["vacancies"] / table["counted_area"])
    assert (table["focal_shift"] < 0.05).all()  # the three images are alike: no drift
    assert (table["defocus"].isna()).all()  # npy files carry no defocus
    assert summary.plot.stat().st_size > 10_000
