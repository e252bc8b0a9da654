"""Benchmark: hrtem_analysis.tiled_predict against MONAI's sliding_window_inference.

One run prints, each as a ratio against its baseline:

1. large frames (``--size``, 4096 supported; ``--frames`` per run) through an MSD-net with
   Hamming-blended windows: ``tiled_predict`` vs MONAI ``sliding_window_inference`` on the same
   model, windows, overlap, batch and Hamming weight map: time per frame (and frames/s) and peak
   memory, each variant in its own subprocess (CPU: peak RSS reset just before inference; CUDA:
   ``max_memory_allocated`` above what was allocated before, so the figure is what inference
   added). The variants run ``--repeats`` times in A B B A order and the ratio is taken pair by
   pair (median, min, max), so a drift in the machine's speed cancels; the time spent outside the
   model's forward pass (window slicing, blending, normalising: what the inferer itself costs) is
   shown apart. ``--device cuda`` runs the windows and stitches them on the GPU (both inferers;
   frames start and end on the CPU), in ``--precision`` (autocast for bf16 / fp16);
2. series throughput on 1024^2 frames [frames/s] (``--series-frames``, 0 skips it):
   ``tiled_predict`` vs one whole-frame forward pass of the same model (the cost of the overlap).

    .venv/bin/python benchmarks/analysis.py                            # a few minutes on 2 cores
    .venv/bin/python benchmarks/analysis.py --size 4096 --depth 100    # the issue's figure (long)
    python benchmarks/analysis.py --device cuda --size 4096 --depth 100 --frames 2 --series-frames 0

Targets on CUDA (issue 15): >= 2 frames/s at 4096^2 with the depth-100 model, not slower than MONAI.
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch
from hrtem_analysis.tiled import hamming_weights, tiled_predict
from hrtem_msd import MSDNet
from torch import nn

AUTOCAST = {"fp32": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16}


def msd_net(depth: int) -> nn.Module:
    """An MSD-net (1 input map, 2 classes) with a non-zero final layer, seeded."""
    torch.manual_seed(0)
    model = MSDNet(1, 2, depth=depth)
    nn.init.normal_(model.final_weight, std=0.1)
    return model.eval()


def rss_kib(field: str) -> int:
    """A memory figure of this process from /proc/self/status [KiB] (VmRSS, VmHWM)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


def run_variant(variant: str, args: argparse.Namespace) -> dict[str, float]:
    """Run one variant on ``--frames`` seeded frames: seconds per frame, of them outside the model,
    peak memory added by inference [MiB]; the last frame's 256^2 corner goes to ``--corner-file``."""
    from monai.inferers import sliding_window_inference  # imported before the clock starts

    device, cuda = torch.device(args.device), args.device == "cuda"
    model = msd_net(args.depth).to(device)
    gen = torch.Generator().manual_seed(1)
    frames = [torch.randn(1, args.size, args.size, generator=gen) for _ in range(args.frames)]
    with torch.no_grad():
        model(frames[0][None, :, :64, :64].to(device))  # warm-up outside the measurement
    forward, in_model = model.forward, [0.0]
    autocast = mixed_precision(args)

    def timed_forward(x: torch.Tensor) -> torch.Tensor:
        synchronize(args.device)
        start = time.perf_counter()
        logits = forward(x)
        synchronize(args.device)
        in_model[0] += time.perf_counter() - start
        return logits

    def monai(frame: torch.Tensor) -> torch.Tensor:
        with torch.no_grad(), autocast:
            return sliding_window_inference(
                frame[None],
                roi_size=(args.window, args.window),
                sw_batch_size=args.batch_size,
                predictor=lambda x: torch.softmax(model(x).float(), dim=1),
                overlap=args.overlap,
                roi_weight_map=hamming_weights(args.window, args.window),
                sw_device=device,
                device=device,
            )[0].cpu()

    model.forward = timed_forward
    if cuda:
        torch.cuda.reset_peak_memory_stats()
        before = torch.cuda.memory_allocated() / 2**20
    else:
        Path("/proc/self/clear_refs").write_text("5")  # reset VmHWM to the current RSS
        before = rss_kib("VmRSS") / 1024
    start = time.perf_counter()
    for frame in frames:
        out = tiled(model, frame, args) if variant == "hrtem" else monai(frame)
    seconds = time.perf_counter() - start
    peak = torch.cuda.max_memory_allocated() / 2**20 if cuda else rss_kib("VmHWM") / 1024
    torch.save(out[:, :256, :256].contiguous(), args.corner_file)
    return {
        "seconds": seconds / len(frames),
        "outside_model": (seconds - in_model[0]) / len(frames),
        "peak_mib": peak - before,
    }


def mixed_precision(args: argparse.Namespace) -> torch.autocast:
    """Autocast on ``--device`` in ``--precision`` (disabled for fp32)."""
    return torch.autocast(args.device, AUTOCAST[args.precision], args.precision != "fp32")


def synchronize(device: str) -> None:
    if device == "cuda":
        torch.cuda.synchronize()


def tiled(model: nn.Module, frame: torch.Tensor, args: argparse.Namespace) -> torch.Tensor:
    """``tiled_predict`` of ``frame`` [1, H, W] with the benchmark's windows, run and stitched on
    ``--device`` in ``--precision``."""
    return tiled_predict(
        model, frame, args.window, args.overlap, args.batch_size, device=args.device,
        stitch_device=args.device, precision=None if args.precision == "fp32" else args.precision,
    )  # fmt: skip


