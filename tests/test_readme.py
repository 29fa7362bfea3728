"""The README's Python examples run as written (the ones that need no live socket)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

README = Path(__file__).resolve().parent.parent / "README.md"
BLOCKS = re.findall(r"```python\n(.*?)```", README.read_text(), flags=re.DOTALL)


def test_readme_has_python_examples() -> None:
    assert len(BLOCKS) >= 5


@pytest.mark.parametrize("index", range(len(BLOCKS)))
def test_readme_example_runs(index: int, capsys: pytest.CaptureFixture[str]) -> None:
    if "sock" in BLOCKS[index]:
        pytest.skip("needs a connected socket: covered by tests/test_socket.py")
    # Blocks build on each other, like a session: run the earlier ones first.
    namespace: dict[str, object] = {}
    for number, block in enumerate(BLOCKS[: index + 1]):
        if "sock" not in block:
            exec(compile(block, f"README block {number}", "exec"), namespace)
    capsys.readouterr()
