"""MSDNet against plain MSD-nets: time, peak memory and the memory-bandwidth bound, as ratios.

    .venv/bin/python benchmarks/msd.py [--size 256] [--depth 100] [--threads 1 2] [--repeats 3]
    python benchmarks/msd.py --device cuda [--sizes 512 1024] [--dtypes bf16 fp32] [--fill 0.8]

CPU (``--device cpu``, the default): one image [1, 1, size, size] against the ``torch.cat``
MSD-net (``reference`` in tests/msd/test_msd.py). Each (implementation, threads) runs in two
subprocesses, both after a warm-up on a 32^2 image (thread pools, BLAS buffers):
- memory: one forward+backward; the rise of the peak resident set (``ru_maxrss``) over the
  resident set just before it, with ``MALLOC_MMAP_THRESHOLD_=65536`` so that glibc returns freed
  blocks at once and the resident set follows the live tensors, not heap fragmentation.
- time: default allocator; best of ``--repeats`` forward+backward (one for the slow reference),
  then the memory bandwidth with the same threads (a 512 MB tensor copy, bytes read + written).
Workers run with ``OMP_WAIT_POLICY=PASSIVE`` (``--omp-wait-policy``): on the shared 2-core VM,
spinning OpenMP threads made two-thread runs up to 6x slower than one thread.
Targets on CPU: >= 7x faster, <= 1/10 the peak memory, time <= 3x the bound.

CUDA (``--device cuda``), one process: against the plain ``F.conv2d`` MSD-net over one
preallocated buffer (cuDNN; ``conv2d_reference`` in tests/msd/test_msd.py, autograd backward), for
each size in ``--sizes``, dtype in ``--dtypes`` (bf16: autocast; fp32) and pass (forward+backward;
forward under ``no_grad``). Each implementation runs at its own batch, filling ``--fill`` of the
free GPU memory as the peak of one image predicts (``--batch N`` fixes it): time per image [ms],
best of ``--repeats`` after a warm-up; peak memory per image [MiB] (``max_memory_allocated`` above
what was allocated before, the input included there); MSDNet's speed-up and memory against the
reference; time over the bound at the copy bandwidth measured in the same run (``--copy-mib`` MiB
device-to-device, bytes read + written).
Targets on CUDA (issue 15), 512^2 bf16 forward+backward: at least as fast as the reference with at
most 1/5 of its memory, time <= 4x the bound; the last line gives them for the first size and dtype.

The bound: every map read once forward and twice more backward, (sum_l C_l + C) H W maps per
forward, C_l = 1 + l the maps layer l reads, C = 1 + d those of the final layer; 4 bytes each on the
CPU (float32), the storage dtype's on CUDA. Width 1, 1 -> 2 channels, dilations 1..10.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time

ROW = "{:<10} {:>6} {:>10} {:>11} {:>9} {:>10} {:>12}"
GPU_ROW = "{:>5} {:>5} {:<8} {:<10} {:>6} {:>9} {:>10} {:>9} {:>10} {:>11}"
PASSES = {"fwd+bwd": True, "fwd": False}  # name -> with backward


def rss_bytes() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def bandwidth(torch, device: str = "cpu", mib: int = 512) -> float:
    """Copy bandwidth [bytes/s] of a ``mib`` MiB float32 tensor on ``device``, counting the bytes
    read and written, best of 5."""
    a = torch.ones(mib * 2**18, device=device)
    b = torch.empty_like(a)
    best = float("inf")
    for _ in range(5):
        synchronize(torch, device)
        t = time.perf_counter()
        b.copy_(a)
        synchronize(torch, device)
        best = min(best, time.perf_counter() - t)
    return 2 * a.numel() * a.element_size() / best


def synchronize(torch, device: str) -> None:
    if device == "cuda":
        torch.cuda.synchronize()


def bound_bytes(depth: int, pixels: int, element: int, backward: bool) -> int:
    """Bytes one image of ``pixels`` px must move in a width-1, one-input MSD-net of ``depth``:
    every map read once forward (three times forward+backward), ``element`` bytes each."""
    map_reads = sum(1 + layer for layer in range(depth)) + (1 + depth)
    return (3 if backward else 1) * map_reads * pixels * element


def references():
    """(MSDNet, randomised, {name: model(net, x)}) with the plain MSD-nets of tests/msd/test_msd.py."""
    sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "tests", "msd"))
    from hrtem_msd import MSDNet
    from test_msd import conv2d_reference, randomised, reference

    return MSDNet, randomised, {"torch.cat": reference, "conv2d": conv2d_reference}


def worker(impl: str, mode: str, threads: int, size: int, depth: int, repeats: int) -> dict:
    """Run one CPU variant in this process: {"peak": bytes} or {"seconds": s, "bandwidth": bytes/s}."""
    import torch

    torch.set_num_threads(threads)
    MSDNet, randomised, plain = references()
    net = randomised(MSDNet(1, 2, depth=depth, width=1))
    model = (lambda t: net(t)) if impl == "MSDNet" else (lambda t: plain[impl](net, t))

    def step(side: int) -> float:
        x = torch.randn(1, 1, side, side, requires_grad=True)
        t = time.perf_counter()
        model(x).sum().backward()
        return time.perf_counter() - t

    step(32)  # one-off set-up
    if mode == "time":
        if impl == "MSDNet":
            step(size)
        seconds = min(step(size) for _ in range(repeats if impl == "MSDNet" else 1))
        return {"seconds": seconds, "bandwidth": bandwidth(torch)}
    base = rss_bytes()
    hidden = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 > base
    step(size)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 - base
    if hidden and peak <= 0:
        raise RuntimeError("the run's peak memory is hidden by an earlier peak of the process")
    return {"peak": peak}


def run(impl: str, threads: int, args: argparse.Namespace) -> dict:
    """Figures of one CPU variant: its memory subprocess, then its time subprocess."""
    figures: dict = {}
    for mode in ("memory", "time"):
        env = dict(os.environ, OMP_NUM_THREADS=str(threads), MKL_NUM_THREADS=str(threads))
        env["OMP_WAIT_POLICY"] = args.omp_wait_policy
        if mode == "memory":
            env["MALLOC_MMAP_THRESHOLD_"] = str(2**16)
        cmd = [sys.executable, __file__, "--worker", impl, "--mode", mode]
        cmd += ["--threads", str(threads), "--size", str(args.size), "--depth", str(args.depth)]
        cmd += ["--repeats", str(args.repeats)]
        out = subprocess.run(cmd, env=env, capture_output=True, text=True, check=True)
        figures |= json.loads(out.stdout.strip().splitlines()[-1])
    return figures


def gpu_pass(torch, model, x, dtype: str, backward: bool) -> float:
    """Seconds of one pass of ``model`` over the batch ``x`` (bf16: under autocast)."""
    device = x.device.type
    synchronize(torch, device)
    start = time.perf_counter()
    with torch.autocast(device, dtype=torch.bfloat16, enabled=dtype == "bf16"):
        with torch.set_grad_enabled(backward):
            out = model(x)
    if backward:
        out.float().sum().backward()
    synchronize(torch, device)
    return time.perf_counter() - start


def gpu_variant(torch, model, params, args, size: int, dtype: str, backward: bool) -> dict:
    """{"batch", "seconds" per image, "peak" bytes per image (nan off CUDA)} of one variant."""
    device = params[0].device.type
    cuda = device == "cuda"

    def peak_of(batch: int) -> tuple[float, float]:
        """(seconds, peak bytes) of one pass over ``batch`` images, parameter gradients cleared."""
        for p in params:
            p.grad = None
        x = torch.randn(batch, 1, size, size, device=device)
        if cuda:
            torch.cuda.reset_peak_memory_stats()
        base = torch.cuda.memory_allocated() if cuda else 0
        seconds = gpu_pass(torch, model, x, dtype, backward)
        return seconds, (torch.cuda.max_memory_allocated() - base) if cuda else float("nan")

    batch = args.batch
    if batch == 0:  # fill the card as one image's peak predicts, halving on running out
        torch.cuda.empty_cache()
        batch = max(1, int(args.fill * torch.cuda.mem_get_info()[0] / peak_of(1)[1]))
    while True:
        try:
            _, peak = peak_of(batch)  # also the warm-up
            seconds = min(peak_of(batch)[0] for _ in range(args.repeats))
            break
        except torch.OutOfMemoryError:
            if batch == 1:
                raise
            batch //= 2
            torch.cuda.empty_cache()
    if cuda:
        torch.cuda.empty_cache()
    return {"batch": batch, "seconds": seconds / batch, "peak": peak / batch}


def gpu_row(size: int, dtype: str, name: str, impl: str, fig: dict, ref: dict, bound: float) -> str:
    """One line of the CUDA table: ``fig`` against the reference's ``ref`` and the ``bound`` [s]."""
    return GPU_ROW.format(
        size, dtype, name, impl, fig["batch"],
        f"{fig['seconds'] * 1e3:.3f}", f"{fig['peak'] / 2**20:.1f}",
        f"{ref['seconds'] / fig['seconds']:.2f}x", f"1/{ref['peak'] / fig['peak']:.1f}",
        f"{fig['seconds'] / bound:.2f}",
    )  # fmt: skip


