"""Heavy cases, run by `make test-slow` (not in CI): the default CPU training run (CUDA: test_cuda.py)."""

import time
from pathlib import Path

import pytest
from hrtem_msd.config import compose
from hrtem_msd.training.train import train

CONFIGS = Path(__file__).resolve().parents[2] / "configs"


@pytest.mark.slow
def test_default_cpu_run_gives_a_usable_nanoparticle_model(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`make train TASK=nanoparticle` on a machine without GPU: simulate `small`, train, test at
    200 e-/Å^2 in under 20 minutes with mean IoU >= 0.8 (issue 5's acceptance)."""
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path / 'mlflow.db'}")
    monkeypatch.chdir(tmp_path)
    start = time.monotonic()
    result = train(compose(["task=nanoparticle", "trainer.progress=false"], CONFIGS))
    assert time.monotonic() - start < 20 * 60
    assert result.test_metrics["test/iou"] >= 0.8
    assert result.version == 1
