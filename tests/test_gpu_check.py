"""scripts/gpu-check on a machine without CUDA: its one line, and the parts that run on the CPU (the
steps' bookkeeping, the train and DDP checks on the CPU)."""

from __future__ import annotations

import argparse
import importlib.machinery
import importlib.util
import subprocess
import sys
from pathlib import Path

import pytest
import torch

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "scripts" / "gpu-check"


def _load():
    loader = importlib.machinery.SourceFileLoader("gpu_check", str(SCRIPT))
    spec = importlib.util.spec_from_loader("gpu_check", loader)
    module = importlib.util.module_from_spec(spec)
    loader.exec_module(module)
    return module


gpu_check = _load()


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the machine without CUDA")
def test_without_cuda_it_says_so_in_one_line_and_fails() -> None:
    done = subprocess.run([sys.executable, str(SCRIPT)], capture_output=True, text=True, timeout=60)
    assert done.returncode == 2
    assert done.stdout == ""
    assert done.stderr == (
        "gpu-check: no CUDA device (torch.cuda.is_available() is False); "
        "this is a device check, not a CPU test\n"
    )


def test_a_failed_step_is_reported_and_the_next_one_runs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
) -> None:
    py = sys.executable
    steps = [
        ("fails", 30, [py, "-c", "print('first'); print('broke'); raise SystemExit(3)"]),
        ("hangs", 0.5, [py, "-c", "import time; print('waiting', flush=True); time.sleep(30)"]),
        ("passes", 30, [py, "-c", "print('all good')"]),
    ]
    monkeypatch.setattr(gpu_check, "steps", lambda data, work: steps)
    monkeypatch.setattr(gpu_check, "STATE", tmp_path / "state")  # no wheels to install
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "get_device_name", lambda: "a fake GPU")
    logs = tmp_path / "logs"
    assert gpu_check.check(argparse.Namespace(log_dir=logs, data=tmp_path)) == 1
    table = capsys.readouterr().out.splitlines()[-4:]
    assert table[0].split() == ["step", "result", "s", "last", "line"]
    assert [row.split()[:2] for row in table[1:]] == [
        ["fails", "FAILED"],
        ["hangs", "TIMEOUT"],
        ["passes", "ok"],
    ]
    assert [row.split("  ")[-1] for row in table[1:]] == ["broke", "waiting", "all good"]
    assert (logs / "fails.log").read_text() == "first\nbroke\n"
    assert (logs / "summary.txt").read_text().splitlines() == table


def test_the_steps_fit_the_device_and_find_the_cuda_tests(tmp_path: Path) -> None:
    steps = gpu_check.steps(tmp_path / "data", tmp_path / "work")
    assert [name for name, _, _ in steps] == [
        "pytest", "train", "msd", "analysis-fp32", "analysis-bf16", "ddp",
    ]  # fmt: skip
    assert sum(limit for _, limit, _ in steps) <= 8 * 60
    pytest_command = steps[0][2]
    assert {"tests/msd/test_cuda.py", "tests/analysis/test_tiled.py"} <= set(pytest_command)
    for _, _, command in steps[2:5]:
        assert (ROOT / command[1]).is_file()


@pytest.mark.slow
@pytest.mark.filterwarnings("ignore:It is recommended to use `self.log.*sync_dist=True")
def test_the_train_and_ddp_checks_run_on_the_cpu(
    tiny_nanoparticle_root: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The GPU steps' code with the CPU trainer and a depth-3 net (about 30 s)."""
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path / 'mlflow.db'}")
    monkeypatch.chdir(tmp_path)
    cpu = ["trainer.accelerator=cpu", "trainer.precision=32-true", "model.depth=3"]
    line = gpu_check.train_check(
        tiny_nanoparticle_root, tmp_path, [*cpu, "task.train_repeats=8"], device="cpu"
    )
    assert line.startswith("train: epoch loss ")
    assert "models:/hrtem-nanoparticle/1 on the CPU = the best checkpoint on cpu" in line
    line = gpu_check.ddp_check(
        tiny_nanoparticle_root, tmp_path, [*cpu, "trainer.devices=1", "task.train_repeats=2"]
    )
    assert line == "ddp: one finished MLflow run, strategy DDPStrategy, world size 1 on 1 device(s)"
