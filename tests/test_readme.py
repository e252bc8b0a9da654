"""Every example of README.md runs, as written, on raw frames as users have them.

The README's commands are read from its fenced blocks (a line continued with ``\\`` joined,
comments dropped). Each one must be listed below: run here (`make test`), run verbatim by
`make test-slow` (it costs the default CPU training or simulation), or skipped with the reason
it cannot run on this machine; a few that need minutes of simulation run in the prepared project
under `make test-slow`. A README example that is in none of the lists fails
`test_every_example_is_covered`. The commands run in a prepared project folder: a real sqlite
MLflow store whose registered models have the README's names (tiny real training runs on tiny
abTEM datasets), and raw frames with the README's file names written in microscope formats
with their sampling in the metadata (DM4 counts; a calibrated TIFF focal series).
"""

from __future__ import annotations

import importlib.util
import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import tifffile
import torch

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
HRTEM = Path(sys.executable).with_name("hrtem")


def _load(name: str, path: Path):
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


helpers = _load("mlflow_helpers", ROOT / "tests" / "msd" / "mlflow_helpers.py")
microscope_files = _load("microscope_files", ROOT / "tests" / "core" / "microscope_files.py")

FAST = (
    "hrtem mtf fit vacuum_*.dm4",
    "hrtem models list",
    "hrtem models install",
    "hrtem models show hrtem-nanoparticle",
    "hrtem models promote hrtem-nanoparticle 3",
    "hrtem runs compare --task nanoparticle",
    "hrtem evaluate --model models:/hrtem-nanoparticle@candidate --doses",
    "hrtem analyze particles frame_0001.dm4",
    "hrtem analyze series frames/",
    "hrtem analyze watch frames/",
    "hrtem analyze mos2 focal_series.tif",
    "hrtem check vacancies",
    "hrtem check series",
    "make simulate SPEC=data_specs/columns.yaml PROFILE=tiny",
)
SLOW_IN_PROJECT = (  # minutes of simulation: make test-slow, on the project's tiny models
    "hrtem check scenes --model models:/hrtem-nanoparticle@candidate",
)
SLOW = (
    "make train TASK=nanoparticle",
    "hrtem simulate data_specs/mos2.yaml --profile small",
    "hrtem train task=mos2 model=unet seed=3",
    "hrtem train task=columns task.losses.dice=1.0",
    "hrtem check threshold --particles 120",
    "hrtem train task=nanoparticle --scenes 8",
)
NOT_HERE = {
    "make test": "it is this test suite",
    "make ui": "a server that runs until stopped; tests/msd/test_train.py runs a real mlflow server",
    "make gpu-check": "needs a CUDA device; tests/test_gpu_check.py runs it here for its one line",
    "make gpu-prepare": "downloads wheels from the package index",
    "hrtem simulate data_specs/nanoparticle.yaml --profile full --scheduler": "needs a dask cluster at HOST:8786 and hours",
    "hrtem train trainer=ddp trainer.devices=8": "needs 8 GPUs",
    "hrtem train resume=last": "needs an interrupted run; tests/msd/test_train.py resumes one",
    "hrtem train task=columns model.depth=50 trainer.max_epochs=100": "hours on a CPU",
    "hrtem train$": "the default run: `make train TASK=nanoparticle` runs it in make test-slow",
}


def readme_blocks(language: str) -> list[str]:
    """The fenced ``language`` blocks of README.md."""
    return re.findall(rf"```{language}\n(.*?)```", README.read_text(), flags=re.S)


def readme_commands() -> list[str]:
    """Every shell command of README.md, continuation lines joined, comments dropped."""
    commands = []
    for block in readme_blocks("bash"):
        for line in block.replace("\\\n", " ").splitlines():
            line = line.split(" #")[0].strip()
            if line and not line.startswith("#"):
                commands.append(" ".join(line.split()))
    return commands


def covered_by(command: str) -> str | None:
    """Which list covers ``command``: a prefix of it, or all of it for an entry ending in "$"."""
    lists = (
        ("fast", FAST),
        ("slow in project", SLOW_IN_PROJECT),
        ("slow", SLOW),
        ("not here", tuple(NOT_HERE)),
    )
    for kind, prefixes in lists:
        for prefix in prefixes:
            if command == prefix.removesuffix("$") or (
                not prefix.endswith("$") and command.startswith(prefix)
            ):
                return kind
    return None


def test_every_example_is_covered() -> None:
    commands = readme_commands()
    assert len(commands) > 20
    assert [c for c in commands if covered_by(c) is None] == []
    assert readme_blocks("python"), "the README shows the Python API"


def tiny_run(root: Path, *extra: str) -> str:
    from hrtem_msd.config import compose
    from hrtem_msd.training.train import train

    return train(
        compose(helpers.tiny(root, "trainer.max_epochs=2", *extra), helpers.CONFIGS)
    ).model_uri


def counts_frames(dataset_root: Path, count: int, dose: float = 2000.0) -> list[np.ndarray]:
    """``count`` raw frames [rows, cols] in electron counts, formed from the tiny nanoparticle
    exit waves at ``dose`` [e-/Å^2] and 0.21 Å/px, as a camera writes them (row = y)."""
    from hrtem_msd.config import compose
    from hrtem_sim import open_dataset
    from hrtem_sim.optics import ImageFormation

    optics = compose(helpers.tiny(dataset_root), helpers.CONFIGS).task.optics
    optics.detector_sampling.low = optics.detector_sampling.high = 0.21
    optics.camera_sampling = None  # the camera's own frame
    optics.dose.low = optics.dose.high = dose
    optics.output_size = [112, 112]
    formation = ImageFormation(optics)
    [folder] = dataset_root.iterdir()
    frames = []
    with open_dataset(folder) as dataset:
        for i in range(count):
            sample = dataset[i % len(dataset)]
            wave = torch.from_numpy(sample.exit_wave)[None]
            image = formation(wave, sample.sampling, formation.draw_fixed([i], seed=7))[0, 0]
            frames.append((image.numpy() * dose * 0.21**2).T.astype(np.float32))
    return frames


