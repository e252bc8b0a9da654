"""`hrtem simulate`: a killed run resumes to a complete dataset; bad input is one line and exit 1."""

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml
from hrtem_cli.main import app
from hrtem_sim import open_dataset
from hrtem_sim.shards import read_header
from typer.testing import CliRunner

SPECS = Path(__file__).parents[2] / "data_specs"


def hrtem(*args: str | Path) -> list[str]:
    return [sys.executable, "-m", "hrtem_cli.main", *map(str, args)]


def test_killed_run_resumes_to_a_complete_dataset(tmp_path: Path) -> None:
    spec = yaml.safe_load((SPECS / "mos2.yaml").read_text())
    spec["profiles"]["kill"] = [*spec["profiles"]["tiny"], "samples=12"]  # 6 shards of 2
    path = tmp_path / "mos2.yaml"
    path.write_text(yaml.safe_dump(spec))
    out = tmp_path / "data"
    args = hrtem("simulate", path, "--profile", "kill", "--workers", "1", "--out", out)
    run = subprocess.Popen(
        args, start_new_session=True, stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    deadline = time.monotonic() + 120
    while not list(out.glob("*/shard-*.h5")) and run.poll() is None and time.monotonic() < deadline:
        time.sleep(0.01)
    os.killpg(run.pid, signal.SIGKILL)  # the CLI and its dask workers, mid-run
    run.communicate()
    written = sorted(out.glob("*/shard-*.h5"))
    assert 1 <= len(written) < 6, "the run was not interrupted part-way"

    again = subprocess.run(args, capture_output=True, text=True)
    assert again.returncode == 0, again.stderr
    assert f"skipped {len(written)} (already finished)" in again.stdout
    assert f"shards simulated {6 - len(written)}," in again.stdout
    (dataset,) = out.iterdir()
    assert sorted(p.name for p in dataset.iterdir()) == [f"shard-{k:05d}.h5" for k in range(6)]
    assert [read_header(p).shard for p in sorted(dataset.iterdir())] == list(range(6))
    with open_dataset(dataset) as ds:
        assert [s.meta["index"] for s in ds] == list(range(12))


@pytest.fixture
def runner() -> CliRunner:
    return CliRunner()


def bad_spec(tmp_path: Path, old: str, new: str, name: str = "nanoparticle") -> Path:
    text = (SPECS / f"{name}.yaml").read_text()
    assert old in text
    path = tmp_path / "spec.yaml"
    path.write_text(text.replace(old, new))
    return path


@pytest.mark.parametrize(
    ("old", "new", "message"),
    [
        (
            "shard_size: 16",
            "shard_size: [16",
            "malformed YAML at line {next_line}: expected ',' or ']', but got ':'",
        ),
        (
            "    spacing: 5.0",
            "    spacng: 5.0",
            "structure.params.spacng: unknown key (did you mean 'spacing'?)",
        ),
        (
            "kind: au_scene",
            "kind: au_rod",
            "structure.kind: unknown structure kind 'au_rod' (known: au_particle, au_scene, mos2, mos2_flake)",
        ),
        (
            "cell: [96, 96]",
            "cell: [80, 80]",
            "structure: au_scene: a particle of diameter up to 80.0 Å with spacing 5.0 Å needs a "
            "cell of 85.0 Å; the cell is 80.0 x 80.0 Å",
        ),
    ],
)
def test_bad_spec_is_one_line_and_exit_1(
    runner: CliRunner, tmp_path: Path, old: str, new: str, message: str
) -> None:
    path = bad_spec(tmp_path, old, new)
    edited = next(n for n, line in enumerate(path.read_text().splitlines(), 1) if new in line)
    message = message.format(next_line=edited + 1)  # YAML stops on the line after the bracket
    result = runner.invoke(app, ["simulate", str(path), "--out", str(tmp_path / "data")])
    assert (result.exit_code, result.stderr) == (1, f"error: {path}: {message}\n")
    assert not (tmp_path / "data").exists()


def test_missing_spec_and_unknown_profile(runner: CliRunner, tmp_path: Path) -> None:
    real = subprocess.run(hrtem("simulate", "nowhere.yaml"), capture_output=True, text=True)
    assert (real.returncode, real.stderr) == (1, "error: nowhere.yaml: no such spec file\n")
    spec = SPECS / "mos2.yaml"
    result = runner.invoke(app, ["simulate", str(spec), "--profile", "huge"])
    assert (result.exit_code, result.stderr) == (
        1,
        f"error: {spec}: unknown profile 'huge' (known: tiny, small, pretrained, full)\n",
    )


def test_help_names_every_option(runner: CliRunner) -> None:
    result = runner.invoke(app, ["simulate", "--help"], env={"COLUMNS": "200"})
    assert result.exit_code == 0
    for option in ("--profile", "--workers", "--scheduler", "--out", "tcp://HOST:8786"):
        assert option in result.stdout
    assert re.search(r"resume", result.stdout)
