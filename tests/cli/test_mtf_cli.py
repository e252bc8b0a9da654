"""`hrtem mtf fit`: vacuum files in, a detector YAML (and a plot) out; bad input is one line."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import tifffile
import torch
import yaml
from hrtem_cli.main import app
from hrtem_sim.optics import apply_mtf, load_detector, poisson_noise
from typer.testing import CliRunner

TRUTH = (1.0, 0.05, 0.3, 2.2)
_spec = importlib.util.spec_from_file_location(
    "microscope_files", Path(__file__).parents[1] / "core" / "microscope_files.py"
)
microscope_files = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(microscope_files)


def vacuum_files(
    folder: Path, count: int = 6, size: int = 384, per_pixel: float = 4.0
) -> list[Path]:
    """Vacuum images in counts (Poisson, per_pixel e-/px, through the training MTF) as ImageJ
    TIFFs."""
    flat = torch.ones(count, 1, size, size)
    dose = torch.full((count,), per_pixel / 0.01)
    noisy = poisson_noise(flat, dose, torch.full((count,), 0.01), torch.arange(count))
    images = (apply_mtf(noisy, torch.tensor([TRUTH] * count)) * per_pixel).numpy()
    paths = []
    for i, image in enumerate(images[:, 0]):
        path = folder / f"vacuum{i}.tif"
        tifffile.imwrite(path, image, imagej=True, resolution=(10.0, 10.0), metadata={"unit": "nm"})
        paths.append(path)
    return paths


def test_fit_writes_the_detector_file_and_plot(tmp_path: Path) -> None:
    paths = vacuum_files(tmp_path)
    out = tmp_path / "configs" / "detector" / "cam.yaml"
    plot = tmp_path / "fit.png"
    result = CliRunner().invoke(
        app, ["mtf", "fit", *map(str, paths), "--out", str(out), "--plot", str(plot)]
    )
    assert result.exit_code == 0, result.output
    assert str(out) in result.stdout and "c2 = " in result.stdout
    detector = load_detector(out)
    assert abs(detector.c2 - TRUTH[2]) < 0.05 * TRUTH[2]
    assert abs(detector.c3 - TRUTH[3]) < 0.1 * TRUTH[3]
    assert "sampling: 1.0" in out.read_text()  # 0.1 nm/px from the TIFFs, in Å
    assert plot.stat().st_size > 10_000


def test_sampling_option_is_recorded_when_files_have_none(tmp_path: Path) -> None:
    images = [tifffile.imread(p) for p in vacuum_files(tmp_path, count=3, size=256)]
    paths = []
    for i, image in enumerate(images):
        np.save(tmp_path / f"v{i}.npy", image)
        paths.append(str(tmp_path / f"v{i}.npy"))
    out = tmp_path / "cam.yaml"
    result = CliRunner().invoke(
        app, ["mtf", "fit", *paths, "--sampling", "0.08", "--out", str(out)]
    )
    assert result.exit_code == 0, result.output
    assert "sampling: 0.08" in out.read_text()


def test_bad_input_is_one_line_on_stderr_and_exit_1(tmp_path: Path) -> None:
    paths = vacuum_files(tmp_path, count=4, size=256)
    lattice_file = tmp_path / "lattice.npy"
    i = np.arange(256)
    lattice = 1 + 0.1 * np.cos(2 * np.pi * i / 7.3)[:, None] * np.cos(2 * np.pi * i / 5.1)[None, :]
    np.save(lattice_file, tifffile.imread(paths[0]) * lattice)
    np.save(tmp_path / "flat.npy", np.full((64, 64), 100.0))
    microscope_files.write_dm(tmp_path / "pattern.dm3", np.ones((64, 64)), 0.02, units="1/nm")
    out = tmp_path / "cam.yaml"
    for arguments, message in [
        ([*map(str, paths[1:]), str(lattice_file)], "lattice.npy (a peak"),
        ([str(tmp_path / "missing.tif")], "missing.tif: no such file"),
        ([str(paths[0]), str(tmp_path / "notes.txt")], "notes.txt: unknown image format"),
        ([str(tmp_path / "flat.npy")], "flat.npy: no noise (constant image)"),
        ([str(tmp_path / "pattern.dm3")], "pattern.dm3: a diffraction pattern (axes in 1/nm)"),
    ]:
        (tmp_path / "notes.txt").write_text("not an image")
        result = CliRunner().invoke(app, ["mtf", "fit", *arguments, "--out", str(out)])
        assert result.exit_code == 1
        lines = result.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("error: ") and message in lines[0], lines
        assert not out.exists()


def test_a_poorly_constrained_fit_is_written_with_one_warning_line(tmp_path: Path) -> None:
    paths = vacuum_files(tmp_path, count=1, size=48, per_pixel=1.0)
    out = tmp_path / "cam.yaml"
    result = CliRunner().invoke(app, ["mtf", "fit", str(paths[0]), "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert str(out) in result.stdout
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("warning: c"), lines
    assert lines[0].endswith(
        "uncertainty larger than the value; fit more or larger vacuum images (now 1 image, 2304 px)"
    )
    assert load_detector(out).c2 > 0
    assert yaml.safe_load(out.read_text())["fit"]["warning"] == lines[0].removeprefix("warning: ")
