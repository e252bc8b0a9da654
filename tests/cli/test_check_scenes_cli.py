"""`hrtem check scenes`: the scene check end to end on a small real model; `hrtem train
--scenes` refuses what it cannot benchmark before training; bad input is one line."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pandas as pd
import pytest
from hrtem_cli.main import app
from typer.testing import CliRunner

_spec = importlib.util.spec_from_file_location(
    "synthetic", Path(__file__).parents[1] / "analysis" / "synthetic.py"
)
synthetic = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(synthetic)


def scene_args(tmp_path: Path, model: Path, *extra: str) -> list[str]:
    return [
        "check", "scenes", "--model", str(model), "--scenes", "1", "--size", "128",
        "--profile", "tiny", "--data-root", str(tmp_path / "data"), "--workers", "0",
        "--out", str(tmp_path / "out"), "--no-log", *extra,
    ]  # fmt: skip


def test_scene_benchmark_end_to_end(tmp_path: Path) -> None:
    model = synthetic.particle_model(tmp_path / "model")
    result = CliRunner().invoke(app, scene_args(tmp_path, model, "--doses", "100,1000"))
    assert result.exit_code == 0, result.output
    header, *rows = [line.split() for line in result.stdout.splitlines()[:7]]
    assert header == ["method", "dose", "precision", "recall", "mean_iou", "false_per_frame",
                      "zone_accuracy", "pixel_iou"]  # fmt: skip
    assert [(r[0], r[1]) for r in rows] == [
        (str(model), "100.000"), ("classical", "100.000"), ("truth", "100.000"),
        (str(model), "1000.000"), ("classical", "1000.000"), ("truth", "1000.000"),
    ]  # fmt: skip
    assert rows[2][2:5] == ["1.000", "1.000", "1.000"]  # the true masks
    out = tmp_path / "out"
    assert f"wrote {out / 'scenes.csv'}, {out / 'scene_particles.csv'}" in result.stdout
    for name in ("scene_metrics.png", "scene_example.png"):
        assert (out / name).stat().st_size > 0
    assert len(pd.read_csv(out / "scenes.csv")) == 6
    lines = result.stdout.splitlines()
    by_shape = lines.index("zone axis vs tilted, accuracy by shape:")
    assert lines[by_shape + 1].split()[:2] == ["method", "dose"]
    zone = pd.read_csv(out / "scene_zone.csv")
    assert set(zone["method"]) <= {str(model), "classical", "truth"} and "truth" in set(
        zone["method"]
    )
    particles = pd.read_csv(out / "scene_particles.csv").query("method == 'truth'")
    assert zone.query("method == 'truth'")["particles"].sum() == len(particles)


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (
            ["--doses", "0,100"],
            "doses: need one or more finite values > 0 e-/Å^2, got [0.0, 100.0]",
        ),
        (["--profile", "huge"], "unknown profile 'huge' (known: tiny)"),
        (["--sampling", "0.4,0.1"], "frame sampling: need 0 < low <= high Å/px, got 0.4, 0.1"),
    ],
)
def test_bad_scene_input_is_one_line(tmp_path: Path, extra: list[str], message: str) -> None:
    model = synthetic.particle_model(tmp_path / "model")
    result = CliRunner().invoke(app, scene_args(tmp_path, model, *extra))
    assert result.exit_code == 1
    assert result.stderr.startswith("error: ") and message in result.stderr
    assert len(result.stderr.splitlines()) == 1
    assert not (tmp_path / "out").exists()


def test_a_model_of_another_task_is_refused(tmp_path: Path) -> None:
    model = synthetic.columns_model(tmp_path / "columns")
    result = CliRunner().invoke(app, scene_args(tmp_path, model))
    assert result.exit_code == 1
    assert (
        result.stderr == f"error: {model}: model is for task 'columns', expected 'nanoparticle'\n"
    )


def test_train_refuses_scenes_for_other_tasks_before_training(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["train", "task=columns", "--scenes", "2"])
    assert result.exit_code == 1
    assert result.stderr == "error: --scenes benchmarks nanoparticle models; task is 'columns'\n"
    result = CliRunner().invoke(app, ["train", "--scenes", "2", "--scene-doses", "-5"])
    assert result.exit_code == 1 and "doses: need one or more finite values > 0" in result.stderr


def test_a_sampling_that_is_not_a_range_is_refused(tmp_path: Path) -> None:
    model = synthetic.particle_model(tmp_path / "model")
    result = CliRunner().invoke(app, scene_args(tmp_path, model, "--sampling", "0.1,0.2,0.3"))
    assert result.exit_code == 2
    assert "--sampling must be LOW,HIGH or one number, got '0.1,0.2,0.3'" in result.stderr


def test_the_cli_defaults_are_the_benchmark_s() -> None:
    from hrtem_checks.scenes.benchmark import DOSES, FRAME_SAMPLING, SIZE
    from hrtem_cli.options import SCENE_DOSES, SCENE_SAMPLING, SCENE_SIZE, parse_doses, parse_range

    assert parse_doses(SCENE_DOSES) == list(DOSES) and SCENE_SIZE == SIZE
    assert parse_range(SCENE_SAMPLING, "--sampling") == FRAME_SAMPLING
