"""The documentation site (docs/, mkdocs.yml): what it shows is what the code does.

The Python blocks are run by test_readme.py. Here: every public name is in the API
reference and has a docstring, the pages link only to pages that exist in the nav, the
benchmark plot is the current one, and the shell transcripts that a test can replay
print what the pages say.
"""

from __future__ import annotations

import ast
import importlib
import importlib.util
import inspect
import itertools
import re
import socket
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from types import ModuleType

import pytest

from .conftest import RunningServer, read_until_closed

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"
REFERENCE = DOCS / "reference"
# The modules whose __all__ the reference documents in full.
PUBLIC_MODULES = (
    "rxrand",
    "rxrand.core",
    "rxrand.sources",
    "rxrand.ops",
    "rxrand.net",
    "rxrand.testing",
    "rxrand.server",
    "rxrand.client",
)
DIRECTIVE = re.compile(r"^::: ([\w.]+)\n((?:    .*\n)*)", re.MULTILINE)


def reference_directives() -> dict[str, str]:
    """``::: module`` directives of the API reference pages, with their indented options."""
    found: dict[str, str] = {}
    for page in sorted(REFERENCE.glob("*.md")):
        for match in DIRECTIVE.finditer(page.read_text(encoding="utf-8")):
            found[match.group(1)] = match.group(2)
    return found


def module_constant_docstrings() -> dict[str, str]:
    """Docstrings of module-level constants (a string right after the assignment), by name."""
    docs: dict[str, str] = {}
    for path in (ROOT / "rxrand").rglob("*.py"):
        body = ast.parse(path.read_text(encoding="utf-8")).body
        for node, after in itertools.pairwise(body):
            if isinstance(node, ast.Assign) and len(node.targets) == 1:
                target = node.targets[0]
            elif isinstance(node, ast.AnnAssign):
                target = node.target
            else:
                continue
            if (
                isinstance(target, ast.Name)
                and isinstance(after, ast.Expr)
                and isinstance(after.value, ast.Constant)
                and isinstance(after.value.value, str)
            ):
                docs[f"{path.stem}.{target.id}"] = after.value.value
    return docs


def docstring_of(module: ModuleType, name: str, constants: dict[str, str]) -> str:
    value = getattr(module, name)
    if inspect.isclass(value) or inspect.isroutine(value) or inspect.ismodule(value):
        return inspect.getdoc(value) or ""
    # A constant: its docstring is in the source of the module that defines it.
    return next((doc for key, doc in constants.items() if key.endswith(f".{name}")), "")


@pytest.mark.parametrize("module_name", PUBLIC_MODULES)
def test_docs_reference_documents_every_public_name(module_name: str) -> None:
    directives = reference_directives()
    assert module_name in directives, f"no '::: {module_name}' in docs/reference/"
    options = directives[module_name]
    # A "members:" list would document only the names it lists; "public" filters by __all__.
    assert "members:" not in options, options
    module = importlib.import_module(module_name)
    assert module.__all__, module_name


@pytest.mark.parametrize("module_name", PUBLIC_MODULES)
def test_docs_every_public_name_has_a_docstring(module_name: str) -> None:
    module = importlib.import_module(module_name)
    constants = module_constant_docstrings()
    missing = [name for name in module.__all__ if not docstring_of(module, name, constants).strip()]
    assert not missing, f"{module_name}: no docstring for {missing}"


def test_docs_hook_shows_sphinx_roles_as_code() -> None:
    spec = importlib.util.spec_from_file_location("mkdocs_hooks", ROOT / "mkdocs_hooks.py")
    assert spec is not None
    assert spec.loader is not None
    hooks = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(hooks)
    html = ":class:<code>~rxrand.net.Sender</code> and :mod:<code>rxrand.core</code>"
    assert hooks.on_page_content(html) == "<code>Sender</code> and <code>rxrand.core</code>"


def test_docs_mkdocs_filters_members_by_all() -> None:
    config = (ROOT / "mkdocs.yml").read_text(encoding="utf-8")
    assert re.search(r"^\s+filters: public$", config, re.MULTILINE)


def nav_pages() -> set[str]:
    config = (ROOT / "mkdocs.yml").read_text(encoding="utf-8")
    nav = config[config.index("\nnav:") : config.index("\nvalidation:")]
    return set(re.findall(r"([\w./-]+\.md)$", nav, re.MULTILINE))


def test_docs_every_page_is_in_the_nav() -> None:
    pages = {page.relative_to(DOCS).as_posix() for page in DOCS.rglob("*.md")}
    assert pages == nav_pages()


def github_anchor(heading: str) -> str:
    """The anchor GitHub gives a Markdown heading (the README's links are read there)."""
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


def test_docs_readme_links_to_pages_and_headings_that_exist() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    links = re.findall(r"\]\((docs/[^)#]+)(?:#([^)]+))?\)", readme)
    assert links
    for page, anchor in links:
        assert (ROOT / page).exists(), page
        if anchor:
            text = (ROOT / page).read_text(encoding="utf-8")
            headings = re.findall(r"^#+ (.+)$", text, re.MULTILINE)
            assert anchor in {github_anchor(heading) for heading in headings}, (page, anchor)


PATH = re.compile(r"`((?:rxrand|tests|examples)/[\w./-]+?)(?:::(\w+))?`")


