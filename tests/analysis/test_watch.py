"""hrtem analyze watch: frames analysed as they arrive, as the batch path analyses them; files
being written are retried, never read half; bad files are error rows; a SIGKILL and a restart
lose nothing and do nothing twice; --keep-up skips and a later run fills in; the live page."""

from __future__ import annotations

import contextlib
import importlib.util
import io
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hrtem_analysis.frame_analysis import Analysis
from hrtem_analysis.frames import open_frames
from hrtem_analysis.series import run_series
from hrtem_analysis.watch.arrivals import Arrivals
from hrtem_analysis.watch.live import LivePage, preview_png
from hrtem_analysis.watch.run import WatchOptions, watch_folder
from hrtem_core.errors import ImageError

_spec = importlib.util.spec_from_file_location("camera", Path(__file__).with_name("camera.py"))
camera = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(camera)
synthetic = camera.synthetic

SERIES = [("on", ()), ("on", (5,)), ("off", ()), ("on", (5,)), ("empty", ()), ("on", ())]
FAST = {"settle": 0.3, "patience": 1.0, "poll": 0.05, "sampling": synthetic.SAMPLING}
BROWSER_FLAGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]  # fmt: skip
SAME = ["frame", "source", "status", "error", "particles", "area", "ratio", "zone",
        "interpretable", "columns", "appeared", "vanished", "events"]  # fmt: skip


def _save(path: Path, image: np.ndarray) -> None:
    np.save(path, image.T, allow_pickle=False)  # rows = y, as a microscope file stores them


def _analysis(models: dict[str, str]) -> Analysis:
    return Analysis("particles", models["particle"], models["columns"])


