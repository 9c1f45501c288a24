"""The house plan: every import points down, and no modules import each other round in a circle.

Floors, bottom up: `programs` (the on-chain interface), `quantdesk` (the shared kernel), `streams`,
`api`, and the top floor: `bench` and `ops`, which never import each other. Inside `streams`, pure domain
math imports no I/O, the risk engine knows no agent, source or metric, and agents never import each other.
Imports are read with `ast`, function-level ones too.
"""

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).parents[1]
FLOORS = (("programs",), ("quantdesk",), ("streams",), ("api",), ("bench", "ops"))  # bottom up
FORBIDDEN = {  # module prefix -> prefixes it must not import, though they stand on its floor or below
    "streams.domain": ("streams.", "quantdesk.kafka", "quantdesk.warehouse", "quantdesk.broker", "aiokafka",
                       "faust", "chdb", "clickhouse_connect", "httpx", "aiohttp", "redis", "prometheus_client"),
    "streams.risk": ("streams.agents", "streams.sources", "streams.worker", "streams.commands",
                     "streams.metrics", "prometheus_client"),  # the agents read figures off the engine
    "streams.sources": ("streams.agents", "streams.risk", "streams.worker", "streams.commands"),
    "streams.agents": ("streams.worker", "streams.commands", "streams.sources"),
    "quantdesk": ("quantdesk.cli",),
    "bench": ("ops",),  # the top floor's packages stand beside each other
    "ops": ("bench",),
}
ALLOWED = {"streams.domain": ("streams.domain",)}  # exceptions to FORBIDDEN for the module's own package


def modules() -> dict[str, Path]:
    """Return every module of the packages by dotted name."""
    found = {}
    for package in (p for packages in FLOORS for p in packages):
        for path in (ROOT / package).rglob("*.py"):
            parts = path.relative_to(ROOT).with_suffix("").parts
            found[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return found


def imports(name: str, path: Path) -> set[str]:
    """Return the dotted names a module imports, relative ones resolved (module and function level)."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                base = ".".join(package.split(".")[: len(package.split(".")) - node.level + 1] + ([base] if base else []))
            found.add(base)
            found.update(f"{base}.{alias.name}" for alias in node.names)
    return found


def internal(imported: set[str], known: dict[str, Path]) -> set[str]:
    """Return the project modules among imported names (`from a import b` names module a.b, else a)."""
    return {name for name in imported if name in known}


def floor(name: str) -> int:
    """Return the floor of a module."""
    return next(n for n, packages in enumerate(FLOORS) if name.split(".")[0] in packages)


GRAPH = {name: internal(imports(name, path), modules()) for name, path in modules().items()}


@pytest.mark.parametrize("name", sorted(GRAPH))
def test_every_import_points_down(name: str) -> None:
    upward = sorted(i for i in GRAPH[name] if floor(i) > floor(name))
    assert not upward, f"{name} imports from a floor above its own: {upward}"


@pytest.mark.parametrize("name", sorted(GRAPH))
def test_no_module_imports_what_its_place_forbids(name: str) -> None:
    everything = imports(name, modules()[name])
    for prefix, banned in FORBIDDEN.items():
        if name == prefix or name.startswith(prefix + "."):
            own = ALLOWED.get(prefix, (prefix,))
            bad = sorted(i for i in everything if i.startswith(banned) and not i.startswith(own))
            assert not bad, f"{name} may not import {bad}"


def test_agents_never_import_each_other() -> None:
    agents = {n for n in GRAPH if n.startswith("streams.agents.")}
    for name in agents:
        assert not (GRAPH[name] & agents) - {name}, f"{name} imports another agent"


def test_no_circles() -> None:
    """Fail on any cycle of imports between modules (a package counts as its `__init__`)."""
    state: dict[str, int] = {}
    path: list[str] = []

    def visit(name: str) -> None:
        state[name] = 1
        path.append(name)
        for other in sorted(GRAPH[name]):
            if state.get(other) == 1:
                raise AssertionError("import circle: " + " -> ".join(path[path.index(other):] + [other]))
            if other not in state:
                visit(other)
        path.pop()
        state[name] = 2

    for name in sorted(GRAPH):
        if name not in state:
            visit(name)


def test_the_reader_of_imports_sees_an_upward_import_and_a_circle(tmp_path: Path) -> None:
    """The checks above would catch what they claim: a kernel module importing a service, and a two-module loop."""
    module = tmp_path / "m.py"
    module.write_text("from streams.app import App\nimport api.main\ndef f():\n    from quantdesk import cli\n")
    seen = internal(imports("quantdesk.fake", module), modules())
    assert {"streams.app", "api.main", "quantdesk.cli"} <= seen
    assert max(floor(i) for i in seen) > floor("quantdesk.fake")
