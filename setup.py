"""The long description: README.md without what only works inside the repository.

Everything else is declared in pyproject.toml. The README shows a benchmark plot from
``tests/benchmarks/results/``; a relative image path breaks on a package index, so the
long description leaves such images out (the figures are in the table beside it).
"""

import re
from pathlib import Path

from setuptools import setup

README = Path(__file__).resolve().parent / "README.md"
# A Markdown image whose target is a relative path, alone on its line.
RELATIVE_IMAGE = re.compile(r"^!\[[^\]]*\]\((?![a-z][a-z0-9+.-]*:)[^)]*\)\n", re.MULTILINE)


def long_description() -> str:
    return RELATIVE_IMAGE.sub("", README.read_text(encoding="utf-8"))


setup(long_description=long_description(), long_description_content_type="text/markdown")
