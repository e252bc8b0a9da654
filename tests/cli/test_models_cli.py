"""`hrtem models list|show|promote` and `hrtem runs compare` on a real local MLflow store."""

from __future__ import annotations

import importlib.util
from collections.abc import Iterator
from pathlib import Path

import mlflow
import pytest
from hrtem_cli.main import app
from hrtem_msd.store.mlflow_model import log_model
from hrtem_msd.store.tracking import experiment_for
from typer.testing import CliRunner

_spec = importlib.util.spec_from_file_location(
    "mlflow_helpers", Path(__file__).parents[1] / "msd" / "mlflow_helpers.py"
)
helpers = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(helpers)


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, str]:
    """A store with hrtem-test version 1 (alias candidate) logged by a run with val/iou per epoch."""
    uri = helpers.sqlite_store(tmp_path_factory, tmp_path_factory.mktemp("store"))
    net, config = helpers.tiny_model()
    with helpers.tracking_to(uri), mlflow.start_run(experiment_id=experiment_for("test")) as run:
        mlflow.log_params({"model.name": "msd", "model.depth": 3, "data.spec_hash": "0123abcd"})
        for epoch, iou in enumerate([0.2, 0.5, 0.4]):
            mlflow.log_metric("val/iou", iou, step=epoch)
        mlflow.log_metric("test/iou", 0.45)
        log_model(net, config, registered_name="hrtem-test")
    return uri, run.info.run_id


@pytest.fixture
def tracking(store: tuple[str, str]) -> Iterator[str]:
    with helpers.tracking_to(store[0]) as uri:
        yield uri


def hrtem(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(app, list(args))
    return result.exit_code, result.stdout, result.stderr


def test_list_and_show(tracking: str, store: tuple[str, str]) -> None:
    code, out, _ = hrtem("models", "list")
    assert code == 0, out
    assert "hrtem-test" in out and "v1" in out and "@candidate -> v1" in out
    code, out, _ = hrtem("models", "show", "hrtem-test")
    assert code == 0, out
    assert store[1] in out and "@candidate" in out and "0.45" in out  # run id, alias, test/iou
    assert "task: test (classes: background, particle)" in out and "energy: 300 kV" in out


def test_promote_sets_the_alias(tracking: str) -> None:
    code, out, _ = hrtem("models", "promote", "hrtem-test", "1", "--alias", "champion")
    assert (code, out.strip()) == (0, "models:/hrtem-test@champion -> version 1")
    version = mlflow.MlflowClient().get_model_version_by_alias("hrtem-test", "champion")
    assert version.version in (1, "1")


def test_unknown_model_or_version_is_one_line(tracking: str) -> None:
    code, _, err = hrtem("models", "show", "hrtem-nope")
    assert code == 1
    assert (
        err == f"error: no registered model 'hrtem-nope' at {tracking} (registered: hrtem-test)\n"
    )
    code, _, err = hrtem("models", "promote", "hrtem-test", "5")
    assert code == 1
    assert err == "error: registered model 'hrtem-test' has no version 5 (versions: 1)\n"


def test_runs_compare_of_a_real_run_prints_what_ran(
    tiny_nanoparticle_root: Path, tmp_path: Path, tmp_path_factory: pytest.TempPathFactory
) -> None:
    from hrtem_msd.config import compose
    from hrtem_msd.training.train import train

    uri = helpers.sqlite_store(tmp_path_factory, tmp_path)
    with helpers.tracking_to(uri), pytest.MonkeyPatch.context() as patch:
        patch.chdir(tmp_path)
        overrides = helpers.tiny(tiny_nanoparticle_root, "trainer=auto", "trainer.max_epochs=2")
        result = train(compose(overrides, helpers.CONFIGS))
        png = tmp_path / "compare.png"
        code, out, _ = hrtem("runs", "compare", "--task", "nanoparticle", "--out", str(png))
        assert code == 0, out
        header = next(line for line in out.splitlines() if "precision" in line)
        row = next(line for line in out.splitlines() if result.run_id[:8] in line)
        assert "32-true" in row and "single_device" in row and "msd" in row
        assert "at epoch" in header and "auto" not in row
        assert png.read_bytes()[:4] == b"\x89PNG"
        code, _, err = hrtem("runs", "compare", "--task", "nope")
        assert code == 1 and err.startswith("error: no MLflow experiment 'hrtem-nope'")
