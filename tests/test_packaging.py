"""`pip install .` must give a working install (issue 13, bug 2).

Every third-party module that vigil imports must come from a distribution that pyproject.toml
declares, and the exact pins that `make` installs must stay inside pyproject's ranges. The
opencv trap (docs/architecture.md "Packaging") is checked on the environment `make` built.
"""

from __future__ import annotations

import ast
import importlib.metadata
import importlib.util
import sys
import tomllib
from collections.abc import Iterator
from functools import cache
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "vigil"
PINNED = ("requirements.txt", "requirements-nodeps.txt")
# Installed with --no-deps by `make`: the only distributions allowed to ask for opencv-python.
NO_DEPS = "requirements-nodeps.txt"
OPENCV_CONTRIB = "opencv-contrib-python"
# Declared (trackers pulls it, pyproject holds it on 4.x) but never pinned: `make` keeps one cv2.
NEVER_PINNED = {"opencv-python"}
# Run by the system Python (Debian's python3-gi) in a subprocess, never imported by vigil.
SYSTEM_PYTHON_SCRIPTS = {"sources/gst_rtsp_server.py"}


def _pyproject() -> dict[str, object]:
    return tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]  # type: ignore[no-any-return]


def _by_name(lines: list[str]) -> dict[str, Requirement]:
    requirements = (Requirement(line) for line in lines)
    return {canonicalize_name(req.name): req for req in requirements}


def _core() -> dict[str, Requirement]:
    return _by_name(_pyproject()["dependencies"])  # type: ignore[arg-type]


def _extras() -> dict[str, dict[str, Requirement]]:
    extras: dict[str, list[str]] = _pyproject().get("optional-dependencies", {})  # type: ignore[assignment]
    return {extra: _by_name(lines) for extra, lines in extras.items()}


def _declared() -> dict[str, Requirement]:
    declared = dict(_core())
    for requirements in _extras().values():
        declared.update(requirements)
    return declared


def _pins(filename: str) -> dict[str, Requirement]:
    lines = (line.split("#")[0].strip() for line in (ROOT / filename).read_text().splitlines())
    return _by_name([line for line in lines if line])


def _imported_modules() -> dict[str, set[str]]:
    """Absolute imports of third-party modules in vigil/, with the files that import them."""
    found: dict[str, set[str]] = {}
    for path in PACKAGE.rglob("*.py"):
        if path.relative_to(PACKAGE).as_posix() in SYSTEM_PYTHON_SCRIPTS:
            continue
        for name in _imports(ast.parse(path.read_text(), str(path))):
            top = name.split(".")[0]
            if top not in sys.stdlib_module_names and top not in ("vigil", "__future__"):
                found.setdefault(_import_root(name), set()).add(str(path.relative_to(ROOT)))
    return found


def _imports(tree: ast.AST) -> Iterator[str]:
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            yield node.module


def _import_root(name: str) -> str:
    # A namespace package (`google`) belongs to no one distribution: use its first subpackage.
    parts = name.split(".")
    spec = importlib.util.find_spec(parts[0])
    namespace = spec is not None and spec.origin is None
    return ".".join(parts[:2]) if namespace and len(parts) > 1 else parts[0]


@cache
def _file_owners() -> dict[str, set[str]]:
    # Built from each distribution's RECORD, not its top_level.txt: dlib-bin's names only
    # `_dlib_pybind11`, though it installs `dlib/`.
    owners: dict[str, set[str]] = {}
    for dist in importlib.metadata.distributions():
        name = canonicalize_name(dist.metadata["Name"])
        for file in dist.files or []:
            owners.setdefault(file.as_posix(), set()).add(name)
    return owners


def _distributions_providing(module: str) -> set[str]:
    spec = importlib.util.find_spec(module)
    assert spec is not None and spec.origin is not None, f"{module} is not installed"
    origin = Path(spec.origin).resolve()
    for entry in sys.path:
        base = Path(entry or ".").resolve()
        if origin.is_relative_to(base):
            owners = _file_owners().get(origin.relative_to(base).as_posix())
            if owners:
                return owners
    raise AssertionError(f"no installed distribution records {origin}")


def _requires(requirement: Requirement) -> list[Requirement]:
    """What installing `requirement` (with its extras) pulls in, for this interpreter."""
    requires = [Requirement(line) for line in importlib.metadata.requires(requirement.name) or []]
    return [req for req in requires if _applies(req, requirement.extras)]


def _applies(requirement: Requirement, extras: set[str]) -> bool:
    # evaluate() fills in this interpreter's environment around the extra.
    marker = requirement.marker
    return marker is None or any(marker.evaluate({"extra": extra}) for extra in {"", *extras})


def test_every_imported_module_comes_from_a_declared_dependency() -> None:
    core = _core()
    undeclared = {
        module: sorted(files)
        for module, files in _imported_modules().items()
        if not _distributions_providing(module) & core.keys()
    }
    assert not undeclared, f"imported in vigil/ but not in pyproject's [project] dependencies: {undeclared}"


def test_the_postgres_extra_brings_the_driver_the_store_uses() -> None:
    from sqlalchemy.dialects.postgresql.psycopg import PGDialect_psycopg

    from vigil.store.database import parse_url

    url, _backend = parse_url("postgresql://vigil@localhost/vigil")
    assert url.get_driver_name() == PGDialect_psycopg.driver
    driver_module = PGDialect_psycopg.import_dbapi().__name__
    assert _distributions_providing(driver_module) & _extras()["postgres"].keys()


def test_every_pin_falls_inside_the_declared_range() -> None:
    declared = _declared()
    outside = [
        str(pin)
        for filename in PINNED
        for name, pin in _pins(filename).items()
        if name in declared and not declared[name].specifier.contains(_pinned_version(pin), prereleases=True)
    ]
    assert not outside, f"pins outside pyproject's ranges: {outside}"


def _pinned_version(pin: Requirement) -> str:
    (spec,) = pin.specifier
    assert spec.operator == "==", f"requirements files hold exact pins: {pin}"
    return spec.version


def test_make_installs_every_declared_dependency_but_opencv_python() -> None:
    pinned = {name for filename in PINNED for name in _pins(filename)}
    assert set(_declared()) - pinned == NEVER_PINNED
    assert not NEVER_PINNED & pinned


def test_only_no_deps_installs_reach_opencv_python() -> None:
    """What `make` installs with dependencies must never pull a second cv2 distribution."""
    roots = [pin for filename in PINNED if filename != NO_DEPS for pin in _pins(filename).values()]
    roots += _pins("requirements-dev.txt").values()
    pulled_by = _dependents_of(NEVER_PINNED, roots)
    assert not pulled_by, f"pull opencv-python (install them with --no-deps): {pulled_by}"


def _dependents_of(targets: set[str], roots: list[Requirement]) -> set[str]:
    seen: set[tuple[str, frozenset[str]]] = set()
    culprits: set[str] = set()
    pending = list(roots)
    while pending:
        requirement = pending.pop()
        key = (canonicalize_name(requirement.name), frozenset(requirement.extras))
        if key in seen:
            continue
        seen.add(key)
        wanted = _requires(requirement)
        if {canonicalize_name(req.name) for req in wanted} & targets:
            culprits.add(key[0])
        pending.extend(req for req in wanted if canonicalize_name(req.name) not in targets)
    return culprits


def test_the_environment_make_built_has_one_cv2_distribution() -> None:
    assert _distributions_providing("cv2") == {OPENCV_CONTRIB}
