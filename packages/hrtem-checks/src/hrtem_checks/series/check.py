"""How well the series analysis selects frames, counts columns and finds events, on a simulated
series whose content is known (:mod:`hrtem_checks.series.scenario`), like ``hrtem check vacancies``.

The frames are written to ``OUT/frames.npy`` (file order, row = y) and analysed exactly as a user
analyses theirs (:func:`hrtem_analysis.series.run_series` into ``OUT/analysis``). Then, per frame:
frame selection (interpretable = on axis?), column count against the true count on frames both
on axis and selected, drift against the true drift since the previous selected frame, and the
events: a counted event is right when a true event of the same kind at that frame lies within
``match_fraction`` of the column spacing of its position (true events: columns that appeared or
vanished since the previous on-axis frame, at their positions in that frame [Å]).
"""

from __future__ import annotations

import itertools
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from hrtem_analysis.columns import match_columns
from hrtem_analysis.frame_analysis import Analysis
from hrtem_analysis.frames import open_frames
from hrtem_analysis.series import run_series
from hrtem_core.atomic import atomic_write
from hrtem_msd.nets.points import spacing
from hrtem_sim.frames import Microscope
from matplotlib.figure import Figure
from tqdm import tqdm

from hrtem_checks.series.scenario import Scenario, SeriesScenario, Truth

KINDS = ("appeared", "vanished")


@dataclass(frozen=True)
class CheckSummary:
    """Figures of one check: frame-selection accuracy; mean and largest relative column-count
    error on frames on axis and selected (nan without any); event precision and recall (nan
    without counted / true events); RMS drift error [Å]; true and counted events."""

    frame_accuracy: float
    count_error: float
    count_error_max: float
    precision: float
    recall: float
    drift_error: float
    true_events: int
    counted_events: int

    def lines(self) -> list[str]:
        """The summary as lines of text, targets in brackets (from the issue)."""
        return [
            f"frame selection accuracy  {self.frame_accuracy:.2f}   (target: 1)",
            f"column count error        mean {self.count_error:.1%}, max {self.count_error_max:.1%}"
            "   (target: <= 5 %)",
            f"events                    {self.counted_events} counted, {self.true_events} true",
            f"event precision / recall  {self.precision:.2f} / {self.recall:.2f}   (target: >= 0.8)",
            f"drift error (RMS)         {self.drift_error:.2f} Å",
        ]


def true_events(truth: Truth) -> pd.DataFrame:
    """Columns that appeared and vanished at each on-axis frame since the previous one: frame,
    kind, x, y [Å] in that frame."""
    rows = []
    frames = np.flatnonzero(truth.on_axis)
    for before, t in itertools.pairwise(frames):
        changed = {
            "appeared": truth.present[t] & ~truth.present[before],
            "vanished": truth.present[before] & ~truth.present[t],
        }
        for kind, which in changed.items():
            rows += [
                {"frame": int(t), "kind": kind, "x": x, "y": y}
                for x, y in truth.positions(t, which)
            ]
    return pd.DataFrame(rows, columns=["frame", "kind", "x", "y"])


def _matched(counted: pd.DataFrame, expected: pd.DataFrame, distance: float) -> int:
    """Counted events with a true event of the same frame and kind within ``distance``."""
    found = 0
    for (frame, kind), group in counted.groupby(["frame", "kind"]):
        same = expected[(expected["frame"] == frame) & (expected["kind"] == kind)]
        pairs, _, _ = match_columns(
            same[["x", "y"]].to_numpy(), group[["x", "y"]].to_numpy(), distance
        )
        found += len(pairs)
    return found


