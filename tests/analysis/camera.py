"""A camera for the watch tests: writes synthetic frames into a folder at a steady rate, some of
them slowly in chunks, some truncated (never completed) or full of NaN, and says what each
file's row must be."""

from __future__ import annotations

import importlib.util
import threading
import time
from pathlib import Path
from typing import NamedTuple

import numpy as np

_spec = importlib.util.spec_from_file_location(
    "synthetic", Path(__file__).with_name("synthetic.py")
)
synthetic = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(synthetic)

KINDS = ("on", "off", "empty")
EXPECTED = {"on": ("ok", 1, True), "off": ("ok", 1, False), "empty": ("no particle", 0, False)}
"""(status, particles, interpretable) of a good frame of each kind."""


class Shot(NamedTuple):
    """One file the camera writes: its name, kind, and how ("whole", "chunks": in two halves
    with a pause, "truncated": half of it, never finished, "nan": a frame of NaN)."""

    name: str
    kind: str
    how: str = "whole"

    @property
    def bad(self) -> bool:
        return self.how in ("truncated", "nan")


def plan(count: int, bad_every: int = 50, chunked_every: int = 7, seed: int = 0) -> list[Shot]:
    """``count`` shots: kinds drawn at random, every ``bad_every``-th bad (truncated and NaN in
    turn: 2 % at 50), every ``chunked_every``-th written in chunks."""
    kinds = np.random.default_rng(seed).choice(KINDS, size=count)
    shots = []
    for i, kind in enumerate(kinds):
        how = "whole"
        if i % bad_every == bad_every - 1:
            how = ("truncated", "nan")[(i // bad_every) % 2]
        elif i % chunked_every == chunked_every - 1:
            how = "chunks"
        shots.append(Shot(f"frame{i:05d}.npy", str(kind), how))
    return shots


def _bytes(shot: Shot) -> bytes:
    import io

    image = synthetic.particle_frame(shot.kind, seed=int(shot.name[5:10])).T
    if shot.how == "nan":
        image = np.full_like(image, np.nan)
    stream = io.BytesIO()
    np.save(stream, image, allow_pickle=False)
    return stream.getvalue()


def write(folder: Path, shot: Shot, pause: float) -> None:
    """Write one shot into ``folder`` (a chunked one pauses ``pause`` s between its halves)."""
    data = _bytes(shot)
    path = folder / shot.name
    if shot.how == "whole" or shot.how == "nan":
        path.write_bytes(data)
        return
    half = len(data) // 2
    with path.open("wb") as stream:
        stream.write(data[:half])
        stream.flush()
        if shot.how == "truncated":
            return
        time.sleep(pause)
        stream.write(data[half:])


def start(folder: Path, shots: list[Shot], rate: float, pause: float) -> threading.Thread:
    """Write ``shots`` at ``rate`` files/s in a thread (started; join it to wait)."""
    folder.mkdir(parents=True, exist_ok=True)

    def run() -> None:
        begin = time.monotonic()
        for i, shot in enumerate(shots):
            time.sleep(max(0.0, begin + i / rate - time.monotonic()))
            write(folder, shot, pause)

    thread = threading.Thread(target=run, name="camera", daemon=True)
    thread.start()
    return thread
