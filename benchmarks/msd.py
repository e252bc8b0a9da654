"""MSDNet against the plain ``torch.cat`` MSD-net: forward+backward time and peak memory, as ratios.

    .venv/bin/python benchmarks/msd.py [--size 256] [--depth 100] [--threads 1 2] [--repeats 3]

One image [1, 1, size, size], 2 classes, width 1, dilations 1..10. Each (implementation, threads,
device) runs in two subprocesses, both after a warm-up on a 32^2 image (thread pools, BLAS buffers):
- memory: one forward+backward; CPU: the rise of the peak resident set (``ru_maxrss``) over the
  resident set just before it, with ``MALLOC_MMAP_THRESHOLD_=65536`` so that glibc returns freed
  blocks at once and the resident set follows the live tensors, not heap fragmentation; CUDA:
  ``max_memory_allocated``.
- time: default allocator; best of ``--repeats`` forward+backward (one for the slow reference),
  then the memory bandwidth with the same threads (a 512 MB tensor copy, bytes read + written).
The bandwidth bound is every map read once forward and twice backward: 3 (sum_l C_l + C) H W 4 bytes.
Workers run with ``OMP_WAIT_POLICY=PASSIVE`` (``--omp-wait-policy``): on the shared 2-core VM,
spinning OpenMP threads made two-thread runs up to 6x slower than one thread.
Targets on CPU: >= 7x faster, <= 1/10 the peak memory, time <= 3x the bound.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time

ROW = "{:<10} {:>7} {:>6} {:>10} {:>11} {:>9} {:>10} {:>12}"


def rss_bytes() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def bandwidth(torch) -> float:
    """Copy bandwidth [bytes/s], counting the bytes read and written, best of 5."""
    a = torch.ones(128 * 2**20)
    b = torch.empty_like(a)
    best = float("inf")
    for _ in range(5):
        t = time.perf_counter()
        b.copy_(a)
        best = min(best, time.perf_counter() - t)
    return 2 * a.numel() * a.element_size() / best


def worker(
    impl: str, mode: str, threads: int, device: str, size: int, depth: int, repeats: int
) -> dict:
    """Run one variant in this process: {"peak": bytes} or {"seconds": s, "bandwidth": bytes/s}."""
    import torch

    torch.set_num_threads(threads)
    sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "tests", "msd"))
    from hrtem_msd import MSDNet
    from test_msd import randomised, reference

    net = randomised(MSDNet(1, 2, depth=depth, width=1)).to(device)
    model = (lambda t: net(t)) if impl == "MSDNet" else (lambda t: reference(net, t))

    def step(side: int) -> float:
        x = torch.randn(1, 1, side, side, device=device, requires_grad=True)
        t = time.perf_counter()
        model(x).sum().backward()
        if device == "cuda":
            torch.cuda.synchronize()
        return time.perf_counter() - t

    step(32)  # one-off set-up
    if mode == "time":
        if impl == "MSDNet":
            step(size)
        seconds = min(step(size) for _ in range(repeats if impl == "MSDNet" else 1))
        return {"seconds": seconds, "bandwidth": bandwidth(torch) if device == "cpu" else 0.0}
    if device == "cuda":
        torch.cuda.reset_peak_memory_stats()
        base = torch.cuda.memory_allocated()
        step(size)
        return {"peak": torch.cuda.max_memory_allocated() - base}
    base = rss_bytes()
    hidden = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 > base
    step(size)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 - base
    if hidden and peak <= 0:
        raise RuntimeError("the run's peak memory is hidden by an earlier peak of the process")
    return {"peak": peak}


def run(impl: str, threads: int, device: str, args: argparse.Namespace) -> dict:
    """Figures of one variant: its memory subprocess, then its time subprocess."""
    figures: dict = {}
    for mode in ("memory", "time"):
        env = dict(os.environ, OMP_NUM_THREADS=str(threads), MKL_NUM_THREADS=str(threads))
        env["OMP_WAIT_POLICY"] = args.omp_wait_policy
        if mode == "memory":
            env["MALLOC_MMAP_THRESHOLD_"] = str(2**16)
        cmd = [sys.executable, __file__, "--worker", impl, "--mode", mode, "--device", device]
        cmd += ["--threads", str(threads), "--size", str(args.size), "--depth", str(args.depth)]
        cmd += ["--repeats", str(args.repeats)]
        out = subprocess.run(cmd, env=env, capture_output=True, text=True, check=True)
        figures |= json.loads(out.stdout.strip().splitlines()[-1])
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--size", type=int, default=256)
    parser.add_argument("--depth", type=int, default=100)
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--worker", choices=["MSDNet", "torch.cat"])
    parser.add_argument("--mode", choices=["memory", "time"], default="time")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--omp-wait-policy", choices=["PASSIVE", "ACTIVE"], default="PASSIVE")
    args = parser.parse_args()
    if args.worker:
        figures = worker(
            args.worker,
            args.mode,
            args.threads[0],
            args.device,
            args.size,
            args.depth,
            args.repeats,
        )
        print(json.dumps(figures))
        return

    import torch

    c, d, hw = 1, args.depth, args.size * args.size
    map_reads = sum(c + layer for layer in range(d)) + (c + d)
    traffic = 3 * map_reads * hw * 4
    print(
        f"MSD-net depth {d}, width 1, one {args.size}^2 image, 1 -> 2 channels; "
        f"bound traffic {traffic / 1e9:.2f} GB (every map read once forward, twice backward); "
        f"OMP_WAIT_POLICY={args.omp_wait_policy}"
    )
    print(
        ROW.format(
            "impl", "device", "thr", "time [s]", "peak [MB]", "speed-up", "mem ratio", "time/bound"
        )
    )
    variants = [("cpu", t) for t in args.threads]
    if torch.cuda.is_available():
        variants.append(("cuda", 1))
    for device, threads in variants:
        ref = run("torch.cat", threads, device, args)
        msd = run("MSDNet", threads, device, args)
        for name, fig in (("torch.cat", ref), ("MSDNet", msd)):
            bound = traffic / msd["bandwidth"] if device == "cpu" else float("nan")
            print(
                ROW.format(
                    name,
                    device,
                    threads,
                    f"{fig['seconds']:.3f}",
                    f"{fig['peak'] / 2**20:.1f}",
                    f"{ref['seconds'] / fig['seconds']:.1f}x",
                    f"1/{ref['peak'] / fig['peak']:.1f}",
                    f"{fig['seconds'] / bound:.2f}",
                )
            )
        if device == "cpu":
            print(
                f"{'':<10} bandwidth with {threads} thread(s): {msd['bandwidth'] / 1e9:.1f} GB/s, "
                f"bound {traffic / msd['bandwidth']:.3f} s"
            )


if __name__ == "__main__":
    main()
