"""The scene benchmark end to end on tiny simulated scenes: true masks on the particles' atoms,
known answers (the true masks score 1.0, a model that never says "particle" recall 0), cached
scenes, the report files, and the MLflow records at the end of a training run."""

from __future__ import annotations

import dataclasses
import importlib.util
import math
from pathlib import Path

import mlflow
import numpy as np
import pandas as pd
import pytest
import torch
import yaml
from hrtem_analysis.settings import Settings
from hrtem_checks.scenes.benchmark import (
    CLASSICAL,
    TRUTH,
    SceneResult,
    default_setup,
    exposure,
    scene_benchmark,
    scene_spec,
    simulate_scenes,
)
from hrtem_checks.scenes.report import FILES, benchmark_run, description_text, write_report
from hrtem_core.errors import SpecError
from hrtem_msd import load_model
from hrtem_sim import load_spec, open_dataset


def _load(name: str, path: Path):  # tests run with --import-mode=importlib
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


synthetic = _load("synthetic", Path(__file__).parents[1] / "analysis" / "synthetic.py")
helpers = _load("mlflow_helpers", Path(__file__).parents[1] / "msd" / "mlflow_helpers.py")
SIZE = 128  # [px] at synthetic.SAMPLING: 25.6 Å scenes


def empty_model(folder: Path) -> Path:
    """A nanoparticle model that never says "particle"."""
    return synthetic.threshold_model(
        folder, "nanoparticle", ["background", "particle"], [0.0, 0.0], [0.0, -100.0]
    )


@pytest.fixture(scope="module")
def root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("scenes-data")


@pytest.fixture(scope="module")
def result(root: Path, tmp_path_factory: pytest.TempPathFactory) -> SceneResult:
    folder = tmp_path_factory.mktemp("models")
    models = {
        "empty": load_model(str(empty_model(folder / "empty"))),
        "threshold": load_model(str(synthetic.particle_model(folder / "threshold"))),
    }
    setup = default_setup(root, workers=0, profile="tiny", parallel=2)
    return scene_benchmark(models, 2, [200.0, 1000.0], SIZE, setup, progress=False)


def test_scenes_scored_at_once_give_the_rows_of_one_at_a_time(
    result: SceneResult, root: Path, tmp_path: Path
) -> None:
    models = {"empty": load_model(str(empty_model(tmp_path / "empty")))}
    setup = default_setup(root, workers=0, profile="tiny")
    alone = scene_benchmark(models, 2, [200.0, 1000.0], SIZE, setup, progress=False)
    shared = result.frames[result.frames["method"].isin(["empty", CLASSICAL, TRUTH])]
    pd.testing.assert_frame_equal(alone.frames, shared.reset_index(drop=True))
    assert alone.example.scene == result.example.scene
    with pytest.raises(SpecError, match="parallel: need at least 1 scene at once, got 0"):
        default_setup(root, parallel=0)


def test_the_tiling_settings_reach_the_models_and_stitch_exactly(
    result: SceneResult, root: Path, tmp_path: Path
) -> None:
    """The threshold model is pointwise, so any tiling gives its rows: 48 px windows at overlap
    0.25, 3 a forward, tile each 128 px frame in 16 windows (the last flush with the edge)."""
    models = {"threshold": load_model(str(synthetic.particle_model(tmp_path / "threshold")))}
    settings = Settings(window=48, overlap=0.25, batch_size=3)
    setup = default_setup(root, workers=0, profile="tiny", settings=settings)
    assert setup.settings == settings and default_setup(root).settings == Settings()
    tiled = scene_benchmark(models, 2, [200.0, 1000.0], SIZE, setup, progress=False)
    expected = result.frames[result.frames["method"].isin(["threshold", CLASSICAL, TRUTH])]
    pd.testing.assert_frame_equal(tiled.frames, expected.reset_index(drop=True))


def test_true_masks_score_one_and_an_empty_model_recall_zero(result: SceneResult) -> None:
    summary = result.summary.set_index(["method", "dose"])
    assert set(summary.index) == {
        (m, d) for m in ("empty", "threshold", CLASSICAL, TRUTH) for d in (200.0, 1000.0)
    }
    with open_dataset(result.path) as scenes:
        placed = sum(s.meta["n_particles"] for s in scenes)
    n_true = summary.loc[(TRUTH, 200.0), "particles"]
    assert 1 <= n_true <= placed and (summary["particles"] == n_true).all()
    assert (summary["frames"] == 2).all()
    for dose in (200.0, 1000.0):
        truth = summary.loc[(TRUTH, dose)]
        assert (truth.precision, truth.recall, truth.mean_iou, truth.pixel_iou) == (1, 1, 1, 1)
        assert truth.false_per_frame == 0
        empty = summary.loc[("empty", dose)]
        assert empty.recall == 0 and empty.false_per_frame == 0 and math.isnan(empty.precision)
    # each scene imaged at its own sampling, the same at every dose and for every method
    per_scene = result.frames.groupby("scene")["sampling"]
    assert (per_scene.nunique() == 1).all() and result.frames["sampling"].nunique() == 2
    assert result.frames["sampling"].between(0.15, 0.4).all()
    for column in ("precision", "recall", "mean_iou", "pixel_iou", "zone_accuracy"):
        values = result.summary[column].dropna()
        assert ((values >= 0) & (values <= 1)).all()


