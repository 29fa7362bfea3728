"""The package's shape: exports, typing marker, and a core free of I/O."""

from __future__ import annotations

import ast
import pathlib
import subprocess
import sys

import rxrand

PACKAGE = pathlib.Path(rxrand.__file__).parent


def test_package_all_lists_exactly_the_public_names() -> None:
    public = {name for name in vars(rxrand) if not name.startswith("_")}
    modules = {"server", "testing"}
    assert set(rxrand.__all__) == public - modules
    assert sorted(rxrand.__all__) == sorted(set(rxrand.__all__))


def test_package_is_typed() -> None:
    assert (PACKAGE / "py.typed").exists()


def test_package_private_modules_are_re_exported() -> None:
    for module in PACKAGE.glob("_*.py"):
        if module.name == "__init__.py":
            continue
        assert f"from .{module.stem} import" in (PACKAGE / "__init__.py").read_text(), module.name


def imported_modules(path: pathlib.Path) -> set[str]:
    tree = ast.parse(path.read_text())
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module.split(".")[0])
    return names


def test_package_sans_io_core_imports_no_asyncio_nor_sockets() -> None:
    for core in ("_demand.py", "_wire.py"):
        imports = imported_modules(PACKAGE / core)
        assert not imports & {"asyncio", "socket", "selectors", "reactivex"}, (core, imports)


def test_package_sans_io_core_loads_without_asyncio() -> None:
    code = (
        "import importlib.util, sys\n"
        f"for name in ('_demand', '_wire'):\n"
        f"    spec = importlib.util.spec_from_file_location(name, r'{PACKAGE}/' + name + '.py')\n"
        "    module = importlib.util.module_from_spec(spec)\n"
        "    sys.modules[name] = module\n"
        "    spec.loader.exec_module(module)\n"
        "assert 'asyncio' not in sys.modules, 'asyncio imported'\n"
        "assert 'socket' not in sys.modules, 'socket imported'\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)
