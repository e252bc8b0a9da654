"""Shipped models: exported with their checks, installed into an empty store as
hrtem-<task>@pretrained, loaded by alias (and by @pretrained with the task known); a second
install changes nothing; a truncated or tampered file is refused in one line, registering nothing."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pandas as pd
import pytest
import torch
import yaml
from hrtem_cli.main import app
from hrtem_msd import load_model
from hrtem_msd.evaluation.dose_sweep import evaluated
from hrtem_msd.store import pretrained
from hrtem_msd.store.mlflow_model import RegistryError, save_model_data
from hrtem_msd.store.pretrained import export, install, shipped, verify
from hrtem_msd.store.registry import registered_models, show_model
from typer.testing import CliRunner

_spec = importlib.util.spec_from_file_location(
    "mlflow_helpers", Path(__file__).with_name("mlflow_helpers.py")
)
helpers = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(helpers)

CHECKS = {"scenes/200/recall_1.5-3nm": 0.91, "scenes/200/false_per_frame": 0.5}
IMAGES = torch.randn(2, 1, 24, 20, generator=torch.Generator().manual_seed(3))


@pytest.fixture
def ship(tmp_path: Path) -> Path:
    """A shipped directory holding one tiny nanoparticle model."""
    net, card = helpers.tiny_model("nanoparticle")
    source = save_model_data(net, card, tmp_path / "trained")
    directory = tmp_path / "shipped"
    export(str(source), "nanoparticle", CHECKS, {"run": "abc123"}, directory)
    return directory


def test_export_writes_weights_card_and_checksum(ship: Path) -> None:
    (entry,) = shipped(ship).values()
    manifest = yaml.safe_load((ship / "manifest.yaml").read_text())
    assert manifest["nanoparticle"]["sha256"] == pretrained.sha256(
        entry.folder / "weights.safetensors"
    )
    assert manifest["nanoparticle"]["source"] == {"run": "abc123"}
    assert verify(entry).checks == CHECKS
    assert sorted(p.name for p in ship.iterdir()) == ["manifest.yaml", "nanoparticle"]


def test_install_into_an_empty_store_and_load_by_alias(ship: Path, store: str) -> None:
    (done,) = install([], ship)
    assert (done.name, done.new) == ("hrtem-nanoparticle", True)
    shipped_net = load_model(str(ship / "nanoparticle"))
    for uri in ("models:/hrtem-nanoparticle@pretrained", "@pretrained"):
        net = load_model(uri, task="nanoparticle")
        assert net.config.checks == CHECKS
        torch.testing.assert_close(net(IMAGES), shipped_net(IMAGES))
    assert show_model("hrtem-nanoparticle").summary.aliases == {"pretrained": done.version}


def test_an_installed_model_is_evaluated_with_its_task_s_config(ship: Path, store: str) -> None:
    install([], ship)
    checked = evaluated("models:/hrtem-nanoparticle@pretrained", task="nanoparticle")
    assert checked.uri == "models:/hrtem-nanoparticle@pretrained"
    assert (checked.net.config.checks, checked.config.task.name) == (CHECKS, "nanoparticle")


def test_second_install_changes_nothing(ship: Path, store: str) -> None:
    first = install(["nanoparticle"], ship)
    again = install(["nanoparticle"], ship)
    assert [(d.version, d.new) for d in again] == [(first[0].version, False)]
    assert len(show_model("hrtem-nanoparticle").versions) == 1


def test_bare_alias_needs_a_task() -> None:
    with pytest.raises(RegistryError) as err:
        load_model("@pretrained")
    assert (
        str(err.value)
        == "@pretrained: a bare alias needs a task; write models:/hrtem-<task>@pretrained"
    )


def test_truncated_weights_are_refused_and_nothing_registered(ship: Path, store: str) -> None:
    weights = ship / "nanoparticle" / "weights.safetensors"
    size = weights.stat().st_size
    weights.write_bytes(weights.read_bytes()[:-100])
    with pytest.raises(RegistryError) as err:
        install([], ship)
    assert str(err.value) == (
        f"{weights}: {size - 100} bytes, the manifest says {size} (truncated or replaced?)"
    )
    assert registered_models() == []


def test_tampered_weights_are_refused_and_nothing_registered(ship: Path, store: str) -> None:
    weights = ship / "nanoparticle" / "weights.safetensors"
    data = bytearray(weights.read_bytes())
    data[-1] ^= 0xFF
    weights.write_bytes(bytes(data))
    with pytest.raises(
        RegistryError, match=r"does not match the manifest's .* \(corrupted or tampered with\)$"
    ):
        install([], ship)
    assert registered_models() == []


def test_unknown_task_is_one_line(ship: Path, store: str) -> None:
    with pytest.raises(RegistryError) as err:
        install(["columns"], ship)
    assert str(err.value) == "no shipped model for task 'columns' (shipped: nanoparticle)"


def test_cli_install_twice(ship: Path, store: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(pretrained, "PRETRAINED_DIR", ship)
    runner = CliRunner()
    first = runner.invoke(app, ["models", "install"])
    second = runner.invoke(app, ["models", "install", "nanoparticle"])
    assert (first.exit_code, first.stdout) == (
        0,
        "models:/hrtem-nanoparticle@pretrained -> version 1 (installed)\n",
    )
    assert second.stdout == (
        "models:/hrtem-nanoparticle@pretrained -> version 1 (already installed, nothing changed)\n"
    )
    bad = runner.invoke(app, ["models", "install", "mos2"])
    assert (bad.exit_code, bad.stderr) == (
        1,
        "error: no shipped model for task 'mos2' (shipped: nanoparticle)\n",
    )


def test_cli_export_puts_the_scene_figures_in_the_card(tmp_path: Path, store: str) -> None:
    net, card = helpers.tiny_model("nanoparticle")
    source = str(save_model_data(net, card, tmp_path / "trained"))
    rows = [
        {"method": source, "dose": 200.0, "substrates": "clumped_carbon", "recall": 0.9,
         "false_per_frame": 0.25, "mean_iou": float("nan")},
        {"method": "classical", "dose": 200.0, "substrates": "clumped_carbon", "recall": 0.7,
         "false_per_frame": 14.0, "mean_iou": 0.6},
    ]  # fmt: skip
    scenes = tmp_path / "scenes.csv"
    pd.DataFrame(rows).to_csv(scenes, index=False)
    out = tmp_path / "shipped"
    runner = CliRunner()
    args = ["models", "export", source, "--task", "nanoparticle", "--scenes", str(scenes)]
    done = runner.invoke(app, [*args, "--out", str(out)])
    assert done.exit_code == 0, done.output
    (entry,) = shipped(out).values()
    assert done.stdout.endswith(f"sha256 {entry.sha256}, 2 check figures\n")
    assert verify(entry).checks == {
        "scenes/clumped_carbon/200/recall": 0.9,
        "scenes/clumped_carbon/200/false_per_frame": 0.25,
    }
    assert entry.source == {"model": source, "preset": "configs/pretrained/nanoparticle.yaml"}
    again = runner.invoke(
        app, [*args, "--out", str(out), "--trained-by", "make train TASK=nanoparticle"]
    )
    assert again.exit_code == 0, again.output
    assert shipped(out)["nanoparticle"].source == {
        "model": source, "trained_by": "make train TASK=nanoparticle"
    }  # fmt: skip
    other = runner.invoke(app, ["models", "export", "@candidate", "--task", "nanoparticle",
                                "--scenes", str(scenes), "--out", str(out)])  # fmt: skip
    assert (other.exit_code, other.stderr) == (
        1,
        f"error: the scenes check has no rows of '@candidate' (method: {source}, classical)\n",
    )


def test_cli_export_puts_the_series_and_vacancy_figures_in_the_card(tmp_path: Path) -> None:
    net, card = helpers.tiny_model("columns")
    source = str(save_model_data(net, card, tmp_path / "trained"))
    series = tmp_path / "series_check_summary.csv"
    pd.DataFrame([{"model": "models:/hrtem-nanoparticle/1", "columns_model": source,
                   "case": "seed0", "dose": 1000.0, "precision": 1.0, "recall": 0.9,
                   "count_error": 0.0}]).to_csv(series, index=False)  # fmt: skip
    vacancies = tmp_path / "vacancy_scenes_summary.csv"
    pd.DataFrame([{"model": source, "dose": 2000.0, "mae_rel": 0.08}]).to_csv(
        vacancies, index=False
    )
    runner = CliRunner()
    args = ["models", "export", source, "--task", "columns", "--series", str(series),
            "--vacancies", str(vacancies), "--out", str(tmp_path / "shipped")]  # fmt: skip
    done = runner.invoke(app, args)
    assert done.exit_code == 0, done.output
    (entry,) = shipped(tmp_path / "shipped").values()
    assert verify(entry).checks == {
        "series/seed0/1000/precision": 1.0,
        "series/seed0/1000/recall": 0.9,
        "series/seed0/1000/count_error": 0.0,
        "vacancies/2000/mae_rel": 0.08,
    }
    pd.DataFrame([{"dose": 2000.0, "mae_rel": 0.08}]).to_csv(vacancies, index=False)
    bad = runner.invoke(app, [*args[:5], "--vacancies", str(vacancies)])
    assert (bad.exit_code, bad.stderr) == (
        1,
        "error: the vacancies check's table has no 'model' column\n",
    )


def test_the_repository_s_shipped_models_verify_and_install(store: str) -> None:
    entries = shipped()
    assert "nanoparticle" in entries, "the repository ships a nanoparticle model"
    for entry in entries.values():
        card = verify(entry)
        assert card.checks, f"{entry.task}: a shipped model's card has its check figures"
    checks = verify(entries["nanoparticle"]).checks  # the particles issue's targets at 200 e-/Å^2
    assert checks["scenes/clumped_carbon/200/recall_1.5nm+"] >= 0.95
    assert checks["scenes/clumped_carbon/200/false_per_frame"] <= 1.0
    (done,) = install(["nanoparticle"])
    net = load_model("@pretrained", task="nanoparticle")
    assert (done.new, net.config.task, net.config.architecture) == (True, "nanoparticle", "msd")
