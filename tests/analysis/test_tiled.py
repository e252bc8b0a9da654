"""Tiled inference against whole-image inference, Hamming weights, resampling and memory bounds."""

from types import SimpleNamespace

import numpy as np
import pytest
import torch
from hrtem_analysis.tiled import hamming_weights, tiled_predict, window_origins
from hrtem_core.errors import ImageError
from hrtem_msd import MSDNet
from torch import nn


def pointwise_model(in_channels: int = 2, classes: int = 3) -> nn.Module:
    """A 1x1 convolution; its ``in_channels`` attribute is what the channel check reads."""
    torch.manual_seed(0)
    return nn.Conv2d(in_channels, classes, kernel_size=1)


def receptive_model(in_channels: int = 1, classes: int = 2) -> nn.Module:
    """An MSD-net of depth 8 (receptive field ~ 2 x 36 px) with a non-zero last layer."""
    torch.manual_seed(0)
    model = MSDNet(in_channels, classes, depth=8)
    for p in model.parameters():
        nn.init.normal_(p, std=0.3)
    return model


class ShapeRecorder(nn.Module):
    """Runs a model and records the shape of every input batch it is given."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model
        self.in_channels = model.in_channels
        self.shapes: list[tuple[int, ...]] = []

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.shapes.append(tuple(x.shape))
        return self.model(x)


def whole(model: nn.Module, image: torch.Tensor) -> torch.Tensor:
    with torch.no_grad():
        return torch.softmax(model(image[None]), dim=1)[0]


@pytest.mark.parametrize(
    ("shape", "window", "overlap"),
    [((100, 37), 32, 0.5), ((20, 17), 64, 0.5), ((65, 129), 32, 0.25), ((33, 33), 16, 0.0)],
    ids=["not-multiple", "smaller-than-window", "odd", "no-overlap"],
)
def test_pointwise_model_tiled_equals_whole_image(shape, window, overlap) -> None:
    model = pointwise_model()
    image = torch.randn(2, *shape, generator=torch.Generator().manual_seed(1))
    tiled = tiled_predict(model, image, window=window, overlap=overlap, batch_size=3)
    expected = whole(model, image)
    assert tiled.shape == (3, *shape)
    assert tiled.dtype == torch.float32 and tiled.device.type == "cpu"
    torch.testing.assert_close(tiled, expected, atol=1e-6, rtol=0)
    # The frame's edges and corners are as exact as the interior.
    torch.testing.assert_close(
        tiled[:, [0, -1]][:, :, [0, -1]], expected[:, [0, -1]][:, :, [0, -1]]
    )


def test_hamming_weights_sum_positive_everywhere() -> None:
    height, width, window = 100, 70, 32
    total = torch.zeros(height, width)
    weights = hamming_weights(window, window)
    for i in window_origins(height, window, 0.5):
        for j in window_origins(width, window, 0.5):
            total[i : i + window, j : j + window] += weights
    assert total.min() > 0
    # Corners are covered by exactly one window's corner: 0.08 ** 2.
    for corner in (total[0, 0], total[0, -1], total[-1, 0], total[-1, -1]):
        assert corner.item() == pytest.approx(0.08**2, rel=1e-5)
    assert window_origins(height, window, 0.5) == [0, 16, 32, 48, 64, 68]


def test_receptive_field_model_interior_close_to_whole_image() -> None:
    model = receptive_model()
    image = torch.randn(1, 200, 180, generator=torch.Generator().manual_seed(2))
    tiled = tiled_predict(model, image, window=128, overlap=0.5, batch_size=4)
    expected = whole(model, image)
    assert tiled.shape == expected.shape
    sums = tiled.sum(dim=0)
    torch.testing.assert_close(sums, torch.ones_like(sums), atol=1e-5, rtol=0)
    interior = (slice(None), slice(20, -20), slice(20, -20))
    error = (tiled[interior] - expected[interior]).abs()
    assert error.mean() < 0.01, error.mean()
    assert expected.std() > 0.1  # the model's output is not flat


def test_batches_never_exceed_batch_size_or_window() -> None:
    model = ShapeRecorder(pointwise_model())
    image = torch.randn(2, 200, 150)
    tiled_predict(model, image, window=48, overlap=0.5, batch_size=5)
    n_windows = len(window_origins(200, 48, 0.5)) * len(window_origins(150, 48, 0.5))
    assert sum(s[0] for s in model.shapes) == n_windows
    assert max(s[0] for s in model.shapes) == 5
    assert {s[1:] for s in model.shapes} == {(2, 48, 48)}


def test_resampling_to_model_sampling_and_back() -> None:
    model = ShapeRecorder(pointwise_model())
    model.config = SimpleNamespace(sampling=0.1)
    x = torch.linspace(0, 1, 40)
    image = torch.stack([torch.outer(x, x), torch.outer(x, 1 - x)])  # smooth [2, 40, 40]
    tiled = tiled_predict(model, image, window=512, sampling=0.2)  # [Å/px]
    assert model.shapes == [(1, 2, 80, 80)]  # 0.2 Å/px frame seen at the model's 0.1 Å/px
    assert tiled.shape == (3, 40, 40)
    torch.testing.assert_close(tiled.sum(0), torch.ones(40, 40), atol=1e-5, rtol=0)
    torch.testing.assert_close(tiled, whole(model.model, image), atol=2e-2, rtol=0)

    model.shapes.clear()
    tiled_predict(model, image, window=512, sampling=(0.05, 0.1))  # downsampled along x
    assert model.shapes == [(1, 2, 20, 40)]


def test_frames_far_from_the_model_sampling_are_refused() -> None:
    """A 62.8 Å/px frame is not resampled to about 14,600^2 px for a model at 0.275 Å/px."""
    model = ShapeRecorder(pointwise_model())
    model.config = SimpleNamespace(sampling=0.275)
    image = torch.rand(2, 64, 64)
    with pytest.raises(ImageError) as error:
        tiled_predict(model, image, sampling=62.8)
    assert str(error.value) == (
        "frame sampling (62.8, 62.8) Å/px vs the model's (0.275, 0.275) Å/px: a resampling by "
        "228 x, beyond max_resample 4 (check the sampling, or pass a larger --max-resample)"
    )
    with pytest.raises(ImageError, match=r"a resampling by 4\.58 x, beyond max_resample 4"):
        tiled_predict(model, image, sampling=(0.275, 0.06))  # finer, along y
    assert model.shapes == []  # refused before any window ran
    tiled_predict(model, image, sampling=(1.0, 0.08))  # 3.6 x coarser, 3.4 x finer: resampled
    tiled_predict(model, image, sampling=(0.275, 0.06), max_resample=5.0)
    assert model.shapes == [(1, 2, 233, 19), (1, 2, 64, 14)]


def test_no_resampling_without_model_sampling() -> None:
    model = ShapeRecorder(pointwise_model())
    tiled_predict(model, torch.randn(2, 30, 30), sampling=0.3)
    assert model.shapes == [(1, 2, 30, 30)]


def test_numpy_input_and_bf16_precision() -> None:
    model = pointwise_model()
    image = np.random.default_rng(3).normal(size=(2, 40, 50)).astype(np.float32)
    expected = whole(model, torch.from_numpy(image))
    torch.testing.assert_close(tiled_predict(model, image, window=32), expected, atol=1e-6, rtol=0)
    half = tiled_predict(model, image, window=32, precision="bf16")
    torch.testing.assert_close(half, expected, atol=3e-2, rtol=0)


@pytest.mark.cuda
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_on_cuda_matches_cpu() -> None:
    """Windows run and stitched on the GPU give the CPU's probabilities, returned on the CPU."""
    model = receptive_model()
    image = torch.randn(1, 300, 280, generator=torch.Generator().manual_seed(5))
    cpu = tiled_predict(model, image, window=128, batch_size=4)
    gpu = tiled_predict(model, image, window=128, batch_size=4, device="cuda", stitch_device="cuda")
    assert gpu.device.type == "cpu"
    torch.testing.assert_close(gpu, cpu, atol=1e-5, rtol=0)
    half = tiled_predict(model, image, window=128, batch_size=4, device="cuda", precision="bf16")
    assert (half - cpu).abs().mean() < 1e-2  # bf16 on the CPU (float32 arithmetic): 1e-3


