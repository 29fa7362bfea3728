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


SUBMODULES = {"cli", "client", "core", "net", "ops", "server", "sources", "testing"}


def python_prints(code: str) -> str:
    """What a fresh interpreter prints for ``code``: only what it imports itself is loaded."""
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True
    )
    return done.stdout


def test_package_all_lists_exactly_the_public_names() -> None:
    # The names load on first use (PEP 562): dir() lists them all, vars() those used so far.
    public = {name for name in dir(rxrand) if not name.startswith("_")} | {"__version__"}
    assert set(rxrand.__all__) == public - SUBMODULES
    assert sorted(rxrand.__all__) == sorted(set(rxrand.__all__))


@pytest.mark.parametrize("package", ["rxrand", "rxrand.net"])
def test_package_every_exported_name_is_its_modules_own(package: str) -> None:
    module = importlib.import_module(package)
    exported = module._EXPORTS
    assert set(exported) == set(module.__all__) - {"__version__"}
    for name, where in exported.items():
        assert getattr(module, name) is getattr(importlib.import_module(where), name), name
        assert name in vars(module)  # found once, then an attribute like any other
    # What type checkers and the docs read (the imports under TYPE_CHECKING) is the same map.
    assert module.__file__ is not None
    (block,) = [
        node
        for node in ast.parse(pathlib.Path(module.__file__).read_text()).body
        if isinstance(node, ast.If) and ast.unparse(node.test) == "_TYPE_CHECKING"
    ]
    imported = {
        alias.name: f"{package}.{statement.module}"
        for statement in block.body
        if isinstance(statement, ast.ImportFrom)
        for alias in statement.names
    }
    assert imported == exported


def test_package_import_loads_no_layer_until_a_name_is_used() -> None:
    code = (
        "import sys\n"
        "import rxrand\n"
        "print(sorted(name for name in sys.modules if name.startswith('rxrand')))\n"
        "from rxrand import *\n"
        "print(controlled.__module__, socket_lines.__module__)\n"
    )
    printed = python_prints(code)
    assert printed.splitlines() == [
        "['rxrand']",
        "rxrand.ops.controlled rxrand.net.socket_source",
    ]


def test_package_submodules_are_attributes_as_when_all_were_imported() -> None:
    code = "import rxrand\nprint(rxrand.net.wire.__name__, rxrand.net.hangup.__name__)\n"
    printed = python_prints(code)
    assert printed == "rxrand.net.wire rxrand.net.hangup\n"


def test_package_client_does_not_load_the_server() -> None:
    """The client reads a socket: the server, its writer and its encoders are not its imports."""
    code = (
        "import sys\n"
        "import rxrand.cli.client\n"
        "print(sorted(name for name in sys.modules if name.startswith('rxrand.net.')))\n"
    )
    printed = python_prints(code)
    assert eval(printed) == ["rxrand.net.errors", "rxrand.net.socket_source", "rxrand.net.wire"]


def test_package_exports_at_most_25_names() -> None:
    assert len(rxrand.__all__) <= 25


@pytest.mark.parametrize("name", sorted(rxrand._MOVED))
def test_package_moved_name_still_resolves_with_a_deprecation_warning(name: str) -> None:
    module = importlib.import_module(rxrand._MOVED[name])
    with pytest.warns(DeprecationWarning, match=rf"^rxrand\.{name} moved to {module.__name__}\."):
        value = getattr(rxrand, name)
    assert value is getattr(module, name)
    assert name in module.__all__


def test_package_unknown_name_raises_attribute_error() -> None:
    with pytest.raises(AttributeError, match=r"^module 'rxrand' has no attribute 'Nothing'$"):
        rxrand.Nothing  # noqa: B018


def test_package_is_typed() -> None:
    assert (PACKAGE / "py.typed").exists()


def test_package_has_no_private_flat_modules() -> None:
    flat = {path.name for path in PACKAGE.glob("_*.py")} - {"__init__.py", "__main__.py"}
    assert not flat


def test_package_every_layer_documents_its_public_names() -> None:
    for layer in ("core", "sources", "ops", "net"):
        module = importlib.import_module(f"rxrand.{layer}")
        assert module.__doc__, layer
        for name in module.__all__:
            assert getattr(module, name).__doc__ or name.isupper(), f"rxrand.{layer}.{name}"