def test_true_masks_lie_on_each_particles_atoms(result: SceneResult) -> None:
    truth, sampling = result.example.truth, result.example.sampling
    with open_dataset(result.path) as scenes:
        sample = scenes[result.example.scene]
    labelled = sample.atoms.positions[sample.atoms.arrays["labelled"].astype(bool), :2]
    ends = np.cumsum([p["n_atoms"] for p in sample.meta["particles"]])
    for k, points in enumerate(np.split(labelled, ends[:-1]), start=1):
        pixels = np.round(points / sampling).astype(int) % SIZE  # tiny: the frame is the cell
        assert (truth[pixels[:, 0], pixels[:, 1]] == k).all()
    assert truth.max() == len(sample.meta["particles"]) and (truth == 0).mean() > 0.2


def test_only_particles_seen_in_the_frame_are_scored_and_edge_ones_flagged() -> None:
    """Four particles in a 60 Å periodic cell, the frame [0, 40) Å: one inside, one across the
    seam at x = 0 (cut by the frame's edge), one outside, one with a sliver inside."""
    from ase import Atoms
    from hrtem_checks.scenes.benchmark import true_labels
    from hrtem_sim.optics.resample import DetectorGrid
    from hrtem_sim.types import Columns, Sample

    side = np.arange(-6, 7, 2.0)  # 15 Å particles with the label radius
    offsets = np.stack(np.meshgrid(side, side), -1).reshape(-1, 2)
    centres = [(20.0, 20.0), (2.0, 20.0), (50.0, 50.0), (42.0, 10.0)]
    xy = np.concatenate([c + offsets for c in centres]) % 60.0
    atoms = Atoms("Au" * len(xy), positions=np.c_[xy, np.zeros(len(xy))], cell=[60, 60, 10])
    atoms.set_array("labelled", np.ones(len(xy), dtype=bool))
    meta = {"index": 0, "particles": [{"n_atoms": len(offsets)} for _ in centres]}
    empty = Columns(np.zeros((0, 2)), np.zeros(0, np.int64), np.zeros(0, np.int64))
    sample = Sample(np.ones((2, 2), np.complex64), (30.0, 30.0), empty, atoms, meta)
    grid = DetectorGrid(
        torch.zeros(1, 2), torch.full((1, 2), 0.2), torch.full((1, 2), 60.0), (200, 200)
    )
    seen = true_labels(sample, grid, radius=1.5, min_pixels=2500)  # 1 nm^2 at 0.2 Å/px
    assert (seen.index, seen.edge) == ([0, 1], [False, True])
    assert seen.labels[100, 100] == 1 and seen.labels[0, 100] == 2 and seen.labels.max() == 2
    assert seen.labels[150:, :].max() == 0  # the sliver of particle 4 (x > 34.5 Å) is not scored


def test_scenes_are_cached_by_spec_hash(result: SceneResult, root: Path) -> None:
    setup = default_setup(root, workers=0, profile="tiny")
    spec = scene_spec(setup, 2, synthetic.SAMPLING, SIZE)
    stamps = {p: p.stat().st_mtime_ns for p in result.path.glob("shard-*.h5")}
    assert simulate_scenes(spec, root, 0, progress=False) == result.path
    assert {p: p.stat().st_mtime_ns for p in result.path.glob("shard-*.h5")} == stamps
    assert result.path.name == f"scenes-{result.spec_hash}"
    other = scene_spec(dataclasses.replace(setup, profile=None), 2, 0.275, 2048)
    # the frame's 563.2 Å and a margin of the largest diameter (80 Å) and the spacing (10 Å)
    assert other.structure.cell == (653.2, 653.2) and other.simulation.sampling == 0.1375
    with pytest.raises(SpecError, match="need at least 1 scene of at least 8 px, got 0 of 64 px"):
        scene_spec(setup, 0, 0.2, 64)


def test_report_files_and_description(result: SceneResult, tmp_path: Path) -> None:
    files = write_report(result, tmp_path)
    assert [f.name for f in files] == list(FILES) and all(f.stat().st_size > 0 for f in files)
    frames = pd.read_csv(tmp_path / "scene_frames.csv")
    assert frames["false"].tolist() == result.frames["false"].tolist()
    assert set(frames["sampling"]) == set(result.particles["sampling"])
    table = pd.read_csv(tmp_path / "scenes.csv")
    assert table["recall"].tolist() == pytest.approx(result.summary["recall"].tolist(), nan_ok=True)
    particles = pd.read_csv(tmp_path / "scene_particles.csv")
    assert len(particles) == 2 * 4 * result.summary["particles"].iloc[0]
    text = description_text(result)
    assert text.startswith(
        f"scene benchmark: 2 frames of 128^2 px at 0.2 Å/px (imaged at 0.15-0.4 Å/px; "
        f"scenes {result.spec_hash})"
    )
    assert "- truth @ 1000 e-/Å^2: precision 1, recall 1, mean_iou 1" in text


