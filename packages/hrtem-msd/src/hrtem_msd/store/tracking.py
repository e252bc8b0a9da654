"""Where MLflow tracks, one experiment per task, and the context every run records.

Default: ``sqlite:///<project>/mlflow.db`` with artifacts under ``<project>/mlartifacts/`` (the
project is the current directory), unless ``MLFLOW_TRACKING_URI`` names another store or a server.
"""

from __future__ import annotations

import importlib.metadata
import os
import subprocess
import urllib.error
import urllib.request
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from hrtem_core.cards import RunRecord
from hrtem_core.errors import HRTEMError
from mlflow import MlflowClient
from mlflow.entities import Param, RunTag

ENV_VAR = "MLFLOW_TRACKING_URI"
DB_NAME = "mlflow.db"
ARTIFACTS_DIR = "mlartifacts"
PACKAGES = (
    "hrtem-core",
    "hrtem-sim",
    "hrtem-msd",
    "hrtem-analysis",
    "hrtem-cli",
    "torch",
    "lightning",
    "mlflow",
    "abtem",
)
MAX_PARAM_LENGTH = 6000  # MLflow's limit on a param value
BATCH = 100  # MLflow's limit on params in one log_batch


class TrackingError(HRTEMError):
    """The tracking server cannot be reached, or a task has no runs to show."""


def tracking_uri(project_root: str | Path | None = None) -> str:
    """``MLFLOW_TRACKING_URI`` if set, else ``sqlite:///<project_root or cwd>/mlflow.db`` (absolute)."""
    uri = os.environ.get(ENV_VAR, "").strip()
    if uri:
        return uri
    root = Path(project_root) if project_root is not None else Path.cwd()
    return f"sqlite:///{(root / DB_NAME).resolve()}"


def artifact_location(uri: str, experiment: str) -> str | None:
    """Artifacts of a local SQLite store go to ``mlartifacts/<experiment>/`` beside the database;
    None (the server's default) otherwise."""
    prefix = "sqlite:///"
    if not uri.startswith(prefix) or uri == f"{prefix}:memory:":
        return None
    database = Path(uri[len(prefix) :])
    return (database.resolve().parent / ARTIFACTS_DIR / experiment).as_uri()


def check_tracking_server(uri: str, timeout: float = 5.0) -> None:
    """Fail fast, with one line, when ``uri`` is an http(s) server that does not answer.

    Any HTTP answer (even 401 or 404) counts as reachable; local stores are not checked.
    """
    if not uri.startswith(("http://", "https://")):
        return
    try:
        with urllib.request.urlopen(f"{uri.rstrip('/')}/health", timeout=timeout):
            pass
    except urllib.error.HTTPError:
        return
    except (urllib.error.URLError, OSError, ValueError) as err:
        reason = getattr(err, "reason", err)
        raise TrackingError(
            f"MLflow tracking server {uri} is unreachable ({reason}); start it or unset {ENV_VAR} "
            f"to track to {DB_NAME} in the project"
        ) from None


def client(uri: str | None = None) -> MlflowClient:
    """An MlflowClient for ``uri`` (default :func:`tracking_uri`), after :func:`check_tracking_server`."""
    uri = uri or tracking_uri()
    check_tracking_server(uri)
    return MlflowClient(tracking_uri=uri, registry_uri=uri)


def experiment_name(task: str) -> str:
    """The experiment that holds every run of ``task``: ``hrtem-<task>``."""
    return f"hrtem-{task}"


def experiment_for(task: str, uri: str | None = None) -> str:
    """Id of the task's experiment, created (artifacts per :func:`artifact_location`) or restored."""
    uri = uri or tracking_uri()
    mlflow_client = client(uri)
    name = experiment_name(task)
    experiment = mlflow_client.get_experiment_by_name(name)
    if experiment is None:
        return mlflow_client.create_experiment(name, artifact_location=artifact_location(uri, name))
    if experiment.lifecycle_stage == "deleted":
        mlflow_client.restore_experiment(experiment.experiment_id)
    return experiment.experiment_id


def git_commit(root: str | Path | None = None) -> str | None:
    """HEAD commit of the git checkout at ``root`` (default: the one holding this code, as an
    editable install has it), ``+dirty`` if it has changes; None outside git."""
    cwd = Path(root) if root is not None else Path(__file__).resolve().parent
    try:
        head = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=cwd, capture_output=True, text=True, timeout=10
        )
        if head.returncode != 0:
            return None
        status = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=cwd,
            capture_output=True,
            text=True,
            timeout=30,
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    return head.stdout.strip() + ("+dirty" if status.stdout.strip() else "")


def package_versions() -> dict[str, str]:
    """Installed versions of the hrtem packages and the main libraries (missing ones left out)."""
    versions = {}
    for name in PACKAGES:
        try:
            versions[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            continue
    return versions


def flatten_params(config: Mapping[str, Any], prefix: str = "") -> dict[str, str]:
    """Nested mapping -> ``{"model.depth": "100", ...}`` (lists as text, cut to MLflow's 6000 characters)."""
    flat: dict[str, str] = {}
    for key, value in config.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping):
            flat.update(flatten_params(value, f"{name}."))
        else:
            flat[name] = str(value)[:MAX_PARAM_LENGTH]
    return flat


def log_run_context(
    run_id: str, config: Mapping[str, Any], record: RunRecord, uri: str | None = None
) -> None:
    """Record on run ``run_id``: the flattened config and the run record (``run.*``) as params,
    both as ``config.yaml`` (the record under ``run``), the git commit (tag
    ``mlflow.source.git.commit``) and package versions (tags ``version.<name>``)."""
    mlflow_client = client(uri)
    flat = flatten_params(config) | record.params()
    params = [Param(name, value[:MAX_PARAM_LENGTH]) for name, value in flat.items()]
    for start in range(0, len(params), BATCH):
        mlflow_client.log_batch(run_id, params=params[start : start + BATCH])
    tags = [RunTag(f"version.{name}", v) for name, v in record.package_versions.items()]
    if record.git_commit is not None:
        tags.append(RunTag("mlflow.source.git.commit", record.git_commit))
    mlflow_client.log_batch(run_id, tags=tags)
    mlflow_client.log_dict(run_id, {**config, "run": record.to_dict()}, "config.yaml")