@pytest.mark.parametrize(
    ("image", "message"),
    [
        (torch.zeros(40, 40), r"image has shape \(40, 40\); expected \[C, H, W\]"),
        (
            torch.zeros(3, 40, 40),
            r"image has 3 channels; the model expects 2 \(shape \(3, 40, 40\)\)",
        ),
        (torch.full((2, 8, 8), float("nan")), "image contains NaN or infinite values"),
    ],
)
def test_bad_input_is_one_clear_error(image: torch.Tensor, message: str) -> None:
    with pytest.raises(ImageError, match=message):
        tiled_predict(pointwise_model(), image)


def test_channel_count_from_model_config() -> None:
    model = ShapeRecorder(pointwise_model())
    model.config = SimpleNamespace(in_channels=3, sampling=None)  # e.g. a focal-series model
    with pytest.raises(ImageError, match="image has 2 channels; the model expects 3"):
        tiled_predict(model, torch.zeros(2, 8, 8))


def test_bad_parameters() -> None:
    with pytest.raises(ImageError, match=r"overlap=1\.0 in"):
        tiled_predict(pointwise_model(), torch.zeros(2, 8, 8), overlap=1.0)
    with pytest.raises(ImageError, match=r"sampling=0\.0 \[Å/px\] must be finite and > 0"):
        tiled_predict(pointwise_model(), torch.zeros(2, 8, 8), sampling=0.0)
    with pytest.raises(ImageError, match="precision='fp8'"):
        tiled_predict(pointwise_model(), torch.zeros(2, 8, 8), precision="fp8")
