"""The monorepo's import rules (DESIGN.md): arrows point one way, and heavy imports stay where they belong."""

import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
from packaging.requirements import Requirement

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = {
    "hrtem-core": ROOT / "packages" / "hrtem-core",
    "hrtem-sim": ROOT / "packages" / "hrtem-sim",
    "hrtem-msd": ROOT / "packages" / "hrtem-msd",
    "hrtem-analysis": ROOT / "packages" / "hrtem-analysis",
    "hrtem-cli": ROOT / "apps" / "hrtem-cli",
}
SIMULATION = {"abtem", "ase"}
HRTEM = {"hrtem_sim", "hrtem_msd", "hrtem_analysis", "hrtem_cli"}


def imported_modules(statement: str) -> set[str]:
    """Top-level modules loaded after running `statement` in a fresh interpreter."""
    code = f"{statement}\nimport sys\nprint(' '.join(sorted({{m.split('.')[0] for m in sys.modules}})))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return set(out.stdout.split())


def all_modules(package: str) -> str:
    """A statement importing every module of ``package``."""
    return (
        f"import pkgutil, importlib, {package}\n"
        f"for m in pkgutil.walk_packages({package}.__path__, '{package}.'):\n"
        "    importlib.import_module(m.name)"
    )


@pytest.mark.parametrize(
    ("statement", "forbidden"),
    [
        (all_modules("hrtem_core"), {"torch", "omegaconf", *SIMULATION, *HRTEM, "typer"}),
        ("import hrtem_sim", {"torch", *SIMULATION, *HRTEM - {"hrtem_sim"}, "typer"}),
        ("import hrtem_sim.optics", {*SIMULATION, "hrtem_msd", "hrtem_analysis", "typer"}),
        ("import hrtem_sim.labels, hrtem_sim.dataset, hrtem_sim.mtf_fit", {*SIMULATION, "typer"}),
        ("import hrtem_msd", {*SIMULATION, "hrtem_analysis", "hrtem_cli", "typer"}),
        (all_modules("hrtem_msd"), {*SIMULATION, "hrtem_analysis", "hrtem_cli", "typer"}),
        ("import hrtem_analysis.settings", {"torch", *SIMULATION, "hrtem_cli", "typer"}),
        (all_modules("hrtem_analysis"), {*SIMULATION, "hrtem_cli", "typer"}),
    ],
)
def test_imports_point_one_way(statement: str, forbidden: set[str]) -> None:
    assert imported_modules(statement) & forbidden == set()


def requirements(name: str, extras: frozenset[str] = frozenset()) -> set[str]:
    """Every distribution ``pip install <name>[extras]`` pulls in, following our own packages."""
    project = tomllib.loads((PACKAGES[name] / "pyproject.toml").read_text())["project"]
    wanted = [Requirement(r) for r in project.get("dependencies", [])]
    for extra in extras:
        wanted += [Requirement(r) for r in project["optional-dependencies"][extra]]
    found = set()
    for requirement in wanted:
        found.add(requirement.name)
        if requirement.name in PACKAGES:
            found |= requirements(requirement.name, frozenset(requirement.extras))
    return found


def test_an_analysis_install_needs_neither_abtem_nor_ase() -> None:
    """A microscope PC installs hrtem-analysis; simulating needs hrtem-sim[simulate]."""
    assert requirements("hrtem-analysis") & SIMULATION == set()
    assert requirements("hrtem-msd") & SIMULATION == set()
    assert SIMULATION <= requirements("hrtem-cli")
    assert requirements("hrtem-core") & {"torch", "hrtem-sim", *SIMULATION} == set()


def test_cli_help_lists_commands() -> None:
    out = subprocess.run(
        [sys.executable, "-m", "hrtem_cli.main", "--help"], capture_output=True, text=True
    )
    assert out.returncode == 0, out.stderr
    assert "simulate" in out.stdout
