"""MLflow stores for tests: a SQLite tracking store in milliseconds, a real `mlflow server`, a tiny model.

A new SQLite store costs ~12 s of schema migrations, so one empty store is made per pytest session
(in the session's base temporary directory) and copied for each test module.
Load with ``importlib`` (tests run with ``--import-mode=importlib``), as test_module.py does.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import mlflow
import pytest
import torch
from hrtem_core.cards import ModelCard
from hrtem_msd.nets import build
from torch import nn

CONFIGS = Path(__file__).resolve().parents[2] / "configs"
SERVER_START_TIMEOUT = 120.0  # [s] for `mlflow server` to answer /health on a busy 2-core machine


def sqlite_store(tmp_path_factory: pytest.TempPathFactory, folder: Path) -> str:
    """A fresh, empty ``sqlite:///<folder>/mlflow.db`` (copied from the session's template)."""
    template = tmp_path_factory.getbasetemp() / "mlflow-template.db"
    if not template.exists():
        partial = template.with_suffix(".partial")
        mlflow.MlflowClient(f"sqlite:///{partial}").search_experiments()
        os.replace(partial, template)
    shutil.copy(template, folder / "mlflow.db")
    return f"sqlite:///{folder / 'mlflow.db'}"


@contextlib.contextmanager
def tracking_to(uri: str) -> Iterator[str]:
    """MLFLOW_TRACKING_URI and MLflow's fluent API point at ``uri`` inside the block."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("MLFLOW_TRACKING_URI", uri)
        mlflow.set_tracking_uri(uri)
        try:
            yield uri
        finally:
            mlflow.set_tracking_uri(None)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2):
            return True
    except OSError:
        return False


@contextlib.contextmanager
def mlflow_server(folder: Path, backend_uri: str) -> Iterator[str]:
    """A real ``mlflow server`` on 127.0.0.1 (``--serve-artifacts`` into ``folder/artifacts``); its URL."""
    port = free_port()
    command = [
        str(Path(sys.executable).with_name("mlflow")), "server",
        "--host", "127.0.0.1", "--port", str(port), "--workers", "1",
        "--backend-store-uri", backend_uri,
        "--serve-artifacts", "--artifacts-destination", str(folder / "artifacts"),
    ]  # fmt: skip
    log = folder / "server.log"
    with log.open("w") as stream:
        server = subprocess.Popen(
            command, stdout=stream, stderr=subprocess.STDOUT, start_new_session=True
        )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + SERVER_START_TIMEOUT
        while not _answers(f"{url}/health"):
            if server.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"mlflow server did not start: {log.read_text()[-2000:]}")
            time.sleep(0.5)
        yield url
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(server.pid, signal.SIGTERM)
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(server.pid, signal.SIGKILL)
            server.wait(timeout=20)


def tiny_model(
    task: str = "test", in_channels: int = 1, seed: int = 0
) -> tuple[nn.Module, ModelCard]:
    """A 3-layer MSD-net with a random (non-zero) final layer, and its model card."""
    config = ModelCard(
        task=task,
        architecture="msd",
        model_args={"depth": 3, "width": 1, "dilations": [1, 2]},
        classes=["background", "particle"],
        in_channels=in_channels,
        defocus=[50.0 * (i + 1) for i in range(in_channels)],
        sampling=0.2,
        normalisation="per_image",
        spec_hash="0123abcd",
        energy=300e3,
    )
    torch.manual_seed(seed)
    net = build(config)
    with torch.no_grad():
        net.final_weight.normal_()
        net.final_bias.normal_()
    return net.eval(), config


def tiny(root: Path, *extra: str) -> list[str]:
    """Overrides for a seconds-long training run on the tiny nanoparticle dataset under ``root``."""
    return [
        "task=nanoparticle",
        "task.profile=tiny",
        f"data.root={root}",
        "model.depth=4",
        "trainer=cpu",
        "trainer.max_epochs=1",
        "trainer.progress=false",
        "data.batch_size=2",
        "data.num_workers=0",
        "data.val_fraction=0.25",
        "data.test_fraction=0.25",
        "task.optics.detector_sampling.low=0.2",
        "task.optics.detector_sampling.high=0.22",
        "task.optics.camera_sampling={low: 0.2, high: 0.4}",  # not finer than the tiny waves
        "task.optics.output_size=[48,48]",
        *extra,
    ]
