"""MSDNet against the plain per-layer ``torch.cat`` MSD-net (the oracle, defined here), in float32,
float64 (gradcheck) and under bf16 autocast; parameter count, initialisation, memory and bad input.
Also the plain ``F.conv2d`` MSD-net over one preallocated buffer (the cuDNN reference of
benchmarks/msd.py), checked against MSDNet here."""

import math

import pytest
import torch
import torch.nn.functional as F
from hrtem_core.errors import HRTEMError
from hrtem_msd import MSDNet
from hrtem_msd.nets.errors import ModelError


def reference(net: MSDNet, x: torch.Tensor) -> torch.Tensor:
    """The textbook MSD-net with the same parameters: conv2d over the concatenation of all maps."""
    mode = "reflect" if net.padding == "reflect" else "constant"
    maps = x
    for layer in range(net.depth):
        d = net.dilations[layer % len(net.dilations)]
        y = F.conv2d(F.pad(maps, (d, d, d, d), mode=mode), net.weights[layer], dilation=d)
        maps = torch.cat([maps, F.relu(y + net.biases[layer].view(1, -1, 1, 1))], dim=1)
    return F.conv2d(maps, net.final_weight, net.final_bias)


def reflect_index(n: int, d: int, device: torch.device) -> torch.Tensor:
    """Indices [n + 2 d] of ``range(n)`` padded by ``d`` on each side by reflection (d < n)."""
    i = torch.arange(-d, n + d, device=device).abs()
    return (n - 1) - ((n - 1) - i).abs()


def pad(maps: torch.Tensor, d: int, padding: str) -> torch.Tensor:
    """``maps`` [B, C, H, W] padded by ``d`` px per side, as a new tensor whose backward keeps no
    reference to ``maps`` (``F.pad``'s reflect mode keeps one), so ``maps`` may be written after."""
    if padding == "zeros":
        return F.pad(maps, (d, d, d, d))
    rows, cols = (reflect_index(n, d, maps.device) for n in maps.shape[2:])
    return maps.index_select(2, rows).index_select(3, cols)


def conv2d_reference(net: MSDNet, x: torch.Tensor) -> torch.Tensor:
    """The plain MSD-net on cuDNN (on a GPU) with ``net``'s parameters: one preallocated buffer of
    all maps [B, c + d w, H, W] in the storage dtype (autocast's when on, else x's), layer l writing
    ``F.relu(F.conv2d(pad(maps[:, :C_l])))`` into its w channels in place; autograd does the
    backward, each layer keeping its padded input (O(d^2) maps, as any autograd MSD-net)."""
    device = x.device.type
    dtype = torch.get_autocast_dtype(device) if torch.is_autocast_enabled(device) else x.dtype
    c, w = net.in_channels, net.width
    maps = x.new_empty(x.shape[0], c + net.depth * w, *x.shape[2:], dtype=dtype)
    maps[:, :c] = x
    for layer in range(net.depth):
        d = net.dilations[layer % len(net.dilations)]
        cl = c + layer * w
        y = F.conv2d(
            pad(maps[:, :cl], d, net.padding), net.weights[layer], net.biases[layer], dilation=d
        )
        maps[:, cl : cl + w] = F.relu(y)
    return F.conv2d(maps, net.final_weight, net.final_bias)


def randomised(net: MSDNet, seed: int = 0) -> MSDNet:
    """Make the final layer and the biases non-zero, so every gradient is exercised."""
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        net.final_weight.copy_(0.3 * torch.randn(net.final_weight.shape, generator=gen))
        net.final_bias.copy_(torch.randn(net.final_bias.shape, generator=gen))
        for bias in net.biases:
            bias.copy_(0.1 * torch.randn(bias.shape, generator=gen))
    return net


def output_and_grads(
    net: MSDNet, x: torch.Tensor, grad: torch.Tensor, model
) -> tuple[torch.Tensor, list[torch.Tensor]]:
    """model(net, x) and the gradients of <output, grad> w.r.t. x and every parameter."""
    x = x.detach().requires_grad_()
    out = model(net, x)
    params = [x, *net.parameters()]
    return out.detach().float(), list(torch.autograd.grad(out.float(), params, grad))


def rel_err(a: torch.Tensor, b: torch.Tensor) -> float:
    return ((a - b).abs().max() / b.abs().max().clamp_min(1e-30)).item()