def test_rows_as_the_batch_writes_them_while_frames_arrive(tmp_path: Path, models) -> None:
    folder = tmp_path / "camera"
    folder.mkdir()

    def shoot() -> None:
        for t, (kind, missing) in enumerate(SERIES):
            image = synthetic.particle_frame(kind, seed=t, missing=missing)
            if t == 2:  # written in two halves with a pause longer than --settle
                stream = io.BytesIO()
                np.save(stream, image.T, allow_pickle=False)
                raw = stream.getvalue()
                with (folder / f"frame{t}.npy").open("wb") as file:
                    file.write(raw[: len(raw) // 2])
                    file.flush()
                    time.sleep(0.8)
                    file.write(raw[len(raw) // 2 :])
            else:
                _save(folder / f"frame{t}.npy", image)
            time.sleep(0.15)

    writer = threading.Thread(target=shoot)
    writer.start()
    summary = watch_folder(
        folder, _analysis(models), tmp_path / "live", WatchOptions(until=6, **FAST)
    )
    writer.join()
    batch = run_series(
        open_frames(folder, 1, synthetic.SAMPLING), _analysis(models), tmp_path / "batch"
    )
    live = pd.read_csv(summary.csv)
    expected = pd.read_csv(batch.csv)
    pd.testing.assert_frame_equal(live[SAME], expected[SAME])
    assert live["time"].is_monotonic_increasing and live["time"].iloc[0] == 0.0
    keys = ["frame", "kind", "x", "y"]
    pd.testing.assert_frame_equal(
        pd.read_csv(summary.events)[keys], pd.read_csv(batch.events)[keys]
    )
    arrivals = pd.read_csv(tmp_path / "live" / "arrivals.csv")
    assert list(arrivals["source"]) == [f"frame{t}.npy" for t in range(6)]
    assert (arrivals["lag"] > 0).all() and (arrivals["lag"] < 5).all()
    assert (summary.analysed, summary.failed, len(summary.lags)) == (6, 0, 6)


def test_bad_files_are_error_rows_and_the_watch_goes_on(tmp_path: Path, models) -> None:
    folder = tmp_path / "camera"
    folder.mkdir()
    good = synthetic.particle_frame("on")
    _save(folder / "a1.npy", good)
    raw = (folder / "a1.npy").read_bytes()
    (folder / "a2.npy").write_bytes(raw[: len(raw) // 2])  # truncated, never finished
    _save(folder / "a3.npy", np.full_like(good, np.nan))
    np.save(folder / "a4.npy", np.zeros(100, dtype=np.float32))  # wrong shape: not an image
    (folder / "a5.npy.part").write_bytes(raw[:100])  # a camera's temporary name: not a frame
    (folder / ".a6.npy").write_bytes(raw)  # hidden: not a frame
    summary = watch_folder(
        folder, _analysis(models), tmp_path / "out", WatchOptions(idle=2.5, **FAST)
    )
    table = pd.read_csv(summary.csv).sort_values("source", ignore_index=True)  # bad ones wait
    assert list(table["source"]) == ["a1.npy", "a2.npy", "a3.npy", "a4.npy"]
    assert list(table["status"]) == ["ok", "failed", "failed", "failed"]
    assert table.loc[1, "error"].startswith(f"{folder / 'a2.npy'}: ")
    assert table.loc[2, "error"] == f"{folder / 'a3.npy'}: image contains NaN or infinite values"
    assert table.loc[3, "error"].startswith(f"{folder / 'a4.npy'}: ")
    assert (summary.analysed, summary.failed) == (1, 3)


def test_missing_folder_is_one_line(tmp_path: Path, models) -> None:
    with pytest.raises(ImageError) as err:
        watch_folder(tmp_path / "nowhere", _analysis(models), tmp_path / "out")
    assert str(err.value) == f"{tmp_path / 'nowhere'}: not a folder to watch"


def test_keep_up_analyses_the_newest_and_a_later_run_fills_in(tmp_path: Path, models) -> None:
    folder = tmp_path / "camera"
    folder.mkdir()
    for t in range(5):
        _save(folder / f"frame{t}.npy", synthetic.particle_frame("on", seed=t))
    out = tmp_path / "out"
    behind = watch_folder(
        folder, _analysis(models), out, WatchOptions(keep_up=True, idle=1.0, **FAST)
    )
    assert (behind.analysed, behind.skipped) == (1, 4)
    assert list(pd.read_csv(out / "frames.csv")["source"]) == ["frame4.npy"]
    assert list(pd.read_csv(out / "skipped.csv")["source"]) == [f"frame{t}.npy" for t in range(4)]
    again = watch_folder(
        folder, _analysis(models), out, WatchOptions(keep_up=True, idle=1.0, **FAST)
    )
    assert (again.analysed, again.skipped, again.resumed) == (0, 0, 1)
    filled = watch_folder(folder, _analysis(models), out, WatchOptions(idle=1.0, **FAST))
    assert (filled.analysed, filled.resumed) == (4, 1)
    table = pd.read_csv(out / "frames.csv")
    assert sorted(table["source"]) == [f"frame{t}.npy" for t in range(5)]
    assert list(table["frame"]) == list(range(5))


def test_arrivals_wait_for_a_file_to_settle(tmp_path: Path) -> None:
    now = [0.0]
    arrivals = Arrivals(tmp_path, settle=1.0, patience=3.0, polling=True, clock=lambda: now[0])
    (tmp_path / "b.npy").write_bytes(b"1")
    (tmp_path / "a.tif.tmp").write_bytes(b"1")
    assert arrivals.settled() == []
    now[0] = 0.5
    (tmp_path / "b.npy").write_bytes(b"12")  # still being written
    assert arrivals.settled() == []
    now[0] = 1.2
    assert arrivals.settled() == []  # unchanged for 0.7 s only
    now[0] = 1.6
    (tmp_path / "a.tif.tmp").rename(tmp_path / "a.tif")
    assert arrivals.settled() == [tmp_path / "b.npy"]
    assert arrivals.settled() == []  # handed out once
    arrivals.retry(tmp_path / "b.npy")
    assert not arrivals.stale(tmp_path / "b.npy")
    now[0] = 2.7
    assert arrivals.settled() == [tmp_path / "b.npy", tmp_path / "a.tif"]  # arrival order
    now[0] = 3.6
    assert arrivals.stale(tmp_path / "b.npy")
    arrivals.finish(tmp_path / "b.npy")
    arrivals.finish(tmp_path / "a.tif")
    now[0] = 10.0
    assert arrivals.settled() == [] and arrivals.pending() == 0


def _watcher(folder: Path, out: Path, models: dict[str, str], *extra: str) -> subprocess.Popen:
    args = ["analyze", "watch", str(folder), "--model", models["particle"], "--columns-model",
            models["columns"], "--out", str(out), "--sampling", str(synthetic.SAMPLING),
            "--settle", "0.3", "--patience", "1.5", *extra]  # fmt: skip
    command = [sys.executable, "-m", "hrtem_cli.main", *args]
    return subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _rows(out: Path) -> int:
    path = out / "frames.csv"
    return max(0, len(path.read_text().splitlines()) - 1) if path.is_file() else 0


class DaskCluster:
    """A dask scheduler and ``workers`` single-threaded workers (no nannies: a killed worker
    stays dead), each its own process on loopback."""

    def __init__(self, tmp_path: Path, workers: int) -> None:
        from distributed import Client

        dask = [sys.executable, "-m", "dask"]
        file = tmp_path / "scheduler.json"
        quiet = {"stdout": subprocess.DEVNULL, "stderr": subprocess.DEVNULL}
        self.scheduler = subprocess.Popen(
            [*dask, "scheduler", "--host", "127.0.0.1", "--port", "0", "--dashboard-address",
             ":0", "--scheduler-file", str(file)], **quiet,
        )  # fmt: skip
        self.address = _address(file)
        worker = [*dask, "worker", self.address, "--nthreads", "1", "--no-nanny",
                  "--dashboard-address", ":0"]  # fmt: skip
        self.workers = [subprocess.Popen(worker, **quiet) for _ in range(workers)]
        with Client(self.address, timeout="30s") as client:
            client.wait_for_workers(workers, timeout=60)

    def alive(self) -> int:
        from distributed import Client

        with Client(self.address, timeout="30s") as client:
            return len(client.scheduler_info()["workers"])

    def close(self) -> None:
        for process in [*self.workers, self.scheduler]:
            process.kill()
            process.wait()


def _address(file: Path) -> str:
    """The address in a dask scheduler file, once the scheduler has written it."""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        with contextlib.suppress(FileNotFoundError, ValueError, KeyError):
            return json.loads(file.read_text())["address"]
        time.sleep(0.1)
    raise TimeoutError(f"{file}: no dask scheduler address after 60 s")


def soak(
    tmp_path: Path, models: dict[str, str], count: int, rate: float, dask: bool = False
) -> None:
    """``count`` frames arrive at ``rate``/s (2 % bad, some in chunks); the watcher is killed
    with SIGKILL a third of the way and started again (with ``dask``, it runs on a scheduler's
    two workers and one worker is SIGKILLed a sixth of the way); then every file has exactly one
    row, the right one, and no row is partial."""
    folder, out = tmp_path / "camera", tmp_path / "out"
    shots = camera.plan(count)
    cluster = DaskCluster(tmp_path, 2) if dask else None
    on = ["--scheduler", cluster.address] if cluster else []
    try:
        writer = camera.start(folder, shots, rate, pause=0.6)
        first = _watcher(folder, out, models, *on)
        if cluster is not None:
            _wait_rows(out, count // 6, first)
            cluster.workers[0].send_signal(signal.SIGKILL)
            cluster.workers[0].wait()
        _wait_rows(out, count // 3, first)
        assert _rows(out) >= count // 3, "the watch stalled"  # (after the worker's death)
        first.send_signal(signal.SIGKILL)
        first.wait()
        assert first.returncode == -signal.SIGKILL, first.stderr.read()
        killed_at = _rows(out)
        second = _watcher(folder, out, models, "--until", str(count), "--serve", "0", *on)
        first_line = second.stdout.readline()
        assert first_line.startswith("live page: http://127.0.0.1:"), first_line
        page = PagePoller(
            first_line.split()[-1], lambda: _rows(out) >= count or second.poll() is not None
        )
        rest, stderr = second.communicate(timeout=60 + 3 * count / rate)
        stdout = first_line + rest
        writer.join()
        page.join()
        assert page.failures == [] and page.answers >= 2  # the page stayed up through it
        if cluster is not None:
            assert cluster.alive() == 1
    finally:
        if cluster is not None:
            cluster.close()
    assert second.returncode == 0, stderr
    table = pd.read_csv(out / "frames.csv")
    assert sorted(table["source"]) == [shot.name for shot in shots]  # each exactly once
    assert list(table["frame"]) == list(range(count))
    assert table["status"].notna().all()  # no partial row
    by_name = {shot.name: shot for shot in shots}
    for _, row in table.iterrows():
        shot = by_name[row["source"]]
        if shot.bad:
            assert row["status"] == "failed" and row["error"].startswith(str(folder / shot.name))
        else:
            status, particles, interpretable = camera.EXPECTED[shot.kind]
            assert (row["status"], row["particles"], row["interpretable"]) == (
                status,
                particles,
                interpretable,
            ), row.to_dict()
            if interpretable:
                assert row["columns"] == len(synthetic.lattice_sites())
            else:
                assert pd.isna(row["columns"])
    assert 0 < killed_at < count
    resumed = int(re.search(r"already in the table (\d+);", stdout).group(1))
    assert resumed in (killed_at - 1, killed_at)  # a row cut off by the kill is redone


class PagePoller(threading.Thread):
    """Asks the live page at ``url`` for its rows every 0.5 s until ``done()`` (the watch's
    work is over: then the page closes); keeps the count of answers and the errors."""

    def __init__(self, url: str, done: Callable[[], bool]) -> None:
        super().__init__(daemon=True)
        self.url, self.done = url, done
        self.answers, self.failures = 0, []
        self.start()

    def run(self) -> None:
        while not self.done():
            try:
                with urllib.request.urlopen(self.url + "rows", timeout=5) as response:
                    json.loads(response.read())
                self.answers += 1
            except OSError as error:
                if not self.done():
                    self.failures.append(repr(error))
            time.sleep(0.5)


def _wait_rows(out: Path, rows: int, watcher: subprocess.Popen) -> None:
    deadline = time.monotonic() + 120
    while _rows(out) < rows and watcher.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)


def test_soak_short_sigkill_and_restart(tmp_path: Path, models) -> None:
    soak(tmp_path, models, count=60, rate=15.0)


def test_soak_short_on_dask_with_a_worker_killed(tmp_path: Path, models) -> None:
    soak(tmp_path, models, count=60, rate=15.0, dask=True)


@pytest.mark.slow
def test_soak_thousand_frames(tmp_path: Path, models) -> None:
    soak(tmp_path, models, count=1000, rate=10.0)


@pytest.mark.slow
def test_soak_thousand_frames_on_dask(tmp_path: Path, models) -> None:
    soak(tmp_path, models, count=1000, rate=10.0, dask=True)


def test_cli_watch_until_prints_the_summary(tmp_path: Path, models) -> None:
    folder = tmp_path / "camera"
    folder.mkdir()
    _save(folder / "frame0.npy", synthetic.particle_frame("on"))
    process = _watcher(folder, tmp_path / "out", models, "--until", "1")
    stdout, stderr = process.communicate(timeout=60)
    assert process.returncode == 0, stderr
    assert (
        stdout.splitlines()[0]
        == f"watching {folder} (Ctrl-C stops; a rerun with -o {tmp_path / 'out'} resumes)"
    )
    assert "frames: analysed 1, failed 0, skipped 0 (behind), already in the table 0;" in stdout
    assert "frame 0: frame0.npy: 1 particle(s)" in stderr


def _chromium() -> str:
    """Debian's Chromium (`.ci/run` installs it; HRTEM_REQUIRE_BROWSER=1 makes its absence fail)."""
    path = shutil.which("chromium") or shutil.which("chromium-browser")
    if path is None:
        if os.environ.get("HRTEM_REQUIRE_BROWSER"):
            pytest.fail("no chromium on PATH (apt-get install chromium)")
        pytest.skip("no chromium on PATH")
    return path


def test_live_page_shows_a_frame_that_arrived_after_it_opened(tmp_path: Path, models) -> None:
    sync_api = pytest.importorskip("playwright.sync_api")
    folder = tmp_path / "camera"
    folder.mkdir()
    _save(folder / "frame0.npy", synthetic.particle_frame("on", seed=0))
    _save(folder / "frame1.npy", np.full((128, 128), np.nan, dtype=np.float32))
    page_ = LivePage(title=str(folder))
    url = page_.start()
    stop = threading.Event()
    analysis = replace(_analysis(models), masks=True)
    watcher = threading.Thread(
        target=watch_folder,
        args=(folder, analysis, tmp_path / "out", WatchOptions(**FAST), page_.publish, stop.is_set),
    )
    watcher.start()
    try:
        with sync_api.sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=_chromium(), args=BROWSER_FLAGS)
            page = browser.new_page()
            page.goto(url)
            page.wait_for_function("document.getElementById('frames').textContent === '2'")
            assert "frame 0: frame0.npy, 1 particle(s)" in page.inner_text("#latest")
            assert "frame 1:" in page.inner_text("#errors")
            _save(folder / "frame2.npy", synthetic.particle_frame("off", seed=2))  # page open
            page.wait_for_function("document.getElementById('frames').textContent === '3'")
            assert page.inner_text("#latest").startswith("frame 2: frame2.npy, 1 particle(s)")
            page.wait_for_function(
                "(() => { const i = document.getElementById('frame');"
                " return i.complete && i.naturalWidth === 128 && i.src.endsWith('frame=2'); })()"
            )
            assert page.inner_text("#selected") == "1"  # frame 0 on a zone axis, frame 2 not
            assert page.locator("#chart polyline").count() == 3
            page.screenshot(path=str(tmp_path / "live.png"))
            browser.close()
    finally:
        stop.set()
        watcher.join()
        page_.stop()


def test_preview_outlines_the_particles() -> None:
    image = synthetic.particle_frame("on")
    mask = np.zeros(image.shape, dtype=bool)
    mask[20:60, 30:50] = True
    from PIL import Image

    picture = np.asarray(Image.open(io.BytesIO(preview_png(image, mask))))
    assert picture.shape == (128, 128, 3)  # rows = y: the transpose of [nx, ny]
    orange = (picture == (255, 140, 0)).all(axis=2)
    assert orange[30, 20] and orange[49, 59] and not orange[40, 40] and orange.sum() < mask.sum()
