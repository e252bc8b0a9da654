"""The monorepo's import rules (docs/architecture.md): packages import only those below them in
LAYERS, no module import circle anywhere, analysis uses only the model store and the nets of
hrtem_msd, and heavy imports (abTEM, ASE, torch, Typer) stay where they belong."""

import ast
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
    "hrtem-checks": ROOT / "packages" / "hrtem-checks",
    "hrtem-cli": ROOT / "apps" / "hrtem-cli",
}
# Lowest first: a package imports only packages before it (docs/architecture.md).
LAYERS = ["hrtem_core", "hrtem_sim", "hrtem_msd", "hrtem_analysis", "hrtem_checks", "hrtem_cli"]
# What the analysis of users' frames may use of hrtem_msd: loading a model, and the nets.
ANALYSIS_USES = ("hrtem_msd", "hrtem_msd.store", "hrtem_msd.nets")
# ... and of hrtem_sim: the one resize both training images and users' frames go through.
ANALYSIS_USES_SIM = ("hrtem_sim.optics.resample",)
SIMULATION = {"abtem", "ase"}
HRTEM = {"hrtem_sim", "hrtem_msd", "hrtem_analysis", "hrtem_checks", "hrtem_cli"}


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
        ("import hrtem_msd", {*SIMULATION, "hrtem_analysis", "hrtem_checks", "hrtem_cli", "typer"}),
        (
            all_modules("hrtem_msd"),
            {*SIMULATION, "hrtem_analysis", "hrtem_checks", "hrtem_cli", "typer"},
        ),
        ("import hrtem_analysis.settings", {"torch", *SIMULATION, "hrtem_cli", "typer"}),
        (all_modules("hrtem_analysis"), {*SIMULATION, "hrtem_checks", "hrtem_cli", "typer"}),
        (all_modules("hrtem_checks"), {*SIMULATION, "hrtem_cli", "typer"}),
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
    assert "hrtem-checks" not in requirements("hrtem-analysis")
    assert SIMULATION <= requirements("hrtem-checks")
    assert requirements("hrtem-msd") & SIMULATION == set()
    assert SIMULATION <= requirements("hrtem-cli")
    assert requirements("hrtem-core") & {"torch", "hrtem-sim", *SIMULATION} == set()


def test_cli_help_lists_commands() -> None:
    out = subprocess.run(
        [sys.executable, "-m", "hrtem_cli.main", "--help"], capture_output=True, text=True
    )
    assert out.returncode == 0, out.stderr
    assert "simulate" in out.stdout and "check" in out.stdout
    check = subprocess.run(
        [sys.executable, "-m", "hrtem_cli.main", "check", "--help"], capture_output=True, text=True
    )
    listed = [
        line.split()[0] for line in check.stdout.split("Commands:")[1].splitlines() if line.strip()
    ]
    assert listed == ["scenes", "series", "vacancies", "threshold"]


def source_modules() -> dict[str, Path]:
    """Every module of every package: dotted name -> file."""
    found = {}
    for folder in PACKAGES.values():
        for path in (folder / "src").rglob("*.py"):
            parts = list(path.relative_to(folder / "src").with_suffix("").parts)
            found[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return found


def module_imports(path: Path, known: dict[str, Path]) -> set[str]:
    """The project modules ``path`` imports, anywhere in the file (inside functions too, and under
    TYPE_CHECKING); ``from pkg import name`` counts as importing ``pkg.name`` when that is a
    module, else ``pkg``; relative imports are resolved against ``path``'s package."""

    def owner(name: str) -> str | None:
        while name and name not in known:
            name = name.rpartition(".")[0]
        return name or None

    here = next(name for name, file in known.items() if file == path)
    package = here if path.name == "__init__.py" else here.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found |= {owner(alias.name) for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parent = package.rsplit(".", node.level - 1)[0] if node.level > 1 else package
                base = f"{parent}.{base}" if base else parent
            for alias in node.names:
                full = f"{base}.{alias.name}"
                found.add(full if full in known else owner(base))
    return found - {None, here}


def import_graph() -> dict[str, set[str]]:
    known = source_modules()
    return {name: module_imports(path, known) for name, path in known.items()}


def test_packages_import_only_those_below_them() -> None:
    wrong = []
    for module, imported in import_graph().items():
        layer = LAYERS.index(module.split(".")[0])
        wrong += [f"{module} -> {target}" for target in sorted(imported)
                  if LAYERS.index(target.split(".")[0]) > layer]  # fmt: skip
    assert wrong == []


def test_analysis_uses_only_the_store_and_the_nets_of_hrtem_msd() -> None:
    """No simulation, training or evaluation in the analysis users run on their frames; the resize
    to the model's sampling is the camera's of training (hrtem_sim.optics.resample)."""
    wrong = [
        f"{module} -> {target}"
        for module, imported in import_graph().items()
        if module.startswith("hrtem_analysis")
        for target in sorted(imported)
        if (target.startswith("hrtem_sim") and target not in ANALYSIS_USES_SIM)
        or (target.startswith("hrtem_msd") and not target.startswith(ANALYSIS_USES))
    ]
    assert wrong == []


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan), each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        for target in graph.get(node, ()):
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component = []
            while (member := stack.pop()) != node:
                component.append(member)
            if component:
                found.append(sorted([node, *component]))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def test_no_module_imports_itself_through_others() -> None:
    assert cycles(import_graph()) == []


def test_the_cycle_finder_finds_a_circle() -> None:
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert cycles(graph) == [["a", "b", "c"]]
    known = source_modules()
    assert "hrtem_msd.store.load" in module_imports(known["hrtem_analysis.models"], known)
