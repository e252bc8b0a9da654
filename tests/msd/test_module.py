"""SegmentationModule and its losses on synthetic tensors: losses against formulas, overfitting a
tiny dataset, probabilities from predict, figures, a bf16-mixed run and a 2-process CPU DDP run."""

import importlib.util
import math
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from hrtem_msd import SegmentationModule
from hrtem_msd.nets.errors import ModelError
from hrtem_msd.training.losses import SegmentationLoss
from lightning.pytorch import Trainer, seed_everything
from lightning.pytorch.loggers import CSVLogger

RUN_SCRIPT = Path(__file__).with_name("lightning_run.py")
_spec = importlib.util.spec_from_file_location("lightning_run", RUN_SCRIPT)
run = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(run)


@pytest.fixture(autouse=True)
def one_thread():
    """Tiny nets on a shared 2-core machine: a second OpenMP thread mostly spins (10x slower, loaded)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def trainer(tmp_path: Path, **args: object) -> Trainer:
    defaults = {
        "accelerator": "cpu",
        "devices": 1,
        "logger": False,
        "enable_checkpointing": False,
        "enable_progress_bar": False,
        "enable_model_summary": False,
        "default_root_dir": str(tmp_path),
    }
    return Trainer(**(defaults | args))


def test_losses_match_their_formulas() -> None:
    torch.manual_seed(0)
    logits = torch.randn(2, 3, 5, 4)
    labels = torch.randint(0, 3, (2, 5, 4))
    parts = SegmentationLoss({"ce": 1.0, "dice": 0.5, "focal": 2.0}, focal_gamma=0.0)(
        logits, labels
    )
    assert parts["ce"].item() == pytest.approx(F.cross_entropy(logits, labels).item())
    assert parts["focal"].item() == pytest.approx(parts["ce"].item(), rel=1e-6)  # gamma 0: CE
    probs = logits.softmax(1)
    onehot = F.one_hot(labels, 3).permute(0, 3, 1, 2).float()
    dice = (2 * (probs * onehot).sum((0, 2, 3)) + 1) / (
        probs.sum((0, 2, 3)) + onehot.sum((0, 2, 3)) + 1
    )
    assert parts["dice"].item() == pytest.approx(1 - dice.mean().item(), rel=1e-6)
    total = parts["ce"] + 0.5 * parts["dice"] + 2.0 * parts["focal"]
    assert parts["loss"].item() == pytest.approx(total.item(), rel=1e-6)


def test_focal_and_class_weights() -> None:
    logits = torch.tensor([[[[2.0]], [[0.0]]]])  # one pixel, p(class 0) = sigmoid(2)
    labels = torch.zeros(1, 1, 1, dtype=torch.int64)
    p = 1 / (1 + math.exp(-2.0))
    focal = SegmentationLoss({"focal": 1.0}, focal_gamma=2.0)(logits, labels)["focal"]
    assert focal.item() == pytest.approx(-((1 - p) ** 2) * math.log(p), rel=1e-5)
    two = torch.zeros(1, 2, 1, 2)
    two[0, 0, 0, 0] = 3.0  # pixel 0 well classified as 0; pixel 1 (label 1) uncertain
    lab = torch.tensor([[[0, 1]]])
    weighted = SegmentationLoss({"ce": 1.0}, class_weights=[1.0, 9.0])(two, lab)["ce"]
    ce = F.cross_entropy(two, lab, reduction="none")[0, 0]
    assert weighted.item() == pytest.approx(((ce[0] + 9 * ce[1]) / 10).item(), rel=1e-6)
    with pytest.raises(ModelError, match="3 class weights for 2 classes"):
        SegmentationLoss({"ce": 1.0}, class_weights=[1.0, 1.0, 1.0])(two, lab)
    with pytest.raises(ModelError, match="unknown or no loss \\['lovasz'\\]"):
        SegmentationLoss({"lovasz": 1.0})


def test_dice_loss_is_zero_for_a_perfect_prediction() -> None:
    labels = torch.randint(0, 3, (2, 6, 6))
    logits = 50.0 * F.one_hot(labels, 3).permute(0, 3, 1, 2).float()
    assert SegmentationLoss({"dice": 1.0})(logits, labels)["dice"].item() < 1e-6


def test_msd_overfits_a_tiny_dataset_and_predicts_probabilities(tmp_path: Path) -> None:
    seed_everything(0, verbose=False)
    module = SegmentationModule(
        run.CLASSES,
        1,
        model_args={"depth": 8, "width": 4},
        losses={"ce": 1.0, "dice": 1.0},
        lr=2e-2,
        figure_every=0,
    )
    data = run.loader(8, seed=1)
    trainer(tmp_path, max_epochs=1).fit(module, run.loader(8, seed=1, draws=4 * 60))
    metrics = trainer(tmp_path).validate(module, data, verbose=False)[0]
    assert metrics["val/iou"] > 0.9
    assert {f"val/{m}_{c}" for m in ("iou", "dice", "f1") for c in run.CLASSES} <= set(metrics)
    assert min(metrics[f"val/iou_{c}"] for c in run.CLASSES) > 0.8
    probs = trainer(tmp_path).predict(module, data)
    assert probs[0].shape == (4, 3, 32, 32) and probs[0].dtype == torch.float32
    assert torch.allclose(probs[0].sum(1), torch.ones(4, 32, 32), atol=1e-5)
    assert (probs[0].argmax(1) == run.SyntheticDisks(8, seed=1).labels[:4]).float().mean() > 0.95


def test_bf16_mixed_run_trains(tmp_path: Path) -> None:
    seed_everything(0, verbose=False)
    module = SegmentationModule(run.CLASSES, 1, model_args={"depth": 6}, figure_every=0)
    before = module.net.final_weight.detach().clone()
    fit = trainer(tmp_path, precision="bf16-mixed", max_steps=3, limit_val_batches=1)
    fit.fit(module, run.loader(8, seed=2), run.loader(4, seed=3))
    assert torch.isfinite(fit.callback_metrics["val/loss"])
    assert module.net.final_weight.dtype == torch.float32
    assert not torch.equal(module.net.final_weight, before)


def test_unet_and_scheduler_and_figure_fallback(tmp_path: Path) -> None:
    seed_everything(0, verbose=False)
    module = SegmentationModule(
        run.CLASSES,
        1,
        model="unet",
        model_args={"depth": 1, "base_width": 4},
        scheduler="cosine",
        figure_every=1,
    )
    fit = trainer(tmp_path, max_epochs=2, logger=CSVLogger(tmp_path), log_every_n_steps=1)
    fit.fit(module, run.loader(8, seed=2), run.loader(4, seed=3))
    assert fit.lr_scheduler_configs[0].interval == "step"
    assert fit.optimizers[0].param_groups[0]["lr"] < 1e-3
    # CSVLogger takes no images: one PNG per validation epoch under default_root_dir/figures
    assert sorted(p.name for p in (tmp_path / "figures").glob("*.png")) == [
        "val_epoch0000.png",
        "val_epoch0001.png",
    ]


def test_bad_configuration_is_a_clear_error() -> None:
    with pytest.raises(ModelError, match="scheduler must be one of"):
        SegmentationModule(run.CLASSES, 1, scheduler="linear")
    with pytest.raises(ModelError, match="need >= 2 classes"):
        SegmentationModule(["background"], 1)
    with pytest.raises(ModelError, match="unknown model 'resnet'"):
        SegmentationModule(run.CLASSES, 1, model="resnet")


def test_ddp_two_cpu_processes(tmp_path: Path) -> None:
    out = subprocess.run(
        [sys.executable, str(RUN_SCRIPT), str(tmp_path), "--devices", "2", "--steps", "3"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 0, out.stderr[-3000:]
    ranks = [torch.load(tmp_path / f"rank{r}.pt", weights_only=True) for r in (0, 1)]
    assert [r["world"] for r in ranks] == [2, 2]
    a, b = (r["params"] for r in ranks)
    assert a.keys() == b.keys()
    assert all(torch.equal(a[k], b[k]) for k in a)  # gradients were all-reduced every step
    assert a["net.final_weight"].abs().sum() > 0  # and training moved the zero-initialised layer


def test_figure_goes_to_mlflow_as_an_artifact(tmp_path: Path) -> None:
    import mlflow
    from hrtem_msd.training.figures import log_figure, prediction_figure
    from lightning.pytorch.loggers import MLFlowLogger

    uri = f"sqlite:///{tmp_path}/mlflow.db"
    logger = MLFlowLogger("figures", tracking_uri=uri, artifact_location=str(tmp_path / "art"))
    label = torch.randint(0, 3, (8, 8))
    fig = prediction_figure(torch.randn(2, 8, 8), label, label, run.CLASSES)
    assert len(fig.axes) == 4  # two input channels, target, prediction
    places = log_figure([logger], fig, "val_epoch0003", 7, str(tmp_path))
    assert places == [f"mlflow:{logger.run_id}/figures/val_epoch0003.png"]
    artifacts = mlflow.MlflowClient(uri).list_artifacts(logger.run_id, "figures")
    assert [a.path for a in artifacts] == ["figures/val_epoch0003.png"]
    assert not (tmp_path / "figures").exists()
