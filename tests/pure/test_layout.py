"""The shape of the package (docs/architecture.md): imports point one way, the product never
imports the testing kit, each provider dialect is a folder, modules stay small, and every
module's opening docstring names only files that exist.

The import graph is read from the source (ast), every `import` counted, those inside functions
too (they run when called), except the ones under `if TYPE_CHECKING:`, which never run.
"""

from __future__ import annotations

import ast
import re
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Final

import pytest

REPO: Final = Path(__file__).resolve().parents[2]
PRODUCT: Final = REPO / "sidecar"
TESTKIT: Final = REPO / "testkit" / "sidecar_testkit"
MAX_MODULE_LINES: Final = 400
DIALECT_MODULES: Final = ("__init__.py", "client.py", "wire.py", "turn.py", "errors.py")


def product_modules() -> dict[str, Path]:
    return {
        ".".join(p.relative_to(REPO).with_suffix("").parts).removesuffix(".__init__"): p
        for p in sorted(PRODUCT.rglob("*.py"))
    }


def _type_checking_only(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _imports(tree: ast.AST) -> Iterator[ast.Import | ast.ImportFrom]:
    for node in ast.iter_child_nodes(tree):
        if isinstance(node, ast.If) and _type_checking_only(node):
            continue
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            yield node
        yield from _imports(node)


def imported_modules(name: str, path: Path, known: set[str]) -> set[str]:
    """The modules `name` imports, resolved (a `from pkg import sub` names `pkg.sub`)."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: set[str] = set()
    for node in _imports(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
            continue
        if node.level:
            base = package.split(".")
            base = base[: len(base) - node.level + 1]
            target = ".".join([*base, node.module] if node.module else base)
        else:
            target = node.module or ""
        for alias in node.names:
            sub = f"{target}.{alias.name}"
            found.add(sub if sub in known else target)
    return found


def import_graph() -> dict[str, set[str]]:
    modules = product_modules()
    known = set(modules)
    return {name: imported_modules(name, path, known) for name, path in modules.items()}


def test_the_product_has_no_import_circle() -> None:
    graph = import_graph()
    internal = {name: {m for m in edges if m in graph and m != name} for name, edges in graph.items()}
    state: dict[str, int] = {}  # 1 visiting, 2 done
    circles: list[list[str]] = []

    def visit(name: str, path: list[str]) -> None:
        state[name] = 1
        for target in sorted(internal[name]):
            if state.get(target) == 1:
                circles.append([*path[path.index(target):], target])
            elif target not in state:
                visit(target, [*path, target])
        state[name] = 2

    for name in sorted(internal):
        if name not in state:
            visit(name, [name])
    assert circles == [], "import circles: " + "; ".join(" -> ".join(c) for c in circles)


def test_the_graph_reader_sees_the_imports_it_must() -> None:
    graph = import_graph()
    assert "sidecar.providers.http" in graph["sidecar.providers.ollama.client"]
    assert "sidecar.methods" in graph["sidecar.server"]
    assert "sidecar.providers.openai.client" in graph["sidecar.providers"]  # inside make_client
    assert "sidecar.server" not in graph["sidecar.methods"]  # only under TYPE_CHECKING


def test_no_product_module_imports_the_testing_kit_or_its_server_library() -> None:
    offenders = {
        name: sorted(m for m in edges if m.split(".")[0] in ("sidecar_testkit", "h11", "tests"))
        for name, edges in import_graph().items()
    }
    assert {n: m for n, m in offenders.items() if m} == {}


def test_each_provider_dialect_is_a_folder_with_client_wire_turn_and_errors() -> None:
    for dialect in ("ollama", "openai"):
        folder = PRODUCT / "providers" / dialect
        assert all((folder / module).is_file() for module in DIALECT_MODULES), folder


def test_make_client_lives_in_the_providers_package() -> None:
    from sidecar.config import Config
    from sidecar.providers import make_client

    assert type(make_client(Config(provider="ollama"))).__module__ == "sidecar.providers.ollama.client"
    assert type(make_client(Config(provider="openai"))).__module__ == "sidecar.providers.openai.client"


def test_no_product_module_is_over_400_lines() -> None:
    sizes = {name: len(path.read_text(encoding="utf-8").splitlines()) for name, path in product_modules().items()}
    assert {name: n for name, n in sizes.items() if n > MAX_MODULE_LINES} == {}


# --- docstrings --------------------------------------------------------------------------------

FILE_NAME: Final = re.compile(r"(?<![\w/.])((?:\.\./|\./)?[\w.-]+(?:/[\w.-]+)*\.(?:py|md|json|mjs|ts|spec|toml|sse|ndjson))\b(?!\.\w)")


def tracked_files() -> list[str]:
    done = subprocess.run(["git", "ls-files"], cwd=REPO, capture_output=True, text=True, check=True)
    return done.stdout.splitlines()


def every_module() -> list[Path]:
    return sorted([*PRODUCT.rglob("*.py"), *TESTKIT.rglob("*.py")])


@pytest.mark.parametrize("path", every_module(), ids=lambda p: str(p.relative_to(REPO)))
def test_the_module_docstring_says_what_it_is_and_names_only_files_that_exist(path: Path) -> None:
    docstring = ast.get_docstring(ast.parse(path.read_text(encoding="utf-8")))
    assert docstring, f"{path.relative_to(REPO)} has no opening docstring"
    assert "../shared" not in docstring and "field note" not in docstring
    files = tracked_files()
    missing = [
        name for name in FILE_NAME.findall(docstring)
        if not any(f == name or f.endswith("/" + name.removeprefix("../").removeprefix("./")) for f in files)
    ]
    assert missing == [], f"{path.relative_to(REPO)} names files that do not exist: {missing}"
