"""The Python examples of the README and of the documentation site (docs/): each runs on its
own and prints what it says it prints.

The convention, doctest-style: a line ``# prints: TEXT`` in a block stands for one line of
standard output, in order, at that point of the example. A block's output must be exactly
those lines (no ``# prints:`` means it prints nothing), and a block that prints nothing must
check itself with ``assert``. Every block also passes ``mypy --strict`` as written.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
DOCS = ROOT / "docs"
PAGES = [README, *sorted(DOCS.rglob("*.md"))]
PRINTS = re.compile(r"^\s*# prints: ?(.*)$", re.MULTILINE)


def python_blocks(text: str) -> list[tuple[int, str]]:
    """The ```python blocks of a Markdown text, with the line number each code starts at."""
    return [
        (text.count("\n", 0, match.start(1)) + 1, match.group(1))
        for match in re.finditer(r"^```python\n(.*?)^```", text, flags=re.DOTALL | re.MULTILINE)
    ]


def expected_output(block: str) -> str:
    return "".join(line + "\n" for line in PRINTS.findall(block))


def page_name(page: Path) -> str:
    return page.relative_to(ROOT).as_posix()


# (where, block): where is "README.md line 40" or "docs/guide/share.md line 17".
BLOCKS = [
    (f"{page_name(page)} line {line}", block)
    for page in PAGES
    for line, block in python_blocks(page.read_text(encoding="utf-8"))
]
IDS = [where.replace(" line ", ":") for where, _ in BLOCKS]


def test_readme_has_python_examples() -> None:
    assert sum(where.startswith("README.md ") for where, _ in BLOCKS) >= 2
    assert sum(where.startswith("docs/") for where, _ in BLOCKS) >= 15


def test_readme_python_blocks_are_all_found() -> None:
    # A block the pattern misses (an indented fence, ```py, ``` python) would go untested.
    for page in PAGES:
        text = page.read_text(encoding="utf-8")
        fences = re.findall(r"^\s*```\s*(py|python|python3|pycon)\b", text, re.MULTILINE)
        assert len(fences) == len(python_blocks(text)), page_name(page)


def test_readme_expected_output_convention() -> None:
    block = "print(1)\n# prints: 1\nx = 2  # not output\n    # prints: two words\n# prints:\n"
    assert expected_output(block) == "1\ntwo words\n\n"


@pytest.mark.parametrize(("where", "block"), BLOCKS, ids=IDS)
def test_readme_example_checks_something(where: str, block: str) -> None:
    assert PRINTS.search(block) or re.search(r"^\s*assert ", block, re.MULTILINE), (
        f"{where}: the example neither asserts nor shows what it prints"
    )


@pytest.mark.parametrize(("where", "block"), BLOCKS, ids=IDS)
def test_readme_example_prints_what_it_says(
    where: str, block: str, capsys: pytest.CaptureFixture[str]
) -> None:
    # Each block on its own, in a fresh namespace: its imports must be inside it.
    namespace: dict[str, object] = {"__name__": "__readme__"}
    exec(compile(block, where, "exec"), namespace)
    assert capsys.readouterr().out == expected_output(block)


def test_readme_examples_pass_mypy_strict(tmp_path: Path) -> None:
    api = pytest.importorskip("mypy.api", reason="mypy is in the [lint] extra")
    # One mypy run for every block: each is a module of its own, named after where it is.
    files = []
    for where, block in BLOCKS:
        path = tmp_path / (re.sub(r"\W+", "_", where) + ".py")
        path.write_text(block, encoding="utf-8")
        files.append(str(path))
    cache = ROOT / ".mypy_cache"
    stdout, stderr, status = api.run(
        ["--strict", "--no-error-summary", "--cache-dir", str(cache), *files]
    )
    assert status == 0, stdout + stderr