def gpu_sweep(args: argparse.Namespace) -> None:
    """The CUDA comparison (module docstring); runs on the CPU too, memory then unmeasured."""
    import torch

    if args.batch == 0 and args.device != "cuda":
        raise SystemExit("--batch 0 fills a GPU's memory: give --batch N off CUDA")
    MSDNet, randomised, plain = references()
    net = randomised(MSDNet(1, 2, depth=args.depth, width=1)).to(args.device)
    params = list(net.parameters())
    impls = {"conv2d": lambda t: plain["conv2d"](net, t), "MSDNet": net}
    copy = bandwidth(torch, args.device, args.copy_mib)
    batching = (
        f"batch {args.batch}" if args.batch else f"batches fill {args.fill:.0%} of free memory"
    )
    print(
        f"MSD-net depth {args.depth}, width 1, 1 -> 2 channels on {args.device}; "
        f"copy bandwidth {copy / 1e9:.0f} GB/s; {batching}"
    )
    header = ("size", "dtype", "pass", "impl", "batch", "ms/image", "MiB/image")
    print(GPU_ROW.format(*header, "speed-up", "mem ratio", "time/bound"))
    targets = None
    for size in args.sizes:
        for dtype in args.dtypes:
            element = 2 if dtype == "bf16" else 4
            for name, backward in PASSES.items():
                bound = bound_bytes(args.depth, size * size, element, backward) / copy
                figs = {
                    impl: gpu_variant(torch, model, params, args, size, dtype, backward)
                    for impl, model in impls.items()
                }
                for impl, fig in figs.items():
                    print(gpu_row(size, dtype, name, impl, fig, figs["conv2d"], bound), flush=True)
                targets = targets or (f"{size}^2 {dtype} {name}", figs, bound)
    where, figs, bound = targets
    msd, ref = figs["MSDNet"], figs["conv2d"]
    speed, memory = ref["seconds"] / msd["seconds"], ref["peak"] / msd["peak"]
    over = msd["seconds"] / bound
    met = speed >= 1 and memory >= 5 and over <= 4
    print(
        f"targets, {where}: speed-up {speed:.2f}x (>= 1), memory 1/{memory:.1f} (<= 1/5), "
        f"time/bound {over:.2f} (<= 4): {'met' if met else 'NOT met'}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--device", choices=["cpu", "cuda"], default="cpu")
    parser.add_argument("--depth", type=int, default=100)
    parser.add_argument("--repeats", type=int, default=3)
    cpu = parser.add_argument_group("CPU")
    cpu.add_argument("--size", type=int, default=256, help="image side [px]")
    cpu.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    cpu.add_argument("--omp-wait-policy", choices=["PASSIVE", "ACTIVE"], default="PASSIVE")
    cpu.add_argument("--worker", choices=["MSDNet", "torch.cat"], help=argparse.SUPPRESS)
    cpu.add_argument("--mode", choices=["memory", "time"], default="time", help=argparse.SUPPRESS)
    gpu = parser.add_argument_group("CUDA")
    gpu.add_argument("--sizes", type=int, nargs="+", default=[512, 1024], help="image sides [px]")
    gpu.add_argument("--dtypes", choices=["bf16", "fp32"], nargs="+", default=["bf16", "fp32"])
    gpu.add_argument("--batch", type=int, default=0, help="images per pass (0: fill the GPU)")
    gpu.add_argument("--fill", type=float, default=0.8, help="fraction of free memory to fill")
    gpu.add_argument("--copy-mib", type=int, default=1024, help="size of the bandwidth copy")
    args = parser.parse_args()
    if args.worker:
        figures = worker(
            args.worker, args.mode, args.threads[0], args.size, args.depth, args.repeats
        )
        print(json.dumps(figures))
        return
    if args.device == "cuda":
        gpu_sweep(args)
        return

    traffic = bound_bytes(args.depth, args.size * args.size, 4, backward=True)
    print(
        f"MSD-net depth {args.depth}, width 1, one {args.size}^2 image, 1 -> 2 channels; "
        f"bound traffic {traffic / 1e9:.2f} GB (every map read once forward, twice backward); "
        f"OMP_WAIT_POLICY={args.omp_wait_policy}"
    )
    print(ROW.format("impl", "thr", "time [s]", "peak [MB]", "speed-up", "mem ratio", "time/bound"))
    for threads in args.threads:
        ref = run("torch.cat", threads, args)
        msd = run("MSDNet", threads, args)
        bound = traffic / msd["bandwidth"]
        for name, fig in (("torch.cat", ref), ("MSDNet", msd)):
            print(
                ROW.format(
                    name,
                    threads,
                    f"{fig['seconds']:.3f}",
                    f"{fig['peak'] / 2**20:.1f}",
                    f"{ref['seconds'] / fig['seconds']:.1f}x",
                    f"1/{ref['peak'] / fig['peak']:.1f}",
                    f"{fig['seconds'] / bound:.2f}",
                )
            )
        print(
            f"{'':<10} bandwidth with {threads} thread(s): {msd['bandwidth'] / 1e9:.1f} GB/s, "
            f"bound {bound:.3f} s"
        )


if __name__ == "__main__":
    main()
