"""The zone-axis threshold: separating on- and off-axis ratio distributions, the material file the
analysis reads it from, and the calibration command end to end on a few simulated particles."""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from hrtem_analysis.materials import load_material
from hrtem_analysis.settings import AU_D_SPACINGS, Settings
from hrtem_checks.threshold import Population, separate
from hrtem_cli.main import app
from hrtem_core.errors import SpecError
from typer.testing import CliRunner

CONFIGS = Path(__file__).resolve().parents[2] / "configs"


def test_separated_distributions_get_a_threshold_in_the_gap() -> None:
    rng = np.random.default_rng(0)
    on_axis = np.exp(rng.uniform(0.0, np.log(3.0), 40))  # ratios 1..3
    tilted = np.concatenate([np.exp(rng.uniform(np.log(5.0), np.log(80.0), 35)), [np.inf] * 5])
    result = separate(on_axis, tilted)
    assert on_axis.max() < result.threshold < tilted.min()
    assert (result.balanced_accuracy, result.on_axis_kept, result.tilted_rejected) == (1, 1, 1)
    assert result.threshold == pytest.approx(np.sqrt(on_axis.max() * tilted.min()))  # mid-gap


def test_overlapping_distributions_get_the_best_balanced_accuracy() -> None:
    on_axis = np.array([1.0, 1.1, 1.2, 2.0, 2.5, 2.9, np.nan])  # one without peaks: never kept
    tilted = np.array([1.05, 6.0, 9.0, 20.0, np.inf, np.nan])  # one tilted looks on axis
    result = separate(on_axis, tilted)
    assert 2.9 < result.threshold < 6.0
    assert result.on_axis_kept == pytest.approx(6 / 7)
    assert result.tilted_rejected == pytest.approx(5 / 6)
    with pytest.raises(SpecError, match="needs ratios of on-axis and of tilted particles"):
        separate(on_axis, np.array([]))


def test_the_analysis_default_threshold_is_the_materials() -> None:
    au = load_material("au")
    written = yaml.safe_load((CONFIGS / "materials" / "au.yaml").read_text())
    assert au.threshold == written["threshold"] and au.d_spacings == AU_D_SPACINGS
    # calibrated on the scene benchmark's population (shapes, zone axes, sizes), as shipped
    assert au.calibration["population"] == asdict(Population())
    assert au.calibration["on_axis"]["particles"] >= 50 and au.calibration["on_axis_kept"] > 0.95
    settings = Settings().resolved()
    assert (settings.threshold, settings.d_spacings) == (au.threshold, AU_D_SPACINGS)
    assert Settings(threshold=1.7).resolved().threshold == 1.7


def test_a_missing_or_broken_material_file_is_one_line(tmp_path: Path) -> None:
    with pytest.raises(
        SpecError, match=r"material 'pt': no file .*materials/pt\.yaml \(known: au\)"
    ):
        Settings(material="pt").resolved()
    broken = tmp_path / "broken.yaml"
    broken.write_text("name: x\nd_spacings: [2.0]\n")
    with pytest.raises(SpecError, match=r"broken\.yaml: not a material file .*threshold"):
        load_material(broken)


def test_calibrate_threshold_writes_the_material_the_analysis_reads(tmp_path: Path) -> None:
    target, report = tmp_path / "au.yaml", tmp_path / "report"
    args = ["check", "threshold", "--particles", "4", "--diameter", "15", "25"]
    args += ["--out", str(target)]
    result = CliRunner().invoke(app, [*args, "--report", str(report)])
    assert result.exit_code == 0, result.output
    ratios = pd.read_csv(report / "ratios.csv")
    assert ratios["kind"].tolist() == ["on axis", "tilted"] * 2
    assert (ratios.loc[ratios.kind == "tilted", "tilt"] >= 8).all()
    assert ratios["diameter"].between(15, 25).all()
    material = load_material(target)
    assert (
        material.d_spacings == AU_D_SPACINGS and material.calibration["on_axis"]["particles"] == 2
    )
    assert target.read_text().startswith(
        "# Au: zone-axis threshold calibrated on simulations, made by\n"
        "#   hrtem check threshold --particles 4 --dose 1000 --sampling 0.2 "
        "--diameter 15 25 --seed 0\n"
    )
    assert f"threshold {material.threshold:g}: on axis kept" in result.stdout
    assert (report / "ratios.png").stat().st_size > 20_000
