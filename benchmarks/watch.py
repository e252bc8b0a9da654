"""Benchmark: `hrtem analyze watch` against the batch `hrtem analyze series` on the same frames.

For each ``--sizes`` (frames of N^2 px at the model's sampling, ``--frames`` of them, a few dark
discs with fringes on noise), in one run:

1. **batch**: :func:`hrtem_analysis.series.run_series` on the folder of frames;
2. **watch, backlog**: :func:`hrtem_analysis.watch.run.watch_folder` on the same files, all
   present at the start: time per frame against the batch's (ratio; target <= 1.2: no model
   reloads, no file read twice);
3. **watch, live**: the files copied into an empty folder at a steady rate (``--load`` times what
   the watcher managed in 2), and the lag from each file's last write to its row (median, max;
   target < 2 s + one frame's analysis time) and frames/s.

Each side loads the model itself (as a user's command does); times per frame leave out that load
(measured apart), and the watch's also one ``--settle`` (the wait every arrival has, counted in
its lag instead). The model is ``--model`` (e.g. @pretrained after `hrtem models install`), else
an untrained MSD-net of the default depth (the timing does not depend on its weights much).

    .venv/bin/python benchmarks/watch.py                          # 512^2 and 2048^2, minutes
    .venv/bin/python benchmarks/watch.py --sizes 4096 --frames 4  # 4096^2 (long on 2 cores)
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import tempfile
import threading
import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from hrtem_analysis.frame_analysis import Analysis
from hrtem_analysis.frames import open_frames
from hrtem_analysis.series import run_series
from hrtem_analysis.watch.run import WatchOptions, watch_folder
from hrtem_core.cards import ModelCard
from hrtem_msd import configure_threads
from hrtem_msd.nets import build
from hrtem_msd.store.mlflow_model import save_model_data

SAMPLING = 0.2  # [Å/px] of the untrained model and the frames


def untrained_model(folder: Path, depth: int) -> str:
    """A nanoparticle MSD-net of ``depth`` layers with a random final layer, saved as a model
    directory; its URI."""
    card = ModelCard(
        task="nanoparticle", architecture="msd",
        model_args={"depth": depth, "width": 1, "dilations": list(range(1, 11))},
        classes=["background", "particle"], in_channels=1, defocus=[0.0], sampling=SAMPLING,
        normalisation="per_image", spec_hash="benchmark", energy=300e3,
    )  # fmt: skip
    torch.manual_seed(0)
    net = build(card)
    with torch.no_grad():
        net.final_weight.normal_(std=0.1)
    return str(save_model_data(net.eval(), card, folder))


def frame(size: int, seed: int) -> np.ndarray:
    """``[size, size]`` float32: noise around 1 with dark discs (3-6 nm) carrying fringes."""
    rng = np.random.default_rng(seed)
    image = 1.0 + 0.05 * rng.standard_normal((size, size))
    y, x = np.mgrid[:size, :size] * SAMPLING
    for _ in range(max(1, size // 512)):
        cx, cy = rng.uniform(0, size * SAMPLING, 2)
        radius = rng.uniform(15, 30)
        disc = np.hypot(x - cx, y - cy) < radius
        image[disc] -= 0.3 + 0.1 * np.cos(2 * np.pi * (x[disc] + y[disc]) / 2.35)
    return image.astype(np.float32)


def write_frames(folder: Path, size: int, count: int) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    paths = [folder / f"frame{i:04d}.npy" for i in range(count)]
    for i, path in enumerate(paths):
        np.save(path, frame(size, i), allow_pickle=False)
    return paths


def load_seconds(analysis: Analysis) -> float:
    start = time.perf_counter()
    analysis.load_models()
    return time.perf_counter() - start


def batch(folder: Path, out: Path, analysis: Analysis) -> float:
    """Seconds of the batch run (model load included)."""
    return run_series(open_frames(folder, 1, SAMPLING), analysis, out, plot=False).seconds


def watch_backlog(folder: Path, out: Path, analysis: Analysis, count: int) -> float:
    """Seconds of a watch on a folder already holding ``count`` files (model load and one
    --settle included)."""
    options = WatchOptions(until=count, sampling=SAMPLING)
    return watch_folder(folder, analysis, out, options).seconds


def watch_live(
    paths: list[Path], folder: Path, out: Path, analysis: Analysis, rate: float
) -> list[float]:
    """Lags [s] of a watch while ``paths`` are copied into ``folder`` at ``rate`` files/s."""
    folder.mkdir()

    def camera() -> None:
        time.sleep(3.0)  # the watcher loads its model first
        begin = time.monotonic()
        for i, path in enumerate(paths):
            time.sleep(max(0.0, begin + i / rate - time.monotonic()))
            shutil.copyfile(path, folder / f".{path.name}")
            (folder / f".{path.name}").rename(folder / path.name)  # appears whole, as cameras do

    thread = threading.Thread(target=camera)
    thread.start()
    summary = watch_folder(folder, analysis, out, WatchOptions(until=len(paths), sampling=SAMPLING))
    thread.join()
    return list(pd.read_csv(out / "arrivals.csv")["lag"]) or summary.lags


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[512, 2048])
    parser.add_argument("--frames", type=int, default=12, help="Frames per size.")
    parser.add_argument("--model", help="Model URI [default: an untrained MSD-net].")
    parser.add_argument("--depth", type=int, default=100, help="Depth of the untrained MSD-net.")
    parser.add_argument("--load", type=float, default=0.8, help="Arrival rate / watcher's rate.")
    args = parser.parse_args()
    configure_threads()
    with tempfile.TemporaryDirectory() as scratch:
        root = Path(scratch)
        model = args.model or untrained_model(root / "model", args.depth)
        analysis = Analysis("particles", model)
        load = load_seconds(analysis)
        print(
            f"model {args.model or f'untrained MSD-net, depth {args.depth}'}: loads in {load:.2f} s"
        )
        print(f"{'size':>6} {'batch s/frame':>14} {'watch s/frame':>14} {'ratio':>6} "
              f"{'watch fps':>9} {'lag median':>10} {'lag max':>8} {'lag target':>10}")  # fmt: skip
        for size in args.sizes:
            here = root / str(size)
            paths = write_frames(here / "frames", size, args.frames)
            per_batch = (batch(here / "frames", here / "batch", analysis) - load) / args.frames
            seconds = watch_backlog(here / "frames", here / "backlog", analysis, args.frames)
            per_watch = (seconds - load - WatchOptions().settle) / args.frames
            lags = watch_live(
                paths, here / "live", here / "live-out", analysis, args.load / per_watch
            )
            print(
                f"{size:>6} {per_batch:>14.3f} {per_watch:>14.3f} {per_watch / per_batch:>6.2f} "
                f"{1 / per_watch:>9.2f} {statistics.median(lags):>10.2f} {max(lags):>8.2f} "
                f"{2 + per_watch:>10.2f}"
            )


if __name__ == "__main__":
    main()
