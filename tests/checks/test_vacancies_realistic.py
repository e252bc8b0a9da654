"""The realistic vacancy check on tiny data: MoS2 flakes with holes (real abTEM exit waves), frames
cutting the lattice, drift between the focal images, counted as a user counts, against the truth."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hrtem_analysis.focal_series import FocalSeriesCount, Registered
from hrtem_analysis.vacancies import count_vacancies
from hrtem_checks.vacancies.realistic import compare, scene_agreement, scene_figure, scene_summary
from hrtem_checks.vacancies.scenes import scene_frames
from hrtem_cli.main import app
from hrtem_core.errors import SpecError
from hrtem_msd.config import compose
from hrtem_msd.evaluation.dose_sweep import evaluated
from typer.testing import CliRunner

CONFIGS = Path(__file__).resolve().parents[2] / "configs"


def test_a_perfect_model_counts_every_realistic_frame_exactly(tiny_scenes) -> None:
    """The truth's bookkeeping on frames with flake edges, a hole and frame cuts: counting the true
    species labels (a perfect model, the drift undone exactly) gives the true vacancies at every
    counted site, every S1 column found, no site off the lattice."""
    optics = compose(["task=mos2"], CONFIGS).task.optics
    rows = []
    for sample in tiny_scenes:
        [frame] = scene_frames(sample, optics, 0.1, (-60, 0, 60), 1, [2e4], seed=3, spot=0.4)
        labels = np.eye(4)[frame.truth.labels].transpose(2, 0, 1)
        border = 1.0 + np.hypot(*frame.drift.T).max()
        perfect = count_vacancies(labels, frame.sampling, border=border)
        registered = Registered(frame.image, frame.drift / np.asarray(frame.sampling), 1)
        rows.append(compare(frame, FocalSeriesCount(perfect, registered, labels, None), 1.0))
        # the frame shows vacuum, flake edges and the hole: fewer sites counted than it holds
        extent = np.array(frame.image.shape[1:]) * 0.1
        in_frame = np.all((frame.truth.sites > 0) & (frame.truth.sites < extent), axis=1)
        assert perfect.sites < 0.8 * in_frame.sum()
    table = pd.DataFrame(rows)
    assert (table["vacancies_pred"] == table["vacancies_true"]).all()
    assert (table["vacancies_oracle"] == table["vacancies_true"]).all()
    assert (table["s1_hit"] == table["s1_true"]).all() and (
        table["s1_pred"] == table["s1_true"]
    ).all()
    assert (table["off_lattice"] == 0).all() and (table["shift_error"] < 1e-9).all()
    assert table["vacancies_true"].sum() > 0 and table["s1_true"].sum() > 0
    summary = scene_summary(table)
    assert summary[["mae", "bias", "mae_rel", "bias_rel"]].to_numpy().tolist() == [[0.0] * 4]
    assert summary[["exact", "s1_precision", "s1_recall", "s1_f1"]].to_numpy().tolist() == [
        [1.0] * 4
    ]


def test_the_check_counts_as_a_user_would(mos2_uri, tiny_scenes) -> None:
    uri = mos2_uri
    table = scene_agreement(evaluated(uri), [2e3, 2e4], profile="tiny", workers=0, progress=False)
    assert len(table) == 3 * 2  # 3 scenes at 2 doses
    assert (table["vacancies_pred"] == table["s1_pred"] + 2 * table["empty_pred"]).all()
    assert (table["vacancies_true"] <= 2 * table["sites"]).all()
    truth = ["vacancies_oracle", "area_oracle"]
    by_dose = [rows.set_index("scene")[truth] for _, rows in table.groupby("dose")]
    pd.testing.assert_frame_equal(by_dose[0], by_dose[1])  # the truth ignores the dose
    np.testing.assert_allclose(
        table["density_pred"], table["vacancies_pred"] / table["area"].where(table["area"] > 0)
    )
    summary = scene_summary(table)
    error = table["vacancies_pred"] - table["vacancies_true"]
    assert list(summary["dose"]) == [2e3, 2e4] and list(summary["images"]) == [3, 3]
    assert summary["mae"].tolist() == pytest.approx(error.abs().groupby(table["dose"]).mean())
    assert scene_figure(table).get_axes()  # draws


def test_cli_writes_the_realistic_tables_and_plots(mos2_uri, tmp_path: Path) -> None:
    uri = mos2_uri
    out = tmp_path / "check"
    args = ["check", "vacancies", "--model", uri, "--doses", "20000", "--out", str(out),
            "--scenes-profile", "tiny", "--workers", "0"]  # fmt: skip
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    assert "realistic focal series" in result.stdout and "s1_precision" in result.stdout
    assert len(pd.read_csv(out / "vacancy_scenes.csv")) == 3
    (summary,) = pd.read_csv(out / "vacancy_scenes_summary.csv").to_dict("records")
    assert (summary["model"], summary["dose"]) == (uri, 20000)  # for `hrtem models export`
    assert (out / "vacancy_scenes.png").stat().st_size > 20_000
    assert (out / "vacancy_check.png").stat().st_size > 5_000


def test_a_series_the_model_was_not_trained_on_is_refused(mos2_uri) -> None:
    uri = mos2_uri
    with pytest.raises(SpecError, match=r"^focal series defocus -10, 0, 10 Å: channel 1 is -10 Å"):
        scene_agreement(evaluated(uri), [2e4], defocus=[-10, 0, 10], profile="tiny", progress=False)


def test_an_installed_model_is_checked_without_its_training_data(
    mos2_uri, tiny_scenes, tmp_path: Path
) -> None:
    from hrtem_msd.store.pretrained import export, install

    ship = tmp_path / "shipped"
    export(mos2_uri, "mos2", {"vacancies/20000/mae": 1.0}, {"model": mos2_uri}, ship)
    install(["mos2"], ship)  # its run logged no config.yaml, and no data lies under data.root
    args = ["check", "vacancies", "--model", "@pretrained", "--doses", "20000", "--out",
            str(tmp_path / "check"), "--scenes-profile", "tiny", "--workers", "0",
            "task.profile=tiny", f"data.root={tmp_path / 'nothing'}"]  # fmt: skip
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    assert (
        f"test split skipped: the training data is not at {tmp_path / 'nothing'}" in result.stdout
    )
    (summary,) = pd.read_csv(tmp_path / "check" / "vacancy_scenes_summary.csv").to_dict("records")
    assert summary["model"] == "models:/hrtem-mos2@pretrained"
