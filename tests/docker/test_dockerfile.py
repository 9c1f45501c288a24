"""The image recipe: two stages, a non-root runtime, dependencies only from the hash-locked files (which pin every
dependency pyproject names), everything the package reads at run time, and a build context of only that."""

import fnmatch
import re
import tomllib
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

import quantdesk
from quantdesk.warehouse import MIGRATIONS_DIR

ROOT = Path(__file__).resolve().parents[2]
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())
PIN = re.compile(r"^([A-Za-z0-9][\w.-]*)==(\S+)((?:\s*\\\n\s+--hash=sha256:[0-9a-f]{64})*)", re.M)


def instructions() -> list[tuple[str, str]]:
    """Return the Dockerfile's instructions (keyword, arguments), continuation lines joined, comments left out."""
    lines = [line for line in (ROOT / "docker" / "Dockerfile").read_text().splitlines()
             if not line.lstrip().startswith("#")]
    joined = re.sub(r"\\\n\s*", " ", "\n".join(lines))
    return [(line.split(None, 1)[0].upper(), line.split(None, 1)[1]) for line in joined.splitlines() if line.strip()]


def stages() -> list[list[tuple[str, str]]]:
    """Return the instructions of each build stage, in order."""
    found: list[list[tuple[str, str]]] = []
    for keyword, arguments in instructions():
        if keyword == "FROM":
            found.append([])
        if found:
            found[-1].append((keyword, arguments))
    return found


def pins(lock: str) -> dict[str, tuple[str, int]]:
    """Return each package a lock file pins: its version and how many hashes it lists."""
    text = (ROOT / "docker" / lock).read_text()
    return {canonicalize_name(m.group(1)): (m.group(2), m.group(3).count("--hash=")) for m in PIN.finditer(text)}


def copied(stage: list[tuple[str, str]]) -> dict[str, str]:
    """Return what a stage copies from the build context: each source -> its destination."""
    return {source: args.split()[-1] for keyword, args in stage
            if keyword == "COPY" and not args.startswith("--from") for source in args.split()[:-1]}


def test_two_stages_and_the_runtime_runs_as_a_user() -> None:
    assert len(stages()) >= 2
    users = [args for keyword, args in stages()[-1] if keyword == "USER"]
    assert users and users[-1].split(":")[0] not in {"root", "0"}
    assert any(k == "COPY" and a.startswith("--from=builder /opt/venv") for k, a in stages()[-1])


def test_dependencies_are_installed_only_from_the_locks_with_their_hashes() -> None:
    installs = [args for stage in stages() for keyword, args in stage
                if keyword == "RUN" for args in args.split("&&") if "pip install" in args]
    from_locks = [a for a in installs if "-r " in a]
    assert {re.search(r"-r (\S+)", a).group(1) for a in from_locks} == {"docker/requirements.lock", "docker/build.lock"}
    assert all("--require-hashes" in a for a in from_locks)
    # what is installed without hashes is only the project's own wheel, without resolving anything more
    others = [a for a in installs if "-r " not in a]
    assert others and all(re.search(r"--no-deps \S+/quantdesk-\*\.whl$", a.strip()) for a in others)


@pytest.mark.parametrize(("lock", "requirements"), [
    ("requirements.lock", PYPROJECT["project"]["dependencies"]),
    ("build.lock", PYPROJECT["build-system"]["requires"]),
])
def test_the_lock_pins_every_dependency_pyproject_names(lock: str, requirements: list[str]) -> None:
    pinned = pins(lock)
    for requirement in map(Requirement, requirements):
        version, hashes = pinned[canonicalize_name(requirement.name)]
        assert requirement.specifier.contains(version, prereleases=True), f"{requirement}: locked {version}"
        assert hashes, f"{requirement.name} has no hash"
    assert all(hashes for _, hashes in pinned.values()), "pip --require-hashes refuses a pin without a hash"


def test_migrations_sit_where_the_warehouse_looks_for_them() -> None:
    # the warehouse looks beside the installed package: site-packages/migrations in the image's venv
    assert MIGRATIONS_DIR == Path(quantdesk.__file__).resolve().parent.parent / "migrations"
    python = re.search(r"python:(3\.\d+)", (ROOT / "docker" / "Dockerfile").read_text()).group(1)
    assert copied(stages()[-1])["migrations"] == f"/opt/venv/lib/python{python}/site-packages/migrations"


def test_every_package_of_the_wheel_is_copied_to_the_builder() -> None:
    packages = {include.rstrip("*") for include in PYPROJECT["tool"]["setuptools"]["packages"]["find"]["include"]}
    assert packages <= set(copied(stages()[0]))


def test_the_wheel_carries_every_data_file_the_packages_hold() -> None:
    data = PYPROJECT["tool"]["setuptools"].get("package-data", {})
    packages = [include.rstrip("*") for include in PYPROJECT["tool"]["setuptools"]["packages"]["find"]["include"]]
    for package in packages:
        for path in (ROOT / package).rglob("*"):
            if path.is_dir() or path.suffix in {".py", ".pyc"} or "__pycache__" in path.parts:
                continue
            relative = path.relative_to(ROOT / package).as_posix()
            assert any(fnmatch.fnmatch(relative, glob) for glob in data.get(package, [])), f"{package}/{relative}"


def test_the_build_context_holds_only_what_the_image_copies() -> None:
    rules = [line for line in (ROOT / ".dockerignore").read_text().splitlines() if line and not line.startswith("#")]
    assert rules[0] == "*", "a whitelist: nothing (an .env, data, the git history) enters the context unless named"
    sources = {source for stage in stages() for source in copied(stage)}
    assert sources <= {rule.removeprefix("!") for rule in rules if rule.startswith("!")}