def score(
    truth: Truth, rows: pd.DataFrame, counted: pd.DataFrame, match_fraction: float = 0.5
) -> tuple[pd.DataFrame, CheckSummary]:
    """Per-frame comparison and the summary, from the analysis' ``rows`` (frames.parquet) and
    ``counted`` events (events.csv)."""
    rows = rows.set_index("frame").reindex(range(len(truth.on_axis)))
    selected = rows["interpretable"].fillna(False).astype(bool).to_numpy()
    expected = true_events(truth)
    table = pd.DataFrame({"frame": np.arange(len(truth.on_axis)), "on_axis": truth.on_axis})
    table["interpretable"] = selected
    table["ratio"] = rows["ratio"].to_numpy(dtype=float)
    table["columns_true"] = truth.present.sum(axis=1)
    table["columns_counted"] = (
        rows["columns"].astype("Float64").to_numpy(dtype=float, na_value=np.nan)
    )
    for kind in KINDS:
        table[f"{kind}_true"] = [
            int(((expected["frame"] == t) & (expected["kind"] == kind)).sum())
            for t in table["frame"]
        ]
        table[f"{kind}_counted"] = [
            int(((counted["frame"] == t) & (counted["kind"] == kind)).sum()) for t in table["frame"]
        ]
    previous = np.maximum.accumulate(np.where(selected, np.arange(len(selected)), -1))
    previous = np.concatenate([[-1], previous[:-1]])  # the selected frame before each
    for a, axis in enumerate("xy"):
        true_drift = truth.drift[:, a] - truth.drift[np.maximum(previous, 0), a]
        table[f"drift_{axis}_true"] = np.where(previous >= 0, true_drift, np.nan)
        table[f"drift_{axis}"] = rows[f"drift_{axis}"].to_numpy(dtype=float)
    both = table["on_axis"] & table["interpretable"] & np.isfinite(table["columns_counted"])
    relative = (table["columns_counted"] - table["columns_true"]).abs() / table["columns_true"]
    drift_error = np.hypot(
        table["drift_x"] - table["drift_x_true"], table["drift_y"] - table["drift_y_true"]
    )
    distance = match_fraction * spacing(truth.columns)
    found = _matched(counted, expected, distance) if len(counted) else 0
    summary = CheckSummary(
        frame_accuracy=float(np.mean(table["on_axis"] == table["interpretable"])),
        count_error=float(relative[both].mean()) if both.any() else float("nan"),
        count_error_max=float(relative[both].max()) if both.any() else float("nan"),
        precision=found / len(counted) if len(counted) else float("nan"),
        recall=found / len(expected) if len(expected) else float("nan"),
        drift_error=float(np.sqrt(np.nanmean(drift_error**2)))
        if np.isfinite(drift_error).any()
        else float("nan"),
        true_events=len(expected),
        counted_events=len(counted),
    )
    return table, summary


def check_figure(table: pd.DataFrame) -> Figure:
    """True against counted events, columns and drift per frame."""
    fig = Figure(figsize=(8, 8))
    axes = fig.subplots(3, 1, sharex=True)
    frame = table["frame"].to_numpy()
    for kind, sign, colour in (("appeared", 1, "tab:green"), ("vanished", -1, "tab:red")):
        axes[0].bar(
            frame - 0.2,
            sign * table[f"{kind}_true"],
            0.4,
            color=colour,
            alpha=0.4,
            label=f"{kind}, true",
        )
        axes[0].bar(
            frame + 0.2,
            sign * table[f"{kind}_counted"],
            0.4,
            color=colour,
            label=f"{kind}, counted",
        )
    axes[0].axhline(0, color="0.5", lw=1)
    axes[0].set_ylabel("events (vanished < 0)")
    axes[0].legend(fontsize=7, ncol=2)
    off = ~table["on_axis"].to_numpy()
    axes[1].plot(frame, table["columns_true"], "o-", label="true")
    axes[1].plot(frame, table["columns_counted"], "s", mfc="none", label="counted")
    axes[1].plot(frame[off], table["columns_true"][off], "x", color="k", label="tilted (true)")
    axes[1].set_ylabel("columns")
    axes[1].legend(fontsize=7)
    for axis, colour in (("x", "tab:blue"), ("y", "tab:orange")):
        axes[2].plot(frame, table[f"drift_{axis}_true"], "o-", color=colour, label=f"d{axis} true")
        axes[2].plot(
            frame, table[f"drift_{axis}"], "s", mfc="none", color=colour, label=f"d{axis} measured"
        )
    axes[2].set_ylabel("drift [Å]")
    axes[2].set_xlabel("frame")
    axes[2].legend(fontsize=7, ncol=2)
    fig.tight_layout()
    return fig


