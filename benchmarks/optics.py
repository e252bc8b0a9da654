"""Image formation (+ labels) for a training batch against one MSD-net training step on it.

    .venv/bin/python benchmarks/optics.py [--batch 16] [--wave 512] [--out 256] [--depth 100]

A batch of B exit waves [B, wave, wave] complex64 at 0.05 Å/px becomes B images of 3 defocus
values [B, 3, out, out] at 0.1 Å/px (CTF with Cs, astigmatism and focal-spread envelope,
band-limited resampling, Poisson noise at a log-uniform dose, detector MTF), plus column labels
(400 columns per sample); the baseline is one training step of MSDNet (depth 100, 3 -> 4 classes:
forward, cross-entropy, backward, Adam) on that batch, in the same process. The waves are random
(the cost does not depend on their content). Times are the best of --repeats after a warm-up.
Target: image formation <= 10 % of the training step.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable

import torch
from hrtem_sim.labels import pad_points, render_columns
from hrtem_sim.optics import ImageFormation, ImageFormationConfig, Range


def best_time(run: Callable[[], object], repeats: int) -> float:
    """Best wall time [s] of ``repeats`` runs after one warm-up run."""
    run()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        run()
        times.append(time.perf_counter() - start)
    return min(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--wave", type=int, default=512, help="exit-wave size [px]")
    parser.add_argument("--out", type=int, default=256, help="image size [px]")
    parser.add_argument("--depth", type=int, default=100, help="MSD-net depth")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--step-repeats", type=int, default=1)
    args = parser.parse_args()
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")

    g = torch.Generator().manual_seed(0)
    shape = (args.batch, args.wave, args.wave)
    waves = torch.polar(
        1 - 0.1 * torch.rand(shape, generator=g), 0.5 * torch.randn(shape, generator=g)
    )
    waves = waves.to(device)
    config = ImageFormationConfig(
        energy=80e3,
        defocus=Range(-100.0, 100.0),
        defocus_offsets=[Range(-60.0, -60.0), Range(0.0, 0.0), Range(60.0, 60.0)],
        Cs=Range(-2e4, 2e4),
        detector_sampling=Range(0.1, 0.1),
        output_size=[args.out, args.out],
    )
    formation = ImageFormation(config)
    columns = [torch.rand(400, 2, generator=g, dtype=torch.float64) * args.wave * 0.05] * args.batch
    classes = [torch.randint(1, 4, (400,), generator=g)] * args.batch

    def form() -> torch.Tensor:
        params = formation.draw(args.batch, g)
        images = formation(waves, 0.05, params)
        if device.type == "cuda":
            torch.cuda.synchronize()
        return images

    def labels() -> torch.Tensor:
        params = formation.draw(args.batch, g)
        grid = formation.grid(waves.shape[-2:], 0.05, params)
        points, kinds, valid = pad_points(columns, classes, device=device)
        return render_columns(points, kinds, valid, grid)

    from hrtem_msd.nets import get_model

    model = get_model("msd", in_channels=3, out_channels=4, depth=args.depth).to(device)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    images = form()
    target = torch.randint(0, 4, (args.batch, args.out, args.out), generator=g).to(device)

    def step() -> None:
        optimizer.zero_grad()
        loss = torch.nn.functional.cross_entropy(model(images), target)
        loss.backward()
        optimizer.step()
        if device.type == "cuda":
            torch.cuda.synchronize()

    t_form = best_time(form, args.repeats)
    t_labels = best_time(labels, args.repeats)
    t_step = best_time(step, args.step_repeats)
    print(f"device {device.type}, {torch.get_num_threads()} threads; batch {args.batch}, "
          f"waves {args.wave}^2 -> images 3 x {args.out}^2")  # fmt: skip
    print(f"image formation   {t_form:8.3f} s   {100 * t_form / t_step:6.2f} % of the step")
    print(f"column labels     {t_labels:8.3f} s   {100 * t_labels / t_step:6.2f} % of the step")
    print(
        f"MSD-net step      {t_step:8.3f} s   (baseline: MSDNet depth {args.depth}, fwd+bwd+Adam)"
    )
    verdict = "met" if t_form <= 0.1 * t_step else "NOT met"
    print(f"target image formation <= 10 % of the step: {verdict}")


if __name__ == "__main__":
    main()
