"""Heavy case, run by `make test-slow` (not in CI): the default CPU MoS2 run, then its vacancy counts
on realistic focal series (issue 12's targets), and on the test split of its run."""

from pathlib import Path

import pytest
from hrtem_checks.vacancies.realistic import scene_agreement, scene_summary
from hrtem_checks.vacancies.test_split import agreement_summary, vacancy_agreement
from hrtem_msd.config import compose
from hrtem_msd.evaluation.dose_sweep import evaluated
from hrtem_msd.training.train import train

CONFIGS = Path(__file__).resolve().parents[2] / "configs"
# Issue 12's targets for the default CPU model on the realistic scenes: at 2e4 e-/Å^2 counts within
# 10 % of the truth (mean absolute error over the mean true count), bias below 5 %, S1 F1 >= 0.9;
# at 2e3 e-/Å^2 within 25 %.
TARGETS = {2e4: (0.10, 0.05, 0.9), 2e3: (0.25, None, None)}


@pytest.mark.slow
def test_default_cpu_mos2_run_counts_vacancies(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`make train TASK=mos2` without GPU (simulate `small`, 13 min of training), then
    `hrtem check vacancies --doses 2000,20000` on the realistic scenes (simulated into the
    run's data root): the issue's targets at each dose."""
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path / 'mlflow.db'}")
    monkeypatch.chdir(tmp_path)
    result = train(compose(["task=mos2", "trainer.progress=false"], CONFIGS))
    model = evaluated(result.model_uri)
    split = agreement_summary(vacancy_agreement(model, sorted(TARGETS), progress=False))
    assert (split["true_mean"] > 1.0).all()  # the test layers do hold vacancies
    summary = scene_summary(scene_agreement(model, sorted(TARGETS), progress=False))
    for row in summary.itertuples():
        within, bias, f1 = TARGETS[row.dose]
        assert row.true_mean > 1.0 and row.mae_rel <= within, row
        assert bias is None or abs(row.bias_rel) < bias, row
        assert f1 is None or row.s1_f1 >= f1, row