def expected_count(c: int, d: int, w: int, c_out: int) -> int:
    return 9 * w * (d * c + w * d * (d - 1) // 2) + d * w + (c + d * w) * c_out + c_out


@pytest.mark.parametrize(
    ("c", "d", "w", "c_out"), [(1, 100, 1, 2), (3, 10, 1, 1), (2, 25, 3, 4), (1, 1, 1, 2)]
)
def test_parameter_count(c: int, d: int, w: int, c_out: int) -> None:
    net = MSDNet(c, c_out, depth=d, width=w)
    assert sum(p.numel() for p in net.parameters()) == expected_count(c, d, w, c_out)


def test_parameter_count_of_the_paper_net() -> None:
    assert sum(p.numel() for p in MSDNet(1, 2).parameters()) == 45_754


def test_initialisation_as_reference() -> None:
    torch.manual_seed(0)
    net = MSDNet(1, 2, depth=100, width=1)
    filters = torch.cat([w.flatten() for w in net.weights])
    n_c = 9 * (1 + 1 * 99) + 2
    assert filters.mean().abs() < 0.05 * math.sqrt(2 / n_c)
    assert filters.std().item() == pytest.approx(math.sqrt(2 / n_c), rel=0.03)
    assert all((b == 0).all() for b in net.biases)
    assert (net.final_weight == 0).all() and (net.final_bias == 0).all()


@pytest.mark.parametrize(
    ("c", "c_out", "d", "w", "dilations", "padding", "shape"),
    [
        (1, 2, 12, 1, range(1, 11), "reflect", (1, 23, 31)),  # odd sizes
        (1, 2, 41, 1, range(1, 11), "reflect", (1, 16, 14)),  # 4-layer blocks, ragged last block
        (3, 3, 30, 2, range(1, 11), "reflect", (2, 17, 20)),  # RGB-like input, width 2, B = 2
        (2, 2, 9, 1, (1, 2, 4), "zeros", (3, 12, 13)),  # zero padding, custom dilation cycle
    ],
)
def test_matches_reference_float32(
    c: int,
    c_out: int,
    d: int,
    w: int,
    dilations: range | tuple[int, ...],
    padding: str,
    shape: tuple[int, int, int],
) -> None:
    torch.manual_seed(1)
    net = randomised(MSDNet(c, c_out, depth=d, width=w, dilations=dilations, padding=padding))
    b, h, w_px = shape
    x = torch.randn(b, c, h, w_px)
    grad = torch.randn(b, c_out, h, w_px)
    out, grads = output_and_grads(net, x, grad, lambda n, t: n(t))
    ref_out, ref_grads = output_and_grads(net, x, grad, reference)
    assert out.shape == (b, c_out, h, w_px)
    assert rel_err(out, ref_out) < 1e-5
    for got, want in zip(grads, ref_grads, strict=True):
        assert got.dtype == torch.float32
        assert rel_err(got, want) < 1e-5


@pytest.mark.parametrize("padding", ["reflect", "zeros"])
def test_conv2d_reference_matches_msdnet_float64(padding: str) -> None:
    torch.manual_seed(4)
    net = randomised(MSDNet(2, 3, depth=14, width=2, dilations=(1, 3, 5), padding=padding)).double()
    x = torch.randn(2, 2, 13, 11, dtype=torch.float64, requires_grad=True)
    grad = torch.randn(2, 3, 13, 11, dtype=torch.float64)
    params = [x, *net.parameters()]
    got = conv2d_reference(net, x)
    assert rel_err(got, net(x)) < 1e-12
    # MSDNet accumulates gradients in float32: the float64 gradients are the torch.cat oracle's
    want = reference(net, x)
    for a, b in zip(
        torch.autograd.grad(got, params, grad), torch.autograd.grad(want, params, grad), strict=True
    ):
        assert rel_err(a, b) < 1e-12


def test_gradcheck_float64() -> None:
    torch.manual_seed(2)
    net = randomised(MSDNet(2, 2, depth=3, width=2, dilations=(1, 2, 3))).double()
    x = torch.randn(1, 2, 7, 6, dtype=torch.float64, requires_grad=True)
    params = list(net.parameters())

    def run(inp: torch.Tensor, *ps: torch.Tensor) -> torch.Tensor:
        return torch.func.functional_call(
            net, dict(zip(dict(net.named_parameters()), ps, strict=True)), (inp,)
        )

    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # ~1000 tiny forwards: a second thread only spins (10x slower, loaded)
    try:
        assert torch.autograd.gradcheck(run, (x, *params), eps=1e-6, atol=1e-6)
    finally:
        torch.set_num_threads(threads)


def test_bf16_autocast_stores_low_precision_and_returns_float32_weight_grads() -> None:
    torch.manual_seed(3)
    net = randomised(MSDNet(2, 3, depth=25, width=2))
    x = torch.randn(2, 2, 40, 33)
    grad = torch.randn(2, 3, 40, 33)

    def under_autocast(n: MSDNet, t: torch.Tensor) -> torch.Tensor:
        with torch.autocast("cpu", dtype=torch.bfloat16):
            return n(t)

    with torch.autocast("cpu", dtype=torch.bfloat16):
        assert net(x).dtype == torch.bfloat16
    out, grads = output_and_grads(net, x, grad, under_autocast)
    ref_out, ref_grads = output_and_grads(net, x, grad, reference)

    def autocast_reference(n: MSDNet, t: torch.Tensor) -> torch.Tensor:
        with torch.autocast("cpu", dtype=torch.bfloat16):
            return reference(n, t)

    _, amp_ref_grads = output_and_grads(net, x, grad, autocast_reference)
    assert all(g.dtype == torch.float32 for g in grads)
    assert rel_err(out, ref_out) < 1e-2

    def flat(gs: list[torch.Tensor]) -> torch.Tensor:
        return torch.cat([g.flatten() for g in gs])

    err = ((flat(grads) - flat(ref_grads)).norm() / flat(ref_grads).norm()).item()
    amp_err = ((flat(amp_ref_grads) - flat(ref_grads)).norm() / flat(ref_grads).norm()).item()
    # bf16 keeps 8 bits of mantissa: ReLU masks flip near zero, so a few per cent is bf16's own error,
    # as the plain reference under autocast shows; ours must be no worse.
    assert err < 0.08
    assert err < 1.25 * amp_err


def test_saves_one_buffer_of_maps_for_backward() -> None:
    """Memory: autograd keeps the c + d w maps once (plus the weights), not O(d^2) concatenations."""
    net = MSDNet(1, 2, depth=40)
    x = torch.randn(2, 1, 32, 32, requires_grad=True)
    saved: list[torch.Tensor] = []
    with torch.autograd.graph.saved_tensors_hooks(lambda t: saved.append(t) or t, lambda t: t):
        net(x).sum().backward()
    param_bytes = sum(p.numel() * p.element_size() for p in net.parameters())
    maps_bytes = 2 * 41 * 32 * 32 * 4
    assert sum(t.numel() * t.element_size() for t in saved) <= maps_bytes + param_bytes
    assert all(p.grad is not None for p in net.parameters())


def test_inference_without_grad() -> None:
    net = randomised(MSDNet(1, 2, depth=15))
    x = torch.randn(1, 1, 20, 24)
    with torch.no_grad():
        out = net(x)
    assert not out.requires_grad
    assert rel_err(out, reference(net, x).detach()) < 1e-5


def test_reflect_padding_needs_images_larger_than_the_largest_dilation() -> None:
    net = MSDNet(1, 2, depth=12)
    with pytest.raises(
        ModelError,
        match=r"^MSDNet: reflect padding needs H and W > the largest "
        r"dilation 10, got H=10, W=64$",
    ):
        net(torch.zeros(1, 1, 10, 64))
    assert net(torch.zeros(1, 1, 11, 11)).shape == (1, 2, 11, 11)


def test_bad_input_and_arguments_are_one_line_errors() -> None:
    with pytest.raises(ModelError, match=r"expected input \[B, 2, H, W\], got \[1, 3, 16, 16\]"):
        MSDNet(2, 2, depth=3)(torch.zeros(1, 3, 16, 16))
    with pytest.raises(HRTEMError, match="padding must be one of"):
        MSDNet(1, 2, padding="circular")
    with pytest.raises(HRTEMError, match="depth and width must be >= 1"):
        MSDNet(1, 2, depth=0)