@dataclass(frozen=True)
class CheckRun:
    """What :func:`series_check` wrote and found: the per-frame table (``csv``), the summary's
    one row (``summary_csv``: the models, case, dose, sampling and the summary's figures)."""

    summary: CheckSummary
    table: pd.DataFrame
    csv: Path
    plot: Path
    analysis: Path
    summary_csv: Path


def summary_row(
    summary: CheckSummary, analysis: Analysis, scenario: Scenario, microscope: Microscope
) -> pd.DataFrame:
    """The summary as one row for a model card (:func:`hrtem_checks.card.card_figures` with
    keys ``case`` = ``seed<N>`` and ``dose`` [e-/Å^2])."""
    row = {
        "model": analysis.model,
        "columns_model": analysis.columns_model,
        "case": f"seed{scenario.seed}",
        "dose": float(microscope.dose),
        "sampling": float(microscope.sampling),
        "frames": scenario.frames,
        **asdict(summary),
    }
    return pd.DataFrame([row])


def simulate_series(
    scenario: Scenario, microscope: Microscope, out: Path, progress: bool = True
) -> tuple[Path, Truth, float]:
    """Simulate the frames into ``out/frames.npy`` ([T, rows = y, cols = x]); returns the file,
    the truth and the frames' sampling [Å/px]."""
    series = SeriesScenario(scenario)
    frames = [
        series.frame(t, microscope)
        for t in tqdm(range(scenario.frames), desc="simulating frames", disable=not progress)
    ]
    stack = np.stack([f.image.T for f in frames]).astype(np.float32)
    path = atomic_write(out / "frames.npy", lambda tmp: _save(tmp, stack))
    return path, series.truth, frames[0].sampling[0]


def _save(path: Path, array: np.ndarray) -> None:
    with open(path, "wb") as stream:
        np.save(stream, array, allow_pickle=False)


def series_check(
    analysis: Analysis,
    out: Path,
    scenario: Scenario | None = None,
    microscope: Microscope | None = None,
    progress: bool = True,
) -> CheckRun:
    """Simulate the series, analyse it with ``analysis`` (its models and settings) into
    ``out/analysis``, score it; writes ``out/series_check.csv``, ``out/series_check.png`` and
    ``out/series_check_summary.csv``."""
    scenario = scenario or Scenario()
    microscope = microscope or Microscope()
    analysis.load_models()  # a bad model URI is one error before any simulation
    frames, truth, sampling = simulate_series(scenario, microscope, out, progress)
    source = open_frames(frames, analysis.channels(), sampling)
    result = run_series(source, analysis, out / "analysis")
    rows = pd.read_parquet(result.parquet)
    counted = pd.read_csv(result.events)
    table, summary = score(truth, rows, counted, analysis.settings.match_fraction)
    csv = atomic_write(out / "series_check.csv", lambda tmp: table.to_csv(tmp, index=False))
    plot = atomic_write(
        out / "series_check.png",
        lambda tmp: check_figure(table).savefig(tmp, dpi=110, format="png"),
    )
    row = summary_row(summary, analysis, scenario, microscope)
    summary_csv = atomic_write(
        out / "series_check_summary.csv", lambda tmp: row.to_csv(tmp, index=False)
    )
    return CheckRun(summary, table, csv, plot, out / "analysis", summary_csv)
