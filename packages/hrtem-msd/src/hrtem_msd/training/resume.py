"""Finding the run to resume: its MLflow run id, its last checkpoint, and a config that still matches.

Checkpoints live where Lightning puts them for an MLflow logger with a database store:
``<out>/<experiment id>/<run id>/checkpoints/last.ckpt``.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

import yaml
from hrtem_core.errors import SpecError
from mlflow import MlflowClient
from mlflow.exceptions import MlflowException

from hrtem_msd.config import TrainConfig, to_container
from hrtem_msd.store.tracking import experiment_name

# Keys that may change between the interrupted run and its resumption.
MAY_CHANGE = (
    "resume",
    "trainer.max_epochs",
    "trainer.max_time",
    "trainer.cpu_max_time",
    "trainer.progress",
    "run",
)


def checkpoint_dir(out: str | Path, experiment_id: str, run_id: str) -> Path:
    """Where the checkpoints of run ``run_id`` are written."""
    return Path(out) / experiment_id / run_id / "checkpoints"


def _leaves(node: Any, prefix: str = "") -> dict[str, Any]:
    if isinstance(node, dict):
        out: dict[str, Any] = {}
        for key, value in node.items():
            out.update(_leaves(value, f"{prefix}{key}."))
        return out
    return {prefix[:-1]: node}


def config_difference(before: dict[str, Any], now: dict[str, Any]) -> str | None:
    """The first dotted key whose value differs (ignoring MAY_CHANGE), as "key (run: a, now: b)"."""
    old, new = _leaves(before), _leaves(now)
    for key in sorted(set(old) | set(new)):
        if any(key == k or key.startswith(f"{k}.") for k in MAY_CHANGE):
            continue
        if old.get(key) != new.get(key):
            return f"{key} (run: {old.get(key)!r}, now: {new.get(key)!r})"
    return None


def find_resume(config: TrainConfig, uri: str) -> tuple[str, str]:
    """(run id, last checkpoint path) for ``config.resume`` ("last" or a run id).

    SpecError when the task has no run to resume, the run is unknown, has no checkpoint, or its
    logged config differs from ``config`` in anything but the epochs/time budget.
    """
    client = MlflowClient(tracking_uri=uri)
    name = config.mlflow.experiment or experiment_name(config.task.name)
    experiment = client.get_experiment_by_name(name)
    if experiment is None:
        raise SpecError(f"resume={config.resume}: experiment {name!r} has no runs")
    if config.resume == "last":
        runs = client.search_runs(
            [experiment.experiment_id], order_by=["attributes.start_time DESC"]
        )
        runs = [r for r in runs if _last(config, r.info.experiment_id, r.info.run_id).is_file()]
        if not runs:
            raise SpecError(f"resume=last: no run of {name!r} has a checkpoint under {config.out}")
        run = runs[0]
    else:
        try:
            run = client.get_run(str(config.resume))
        except MlflowException:
            raise SpecError(f"resume={config.resume}: no such MLflow run") from None
    run_id = run.info.run_id
    last = _last(config, run.info.experiment_id, run_id)
    if not last.is_file():
        raise SpecError(f"resume={run_id}: no checkpoint at {last}")
    try:
        before = _logged_config(client, run_id)
    except (MlflowException, OSError):
        raise SpecError(f"resume={run_id}: the run has no config.yaml to compare with") from None
    difference = config_difference(before, to_container(config))
    if difference is not None:
        raise SpecError(f"resume={run_id}: config no longer matches the run's at {difference}")
    return run_id, str(last)


def _last(config: TrainConfig, experiment_id: str, run_id: str) -> Path:
    return checkpoint_dir(config.out, experiment_id, run_id) / "last.ckpt"


def _logged_config(client: MlflowClient, run_id: str) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp:
        path = client.download_artifacts(run_id, "config.yaml", tmp)
        return yaml.safe_load(Path(path).read_text())
