"""The monorepo's import rules (DESIGN.md): arrows point one way, and heavy imports stay where they belong."""

import subprocess
import sys

import pytest


def imported_modules(statement: str) -> set[str]:
    """Top-level modules loaded after running `statement` in a fresh interpreter."""
    code = f"{statement}\nimport sys\nprint(' '.join(sorted({{m.split('.')[0] for m in sys.modules}})))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return set(out.stdout.split())


@pytest.mark.parametrize(
    ("statement", "forbidden"),
    [
        (
            "import hrtem_sim",
            {"abtem", "torch", "hrtem_msd", "hrtem_analysis", "hrtem_cli", "typer"},
        ),
        ("import hrtem_sim.optics", {"abtem", "hrtem_msd", "hrtem_analysis", "hrtem_cli", "typer"}),
        ("import hrtem_sim.labels", {"abtem", "typer"}),
        ("import hrtem_msd", {"abtem", "hrtem_analysis", "hrtem_cli", "typer"}),
        ("import hrtem_analysis", {"abtem", "hrtem_cli", "typer"}),
    ],
)
def test_imports_point_one_way(statement: str, forbidden: set[str]) -> None:
    assert imported_modules(statement) & forbidden == set()


def test_cli_help_lists_commands() -> None:
    out = subprocess.run(
        [sys.executable, "-m", "hrtem_cli.main", "--help"], capture_output=True, text=True
    )
    assert out.returncode == 0, out.stderr
    assert "simulate" in out.stdout
