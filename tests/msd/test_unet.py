"""UNet: logits of the input's size for any H, W, both upsamplings, learnable, and clear errors."""

import pytest
import torch
from hrtem_msd import UNet
from hrtem_msd.nets.errors import ModelError


@pytest.mark.parametrize("upsampling", ["bilinear", "transposed"])
@pytest.mark.parametrize(("h", "w"), [(32, 32), (37, 50), (5, 9)])
def test_logits_have_the_input_size(upsampling: str, h: int, w: int) -> None:
    net = UNet(3, 4, depth=3, base_width=4, upsampling=upsampling)
    out = net(torch.randn(2, 3, h, w))
    assert out.shape == (2, 4, h, w)
    assert torch.isfinite(out).all()


def test_depth_and_width_set_the_levels() -> None:
    net = UNet(1, 2, depth=2, base_width=8)
    assert [level[0].out_channels for level in net.down] == [8, 16, 32]
    assert [level[0].out_channels for level in net.merge] == [16, 8]
    assert net.head.out_channels == 2


def test_output_depends_only_on_the_unpadded_input_near_the_centre() -> None:
    """Padding to a multiple of 2^depth and cropping back must not shift the output."""
    torch.manual_seed(0)
    net = UNet(1, 1, depth=2, base_width=4).eval()
    x = torch.randn(1, 1, 30, 30)
    with torch.no_grad():
        cropped = net(x[:, :, :29, :29])
        full = net(x)
    # Far from the right/bottom edges the receptive field sees the same pixels.
    assert torch.allclose(cropped[:, :, :8, :8], full[:, :, :8, :8], atol=1e-5)


def test_learns_a_pixel_task() -> None:
    torch.manual_seed(0)
    net = UNet(1, 2, depth=2, base_width=8, upsampling="transposed")
    x = torch.randn(4, 1, 24, 24)
    y = (x[:, 0] > 0).long()
    opt = torch.optim.Adam(net.parameters(), lr=1e-2)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # tiny tensors: a second thread only spins (8x slower, loaded VM)
    try:
        for _ in range(40):
            opt.zero_grad()
            torch.nn.functional.cross_entropy(net(x), y).backward()
            opt.step()
    finally:
        torch.set_num_threads(threads)
    assert (net(x).argmax(1) == y).float().mean() > 0.95


def test_bad_arguments_and_input() -> None:
    with pytest.raises(ModelError, match="upsampling must be one of"):
        UNet(1, 2, upsampling="nearest")
    with pytest.raises(
        ModelError, match=r"^UNet: expected input \[B, 1, H, W\], got \[1, 2, 8, 8\]$"
    ):
        UNet(1, 2, depth=1, base_width=2)(torch.zeros(1, 2, 8, 8))