def test_docs_paths_and_test_names_the_pages_and_ci_give_exist() -> None:
    results = ROOT / "tests" / "benchmarks" / "results"
    for page in [ROOT / "README.md", *DOCS.rglob("*.md")]:
        for path, test in PATH.findall(page.read_text(encoding="utf-8")):
            if path.startswith("tests/benchmarks/results") and not results.exists():
                continue  # an sdist leaves the results out
            assert (ROOT / path).exists(), f"{page.name}: {path}"
            if test:
                assert f"def {test}(" in (ROOT / path).read_text(), f"{page.name}: {test}"
    ci = ROOT / ".ci" / "run"
    for path in re.findall(r"\b((?:tests|examples)/[\w/.-]+\.py)\b", ci.read_text()):
        assert (ROOT / path).exists(), f".ci/run: {path}"


def test_docs_benchmark_plot_is_the_current_one() -> None:
    current = ROOT / "tests" / "benchmarks" / "results" / "bench.png"
    if not current.exists():
        pytest.skip("the benchmark results are not in this tree (an sdist)")
    assert (DOCS / "assets" / "bench.png").read_bytes() == current.read_bytes()


def test_docs_benchmark_table_is_the_current_one() -> None:
    latest = ROOT / "tests" / "benchmarks" / "results" / "latest.md"
    if not latest.exists():
        pytest.skip("the benchmark results are not in this tree (an sdist)")
    table = [line for line in latest.read_text().splitlines() if line.startswith("|")]
    page = (DOCS / "benchmarks.md").read_text(encoding="utf-8")
    assert "\n".join(table) in page


def transcript(page: str, command: str) -> list[str]:
    """The lines a ```text transcript on ``page`` shows after the line ``$ command``."""
    text = (ROOT / page).read_text(encoding="utf-8")
    blocks: list[str] = re.findall(r"^```text\n(.*?)^```", text, re.DOTALL | re.MULTILINE)
    for block in blocks:
        lines = block.splitlines()
        if f"$ {command}" in lines:
            after = lines[lines.index(f"$ {command}") + 1 :]
            ends = [i for i, line in enumerate(after) if line.startswith("$")]
            return after[: ends[0]] if ends else after
    raise AssertionError(f"{page}: no transcript of {command!r}")


def test_docs_scripted_nc_session_prints_what_the_page_shows(
    make_server: Callable[..., RunningServer],
) -> None:
    server = make_server(seed=1)
    with server.connect() as sock:
        sock.sendall(b"lots\n-2\n5\n")
        sock.shutdown(socket.SHUT_WR)  # what nc -N does at the end of its input
        output = read_until_closed(sock).decode()
    command = "printf 'lots\\n-2\\n5\\n' | nc -N 127.0.0.1 1234"
    shown = transcript("docs/getting-started.md", command)
    assert output.splitlines() == shown


def test_docs_readme_nc_session_prints_what_the_readme_shows(
    make_server: Callable[..., RunningServer],
) -> None:
    server = make_server(seed=1)
    with server.connect() as sock:
        sock.sendall(b"3\n")
        sock.shutdown(socket.SHUT_WR)
        output = read_until_closed(sock).decode()
    assert output.splitlines() == transcript("README.md", "printf '3\\n' | nc -N 127.0.0.1 1234")


def test_docs_interactive_nc_session_prints_what_the_page_shows(
    make_server: Callable[..., RunningServer],
) -> None:
    server = make_server(seed=1)
    with server.connect() as sock:
        sock.sendall(b"3\n")
        sock.shutdown(socket.SHUT_WR)  # Ctrl+D
        output = read_until_closed(sock).decode()
    shown = transcript("docs/getting-started.md", "nc 127.0.0.1 1234")
    assert shown[1] == "3"  # the typed count; the rest is what the server sent
    assert output.splitlines() == [shown[0], *shown[2:]]


def test_docs_python_one_liner_prints_what_it_asks_for(
    make_server: Callable[..., RunningServer],
) -> None:
    server = make_server(seed=1)
    text = (DOCS / "getting-started.md").read_text(encoding="utf-8")
    (code,) = re.findall(r'^python3 -c "(.*)"$', text, re.MULTILINE)  # no shell escapes in it
    code = code.replace("1234", str(server.port))
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=30, check=True
    )
    lines = done.stdout.splitlines()
    assert lines[0] == "how many random integers do you want?"
    assert lines[1:6] == ["4732", "5118", "7552", "9505", "348"]


def test_docs_client_refused_transcript_is_what_the_client_says() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]  # bound, never listening: connecting is refused
        done = subprocess.run(
            [sys.executable, str(ROOT / "examples" / "tcp_client.py"), "5", "--port", str(port)],
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )
    command = "python examples/tcp_client.py 5 --port 1235; echo $?"
    shown = transcript("docs/getting-started.md", command)
    assert [done.stderr.strip().replace(str(port), "1235"), str(done.returncode)] == shown


def test_docs_client_above_the_maximum_transcript_is_what_the_client_says(
    make_server: Callable[..., RunningServer],
) -> None:
    server = make_server()
    done = subprocess.run(
        [
            sys.executable,
            str(ROOT / "examples" / "tcp_client.py"),
            "2000000000",
            "--port",
            str(server.port),
        ],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    command = "python examples/tcp_client.py 2000000000; echo $?"
    shown = transcript("docs/getting-started.md", command)
    assert [done.stderr.strip(), str(done.returncode)] == shown
