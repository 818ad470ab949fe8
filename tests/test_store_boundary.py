"""The store boundary, read from the source: the web layer talks to the store only through its
repositories (no SQL, no table classes) and never picks an HTTP status from an error's message."""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import vigil.web

WEB = Path(vigil.web.__file__).parent
FORBIDDEN = ("sqlalchemy", "vigil.store.schema")


def web_modules() -> Iterator[tuple[str, ast.Module]]:
    for path in sorted(WEB.rglob("*.py")):
        yield str(path.relative_to(WEB.parent.parent)), ast.parse(path.read_text(), str(path))


def imported_modules(tree: ast.Module) -> Iterator[str]:
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            yield node.module
            yield from (f"{node.module}.{alias.name}" for alias in node.names)


def is_forbidden(module: str) -> bool:
    return any(module == name or module.startswith(name + ".") for name in FORBIDDEN)


def test_the_web_layer_imports_neither_sqlalchemy_nor_the_tables() -> None:
    offenders = sorted(
        f"{where}: {module}"
        for where, tree in web_modules()
        for module in imported_modules(tree)
        if is_forbidden(module)
    )
    assert len(list(web_modules())) > 20, "the scan must see the web package"
    assert offenders == []


TEXT_TESTS = ("startswith", "endswith", "find", "index")


def message_tests(handler: ast.ExceptHandler) -> Iterator[int]:
    """Lines where a handler inspects its exception's text (`"x" in str(exc)`, `msg.startswith`)."""
    if handler.name is None:
        return
    exc, aliases = handler.name, set()
    for node in ast.walk(handler):
        if isinstance(node, ast.Assign) and _is_str_of(node.value, exc):
            aliases |= {target.id for target in node.targets if isinstance(target, ast.Name)}

    def is_text(node: ast.expr) -> bool:
        return _is_str_of(node, exc) or (isinstance(node, ast.Name) and node.id in aliases)

    for node in ast.walk(handler):
        compared = isinstance(node, ast.Compare) and any(map(is_text, [node.left, *node.comparators]))
        searched = isinstance(node, ast.Attribute) and node.attr in TEXT_TESTS and is_text(node.value)
        if compared or searched:
            yield getattr(node, "lineno", 0)


def _is_str_of(node: ast.expr, name: str) -> bool:
    return (
        isinstance(node, ast.Call)
        and isinstance(node.func, ast.Name)
        and node.func.id == "str"
        and len(node.args) == 1
        and isinstance(node.args[0], ast.Name)
        and node.args[0].id == name
    )


def test_no_status_is_chosen_from_an_error_message() -> None:
    found = [
        f"{where}:{line}"
        for where, tree in web_modules()
        for handler in ast.walk(tree)
        if isinstance(handler, ast.ExceptHandler)
        for line in message_tests(handler)
    ]
    assert found == []
