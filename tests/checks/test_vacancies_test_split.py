"""`hrtem check vacancies`: a registered MoS2 model's counts against the known counts of its
test split (real abTEM exit waves, real MLflow registry)."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pandas as pd
import pytest
from hrtem_checks.vacancies.test_split import agreement_summary, vacancy_agreement
from hrtem_cli.main import app
from hrtem_core.errors import SpecError
from hrtem_msd.evaluation.dose_sweep import evaluated
from typer.testing import CliRunner

_spec = importlib.util.spec_from_file_location(
    "synthetic", Path(__file__).parents[1] / "analysis" / "synthetic.py"
)
synthetic = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(synthetic)


def test_counts_per_test_image_and_dose(mos2_uri: str) -> None:
    table = vacancy_agreement(evaluated(mos2_uri), [200.0, 1e5], batch_size=2, progress=False)
    assert len(table) == 2 * 2  # 2 test images (40 % of 5) at 2 doses
    for suffix in ("true", "pred"):
        assert (
            table[f"vacancies_{suffix}"] == table[f"s1_{suffix}"] + 2 * table[f"empty_{suffix}"]
        ).all()
    by_dose = [rows.set_index("index") for _, rows in table.groupby("dose")]
    truth = ["vacancies_true", "s1_true", "empty_true"]
    pd.testing.assert_frame_equal(by_dose[0][truth], by_dose[1][truth])  # labels ignore dose
    assert table["vacancies_true"].sum() > 0  # the tiny layers do have vacancies

    summary = agreement_summary(table)
    error = table["vacancies_pred"] - table["vacancies_true"]
    assert list(summary["dose"]) == [200.0, 1e5]
    assert list(summary["images"]) == [2, 2]
    assert summary["mae"].tolist() == pytest.approx(error.abs().groupby(table["dose"]).mean())
    assert summary["bias"].tolist() == pytest.approx(error.groupby(table["dose"]).mean())
    with pytest.raises(
        SpecError, match=r"doses: need one or more values > 0 e/Å\^2, got \[-5\.0\]"
    ):
        vacancy_agreement(evaluated(mos2_uri), [-5.0], progress=False)


def test_cli_writes_table_and_plot(mos2_uri: str, tmp_path: Path) -> None:
    out = tmp_path / "check"
    args = ["check", "vacancies", "--model", mos2_uri, "--doses", "500", "--out", str(out)]
    args.append("--no-realistic")  # the realistic scenes: tests/analysis/test_scene_check.py
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    assert "mae" in result.stdout and f"wrote {out / 'vacancy_check.csv'}" in result.stdout
    assert len(pd.read_csv(out / "vacancy_check.csv")) == 2
    assert (out / "vacancy_check.png").stat().st_size > 5_000


def test_a_model_of_another_task_is_one_line(tmp_path: Path) -> None:
    model = synthetic.particle_model(tmp_path / "particle")
    result = CliRunner().invoke(app, ["check", "vacancies", "--model", str(model)])
    assert result.exit_code == 1
    assert result.stderr.strip() == (
        f"error: {model}: classes ['background', 'particle']; counting vacancies needs "
        "['background', 'Mo', 'S2', 'S1'] (a model of the mos2 task)"
    )
