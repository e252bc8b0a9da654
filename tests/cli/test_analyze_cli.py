"""`hrtem analyze particles|series|mos2`: end to end with small real models; bad input is one line."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pandas as pd
from hrtem_analysis.materials import load_material
from hrtem_analysis.series import size_counts
from hrtem_cli.main import app
from typer.testing import CliRunner

_spec = importlib.util.spec_from_file_location(
    "synthetic", Path(__file__).parents[1] / "analysis" / "synthetic.py"
)
synthetic = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(synthetic)
SAMPLING = str(synthetic.SAMPLING)
_spec = importlib.util.spec_from_file_location(
    "microscope_files", Path(__file__).parents[1] / "core" / "microscope_files.py"
)
microscope_files = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(microscope_files)


def frames(folder: Path) -> Path:
    folder.mkdir()
    for t, kind in enumerate(["on", "off", "empty"]):
        np.save(folder / f"frame{t}.npy", synthetic.particle_frame(kind, seed=t).T)
    return folder


def test_series_end_to_end_then_rerun_skips(tmp_path: Path) -> None:
    model = synthetic.particle_model(tmp_path / "particle")
    columns = synthetic.columns_model(tmp_path / "columns")
    args = ["analyze", "series", str(frames(tmp_path / "frames")), "--model", str(model)]
    args += [
        "--columns-model",
        str(columns),
        "--sampling",
        SAMPLING,
        "--out",
        str(tmp_path / "out"),
    ]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    assert (
        "frames: 3; analysed 3, skipped 0 (already in the table), failed 0, no particle 1"
        in result.stdout
    )
    threshold = load_material("au").threshold  # the calibrated default
    assert (
        f"interpretable (a single-crystal zone, or twinned with peak-pair ratio <= {threshold:g}): "
        "33% of the analysed"
    ) in result.stdout
    assert (
        f"table: {tmp_path / 'out' / 'frames.csv'} and {tmp_path / 'out' / 'frames.parquet'}"
        in result.stdout
    )
    assert f"events: {tmp_path / 'out' / 'events.csv'}" in result.stdout
    table = pd.read_parquet(tmp_path / "out" / "frames.parquet")
    assert table["columns"].tolist() == [26, pd.NA, pd.NA]
    sizes = ", ".join(f"{k} {v}" for k, v in size_counts(table["areas"]).items())
    assert sum(size_counts(table["areas"]).values()) == table["particles"].sum() > 0
    assert f"particles (above --min-area) by equivalent diameter: {sizes};" in result.stdout
    zones = table["zone"].dropna()
    assert len(zones) == (table["particles"] > 0).sum()
    assert set(zones) <= {"<110>", "<100>", "<111>", "twinned", "off axis"}
    assert "zone of each frame's largest particle, from its spots: " in result.stdout
    assert (tmp_path / "out" / "figures" / "frame_000000_columns.png").stat().st_size > 20_000
    again = CliRunner().invoke(app, args)
    assert again.exit_code == 0 and "analysed 0, skipped 3" in again.stdout


def test_particles_writes_rows_and_figures(tmp_path: Path) -> None:
    model = synthetic.particle_model(tmp_path / "particle")
    folder = frames(tmp_path / "frames")
    out = tmp_path / "out"
    args = ["analyze", "particles", str(folder / "frame0.npy"), str(folder / "frame1.npy")]
    result = CliRunner().invoke(
        app, [*args, "--model", str(model), "--sampling", SAMPLING, "--out", str(out)]
    )
    assert result.exit_code == 0, result.output
    assert (
        "frames: 2; analysed 2" in result.stdout and f"figures: {out / 'figures'}" in result.stdout
    )
    assert sorted(p.name for p in (out / "figures").iterdir()) == [
        "frame_000000.png", "frame_000000_alignment.png", "frame_000001.png", "frame_000001_alignment.png",
    ]  # fmt: skip
    assert pd.read_csv(out / "frames.csv")["interpretable"].tolist() == [True, False]


def test_mos2_end_to_end(tmp_path: Path) -> None:
    model = synthetic.mos2_model(tmp_path / "mos2")
    np.save(tmp_path / "focal.npy", np.stack([synthetic.mos2_frame().T] * 6))
    args = ["analyze", "mos2", str(tmp_path / "focal.npy"), "--model", str(model)]
    result = CliRunner().invoke(
        app, [*args, "--sampling", SAMPLING, "--out", str(tmp_path / "out")]
    )
    assert result.exit_code == 0, result.output
    assert "frames: 2; analysed 2" in result.stdout
    assert pd.read_csv(tmp_path / "out" / "frames.csv")["vacancies"].tolist() == [0, 0]


def one_line_error(args: list[str]) -> str:
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 1, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ")
    return lines[0]


def test_bad_input_is_one_line_and_exit_1(tmp_path: Path) -> None:
    mos2 = synthetic.mos2_model(tmp_path / "mos2")
    particle = synthetic.particle_model(tmp_path / "particle")
    np.save(tmp_path / "single.npy", synthetic.mos2_frame().T)
    line = one_line_error(["analyze", "mos2", str(tmp_path / "single.npy"), "--model", str(mos2),
                           "--sampling", SAMPLING, "--out", str(tmp_path / "out")])  # fmt: skip
    assert "single.npy: 1 image(s) cannot make one frame of 3 channels" in line
    line = one_line_error(
        ["analyze", "particles", str(tmp_path / "single.npy"), "--model", str(particle)]
    )
    assert "no sampling in the file's metadata and none given (--sampling" in line
    line = one_line_error(
        ["analyze", "particles", str(tmp_path / "single.npy"), "--model", str(tmp_path / "nope")]
    )
    assert "nope: model directory does not exist" in line
    line = one_line_error(
        ["analyze", "particles", str(tmp_path / "single.npy"), "--model", str(mos2)]
    )
    assert "model is for task 'mos2', expected 'nanoparticle'" in line
    line = one_line_error(["analyze", "particles", str(tmp_path / "single.npy"), "--model",
                           str(particle), "--material", "pt"])  # fmt: skip
    assert "material 'pt': no file" in line and "hrtem check threshold" in line
    line = one_line_error(["check", "series", "--model", str(tmp_path / "nope"),
                           "--columns-model", str(particle), "--out", str(tmp_path / "check")])  # fmt: skip
    assert "nope: model directory does not exist" in line
    assert not (tmp_path / "check").exists()  # nothing simulated
    nan = synthetic.particle_frame("on")
    nan[3, 4] = np.nan
    np.save(tmp_path / "nan.npy", nan)
    line = one_line_error(["analyze", "particles", str(tmp_path / "nan.npy"), "--model", str(particle),
                           "--sampling", SAMPLING, "--out", str(tmp_path / "nan-out")])  # fmt: skip
    assert "every frame failed" in line and "nan.npy: image contains NaN" in line


def test_spectrum_images_and_far_samplings_are_one_line(tmp_path: Path) -> None:
    """An EELS spectrum image is not 2048 frames of 2 x 2 px; a frame at 5 x finer sampling than
    the model's needs --max-resample."""
    particle = synthetic.particle_model(tmp_path / "particle")
    spectrum_image = tmp_path / "EELS_SI.dm4"
    microscope_files.write_dm_signal(
        spectrum_image, np.ones((2048, 2, 2), np.float32), [2.0, 2.0, 0.25], ["nm", "nm", "eV"],
        4, {"Format": "Spectrum image", "Signal": "EELS"},
    )  # fmt: skip
    line = one_line_error(["analyze", "particles", str(spectrum_image), "--model", str(particle)])
    assert line == f"error: {spectrum_image}: a spectrum image (2048 energy channels), not an image"
    np.save(tmp_path / "fine.npy", synthetic.particle_frame("on").T)
    args = ["analyze", "particles", str(tmp_path / "fine.npy"), "--model", str(particle)]
    args += ["--sampling", "0.04", "--out", str(tmp_path / "out")]
    refused = (
        "frame sampling (0.04, 0.04) Å/px vs the model's (0.2, 0.2) Å/px: a resampling by 5 x, "
        "beyond max_resample 4 (check the sampling, or pass a larger --max-resample)"
    )
    line = one_line_error(args)
    assert "every frame failed" in line and refused in line
    result = CliRunner().invoke(app, [*args[:-1], str(tmp_path / "allowed"), "--max-resample", "6"])
    assert result.exit_code == 0, result.output
    assert "analysed 1" in result.stdout and "failed 0" in result.stdout


