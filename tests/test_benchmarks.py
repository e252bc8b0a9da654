"""benchmarks/msd.py and benchmarks/analysis.py: their options, and their CUDA code paths run on the
CPU at toy sizes (the figures themselves need a GPU: scripts/gpu-check)."""

from __future__ import annotations

import argparse
import importlib.util
import subprocess
import sys
from pathlib import Path

import pytest
import torch

BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"


def _load(name: str):
    spec = importlib.util.spec_from_file_location(f"benchmark_{name}", BENCHMARKS / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("name", ["msd", "analysis"])
def test_help_names_the_device_option(name: str) -> None:
    done = subprocess.run(
        [sys.executable, str(BENCHMARKS / f"{name}.py"), "--help"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert "--device {cpu,cuda}" in done.stdout


def test_msd_cuda_sweep_runs_on_the_cpu(capsys: pytest.CaptureFixture) -> None:
    msd = _load("msd")
    args = argparse.Namespace(
        device="cpu", depth=4, sizes=[24], dtypes=["bf16", "fp32"], batch=2, fill=0.8,
        copy_mib=8, repeats=1,
    )  # fmt: skip
    msd.gpu_sweep(args)
    lines = capsys.readouterr().out.splitlines()
    rows = [line.split() for line in lines[2:-1]]
    assert [row[:4] for row in rows] == [
        [size, dtype, name, impl]
        for size in ["24"]
        for dtype in ["bf16", "fp32"]
        for name in ["fwd+bwd", "fwd"]
        for impl in ["conv2d", "MSDNet"]
    ]
    assert all(row[4] == "2" and float(row[5]) > 0 for row in rows)
    assert lines[-1].startswith("targets, 24^2 bf16 fwd+bwd: speed-up ")
    with pytest.raises(SystemExit, match="--batch 0 fills a GPU's memory"):
        msd.gpu_sweep(argparse.Namespace(**{**vars(args), "batch": 0}))


def test_msd_bound_counts_every_map_read() -> None:
    msd = _load("msd")
    # depth 2: layer 0 reads 1 map, layer 1 reads 2, the final layer 3
    assert msd.bound_bytes(2, 10, 2, backward=False) == 6 * 10 * 2
    assert msd.bound_bytes(2, 10, 4, backward=True) == 3 * 6 * 10 * 4


def test_analysis_device_precision_and_frames_on_the_cpu(tmp_path: Path) -> None:
    analysis = _load("analysis")
    args = argparse.Namespace(
        size=80, depth=3, window=32, overlap=0.5, batch_size=4, frames=2, device="cpu",
        precision="bf16", series_frames=1,
    )  # fmt: skip
    for variant in ("monai", "hrtem"):  # in this process: a subprocess costs 12 s importing MONAI
        args.corner_file = tmp_path / f"{variant}.pt"
        figures = analysis.run_variant(variant, args)
        assert figures["seconds"] > figures["outside_model"] >= 0
    corners = [torch.load(tmp_path / f"{v}.pt", weights_only=True) for v in ("hrtem", "monai")]
    assert corners[0].shape == (2, 80, 80)
    torch.testing.assert_close(corners[0], corners[1], atol=1e-5, rtol=0)
    windows, whole = analysis.series_throughput(argparse.Namespace(**{**vars(args), "window": 512}))
    assert windows > 0 and whole > 0


def test_watch_benchmark_prints_the_ratio_and_the_lag() -> None:
    done = subprocess.run(
        [sys.executable, str(BENCHMARKS / "watch.py"), "--sizes", "64", "--frames", "2",
         "--depth", "2"],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    header, row = done.stdout.splitlines()[1:3]
    assert header.split()[:4] == ["size", "batch", "s/frame", "watch"]
    size, per_batch, per_watch, ratio, fps, median, largest, target = map(float, row.split())
    assert size == 64 and ratio == pytest.approx(per_watch / per_batch, rel=0.1, abs=0.05)
    assert fps == pytest.approx(1 / per_watch, rel=0.1)
    assert 0 < median <= largest < 30 and target == pytest.approx(2 + per_watch, abs=0.01)


def test_scene_check_benchmark_explains_itself() -> None:
    done = subprocess.run(
        [sys.executable, str(BENCHMARKS / "scene_check.py"), "--help"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert "--parallel PARALLEL" in done.stdout and "--model MODEL" in done.stdout
