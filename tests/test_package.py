"""The package's shape: exports, typing marker, and a core free of I/O."""

from __future__ import annotations

import ast
import importlib.metadata
import pathlib
import re
import subprocess
import sys
import tarfile
import zipfile

import pytest

import rxrand

PACKAGE = pathlib.Path(rxrand.__file__).parent


def test_package_all_lists_exactly_the_public_names() -> None:
    public = {name for name in vars(rxrand) if not name.startswith("_")}
    modules = {"client", "server", "testing"}
    assert set(rxrand.__all__) == public - modules
    assert sorted(rxrand.__all__) == sorted(set(rxrand.__all__))


def test_package_is_typed() -> None:
    assert (PACKAGE / "py.typed").exists()


def test_package_private_modules_are_re_exported() -> None:
    for module in PACKAGE.glob("_*.py"):
        if module.name.startswith("__"):  # __init__, __main__
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


def test_package_version_is_the_installed_metadata_version() -> None:
    assert re.fullmatch(r"\d+\.\d+\.\d+", rxrand.__version__)
    assert importlib.metadata.version("rxrand") == rxrand.__version__


def usage_line(*command: str) -> str:
    done = subprocess.run(
        [*command, "--help"], capture_output=True, text=True, check=True, timeout=60
    )
    return done.stdout.splitlines()[0]


def test_package_python_m_rxrand_starts_the_server_cli() -> None:
    assert usage_line(sys.executable, "-m", "rxrand").startswith("usage: python -m rxrand [-h]")


@pytest.mark.parametrize("name", ["rxrand-server", "rxrand-client"])
def test_package_console_script_names_itself(name: str) -> None:
    script = pathlib.Path(sys.executable).parent / name
    if not script.exists():
        pytest.skip(f"rxrand is not installed with its scripts beside {sys.executable}")
    assert usage_line(str(script)).startswith(f"usage: {name} [-h]")


def test_package_example_server_names_itself() -> None:
    example = PACKAGE.parent / "examples" / "tcp_server.py"
    assert usage_line(sys.executable, str(example)).startswith("usage: tcp_server.py [-h]")


def test_package_bad_option_exits_2_naming_the_program() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "rxrand", "--port", "70000"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2
    assert done.stderr.splitlines()[-1] == (
        "python -m rxrand: error: --port must be from 0 to 65535, got 70000"
    )


def test_package_long_description_has_no_repository_relative_image() -> None:
    description = importlib.metadata.metadata("rxrand")["Description"]
    assert description.startswith("# rxrand")
    assert not re.search(r"!\[[^\]]*\]\((?!https?:)", description)


@pytest.mark.slow
def test_package_sdist_and_wheel_carry_license_tests_and_examples(
    tmp_path: pathlib.Path,
) -> None:
    root = PACKAGE.parent
    if not (root / "pyproject.toml").exists():
        pytest.skip("not a source tree")
    subprocess.run(
        [sys.executable, "-m", "build", "--outdir", str(tmp_path), str(root)],
        check=True,
        capture_output=True,
        timeout=600,
    )
    (sdist,) = tmp_path.glob("rxrand-*.tar.gz")
    (wheel,) = tmp_path.glob("rxrand-*.whl")
    with tarfile.open(sdist) as archive:
        top = f"rxrand-{rxrand.__version__}/"
        names = {name.removeprefix(top) for name in archive.getnames()}
    for needed in (
        "LICENSE",
        "CHANGELOG.md",
        "README.md",
        "mkdocs.yml",
        "docs/index.md",
        "docs/assets/bench.png",
        ".ci/run",
        "tests/__init__.py",
        "tests/conftest.py",
        "tests/tck/__init__.py",
        "tests/tck/verification.py",
        "examples/tcp_server.py",
        "rxrand/py.typed",
    ):
        assert needed in names, needed
    assert not any("__pycache__" in name for name in names)
    with zipfile.ZipFile(wheel) as archive:
        names = set(archive.namelist())
        info = f"rxrand-{rxrand.__version__}.dist-info/"
        entry_points = archive.read(info + "entry_points.txt").decode()
        metadata = archive.read(info + "METADATA").decode()
    assert info + "licenses/LICENSE" in names
    assert "rxrand/py.typed" in names
    assert "rxrand-server = rxrand.server:main" in entry_points
    assert "rxrand-client = rxrand.client:main" in entry_points
    assert "License-Expression: MIT" in metadata
    assert "Requires-Dist: reactivex<7,>=4.0.4" in metadata
    assert not any(name.startswith("tests/") for name in names)