@pytest.fixture(scope="module")
def project(
    tiny_nanoparticle_root: Path, tiny_mos2: Path, tmp_path_factory: pytest.TempPathFactory
) -> tuple[Path, dict[str, str]]:
    """A project folder with the README's registered models and raw frames; its environment."""
    from hrtem_msd.store.registry import promote

    folder = tmp_path_factory.mktemp("project")
    uri = helpers.sqlite_store(tmp_path_factory, folder)
    env = {**os.environ, "MLFLOW_TRACKING_URI": uri, "HRTEM_CONFIGS": str(helpers.CONFIGS)}
    with helpers.tracking_to(uri), pytest.MonkeyPatch.context() as patch:
        patch.chdir(folder)
        for _ in range(3):  # versions 1..3: the README promotes version 3
            tiny_run(tiny_nanoparticle_root)
        promote("hrtem-nanoparticle", 3, "champion")
        tiny_run(tiny_nanoparticle_root, "model=unet", "model.depth=1", "model.base_width=4")
        tiny_run(tiny_nanoparticle_root, "task=columns", "task.spec=data_specs/nanoparticle.yaml",
                 "task.labels.spot=0.6")  # fmt: skip
        promote("hrtem-columns", 1, "champion")
        tiny_run(tiny_mos2.parent, "task=mos2", "task.optics.detector_sampling.low=0.2",
                 "task.optics.detector_sampling.high=0.22", "task.optics.output_size=[64,64]",
                 "data.val_fraction=0.2", "data.test_fraction=0.4")  # fmt: skip
        promote("hrtem-mos2", 1, "champion")
    frames = counts_frames(tiny_nanoparticle_root, 4)
    microscope_files.write_dm(folder / "frame_0001.dm4", frames[0], 0.021, version=4)
    (folder / "frames").mkdir()
    for t, frame in enumerate(frames):
        microscope_files.write_dm(folder / "frames" / f"frame_{t + 1:04d}.dm4", frame, 0.021, 4)
    focal = np.stack(frames[:3] * 2)  # two time points of three images
    tifffile.imwrite(folder / "focal_series.tif", focal, imagej=True,
                     resolution=(1 / 0.021, 1 / 0.021), metadata={"unit": "nm"})  # fmt: skip
    rng = np.random.default_rng(0)
    for k in range(2):
        vacuum = rng.poisson(200.0, size=(256, 256)).astype(np.float32)
        microscope_files.write_dm(folder / f"vacuum_{k}.dm4", vacuum, 0.021, version=4)
    (folder / "configs" / "detector").mkdir(parents=True)
    return folder, env


def run_example(
    command: str, folder: Path, env: dict[str, str], timeout: float = 600
) -> subprocess.CompletedProcess:
    words = shlex.split(command)
    if words[0] == "hrtem":
        words[0] = str(HRTEM)
        if "*" in command:  # the shell's glob
            words = [
                w
                for word in words
                for w in (sorted(map(str, folder.glob(word))) if "*" in word else [word])
            ]
    elif words[0] == "make":  # in the repository, its outputs kept in ``folder``
        outputs = {
            "simulate": f"ARGS=--out {folder / 'data'}",
            "train": f"ARGS=data.root={folder / 'data'} out={folder / 'outputs'}",
        }
        words = ["make", "-C", str(ROOT), *words[1:], f"VENV={Path(sys.executable).parents[1]}"]
        words.append(outputs.get(words[3], "ARGS="))
    return subprocess.run(
        words, cwd=folder, env=env, capture_output=True, text=True, timeout=timeout
    )


@pytest.mark.parametrize(
    "command",
    [
        *(c for c in readme_commands() if covered_by(c) == "fast"),
        *(
            pytest.param(c, marks=pytest.mark.slow)
            for c in readme_commands()
            if covered_by(c) == "slow in project"
        ),
    ],
)
def test_examples_run_in_the_project(command: str, project: tuple[Path, dict[str, str]]) -> None:
    folder, env = project
    slow = covered_by(command) == "slow in project"  # the scene check: 2048^2 frames, minutes
    done = run_example(command, folder, env, timeout=2400 if slow else 600)
    assert done.returncode == 0, f"{command}\n{done.stdout[-2000:]}\n{done.stderr[-3000:]}"


def test_python_examples_run_on_raw_frames(project: tuple[Path, dict[str, str]]) -> None:
    """The README's Python blocks, executed in order in one namespace, on the project's store."""
    folder, env = project
    code = "\n\n".join(readme_blocks("python"))
    script = folder / "readme_examples.py"
    script.write_text(code)
    done = subprocess.run([sys.executable, str(script)], cwd=folder, env=env,
                          capture_output=True, text=True, timeout=300)  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]


@pytest.mark.slow
@pytest.mark.parametrize("command", [c for c in readme_commands() if covered_by(c) == "slow"])
def test_slow_examples_run_verbatim(command: str, tmp_path: Path) -> None:
    env = {**os.environ, "MLFLOW_TRACKING_URI": f"sqlite:///{tmp_path / 'mlflow.db'}"}
    for name in ("configs", "data_specs"):  # a user's project folder holds them
        (tmp_path / name).symlink_to(ROOT / name)
    done = run_example(command, tmp_path, env)
    assert done.returncode == 0, done.stderr[-3000:]