def in_subprocess(variant: str, args: argparse.Namespace, corner_file: Path) -> dict[str, float]:
    command = [
        sys.executable,
        __file__,
        f"--variant={variant}",
        f"--corner-file={corner_file}",
        f"--size={args.size}",
        f"--depth={args.depth}",
        f"--window={args.window}",
        f"--overlap={args.overlap}",
        f"--batch-size={args.batch_size}",
        f"--device={args.device}",
        f"--precision={args.precision}",
        f"--frames={args.frames}",
    ]
    out = subprocess.run(command, capture_output=True, text=True)
    if out.returncode != 0:  # the variant's own error, not a bare CalledProcessError
        raise SystemExit(f"{variant} variant failed:\n{out.stderr[-3000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def series_throughput(args: argparse.Namespace) -> tuple[float, float]:
    """(tiled frames/s, whole-frame frames/s) on ``--series-frames`` frames of 1024^2."""
    device = torch.device(args.device)
    model = msd_net(args.depth).to(device)
    frames = torch.randn(
        args.series_frames, 1, 1024, 1024, generator=torch.Generator().manual_seed(2)
    )
    with torch.no_grad():
        model(frames[0, None, :, :64, :64].to(device))  # warm-up
    start = time.perf_counter()
    for frame in frames:
        tiled(model, frame, args)
    windows = len(frames) / (time.perf_counter() - start)
    autocast = mixed_precision(args)
    start = time.perf_counter()
    with torch.no_grad(), autocast:
        for frame in frames:
            torch.softmax(model(frame[None].to(device)).float(), dim=1).cpu()
    return windows, len(frames) / (time.perf_counter() - start)


def spread(values: list[float]) -> str:
    """``median (min-max)`` of ratios."""
    return f"{statistics.median(values):.2f} ({min(values):.2f}-{max(values):.2f})"


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--size", type=int, default=2048, help="frame side [px] (the issue: 4096)")
    parser.add_argument("--depth", type=int, default=20, help="MSD-net depth (the issue: ~100)")
    parser.add_argument("--window", type=int, default=512)
    parser.add_argument("--overlap", type=float, default=0.5)
    parser.add_argument("--batch-size", type=int, default=4)
    parser.add_argument("--series-frames", type=int, default=3, help="0: no series")
    parser.add_argument("--frames", type=int, default=1, help="frames per run of a variant")
    parser.add_argument("--device", choices=["cpu", "cuda"], default="cpu")
    parser.add_argument("--precision", choices=list(AUTOCAST), default="fp32")
    parser.add_argument(
        "--repeats", type=int, default=2, help="runs of each variant, in A B B A order"
    )
    parser.add_argument("--variant", choices=["hrtem", "monai"], help=argparse.SUPPRESS)
    parser.add_argument("--corner-file", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.variant:
        print(json.dumps(run_variant(args.variant, args)))
        return

    print(
        f"frame {args.size}^2, MSD-net depth {args.depth}, window {args.window}, "
        f"overlap {args.overlap}, batch {args.batch_size}, {args.frames} frame(s) per run, "
        f"{args.device} ({args.precision}), {torch.get_num_threads()} threads"
    )
    runs: dict[str, list[dict[str, float]]] = {"hrtem": [], "monai": []}
    with tempfile.TemporaryDirectory() as tmp:
        for repeat in range(args.repeats):
            order = ("hrtem", "monai") if repeat % 2 == 0 else ("monai", "hrtem")
            for variant in order:
                runs[variant].append(in_subprocess(variant, args, Path(tmp) / f"{variant}.pt"))
        corners = [torch.load(Path(tmp) / f, weights_only=True) for f in ("hrtem.pt", "monai.pt")]
    difference = (corners[0] - corners[1]).abs().max()
    for name, variant in (("tiled_predict", "hrtem"), ("MONAI sliding", "monai")):
        seconds = statistics.median(r["seconds"] for r in runs[variant])
        outside = statistics.median(r["outside_model"] for r in runs[variant])
        peak = statistics.median(r["peak_mib"] for r in runs[variant])
        print(
            f"  {name} : {seconds:8.2f} s per frame ({1 / seconds:6.2f} frames/s; outside the "
            f"model {outside:6.2f} s)  peak +{peak:8.0f} MiB   [median of {args.repeats}]"
        )
    time_ratios = [a["seconds"] / b["seconds"] for a, b in zip(*runs.values(), strict=True)]
    memory_ratios = [a["peak_mib"] / b["peak_mib"] for a, b in zip(*runs.values(), strict=True)]
    print(
        f"  ratio hrtem/MONAI, pair by pair: time {spread(time_ratios)}, "
        f"peak memory {spread(memory_ratios)}; "
        f"max |difference| of probabilities (256^2 corner) {difference:.1e}"
    )
    if args.series_frames:
        windows, whole = series_throughput(args)
        print(f"series, {args.series_frames} frames of 1024^2:")
        print(f"  tiled_predict    : {windows:.3f} frames/s")
        print(f"  whole-frame pass : {whole:.3f} frames/s")
        print(f"  ratio tiled/whole: {windows / whole:.2f} (the cost of overlapping windows)")
    rates = {v: 1 / statistics.median(r["seconds"] for r in runs[v]) for v in runs}
    print(
        f"{args.size}^2 frames on {args.device} ({args.precision}): tiled_predict "
        f"{rates['hrtem']:.2f} frames/s, MONAI {rates['monai']:.2f} frames/s"
    )


if __name__ == "__main__":
    main()