def test_help_shows_units_in_brackets() -> None:
    """Units such as [s] and [nm^2] are printed, not taken for markup and dropped."""
    result = CliRunner().invoke(app, ["analyze", "series", "--help"], terminal_width=200)
    assert result.exit_code == 0
    for text in ("Frame sampling [Å/px]", "Time between frames [s]", "Smallest particle [nm^2]",
                 "Fixed match distance [Å]", "Largest plausible drift [Å]"):  # fmt: skip
        assert text in result.stdout


def test_series_check_prints_its_scores_and_writes_the_report(tmp_path: Path) -> None:
    particle = synthetic.particle_model(tmp_path / "particle")
    columns = synthetic.columns_model(tmp_path / "columns")
    out = tmp_path / "check"
    result = CliRunner().invoke(
        app,
        ["check", "series", "--model", str(particle), "--columns-model", str(columns),
         "--frames", "3", "--out", str(out)],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    for text in ("frame selection accuracy", "event precision / recall", "drift error (RMS)"):
        assert text in result.stdout
    table = pd.read_csv(out / "series_check.csv")
    assert table["frame"].tolist() == [0, 1, 2] and table["on_axis"].all()  # tilts at 4 and 9
    assert (out / "series_check.png").is_file() and (out / "analysis" / "frames.csv").is_file()