def test_package_layer_contracts_hold() -> None:
    """The layers of pyproject.toml's import-linter contracts (cli > net > ops > sources > core)."""
    done = subprocess.run(
        [
            sys.executable,
            "-c",
            "from importlinter.cli import lint_imports_command; lint_imports_command()",
        ],
        cwd=PACKAGE.parent,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "0 broken" in done.stdout


def test_package_has_no_import_circle() -> None:
    import grimp

    graph = grimp.build_graph("rxrand")
    circles = [
        (module, imported)
        for module in sorted(graph.modules)
        for imported in graph.find_modules_directly_imported_by(module)
        if graph.chain_exists(importer=imported, imported=module)
    ]
    assert circles == []


SANS_IO = ("core.demand", "core.buffer", "core.fusion", "net.wire", "net.protocol", "net.window")


def test_package_sans_io_modules_load_without_asyncio_nor_sockets() -> None:
    # The package's __init__ (which loads reactivex, and reactivex loads asyncio) is bypassed
    # so that each module is loaded with only what it imports itself.
    code = (
        "import sys, types\n"
        "class Block:\n"
        "    def find_spec(self, name, path=None, target=None):\n"
        "        if name.split('.')[0] in ('asyncio', 'socket', 'selectors', 'subprocess'):\n"
        "            raise ImportError('blocked: ' + name)\n"
        "sys.meta_path.insert(0, Block())\n"
        "for name in ('asyncio', 'socket', 'selectors', 'subprocess'):\n"
        "    sys.modules.pop(name, None)\n"
        "for name in ('', '.core', '.net'):\n"
        "    package = types.ModuleType('rxrand' + name)\n"
        f"    package.__path__ = [{str(PACKAGE)!r} + name.replace('.', '/')]\n"
        "    sys.modules['rxrand' + name] = package\n"
        "import importlib\n"
        f"for name in {SANS_IO!r}:\n"
        "    importlib.import_module('rxrand.' + name)\n"
        "print('ok')\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.stdout == "ok\n", done.stderr


def test_package_import_adds_neither_subprocess_nor_selectors_to_what_reactivex_loads() -> None:
    # reactivex itself imports asyncio, and asyncio imports subprocess and selectors: what
    # rxrand must not add is the worker pool (rxrand.cli) or anything else that starts processes.
    code = (
        "import sys, reactivex, reactivex.operators, numpy\n"
        "before = set(sys.modules)\n"
        "import rxrand\n"
        "from rxrand import *\n"  # the names load on first use
        "added = set(sys.modules) - before\n"
        "print(sorted(name for name in added if not name.startswith('rxrand.') or "
        "name.startswith('rxrand.cli')))\n"
    )
    printed = python_prints(code)
    added = eval(printed)  # a printed list of str
    assert "subprocess" not in added
    assert "selectors" not in added
    assert not [name for name in added if name.startswith("rxrand.cli")]


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


def test_package_no_code_writes_another_objects_private_attribute() -> None:
    """One owner per piece of state: ``x._field = ...`` is written only where x is self."""
    writes = []
    for path in sorted(PACKAGE.rglob("*.py")):
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            if (
                isinstance(node, ast.Attribute)
                and isinstance(node.ctx, ast.Store | ast.Del)
                and node.attr.startswith("_")
                and not node.attr.startswith("__")
                and ast.unparse(node.value) not in ("self", "cls")
            ):
                rel = path.relative_to(PACKAGE.parent)
                writes.append(f"{rel}:{node.lineno} {ast.unparse(node)}")
    assert writes == []


def test_package_calls_no_private_method_of_another_object() -> None:
    """No ``x._method(...)`` where x is not self, but four known ones.

    The publisher wiring its own subscription after ``on_subscribe`` (``Controlled.subscribe``
    -> the subscription's ``_start`` and ``_nest_in``), and ``UpstreamLink`` calling
    reactivex's ``Observable._subscribe_core`` (the measured reason is in its module doc;
    tests/ops/test_upstream.py pins what it relies on); and ``UpstreamInlet`` asking its
    ``threading.RLock`` whether this thread holds it (the standard library's
    ``_is_owned``, which ``threading.Condition`` relies on too: the measured reason is in
    ``UpstreamInlet.on_next``; tests/ops/test_inlet.py pins it).
    """
    allowed = {
        "subscription._start",
        "cast(PullSubscription[_T], subscription)._nest_in",
        "source._subscribe_core",
        "self._burst_owner._is_owned",
    }
    calls = []
    for path in sorted(PACKAGE.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Attribute)
                and node.func.attr.startswith("_")
                and not node.func.attr.startswith("__")
                and ast.unparse(node.func.value) not in ("self", "cls", "super()")
                and ast.unparse(node.func) not in allowed
            ):
                calls.append(
                    f"{path.relative_to(PACKAGE.parent)}:{node.lineno} {ast.unparse(node)}"
                )
    assert calls == []


def test_package_no_class_holds_more_than_its_share_of_lines() -> None:
    """No class over ~250 lines."""
    known: set[str] = set()
    large = []
    for path in sorted(PACKAGE.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ClassDef) and node.end_lineno is not None:
                lines = node.end_lineno - node.lineno + 1
                if lines > 250 and node.name not in known:
                    large.append(f"{node.name}: {lines}")
    assert large == []