def test_benchmark_of_a_training_run_logs_to_it_and_its_version(
    root: Path, tmp_path: Path, tmp_path_factory: pytest.TempPathFactory
) -> None:
    from hrtem_msd.store.mlflow_model import log_model
    from hrtem_msd.store.tracking import experiment_for

    net = load_model(str(synthetic.particle_model(tmp_path / "model")))
    with helpers.tracking_to(helpers.sqlite_store(tmp_path_factory, tmp_path)):
        with mlflow.start_run(experiment_id=experiment_for("nanoparticle")) as run:
            uri, _ = log_model(net.net, net.config, registered_name="hrtem-nanoparticle")
        setup = default_setup(root, workers=0, profile="tiny")
        # the two scenes of the result fixture (cached): at least one particle in a frame
        benchmark_run(uri, run.info.run_id, 2, [1000.0], tmp_path / "out", SIZE, setup, False)
        client = mlflow.MlflowClient()
        metrics = client.get_run(run.info.run_id).data.metrics
        assert metrics["scenes/truth/recall"] == 1.0 and "scenes/model/false_per_frame" in metrics
        logged = {f.path for f in client.list_artifacts(run.info.run_id, "scenes")}
        assert logged == {f"scenes/{name}" for name in FILES}
        description = client.get_model_version("hrtem-nanoparticle", "1").description
    assert description.startswith("hrtem model card")
    assert "scene benchmark: 2 frames of 128^2 px" in description


def test_frames_of_vacuum_hold_the_dose_on_the_default_2048_grid() -> None:
    """A flat exit wave on the benchmark's 2048^2 grid gives dose x pixel area counts per pixel
    on two torch threads (torch 2.13's threaded ifft2 of one 2048^2 array gives ~1e-7 of that;
    hrtem_sim.optics.fft normalises by hand), at each dose of one call."""
    from hrtem_checks.scenes.benchmark import form_frames
    from hrtem_sim.types import Columns, Sample

    empty = Columns(np.zeros((0, 2)), np.zeros(0, np.int64), np.zeros(0, np.int64))
    wave = np.ones((2048, 2048), dtype=np.complex64)
    sample = Sample(wave, (0.1375, 0.1375), empty, None, {"index": 0, "particles": []})
    optics = default_setup().optics
    threads = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        images, grid = form_frames(sample, optics, [200.0, 1000.0], 0.275, 1024, seed=1)
    finally:
        torch.set_num_threads(threads)
    assert grid.shape == (1024, 1024)
    for image, dose in zip(images, [200.0, 1000.0], strict=True):
        assert image.shape == (1, 1024, 1024)
        assert image.mean() == pytest.approx(dose * 0.275**2, rel=0.02)


SPECS = Path(__file__).resolve().parents[2] / "data_specs"
HELD_OUT = "clumped_carbon"


def test_the_scenes_substrate_family_is_in_no_training_spec() -> None:
    """The held-out split: the scene check's carbon family is never trained on."""
    scenes = load_spec(SPECS / "benchmarks" / "scenes.yaml").structure.params
    assert scenes.substrates == [HELD_OUT]
    for path in SPECS.glob("*.yaml"):
        for profile in [None, *(yaml.safe_load(path.read_text()).get("profiles") or {})]:
            params = load_spec(path, profile).structure.params
            assert HELD_OUT not in (getattr(params, "substrates", None) or []), (path, profile)


def test_a_model_is_flagged_when_it_saw_the_scenes_substrates(result: SceneResult) -> None:
    card = load_model(str(empty_model(Path(result.path).parent / "flag"))).config
    assert exposure(card, [HELD_OUT]) == "not recorded"
    assert exposure(card.replace(substrates=["graded_carbon"]), [HELD_OUT]) == "held out"
    seen = card.replace(substrates=["clumped_carbon", "graded_carbon"])
    assert exposure(seen, [HELD_OUT, "carbon"]) == "seen in training: clumped_carbon"
    summary = result.summary.set_index("method")
    assert (summary["substrates"] == HELD_OUT).all()
    assert set(summary.loc[["empty", "threshold"], "exposure"]) == {"not recorded"}
    assert set(summary.loc[[CLASSICAL, TRUTH], "exposure"]) == {"-"}


def test_the_scenes_substrates_can_be_the_training_families(root: Path) -> None:
    setup = default_setup(root, workers=0, profile="tiny", substrates=["graded_carbon", "ceo2"])
    spec = scene_spec(setup, 2, 0.2, SIZE)
    assert spec.structure.params.substrates == ["graded_carbon", "ceo2"]
